import pytest
from chaoslib.exceptions import InterruptExecution

from chaosha.controls.safeguard import after_activity_control, swallowed_interrupt

SWALLOWED = {"status": "failed", "exception": [
    "Traceback (most recent call last):\n", "chaoslib.exceptions.ActivityFailed: "
    "chaoslib.exceptions.InterruptExecution: SIGTERM signal received\n"]}


def test_a_swallowed_sigterm_is_recognised_and_re_raised():
    assert swallowed_interrupt(SWALLOWED)
    with pytest.raises(InterruptExecution):
        after_activity_control({"name": "kill-the-leader"}, SWALLOWED)


@pytest.mark.parametrize("state", [
    {"status": "succeeded"},
    {"status": "failed", "exception": ["chaoslib.exceptions.ActivityFailed: no leader\n"]},
    None,
])
def test_ordinary_outcomes_pass_through(state):
    assert not swallowed_interrupt(state)
    after_activity_control({"name": "x"}, state)

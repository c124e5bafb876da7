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


def test_a_run_that_failed_its_first_hypothesis_is_marked_failed(monkeypatch):
    from chaosha.controls import safeguard

    monkeypatch.setattr("chaosha.docker.actions.heal", lambda **kw: {"healed": {}})
    monkeypatch.setattr("chaosha.integrity.actions.stop_workload", lambda **kw: {"stopped": "none"})
    journal = {"status": "completed", "steady_states": {"before": {"steady_state_met": False}}}
    safeguard.after_experiment_control({"title": "x"}, journal)
    assert journal["status"] == "failed"
    ok = {"status": "completed", "steady_states": {"before": {"steady_state_met": True}}}
    safeguard.after_experiment_control({"title": "x"}, ok)
    assert ok["status"] == "completed"

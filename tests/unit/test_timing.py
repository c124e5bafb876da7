import pytest
from chaoslib.exceptions import ActivityFailed, InterruptExecution

from chaosha.timing import parse_duration, wait_until


@pytest.mark.parametrize(
    "raw,seconds",
    [(5, 5.0), (2.5, 2.5), ("500ms", 0.5), ("30s", 30.0), ("2m", 120.0), ("1h", 3600.0), (" 7 ", 7.0)],
)
def test_parse_duration(raw, seconds):
    assert parse_duration(raw) == seconds


@pytest.mark.parametrize("raw", ["soon", "-1", "5 parsecs", True, -2])
def test_parse_duration_rejects(raw):
    with pytest.raises(ActivityFailed):
        parse_duration(raw, "grace")


def test_wait_until_returns_the_first_truthy_value_and_retries_errors():
    calls = []

    def check():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("not yet")
        return {} if len(calls) == 2 else {"ok": True}

    value, waited = wait_until(check, 5, 0.01)
    assert value == {"ok": True} and len(calls) == 3 and waited < 5


def test_wait_until_times_out_with_the_last_error():
    def check():
        raise RuntimeError("node down")

    with pytest.raises(ActivityFailed, match="waiting for the leader.*node down"):
        wait_until(check, 0.05, 0.01, "the leader")


def test_wait_until_lets_an_interruption_through():
    def check():
        raise InterruptExecution("SIGTERM signal received")

    with pytest.raises(InterruptExecution):
        wait_until(check, 5, 0.01)

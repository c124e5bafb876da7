import pytest
from chaoslib.exceptions import InterruptExecution

from chaosha.controls.safeguard import after_activity_control, swallowed_interrupt

SWALLOWED = {
    "status": "failed",
    "exception": [
        "Traceback (most recent call last):\n",
        "chaoslib.exceptions.ActivityFailed: chaoslib.exceptions.InterruptExecution: SIGTERM signal received\n",
    ],
}


def test_a_swallowed_sigterm_is_recognised_and_re_raised():
    assert swallowed_interrupt(SWALLOWED)
    with pytest.raises(InterruptExecution):
        after_activity_control({"name": "kill-the-leader"}, SWALLOWED)


@pytest.mark.parametrize(
    "state",
    [
        {"status": "succeeded"},
        {"status": "failed", "exception": ["chaoslib.exceptions.ActivityFailed: no leader\n"]},
        None,
    ],
)
def test_ordinary_outcomes_pass_through(state):
    assert not swallowed_interrupt(state)
    after_activity_control({"name": "x"}, state)


@pytest.fixture
def quiet(monkeypatch, tmp_path):
    """The safeguard with heal and stop_workload faked, state in tmp_path."""
    from chaosha.controls import safeguard

    monkeypatch.setenv("CHAOSHA_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("CHAOSHA_ENV_FILE", str(tmp_path / "none.env"))
    calls = []
    monkeypatch.setattr(safeguard, "heal", lambda **kw: calls.append("heal") or {"healed": {}})
    monkeypatch.setattr(safeguard, "stop_workload", lambda **kw: calls.append("stop") or {"stopped": "none"})
    return safeguard, calls


def test_a_run_that_failed_its_first_hypothesis_is_marked_failed(quiet):
    safeguard, calls = quiet
    journal = {"status": "completed", "steady_states": {"before": {"steady_state_met": False}}}
    safeguard.before_experiment_control({"title": "x"})
    safeguard.after_experiment_control({"title": "x"}, journal)
    assert journal["status"] == "failed" and calls == ["stop", "heal"]
    assert journal["safeguard"]["heal"] == {} and journal["safeguard"]["at"].startswith("20")
    ok = {"status": "completed", "steady_states": {"before": {"steady_state_met": True}}}
    safeguard.before_experiment_control({"title": "x"})
    safeguard.after_experiment_control({"title": "x"}, ok)
    assert ok["status"] == "completed"


def test_a_second_experiment_against_the_stack_is_interrupted_and_touches_nothing(quiet, tmp_path):
    """Another process runs an experiment (holds the lock): ours is
    interrupted at the start, heals nothing, and heal/stop_workload refuse."""
    import subprocess
    import sys

    from chaosha import state
    from chaosha.config import load

    safeguard, calls = quiet
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sys, time; from chaosha import state; from chaosha.config import load; "
                "state.hold(load(), state.EXPERIMENT_LOCK, 'chaos run first'); print('held', flush=True); "
                "time.sleep(30)"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(InterruptExecution, match="chaos run first"):
            safeguard.before_experiment_control({"title": "second"})
        safeguard.after_experiment_control({"title": "second"}, {"status": "interrupted"})
        assert calls == []
        with pytest.raises(state.Locked, match="heal refused"):
            state.refuse_while_busy(load(), "heal", False)
        state.refuse_while_busy(load(), "heal", True)  # forced
    finally:
        holder.kill()
        holder.wait(10)
    state.refuse_while_busy(load(), "heal", False)  # the lock went with the process


def test_a_new_experiment_forgets_the_previous_runs_target(quiet):
    """@faulted must not reach back into the previous run."""
    from chaosha import state
    from chaosha.config import load

    safeguard, _ = quiet
    state.remember_target(load(), "pg1")
    safeguard.before_experiment_control({"title": "next"})
    try:
        assert state.last_target(load()) == ""
    finally:
        safeguard.after_experiment_control({"title": "next"}, {"status": "completed"})

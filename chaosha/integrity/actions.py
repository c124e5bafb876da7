"""Actions: start and stop the background workload (writer, replica reader
and split-brain sampler in one subprocess writing the run's ledger)."""

from typing import Any, Dict

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaosha.config import load
from chaosha.integrity.ledger import read_records
from chaosha.integrity.runner import start_process, state_dir, stop_process
from chaosha.integrity.workload import WorkloadOptions
from chaosha.state import refuse_while_busy
from chaosha.timing import parse_duration

__all__ = ["start_workload", "stop_workload"]


def start_workload(
    duration_s: float = 300,
    rate: float = 200,
    max_writes: int = 1000000,
    target: str = "rw",
    read_target: str = "ro",
    reads: bool = True,
    sampler: bool = True,
    read_rate: float = 20,
    sample_interval_s: float = 0.25,
    op_timeout_s: float = 3,
    startup_timeout_s: float = 30,
    fresh_writers: int = 1,
    fresh_rate: float = 20,
    writers: int = 1,
    rw_reads: bool = False,
    read_window_s: float = 10,
    max_read_lag_s: float = 5,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> Dict[str, Any]:
    """Start the integrity workload in the background and return once its
    first write is acknowledged (within ``startup_timeout_s`` seconds):
    ``{run_id, pid, ledger, log, started}``.

    One unique id per transaction through ``target`` (default HAProxy rw)
    at ``rate`` writes/s (0 = flat out), each given ``op_timeout_s``
    seconds; reads through ``read_target`` and samples every node's role
    every ``sample_interval_s`` seconds, until ``duration_s`` seconds or
    ``max_writes`` attempts.  ``fresh_writers`` more writers (each at
    ``fresh_rate`` writes/s) open a new connection for every write, as an
    application pool does after a failover; ``writers`` persistent writers
    (each at ``rate``) share the ids.  ``rw_reads`` adds a reader through
    the read-write port; each read checks the ids acknowledged in the last
    ``read_window_s`` seconds, and the verdict lets a read through another
    port lag ``max_read_lag_s`` seconds behind acknowledgements.  Stop it
    with ``stop_workload`` or the ``workload_verdict`` probe."""
    settings = load(configuration, secrets)
    try:
        options = WorkloadOptions(
            duration=parse_duration(duration_s, "start_workload duration_s"),
            rate=float(rate),
            max_writes=int(max_writes),
            target=str(target),
            read_target=str(read_target),
            read_rate=float(read_rate),
            reads=bool(reads),
            sampler=bool(sampler),
            sample_interval=parse_duration(sample_interval_s, "sample_interval_s"),
            op_timeout=parse_duration(op_timeout_s, "op_timeout_s"),
            fresh_writers=int(fresh_writers),
            fresh_rate=float(fresh_rate),
            writers=int(writers),
            rw_reads=bool(rw_reads),
            read_window=parse_duration(read_window_s, "read_window_s"),
            max_read_lag=parse_duration(max_read_lag_s, "max_read_lag_s"),
        )
    except (TypeError, ValueError) as exc:
        raise ActivityFailed(
            f"start_workload: {exc}: rate, read_rate, fresh_rate and the counts are numbers"
        ) from None
    timeout = parse_duration(startup_timeout_s, "startup_timeout_s")
    state = start_process(settings, options.as_args(), True, timeout, duration_s=options.duration)
    return {k: state[k] for k in ("run_id", "pid", "ledger", "log", "started")}


def stop_workload(
    run_id: str = "",
    timeout_s: float = 15,
    force: bool = False,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> Dict[str, Any]:
    """Stop the workload ``run_id`` (default: the latest): SIGTERM, wait up
    to ``timeout_s`` seconds, then SIGKILL.  Safe to call twice (rollbacks).
    Without ``run_id`` it refuses, unless ``force``, while an experiment
    runs against the stack in another process (the latest run is its own).
    Returns ``{run_id, ledger, stopped}`` and the writer's final counts."""
    settings = load(configuration, secrets)
    if not run_id:
        refuse_while_busy(settings, "stopping the latest workload", force)
    if not run_id and not (state_dir(settings) / "current").is_file():
        return {"run_id": "", "ledger": "", "stopped": "none-started"}
    state = stop_process(settings, run_id, parse_duration(timeout_s, "stop_workload timeout_s"))
    result: Dict[str, Any] = {k: state[k] for k in ("run_id", "ledger", "stopped")}
    for record in read_records(state["ledger"]):
        if record.get("k") == "end":
            result.update(
                writes=record.get("writes"),
                reads=record.get("reads"),
                last_id=record.get("last_id"),
                reason=record.get("reason"),
            )
    return result

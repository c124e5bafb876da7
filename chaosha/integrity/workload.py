"""Run a workload (writer, reader, sampler) in the foreground until its
duration or write count is reached, or SIGTERM/SIGINT; this is what the
background subprocess runs (``python -m chaosha.integrity.workload``) and
what ``chaosha workload run`` calls (:func:`run_workload`)."""

import argparse
import json
import os
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from chaoslib.exceptions import ActivityFailed

from chaosha.clients.postgres import endpoint
from chaosha.config import Settings, load, options_from_json
from chaosha.integrity.ledger import Ledger, new_run_id
from chaosha.integrity.sampler import Sampler
from chaosha.integrity.session import Watchdog, error_text
from chaosha.integrity.writer import Crew, FreshWriter, Ids, NodeMap, Reader, Writer, ensure_table
from chaosha.state import workload_dir

__all__ = ["WorkloadOptions", "run_workload", "run_workload_cli"]


@dataclass
class WorkloadOptions:
    """Options of one run: ``chaosha workload run``'s flags and
    ``start_workload``'s arguments, handed to the background process as JSON."""

    run_id: str = ""
    ledger: str = ""
    duration: float = 300.0
    max_writes: int = 1_000_000
    rate: float = 200.0
    target: str = "rw"
    read_target: str = "ro"
    read_rate: float = 20.0
    reads: bool = True
    writes: bool = True
    sampler: bool = True
    sample_interval: float = 0.25
    op_timeout: float = 3.0
    fresh_writers: int = 1
    fresh_rate: float = 20.0
    writers: int = 1
    rw_reads: bool = False
    read_window: float = 10.0
    max_read_lag: float = 5.0

    def as_args(self) -> List[str]:
        """The background process's arguments (``--run-id`` and ``--ledger``
        are added by whoever starts it)."""
        return ["--options", json.dumps(asdict(self))]

    @classmethod
    def from_json(cls, text: str) -> "WorkloadOptions":
        """Options from :meth:`as_args`'s JSON; unknown names are refused."""
        return options_from_json(cls, text, "workload")


def _describe(settings: Settings, target: str) -> str:
    host, port = endpoint(settings, target)
    return f"{host}:{port}"


def _open(settings: Settings, options: WorkloadOptions, run_id: str, ledger: Ledger) -> "NodeMap":
    """Make the table and write the run header; on failure the ledger gets
    its end record (the run did not start) and ``ActivityFailed`` is raised."""
    try:
        if options.writes:
            ensure_table(settings, options.target, min(30.0, max(options.duration, 5.0)))
        nodes = NodeMap(settings, ledger)
        nodes.refresh()
        ledger.append(
            {
                "k": "run",
                "run": run_id,
                "t": round(time.time(), 6),
                "pid": os.getpid(),
                "target": _describe(settings, options.target),
                "read_target": _describe(settings, options.read_target) if options.reads else None,
                "duration": options.duration,
                "max_writes": options.max_writes,
                "rate": options.rate,
                "op_timeout": options.op_timeout,
                "fresh_writers": options.fresh_writers if options.writes else 0,
                "fresh_rate": options.fresh_rate,
                "writers": options.writers if options.writes else 0,
                "rw_reads": options.rw_reads,
                "read_window_s": options.read_window,
                "max_read_lag_s": options.max_read_lag,
                "nodes": dict(nodes.map),
                "members": [n.name for n in settings.pg_nodes],
            },
            flush=True,
        )
        return nodes
    except ActivityFailed as exc:
        ledger.append({"k": "end", "t": round(time.time(), 6), "reason": f"error: {exc}"})
        ledger.close()
        raise


def _wait_for_end(
    options: WorkloadOptions, stop: threading.Event, writer_thread: Optional[threading.Thread], errors: List[str]
) -> str:
    """Why the run ends: ``duration``, ``count`` (the writer is done),
    ``signal`` or ``error`` (``stop`` was set)."""
    deadline = time.monotonic() + options.duration
    while not stop.wait(min(0.1, max(deadline - time.monotonic(), 0.001))):
        if time.monotonic() >= deadline:
            return "duration"
        if writer_thread is not None and not writer_thread.is_alive():
            return "count"
    return "signal" if not errors else "error"


def run_workload(settings: Settings, options: WorkloadOptions) -> Dict[str, Any]:
    """Run until done; returns the summary also written as the ``end``
    record.  Raises ``ActivityFailed`` when the ledger table cannot be made."""
    run_id = options.run_id or new_run_id()
    path = Path(options.ledger or workload_dir(settings) / f"{run_id}.jsonl")
    stop = threading.Event()
    ledger = Ledger(path)
    started = time.time()
    nodes = _open(settings, options, run_id, ledger)
    watchdog = Watchdog()
    crew = Crew(settings, ledger, run_id, stop, watchdog, nodes, Ids(ledger, options.max_writes))
    writing = (options.target, options.op_timeout)
    # The first writer's records carry no number: recovery times are its own.
    writers = [
        Writer(crew, *writing, options.rate, 0 if n == 1 else n)
        for n in range(1, options.writers + 1)
        if options.writes
    ]
    fresh = [
        FreshWriter(crew, *writing, options.fresh_rate, n)
        for n in range(1, options.fresh_writers + 1)
        if options.writes
    ]
    targets = [options.read_target] + (["rw"] if options.rw_reads else [])
    readers = [
        Reader(crew, t, options.op_timeout, options.read_rate, options.read_window)
        for t in targets
        if options.reads
    ]
    sampler = Sampler(settings, ledger, stop, watchdog, options.sample_interval) if options.sampler else None
    errors: List[str] = []

    def guarded(loop: Any) -> None:
        try:
            loop.run()
        except Exception as exc:  # noqa: BLE001 - reported in the end record
            errors.append(f"{type(loop).__name__}: {error_text(exc)}")
            stop.set()

    loops = [
        threading.Thread(target=guarded, args=(loop,), name=loop.kind, daemon=True)
        for loop in [*writers, *readers, *fresh]
    ]
    threads = loops + (sampler.threads() if sampler else [])
    previous = _install_signals(stop)
    for thread in threads:
        thread.start()
    try:
        reason = _wait_for_end(options, stop, loops[0] if writers else None, errors)
    finally:
        stop.set()
        for thread in threads:
            thread.join(options.op_timeout + 5)
        _restore_signals(previous)
    summary: Dict[str, Any] = {
        "k": "end",
        "run": run_id,
        "ledger": str(path.resolve()),
        "t": round(time.time(), 6),
        "reason": reason,
        "last_id": crew.ids.last if writers else 0,
        "writes": _sum_counts([w.counts for w in writers]),
        "fresh_writes": _sum_counts([f.counts for f in fresh]),
        "reads": _sum_counts([r.counts for r in readers]),
        "samples": sampler.count if sampler else 0,
        "errors": errors,
        "seconds": round(time.time() - started, 3),
    }
    ledger.append(summary)
    ledger.close()
    return summary


def _sum_counts(counts: List[Dict[str, int]]) -> Dict[str, int]:
    total: Dict[str, int] = {}
    for one in counts:
        for key, value in one.items():
            total[key] = total.get(key, 0) + value
    return total


def _install_signals(stop: threading.Event) -> Dict[int, Any]:
    previous: Dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda signum, frame: stop.set())
    return previous


def _restore_signals(previous: Dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def run_workload_cli(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m chaosha.integrity.workload --run-id ID --ledger PATH
    --options JSON`` (what ``start_workload`` runs in the background): run
    in the foreground, print the summary as JSON; exit 0, or 2 when the
    options are bad or the stack cannot be written to."""
    parser = argparse.ArgumentParser(prog="python -m chaosha.integrity.workload")
    parser.add_argument("--run-id", default="", help="default: a new timestamped id")
    parser.add_argument("--ledger", default="", help="default: <CHAOSHA_STATE_DIR>/workloads/<run id>.jsonl")
    parser.add_argument("--options", default="{}", help="WorkloadOptions as a JSON object")
    args = parser.parse_args(argv)
    try:
        options = replace(WorkloadOptions.from_json(args.options), run_id=args.run_id, ledger=args.ledger)
        summary = run_workload(load(), options)
    except (ValueError, TypeError, ActivityFailed) as exc:
        print(f"chaosha workload: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(run_workload_cli(sys.argv[1:]))

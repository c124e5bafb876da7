"""Start a workload as a detached subprocess and stop it later, even from
another process: its pid, ledger and log are kept in a state file in the
project's workload folder (:func:`chaosha.state.workload_dir`).
:func:`stop_all` stops the orphans: workloads whose starting process died
(a ``chaos run`` killed with SIGKILL), and the arbiter's (same records,
in :func:`chaosha.state.arbiter_dir`)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from chaoslib.exceptions import ActivityFailed

from chaosha.config import Settings
from chaosha.integrity.ledger import OK, new_run_id, read_records
from chaosha.state import arbiter_dir, workload_dir
from chaosha.timing import Deadline, wait_until

__all__ = ["start_process", "stop_process", "stop_all", "load_state", "state_dir", "process_alive"]

MODULE = "chaosha.integrity.workload"

_CHILDREN: Dict[int, "subprocess.Popen[bytes]"] = {}


def state_dir(settings: Settings) -> Path:
    """The project's workload folder (:func:`chaosha.state.workload_dir`)."""
    return workload_dir(settings)


def load_state(settings: Settings, run_id: str = "", folder: Optional[Path] = None) -> Dict[str, Any]:
    """The state of ``run_id`` (default: the latest started run) in
    ``folder`` (default: the workload folder)."""
    folder = folder or state_dir(settings)
    if not run_id:
        current = folder / "current"
        if not current.is_file():
            raise ActivityFailed(f"no workload was started (no {current}): run the start_workload action first")
        run_id = current.read_text().strip()
    path = folder / f"{run_id}.json"
    if not path.is_file():
        raise ActivityFailed(
            f"unknown workload run {run_id!r} (no {path}): pass the run_id returned by start_workload"
        )
    state: Dict[str, Any] = json.loads(path.read_text())
    return state


def process_alive(pid: int, run_id: str) -> bool:
    """True while ``pid`` is our workload of ``run_id`` (not a zombie, not
    a reused pid: its command line names the run)."""
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    stat = _proc_stat(pid, run_id)
    return bool(stat) and stat[0] != "Z"


def _proc_stat(pid: int, run_id: str, module: str = "") -> List[str]:
    """Fields of ``/proc/<pid>/stat`` after the name, when ``pid``'s command
    line names ``run_id`` (and ``module``); [] otherwise."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []
    ours = run_id.encode() in args and (not module or module.encode() in args)
    return stat if ours else []


def _orphaned(state: Dict[str, Any]) -> bool:
    """True when the workload of ``state`` runs and the process that started
    it does not (any more) own it: its parent is no longer the starter."""
    pid, run = int(state.get("pid") or 0), str(state.get("run_id") or "")
    stat = _proc_stat(pid, run, str(state.get("marker") or MODULE)) if pid and run else []
    if not stat or stat[0] == "Z":
        return False
    return int(stat[1]) != int(state.get("owner") or 0)


def stop_all(settings: Settings, timeout: float = 5.0) -> List[str]:
    """Stop every orphaned workload of the project (recorded in its workload
    folder, its pid's command line naming the module and the run id, its
    starter gone).  Returns the run ids stopped."""
    stopped: List[str] = []
    for folder in (state_dir(settings), arbiter_dir(settings)):
        for path in sorted(folder.glob("*.json")):
            try:
                state = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(state, dict) and state.get("run_id") == path.stem and _orphaned(state):
                stop_process(settings, path.stem, timeout, folder)
                stopped.append(path.stem)
    return stopped


def _progress(ledger: Path, need_write: bool) -> str:
    """``ready``, ``ended`` or ``""`` (not yet) from the ledger so far."""
    if not ledger.is_file():
        return ""
    kinds = {(r.get("k"), r.get("r")) for r in read_records(ledger)}
    if any(k == "end" for k, _ in kinds):
        return "ended"
    ready = ("run", None) in kinds and (not need_write or ("w", OK) in kinds)
    return "ready" if ready else ""


def start_process(
    settings: Settings,
    args: List[str],
    writes: bool = True,
    timeout: float = 30.0,
    program: Optional[List[str]] = None,
    marker: str = MODULE,
    run_id: str = "",
    duration_s: float = 0.0,
    folder: Optional[Path] = None,
) -> Dict[str, Any]:
    """Start ``program`` (default ``python -m chaosha.integrity.workload``)
    with ``--run-id``, ``--ledger`` and ``args`` and wait until it has
    acknowledged its first write (or started, without writes).  ``marker``
    is the word of the command line that names the program (checked with
    the run id before signalling a pid); ``duration_s`` is how long it runs
    (kept in the state); ``folder`` where the state, ledger and log go
    (default: the workload folder).  Returns the state: run_id, pid,
    ledger, log, started, duration_s."""
    run_id = run_id or new_run_id()
    folder = folder or state_dir(settings)
    ledger, log = folder / f"{run_id}.jsonl", folder / f"{run_id}.log"
    head = program or [sys.executable, "-m", MODULE]
    cmd = [*head, "--run-id", run_id, "--ledger", str(ledger), *args]
    env = dict(os.environ)
    env.update({k: v for k, v in settings.values.items() if k.startswith("CHAOSHA_")})
    with open(log, "wb") as out:
        child = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,  # noqa: S603
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    _CHILDREN[child.pid] = child
    state = {
        "run_id": run_id,
        "pid": child.pid,
        "ledger": str(ledger),
        "log": str(log),
        "started": round(time.time(), 3),
        "duration_s": float(duration_s),
        "cmd": cmd,
        "owner": os.getpid(),
        "marker": marker,
    }
    (folder / f"{run_id}.json").write_text(json.dumps(state, indent=2))
    (folder / "current").write_text(run_id)

    deadline = Deadline(timeout)
    while True:
        progress = _progress(ledger, writes)
        if progress == "ready":
            return state
        if progress or child.poll() is not None or deadline.expired():
            break
        time.sleep(0.2)
    stop_process(settings, run_id, 5.0, folder)
    tail = log.read_text(errors="replace")[-600:] if log.is_file() else ""
    raise ActivityFailed(
        f"workload {run_id} did not start writing through {settings.host} within "
        f"{timeout:g}s (exit code {child.poll()}); check the stack (chaosha stack status) "
        f"and CHAOSHA_PG_PASSWORD; log {log}: {tail}"
    )


def stop_process(
    settings: Settings, run_id: str = "", timeout: float = 15.0, folder: Optional[Path] = None
) -> Dict[str, Any]:
    """SIGTERM the workload, wait up to ``timeout`` seconds for it to write
    its end record, then SIGKILL.  Returns the state plus ``stopped``:
    ``already-exited``, ``terminated`` or ``killed``."""
    state = load_state(settings, run_id, folder)
    pid, run = int(state["pid"]), str(state["run_id"])
    outcome = "already-exited"
    if process_alive(pid, run):
        outcome = "terminated"
        _signal(pid, signal.SIGTERM)
        try:
            wait_until(lambda: not process_alive(pid, run), timeout, 0.1, f"workload pid {pid}")
        except ActivityFailed:
            outcome = "killed"
            _signal(pid, signal.SIGKILL)
            wait_until(lambda: not process_alive(pid, run), 5.0, 0.1, f"killed workload {pid}")
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        child.wait(1)
    return {**state, "stopped": outcome}


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass

"""What chaosha keeps between processes, in one folder per Compose project:
``<CHAOSHA_STATE_DIR>/<project>/`` (default ``~/.local/state/chaosha/<project>``).

- ``faults.json``: the fault registry.  Every fault is written down *before*
  it is applied, so ``heal`` can undo it even after the run that injected
  it was killed outright;
- ``last-target``: the service the latest destructive action aimed at;
- ``workloads/``: the integrity workload runs (state, ledger, log);
- ``arbiter/``: the opt-in arbiter's instances (state, JSON-lines log);
- ``*.lock``: locks held while an experiment (``experiment.lock``, taken by
  the safeguard control) or a suite (``suite.lock``) runs against the project.

The folder does not depend on the working directory, so every command run
from anywhere against one project sees the same state.
"""

import contextlib
import fcntl
import json
import os
import time
from pathlib import Path
from typing import IO, Any, Dict, Iterator, List, Tuple

from chaoslib.exceptions import ActivityFailed

from chaosha.config import Settings

__all__ = [
    "project_dir",
    "workload_dir",
    "arbiter_dir",
    "pending",
    "record",
    "forget",
    "remember_target",
    "forget_target",
    "last_target",
    "lock",
    "acquire",
    "release",
    "hold",
    "holds",
    "let_go",
    "held_elsewhere",
    "refuse_while_busy",
    "Locked",
    "EXPERIMENT_LOCK",
]


EXPERIMENT_LOCK = "experiment"  # held by a running experiment (the safeguard control)


class Locked(ActivityFailed):
    """Another process holds the project's lock."""


def project_dir(settings: Settings) -> Path:
    """The project's state folder (created on first use)."""
    path = (settings.state_dir / settings.project).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def workload_dir(settings: Settings) -> Path:
    """Where the project's workload runs keep their state, ledger and log."""
    path = project_dir(settings) / "workloads"
    path.mkdir(exist_ok=True)
    return path


def arbiter_dir(settings: Settings) -> Path:
    """Where the project's arbiter instances keep their state and log."""
    path = project_dir(settings) / "arbiter"
    path.mkdir(exist_ok=True)
    return path


@contextlib.contextmanager
def _registry_lock(settings: Settings) -> Iterator[Path]:
    """Serialise read-modify-write of the registry between processes."""
    path = project_dir(settings) / "faults.json"
    with open(path.with_suffix(".guard"), "a+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield path
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read(path: Path) -> List[Dict[str, Any]]:
    try:
        return list(json.loads(path.read_text()))
    except (FileNotFoundError, ValueError):
        return []


def _write(path: Path, faults: List[Dict[str, Any]]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(faults, indent=1))
    os.replace(tmp, path)


def pending(settings: Settings) -> List[Dict[str, Any]]:
    """Faults recorded and not yet undone."""
    return _read(project_dir(settings) / "faults.json")


def record(settings: Settings, kind: str, service: str, **details: Any) -> None:
    """Write the fault down (call it *before* applying the fault)."""
    with _registry_lock(settings) as path:
        faults = [f for f in _read(path) if (f["kind"], f["service"]) != (kind, service)]
        faults.append(dict(details, kind=kind, service=service, at=time.time()))
        _write(path, faults)


def forget(settings: Settings, kind: str, service: str) -> None:
    """Strike the fault off (after it was undone, or was never applied)."""
    with _registry_lock(settings) as path:
        _write(path, [f for f in _read(path) if (f["kind"], f["service"]) != (kind, service)])


def remember_target(settings: Settings, service: str) -> None:
    """Note the service the latest destructive action aimed at (so a probe
    can wait for a leader other than the one just faulted, and an undo can
    aim at ``@faulted``)."""
    (project_dir(settings) / "last-target").write_text(service)


def forget_target(settings: Settings) -> None:
    """Forget the last target (a new experiment starts: ``@faulted`` must not
    reach back into the previous run)."""
    (project_dir(settings) / "last-target").unlink(missing_ok=True)


def last_target(settings: Settings) -> str:
    """The service noted by :func:`remember_target` ("" when none yet)."""
    try:
        return (project_dir(settings) / "last-target").read_text().strip()
    except FileNotFoundError:
        return ""


def acquire(settings: Settings, name: str, holder: str) -> IO[str]:
    """Take the project's lock ``name`` (non-blocking) and keep it until
    :func:`release` (or the process ends); raises :class:`Locked` naming
    who holds it.  ``holder`` says who we are (written in the file)."""
    path = project_dir(settings) / f"{name}.lock"
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - closed by release()
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        who = handle.read().strip() or "another run"
        handle.close()
        raise Locked(f"project {settings.project!r} is busy: {who} holds {path}; wait for it to end") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{holder} (pid {os.getpid()}, since {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())})")
    handle.flush()
    return handle


def release(handle: IO[str]) -> None:
    """Give a lock from :func:`acquire` back."""
    handle.seek(0)
    handle.truncate()
    fcntl.flock(handle, fcntl.LOCK_UN)
    handle.close()


@contextlib.contextmanager
def lock(settings: Settings, name: str, holder: str) -> Iterator[None]:
    """Hold the project's lock ``name`` for the block (see :func:`acquire`)."""
    handle = acquire(settings, name, holder)
    try:
        yield
    finally:
        release(handle)


_HELD: Dict[Tuple[str, str], IO[str]] = {}


def hold(settings: Settings, name: str, holder: str) -> None:
    """Take the project's lock ``name`` for this process until :func:`let_go`
    (or the process ends: a killed run never leaves it taken)."""
    key = (str(project_dir(settings)), name)
    if key not in _HELD:
        _HELD[key] = acquire(settings, name, holder)


def let_go(settings: Settings, name: str) -> bool:
    """Give back a lock taken with :func:`hold`; False when we held none."""
    handle = _HELD.pop((str(project_dir(settings)), name), None)
    if handle is None:
        return False
    release(handle)
    return True


def holds(settings: Settings, name: str) -> bool:
    """True when this process holds the project's lock ``name`` (:func:`hold`)."""
    return (str(project_dir(settings)), name) in _HELD


def held_elsewhere(settings: Settings, name: str) -> str:
    """Who holds the project's lock ``name`` in another process ("" when
    nobody does, or this process holds it)."""
    if holds(settings, name):
        return ""
    try:
        release(acquire(settings, name, "probe"))
    except Locked as exc:
        return str(exc)
    return ""


def refuse_while_busy(settings: Settings, what: str, force: bool) -> None:
    """Raise :class:`Locked` when an experiment runs against the project in
    another process (``what`` would undo its faults), unless ``force``."""
    holder = held_elsewhere(settings, EXPERIMENT_LOCK)
    if holder and not force:
        raise Locked(
            f"{what} refused: an experiment is running against this stack ({holder}); "
            "it heals when it ends — pass force=true (chaosha heal --force) to do it anyway"
        )

"""Container lifecycle with deadlines, and a freezer fallback for pause.

The one code path that faults a container: :func:`kill`, :func:`stop`,
:func:`restart` and :func:`pause` record the fault before applying it
(and strike it off when it could not be applied); :func:`revive` undoes
any of them and strikes them off.  The docker and zookeeper actions and
``heal`` all go through here.

``docker pause``/``unpause`` have been seen to block for many minutes while
the container's freezer cgroup stayed FROZEN.  Each call here has a
deadline; when pause or unpause misses it on a local engine, the freezer
cgroup is written directly (cgroup v1 ``freezer.state`` or v2
``cgroup.freeze``), and as a last resort the container's processes get
SIGSTOP/SIGCONT.
"""

import os
import signal as signals
from pathlib import Path
from typing import Any, Callable, List, Optional

import docker
import requests
from chaoslib.exceptions import ActivityFailed
from docker.models.containers import Container

from chaosha import state as registry
from chaosha.config import Settings

__all__ = [
    "freeze",
    "thaw",
    "is_frozen",
    "parse_signal",
    "refresh",
    "call",
    "kill",
    "stop",
    "restart",
    "pause",
    "unpause",
    "revive",
    "STOP_SIGNALS",
    "DOWN",
    "PAUSE",
    "SIGSTOP",
]

STOP_SIGNALS = ("SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU")
# Fault kinds in the registry
DOWN, PAUSE, SIGSTOP = "down", "pause", "sigstop"


def parse_signal(name: str) -> str:
    """Normalise ``kill``/``KILL``/``SIGKILL``/``9`` to ``SIGKILL``."""
    text = str(name).strip().upper()
    if text.isdigit():
        try:
            return signals.Signals(int(text)).name
        except ValueError:
            pass
    else:
        text = text if text.startswith("SIG") else f"SIG{text}"
        if text in signals.Signals.__members__:
            return text
    raise ActivityFailed(f"unknown signal {name!r}: use a name such as SIGKILL, SIGTERM, SIGSTOP")


def refresh(container: Container) -> Container:
    container.reload()
    return container


def _freezer_files(container: Container) -> List[Path]:
    cid = container.id
    return [
        Path(f"/sys/fs/cgroup/freezer/docker/{cid}/freezer.state"),
        Path(f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/cgroup.freeze"),
        Path(f"/sys/fs/cgroup/docker/{cid}/cgroup.freeze"),
    ]


def _freezer(container: Container) -> Optional[Path]:
    return next((p for p in _freezer_files(container) if p.exists()), None)


def is_frozen(container: Container) -> bool:
    """Frozen per the cgroup (local engine), else per Docker's state."""
    path = _freezer(container)
    if path is not None:
        state = path.read_text().strip()
        return state in ("FROZEN", "FREEZING", "1")
    return bool(refresh(container).attrs["State"].get("Paused"))


def _write_freezer(container: Container, frozen: bool) -> bool:
    path = _freezer(container)
    if path is None:
        return False
    value = ("FROZEN" if frozen else "THAWED") if path.name == "freezer.state" else ("1" if frozen else "0")
    path.write_text(value)
    return True


def _signal_all(container: Container, sig: int) -> bool:
    pid = refresh(container).attrs["State"].get("Pid") or 0
    if not pid:
        return False
    procs = Path(f"/proc/{pid}/task")
    if not procs.exists():
        return False
    for path in _freezer_files(container):  # every pid in the container's cgroup
        tasks = path.parent / ("tasks" if path.name == "freezer.state" else "cgroup.procs")
        if tasks.exists():
            for line in tasks.read_text().split():
                try:
                    os.kill(int(line), sig)
                except (ProcessLookupError, PermissionError):
                    continue
            return True
    os.kill(pid, sig)
    return True


def freeze(container: Container) -> str:
    """Pause the container; returns how (``docker``, ``cgroup``, ``sigstop``)."""
    try:
        container.pause()
        return "docker"
    except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
        if _write_freezer(container, True):
            return "cgroup"
        if _signal_all(container, signals.SIGSTOP):
            return "sigstop"
        raise ActivityFailed(f"pausing {container.name} timed out and no local freezer is reachable") from None
    except docker.errors.APIError as exc:
        raise ActivityFailed(f"cannot pause {container.name}: {exc.explanation}") from None


def thaw(container: Container) -> str:
    """Resume the container; works even when ``docker unpause`` hangs."""
    try:
        container.unpause()
        method = "docker"
    except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
        method = "cgroup" if _write_freezer(container, False) else ""
    except docker.errors.APIError as exc:
        if "not paused" not in str(exc.explanation):
            if not _write_freezer(container, False):
                raise ActivityFailed(f"cannot unpause {container.name}: {exc.explanation}") from None
        method = "cgroup"
    # Processes stopped by a SIGSTOP fallback need SIGCONT; harmless otherwise.
    if _signal_all(container, signals.SIGCONT) and not method:
        method = "sigcont"
    if not method:
        raise ActivityFailed(f"unpausing {container.name} timed out and no local freezer is reachable")
    return method


def call(what: str, service: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``; a Docker error becomes ``ActivityFailed``."""
    try:
        return fn(*args, **kwargs)
    except docker.errors.APIError as exc:
        raise ActivityFailed(f"{what} {service} failed: {exc.explanation}") from None
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise ActivityFailed(f"{what} {service} failed: {exc}") from None


def _faulted(settings: Settings, kind: str, service: str, apply: Callable[[], Any]) -> Any:
    """Record the fault, apply it; strike it off again if it failed."""
    registry.record(settings, kind, service)
    try:
        return apply()
    except ActivityFailed:
        registry.forget(settings, kind, service)
        raise


def kill(settings: Settings, service: str, target: Container, sig: str) -> None:
    """Send ``sig`` (normalised, see :func:`parse_signal`) to the container."""
    kind = SIGSTOP if sig in STOP_SIGNALS else DOWN
    _faulted(settings, kind, service, lambda: call("killing", service, target.kill, signal=sig))


def _graceful(service: str, target: Container, verb: str, grace: float) -> None:
    """``stop``/``restart`` with a deadline that covers the grace period."""
    api = target.client.api
    saved = api.timeout
    api.timeout = max(saved, grace + 20)
    try:
        call(verb, service, getattr(target, verb), timeout=int(grace))
    finally:
        api.timeout = saved


def stop(settings: Settings, service: str, target: Container, grace: float) -> None:
    """Stop gracefully (stop signal, SIGKILL after ``grace`` seconds)."""
    _faulted(settings, DOWN, service, lambda: _graceful(service, target, "stop", grace))


def restart(settings: Settings, service: str, target: Container, grace: float) -> None:
    """Restart (stop with ``grace``, then start); recorded while it lasts."""
    _faulted(settings, DOWN, service, lambda: _graceful(service, target, "restart", grace))
    registry.forget(settings, DOWN, service)


def pause(settings: Settings, service: str, target: Container) -> str:
    """Freeze every process; returns how (see :func:`freeze`)."""
    return str(_faulted(settings, PAUSE, service, lambda: freeze(target)))


def unpause(settings: Settings, service: str, target: Container) -> str:
    """Thaw the container; returns how (see :func:`thaw`)."""
    method = thaw(target)
    registry.forget(settings, PAUSE, service)
    return method


def revive(settings: Settings, service: str, target: Container, sigcont: bool = True) -> List[str]:
    """Undo kill, stop, pause and SIGSTOP: thaw a frozen container, send
    SIGCONT to a running one (when ``sigcont``), start a stopped one.
    Returns the steps taken; strikes those faults off."""
    call("inspecting", service, target.reload)
    steps: List[str] = []
    if target.attrs["State"].get("Paused") or is_frozen(target):
        steps.append("unpause:" + thaw(target))
        call("inspecting", service, target.reload)
    elif sigcont and target.status == "running":
        call("continuing", service, target.kill, signal="SIGCONT")
        steps.append("sigcont")
    if target.status not in ("running", "paused"):
        call("starting", service, target.start)
        steps.append("start")
    for kind in (DOWN, PAUSE, SIGSTOP):
        registry.forget(settings, kind, service)
    return steps

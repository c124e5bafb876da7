"""The fault registry: every fault chaosha injects is written down *before*
it is applied (a JSON file under ``CHAOSHA_STATE_DIR``), so ``heal`` can undo
it even after the run that injected it was killed outright."""

import json
import os
import time
from pathlib import Path
from typing import Any, Dict, List

from chaosha.config import Settings

__all__ = ["record", "forget", "pending", "remember_target", "last_target"]


def _path(settings: Settings) -> Path:
    return settings.state_dir / f"faults-{settings.project}.json"


def pending(settings: Settings) -> List[Dict[str, Any]]:
    """Faults recorded and not yet undone."""
    try:
        return list(json.loads(_path(settings).read_text()))
    except (FileNotFoundError, ValueError):
        return []


def _write(settings: Settings, faults: List[Dict[str, Any]]) -> None:
    path = _path(settings)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(faults, indent=1))
    os.replace(tmp, path)


def record(settings: Settings, kind: str, service: str, **details: Any) -> None:
    faults = [f for f in pending(settings) if (f["kind"], f["service"]) != (kind, service)]
    faults.append(dict(details, kind=kind, service=service, at=time.time()))
    _write(settings, faults)


def forget(settings: Settings, kind: str, service: str) -> None:
    _write(settings, [f for f in pending(settings) if (f["kind"], f["service"]) != (kind, service)])


def remember_target(settings: Settings, service: str) -> None:
    """Note the service the latest destructive action aimed at (so a probe
    can wait for a leader other than the one just faulted)."""
    (settings.state_dir / f"last-target-{settings.project}").write_text(service)


def last_target(settings: Settings) -> str:
    try:
        return (settings.state_dir / f"last-target-{settings.project}").read_text().strip()
    except FileNotFoundError:
        return ""

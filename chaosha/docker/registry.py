"""The fault registry: every fault chaosha injects is written down *before*
it is applied (a JSON file under ``CHAOSHA_STATE_DIR``), so ``heal`` can undo
it even after the run that injected it was killed outright."""

import json
import os
import time
from pathlib import Path
from typing import Any, Dict, List

from chaosha.config import Settings

__all__ = ["record", "forget", "pending"]


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

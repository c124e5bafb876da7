"""Probe: recovery per fault of the latest nemesis run, from its events
and the integrity workload's ledger."""

import json
from typing import Any, Dict

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaosha.config import load
from chaosha.integrity.ledger import read_records
from chaosha.integrity.runner import load_state
from chaosha.nemesis.actions import record_path
from chaosha.nemesis.recovery import attribute, by_kind

__all__ = ["recovery_by_fault"]


def recovery_by_fault(
    run_id: str = "", configuration: Configuration = None, secrets: Secrets = None
) -> Dict[str, Any]:
    """Per applied step of the latest nemesis run its write outage
    (``steps``: fault, service, ``rto_s``) and per fault kind
    (``kinds``): ``count``, ``rto_p50_s``, ``rto_p95_s``, ``rto_max_s``,
    measured on the ledger of workload ``run_id`` (default: the latest)."""
    settings = load(configuration, secrets)
    path = record_path(settings)
    if not path.is_file():
        raise ActivityFailed(f"no nemesis run recorded in {path}: run the run_nemesis action first")
    record = json.loads(path.read_text())
    ledger = load_state(settings, run_id)["ledger"]
    writes = [r for r in read_records(ledger) if r.get("k") == "w"]
    steps = attribute(record.get("events") or [], writes)
    return {"seed": record.get("seed"), "steps": steps, "kinds": by_kind(steps), "ledger": ledger}

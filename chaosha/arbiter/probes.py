"""Probes: what the arbiter's instances are doing and what they did."""

import json
from typing import Any, Dict, List

from chaoslib.types import Configuration, Secrets

from chaosha.config import Settings, load
from chaosha.integrity.ledger import read_records
from chaosha.integrity.runner import process_alive
from chaosha.state import arbiter_dir

__all__ = ["arbiter_status"]

STEPS = ("fence-start", "fenced", "fence-failed", "hold", "released", "not-released", "release-skipped",
         "pending-fence")  # fmt: skip


def instances(settings: Settings) -> List[Dict[str, Any]]:
    """Every recorded instance: run_id, pid, alive, holder (it logged
    ``elected`` and has not lost it since), its log and the fence steps it logged."""
    found: List[Dict[str, Any]] = []
    for path in sorted(arbiter_dir(settings).glob("arbiter-*.json")):
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        holder, steps = False, []
        for record in read_records(state.get("ledger", "")):
            event = record.get("event")
            if event == "elected":
                holder = True
            elif event in ("not-holder", "session-lost"):
                holder = False
            elif event in STEPS:
                steps.append({k: v for k, v in record.items() if k not in ("k", "instance")})
        alive = process_alive(int(state.get("pid") or 0), str(state.get("run_id") or ""))
        found.append(
            {
                "run_id": state.get("run_id"),
                "pid": state.get("pid"),
                "alive": alive,
                "holder": alive and holder,
                "log": state.get("ledger"),
                "steps": steps,
            }  # fmt: skip
        )
    return found


def arbiter_status(configuration: Configuration = None, secrets: Secrets = None) -> Dict[str, Any]:
    """``{running, holder, instances: [...], fences, releases}``: the
    running instances, the one holding the lock, and how many fences and
    releases the instances of the latest start logged (running or not: a
    probe for an experiment's hypothesis)."""
    settings = load(configuration, secrets)
    found = instances(settings)
    running = [i for i in found if i["alive"]]
    latest = max((str(i["run_id"]).rsplit("-", 1)[0] for i in found), default="")
    steps = [s for i in found if str(i["run_id"]).rsplit("-", 1)[0] == latest for s in i["steps"]]
    return {
        "running": len(running),
        "holder": next((i["run_id"] for i in running if i["holder"]), ""),
        "instances": running,
        "fences": sum(1 for s in steps if s.get("event") == "fenced"),
        "releases": sum(1 for s in steps if s.get("event") == "released"),
    }

"""Derives the journals of the report's layout tests from completed.json
(which make_journals.py writes):

- action-failed.json: the method's kill failed, the integrity verdict
  passed (with an empty ``reasons`` list);
- incidents.json: a freeze-and-thaw run that tries the page's width: long
  activity names, long unbroken values, nested outputs, a heal in the
  method and in the rollbacks, the safeguard's record, two-writable and
  two-primary incidents and a failed verdict with its ``reasons``.

Run: .venv/bin/python tests/data/journals/make_report_journals.py
"""

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Dict

HERE = Path(__file__).resolve().parent
ERROR = (
    "chaoslib.exceptions.ActivityFailed: docker refused to kill "
    "chaosha-demo-pg1-1: container is paused (resume it first)\n"
)


def at(journal: Dict[str, Any], offset: float) -> str:
    start = datetime.fromisoformat(journal["start"])
    return (start + timedelta(seconds=offset)).astimezone(UTC).isoformat()


def named(journal: Dict[str, Any], name: str) -> Dict[str, Any]:
    return next(r for r in journal["run"] if r["activity"]["name"] == name)


def action_failed(base: Dict[str, Any]) -> Dict[str, Any]:
    journal = copy.deepcopy(base)
    journal["experiment"]["title"] = "Kill the primary under load (the kill failed)"
    kill = named(journal, "kill-the-primary")
    kill.update(status="failed", output=None, exception=["Traceback (most recent call last):\n", ERROR])
    named(journal, "workload-verdict")["output"]["reasons"] = []
    return journal


def _activity(name: str, func: str, module: str = "chaosha.docker.actions") -> Dict[str, Any]:
    return {
        "type": "action",
        "name": name,
        "provider": {"type": "python", "module": module, "func": func, "arguments": {"service": "pg1"}},
    }


def _run(journal: Dict[str, Any], act: Dict[str, Any], start: float, end: float, output: Any) -> Dict[str, Any]:
    return {
        "activity": act,
        "output": output,
        "start": at(journal, start),
        "end": at(journal, end),
        "duration": end - start,
        "status": "succeeded",
    }


def _incident(journal: Dict[str, Any], start: float, seconds: float, servers: Any, source: str) -> Dict[str, Any]:
    return {
        "source": source,
        "servers": servers,
        "from": at(journal, start),
        "to": at(journal, start + seconds),
        "seconds": seconds,
    }


def _verdict(journal: Dict[str, Any]) -> None:
    verdict = named(journal, "workload-verdict")["output"]
    writable = [_incident(journal, 36.4, 0.26, ["pg1 tl1", "pg2 tl2"], "sql")]
    primaries = [_incident(journal, 36.5, 0.12, ["pg1 tl1", "pg2 tl2"], "ledger")]
    verdict.update(
        two_writable=True,
        two_writable_incidents=writable,
        two_writable_s=0.26,
        two_primaries=True,
        two_primary_incidents=primaries,
        passed=False,
        reasons=[
            "two primaries acknowledged writes (1 incident(s))",
            "the writer did not end cleanly (ended with signal)",
        ],
    )


def incidents(base: Dict[str, Any]) -> Dict[str, Any]:
    journal = copy.deepcopy(base)
    journal["experiment"]["title"] = "Freeze the leader past its ZooKeeper session, then thaw it"
    journal["experiment"]["controls"] = [
        {"name": "chaosha-safeguard", "provider": {"type": "python", "module": "chaosha.controls.safeguard"}}
    ]
    kill = named(journal, "kill-the-primary")
    kill["activity"] = _activity("freeze-the-leader-container-for-longer-than-the-session-ttl", "pause_container")
    journal["experiment"]["method"][2] = kill["activity"]
    kill["output"] = {
        "service": "pg1",
        "action": "pause",
        "container": "chaosha-" + "x" * 150,
        "peers": [
            {"node": "pg2", "address": "172.28.0.12", "streaming": True},
            {"node": "zk1", "address": "172.28.0.21", "streaming": None},
        ],
    }
    thaw = _run(
        journal,
        _activity("thaw-the-old-leader", "unpause_container"),
        36.0,
        36.3,
        {"service": "pg1", "unpaused": True, "healed": {"pg1": ["unpause"], "zk": {}}},
    )
    journal["run"].insert(3, thaw)
    journal["experiment"]["method"].insert(3, thaw["activity"])
    journal["rollbacks"].append(
        _run(journal, _activity("heal-every-fault", "heal"), 65.0, 65.5, {"healed": {}, "services": 0})
    )
    journal["safeguard"] = {"at": at(journal, 66.5), "workload": "already-exited", "heal": {"pg1": ["unpause"]}}
    _verdict(journal)
    return journal


def main() -> None:
    base = json.loads((HERE / "completed.json").read_text())
    for name, journal in (("action-failed.json", action_failed(base)), ("incidents.json", incidents(base))):
        (HERE / name).write_text(json.dumps(journal, indent=2) + "\n")


if __name__ == "__main__":
    main()

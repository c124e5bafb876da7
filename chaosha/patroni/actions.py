"""Patroni actions: planned switchover, manual failover, pause/resume."""

from typing import Any, Dict

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaosha.clients import patroni as client
from chaosha.config import Settings, load
from chaosha.timing import Deadline, parse_duration

__all__ = ["switchover", "failover", "pause_failover", "resume_failover"]


def _check_candidate(settings: Settings, candidate: str, leader: str) -> None:
    if not candidate:
        return
    settings.pg_node(candidate)  # unknown name -> ActivityFailed listing the known ones
    if candidate == leader:
        raise ActivityFailed(f"{candidate} already leads the cluster: name another member as candidate")


def _planned(
    kind: str,
    body: Dict[str, Any],
    timeout_s: float,
    dry_run: bool,
    configuration: Configuration,
    secrets: Secrets,
) -> Dict[str, Any]:
    settings = load(configuration, secrets)
    leader = client.leader_name(settings)
    if not leader and kind == "switchover":
        raise ActivityFailed("switchover needs a leader and there is none: use failover instead")
    _check_candidate(settings, body.get("candidate", ""), leader)
    if kind == "switchover":
        body["leader"] = leader
    body = {k: v for k, v in body.items() if v}
    if dry_run:
        return {"dry_run": True, "would": f"POST /{kind}", "body": body, "leader": leader}
    deadline = Deadline(parse_duration(timeout_s, "timeout_s"))
    code, text = client.post(settings, f"/{kind}", body, timeout=max(deadline.remaining(), 1))
    if code not in (200, 202):
        raise ActivityFailed(f"Patroni refused the {kind} from {leader or 'no leader'} ({code}): {text}")
    new, _ = client.wait_for_primary(settings, max(deadline.remaining(), 0.1), exclude=leader)
    return {
        "previous_leader": leader,
        "leader": new,
        "http_code": code,
        "message": text,
        "took_s": round(deadline.elapsed(), 3),
    }


def switchover(
    candidate: str = "",
    timeout_s: float = 60,
    dry_run: bool = False,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> Dict[str, Any]:
    """Planned switchover from the current leader to ``candidate`` (any
    healthy member when empty); waits up to ``timeout_s`` seconds until the
    new leader runs as primary.  Returns ``previous_leader``, ``leader`` and
    ``took_s``."""
    return _planned("switchover", {"candidate": candidate}, timeout_s, dry_run, configuration, secrets)


def _refuse_unsynchronized(settings: Settings, candidate: str) -> None:
    """In synchronous mode only the synchronous standby is sure to hold every
    acknowledged commit: a leader without one acknowledges locally (Patroni's
    non-strict mode), and promoting another member by hand loses those."""
    if not client.dynamic_config(settings).get("synchronous_mode"):
        return
    roles = {m.get("name"): m.get("role") for m in client.members(settings)}
    if roles.get(candidate) != "sync_standby":
        raise ActivityFailed(
            f"refusing to fail over to {candidate}: it is not the synchronous standby "
            f"({roles.get(candidate) or 'not a member'}; members {roles}), so it may lack commits the "
            "leader acknowledged; wait until it is one (`patronictl list`), or pass force=true to accept that"
        )


def failover(
    candidate: str,
    timeout_s: float = 60,
    force: bool = False,
    dry_run: bool = False,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> Dict[str, Any]:
    """Manual failover to ``candidate`` (works without a healthy leader);
    waits up to ``timeout_s`` seconds until the candidate runs as primary.
    In synchronous mode refuses, unless ``force``, a candidate that is not
    the synchronous standby (it may lack acknowledged commits).  Returns
    the same as ``switchover``."""
    if not candidate:
        raise ActivityFailed("failover needs a candidate member name")
    if not force:
        _refuse_unsynchronized(load(configuration, secrets), candidate)
    return _planned("failover", {"candidate": candidate}, timeout_s, dry_run, configuration, secrets)


def _set_pause(paused: bool, dry_run: bool, configuration: Configuration, secrets: Secrets) -> Dict[str, Any]:
    settings = load(configuration, secrets)
    if dry_run:
        return {"dry_run": True, "would": "PATCH /config", "body": {"pause": paused}}
    client.set_failover_pause(settings, paused)  # recorded first; a refused pause leaves no record
    return {"paused": paused}


def pause_failover(
    dry_run: bool = False, configuration: Configuration = None, secrets: Secrets = None
) -> Dict[str, Any]:
    """Pause automatic failover (Patroni maintenance mode).  Undo:
    resume_failover (heal resumes it too)."""
    return _set_pause(True, dry_run, configuration, secrets)


def resume_failover(
    dry_run: bool = False, configuration: Configuration = None, secrets: Secrets = None
) -> Dict[str, Any]:
    """Resume automatic failover."""
    return _set_pause(False, dry_run, configuration, secrets)

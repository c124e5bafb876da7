"""Adding and removing a PostgreSQL node, the decisions without I/O
(``chaosha stack add-node|remove-node``, :mod:`chaosha.stack`): the node list
``CHAOSHA_PG_NODES``, whether a member may go, who takes over from it, its
replication slot's name, and the env file rewritten atomically."""

import os
import re
import tempfile
from pathlib import Path
from typing import Any, Dict, List

__all__ = [
    "NODES_KEY",
    "could_serve",
    "streams",
    "removal_refusal",
    "switchover_candidate",
    "slot_name",
    "with_node",
    "without_node",
    "set_env_value",
]

NODES_KEY = "CHAOSHA_PG_NODES"


def _names(raw: str) -> List[str]:
    return [n.strip() for n in raw.split(",") if n.strip()]


def with_node(raw: str, name: str) -> str:
    """``CHAOSHA_PG_NODES`` with ``name`` added at the end (once)."""
    names = _names(raw)
    return ",".join(names if name in names else [*names, name])


def without_node(raw: str, name: str) -> str:
    """``CHAOSHA_PG_NODES`` without ``name``."""
    return ",".join(n for n in _names(raw) if n != name)


def streams(member: Dict[str, Any], leader_timeline: Any) -> bool:
    """A replica streaming from the leader on the leader's timeline."""
    return (
        member.get("role") in ("replica", "sync_standby")
        and member.get("state") == "streaming"
        and member.get("timeline") == leader_timeline
    )


def could_serve(member: Dict[str, Any], leader_timeline: Any) -> bool:
    """The running leader, or a streaming replica that may be promoted."""
    if (member.get("tags") or {}).get("nofailover"):
        return False
    if member.get("role") == "leader":
        return member.get("state") == "running"
    return streams(member, leader_timeline)


def _leader_timeline(members: List[Dict[str, Any]]) -> Any:
    return next((m.get("timeline") for m in members if m.get("role") == "leader"), None)


def removal_refusal(members: List[Dict[str, Any]], name: str, force: bool) -> str:
    """Why removing ``name`` from the cluster (Patroni's ``/cluster``
    members) must be refused; "" when it may go.  Never without a node
    left that could serve; not down to one node (no standby for
    synchronous replication, so no zero-loss guarantee) unless ``force``."""
    timeline = _leader_timeline(members)
    left = [m["name"] for m in members if m.get("name") != name and could_serve(m, timeline)]
    if not left:
        return (
            f"removing {name} would leave no node that could serve (no running leader or streaming "
            "replica besides it): refused, also with --force; add or repair a node first"
        )
    if len(left) < 2 and not force:
        return (
            f"removing {name} would leave {left[0]} alone: no standby for synchronous replication, so "
            "acknowledged writes are no longer kept on two nodes; add a node first, or --force"
        )
    return ""


def switchover_candidate(members: List[Dict[str, Any]], name: str) -> str:
    """Who should take over from leader ``name``: its synchronous standby if
    it streams, else any streaming replica that may be promoted; ""."""
    timeline = _leader_timeline(members)
    fit = [m for m in members if m.get("name") != name and could_serve(m, timeline)]
    fit.sort(key=lambda m: (m.get("role") != "sync_standby", m.get("lag") or 0, m["name"]))
    return str(fit[0]["name"]) if fit else ""


def slot_name(member: str) -> str:
    """The physical replication slot Patroni keeps for ``member``
    (patroni.dcs.slot_name_from_member_name of 4.1.5)."""
    return re.sub(
        "[^a-z0-9_]", lambda m: "_" if m.group(0) in "-." else f"u{ord(m.group(0)):04d}", member.lower()
    )[:63]


def set_env_value(path: Path, key: str, value: str) -> None:
    """Set ``key=value`` in the env file, every other line kept as it is;
    written to a temporary file beside it and renamed over it (mode 600),
    so a reader sees the old file or the new one, never half of one."""
    lines = path.read_text().splitlines() if path.exists() else []
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
    out: List[str] = []
    done = False
    for line in lines:  # the first setting replaced in place, later duplicates dropped
        if not pattern.match(line):
            out.append(line)
        elif not done:
            out.append(f"{key}={value}")
            done = True
    if not done:
        out.append(f"{key}={value}")
    fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write("\n".join(out) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

"""The ensemble as its members report it through four-letter words:
``srvr``/``mntr`` parsing, quorum arithmetic and the quorum guard."""

import re
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Optional, Sequence, Union

from chaoslib.exceptions import ActivityFailed

from chaosha.clients import zk_tls
from chaosha.clients import zookeeper as client
from chaosha.config import Settings, ZkNode

__all__ = [
    "parse_srvr",
    "parse_mntr",
    "majority",
    "summarize",
    "guard_removal",
    "node_status",
    "survey",
    "VOTING_MODES",
]

NOT_SERVING = "not currently serving requests"
# Modes of a member that serves clients and votes (observers do not vote).
VOTING_MODES = ("leader", "follower", "standalone")
Number = Union[int, float]
# A serving member answers a word in milliseconds; one that takes longer
# (frozen, partitioned behind Docker's port proxy) counts as unreachable.
WORD_TIMEOUT = 3.0


def _number(text: str) -> Union[Number, str]:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def parse_srvr(text: str) -> Dict[str, Any]:
    """The fields of a ``srvr`` answer that matter for availability.

    A member that answers but has no quorum says it is "not currently
    serving requests": ``serving`` is then False and ``mode`` None.
    """
    if NOT_SERVING in text:
        return {"serving": False, "mode": None}
    fields = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
    version = re.match(r"[0-9.]+", fields.get("Zookeeper version", ""))
    zxid = fields.get("Zxid", "")
    latency = [float(v) for v in fields.get("Latency min/avg/max", "").split("/") if v]
    return {
        "serving": True,
        "mode": fields.get("Mode"),
        "version": version.group(0) if version else None,
        "zxid": zxid or None,
        "epoch": int(zxid, 16) >> 32 if zxid else None,
        "node_count": _maybe_int(fields.get("Node count")),
        "connections": _maybe_int(fields.get("Connections")),
        "outstanding": _maybe_int(fields.get("Outstanding")),
        "latency_s": dict(zip(("min", "avg", "max"), (round(v / 1000, 6) for v in latency), strict=False)),
    }


def _maybe_int(text: Optional[str]) -> Optional[int]:
    return int(text) if text and text.strip().isdigit() else None


def parse_mntr(text: str) -> Dict[str, Union[Number, str]]:
    """``mntr``'s ``zk_key<TAB>value`` lines as ``{key: number or text}``
    (``zk_`` prefix dropped); {} when the member is not serving."""
    if NOT_SERVING in text:
        return {}
    values: Dict[str, Union[Number, str]] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("\t")
        if sep:
            values[key.removeprefix("zk_")] = _number(value.strip())
    return values


def majority(configured: int) -> int:
    """Votes needed for a quorum of ``configured`` members."""
    return configured // 2 + 1


def summarize(nodes: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    """Quorum verdict over per-member statuses (each with ``mode``).

    ``quorum`` is True when a leader exists (or the only member is
    standalone) and a majority of the configured members serve and vote.
    """
    serving = [name for name, node in nodes.items() if node.get("mode") in VOTING_MODES]
    leaders = [
        name
        for name, node in nodes.items()
        if node.get("mode") == "leader" or (node.get("mode") == "standalone" and len(nodes) == 1)
    ]
    need = majority(len(nodes))
    return {
        "configured": len(nodes),
        "majority": need,
        "serving": serving,
        "leader": leaders[0] if len(leaders) == 1 else None,
        "quorum": len(leaders) == 1 and len(serving) >= need,
    }


def guard_removal(node: str, serving: Sequence[str], configured: Sequence[str], force: bool) -> Dict[str, Any]:
    """What taking ``node`` (or several at once: ``"zk1,zk2"``) down would
    leave serving.

    Raises ``ActivityFailed`` when fewer than a majority of ``configured``
    would still serve, unless ``force``.
    """
    nodes = [n.strip() for n in node.split(",") if n.strip()]
    remaining = [name for name in serving if name not in nodes]
    need = majority(len(configured))
    keeps = len(remaining) >= need
    if not keeps and not force:
        raise ActivityFailed(
            f"refusing to take ZooKeeper node {node!r} down: {len(remaining)} of "
            f"{len(configured)} members would be serving ({', '.join(remaining) or 'none'}) "
            f"and a quorum needs {need}; pass force=true to break quorum"
        )
    return {"serving_before": list(serving), "serving_after": remaining, "majority": need, "quorum_after": keeps}


def node_status(node: ZkNode, timeout: float, tls: ssl.SSLContext) -> Dict[str, Any]:
    """One member's status from ``srvr`` (and ``mntr`` when it serves),
    over TLS (``tls``: :func:`chaosha.clients.zk_tls.client_context`).

    Never raises: an unreachable member has ``reachable`` False and ``error``.
    """
    status: Dict[str, Any] = {
        "address": f"{node.host}:{node.port}",
        "reachable": False,
        "serving": False,
        "mode": None,
        "error": None,
    }
    started = time.monotonic()
    try:
        status.update(parse_srvr(client.four_letter_word(node, "srvr", timeout, tls)))
        status["reachable"] = True
        status["response_s"] = round(time.monotonic() - started, 3)
        if status["serving"]:
            status.update(_mntr_extract(client.four_letter_word(node, "mntr", timeout, tls)))
    except ActivityFailed as exc:
        status["error"] = str(exc)
    return status


def _mntr_extract(text: str) -> Dict[str, Any]:
    values = parse_mntr(text)
    extract = {"peer_state": values.get("peer_state"), "ephemerals": values.get("ephemerals_count")}
    if "synced_followers" in values:
        extract["synced_followers"] = values["synced_followers"]
    return extract


def survey(settings: Settings) -> Dict[str, Any]:
    """Every configured member's status (asked in parallel, each within
    min(``CHAOSHA_TIMEOUT``, 3 s)) and the verdict.  ActivityFailed when
    chaosha's TLS credentials are missing."""
    members = settings.zk_nodes
    timeout = min(settings.timeout, WORD_TIMEOUT)
    tls = zk_tls.client_context(settings)
    with ThreadPoolExecutor(max_workers=max(1, len(members))) as pool:
        found = list(pool.map(lambda n: node_status(n, timeout, tls), members))
    nodes = {member.name: status for member, status in zip(members, found, strict=True)}
    return {"nodes": nodes, **summarize(nodes)}

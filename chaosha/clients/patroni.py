"""The Patroni REST API client factory.

Any node answers for the whole cluster (``GET /cluster``): every node is
asked at once and the first answer is used, so a frozen or cut-off node
never delays a probe.  Write methods carry basic auth
(``CHAOSHA_PATRONI_API_USER``/``CHAOSHA_PATRONI_API_PASSWORD``).  Every
request has a deadline.
"""

import functools
from typing import Any, Dict, List, Optional, Tuple

import requests
from chaoslib.exceptions import ActivityFailed

from chaosha import state
from chaosha.config import PgNode, Settings
from chaosha.timing import first_answer, wait_until

PAUSE_FAULT = "patroni-pause"
# member_slots_ttl set to 0 while a removed member's slot is dropped (stack remove-node)
SLOT_TTL_FAULT = "patroni-member-slots-ttl"


class NoAnswer(ActivityFailed):
    """No Patroni REST API answered (the request may or may not have landed)."""


__all__ = [
    "NoAnswer",
    "PAUSE_FAULT",
    "SLOT_TTL_FAULT",
    "dynamic_config",
    "suspend_slot_retention",
    "restore_slot_retention",
    "set_failover_pause",
    "wait_for_primary",
    "api",
    "cluster",
    "leader_name",
    "members",
    "post",
    "node_status",
    "status",
]


def api(settings: Settings) -> requests.Session:
    session = requests.Session()
    session.auth = (settings.get("CHAOSHA_PATRONI_API_USER"), settings.get("CHAOSHA_PATRONI_API_PASSWORD"))
    return session


def _get(settings: Settings, node: PgNode, path: str, timeout: float) -> requests.Response:
    with api(settings) as session:
        return session.get(f"{node.api_url}{path}", timeout=(min(timeout, 3), timeout))


def status(node: PgNode, timeout: float) -> Dict[str, Any]:
    """``GET /patroni`` of one node (no auth needed), within ``timeout``.

    Raises ``requests.RequestException`` or ``ValueError`` when the node
    does not answer with JSON: callers that sample keep the error.
    """
    body = requests.get(f"{node.api_url}/patroni", timeout=(min(timeout, 3), timeout)).json()
    return dict(body) if isinstance(body, dict) else {}


def node_status(settings: Settings, node: PgNode, timeout: float = 0) -> Optional[Dict[str, Any]]:
    """``GET /patroni`` of one node, or None when it does not answer."""
    try:
        return status(node, timeout or settings.timeout) or None
    except (requests.RequestException, ValueError):
        return None


def cluster(settings: Settings, timeout: float = 0) -> Tuple[Dict[str, Any], str]:
    """``GET /cluster`` from the first node that answers: (body, node name).

    Raises ``ActivityFailed`` when no node's REST API answers within
    ``timeout`` (default ``CHAOSHA_TIMEOUT``).
    """
    seconds = timeout or settings.timeout

    def ask(node: PgNode) -> Tuple[Dict[str, Any], str]:
        response = _get(settings, node, "/cluster", seconds)
        response.raise_for_status()
        return dict(response.json()), node.name

    found, errors = first_answer([functools.partial(ask, node) for node in settings.pg_nodes], seconds)
    if found is None:
        raise ActivityFailed(
            "no Patroni REST API answered (" + "; ".join(errors) + "): is the stack up "
            "(chaosha stack status)? are CHAOSHA_PGn_API_PORT right?"
        )
    return found


def members(settings: Settings, timeout: float = 0) -> List[Dict[str, Any]]:
    return list(cluster(settings, timeout)[0].get("members", []))


def leader_name(settings: Settings, timeout: float = 0) -> str:
    """The member holding the leader key, or "" when there is none."""
    for member in members(settings, timeout):
        if member.get("role") in ("leader", "standby_leader"):
            return str(member["name"])
    return ""


def post(
    settings: Settings, path: str, body: Dict[str, Any], timeout: float = 0, method: str = "POST"
) -> Tuple[int, str]:
    """Send a write request to the first node that answers: (code, text).

    Raises ``ActivityFailed`` on wrong credentials or when no node answers.
    """
    errors: List[str] = []
    seconds = timeout or settings.timeout
    for node in settings.pg_nodes:
        try:
            with api(settings) as session:
                response = session.request(
                    method, f"{node.api_url}{path}", json=body, timeout=(min(seconds, 3), seconds)
                )
        except requests.RequestException as exc:
            errors.append(f"{node.name}: {type(exc).__name__}")
            continue
        if response.status_code == 401:
            raise ActivityFailed(
                f"Patroni on {node.name} refused the credentials for {method} {path}: "
                "check CHAOSHA_PATRONI_API_USER / CHAOSHA_PATRONI_API_PASSWORD"
            )
        return response.status_code, response.text.strip()
    raise NoAnswer(f"{method} {path}: no Patroni REST API answered ({', '.join(errors)})")


def set_failover_pause(settings: Settings, paused: bool) -> None:
    """Pause or resume Patroni's automatic failover (PATCH /config).  A pause
    is recorded before it is sent (so heal resumes it after a killed run)
    and forgotten when Patroni refuses it; a resume forgets it."""
    if paused:
        state.record(settings, PAUSE_FAULT, "patroni")
    try:
        code, text = post(settings, "/config", {"pause": paused}, method="PATCH")
        if code != 200:
            raise ActivityFailed(f"Patroni refused PATCH /config pause={paused} ({code}): {text}")
    except NoAnswer:
        raise  # it may have landed: the record stays for heal
    except ActivityFailed:
        if paused:  # refused (a code, or the credentials): nothing to undo
            state.forget(settings, PAUSE_FAULT, "patroni")
        raise
    if not paused:
        state.forget(settings, PAUSE_FAULT, "patroni")


def wait_for_primary(settings: Settings, timeout: float, exclude: str = "") -> Tuple[str, float]:
    """Wait until a member (other than ``exclude``) holds the leader key and
    its own REST API says it runs as primary: ``(name, seconds waited)``.
    Raises ``ActivityFailed`` at the deadline."""

    def check() -> str:
        name = leader_name(settings, timeout=2)
        if not name or name == exclude:
            return ""
        status = node_status(settings, settings.pg_node(name), timeout=2) or {}
        return name if status.get("role") in ("primary", "master") else ""

    return wait_until(check, timeout, 0.25, f"a Patroni leader{' other than ' + exclude if exclude else ''}")


def dynamic_config(settings: Settings, timeout: float = 0) -> Dict[str, Any]:
    """``GET /config`` (the cluster's dynamic configuration in the DCS) from
    the first node that answers."""
    seconds = timeout or settings.timeout

    def ask(node: PgNode) -> Dict[str, Any]:
        response = _get(settings, node, "/config", seconds)
        response.raise_for_status()
        return dict(response.json())

    found, errors = first_answer([functools.partial(ask, node) for node in settings.pg_nodes], seconds)
    if found is None:
        raise NoAnswer("GET /config: no Patroni REST API answered (" + "; ".join(errors) + ")")
    return found


def suspend_slot_retention(settings: Settings) -> None:
    """Set ``member_slots_ttl`` to 0, so Patroni stops keeping the slots of
    members whose key is gone (and drops them).  Recorded first, with the
    value to restore, so heal (or :func:`restore_slot_retention`) puts it
    back after a killed run."""
    if any(f["kind"] == SLOT_TTL_FAULT for f in state.pending(settings)):
        return  # already suspended by a run that did not finish: keep its value to restore
    previous = dynamic_config(settings).get("member_slots_ttl")
    state.record(settings, SLOT_TTL_FAULT, "patroni", previous=previous)
    code, text = post(settings, "/config", {"member_slots_ttl": 0}, method="PATCH")
    if code != 200:
        state.forget(settings, SLOT_TTL_FAULT, "patroni")
        raise ActivityFailed(f"Patroni refused PATCH /config member_slots_ttl=0 ({code}): {text}")


def restore_slot_retention(settings: Settings) -> bool:
    """Put back the ``member_slots_ttl`` that :func:`suspend_slot_retention`
    recorded (none recorded: nothing to do, False)."""
    record = next((f for f in state.pending(settings) if f["kind"] == SLOT_TTL_FAULT), None)
    if record is None:
        return False
    # null removes the key: Patroni's default (30 min) applies again
    code, text = post(settings, "/config", {"member_slots_ttl": record.get("previous")}, method="PATCH")
    if code != 200:
        raise ActivityFailed(f"Patroni refused to restore member_slots_ttl ({code}): {text}")
    state.forget(settings, SLOT_TTL_FAULT, "patroni")
    return True

"""ZooKeeper actions: take a member down (behind a quorum guard), bring it
back, and expire a Patroni member's ZooKeeper session.

``target`` is a ZooKeeper member's service (``zk1``) or ``@faulted`` (the
service the latest destructive action aimed at); for ``expire_session`` a
Patroni member (``pg1``) or a role (``@leader``, ``@replica``, ``@sync``).
"""

import ssl
import time
from typing import Any, Callable, Dict, Optional, Tuple

import docker
import requests
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets
from docker.models.containers import Container
from kazoo.client import KazooClient

from chaosha import state as registry
from chaosha.clients import lifecycle, zk_tls
from chaosha.clients import zookeeper as client
from chaosha.clients.docker import container
from chaosha.clients.ensemble import VOTING_MODES, WORD_TIMEOUT, node_status
from chaosha.clients.zk_passwords import session_hex, session_password, to_signed64
from chaosha.config import Settings, ZkNode, load
from chaosha.targets import guard, resolve
from chaosha.timing import Deadline, parse_duration, wait_until

__all__ = ["stop_node", "kill_node", "start_node", "expire_session"]

POLL_INTERVAL = 0.02  # s between znode polls: expiry takes milliseconds


# -- members ------------------------------------------------------------


def stop_node(
    target: str,
    force: bool = False,
    dry_run: bool = False,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> Dict[str, Any]:
    """Stop the container of ZooKeeper member ``target`` (``docker stop``).

    Refuses (raises ActivityFailed) when the members serving now, minus
    the target, would no longer be a majority of the configured ensemble,
    unless ``force``.  ``dry_run`` checks everything and acts on nothing.
    Returns ``service``, container, ``serving_before``/``serving_after``,
    ``majority``, ``quorum_after``, ``dry_run``, ``forced``,
    ``container_state`` and ``took_s``.  Undo with ``start_node``.
    """
    settings = load(configuration, secrets)
    grace = max(1.0, float(int(settings.timeout)))
    return _take_down(
        settings,
        target,
        "stop",
        force,
        dry_run,
        lambda service, found: lifecycle.stop(settings, service, found, grace),
    )


def kill_node(
    target: str,
    signal: str = "SIGKILL",
    force: bool = False,
    dry_run: bool = False,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> Dict[str, Any]:
    """Send ``signal`` (default SIGKILL) to ZooKeeper member ``target``'s container.

    Same quorum guard, ``dry_run`` and result as ``stop_node`` (plus
    ``signal``).  Docker counts a kill as a manual stop: the restart
    policy does not bring the member back.  Undo with ``start_node``
    (it also resumes a member frozen by SIGSTOP; so does heal).
    """
    if not signal.strip():
        raise ActivityFailed(f"kill_node {target!r}: signal is empty; use e.g. SIGKILL or SIGSTOP")
    sig = lifecycle.parse_signal(signal)
    settings = load(configuration, secrets)
    result = _take_down(
        settings,
        target,
        "kill",
        force,
        dry_run,
        lambda service, found: lifecycle.kill(settings, service, found, sig),
    )
    result["signal"] = sig
    return result


def start_node(
    target: str, wait_s: float = 60, configuration: Configuration = None, secrets: Secrets = None
) -> Dict[str, Any]:
    """Start ZooKeeper member ``target``'s container and wait until it serves.

    Undoes ``stop_node`` and ``kill_node`` (a running container gets
    SIGCONT, a paused one is unpaused).  Returns ``service``, container,
    ``container_state``, ``mode`` and ``took_s``.
    Raises ActivityFailed when it does not serve (leader or follower)
    within ``wait_s`` seconds (0 = do not wait).
    """
    started = time.monotonic()
    settings = load(configuration, secrets)
    service = resolve(settings, target)
    member = settings.zk_node(service)
    seconds = parse_duration(wait_s, "start_node wait_s")
    found = container(settings, service)
    lifecycle.revive(settings, service, found)
    result: Dict[str, Any] = {"service": service, "container": found.name, "action": "start"}
    mode = None
    if seconds > 0:
        word_timeout = min(settings.timeout, WORD_TIMEOUT)
        tls = zk_tls.client_context(settings)
        mode, _ = wait_until(
            lambda: _voting_mode(member, word_timeout, tls),
            seconds,
            interval=0.5,
            what=f"ZooKeeper {service} to serve (see `chaosha stack logs {service}`)",
        )
    result.update({"container_state": _state(found), "mode": mode, "took_s": round(time.monotonic() - started, 3)})
    return result


def _voting_mode(member: ZkNode, timeout: float, tls: ssl.SSLContext) -> Optional[str]:
    mode = node_status(member, timeout, tls)["mode"]
    return mode if mode in VOTING_MODES else None


def _take_down(
    settings: Settings, target: str, verb: str, force: bool, dry_run: bool, act: Callable[[str, Container], Any]
) -> Dict[str, Any]:
    started = time.monotonic()
    service = resolve(settings, target)
    settings.zk_node(service)
    found = container(settings, service)
    checked = guard(settings, service, force)
    result: Dict[str, Any] = {
        "service": service,
        "container": found.name,
        "action": verb,
        "dry_run": dry_run,
        "forced": force,
        **checked,
    }
    if not dry_run:
        registry.remember_target(settings, service)
        act(service, found)
    result.update(container_state=_state(found), took_s=round(time.monotonic() - started, 3))
    return result


def _state(found: Container) -> str:
    try:
        found.reload()
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        return "unknown"
    return str(found.status)


# -- sessions -------------------------------------------------------------


def expire_session(
    target: str = "", dry_run: bool = False, configuration: Configuration = None, secrets: Secrets = None
) -> Dict[str, Any]:
    """Expire the ZooKeeper session of Patroni member ``target`` (a name or
    a role such as ``@sync``; "" or ``@leader`` = the leader).

    Reattaches to the session (id = the ephemeralOwner of the leader or
    member znode; password derived as the server does) and closes it: the
    server ends it at once and deletes its ephemeral znodes, as on a real
    expiry.  Returns ``member``, ``session_id``/``session_hex``,
    ``was_leader``, ``path`` watched, ``vanished`` and
    ``vanished_after_s`` (false: the znode outlived CHAOSHA_TIMEOUT), ``retaken`` /
    ``retaken_after_s`` / ``new_session_hex`` (the znode re-created under
    a new session), ``leader_before``, ``leader_after`` and ``failover``.
    A healthy leader takes its key back within ~0.3 s: ``retaken`` with
    ``failover`` false is the expected outcome, not a failure.
    ``dry_run`` resolves the session and acts on nothing.  Raises
    ActivityFailed for an unknown member (naming the known ones), when
    there is no leader to default to, or when ZooKeeper is unreachable.
    """
    settings = load(configuration, secrets)
    member = "" if target in ("", "@leader") else resolve(settings, target)
    with client.connected(settings) as zk:
        session = _session_target(zk, settings, member)
        result: Dict[str, Any] = {**session, "dry_run": dry_run}
        if dry_run:
            return result
        clock = _reattach_and_close(settings, session["session_id"])
        result.update(_watch_expiry(zk, settings, session, clock))
        result.update(_leader_after(zk, settings, session["leader_before"]))
    return result


def _session_target(zk: KazooClient, settings: Settings, member: str) -> Dict[str, Any]:
    """member, session id, path to watch and the leader before."""
    timeout = settings.timeout
    leader_path = client.patroni_path(settings, "leader")
    leader = client.read_znode(zk, leader_path, timeout)
    leader_name = leader[0].decode() if leader else None
    members = client.children(zk, client.patroni_path(settings, "members"), timeout)
    if not member and leader is None:
        raise ActivityFailed(
            f"no Patroni leader key at {leader_path}: name as target the member whose session to expire "
            f"(known members: {', '.join(members) or 'none'})"
        )
    name = member or str(leader_name)
    if member:
        found = client.read_znode(zk, client.patroni_path(settings, "members", member), timeout)
        if found is None:
            raise ActivityFailed(
                f"unknown Patroni member {member!r}: known members are "
                f"{', '.join(members) or 'none'} (under {client.patroni_path(settings, 'members')})"
            )
        owner = found[1].ephemeralOwner
    else:
        owner = leader[1].ephemeralOwner  # type: ignore[index]
    if not owner:
        raise ActivityFailed(f"Patroni member {name!r} has no ZooKeeper session (znode not ephemeral)")
    was_leader = leader is not None and leader[1].ephemeralOwner == owner
    path = leader_path if was_leader else client.patroni_path(settings, "members", name)
    return {
        "member": name,
        "session_id": owner,
        "session_hex": session_hex(owner),
        "was_leader": was_leader,
        "path": path,
        "leader_before": leader_name,
    }


def _reattach_and_close(settings: Settings, session_id: int) -> Deadline:
    """Take over ``session_id`` and close it; the clock starts at the close."""
    hijack = client.kazoo_client(settings, (to_signed64(session_id), session_password(session_id)))
    client.start(hijack, settings)
    attached = hijack.client_id is not None and hijack.client_id[0] == to_signed64(session_id)
    clock = Deadline(settings.timeout)
    hijack.stop()
    hijack.close()
    if not attached:
        raise ActivityFailed(
            f"ZooKeeper refused to reattach session {session_hex(session_id)}: the derived "
            "password is wrong (a ZooKeeper other than 3.8/3.9?) or the session just ended"
        )
    return clock


def _owner(zk: KazooClient, path: str, timeout: float) -> Optional[Tuple[int, str]]:
    found = client.read_znode(zk, path, timeout)
    return (found[1].ephemeralOwner, found[0].decode("utf-8", "replace")) if found else None


def _watch_expiry(zk: KazooClient, settings: Settings, session: Dict[str, Any], clock: Deadline) -> Dict[str, Any]:
    """Poll the watched znode: gone (or re-owned), then re-created."""
    old, path = session["session_id"], session["path"]

    def gone() -> bool:
        now = _owner(zk, path, settings.timeout)
        return now is None or now[0] != old

    def back() -> Optional[Tuple[int, str]]:
        now = _owner(zk, path, settings.timeout)
        return now if now is not None and now[0] != old else None

    result: Dict[str, Any] = {
        "vanished": False,
        "vanished_after_s": None,
        "retaken": False,
        "retaken_after_s": None,
        "new_session_hex": None,
    }
    try:
        wait_until(gone, clock.remaining(), interval=POLL_INTERVAL, what=f"{path} to vanish")
    except ActivityFailed:
        return result
    result.update(vanished=True, vanished_after_s=round(clock.elapsed(), 3))
    try:
        owner, _ = wait_until(back, settings.timeout, interval=POLL_INTERVAL, what=f"{path} to be re-created")
    except ActivityFailed:
        return result
    result.update(retaken=True, retaken_after_s=round(clock.elapsed(), 3), new_session_hex=session_hex(owner[0]))
    return result


def _leader_after(zk: KazooClient, settings: Settings, before: Optional[str]) -> Dict[str, Any]:
    now = _owner(zk, client.patroni_path(settings, "leader"), settings.timeout)
    after = now[1] if now else None
    return {"leader_after": after, "failover": after is not None and after != before}

"""Fence, then release.

:func:`fence` records the fence in chaosha's fault registry (kind
``arbiter-fence``: ``heal`` starts the container again) *before* it kills
the leader's container, then confirms through Docker that it is not
running.  :func:`release` deletes the leader key and the leader's member key
in one ZooKeeper transaction that holds only if the member key is still the
fenced session's, at the version seen (:func:`chaosha.arbiter.decide.may_release`).
"""

import time
from typing import Any, Dict, Tuple

import docker
import requests
from chaoslib.exceptions import ActivityFailed
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException

from chaosha import state as registry
from chaosha.arbiter.decide import DOWN_STATES, Leader, may_release
from chaosha.arbiter.observe import ContainerWatch
from chaosha.clients import lifecycle, zookeeper
from chaosha.config import Settings

__all__ = ["FENCE", "fence", "release", "fenced_leader"]

FENCE = "arbiter-fence"  # fault kind in the registry


def fenced_leader(fault: Dict[str, Any]) -> Leader:
    """The leader a registry record of kind :data:`FENCE` fenced."""
    return Leader(str(fault["service"]), int(fault["session"]), int(fault.get("member_version", -1)))


def fence(
    settings: Settings, watch: ContainerWatch, leader: Leader, signal: str, confirm_s: float
) -> Dict[str, Any]:
    """Record, kill (SIGKILL; Docker 20.10 kills a paused container
    directly, a container frozen behind Docker's back is thawed and killed
    again), confirm not running within ``confirm_s`` seconds.  Returns
    ``{container, state, kill_s, confirm_s}``; ActivityFailed when the
    fence cannot be confirmed (then nothing may be released)."""
    found = watch.container(leader.member)
    if found is None:
        raise ActivityFailed(f"no container of {leader.member} in project {settings.project!r}: nothing to fence")
    registry.record(
        settings,
        FENCE,
        leader.member,
        session=leader.session,
        member_version=leader.member_version,
        container=found.id,
        signal=signal,
    )
    started = time.monotonic()
    _kill(found, leader.member)
    killed = time.monotonic()
    state = ""
    thawed = False
    while time.monotonic() - killed < confirm_s:
        try:
            found.reload()
            state = str((found.attrs.get("State") or {}).get("Status") or "")
        except (docker.errors.DockerException, requests.RequestException) as exc:
            state = f"unknown ({exc})"
        if state in DOWN_STATES:
            return {
                "container": found.id[:12],
                "state": state,
                "kill_s": round(killed - started, 3),
                "confirm_s": round(time.monotonic() - killed, 3),
            }
        if not thawed and time.monotonic() - killed > confirm_s / 2:
            thawed = True  # a freezer-cgroup freeze Docker does not know about
            lifecycle.thaw(found)
            _kill(found, leader.member)
        time.sleep(0.05)
    raise ActivityFailed(
        f"fence of {leader.member} not confirmed: its container is {state} {confirm_s:g}s after the kill"
    )


def _kill(found: Any, member: str) -> None:
    try:
        found.kill(signal="SIGKILL")
    except docker.errors.APIError as exc:
        if "is not running" not in str(exc.explanation):
            raise ActivityFailed(f"killing the container of {member} failed: {exc.explanation}") from None
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise ActivityFailed(f"killing the container of {member} failed: {exc}") from None


def _owners(zk: KazooClient, settings: Settings, member: str, timeout: float) -> Tuple[Any, int, int, int]:
    leader = zookeeper.read_znode(zk, zookeeper.patroni_path(settings, "leader"), timeout)
    own = zookeeper.read_znode(zk, zookeeper.patroni_path(settings, "members", member), timeout)
    data = leader[0].decode("utf-8", "replace") if leader else None
    return (
        data,
        leader[1].ephemeralOwner if leader else 0,
        own[1].ephemeralOwner if own else 0,
        own[1].version if own else -1,
    )


def release(
    zk: KazooClient, settings: Settings, fenced: Leader, timeout: float, holder_path: str = ""
) -> Dict[str, Any]:
    """Delete the fenced leader's leader and member keys if they are still
    its session's: ``{released: bool, why}``.  The transaction checks the
    member key's version (see :func:`~chaosha.arbiter.decide.may_release`)
    and the leader key's (0), so a key re-taken in between is never touched,
    and ``holder_path`` (our lock node) when given: a deposed holder deletes nothing."""
    data, leader_owner, member_owner, member_version = _owners(zk, settings, fenced.member, timeout)
    ok, why = may_release(fenced, data, leader_owner, member_owner, member_version)
    if not ok:
        return {"released": False, "why": why}
    leader_path = zookeeper.patroni_path(settings, "leader")
    member_path = zookeeper.patroni_path(settings, "members", fenced.member)
    leader_version = zookeeper.read_znode(zk, leader_path, timeout)
    if leader_version is None or leader_version[1].ephemeralOwner != fenced.session:
        return {"released": False, "why": "the leader key changed while it was checked"}
    tx = zk.transaction()
    if holder_path:
        tx.check(holder_path, 0)
    tx.check(member_path, member_version)
    tx.check(leader_path, leader_version[1].version)
    tx.delete(leader_path, leader_version[1].version)
    tx.delete(member_path, member_version)
    try:
        results = tx.commit_async().get(timeout=timeout)
    except KazooException as exc:
        return {"released": False, "why": f"the transaction failed: {exc!r}"}
    failed = [r for r in results if isinstance(r, Exception)]
    if failed:
        return {"released": False, "why": f"the transaction was refused: {failed[0]!r} (a key changed)"}
    return {"released": True, "why": why}

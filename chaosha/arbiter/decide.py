"""The arbiter's decisions, free of I/O (unit-tested with fakes): whether
what it observed calls for a fence, and whether a leader key may be
released."""

from dataclasses import dataclass
from typing import Optional, Tuple

__all__ = ["Leader", "Observation", "Decision", "decide", "may_release", "DOWN_STATES"]

# Docker container states in which no process of the container runs.
DOWN_STATES = ("exited", "dead")


@dataclass(frozen=True)
class Leader:
    """The leader key as read: who (its data), whose session (its
    ``ephemeralOwner``), and the version of the member key of the same
    session (the leader key's own version is always 0: see :func:`may_release`)."""

    member: str
    session: int
    member_version: int = -1


@dataclass(frozen=True)
class Observation:
    """One look at the leader and its synchronous standby.

    ``container``: the leader's Docker state (``running``, ``paused``,
    ``exited``, ``dead``, ...; ``missing`` when the project has no such
    container, ``unknown`` when Docker did not answer in time).
    ``silent_s``: how long neither its REST API nor PostgreSQL has answered
    the arbiter (0 when one did at the last look).  ``zk_talking``: True
    when a ZooKeeper member lists the leader's session with a recent last
    response, False when every member answered and none does, None when a
    member could not be asked.  ``standby``: the member named in ``/sync``
    ("" when none); ``standby_ok``: it answers its REST API as a running
    replica that streamed recently."""

    leader: Optional[Leader]
    container: str
    silent_s: float = 0.0
    zk_talking: Optional[bool] = None
    standby: str = ""
    standby_ok: bool = False


@dataclass(frozen=True)
class Decision:
    fence: bool
    signal: str  # down, paused, cut ("" when none)
    reason: str


def _signal(obs: Observation, cut_after_s: float) -> Tuple[str, str]:
    """(signal, why) — signal "" when there is no certain one."""
    if obs.container in DOWN_STATES:
        return "down", f"Docker says its container is {obs.container}"
    if obs.container == "paused":
        return "paused", "Docker says its container is paused"
    if obs.container != "running":
        return "", f"its container is {obs.container}: no certain signal"
    if obs.silent_s < cut_after_s:
        return "", f"its container runs and it answered within the last {cut_after_s:g}s"
    if obs.zk_talking is None:
        return "", "it does not answer, but a ZooKeeper member could not be asked (cons): no corroboration"
    if obs.zk_talking:
        return "", (
            f"it has not answered for {obs.silent_s:.1f}s, but its ZooKeeper session is still "
            "talking: the arbiter is cut off from a healthy leader, not the other way round"
        )
    return "cut", (f"it has not answered for {obs.silent_s:.1f}s and no ZooKeeper member sees its session talking")


def decide(obs: Observation, cut_after_s: float = 1.0) -> Decision:
    """Fence only with a certain signal about the leader *and* a healthy
    synchronous standby to take over (without one a fence gains nothing)."""
    if obs.leader is None:
        return Decision(False, "", "no leader key")
    signal, why = _signal(obs, cut_after_s)
    who = f"leader {obs.leader.member}: {why}"
    if not signal:
        return Decision(False, "", who)
    if not obs.standby or obs.standby == obs.leader.member:
        return Decision(False, signal, f"{who}; but /sync names no other member: nothing to fence for")
    if not obs.standby_ok:
        return Decision(False, signal, f"{who}; but the synchronous standby {obs.standby} is not healthy")
    return Decision(True, signal, f"{who}; synchronous standby {obs.standby} is healthy")


def may_release(
    seen: Leader,
    leader_data: Optional[str],
    leader_owner: int,
    member_owner: int,
    member_version: int,
) -> Tuple[bool, str]:
    """Whether the leader key (data ``leader_data``, ephemeral owner
    ``leader_owner``; None when gone) and the member key (owner, version;
    owner 0 when gone) are still the ones of the fenced leader ``seen``.

    ZooKeeper's check op compares versions only, and an ephemeral leader
    key is created at version 0 every time: a key re-taken by a new
    leader has the same version.  The member key of the fenced session
    carries the identity instead: it is an ephemeral of that session
    (checked here), only the fenced member's Patroni (dead: fenced) could
    create another one of that name, and it vanishes with the session, as
    the leader key does.  So the release is one transaction that checks
    the member key's version: if the session expired in between (and a
    new leader took the key), the check fails and nothing is deleted
    (:func:`chaosha.arbiter.fence.release`)."""
    if leader_data is None:
        return False, "the leader key is gone already"
    if leader_data != seen.member:
        return False, f"the leader key names {leader_data}, not the fenced {seen.member}"
    if leader_owner != seen.session:
        return False, f"the leader key belongs to session {leader_owner:#x}, not the fenced {seen.session:#x}"
    if member_owner != seen.session:
        return False, f"the member key of {seen.member} is gone or belongs to another session"
    if seen.member_version >= 0 and member_version != seen.member_version:
        return False, (
            f"the member key of {seen.member} changed (version {member_version}, fenced at {seen.member_version})"
        )
    return True, "the leader and member keys are still the fenced session's"

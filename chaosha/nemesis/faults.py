"""Each nemesis fault as the chaosha actions that apply and undo it.

The nemesis injects nothing of its own: every fault is a call of the
docker, zookeeper or patroni actions, so the same guards refuse what would
break quorum or take down the last node that could serve, every fault is
recorded before it is applied, and ``heal`` undoes whatever a killed run
left behind.  A target is the concrete service the runner resolved.
"""

from typing import Any, Callable, Dict, Optional

from chaoslib.types import Configuration, Secrets

from chaosha.config import Settings, load
from chaosha.docker import actions as docker
from chaosha.patroni import actions as patroni
from chaosha.zookeeper import actions as zookeeper

__all__ = ["apply", "undo", "has_undo"]

Result = Dict[str, Any]
Call = Callable[[str, Dict[str, Any], bool, Configuration, Secrets], Result]
STOP_GRACE_S = 10
PLANNED_TIMEOUT_S = 30  # a switchover or failover that takes longer is reported as failed


def _peers(settings: Settings, service: str, zk_only: bool = False) -> str:
    names = [z.name for z in settings.zk_nodes]
    if not zk_only:
        names += [n.name for n in settings.pg_nodes if n.name != service]
    return ",".join(names)


def _partition(direction: str = "both", everything: bool = False, zk_only: bool = False) -> Call:
    def call(service: str, step: Dict[str, Any], force: bool, c: Configuration, s: Secrets) -> Result:
        peers = "" if everything else _peers(load(c, s), service, zk_only)
        return docker.partition_container(service, peers, direction, "", 100.0, force, False, c, s)

    return call


def _loss(service: str, step: Dict[str, Any], force: bool, c: Configuration, s: Secrets) -> Result:
    return docker.partition_container(
        service, "", "both", "", float(step.get("loss_percent", 20)), force, False, c, s
    )


APPLY: Dict[str, Call] = {
    "kill": lambda t, step, f, c, s: docker.kill_container(t, "SIGKILL", f, False, c, s),
    "stop": lambda t, step, f, c, s: docker.stop_container(t, STOP_GRACE_S, f, False, c, s),
    "pause": lambda t, step, f, c, s: docker.pause_container(t, f, False, c, s),
    "partition": _partition(),
    "partition-in": _partition("in"),
    "blackhole": _partition(everything=True),
    "disconnect": lambda t, step, f, c, s: docker.disconnect_network(t, f, False, c, s),
    "zk-cut": _partition(zk_only=True),
    "packet-loss": _loss,
    "zk-loss": lambda t, step, f, c, s: zookeeper.stop_node(t, f, False, c, s),
    "zk-session-expiry": lambda t, step, f, c, s: zookeeper.expire_session(t, False, c, s),
    "switchover": lambda t, step, f, c, s: patroni.switchover("", PLANNED_TIMEOUT_S, False, c, s),
    "failover": lambda t, step, f, c, s: patroni.failover(t, PLANNED_TIMEOUT_S, f, False, c, s),
    "haproxy-restart": lambda t, step, f, c, s: docker.restart_container(t, 5, f, False, c, s),
}

UNDO: Dict[str, Callable[[str, Configuration, Secrets], Result]] = {
    "kill": docker.start_container,
    "stop": docker.start_container,
    "pause": docker.unpause_container,
    "partition": docker.heal_partition,
    "partition-in": docker.heal_partition,
    "blackhole": docker.heal_partition,
    "disconnect": docker.reconnect_network,
    "zk-cut": docker.heal_partition,
    "packet-loss": docker.heal_partition,
    "zk-loss": lambda t, c, s: zookeeper.start_node(t, 60, c, s),
}


def has_undo(fault: str) -> bool:
    """Whether the fault lasts until undone (else it is instant)."""
    return fault in UNDO


def apply(
    fault: str, service: str, step: Dict[str, Any], force: bool, configuration: Configuration, secrets: Secrets
) -> Result:
    """Inject ``fault`` on ``service`` (for a failover: the candidate)."""
    return APPLY[fault](service, step, force, configuration, secrets)


def undo(fault: str, service: str, configuration: Configuration, secrets: Secrets) -> Optional[Result]:
    """Undo ``fault`` on ``service``; None for an instant fault."""
    call = UNDO.get(fault)
    return call(service, configuration, secrets) if call else None

#!/usr/bin/env python3
"""Write the experiment catalogue (``experiments/*.json``) from one place.

Every experiment shares the steady-state hypothesis, the configuration,
the safeguard control, the rollbacks and the runtime strategy; only the
method differs.  Edit here, run ``python experiments/build.py``; a unit test
fails when a JSON file differs from what this script writes.
"""

import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

HERE = Path(__file__).resolve().parent


def py(kind: str, name: str, module: str, func: str, **arguments: Any) -> Dict[str, Any]:
    activity: Dict[str, Any] = {
        "type": kind,
        "name": name,
        "provider": {"type": "python", "module": f"chaosha.{module}", "func": func},
    }
    if arguments:
        activity["provider"]["arguments"] = arguments
    return activity


def action(name: str, module: str, func: str, **arguments: Any) -> Dict[str, Any]:
    return py("action", name, f"{module}.actions", func, **arguments)


def probe(name: str, module: str, func: str, **arguments: Any) -> Dict[str, Any]:
    return py("probe", name, f"{module}.probes", func, **arguments)


def paused(activity: Dict[str, Any], before: float = 0, after: float = 0) -> Dict[str, Any]:
    pauses = {k: v for k, v in (("before", before), ("after", after)) if v}
    return dict(activity, pauses=pauses)


def hypothesis(extra: List[Dict[str, Any]] = (), tolerate: Optional[Dict[str, int]] = None) -> Dict[str, Any]:  # type: ignore[assignment]
    def jsonpath(path: str, expect: Any) -> Dict[str, Any]:
        return {"type": "jsonpath", "path": path, "expect": expect}

    probes = [
        dict(
            probe(
                "one-leader-and-streaming-replicas", "patroni", "cluster_health", max_lag_bytes="${max_lag_bytes}"
            ),
            tolerance=jsonpath("$.healthy", True),
        ),
        dict(
            probe("haproxy-routes-writes-to-the-leader", "haproxy", "routes_to_leader"),
            tolerance=jsonpath("$.routes_to_leader", True),
        ),
        dict(probe("a-write-through-haproxy-succeeds", "postgres", "write_succeeds"), tolerance=True),
        dict(
            probe(
                "no-acknowledged-write-lost-and-recovery-within-budget",
                "integrity",
                "integrity_holds",
                max_rto_s="${rto_budget_s}",
                **(tolerate or {}),
            ),
            tolerance=jsonpath("$.acceptable", True),
        ),
    ]
    return {
        "title": "Writes land on exactly one leader, replicas stream, no acknowledged write is lost",
        "probes": probes + list(extra),
    }


# One fresh-connection writer beside the persistent one (an application
# pool reconnecting after a failover): its failures outside the failover
# window fail the verdict.
FRESH = {"fresh_writers": 1, "fresh_rate": 20}
START = action("start-ledger-workload", "integrity", "start_workload", duration_s=300, rate=200, **FRESH)
STOP = action("stop-ledger-workload", "integrity", "stop_workload")
# The JVM client: Alfresco's pgjdbc + DBCP2 with the alfresco profile's own
# pool and driver settings, retrying like Alfresco (chaosha.alfresco.jvm).
START_JVM = action("start-alfresco-jdbc-client", "alfresco", "start_alfresco_client", duration_s=300, rate=40)
STOP_JVM = action("stop-alfresco-jdbc-client", "alfresco", "stop_alfresco_client")
HEAL = action("heal-every-fault", "docker", "heal")
WAIT_ROUTE = probe("wait-until-haproxy-routes-to-a-leader", "haproxy", "wait_for_route", timeout_s=120)
WAIT_NEW_LEADER = probe(
    "wait-until-haproxy-routes-to-a-new-leader", "haproxy", "wait_for_route", timeout_s=120, new_leader=True
)
WAIT_HEALTHY = probe("wait-until-every-member-streams", "patroni", "wait_for_healthy", timeout_s=180)
# A leader cut from ZooKeeper only: a new leader without failsafe_mode, the
# same one still writable past its key's expiry with it (profile "fast").
WAIT_ZK_CUT_OUTCOME = probe(
    "wait-for-what-failsafe-mode-says-follows", "haproxy", "wait_for_zookeeper_cut_outcome", timeout_s=120
)


def verdict(tolerate: Optional[Dict[str, int]] = None) -> Dict[str, Any]:
    return probe("integrity-verdict", "integrity", "workload_verdict", heal_timeout_s=120, **(tolerate or {}))


def experiment(
    name: str,
    title: str,
    description: str,
    tags: List[str],
    method: List[Dict[str, Any]],
    rto_budget_s: int,
    extra_hypothesis: List[Dict[str, Any]] = (),
    tolerate: Optional[Dict[str, int]] = None,
    start: Dict[str, Any] = START,
    stop: Dict[str, Any] = STOP,
    after: List[Dict[str, Any]] = (),
    settings: Dict[str, Any] = {},  # noqa: B006 - read only
    cleanup: List[Dict[str, Any]] = (),
) -> Dict[str, Any]:  # type: ignore
    return {
        "version": "1.0.0",
        "title": title,
        "description": description,
        "tags": ["chaosha", "patroni", "postgresql"] + tags,
        "configuration": {
            "CHAOSHA_ENV_FILE": {"type": "env", "key": "CHAOSHA_ENV_FILE", "default": "compose/.env"},
            "rto_budget_s": {"type": "env", "key": "CHAOSHA_RTO_BUDGET_S", "default": str(rto_budget_s)},
            "max_lag_bytes": {"type": "env", "key": "CHAOSHA_MAX_LAG_BYTES", "default": "1048576"},
            **settings,
        },
        "controls": [
            {"name": "chaosha-safeguard", "provider": {"type": "python", "module": "chaosha.controls.safeguard"}}
        ],
        "steady-state-hypothesis": hypothesis(extra_hypothesis, tolerate),
        "method": [start] + method + [verdict(tolerate)] + list(after),
        "rollbacks": list(cleanup) + [HEAL, stop],
        "runtime": {"rollbacks": {"strategy": "always"}},
    }


# Commits confirmed by the synchronous standby resume within the budget: a
# COMMIT whose sync wait was cancelled (acknowledged locally only) does not
# count as resumed (the verdict's write_stall_s).
# A frozen or cut-off synchronous standby makes the writers' 3 s deadline
# cancel waiting COMMITs, which PostgreSQL then acknowledges locally only:
# the checker's cancelled_sync_acks, expected here until Patroni drops the
# standby (12 s budget / 3 s deadline = 4 per writer, two writers).
SYNC_STANDBY_FAULT = {"max_cancelled_sync_acks": 8}
STALL_WITHIN_BUDGET = dict(
    probe(
        "synchronous-commits-stall-no-longer-than-the-budget",
        "integrity",
        "integrity_holds",
        max_rto_s="${rto_budget_s}",
        max_write_stall_s="${rto_budget_s}",
        **SYNC_STANDBY_FAULT,
    ),
    tolerance={"type": "jsonpath", "path": "$.acceptable", "expect": True},
)


def env(key: str, default: str) -> Dict[str, str]:
    return {"type": "env", "key": key, "default": default}


# The nemesis: its settings in the experiment's configuration (seed,
# duration, faults from the environment; a schedule given in full by
# `chaosha nemesis --replay` or a shrunk run), the workload running longer
# than any schedule (the verdict stops it).
NEMESIS_SETTINGS = {
    "nemesis_seed": env("CHAOSHA_NEMESIS_SEED", "1"),
    "nemesis_duration_s": env("CHAOSHA_NEMESIS_DURATION_S", "150"),
    "nemesis_faults": env("CHAOSHA_NEMESIS_FAULTS", "all"),
    "nemesis_unsafe": env("CHAOSHA_NEMESIS_UNSAFE", "false"),
    "nemesis_schedule": [],
}
# Eight writer connections (six persistent at 40/s, two opening a new one
# per write), readers on both ports; a replica read may lag 10 s (a replica
# cut off from its primary serves reads until wal_receiver_timeout, 5 s,
# and HAProxy's check, <= 3.25 s, drop it).  A COMMIT may wait up to 20 s, longer
# than Patroni takes to drop a silent synchronous standby, so the writers
# never cancel a synchronous wait themselves: any cancelled one fails.
NEMESIS_START = action(
    "start-ledger-workload",
    "integrity",
    "start_workload",
    duration_s=7200,
    rate=40,
    op_timeout_s=20,
    fresh_writers=2,
    fresh_rate=20,
    writers=6,
    rw_reads=True,
    max_read_lag_s=10,
)
NEMESIS = action(
    "run-the-nemesis-schedule",
    "nemesis",
    "run_nemesis",
    seed="${nemesis_seed}",
    duration_s="${nemesis_duration_s}",
    faults="${nemesis_faults}",
    schedule="${nemesis_schedule}",
    unsafe="${nemesis_unsafe}",
)
RECOVERY = probe("recovery-per-fault", "nemesis", "recovery_by_fault")


def leader_fault(fault: Dict[str, Any], *between: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Fault the leader after a short baseline, wait for the new route, heal, wait for streaming."""
    return [paused(fault, before=3), *between, WAIT_NEW_LEADER, HEAL, WAIT_HEALTHY]


CATALOGUE: Dict[str, Dict[str, Any]] = {
    "master-kill": experiment(
        "master-kill",
        "SIGKILL of the Patroni leader loses no acknowledged write",
        "Kills the leader's container while the ledger writer runs. A replica must take over once the "
        "leader's ZooKeeper session expires (~ttl), HAProxy must route 5432 to it, no acknowledged write "
        "may be lost, no two primaries, and after heal the old leader rejoins as a replica.",
        ["kill", "failover"],
        leader_fault(action("kill-the-leader", "docker", "kill_container", target="@leader", signal="SIGKILL")),
        45,
    ),
    "host-crash": experiment(
        "host-crash",
        "Losing the leader's whole host loses no acknowledged write",
        "Lab only (`chaosha lab`): SIGKILL of the node container that runs the leader, so its PostgreSQL, "
        "Patroni and ZooKeeper member stop at once, like a power cut. The replica takes over once the "
        "leader's session expires on the two ZooKeeper members left (still a quorum), HAProxy routes 5432 "
        "to it, no acknowledged write may be lost, no two primaries; heal starts the host, then its "
        "containers, and the old leader rejoins as a replica.",
        ["host", "kill", "failover"],
        leader_fault(action("crash-the-leaders-host", "host", "crash_host", target="@leader")),
        45,
    ),
    "host-isolation": experiment(
        "host-isolation",
        "The leader's host cut off from everything loses no acknowledged write",
        "Lab only (`chaosha lab`): iptables on the leader's host drop all its traffic, so its PostgreSQL "
        "and ZooKeeper member are cut off together (the member alone has no quorum). The leader cannot "
        "renew its key and demotes itself after retry_timeout; the replica takes over once the key "
        "expires, HAProxy routes 5432 to it; no acknowledged write may be lost, no two primaries; after "
        "heal the old leader rejoins as a replica.",
        ["host", "partition", "failover"],
        leader_fault(action("isolate-the-leaders-host", "host", "isolate_host", target="@leader")),
        45,
    ),
    "host-split": experiment(
        "host-split",
        "The leader's host split from the other two (1 | 2) loses no acknowledged write",
        "Lab only (`chaosha lab`): the leader's host is cut from the replica's host and HAProxy's host, "
        "both ways, while this machine still reaches every host. The majority side (two ZooKeeper "
        "members) elects the replica once the old leader's key expires; the minority leader demotes "
        "itself (it reaches no other member, so failsafe_mode would not keep it either); no acknowledged "
        "write may be lost, no two primaries; heal rejoins it.",
        ["host", "partition", "failover"],
        leader_fault(
            action("split-the-leaders-host", "host", "partition_hosts", target="@leader", peers="@replica,haproxy")
        ),
        45,
    ),
    "master-stop": experiment(
        "master-stop",
        "Graceful stop of the leader hands over in seconds",
        "Stops the leader's container gracefully: Patroni releases the leader key on shutdown, so a "
        "replica takes over without waiting for the session to expire.",
        ["stop", "failover"],
        leader_fault(action("stop-the-leader", "docker", "stop_container", target="@leader", grace_s=30)),
        15,
    ),
    "replica-kill": experiment(
        "replica-kill",
        "Losing the replica keeps writes going",
        "Kills the synchronous replica. Synchronous mode is not strict: Patroni drops the replica from "
        "synchronous_standby_names and the primary keeps acknowledging writes; after heal it streams again.",
        ["kill", "replica"],
        [
            paused(action("kill-the-replica", "docker", "kill_container", target="@replica"), before=3, after=10),
            HEAL,
            WAIT_HEALTHY,
        ],
        15,
    ),
    "master-pause": experiment(
        "master-pause",
        "A frozen leader is replaced and demotes itself when it thaws",
        "Freezes every process of the leader for longer than ttl. A replica takes over; when the old "
        "leader thaws it finds it lost the key, demotes itself and rejoins. No write may be acknowledged "
        "by both.",
        ["pause", "freeze", "split-brain"],
        leader_fault(action("freeze-the-leader", "docker", "pause_container", target="@leader")),
        45,
    ),
    "master-partition": experiment(
        "master-partition",
        "A leader cut off from everything is replaced",
        "Takes the leader's container off the network. It loses ZooKeeper and demotes itself; a replica "
        "takes over after the session expires; after reconnecting the old leader rejoins as a replica.",
        ["network", "partition"],
        leader_fault(action("disconnect-the-leader", "docker", "disconnect_network", target="@leader")),
        45,
    ),
    "leader-dcs-partition": experiment(
        "leader-dcs-partition",
        "A leader that cannot reach ZooKeeper steps down, or stays with failsafe_mode",
        "Drops the leader's traffic to the three ZooKeeper nodes only (iptables in its network namespace). "
        "Without failsafe_mode (profile default) the leader demotes itself after retry_timeout and a "
        "replica takes over; with it (profile fast) the leader reaches every member's REST API and stays "
        "primary past its key's expiry, no replica takes the key. No acknowledged write may be lost.",
        ["network", "zookeeper", "partition"],
        [
            paused(
                action(
                    "cut-the-leader-from-zookeeper",
                    "docker",
                    "partition_container",
                    target="@leader",
                    peers="zk1,zk2,zk3",
                ),
                before=3,
            ),
            WAIT_ZK_CUT_OUTCOME,
            HEAL,
            WAIT_HEALTHY,
        ],
        45,
    ),
    "zk-session-expiry": experiment(
        "zk-session-expiry",
        "Expiring a healthy leader's ZooKeeper session causes no failover",
        "Expires the leader's ZooKeeper session. A healthy leader takes the key back within a second: no "
        "failover, no failed write beyond a blip.",
        ["zookeeper", "session"],
        [paused(action("expire-the-leaders-session", "zookeeper", "expire_session"), before=3, after=5)],
        5,
    ),
    "zk-node-loss": experiment(
        "zk-node-loss",
        "One ZooKeeper node down changes nothing",
        "Stops one ZooKeeper node. The ensemble keeps its quorum; no failover is expected.",
        ["zookeeper", "quorum"],
        [
            paused(action("stop-one-zookeeper-node", "zookeeper", "stop_node", target="zk1"), before=3, after=15),
            probe("quorum-still-present", "zookeeper", "quorum_present"),
            HEAL,
            WAIT_HEALTHY,
        ],
        5,
    ),
    "zk-quorum-loss": experiment(
        "zk-quorum-loss",
        "Losing ZooKeeper's quorum loses no acknowledged write",
        "Stops two of three ZooKeeper nodes (forced). Without failsafe_mode (profile default) the primary "
        "demotes itself when it cannot renew the leader key, so nobody accepts writes without "
        "coordination; with it (profile fast) the primary goes on while it reaches every member's REST "
        "API. After heal a leader holds the key again and no acknowledged write is missing.",
        ["zookeeper", "quorum"],
        [
            paused(action("stop-zookeeper-1", "zookeeper", "stop_node", target="zk1"), before=3),
            paused(action("stop-zookeeper-2", "zookeeper", "stop_node", target="zk2", force=True), after=30),
            HEAL,
            WAIT_ROUTE,
            WAIT_HEALTHY,
        ],
        150,
    ),
    "haproxy-restart": experiment(
        "haproxy-restart",
        "Restarting HAProxy interrupts writes only briefly",
        "Restarts the HAProxy container: connections drop, the writer reconnects within seconds.",
        ["haproxy"],
        [paused(action("restart-haproxy", "docker", "restart_container", target="haproxy"), before=3), WAIT_ROUTE],
        15,
    ),
    "switchover-under-load": experiment(
        "switchover-under-load",
        "A planned switchover under load takes seconds and loses nothing",
        "Asks Patroni for a switchover while the writer runs: the leader key is handed over, so writes "
        "resume within seconds.",
        ["switchover", "planned"],
        [paused(action("switchover", "patroni", "switchover"), before=3), WAIT_ROUTE, WAIT_HEALTHY],
        10,
    ),
    "replication-latency": experiment(
        "replication-latency",
        "Latency on the synchronous replica's link slows commits, loses nothing",
        "Adds 200 ms of latency to the synchronous standby's interface (tc netem): each acknowledged "
        "commit waits for it. Needs a kernel with sch_netem.",
        ["network", "latency"],
        [
            paused(
                action("delay-the-replica", "docker", "add_latency", target="@sync", delay_s=0.2),
                before=3,
                after=10,
            ),
            action("remove-the-delay", "docker", "remove_latency", target="@faulted"),
            WAIT_HEALTHY,
        ],
        10,
    ),
    "replica-pause": experiment(
        "replica-pause",
        "A frozen synchronous standby stalls commits for seconds, not until its session expires",
        "Freezes every process of the synchronous standby for longer than ttl. Its walsender on the leader "
        "ends after wal_sender_timeout without a reply, Patroni drops it from synchronous_standby_names at "
        "its next loop and commits go on: the stall is bounded by the budget (12 s), not by the standby's "
        "ZooKeeper session (ttl 20 s). After the thaw it streams again; nothing acknowledged is lost.",
        ["pause", "freeze", "replica", "synchronous"],
        [
            paused(
                action("freeze-the-sync-standby", "docker", "pause_container", target="@sync"), before=3, after=25
            ),
            HEAL,
            WAIT_HEALTHY,
        ],
        12,
        [STALL_WITHIN_BUDGET],
        SYNC_STANDBY_FAULT,
    ),
    "replica-partition": experiment(
        "replica-partition",
        "A synchronous standby cut off from everything stalls commits for seconds only",
        "Drops all of the synchronous standby's traffic but loopback (iptables in its network namespace: "
        "packets vanish, no connection is refused). As with a frozen standby, the leader's walsender times "
        "out, Patroni drops the standby from synchronous_standby_names and commits resume within the budget "
        "(12 s); after heal the standby streams again; nothing acknowledged is lost.",
        ["network", "partition", "replica", "synchronous"],
        [
            paused(
                action("cut-off-the-sync-standby", "docker", "partition_container", target="@sync"),
                before=3,
                after=25,
            ),
            HEAL,
            WAIT_HEALTHY,
        ],
        12,
        [STALL_WITHIN_BUDGET],
        SYNC_STANDBY_FAULT,
    ),
    "master-kill-during-bulk-load": experiment(
        "master-kill-during-bulk-load",
        "SIGKILL of the leader in the middle of a bulk load loses no acknowledged write",
        "Starts a bounded bulk load (one COPY transaction, 200 MB at 10 MB/s, at most 60 s) and kills the "
        "leader's container while it runs. The synchronous standby may be megabytes behind the leader's last "
        "reported WAL position (WAL nobody acknowledged): it must still be promoted "
        "(maximum_lag_on_failover), no acknowledged write may be lost, and the old leader must rewind and "
        "rejoin (the new leader keeps the WAL it needs: wal_keep_size).",
        ["kill", "failover", "bulk-load"],
        [
            paused(
                action(
                    "start-a-bulk-load",
                    "postgres",
                    "start_bulk_load",
                    size_mb=200,
                    duration_s=60,
                    rate_mb_s=10,
                    wait_s=2,
                ),
                before=3,
            ),
            *leader_fault(
                action("kill-the-leader", "docker", "kill_container", target="@leader", signal="SIGKILL")
            ),
        ],
        45,
    ),
    "full-stack-restart": experiment(
        "full-stack-restart",
        "Everything down, then up: no acknowledged write lost",
        "Stops the replica, the leader, HAProxy and the ZooKeeper ensemble (forced), then starts all of "
        "them again. The cluster must come back with the same data.",
        ["restart", "full"],
        [
            paused(
                action("stop-the-replica", "docker", "stop_container", target="@replica", force=True), before=3
            ),
            action("stop-the-leader", "docker", "stop_container", target="@leader", force=True),
            action("stop-haproxy", "docker", "stop_container", target="haproxy", force=True),
            action("stop-zk1", "docker", "stop_container", target="zk1", force=True),
            action("stop-zk2", "docker", "stop_container", target="zk2", force=True),
            action("stop-zk3", "docker", "stop_container", target="zk3", force=True),
            HEAL,
            WAIT_ROUTE,
            WAIT_HEALTHY,
        ],
        180,
    ),
    "alfresco-write-during-failover": experiment(
        "alfresco-write-during-failover",
        "Alfresco keeps writing documents through a leader kill",
        "Needs the alfresco profile. Kills the leader while Alfresco documents are written; Alfresco's "
        "pool and transaction retries must ride out the failover: the write-success probe succeeds again "
        "within budget.",
        ["alfresco", "kill", "failover"],
        leader_fault(
            action("kill-the-leader", "docker", "kill_container", target="@leader"),
            probe("alfresco-write-during-failover", "alfresco", "write_succeeds", timeout_s=120),
        ),
        60,
        [
            dict(
                probe("alfresco-is-ready", "alfresco", "ready"),
                tolerance={"type": "jsonpath", "path": "$.ready", "expect": True},
            ),
            dict(
                probe("alfresco-writes-a-document", "alfresco", "write_succeeds"),
                tolerance={"type": "jsonpath", "path": "$.ok", "expect": True},
            ),
        ],
    ),
    "alfresco-jdbc-write-during-failover": experiment(
        "alfresco-jdbc-write-during-failover",
        "Alfresco's database layer keeps committing through a leader kill",
        "Runs here, without Alfresco: the variant of alfresco-write-during-failover with Alfresco's own "
        "database client (pgjdbc + DBCP2 with the alfresco profile's pool and driver settings, "
        "node-create transactions retried like RetryingTransactionHelper) writing the ledger. Kills the "
        "leader; no acknowledged node create may be lost and commits must resume within budget.",
        ["alfresco", "jdbc", "kill", "failover"],
        leader_fault(action("kill-the-leader", "docker", "kill_container", target="@leader")),
        60,
        start=START_JVM,
        stop=STOP_JVM,
    ),
}


# The opt-in arbiter (chaosha.arbiter): two instances, started after the
# workload, given 3 s to see the synchronous standby stream; what they did
# is kept in the journal (the arbiter-status probe); stopped before the
# heal, and again in the rollbacks (an interrupted run's are orphans heal stops).
ARBITER_STOP = action("stop-the-arbiter", "arbiter", "stop_arbiter")
ARBITER_STATUS = probe("what-the-arbiter-did", "arbiter", "arbiter_status")
KILL_LEADER = action("kill-the-leader", "docker", "kill_container", target="@leader", signal="SIGKILL")


def with_arbiter(*steps: Dict[str, Any], hold_s: float = 0) -> List[Dict[str, Any]]:
    start = action("start-the-arbiter", "arbiter", "start_arbiter", instances_count=2, hold_s=hold_s)
    return [paused(start, after=3), *steps, ARBITER_STATUS, ARBITER_STOP]


CATALOGUE.update(
    {
        "master-kill-with-arbiter": experiment(
            "master-kill-with-arbiter",
            "SIGKILL of the leader with the arbiter running: failover in seconds, no acknowledged write lost",
            "Opt-in arbiter (chaosha.arbiter, two instances). Kills the leader's container: Docker says it "
            "is not running, the synchronous standby is healthy, so the arbiter confirms the fence and "
            "deletes the leader key (and the leader's member key) while they are still the dead session's; "
            "the standby takes over without waiting for the session to expire. No acknowledged write may be "
            "lost, no two primaries; after heal the old leader rejoins as a replica.",
            ["kill", "failover", "arbiter"],
            with_arbiter(KILL_LEADER, WAIT_NEW_LEADER) + [HEAL, WAIT_HEALTHY],
            10,
            cleanup=[ARBITER_STOP],
        ),
        "arbiter-cut-off-from-leader": experiment(
            "arbiter-cut-off-from-leader",
            "The arbiter cut off from a healthy leader fences nothing",
            "Opt-in arbiter. This host (where the arbiter runs) drops what it sends to the leader's address "
            "for 10 s (iptables OUTPUT, that address only): the leader answers the arbiter no more, but "
            "ZooKeeper still sees its session talking, so the arbiter must not fence it (what-the-arbiter-did: "
            "no fence). Writes go on through HAProxy; no acknowledged write may be lost.",
            ["arbiter", "partition"],
            with_arbiter(
                paused(
                    action("cut-this-host-from-the-leader", "arbiter", "cut_host_from", target="@leader"), after=10
                ),
                action("heal-the-host-cut", "arbiter", "heal_host_cut", target="@faulted"),
            )
            + [HEAL, WAIT_HEALTHY],
            10,
            cleanup=[ARBITER_STOP],
        ),
        "arbiter-killed-mid-fence": experiment(
            "arbiter-killed-mid-fence",
            "The arbiter killed between fence and release: the other instance completes, no write lost",
            "Opt-in arbiter, two instances, each fence held 30 s before its release. Kills the leader; once the "
            "lock holder has fenced it (and holds), the holder is SIGKILLed. The other instance takes the lock "
            "when the holder's 3 s session expires, finds the fence in the registry and releases the dead "
            "leader's key. No acknowledged write may be lost, no two primaries.",
            ["kill", "failover", "arbiter"],
            with_arbiter(
                KILL_LEADER,
                action("kill-the-arbiter-mid-fence", "arbiter", "kill_arbiter_holder", timeout_s=20),
                WAIT_NEW_LEADER,
                hold_s=30,
            )
            + [HEAL, WAIT_HEALTHY],
            15,
            cleanup=[ARBITER_STOP],
        ),
    }
)


CATALOGUE["nemesis"] = experiment(
    "nemesis",
    "A random, reproducible schedule of overlapping faults loses no acknowledged write",
    "Draws a schedule of faults from a seed (kill, stop, freeze, partitions both ways and one way, blackhole, "
    "network disconnect, cut from ZooKeeper, packet loss, ZooKeeper member loss and session expiry, "
    "switchover, failover, HAProxy restart) on the leader, a replica or a ZooKeeper member, faults "
    "overlapping where the guards allow, and runs it under the ledger workload. The schedule is logged "
    "before it runs and kept in the journal; the same seed gives the same schedule. After a heal no "
    "acknowledged write may be lost and no two primaries may have acknowledged writes.",
    ["nemesis", "random", "kill", "partition", "zookeeper", "failover"],
    [NEMESIS, HEAL, WAIT_ROUTE, WAIT_HEALTHY],
    120,
    start=NEMESIS_START,
    after=[RECOVERY],
    settings=NEMESIS_SETTINGS,
)


def render(doc: Dict[str, Any]) -> str:
    return json.dumps(doc, indent=2) + "\n"


def main() -> int:
    for name, doc in CATALOGUE.items():
        (HERE / f"{name}.json").write_text(render(doc))
    print(f"wrote {len(CATALOGUE)} experiments", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

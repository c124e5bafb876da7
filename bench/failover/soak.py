#!/usr/bin/env python3
"""Soak: does a failover profile fail over when nothing fails?  Issue 14's
"no false failover in a 30-minute steady soak with one core kept busy
beside the stack and with 10 % packet loss to ZooKeeper".

One stack (project chaosha-sk, ports 26000+, brought up like bench/failover/
run.py's), the integrity workload at a moderate rate, ``--busy-cores``
processes spinning on the host, and ``--loss`` of the packets between every
Patroni node and ZooKeeper's client port dropped at random (chaosha's
``partition_container`` with ``loss_percent``: iptables ``statistic``, no
netem; recorded, undone by ``heal``).  No fault that should cause a failover
is injected, so every leader change or timeline increment is a false one.

Sampled for the whole run: the Patroni leader and its timeline (``GET
/cluster``, every second), HAProxy's read-write server(s) UP, and the
ZooKeeper session ids of the Patroni members (4lw ``cons``; a new session id
for a member means its old session expired).  At the end: the workload
verdict (lost, two primaries, longest ack gap, write stall) and the lines of
the Patroni logs about sessions, locks and promotions.  Writes JSON under
bench/results/ and prints a one-line summary; exit code 1 on a false
failover, a lost write or two primaries.

    PYTHONPATH=$PWD .venv/bin/python bench/failover/soak.py [--duration 1800]
        [--loss 0.10] [--busy-cores 1] [--profile fast] [--ttl 7] [--failsafe on|off] [--rate 50]
        [--project chaosha-sk --port-base 26000] [--keep]

``--ttl`` changes Patroni's ttl (and so its ZooKeeper session) after start-up
with ``PATCH /config``, as run.py's ``fast8`` does; ``--failsafe on|off`` sets
``failsafe_mode`` the same way (default: the profile's, on in fast since
2026-12-02: a leader that loses ZooKeeper but reaches every member's REST API
stays the leader).  Two soaks side by side, one with ``--failsafe off``, need
two projects and port blocks.
"""

import argparse
import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from chaoslib.exceptions import ActivityFailed

from chaosha import failover_profile
from chaosha.clients import haproxy as stats
from chaosha.clients import patroni, zk_tls
from chaosha.clients.docker import container
from chaosha.clients.zookeeper import four_letter_word
from chaosha.config import Settings, load
from chaosha.docker.actions import partition_container
from chaosha.integrity.actions import start_workload, stop_workload
from chaosha.integrity.probes import workload_verdict

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("failover_run", HERE / "run.py")
assert _spec and _spec.loader
bench_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_run)

PROJECT, PORT_BASE = "chaosha-sk", 26000
ZK_CLIENT_PORT = 2281
SAMPLE_S, SESSIONS_EVERY_S = 1.0, 10.0
LOG_PATTERN = re.compile(
    r"expire|lost|demot|promot|acquired|lock owner|suspended|connection|timeout|error|warning|fail", re.I
)
VERDICT_KEYS = ("lost", "two_primaries", "two_writable_s", "rto_s", "write_stall_s", "acknowledged", "attempted")
VERDICT_KEYS += (
    "unexpected",
    "in_doubt",
    "failed",
    "nodes_consistent",
    "passed",
    "primary_before",
    "primary_after",
)

Sample = Dict[str, Any]


# -- pure parts (tests/unit/test_soak_bench.py) ------------------------------


def leader_changes(samples: List[Sample]) -> List[Dict[str, Any]]:
    """Each change of the known leader (samples without one are skipped:
    they are leaderless moments, not changes)."""
    changes, previous = [], ""
    for s in samples:
        leader = s.get("leader") or ""
        if leader and previous and leader != previous:
            changes.append({"t": s["t"], "from": previous, "to": leader})
        previous = leader or previous
    return changes


def timeline_increments(samples: List[Sample]) -> List[Dict[str, Any]]:
    """Each rise of the highest timeline seen so far (a rise by 2 between
    two samples counts twice: two promotions)."""
    rises: List[Dict[str, Any]] = []
    highest: Optional[int] = None
    for s in samples:
        timeline = s.get("timeline")
        if timeline is None:
            continue
        if highest is not None and timeline > highest:
            rises.append({"t": s["t"], "from": highest, "to": timeline, "count": timeline - highest})
        highest = timeline if highest is None else max(highest, timeline)
    return rises


def false_failovers(samples: List[Sample]) -> int:
    """Failovers in a run that injects no failover-worthy fault: every
    promotion raises the timeline (also a leader demoted and promoted again),
    and sampling can miss a leader that changed there and back, but not a
    timeline rise; a leader change without a rise still counts.  So the
    larger of the two counts."""
    rises = sum(r["count"] for r in timeline_increments(samples))
    return max(len(leader_changes(samples)), rises)


def leaderless_s(samples: List[Sample]) -> float:
    """Seconds sampled with no leader (each sample stands for the time to
    the next one)."""
    total = 0.0
    for s, after in zip(samples, samples[1:], strict=False):
        if not s.get("leader"):
            total += after["t"] - s["t"]
    return round(total, 1)


def rw_anomalies(samples: List[Sample]) -> Dict[str, int]:
    """Samples where HAProxy's read-write backend had no server UP, more
    than one UP, or one that is not the leader."""
    found = {"none_up": 0, "several_up": 0, "not_leader": 0, "changes": 0}
    previous: Optional[Tuple[str, ...]] = None
    for s in samples:
        up = s.get("rw_up")
        if up is None:
            continue
        found["none_up"] += not up
        found["several_up"] += len(up) > 1
        found["not_leader"] += len(up) == 1 and bool(s.get("leader")) and up[0] != s["leader"]
        key = tuple(up)
        found["changes"] += previous is not None and key != previous
        previous = key
    return found


def parse_cons(text: str) -> Dict[str, str]:
    """``{client address: session id}`` from a 4lw ``cons`` answer, the
    host's own clients (addresses ending in .1, the network gateway) left
    out."""
    found = {}
    for line in text.splitlines():
        match = re.match(r"\s*/([0-9.]+):\d+\[.*sid=(0x[0-9a-f]+)", line)
        if match and not match.group(1).endswith(".1"):
            found[match.group(1)] = match.group(2)
    return found


def new_sessions(snapshots: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Each session id a client address shows that differs from the one
    it showed before: its previous session expired (or was closed)."""
    seen: Dict[str, str] = {}
    changes = []
    for snap in snapshots:
        for addr, sid in sorted(snap["sessions"].items()):
            if addr in seen and seen[addr] != sid:
                changes.append({"t": snap["t"], "client": addr, "from": seen[addr], "to": sid})
            seen[addr] = sid
    return changes


LOG_EVENTS = {
    "kazoo_timeouts": "KazooTimeoutError",
    "connection_lost": "Zookeeper connection lost",
    "session_expired": "Session has expired",
    "demoted": "demot",
    "promoted": "promoted",
}


def log_events(lines: Dict[str, List[str]]) -> Dict[str, Dict[str, int]]:
    """Per node, how many log lines show each ZooKeeper trouble
    (``LOG_EVENTS``: a request that timed out, a lost connection, an
    expired session) or a demotion/promotion."""
    return {
        node: {name: sum(1 for ln in found if text.lower() in ln.lower()) for name, text in LOG_EVENTS.items()}
        for node, found in lines.items()
    }


def loss_rules(loss: float) -> str:
    """The iptables rules one Patroni node gets (addresses as placeholders)."""
    from chaosha.clients.network import block_rules

    peers = {f"zk{i}": f"ZK{i}_ADDR" for i in (1, 2, 3)}
    return block_rules(peers, "both", [ZK_CLIENT_PORT], loss * 100)


def dropped_packets(listing: str) -> int:
    """Packets the DROP rules of an ``iptables -L CHAOSHA -v -n -x`` listing
    dropped (their counters)."""
    total = 0
    for line in listing.splitlines():
        fields = line.split()
        if len(fields) > 2 and fields[0].isdigit() and fields[2] == "DROP":
            total += int(fields[0])
    return total


# -- the run -----------------------------------------------------------------


def busy_cores(count: int, seconds: float) -> List[subprocess.Popen]:
    """``count`` host processes, each spinning one core for ``seconds``
    (they end by themselves; killed at the end anyway)."""
    spin = f"import time\nend = time.monotonic() + {seconds:.0f}\nwhile time.monotonic() < end:\n    pass\n"
    return [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(count)]


def cpu_seconds(stat: str, ticks: int) -> float:
    """User + system CPU seconds of a ``/proc/<pid>/stat`` line."""
    fields = stat.rsplit(")", 1)[1].split()
    return round((int(fields[11]) + int(fields[12])) / ticks, 1)


def spinner_cpu_s(procs: List[subprocess.Popen]) -> List[Optional[float]]:
    """CPU seconds each busy process got (the machine may not give it a
    whole core); None where it cannot be read."""
    found: List[Optional[float]] = []
    for proc in procs:
        try:
            found.append(cpu_seconds(Path(f"/proc/{proc.pid}/stat").read_text(), os.sysconf("SC_CLK_TCK")))
        except (OSError, ValueError, IndexError):
            found.append(None)
    return found


def sample(settings: Settings) -> Sample:
    """Leader, its timeline, the members and HAProxy's rw servers UP (None
    when a source did not answer within 2 s)."""
    found: Sample = {"t": round(time.time(), 2), "leader": "", "timeline": None, "rw_up": None}
    try:
        body, _ = patroni.cluster(settings, timeout=2)
        members = body.get("members", [])
        found["members"] = {m["name"]: [m.get("role"), m.get("state"), m.get("timeline")] for m in members}
        for m in members:
            if m.get("role") in ("leader", "standby_leader"):
                found["leader"] = m["name"]
                found["timeline"] = m.get("timeline")
    except (ActivityFailed, ValueError, KeyError) as exc:
        found["error"] = str(exc)[:200]
    try:
        servers = stats.backend_servers(stats.fetch(settings, timeout=2), "primary")
        found["rw_up"] = sorted(n for n, st in servers.items() if st.startswith("UP"))
    except ActivityFailed as exc:
        found["haproxy_error"] = str(exc)[:200]
    return found


def sessions(settings: Settings) -> Dict[str, Any]:
    tls = zk_tls.client_context(settings)
    found: Dict[str, str] = {}
    for node in settings.zk_nodes:
        try:
            found.update(parse_cons(four_letter_word(node, "cons", 3, tls)))
        except ActivityFailed:
            continue
    return {"t": round(time.time(), 2), "sessions": found}


def member_addresses(settings: Settings) -> Dict[str, str]:
    from chaosha.clients.network import address_of

    return {address_of(settings, n.name): n.name for n in settings.pg_nodes}


def log_lines(settings: Settings, since: float, limit: int = 3000) -> Dict[str, List[str]]:
    """Each Patroni node's log lines since ``since`` about sessions, locks,
    demotions and promotions (the evidence of a false failover)."""
    found = {}
    for node in settings.pg_nodes:
        try:
            text = container(settings, node.name).logs(since=int(since), timestamps=True).decode(errors="replace")
        except Exception as exc:  # noqa: BLE001 - evidence is optional, the counts are not
            found[node.name] = [f"logs unavailable: {exc}"]
            continue
        lines = [ln for ln in text.splitlines() if LOG_PATTERN.search(ln)]
        found[node.name] = lines[:limit] + ([f"... {len(lines) - limit} more"] if len(lines) > limit else [])
    return found


def apply_loss(conf: Dict[str, str], loss: float) -> Dict[str, Any]:
    """Drop ``loss`` of every Patroni node's packets to and from ZooKeeper's
    client port (recorded faults; heal removes them)."""
    settings = load(conf)
    done = {}
    for node in settings.pg_nodes:
        result = partition_container(
            node.name, peers="zk1,zk2,zk3", ports=str(ZK_CLIENT_PORT), loss_percent=loss * 100, configuration=conf
        )
        done[node.name] = result.get("peers")
    return done


def loss_counters(conf: Dict[str, str]) -> Dict[str, Any]:
    """Packets each Patroni node's loss rules dropped so far (evidence that
    the loss was in force); the error text when a node could not be read."""
    from chaosha.clients.network import run_in_netns

    settings = load(conf)
    found: Dict[str, Any] = {}
    for node in settings.pg_nodes:
        try:
            listing = run_in_netns(settings, container(settings, node.name), "iptables -L CHAOSHA -v -n -x")
            found[node.name] = dropped_packets(listing)
        except ActivityFailed as exc:
            found[node.name] = str(exc)[:200]
    return found


def soak(conf: Dict[str, str], args: argparse.Namespace) -> Dict[str, Any]:
    settings = load(conf)
    record: Dict[str, Any] = {"members": member_addresses(settings)}
    started = time.time()
    spinners = busy_cores(args.busy_cores, args.duration + 120)
    workload = start_workload(
        duration_s=args.duration + 120, rate=args.rate, startup_timeout_s=60, configuration=conf
    )
    samples: List[Sample] = []
    snapshots: List[Dict[str, Any]] = []
    try:
        record["loss_applied"] = apply_loss(conf, args.loss) if args.loss > 0 else {}
        record["loss_from"] = time.time()
        deadline = time.monotonic() + args.duration
        next_sessions, tick = 0.0, time.monotonic()
        while time.monotonic() < deadline:
            samples.append(sample(settings))
            if time.monotonic() >= next_sessions:
                snapshots.append(sessions(settings))
                next_sessions = time.monotonic() + SESSIONS_EVERY_S
            if len(samples) % 60 == 0:
                print(
                    f"[soak] {len(samples)} samples, leader {samples[-1]['leader']}, "
                    f"timeline {samples[-1]['timeline']}, false failovers so far {false_failovers(samples)}",
                    file=sys.stderr,
                    flush=True,
                )
            tick += SAMPLE_S
            time.sleep(max(0.0, min(tick - time.monotonic(), deadline - time.monotonic())))
        record["loss_until"] = time.time()
        record["dropped_packets"] = loss_counters(conf) if args.loss > 0 else {}
    finally:
        record["heal"] = bench_run._heal(conf)
        record["busy_cpu_s"] = spinner_cpu_s(spinners)
        record["busy_wall_s"] = round(time.time() - started, 1)
        for proc in spinners:
            proc.kill()
            proc.wait(timeout=10)
    try:
        verdict = workload_verdict(run_id=workload["run_id"], heal_timeout_s=120, configuration=conf)
    except BaseException:
        stop_workload(run_id=workload["run_id"], configuration=conf)
        raise
    record["verdict"] = {k: verdict.get(k) for k in VERDICT_KEYS}
    record["logs"] = log_lines(settings, started)
    record["log_events"] = log_events(record["logs"])
    record.update(summarize(samples, snapshots, record["members"]))
    record["samples"], record["session_snapshots"] = samples, snapshots
    return record


def summarize(samples: List[Sample], snapshots: List[Dict[str, Any]], members: Dict[str, str]) -> Dict[str, Any]:
    expiries = new_sessions(snapshots)
    for e in expiries:
        e["member"] = members.get(e["client"], "?")
    return {
        "false_failovers": false_failovers(samples),
        "leader_changes": leader_changes(samples),
        "timeline_increments": timeline_increments(samples),
        "leaderless_s": leaderless_s(samples),
        "samples_without_answer": sum(1 for s in samples if "error" in s),
        "haproxy_rw": rw_anomalies(samples),
        "zk_session_changes": expiries,
        "timelines": sorted({s["timeline"] for s in samples if s.get("timeline") is not None}),
    }


def one_line(result: Dict[str, Any]) -> str:
    v = result["verdict"]
    rises = sum(r["count"] for r in result["timeline_increments"])
    return (
        f"soak {result['profile']} {result['duration_s']:.0f} s, loss {result['loss']:.0%} to ZooKeeper, "
        f"{result['busy_cores']} busy core(s): false failovers {result['false_failovers']}, "
        f"leader changes {len(result['leader_changes'])}, timeline +{rises}, "
        f"ZooKeeper session changes {len(result['zk_session_changes'])}, lost {v['lost']}, "
        f"two primaries {v['two_primaries']}, write stall {v['write_stall_s']} s, max ack gap {v['rto_s']} s, "
        f"acknowledged {v['acknowledged']}; Patroni logs: {_events(result.get('log_events', {}))}"
    )


def _events(per_node: Dict[str, Dict[str, int]]) -> str:
    return ", ".join(f"{n} " + " ".join(f"{k}={v}" for k, v in ev.items() if v) for n, ev in per_node.items())


def variant(profile: str, ttl: int, failsafe: str) -> Tuple[str, Optional[Dict[str, Any]]]:
    """The run's name (``fast``, ``fast-ttl7``, ``fast-ttl7-failsafe``,
    ``fast-nofailsafe``; ``failsafe`` is on, off or "" for the profile's) and the
    Patroni settings PATCHed after start-up (None: the profile's own).
    Failsafe on a profile without the patch is refused (stock 4.1.5's race)."""
    if failsafe == "on" and failover_profile.values(profile)["SHORT_TTL_PATCH"] != "on":
        raise SystemExit(f"--failsafe on needs a profile with SHORT_TTL_PATCH=on: {profile} runs stock 4.1.5")
    dcs: Dict[str, Any] = {}
    if ttl:
        dcs["ttl"] = ttl
    if failsafe:
        dcs["failsafe_mode"] = failsafe == "on"
    name = profile + (f"-ttl{ttl}" if ttl else "") + {"on": "-failsafe", "off": "-nofailsafe"}.get(failsafe, "")
    return name, dcs or None


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=1800, help="seconds of soak")
    parser.add_argument("--loss", type=float, default=0.10, help="share of packets to/from ZooKeeper dropped")
    parser.add_argument("--busy-cores", type=int, default=1, help="host processes spinning one core each")
    parser.add_argument("--profile", default="fast", help="CHAOSHA_FAILOVER_PROFILE")
    parser.add_argument("--ttl", type=int, default=0, help="PATCH /config ttl after start-up (0: the profile's)")
    parser.add_argument(
        "--failsafe",
        choices=("on", "off"),
        default="",
        help="PATCH /config failsafe_mode (default: the profile's)",
    )
    parser.add_argument("--rate", type=float, default=50, help="workload writes/s")
    parser.add_argument("--project", default=PROJECT, help="Compose project (never chaosha)")
    parser.add_argument("--port-base", type=int, default=PORT_BASE, help="first published port")
    parser.add_argument("--keep", action="store_true", help="leave the stack running")
    args = parser.parse_args(argv)
    if not 10 <= args.duration <= 4 * 3600 or not 0 <= args.loss < 1 or not 0 <= args.busy_cores <= 4:
        raise SystemExit("--duration 10..14400 s, --loss 0..<1, --busy-cores 0..4")
    if args.ttl and not 7 <= args.ttl <= 60:
        raise SystemExit("--ttl 7..60 (0: the profile's)")
    if args.project == "chaosha" or not 1024 <= args.port_base <= 65000:
        raise SystemExit("--project must not be chaosha (a user's stack); --port-base 1024..65000")
    info = bench_run.benchlib.machine()
    name, dcs = variant(args.profile, args.ttl, args.failsafe)
    up = bench_run.bring_up(bench_run.Config(name, args.project, args.port_base, dcs=dcs, profile=args.profile))
    result: Dict[str, Any] = {"started": bench_run.benchlib.now_iso(), "machine": info, "stack": up["info"]}
    result.update(profile=name, duration_s=args.duration, loss=args.loss, busy_cores=args.busy_cores)
    result["rate"] = args.rate
    try:
        result.update(soak(up["conf"], args))
    finally:
        if not args.keep:
            up["stack"].down(volumes=True)
    result["finished"] = bench_run.benchlib.now_iso()
    result["loss_rules_example"] = loss_rules(args.loss) if args.loss > 0 else ""
    out = bench_run.benchlib.write_results(f"soak-{name}", result)
    print(f"results: {out}", file=sys.stderr)
    print(one_line(result))
    v = result["verdict"]
    return 0 if result["false_failovers"] == 0 and v["lost"] == 0 and not v["two_primaries"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

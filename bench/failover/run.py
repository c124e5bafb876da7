#!/usr/bin/env python3
"""Benchmark: failover performance of the fast profile and our default
configuration beside Patroni's defaults, fault by fault, on three stacks up
at once with interleaved rounds (fast, ours, defaults, fast, ...).  Per round: integrity workload (200 writes/s)
through HAProxy, 3 s baseline, fault on the leader, wait for HAProxy to
route writes to a (new) leader, heal, wait for a healthy cluster, verdict.
Prints per fault and configuration the RTO median, p95 (nearest rank) and
max, when the leader key was released and taken again (an independent
ZooKeeper client's watch: where the seconds go), the ratios to the defaults
(and fast to ours), writes lost,
two-primary rounds, seconds two nodes were writable and false failovers
as Markdown, and writes JSON under bench/results/.

    .venv/bin/python bench/failover/run.py [--rounds 10] [--faults kill,freeze,...]
        [--configs fast,ours,defaults] [--keep]

Configurations (each its own Compose project and port block):
  fast      chaosha-bf, ports 46100+: CHAOSHA_FAILOVER_PROFILE=fast
            (compose/profiles/fast.env: ZooKeeper tick 1 s, ttl 7, loop_wait 1,
            retry_timeout 3, patched Patroni 4.1.5, HAProxy inter 500ms)
  fast8     chaosha-b8, ports 46200+: fast with PATCH /config ttl 8 (the
            profile until 2026-12-02: 1 s of spare in Patroni's timing rule)
  fast05    chaosha-b5, ports 46300+: fast with ZooKeeper's tick 500 ms, its
            limits in the same ticks (tick05.override.yml): 0.5 s expiry buckets
  ours      chaosha-bt, ports 44000+: the stack as shipped (ttl 20, loop_wait 2,
            retry_timeout 4, synchronous_mode; HAProxy inter 1s fastinter 250ms
            fall 2 rise 1, on-marked-down shutdown-sessions)
  defaults  chaosha-bd, ports 45000+: PATCH /config ttl 30, loop_wait 10,
            retry_timeout 10, synchronous_mode false; HAProxy inter 3s fall 3
            rise 2 (defaults.override.yml mounts haproxy-defaults.cfg)
  zkclamp   chaosha-bc, ports 46000+: ours with ZooKeeper maxSessionTimeout
            10 s (zk-clamp.override.yml) -- docs/failover-floor.md
Stacks are brought up with volumes deleted first and torn down (volumes
included) at the end unless --keep.
"""

import argparse
import importlib.util
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from chaoslib.exceptions import ActivityFailed

from chaosha import failover_profile
from chaosha.clients import patroni, zookeeper
from chaosha.config import load
from chaosha.docker import actions as docker_actions
from chaosha.haproxy.probes import wait_for_route, wait_for_zookeeper_cut_outcome
from chaosha.integrity.actions import start_workload, stop_workload
from chaosha.integrity.probes import workload_verdict
from chaosha.patroni.actions import switchover
from chaosha.patroni.probes import wait_for_healthy
from chaosha.state import remember_target
from chaosha.zookeeper.actions import expire_session

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("benchlib", HERE.parent / "stack" / "benchlib.py")
assert _spec and _spec.loader
benchlib = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(benchlib)

Conf = Dict[str, str]
PATRONI_DEFAULTS = {"ttl": 30, "loop_wait": 10, "retry_timeout": 10, "synchronous_mode": False}
CRASH = ("kill", "freeze", "blackhole", "netcut")
GRACEFUL = ("stop", "switchover")
CRASH_RTO_S, CRASH_RATIO, GRACEFUL_RTO_S = 23.0, 0.8, 3.0
# issue 14's targets for the fast profile: (median, p95) per fault, seconds
FAST_TARGETS = {
    "kill": (8.0, 10.0),
    "blackhole": (8.0, 10.0),
    "netcut": (8.0, 10.0),
    "freeze": (None, 11.0),
    "stop": (2.0, 2.0),
    "switchover": (2.0, 2.0),
}
SESSION_WAIT_S = 8.0


@dataclass
class Config:
    name: str
    project: str
    port_base: int
    extra_files: List[Path] = field(default_factory=list)
    dcs: Optional[Dict[str, Any]] = None
    profile: str = "default"  # CHAOSHA_FAILOVER_PROFILE


CONFIGS = {
    "fast": Config("fast", "chaosha-bf", 46100, profile="fast"),
    "fast8": Config("fast8", "chaosha-b8", 46200, dcs={"ttl": 8}, profile="fast"),
    "fast05": Config("fast05", "chaosha-b5", 46300, [HERE / "tick05.override.yml"], profile="fast"),
    "ours": Config("ours", "chaosha-bt", 44000),
    "defaults": Config("defaults", "chaosha-bd", 45000, [HERE / "defaults.override.yml"], PATRONI_DEFAULTS),
    "zkclamp": Config("zkclamp", "chaosha-bc", 46000, [HERE / "zk-clamp.override.yml"]),
}


# -- faults: each takes the configuration and the leader, returns what it did --


def _expire(conf: Conf, leader: str) -> Dict[str, Any]:
    remember_target(load(conf), leader)
    return expire_session(configuration=conf)


def _switchover(conf: Conf, leader: str) -> Dict[str, Any]:
    remember_target(load(conf), leader)
    return switchover(timeout_s=60, configuration=conf)


FAULTS: Dict[str, Callable[[Conf, str], Dict[str, Any]]] = {
    "kill": lambda conf, _: docker_actions.kill_container("@leader", configuration=conf),
    "freeze": lambda conf, _: docker_actions.pause_container("@leader", configuration=conf),
    "blackhole": lambda conf, _: docker_actions.partition_container("@leader", configuration=conf),
    "netcut": lambda conf, _: docker_actions.disconnect_network("@leader", configuration=conf),
    "zkcut": lambda conf, _: docker_actions.partition_container(
        "@leader", peers="zk1,zk2,zk3", configuration=conf
    ),
    "expire": _expire,
    "stop": lambda conf, _: docker_actions.stop_container("@leader", configuration=conf),
    "switchover": _switchover,
}
NO_FAILOVER = ("expire",)  # the healthy leader takes its key back


# -- the leader key, as an independent client sees it ----------------------


class KeyWatch:
    """Every change of Patroni's leader key with its time: a kazoo
    ``DataWatch`` on its own session (chaosha's read-only identity)."""

    def __init__(self, conf: Conf) -> None:
        settings = load(conf)
        self.events: List[Tuple[float, Optional[str]]] = []
        self._zk = zookeeper.kazoo_client(settings)
        zookeeper.start(self._zk, settings)
        self._zk.DataWatch(zookeeper.patroni_path(settings, "leader"), self._seen)

    def _seen(self, data: Optional[bytes], stat: Any, event: Any = None) -> None:
        self.events.append((time.time(), None if data is None else data.decode("utf-8", "replace")))

    def close(self) -> None:
        self._zk.stop()
        self._zk.close()


def key_times(events: List[Tuple[float, Optional[str]]], since: float, old: str) -> Dict[str, Optional[float]]:
    """Seconds after ``since`` at which the leader key first stopped naming
    ``old`` (deleted, or seen already naming another member: ZooKeeper's
    one-shot watch can miss a delete followed at once by a create) and first
    named another member."""
    released = taken = None
    for at, holder in list(events):
        if at < since:
            continue
        if released is None and holder != old:
            released = round(at - since, 3)
        if holder is not None and holder != old:
            taken = round(at - since, 3)
            break
    return {"key_released_s": released, "key_taken_s": taken}


# -- stacks -----------------------------------------------------------------


def zk_session_timeouts(conf: Conf) -> List[int]:
    """Negotiated session timeouts (ms) of the Patroni members' ZooKeeper
    sessions (4lw ``cons``)."""
    return failover_profile.session_timeouts_ms(load(conf))


def apply_dcs(conf: Conf, dcs: Dict[str, Any], timeout: float = 90) -> Dict[str, Any]:
    """PATCH /config and wait (bounded) until both members' ZooKeeper
    sessions run with the new ttl."""
    settings = load(conf)
    code, text = patroni.post(settings, "/config", dcs, method="PATCH")
    if code != 200:
        raise SystemExit(f"PATCH /config refused ({code}): {text}")
    deadline = time.monotonic() + timeout
    want = int(dcs.get("ttl", 0)) * 1000
    sessions: List[int] = []
    while time.monotonic() < deadline:
        sessions = zk_session_timeouts(conf)
        if not want or (len(sessions) >= 2 and all(s == want for s in sessions)):
            break
        time.sleep(2)
    return {"patched": dcs, "zk_session_timeouts_ms": sessions}


def bring_up(config: Config) -> Dict[str, Any]:
    stack = benchlib.bench_stack(config.project, config.port_base, config.extra_files)
    stack.overrides[failover_profile.PROFILE_KEY] = config.profile
    stack.ensure_env()
    stack.down(volumes=True)  # leftovers of an interrupted run
    started = time.monotonic()
    benchlib.up_with_retry(stack)
    conf = benchlib.configuration(stack)
    wait_for_healthy(180, configuration=conf)
    info: Dict[str, Any] = {
        "project": config.project,
        "profile": config.profile,
        "up_s": round(time.monotonic() - started, 1),
    }
    if config.dcs:
        info.update(apply_dcs(conf, config.dcs))
        wait_for_healthy(120, configuration=conf)
    else:
        info["zk_session_timeouts_ms"] = zk_session_timeouts(conf)
    info["dcs_config"] = patroni_config(conf)
    print(f"[bench] {config.name} up: {info}", file=sys.stderr, flush=True)
    return {"stack": stack, "conf": conf, "info": info}


def patroni_config(conf: Conf) -> Dict[str, Any]:
    settings = load(conf)
    with patroni.api(settings) as session:
        body = session.get(f"{settings.pg_nodes[0].api_url}/config", timeout=(3, 10)).json()
    keys = ("ttl", "loop_wait", "retry_timeout", "synchronous_mode", "synchronous_mode_strict", "failsafe_mode")
    return {k: body.get(k) for k in keys}


# -- one round --------------------------------------------------------------

VERDICT_KEYS = (
    "rto_s",
    "reroute_s",
    "lost",
    "lost_ids",
    "two_primaries",
    "two_writable_s",
    "unexpected",
    "in_doubt",
    "recovered",
    "failed",
    "acknowledged",
    "attempted",
    "primary_before",
    "primary_after",
    "read_rto_s",
    "streaming_s",
    "nodes_consistent",
    "passed",
)


def run_round(
    config: str, conf: Conf, fault: str, index: int, rate: float, baseline: float, key: Optional[KeyWatch] = None
) -> Dict[str, Any]:
    health = wait_for_healthy(180, configuration=conf)
    leader = health["leader"]
    record: Dict[str, Any] = {"config": config, "fault": fault, "round": index, "leader": leader}
    workload = start_workload(duration_s=300, rate=rate, startup_timeout_s=30, configuration=conf)
    try:
        time.sleep(baseline)
        fault_at = time.time()
        record["fault_at"] = fault_at
        try:
            record["action"] = _short(FAULTS[fault](conf, leader))
            if fault in NO_FAILOVER:
                time.sleep(SESSION_WAIT_S)
                route = wait_for_route(60, configuration=conf)
            elif fault == "zkcut":  # a new leader, or with failsafe_mode the same one (it raises otherwise)
                route = wait_for_zookeeper_cut_outcome(120, configuration=conf)
            else:
                route = wait_for_route(120, new_leader=True, configuration=conf)
            record["route_s"] = round(time.time() - fault_at, 3)
            if key is not None:
                record.update(key_times(key.events, fault_at, leader))
            record["new_leader"] = route["leader"] or route["node"]  # no key in ZooKeeper under failsafe
            # a leader change where the fault calls for none
            record["false_failover"] = fault in NO_FAILOVER and route["leader"] != leader
        except ActivityFailed as exc:
            record["error"] = str(exc)[:500]
        finally:
            record["heal"] = _heal(conf)
        try:
            record["healthy_after_s"] = wait_for_healthy(180, configuration=conf)["took_s"]
        except ActivityFailed as exc:
            record["error"] = (record.get("error", "") + f"; not healthy: {exc}")[:800]
        verdict = workload_verdict(
            run_id=workload["run_id"], heal_timeout_s=120, fault_at=str(fault_at), configuration=conf
        )
    except BaseException:
        stop_workload(run_id=workload["run_id"], configuration=conf)
        raise
    record.update({k: verdict.get(k) for k in VERDICT_KEYS})
    record["two_primary_incidents"] = len(verdict.get("two_primary_incidents") or [])
    print(
        f"[bench] {config:8s} {fault:10s} round {index + 1}: rto {record['rto_s']} s, "
        f"lost {record['lost']}, two primaries {record['two_primaries']}"
        f"{', error ' + record['error'] if record.get('error') else ''}",
        file=sys.stderr,
        flush=True,
    )
    return record


def _heal(conf: Conf) -> Any:
    last = ""
    for _ in range(3):  # bounded retries: heal is idempotent
        try:
            return docker_actions.heal(configuration=conf)
        except ActivityFailed as exc:
            last = str(exc)
            time.sleep(2)
    return {"error": last}


def _short(result: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in result.items() if isinstance(v, (str, int, float, bool)) or v is None}


# -- summary ----------------------------------------------------------------


def p95(values: List[float]) -> Optional[float]:
    """Nearest-rank 95th percentile (the max below 20 values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def _median(values: List[float]) -> Optional[float]:
    return round(statistics.median(values), 2) if values else None


def _ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return round(a / b, 2) if a is not None and b else None


def summarize(records: List[Dict[str, Any]], configs: List[str], faults: List[str]) -> Dict[str, Any]:
    summary: Dict[str, Any] = {}
    for fault in faults:
        per: Dict[str, Any] = {}
        for config in configs:
            rows = [r for r in records if r["fault"] == fault and r["config"] == config]
            rtos = [r["rto_s"] for r in rows if r.get("rto_s") is not None]
            routes = [r["route_s"] for r in rows if r.get("route_s") is not None]
            released = [r["key_released_s"] for r in rows if r.get("key_released_s") is not None]
            taken = [r["key_taken_s"] for r in rows if r.get("key_taken_s") is not None]
            after = [
                r["rto_s"] - r["key_taken_s"] for r in rows if None not in (r.get("rto_s"), r.get("key_taken_s"))
            ]
            per[config] = {
                "key_released_median": _median(released),
                "key_taken_median": _median(taken),
                "write_after_key_median": _median(after),
                "route_median": _median(routes),
                "rounds": len(rows),
                "rto_median": _median(rtos),
                "rto_p95": p95(rtos),
                "rto_min": min(rtos, default=None),
                "rto_max": max(rtos, default=None),
                "lost": [r.get("lost") for r in rows],
                "two_primary_rounds": sum(1 for r in rows if r.get("two_primaries")),
                "two_writable_s_max": max((r.get("two_writable_s") or 0 for r in rows), default=None),
                "false_failovers": sum(1 for r in rows if r.get("false_failover")),
                "errors": sum(1 for r in rows if r.get("error")),
            }
        medians = {c: per[c]["rto_median"] for c in configs}
        per["ratio"] = _ratio(medians.get("ours"), medians.get("defaults"))
        per["ratios"] = {
            f"{c}/defaults": _ratio(medians[c], medians.get("defaults")) for c in configs if c != "defaults"
        }
        if "fast" in configs and "ours" in configs:
            per["ratios"]["fast/ours"] = _ratio(medians["fast"], medians["ours"])
        summary[fault] = per
    return summary


def targets(summary: Dict[str, Any], records: List[Dict[str, Any]]) -> Dict[str, Any]:
    met: Dict[str, Any] = {}
    for fault, per in summary.items():
        ours = per.get("ours")
        if not ours or ours["rto_median"] is None:
            continue
        if fault in CRASH:
            ratio = per.get("ratio")
            met[f"{fault}: median <= {CRASH_RTO_S:g} s"] = ours["rto_median"] <= CRASH_RTO_S
            met[f"{fault}: <= {CRASH_RATIO} x defaults"] = ratio is not None and ratio <= CRASH_RATIO
        if fault in GRACEFUL:
            met[f"{fault}: median <= {GRACEFUL_RTO_S:g} s"] = ours["rto_median"] <= GRACEFUL_RTO_S
            met[f"{fault}: max <= {GRACEFUL_RTO_S:g} s"] = ours["rto_max"] <= GRACEFUL_RTO_S
    for fault, (median, high) in FAST_TARGETS.items():
        fast = summary.get(fault, {}).get("fast")
        if not fast or fast["rto_median"] is None:
            continue
        if median is not None:
            met[f"fast {fault}: median <= {median:g} s"] = fast["rto_median"] <= median
        met[f"fast {fault}: p95 <= {high:g} s"] = fast["rto_p95"] <= high
    fast_rows = [r for r in records if r["config"] == "fast"]
    if fast_rows:
        met["fast: zero acknowledged writes lost in every round"] = all(r.get("lost") == 0 for r in fast_rows)
        met["fast: no two-primary incident"] = not any(r.get("two_primaries") for r in fast_rows)
        met["fast: no false failover"] = not any(r.get("false_failover") for r in fast_rows)
    ours_rows = [r for r in records if r["config"] == "ours"]
    if ours_rows:
        met["ours: zero acknowledged writes lost in every round"] = all(r.get("lost") == 0 for r in ours_rows)
        met["ours: no two-primary incident"] = not any(r.get("two_primaries") for r in ours_rows)
    return met


def checks(records: List[Dict[str, Any]]) -> Dict[str, bool]:
    """The same safety checks for the other configurations: information,
    not targets (the defaults replicate asynchronously)."""
    found: Dict[str, bool] = {}
    for config in sorted({r["config"] for r in records} - {"ours", "fast"}):
        rows = [r for r in records if r["config"] == config]
        found[f"{config}: zero acknowledged writes lost in every round"] = all(r.get("lost") == 0 for r in rows)
        found[f"{config}: no two-primary incident"] = not any(r.get("two_primaries") for r in rows)
        found[f"{config}: every round routed and healthy again"] = not any(r.get("error") for r in rows)
    return found


def _num(value: Any) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def markdown(summary: Dict[str, Any], configs: List[str]) -> str:
    """One row per fault and configuration."""
    header = ["fault", "config", "rounds", "RTO s median", "p95", "max", "ratio to defaults"]
    header += [
        "fault -> routed s, median",
        "key released / taken / write after key s, median",
        "lost per round",
        "two-primary rounds",
        "two writable s, max",
    ]
    header += ["false failovers", "errors"]
    rows = []
    for fault, per in summary.items():
        for config in configs:
            c = per[config]
            ratio = per["ratios"].get(f"{config}/defaults")
            if config == "fast" and per["ratios"].get("fast/ours") is not None:
                ratio = f"{ratio if ratio is not None else 'n/a'} ({per['ratios']['fast/ours']} x ours)"
            row = [fault, config, str(c["rounds"]), _num(c["rto_median"]), _num(c["rto_p95"]), _num(c["rto_max"])]
            row += ["" if config == "defaults" else str(ratio if ratio is not None else "n/a")]
            keys = " / ".join(
                _num(c.get(k)) for k in ("key_released_median", "key_taken_median", "write_after_key_median")
            )
            row += [
                _num(c["route_median"]),
                keys,
                ",".join(str(x) for x in c["lost"]),
                str(c["two_primary_rounds"]),
            ]
            row += [_num(c["two_writable_s_max"]), str(c["false_failovers"]), str(c["errors"])]
            rows.append(row)
    return benchlib.table(header, rows)


# -- main -------------------------------------------------------------------


def _names(raw: str, known: Dict[str, Any], what: str) -> List[str]:
    names = [n.strip() for n in raw.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise SystemExit(f"unknown {what} {unknown}: choose from {', '.join(known)}")
    return names


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--faults", default=",".join(FAULTS), help=f"subset of {','.join(FAULTS)}")
    parser.add_argument("--configs", default="fast,ours,defaults", help=f"subset of {','.join(CONFIGS)}")
    parser.add_argument("--rate", type=float, default=200, help="workload writes/s")
    parser.add_argument("--baseline", type=float, default=3, help="seconds of workload before the fault")
    parser.add_argument("--budget-min", type=float, default=180, help="start no new round after this many minutes")
    parser.add_argument("--keep", action="store_true", help="leave the stacks running")
    parser.add_argument(
        "--report", type=Path, help="summarize a results JSON again (rewrites its summary) and print the tables"
    )
    args = parser.parse_args(argv)
    if args.report:
        return print_report(json.loads(args.report.read_text()), args.report)
    faults = _names(args.faults, FAULTS, "faults")
    configs = _names(args.configs, CONFIGS, "configs")
    if not 1 <= args.rounds <= 50:
        raise SystemExit("--rounds must be 1..50")
    info = benchlib.machine()
    started, deadline = benchlib.now_iso(), time.monotonic() + args.budget_min * 60
    stacks: Dict[str, Dict[str, Any]] = {}
    records: List[Dict[str, Any]] = []
    truncated = False
    try:
        for name in configs:
            stacks[name] = bring_up(CONFIGS[name])
            stacks[name]["key"] = KeyWatch(stacks[name]["conf"])
        for fault in faults:
            for index in range(args.rounds):
                for name in configs:
                    if time.monotonic() > deadline:
                        truncated = True
                        break
                    handle = stacks[name]
                    records.append(
                        run_round(name, handle["conf"], fault, index, args.rate, args.baseline, handle["key"])
                    )
    finally:
        for handle in stacks.values():
            if "key" in handle:
                handle["key"].close()
        if not args.keep:
            for name, handle in stacks.items():
                try:
                    handle["stack"].down(volumes=True)
                except Exception as exc:  # noqa: BLE001 - tear down the others anyway
                    print(f"[bench] tearing down {name} failed: {exc}", file=sys.stderr)
    result = {
        "started": started,
        "finished": benchlib.now_iso(),
        "machine": info,
        "rounds": args.rounds,
        "rate": args.rate,
        "baseline_s": args.baseline,
        "faults": faults,
        "config_names": configs,
        "configs": {n: dict(stacks[n]["info"]) for n in stacks},
        "truncated_by_budget": truncated,
        "records": records,
    }
    out = benchlib.write_results("failover", result)
    print(f"results: {out}", file=sys.stderr)
    return print_report(result, out)


def print_report(result: Dict[str, Any], out: Optional[Path] = None) -> int:
    """Summarize the records (again), print the tables; exit code 1 when a
    target is missed.  Rewrites the results file with the summary."""
    records, faults = result["records"], result["faults"]
    configs = result.get("config_names") or list(result["configs"])
    summary = summarize(records, configs, faults)
    met, info = targets(summary, records), checks(records)
    result.update(summary=summary, targets=met, checks=info)
    if out is not None:
        out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(
        f"failover benchmark, {result['started'][:10]}, {result['rounds']} rounds per fault and "
        f"configuration{' (TRUNCATED by --budget-min)' if result.get('truncated_by_budget') else ''}"
    )
    print(benchlib.machine_line(result["machine"]) + "\n")
    print(markdown(summary, configs) + "\n")
    rows = [[k, "yes" if v else "NO"] for k, v in met.items()]
    rows += [[k + " (information)", "yes" if v else "no"] for k, v in info.items()]
    print(benchlib.table(["target", "met"], rows))
    return 0 if all(met.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Actions: start and stop the opt-in arbiter (background processes, one
per instance, recorded like the workload's so ``heal`` ends orphans); cut
this host (the arbiter's) off from one node, and undo it."""

import json
import os
import signal
import sys
import time
from dataclasses import asdict
from typing import Any, Dict, List, Optional

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaosha import state as registry
from chaosha.arbiter.loop import MODULE, ArbiterOptions
from chaosha.arbiter.probes import instances
from chaosha.clients import host_firewall, network
from chaosha.clients.docker import engine_urls
from chaosha.config import load
from chaosha.integrity.ledger import new_run_id, read_records
from chaosha.integrity.runner import process_alive, start_process, stop_process
from chaosha.state import arbiter_dir
from chaosha.targets import resolve
from chaosha.timing import Deadline, parse_duration, wait_until

__all__ = ["start_arbiter", "stop_arbiter", "kill_arbiter_holder", "cut_host_from", "heal_host_cut"]


def start_arbiter(
    instances_count: int = 2,
    hold_s: float = 0,
    session_s: float = 3,
    interval_s: float = 0.2,
    cut_after_s: float = 1,
    startup_timeout_s: float = 30,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> Dict[str, Any]:
    """Start ``instances_count`` arbiter instances in the background and
    return once one holds the lock (within ``startup_timeout_s``):
    ``{run_ids, holder, took_s}``.  ``hold_s`` holds each fence that long
    before the release (0; tests kill the holder there), ``session_s`` is
    the instances' ZooKeeper session (a killed holder is replaced after
    it), ``interval_s`` how often the holder looks, ``cut_after_s`` how long
    a leader that answers nobody counts as not cut.  Stop with ``stop_arbiter``."""
    settings = load(configuration, secrets)
    count = int(instances_count)
    if count < 1:
        raise ActivityFailed(f"start_arbiter: instances_count must be at least 1, not {instances_count!r}")
    if any(i["alive"] for i in _states(settings)):
        raise ActivityFailed("start_arbiter: an arbiter already runs for this project: stop_arbiter first")
    started = time.time()
    timeout = parse_duration(startup_timeout_s, "startup_timeout_s")
    base = new_run_id()
    run_ids: List[str] = []
    try:
        for n in range(1, count + 1):
            run_id = f"arbiter-{base}-{n}"
            options = ArbiterOptions(
                instance=run_id,
                hold_s=parse_duration(hold_s, "hold_s") if hold_s else 0.0,
                session_s=parse_duration(session_s, "session_s"),
                interval_s=parse_duration(interval_s, "interval_s"),
                cut_after_s=parse_duration(cut_after_s, "cut_after_s"),
            )
            start_process(settings, ["--options", json.dumps(asdict(options))], False, timeout,
                          [sys.executable, "-m", MODULE], MODULE, run_id, 0.0, arbiter_dir(settings))  # fmt: skip
            run_ids.append(run_id)
        holder = _wait_for_holder(settings, run_ids, Deadline(timeout))
    except ActivityFailed:
        stop_arbiter(configuration=configuration, secrets=secrets)
        raise
    return {"run_ids": run_ids, "holder": holder, "took_s": round(time.time() - started, 3)}


def _wait_for_holder(settings: Any, run_ids: List[str], deadline: Deadline) -> str:
    folder = arbiter_dir(settings)
    while not deadline.expired():
        for run_id in run_ids:
            for record in read_records(folder / f"{run_id}.jsonl"):
                if record.get("event") == "elected":
                    return run_id
                if record.get("k") == "end":
                    log = (folder / f"{run_id}.log").read_text(errors="replace")[-400:]
                    raise ActivityFailed(f"arbiter {run_id} ended at start: {record.get('reason')}; log: {log}")
        time.sleep(0.1)
    raise ActivityFailed(
        "no arbiter instance took the lock in time: is ZooKeeper serving, and were the stack's "
        "credentials made with the arbiter's identity (run `chaosha stack up`)?"
    )


def _states(settings: Any) -> List[Dict[str, Any]]:
    return [i for i in instances(settings) if i.get("pid")]


def stop_arbiter(
    timeout_s: float = 10, configuration: Configuration = None, secrets: Secrets = None
) -> Dict[str, Any]:
    """Stop every running arbiter instance of the project (SIGTERM, SIGKILL
    after ``timeout_s``).  Safe to call twice: ``{stopped: [run ids]}``."""
    settings = load(configuration, secrets)
    timeout = parse_duration(timeout_s, "stop_arbiter timeout_s")
    stopped = []
    for state in _states(settings):
        if process_alive(int(state["pid"]), state["run_id"]):
            stop_process(settings, state["run_id"], timeout, arbiter_dir(settings))
            stopped.append(state["run_id"])
    return {"stopped": stopped}


def cut_host_from(
    target: str, dry_run: bool = False, configuration: Configuration = None, secrets: Secrets = None
) -> Dict[str, Any]:
    """Drop what *this* host (where chaosha and the arbiter run) sends to
    the target's container address, and nothing else: the arbiter loses
    sight of the target while ZooKeeper, HAProxy and the other nodes still
    reach it (the arbiter cut off from a healthy leader).  iptables on the
    host, so root and a local engine.  Undo: heal_host_cut (or heal)."""
    settings = load(configuration, secrets)
    service = resolve(settings, target)
    if service in engine_urls(settings):
        raise ActivityFailed(f"cut_host_from: {service} runs on another Docker engine: its address is not ours")
    address = network.address_of(settings, service)
    if dry_run:
        return {"dry_run": True, "service": service, "would": f"iptables -I OUTPUT -d {address}/32 -j DROP"}
    started = time.time()
    registry.remember_target(settings, service)
    registry.record(settings, host_firewall.FAULT, service, address=address)
    try:
        host_firewall.block(settings, address)
    except ActivityFailed:
        registry.forget(settings, host_firewall.FAULT, service)
        raise
    return {"service": service, "action": "cut-host-from", "address": address, "at": started,
            "took_s": round(time.time() - started, 3)}  # fmt: skip


def heal_host_cut(
    target: str = "@faulted", configuration: Configuration = None, secrets: Secrets = None
) -> Dict[str, Any]:
    """Remove every rule ``cut_host_from`` left for the project (all of them: they are few)."""
    settings = load(configuration, secrets)
    started = time.time()
    removed = host_firewall.clear(settings)
    for fault in registry.pending(settings):
        if fault["kind"] == host_firewall.FAULT:
            registry.forget(settings, host_firewall.FAULT, fault["service"])
    return {"service": target, "action": "heal-host-cut", "removed": removed, "at": started,
            "took_s": round(time.time() - started, 3)}  # fmt: skip


def kill_arbiter_holder(
    timeout_s: float = 20, configuration: Configuration = None, secrets: Secrets = None
) -> Dict[str, Any]:
    """SIGKILL the instance holding the lock as soon as it logs a ``hold``
    (fenced, not yet released: start the arbiter with ``hold_s``), within
    ``timeout_s``; the other instance must take over and complete the release.
    ``{killed: run_id, pid, took_s}``."""
    settings = load(configuration, secrets)

    def holding() -> Optional[Dict[str, Any]]:
        found = (
            s for s in instances(settings) if s["alive"] and any(x.get("event") == "hold" for x in s["steps"])
        )
        return next(found, None)

    state, took = wait_until(
        holding,
        parse_duration(timeout_s, "timeout_s"),
        0.05,
        "an arbiter instance holding a fence (was the leader faulted, and the arbiter started with hold_s?)",
    )
    os.kill(int(state["pid"]), signal.SIGKILL)
    return {"killed": state["run_id"], "pid": state["pid"], "took_s": round(took, 3)}

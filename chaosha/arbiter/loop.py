"""One arbiter instance (``python -m chaosha.arbiter.loop``; started in the
background by ``start_arbiter`` / ``chaosha arbiter start``).

Every instance joins a kazoo Lock on ``/chaosha-arbiter/lock`` (its own
znode, created with the arbiter identity's ACL) over a short ZooKeeper
session (``session_s``, 3 s by default); only the holder looks at the
leader every ``interval_s`` and acts: :func:`chaosha.arbiter.decide.decide`,
then :func:`~chaosha.arbiter.fence.fence`, an optional hold (``hold_s``:
``CHAOSHA_ARBITER_HOLD_S``, 0 by default, lets a test kill the holder
between fence and release) and :func:`~chaosha.arbiter.fence.release`.  A
holder killed mid-fence is replaced when its session expires; the new
holder finds the fence in the registry and completes the release.  Every
step is one JSON line (``t`` epoch, ``mono`` monotonic seconds) in the
run's log (the ``--ledger`` path).
"""

import argparse
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import Any, Dict, Optional, Sequence

from chaoslib.exceptions import ActivityFailed
from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import KazooException
from kazoo.security import make_acl

from chaosha import state as registry
from chaosha.arbiter import observe
from chaosha.arbiter.decide import Leader, Observation, decide
from chaosha.arbiter.fence import FENCE, fence, fenced_leader, release
from chaosha.clients import zk_tls, zookeeper
from chaosha.config import Settings, load, options_from_json
from chaosha.integrity.ledger import Ledger

__all__ = ["ArbiterOptions", "Arbiter", "LOCK_PATH", "main"]

LOCK_PATH = "/chaosha-arbiter/lock"
MODULE = "chaosha.arbiter.loop"


@dataclass
class ArbiterOptions:
    """How one instance looks and acts (JSON on its command line)."""

    instance: str = "arbiter"
    duration_s: float = 0.0  # 0: until SIGTERM
    interval_s: float = 0.2
    session_s: float = 3.0
    cut_after_s: float = 1.0  # silence that starts counting as a cut
    recent_s: float = 2.0  # no new ZooKeeper response for this long on any member = the session is silent
    answer_timeout_s: float = 0.5
    docker_timeout_s: float = 2.0
    confirm_s: float = 5.0
    hold_s: float = 0.0
    streamed_within_s: float = 15.0

    @classmethod
    def from_json(cls, text: str) -> "ArbiterOptions":
        return options_from_json(cls, text, "arbiter")


class Arbiter:
    """The instance: its ZooKeeper session, lock, log and the loop."""

    def __init__(self, settings: Settings, options: ArbiterOptions, log: Ledger, stop: threading.Event) -> None:
        self.settings, self.options, self.log, self.stop = settings, options, log, stop
        acl = [
            make_acl("x509", "CN=chaosha-arbiter", all=True),
            make_acl("x509", "CN=chaosha", read=True),
        ]
        self.zk: KazooClient = zookeeper.kazoo_client(settings, None, "arbiter", options.session_s, acl)
        self.zk.add_listener(self._on_state)
        self.lock = self.zk.Lock(LOCK_PATH, identifier=options.instance)
        self.holder = threading.Event()  # set while we hold the lock and our session is connected
        self.lost = threading.Event()
        self.watch = observe.ContainerWatch(settings, options.docker_timeout_s)
        self.tls = zk_tls.client_context(settings)
        self.silent_since: Dict[int, float] = {}  # leader session -> when it stopped answering
        self.talking = observe.Talking(options.recent_s)
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="answers")
        self.streamed: Dict[str, float] = {}  # member -> last time seen streaming
        self.last_reason = ""
        self.next_standby_look = 0.0
        self.standby_cache = Observation(None, "")

    def event(self, event: str, **details: Any) -> None:
        self.log.append(
            dict(
                details,
                k="event",
                event=event,
                instance=self.options.instance,
                t=round(time.time(), 6),
                mono=round(time.monotonic(), 6),
            ),  # fmt: skip
            flush=True,
        )

    def _on_state(self, state: str) -> None:
        if state != KazooState.CONNECTED:
            self.holder.clear()
        if state == KazooState.LOST:
            self.lost.set()
        elif state == KazooState.CONNECTED and self.lock.is_acquired and not self.lost.is_set():
            self.holder.set()  # reconnected on the same session: the lock node is still ours

    # -- the lock --------------------------------------------------------
    def _acquire(self) -> None:
        """Wait for the lock in a thread; set :attr:`holder` once held."""

        def wait() -> None:
            try:
                if self.lock.acquire(blocking=True):
                    self.holder.set()
                    self.event("elected", session=f"{self.zk.client_id[0]:#x}" if self.zk.client_id else "")
            except (KazooException, ActivityFailed) as exc:
                self.event("lock-error", error=repr(exc))

        threading.Thread(target=wait, name="lock", daemon=True).start()

    def _still_holder(self) -> bool:
        """Our lock node still exists (our session lives): checked before acting."""
        node = getattr(self.lock, "node", None)
        if not node or not self.holder.is_set():
            return False
        try:
            return self.zk.exists(f"{LOCK_PATH}/{node}") is not None
        except KazooException:
            return False

    # -- observing -------------------------------------------------------
    def _standby(self, leader: Leader) -> Observation:
        """The standby part of the observation (looked at every second, at
        once when the leader changed or looks gone)."""
        name = observe.sync_standby(self.zk, self.settings, leader.member, self.settings.timeout)
        now = time.monotonic()
        ok = False
        if name and name in {n.name for n in self.settings.pg_nodes}:
            status = observe.replica_status(self.settings.pg_node(name), self.options.answer_timeout_s)
            if status.get("replication_state") == "streaming":
                self.streamed[name] = now
            ok = (
                status.get("role") == "replica"
                and status.get("state") == "running"
                and now - self.streamed.get(name, -1e9) <= self.options.streamed_within_s
            )
        return Observation(leader, "", standby=name, standby_ok=ok)

    def observe(self) -> Observation:
        leader = observe.read_leader(self.zk, self.settings, self.settings.timeout)
        if leader is None:
            return Observation(None, "")
        container = self.watch.state(leader.member)
        silent = 0.0
        if container == "running" and leader.member in {n.name for n in self.settings.pg_nodes}:
            node = self.settings.pg_node(leader.member)
            asked = time.monotonic()  # silent since this look when it gets no answer
            if observe.answers(node, self.options.answer_timeout_s, self.pool):
                self.silent_since.pop(leader.session, None)
                self.talking.forget(leader.session)
            else:
                silent = time.monotonic() - self.silent_since.setdefault(leader.session, asked)
        talking: Optional[bool] = None
        if leader.session in self.silent_since:  # sampled from the first silence on: lresp changes count
            sample = observe.last_responses(
                self.settings, leader.session, self.tls, self.options.answer_timeout_s * 2
            )
            talking = self.talking.update(leader.session, sample)
        urgent = container != "running" or silent >= self.options.cut_after_s
        cached = self.standby_cache
        if urgent or time.monotonic() >= self.next_standby_look or cached.leader != leader:
            self.next_standby_look = time.monotonic() + 1.0
            self.standby_cache = self._standby(leader)
        standby = self.standby_cache
        return Observation(leader, container, silent, talking, standby.standby, standby.standby_ok)

    # -- acting ----------------------------------------------------------
    def act(self, obs: Observation) -> None:
        decision = decide(obs, self.options.cut_after_s)
        if decision.reason != self.last_reason:
            self.last_reason = decision.reason
            self.event("decision", fence=decision.fence, signal=decision.signal, reason=decision.reason,
                       container=obs.container, silent_s=round(obs.silent_s, 3), zk_talking=obs.zk_talking,
                       standby=obs.standby, standby_ok=obs.standby_ok)  # fmt: skip
        if not decision.fence or obs.leader is None:
            return
        again = observe.read_leader(self.zk, self.settings, self.settings.timeout)
        if again is None or again.session != obs.leader.session or not self._still_holder():
            self.event("fence-skipped", why="the leader key changed, or we lost the lock, since the look")
            return
        self.event("fence-start", member=again.member, session=f"{again.session:#x}", signal=decision.signal)
        try:
            done = fence(self.settings, self.watch, again, decision.signal, self.options.confirm_s)
        except ActivityFailed as exc:
            self.event("fence-failed", member=again.member, error=str(exc))
            return
        self.event("fenced", member=again.member, **done)
        self._release(again)

    def _release(self, fenced: Leader, hold: bool = True) -> None:
        if hold and self.options.hold_s > 0:
            self.event("hold", member=fenced.member, hold_s=self.options.hold_s)
            self.stop.wait(self.options.hold_s)
        if not self._still_holder():
            self.event("release-skipped", member=fenced.member, why="we no longer hold the lock")
            return
        # the member key's version after the fence (a dead Patroni no longer rewrites it)
        now = observe.read_leader(self.zk, self.settings, self.settings.timeout)
        same = now is not None and (now.member, now.session) == (fenced.member, fenced.session)
        target = Leader(fenced.member, fenced.session, now.member_version if now and same else -1)
        node = getattr(self.lock, "node", None)
        holder_path = f"{LOCK_PATH}/{node}" if node else ""
        outcome = release(self.zk, self.settings, target, self.settings.timeout, holder_path)
        registry.record(
            self.settings, FENCE, fenced.member, session=fenced.session, member_version=target.member_version,
            released=outcome["released"], why=outcome["why"],
        )  # fmt: skip
        self.event("released" if outcome["released"] else "not-released", member=fenced.member, why=outcome["why"])

    def complete_pending(self) -> None:
        """A new holder: finish a fence a previous holder recorded and did not release."""
        for fault in registry.pending(self.settings):
            if fault.get("kind") != FENCE or fault.get("released") is not None:
                continue
            fenced = fenced_leader(fault)
            state = self.watch.state(fenced.member)
            self.event("pending-fence", member=fenced.member, session=f"{fenced.session:#x}", container=state)
            if state in ("exited", "dead"):
                self._release(fenced, hold=False)  # the hold is the fencing holder's, not ours

    # -- the loop --------------------------------------------------------
    def run(self) -> str:
        zookeeper.start(self.zk, self.settings)
        self.zk.ensure_path(LOCK_PATH)
        self.event("started", session=f"{self.zk.client_id[0]:#x}" if self.zk.client_id else "")
        self._acquire()
        deadline = time.monotonic() + self.options.duration_s if self.options.duration_s > 0 else None
        was_holder = False
        try:
            while not self.stop.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    return "duration"
                if self.lost.is_set():  # the session expired: a new lock node on the new session
                    self.lost.clear()
                    self.event("session-lost")
                    self.lock = self.zk.Lock(LOCK_PATH, identifier=self.options.instance)
                    self._acquire()
                holder = self.holder.is_set()
                if holder and not was_holder:
                    self.complete_pending()
                if holder != was_holder and not holder:
                    self.event("not-holder")
                was_holder = holder
                if holder:
                    try:
                        self.act(self.observe())
                    except (ActivityFailed, KazooException) as exc:
                        if str(exc)[:300] != self.last_reason:  # once per distinct error, not every look
                            self.last_reason = str(exc)[:300]
                            self.event("error", error=self.last_reason)
                self.stop.wait(self.options.interval_s)
            return "signal"
        finally:
            try:
                self.lock.release()
            except KazooException:
                pass
            self.zk.stop()
            self.zk.close()
            self.pool.shutdown(wait=False)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m chaosha.arbiter.loop --run-id ID --ledger PATH --options JSON``."""
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}")
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--ledger", required=True, help="the JSON-lines log")
    parser.add_argument("--options", default="{}", help="ArbiterOptions as a JSON object")
    args = parser.parse_args(argv)
    try:
        options = ArbiterOptions.from_json(args.options)
    except (ValueError, TypeError) as exc:
        print(f"chaosha arbiter: {exc}", file=sys.stderr)
        return 2
    options = replace(options, instance=options.instance or args.run_id)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stop.set())
    log = Ledger(args.ledger)
    log.append({"k": "run", "run": args.run_id, "pid": os.getpid(), "t": round(time.time(), 6),
                "options": asdict(options)}, flush=True)  # fmt: skip
    reason = "error"
    try:
        reason = Arbiter(load(), options, log, stop).run()
    except ActivityFailed as exc:
        log.append({"k": "event", "event": "error", "error": str(exc), "t": round(time.time(), 6)}, flush=True)
        print(f"chaosha arbiter: {exc}", file=sys.stderr)
        return 2
    finally:
        log.append({"k": "end", "t": round(time.time(), 6), "reason": reason}, flush=True)
        log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The arbiter's decisions with fakes: it fences only with a certain signal
and a healthy synchronous standby, never on the arbiter's own isolation, and
releases only keys that are still the fenced session's."""

import json
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, List, Optional, Tuple

import pytest
from chaoslib.exceptions import ActivityFailed
from kazoo.exceptions import NoNodeError

from chaosha import state
from chaosha.arbiter import fence as fencing
from chaosha.arbiter.decide import Leader, Observation, decide, may_release
from chaosha.arbiter.loop import ArbiterOptions, main
from chaosha.arbiter.observe import Talking, parse_cons, sync_standby
from chaosha.config import Settings

LEADER = Leader("pg1", 0x30002C3FEE60000, 11)


def obs(
    container: str = "running", silent_s: float = 0.0, talking: Optional[bool] = None, **kw: Any
) -> Observation:
    base: Dict[str, Any] = {"standby": "pg2", "standby_ok": True}
    base.update(kw)
    return Observation(LEADER, container, silent_s, talking, base["standby"], base["standby_ok"])


@pytest.mark.parametrize(
    "observation, fence, signal",
    [
        (obs("exited"), True, "down"),
        (obs("dead"), True, "down"),
        (obs("paused"), True, "paused"),
        (obs("running"), False, ""),  # healthy
        (obs("running", 0.9, False), False, ""),  # silent, not for long enough
        (obs("running", 1.5, False), True, "cut"),  # silent and ZooKeeper does not see it talking
        (obs("running", 5.0, True), False, ""),  # the arbiter is cut off from a healthy leader
        (obs("running", 5.0, None), False, ""),  # a ZooKeeper member could not be asked: no corroboration
        (obs("restarting"), False, ""),
        (obs("missing"), False, ""),  # no such container in the project
        (obs("unknown"), False, ""),  # Docker did not answer
        (obs("exited", standby_ok=False), False, "down"),  # no healthy synchronous standby
        (obs("paused", standby=""), False, "paused"),  # /sync names nobody
        (obs("exited", standby="pg1"), False, "down"),  # /sync names the leader itself
        (obs("running", 3.0, False, standby_ok=False), False, "cut"),
    ],
)
def test_fence_only_with_a_certain_signal_and_a_healthy_standby(
    observation: Observation, fence: bool, signal: str
) -> None:
    decision = decide(observation, cut_after_s=1.0)
    assert (decision.fence, decision.signal) == (fence, signal), decision.reason
    assert "pg1" in decision.reason


def test_no_leader_key_no_fence() -> None:
    assert not decide(Observation(None, "exited")).fence


def test_the_cut_off_arbiter_says_why_it_does_nothing() -> None:
    assert "still talking" in decide(obs("running", 9.0, True)).reason
    assert "no corroboration" in decide(obs("running", 9.0, None)).reason


@pytest.mark.parametrize(
    "data, leader_owner, member_owner, member_version, ok",
    [
        ("pg1", LEADER.session, LEADER.session, 11, True),
        (None, 0, LEADER.session, 11, False),  # the leader key is gone
        ("pg2", LEADER.session, LEADER.session, 11, False),  # names another member
        ("pg1", LEADER.session + 1, LEADER.session, 11, False),  # re-taken by another session
        ("pg1", LEADER.session, 0, -1, False),  # the member key is gone (the session expired)
        ("pg1", LEADER.session, LEADER.session + 1, 11, False),
        ("pg1", LEADER.session, LEADER.session, 12, False),  # the member key changed since
    ],
)
def test_release_only_the_fenced_session_s_keys(
    data: Optional[str], leader_owner: int, member_owner: int, member_version: int, ok: bool
) -> None:
    assert may_release(LEADER, data, leader_owner, member_owner, member_version)[0] is ok


def test_cons_sessions_and_last_responses() -> None:
    text = (
        " /172.18.0.5:43210[1](queued=0,recved=10,sent=10,sid=0x30002c3fee60000,lop=PING,est=1796167000000,"
        "to=8000,lcxid=0x5,lzxid=0x20,lresp=1796167089123,llat=0,minlat=0,avglat=0,maxlat=1)\n"
        " /172.18.0.1:51234[0](queued=0,recved=1,sent=0)\n"
    )
    assert parse_cons(text) == {0x30002C3FEE60000: 1796167089123}


class Stat(SimpleNamespace):
    pass


class FakeZk:
    """Znodes as path -> (data, owner, version); a transaction applies its
    ops only when every check holds, as ZooKeeper's multi does."""

    def __init__(self, nodes: Dict[str, Tuple[bytes, int, int]]) -> None:
        self.nodes = dict(nodes)
        self.committed: List[List[Tuple[str, str, int]]] = []

    def get_async(self, path: str) -> Any:
        def get(timeout: float) -> Any:
            if path not in self.nodes:
                raise NoNodeError()
            data, owner, version = self.nodes[path]
            return data, Stat(ephemeralOwner=owner, version=version)

        return SimpleNamespace(get=get)

    def transaction(self) -> Any:
        ops: List[Tuple[str, str, int]] = []
        zk = self

        class Tx:
            def check(self, path: str, version: int) -> None:
                ops.append(("check", path, version))

            def delete(self, path: str, version: int) -> None:
                ops.append(("delete", path, version))

            def commit_async(self) -> Any:
                def get(timeout: float) -> List[Any]:
                    good = all(p in zk.nodes and zk.nodes[p][2] == v for _, p, v in ops)
                    if good:
                        zk.committed.append(ops)
                        for op, p, _ in ops:
                            if op == "delete":
                                zk.nodes.pop(p, None)
                        return [True] * len(ops)
                    return [Exception("BadVersion")] * len(ops)

                return SimpleNamespace(get=get)

        return Tx()


SETTINGS = Settings({})
LEADER_PATH, MEMBER_PATH = "/service/chaosha/leader", "/service/chaosha/members/pg1"


def test_release_deletes_both_keys_in_one_transaction() -> None:
    zk = FakeZk({LEADER_PATH: (b"pg1", LEADER.session, 0), MEMBER_PATH: (b"{}", LEADER.session, 11)})
    assert fencing.release(zk, SETTINGS, LEADER, 1.0)["released"]  # type: ignore[arg-type]
    assert LEADER_PATH not in zk.nodes and MEMBER_PATH not in zk.nodes
    assert [op for op, _, _ in zk.committed[0]] == ["check", "check", "delete", "delete"]


@pytest.mark.parametrize(
    "nodes",
    [
        {LEADER_PATH: (b"pg2", 0x99, 0), MEMBER_PATH: (b"{}", LEADER.session, 11)},  # re-taken by pg2
        {LEADER_PATH: (b"pg1", 0x99, 0)},  # pg1 came back with a new session
        {LEADER_PATH: (b"pg1", LEADER.session, 0), MEMBER_PATH: (b"{}", LEADER.session, 12)},  # member changed
        {MEMBER_PATH: (b"{}", LEADER.session, 11)},  # the leader key is gone already
    ],
)
def test_a_key_that_is_no_longer_the_fenced_session_s_is_never_touched(nodes: Dict[str, Any]) -> None:
    zk = FakeZk(nodes)
    outcome = fencing.release(zk, SETTINGS, LEADER, 1.0)  # type: ignore[arg-type]
    assert not outcome["released"], outcome
    assert zk.nodes == nodes and zk.committed == []


def test_sync_standby_is_the_other_member_of_this_leader_s_sync_key() -> None:
    sync = "/service/chaosha/sync"

    def standby(body: Optional[bytes]) -> str:
        zk: Any = FakeZk({sync: (body, 0, 3)} if body else {})
        return sync_standby(zk, SETTINGS, "pg1", 1)

    assert standby(b'{"leader":"pg1","sync_standby":"pg2"}') == "pg2"
    assert standby(b'{"leader":"pg2","sync_standby":"pg1"}') == ""  # /sync of another leader
    assert standby(b'{"leader":"pg1","sync_standby":null}') == ""
    assert standby(None) == ""


class FakeContainer:
    def __init__(self, settings: Settings, states: List[str]) -> None:
        self.settings, self.states = settings, states
        self.id = "0123456789abcdef"
        self.attrs: Dict[str, Any] = {"State": {"Status": "running"}}
        self.registry_at_kill: List[Dict[str, Any]] = []

    def kill(self, signal: str) -> None:
        assert signal == "SIGKILL"
        self.registry_at_kill.append(list(state.pending(self.settings)))  # type: ignore[arg-type]

    def reload(self) -> None:
        self.attrs = {"State": {"Status": self.states.pop(0) if self.states else "exited"}}


def _settings(tmp_path: Path) -> Settings:
    return Settings({"CHAOSHA_STATE_DIR": str(tmp_path), "CHAOSHA_PROJECT": "p"})


def test_the_fence_is_recorded_before_the_kill_and_confirmed(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    found = FakeContainer(settings, ["running", "exited"])
    watch = SimpleNamespace(container=lambda member: found)
    done = fencing.fence(settings, watch, LEADER, "down", 2.0)  # type: ignore[arg-type]
    assert done["state"] == "exited"
    (recorded,) = found.registry_at_kill[0]
    assert (recorded["kind"], recorded["service"], recorded["session"]) == ("arbiter-fence", "pg1", LEADER.session)


def test_an_unconfirmed_fence_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(tmp_path)
    found = FakeContainer(settings, ["running"] * 10_000)
    watch = SimpleNamespace(container=lambda member: found)
    monkeypatch.setattr(fencing.lifecycle, "thaw", lambda c: "docker")
    with pytest.raises(ActivityFailed, match="not confirmed"):
        fencing.fence(settings, watch, LEADER, "paused", 0.3)  # type: ignore[arg-type]
    assert state.pending(settings)[0]["kind"] == "arbiter-fence"  # heal still undoes it


def test_no_container_no_fence_and_nothing_recorded(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    with pytest.raises(ActivityFailed, match="nothing to fence"):
        fencing.fence(settings, SimpleNamespace(container=lambda m: None), LEADER, "down", 1.0)  # type: ignore[arg-type]
    assert state.pending(settings) == []


def test_a_session_talks_while_its_last_response_changes() -> None:
    """``lresp`` is ZooKeeper's monotonic clock: only its changes, timed by
    our own clock, say whether the session talks."""
    talking = Talking(recent_s=2.0)
    s = LEADER.session
    assert talking.update(s, {"zk1": 100}, now=0.0) is True  # a first sample: not yet known silent
    assert talking.update(s, {"zk1": 900}, now=1.0) is True  # it got a response since
    assert talking.update(s, {"zk1": 900}, now=2.5) is True  # unchanged for 1.5 s only
    assert talking.update(s, {"zk1": 900}, now=3.1) is False  # unchanged for 2.1 s on every member
    assert talking.update(s, {"zk1": 900, "zk2": 5}, now=3.2) is True  # it reconnected elsewhere
    assert talking.update(s, {}, now=9.0) is False  # no member lists it
    assert talking.update(s, None, now=9.1) is None  # a member did not answer: no corroboration
    talking.forget(s)
    assert talking.update(s, {"zk1": 900}, now=10.0) is True


def test_a_deposed_holder_releases_nothing() -> None:
    nodes = {LEADER_PATH: (b"pg1", LEADER.session, 0), MEMBER_PATH: (b"{}", LEADER.session, 11)}
    zk = FakeZk(dict(nodes))  # our lock node is gone: our session expired, another instance holds the lock
    outcome = fencing.release(zk, SETTINGS, LEADER, 1.0, "/chaosha-arbiter/lock/x-lock-0001")  # type: ignore[arg-type]
    assert not outcome["released"] and zk.nodes == nodes
    zk.nodes["/chaosha-arbiter/lock/x-lock-0001"] = (b"me", 0x5, 0)
    assert fencing.release(zk, SETTINGS, LEADER, 1.0, "/chaosha-arbiter/lock/x-lock-0001")["released"]  # type: ignore[arg-type]


def test_the_host_cut_removes_its_own_rules_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from chaosha.clients import host_firewall

    calls: List[Tuple[str, ...]] = []
    listing = (
        "-P OUTPUT ACCEPT\n"
        "-A OUTPUT -d 172.18.0.5/32 -m comment --comment chaosha:p -j DROP\n"
        "-A OUTPUT -d 172.18.0.9/32 -m comment --comment chaosha:p-other -j DROP\n"
        "-A OUTPUT -d 10.0.0.1/32 -j DROP\n"
    )

    def iptables(*args: str) -> str:
        calls.append(args)
        return listing if args[0] == "-S" else ""

    monkeypatch.setattr(host_firewall, "_iptables", iptables)
    settings = Settings({"CHAOSHA_PROJECT": "p"})
    host_firewall.block(settings, "172.18.0.5")
    assert calls[-1] == ("-I", "OUTPUT", "-d", "172.18.0.5/32", "-m", "comment", "--comment", "chaosha:p", "-j",
                         "DROP")  # fmt: skip
    assert host_firewall.clear(settings) == 1
    assert calls[-1][:4] == ("-D", "OUTPUT", "-d", "172.18.0.5/32")


def test_a_node_answers_when_either_its_rest_api_or_postgres_does(monkeypatch: pytest.MonkeyPatch) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from chaosha.arbiter import observe
    from chaosha.config import PgNode

    node = PgNode("pg1", "127.0.0.1", 1, 2)
    with ThreadPoolExecutor(max_workers=2) as pool:
        for rest, postgres, expected in ((True, False, True), (False, True, True), (False, False, False)):
            monkeypatch.setattr(observe, "replica_status", lambda n, t, rest=rest: {"role": "x"} if rest else {})
            monkeypatch.setattr(observe, "_postgres_answers", lambda n, t, pg=postgres: pg)
            assert observe.answers(node, 0.1, pool) is expected
            assert observe.answers(node, 0.1) is expected


def test_the_options_a_started_instance_gets_come_back_whole_and_unknown_ones_are_refused(capsys):
    sent = ArbiterOptions(instance="a1", hold_s=2.5, session_s=4.0)
    assert ArbiterOptions.from_json(json.dumps(asdict(sent))) == sent
    # a misspelt option stops the instance before it looks at anything (exit 2, saying which)
    assert main(["--run-id", "r1", "--ledger", "/nonexistent/r1.jsonl", "--options", '{"hold": 2}']) == 2
    assert "unknown arbiter options ['hold']" in capsys.readouterr().err

"""Four-letter-word parsing (answers captured from the stack's ZooKeeper
3.8.0 containers), quorum arithmetic, the quorum guard and the raw-socket
TLS client."""

import socket
import ssl
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from chaoslib.exceptions import ActivityFailed

from chaosha.clients import ensemble, zk_tls
from chaosha.clients import zookeeper as client
from chaosha.clients.ensemble import (
    guard_removal,
    majority,
    parse_mntr,
    parse_srvr,
    summarize,
)
from chaosha.config import Settings, ZkNode

SRVR_FOLLOWER = (
    "Zookeeper version: 3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n"
    "Latency min/avg/max: 0/0.4477/12\nReceived: 998\nSent: 997\nConnections: 2\n"
    "Outstanding: 0\nZxid: 0x100000035\nMode: follower\nNode count: 15\n"
)
SRVR_LEADER = (
    "Zookeeper version: 3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n"
    "Latency min/avg/max: 0/0.339/10\nReceived: 968\nSent: 967\nConnections: 2\n"
    "Outstanding: 0\nZxid: 0x100000035\nMode: leader\nNode count: 15\n"
    "Proposal sizes last/min/max: 331/36/618\n"
)
SRVR_NOT_SERVING = "This ZooKeeper instance is not currently serving requests\n"
MNTR_LEADER = (
    "zk_version\t3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n"
    "zk_server_state\tleader\nzk_peer_state\tleading - broadcast\n"
    "zk_ephemerals_count\t3\nzk_num_alive_connections\t2\nzk_avg_latency\t0.3105\n"
    "zk_znode_count\t15\nzk_synced_followers\t2\nzk_synced_non_voting_followers\t0\n"
    "zk_synced_observers\t0\nzk_pending_syncs\t0\nzk_learners\t2\nzk_quorum_size\t3\n"
)
MNTR_FOLLOWER = (
    "zk_version\t3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n"
    "zk_server_state\tfollower\nzk_peer_state\tfollowing - broadcast\n"
    "zk_ephemerals_count\t3\nzk_num_alive_connections\t2\nzk_avg_latency\t0.4477\n"
    "zk_outstanding_requests\t0\nzk_znode_count\t15\nzk_quorum_size\t3\n"
)


# -- parsing ----------------------------------------------------------------


def test_parse_srvr_follower() -> None:
    parsed = parse_srvr(SRVR_FOLLOWER)
    assert parsed == {
        "serving": True,
        "mode": "follower",
        "version": "3.8.0",
        "zxid": "0x100000035",
        "epoch": 1,
        "node_count": 15,
        "connections": 2,
        "outstanding": 0,
        "latency_s": {"min": 0.0, "avg": 0.000448, "max": 0.012},
    }


def test_parse_srvr_leader_ignores_extra_lines() -> None:
    parsed = parse_srvr(SRVR_LEADER)
    assert parsed["mode"] == "leader"
    assert parsed["latency_s"]["max"] == 0.01


def test_parse_srvr_not_serving() -> None:
    assert parse_srvr(SRVR_NOT_SERVING) == {"serving": False, "mode": None}


def test_parse_srvr_tolerates_missing_fields() -> None:
    parsed = parse_srvr("Mode: standalone\n")
    assert parsed["mode"] == "standalone"
    assert parsed["zxid"] is None and parsed["node_count"] is None
    assert parsed["latency_s"] == {}


def test_parse_mntr_types_and_prefix() -> None:
    values = parse_mntr(MNTR_LEADER)
    assert values["server_state"] == "leader"
    assert values["peer_state"] == "leading - broadcast"
    assert values["synced_followers"] == 2
    assert values["avg_latency"] == 0.3105
    assert values["version"].startswith("3.8.0")  # type: ignore[union-attr]


def test_parse_mntr_not_serving() -> None:
    assert parse_mntr(SRVR_NOT_SERVING) == {}


# -- quorum -------------------------------------------------------------------


@pytest.mark.parametrize(("configured", "need"), [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3)])
def test_majority(configured: int, need: int) -> None:
    assert majority(configured) == need


def _modes(*modes: Any) -> Dict[str, Dict[str, Any]]:
    return {f"zk{i}": {"mode": mode} for i, mode in enumerate(modes, 1)}


def test_summarize_healthy() -> None:
    verdict = summarize(_modes("follower", "follower", "leader"))
    assert verdict == {
        "configured": 3,
        "majority": 2,
        "serving": ["zk1", "zk2", "zk3"],
        "leader": "zk3",
        "quorum": True,
    }


def test_summarize_one_down_keeps_quorum() -> None:
    verdict = summarize(_modes(None, "leader", "follower"))
    assert verdict["quorum"] and verdict["serving"] == ["zk2", "zk3"]


def test_summarize_no_leader_no_quorum() -> None:
    # the survivor of a lost majority answers but does not serve
    verdict = summarize(_modes(None, None, None))
    assert verdict["quorum"] is False and verdict["leader"] is None


def test_summarize_leader_without_majority_is_no_quorum() -> None:
    # a stale answer from a leader that lost its followers
    assert summarize(_modes("leader", None, None))["quorum"] is False


def test_summarize_observer_does_not_vote() -> None:
    assert summarize(_modes("leader", "observer", None))["quorum"] is False


def test_summarize_standalone_single_member() -> None:
    verdict = summarize({"zk1": {"mode": "standalone"}})
    assert verdict["quorum"] and verdict["leader"] == "zk1"


# -- the quorum guard ---------------------------------------------------------

CONFIGURED = ["zk1", "zk2", "zk3"]


def test_guard_allows_first_member() -> None:
    result = guard_removal("zk1", CONFIGURED, CONFIGURED, force=False)
    assert result == {
        "serving_before": CONFIGURED,
        "serving_after": ["zk2", "zk3"],
        "majority": 2,
        "quorum_after": True,
    }


def test_guard_refuses_second_member_naming_it_and_the_fix() -> None:
    with pytest.raises(ActivityFailed) as caught:
        guard_removal("zk2", ["zk2", "zk3"], CONFIGURED, force=False)
    message = str(caught.value)
    assert "'zk2'" in message and "pass force=true to break quorum" in message
    assert "1 of 3" in message


def test_guard_force_breaks_quorum() -> None:
    result = guard_removal("zk2", ["zk2", "zk3"], CONFIGURED, force=True)
    assert result["quorum_after"] is False and result["serving_after"] == ["zk3"]


def test_guard_member_already_down_changes_nothing() -> None:
    result = guard_removal("zk1", ["zk2", "zk3"], CONFIGURED, force=False)
    assert result["serving_after"] == ["zk2", "zk3"] and result["quorum_after"]


def test_guard_counts_serving_not_configured() -> None:
    # zk1 is configured but not serving: stopping zk2 would leave only zk3
    with pytest.raises(ActivityFailed):
        guard_removal("zk2", ["zk2", "zk3"], CONFIGURED, force=False)


def test_guard_five_members() -> None:
    five = [f"zk{i}" for i in range(1, 6)]
    assert guard_removal("zk1", five[:4], five, force=False)["quorum_after"]
    with pytest.raises(ActivityFailed):
        guard_removal("zk1", five[:3], five, force=False)


# -- survey over faked four-letter words ---------------------------------------


def test_survey_reports_unreachable_members(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = {
        ("zk1", "srvr"): SRVR_FOLLOWER,
        ("zk1", "mntr"): MNTR_FOLLOWER,
        ("zk2", "srvr"): SRVR_LEADER,
        ("zk2", "mntr"): MNTR_LEADER,
    }

    def fake(node: ZkNode, word: str, timeout: float, tls: ssl.SSLContext) -> str:
        if (node.name, word) not in answers:
            raise ActivityFailed(f"ZooKeeper {node.name} did not answer")
        return answers[(node.name, word)]

    monkeypatch.setattr(client, "four_letter_word", fake)
    monkeypatch.setattr(zk_tls, "client_context", lambda settings: ssl.create_default_context())
    state = ensemble.survey(Settings({}))
    assert state["leader"] == "zk2" and state["quorum"] is True
    assert state["serving"] == ["zk1", "zk2"]
    assert state["nodes"]["zk2"]["synced_followers"] == 2
    assert state["nodes"]["zk1"]["peer_state"] == "following - broadcast"
    zk3 = state["nodes"]["zk3"]
    assert zk3["reachable"] is False and zk3["mode"] is None and "zk3" in zk3["error"]
    assert "status" not in state


# -- the raw-socket client -----------------------------------------------------


@pytest.fixture
def tls(zk_credentials: Path) -> ssl.SSLContext:
    """chaosha's client context over the test credentials."""
    return zk_tls.client_context(Settings({zk_tls.TLS_DIR_KEY: str(zk_credentials)}))


def _server_context(folder: Path) -> ssl.SSLContext:
    """What ZooKeeper does: its certificate, a client certificate from the CA required."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "server.pem")
    context.load_verify_locations(folder / "ca.pem")
    context.verify_mode = ssl.CERT_REQUIRED
    return context


@pytest.fixture
def fake_server(zk_credentials: Path) -> Iterator[Dict[str, Any]]:
    """A one-shot TLS server answering per the ``reply`` entry (closing
    without close_notify, as ZooKeeper does)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(0.05)  # so the loop sees ``stop`` (close() does not wake accept)
    state: Dict[str, Any] = {
        "port": listener.getsockname()[1],
        "reply": b"imok",
        "hang": False,
        "received": [],
        "tls": _server_context(zk_credentials),
    }
    received: List[bytes] = state["received"]
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(5)
            try:
                secure = state["tls"].wrap_socket(conn, server_side=True)  # takes over conn
                received.append(secure.recv(16))
            except (ssl.SSLError, OSError):
                conn.close()
                continue
            with secure:
                if state["hang"]:
                    stop.wait(3)
                    continue
                secure.sendall(state["reply"])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield state
    stop.set()
    thread.join(timeout=5)
    listener.close()


def test_four_letter_word_reads_the_whole_answer(fake_server: Dict[str, Any], tls: ssl.SSLContext) -> None:
    fake_server["reply"] = SRVR_LEADER.encode()
    node = ZkNode("zk1", "127.0.0.1", fake_server["port"])
    assert client.four_letter_word(node, "srvr", 2, tls) == SRVR_LEADER
    assert fake_server["received"] == [b"srvr"]


def test_four_letter_word_deadline(fake_server: Dict[str, Any], tls: ssl.SSLContext) -> None:
    fake_server["hang"] = True
    node = ZkNode("zk1", "127.0.0.1", fake_server["port"])
    with pytest.raises(ActivityFailed, match="zk1 .*did not answer 'srvr'"):
        client.four_letter_word(node, "srvr", 0.3, tls)


def test_four_letter_word_not_whitelisted(fake_server: Dict[str, Any], tls: ssl.SSLContext) -> None:
    fake_server["reply"] = b"conf is not executed because it is not in the whitelist.\n"
    node = ZkNode("zk2", "127.0.0.1", fake_server["port"])
    with pytest.raises(ActivityFailed, match="4lw.commands.whitelist"):
        client.four_letter_word(node, "conf", 2, tls)


def test_four_letter_word_refused(tls: ssl.SSLContext) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, not listening: connection refused
        with pytest.raises(ActivityFailed, match="is its container running"):
            client.four_letter_word(ZkNode("zk3", "127.0.0.1", port), "srvr", 1, tls)


def test_four_letter_word_checks_the_server_certificate(
    fake_server: Dict[str, Any], tls: ssl.SSLContext, tmp_path: Path
) -> None:
    """A server whose certificate another CA signed (a stale stack, an
    impostor) is refused, and the message says what to do."""
    other = tmp_path / "other.tls"
    zk_tls.generate(other, ["127.0.0.1"])
    foreign = zk_tls.client_context(Settings({zk_tls.TLS_DIR_KEY: str(other)}))
    node = ZkNode("zk1", "127.0.0.1", fake_server["port"])
    with pytest.raises(ActivityFailed, match="TLS handshake failed.*chaosha stack up"):
        client.four_letter_word(node, "srvr", 2, foreign)
    assert fake_server["received"] == []


def test_four_letter_word_checks_the_host_name(fake_server: Dict[str, Any], tmp_path: Path) -> None:
    """A server certificate of the right CA that does not name the host
    chaosha connects to (127.0.0.1) is refused."""
    other = tmp_path / "zk1-only.tls"
    zk_tls.generate(other, ["zk1"])
    fake_server["tls"] = _server_context(other)
    mine = zk_tls.client_context(Settings({zk_tls.TLS_DIR_KEY: str(other)}))
    with pytest.raises(ActivityFailed, match="TLS handshake failed.*IP address mismatch"):
        client.four_letter_word(ZkNode("zk1", "127.0.0.1", fake_server["port"]), "srvr", 2, mine)
    assert fake_server["received"] == []


def test_node_status_never_raises(fake_server: Dict[str, Any], tls: ssl.SSLContext) -> None:
    fake_server["hang"] = True
    status = ensemble.node_status(ZkNode("zk1", "127.0.0.1", fake_server["port"]), 0.2, tls)
    assert status["reachable"] is False and status["serving"] is False
    assert status["error"]


# -- settings -------------------------------------------------------------------


def test_hosts_and_patroni_paths() -> None:
    settings = Settings({"CHAOSHA_ZK1_PORT": "42009"})
    assert client.hosts(settings) == "127.0.0.1:42009,127.0.0.1:22181,127.0.0.1:32181"
    assert client.patroni_path(settings, "leader") == "/service/chaosha/leader"
    assert client.patroni_path(settings, "members", "pg1") == "/service/chaosha/members/pg1"
    odd = Settings({"CHAOSHA_PATRONI_NAMESPACE": "service", "CHAOSHA_PATRONI_SCOPE": "x"})
    assert client.patroni_path(odd, "leader") == "/service/x/leader"

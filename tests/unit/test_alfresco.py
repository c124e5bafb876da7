"""chaosha.alfresco against the REST API v1 stub (tests/alfresco_stub.py)."""

import base64
import inspect
import socket
import time
from typing import Any, Dict, Iterator

import pytest
import requests
from alfresco_stub import AUTH, CORE, AlfrescoStub
from chaoslib.exceptions import ActivityFailed

from chaosha.alfresco import probes
from chaosha.clients.alfresco import READY_PATH, client
from chaosha.config import load

STEPS = ["create", "upload", "read-node", "read-content", "delete", "verify-gone"]


@pytest.fixture
def stub() -> Iterator[AlfrescoStub]:
    with AlfrescoStub() as server:
        yield server


def cfg(stub: AlfrescoStub, **extra: Any) -> Dict[str, Any]:
    values: Dict[str, Any] = {
        "CHAOSHA_ALFRESCO_URL": stub.url,
        "CHAOSHA_ALFRESCO_USER": "admin",
        "CHAOSHA_ALFRESCO_PASSWORD": "admin",
        "CHAOSHA_TIMEOUT": "5",
        "CHAOSHA_ENV_FILE": "/nonexistent/.env",
    }
    values.update({k.upper(): v for k, v in extra.items()})
    return values


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def creates(stub: AlfrescoStub) -> int:
    return stub.count("POST", "/nodes/-root-/children")


# -- ready ------------------------------------------------------------------
def test_ready_true_with_alfresco_message(stub: AlfrescoStub) -> None:
    result = probes.ready(configuration=cfg(stub))
    assert result["ready"] is True
    assert result["http_status"] == 200
    assert result["message"] == "readyProbe: Success - Tested"
    assert result["took_s"] >= 0
    assert "status" not in result
    assert stub.calls == [("GET", READY_PATH, {})]


def test_ready_503_returns_false_with_reason(stub: AlfrescoStub) -> None:
    stub.ready_fails = True
    result = probes.ready(configuration=cfg(stub))
    assert result["ready"] is False
    assert result["http_status"] == 503
    assert "readyProbe: Failure - Tested" in result["message"]


def test_ready_needs_no_credentials(stub: AlfrescoStub) -> None:
    result = probes.ready(configuration=cfg(stub, chaosha_alfresco_password="wrong"))
    assert result["ready"] is True


def test_ready_unreachable_is_false_and_quick() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    start = time.monotonic()
    result = probes.ready(timeout_s=10, configuration={"CHAOSHA_ALFRESCO_URL": url})
    assert time.monotonic() - start < 3
    assert result["ready"] is False
    assert result["http_status"] is None
    assert "refused" in result["message"].lower()
    assert url in result["message"]


def test_ready_slow_repository_times_out_without_raising(stub: AlfrescoStub) -> None:
    stub.delay = 1.5
    start = time.monotonic()
    result = probes.ready(timeout_s=0.3, configuration=cfg(stub))
    assert time.monotonic() - start < 1.2
    assert result["ready"] is False
    assert "no answer within 0.3s" in result["message"]


def test_ready_rejects_bad_timeout(stub: AlfrescoStub) -> None:
    with pytest.raises(ActivityFailed, match="timeout"):
        probes.ready(timeout_s=0, configuration=cfg(stub))


# -- write_succeeds: happy paths ---------------------------------------------
def test_write_happy_path_records_every_step(stub: AlfrescoStub) -> None:
    result = probes.write_succeeds(configuration=cfg(stub))
    assert result["ok"] is True, result
    assert result["outcome"] == "ok"
    assert result["error"] is None
    assert result["committed_late"] is False
    assert "status" not in result
    assert list(result["steps"]) == STEPS
    for step in STEPS:
        assert isinstance(result["steps"][step]["s"], float)
    assert {s: v["http_status"] for s, v in result["steps"].items()} == {
        "create": 201,
        "upload": 200,
        "read-node": 200,
        "read-content": 200,
        "delete": 204,
        "verify-gone": 404,
    }
    assert result["name"].startswith("probe-") and result["name"].endswith(".txt")
    assert result["sha256"] == result["sha256_read"]
    # exactly one create, with the contract's body and query
    assert creates(stub) == 1
    post = next(c for c in stub.calls if c[0] == "POST")
    assert post[2] == {"autoRename": "false"}
    # the node went into chaos-probe and was deleted permanently
    assert ("DELETE", f"{CORE}/nodes/{result['node_id']}", {"permanent": "true"}) in stub.calls
    assert stub.find("chaos-probe") is not None
    assert stub.find(f"chaos-probe/{result['name']}") is None
    assert stub.files() == []


def test_write_names_are_unique_and_folder_nested(stub: AlfrescoStub) -> None:
    first = probes.write_succeeds("chaos/probe/", configuration=cfg(stub))
    second = probes.write_succeeds("chaos/probe", configuration=cfg(stub))
    assert first["ok"] and second["ok"]
    assert first["name"] != second["name"]
    assert first["folder"] == "chaos/probe"
    assert stub.find("chaos/probe") is not None


def test_write_with_ticket_auth_sends_basic_ticket(stub: AlfrescoStub) -> None:
    result = probes.write_succeeds(configuration=cfg(stub, chaosha_alfresco_auth="ticket"))
    assert result["ok"] is True, result
    assert result["steps"]["login"]["http_status"] == 201
    assert stub.count("POST", f"{AUTH}/tickets") == 1
    assert len(stub.tickets) == 1


def test_write_slow_responses_still_succeed_and_timings_show_it(stub: AlfrescoStub) -> None:
    stub.delay = 0.2
    result = probes.write_succeeds(timeout_s=10, configuration=cfg(stub))
    assert result["ok"] is True, result
    assert all(step["s"] >= 0.19 for step in result["steps"].values())


# -- write_succeeds: failures ------------------------------------------------
def test_create_conflict_is_reconciled_as_committed_late(stub: AlfrescoStub) -> None:
    stub.create_mode = "conflict"
    result = probes.write_succeeds(configuration=cfg(stub))
    assert result["outcome"] == "committed-late"
    assert result["ok"] is True, result
    assert result["committed_late"] is True
    assert result["steps"]["create"]["http_status"] == 409
    assert result["steps"]["reconcile"]["http_status"] == 200
    assert creates(stub) == 1
    assert ("GET", f"{CORE}/nodes/-root-", {"relativePath": f"chaos-probe/{result['name']}"}) in stub.calls
    assert stub.count("DELETE", result["node_id"]) == 1
    assert stub.files() == []


def test_create_commit_then_timeout_is_committed_late_without_a_second_create(stub: AlfrescoStub) -> None:
    stub.create_mode, stub.hang = "commit-timeout", 3.0
    start = time.monotonic()
    result = probes.write_succeeds(timeout_s=8, configuration=cfg(stub, chaosha_timeout="0.5"))
    assert time.monotonic() - start < 3
    assert result["outcome"] == "committed-late", result
    assert result["steps"]["create"]["http_status"] is None
    assert "no answer within 0.5s" in result["steps"]["create"]["error"]
    assert creates(stub) == 1
    assert result["ok"] is True
    assert stub.count("DELETE", result["node_id"]) == 1
    assert stub.files() == []


def test_create_commit_500_is_committed_late(stub: AlfrescoStub) -> None:
    stub.create_mode = "commit-500"
    result = probes.write_succeeds(configuration=cfg(stub))
    assert result["outcome"] == "committed-late"
    assert result["steps"]["create"]["http_status"] == 500
    assert creates(stub) == 1
    assert stub.files() == []


def test_create_lost_is_reported_and_not_retried(stub: AlfrescoStub) -> None:
    stub.create_mode = "lost"
    result = probes.write_succeeds(settle_s=0.3, configuration=cfg(stub))
    assert result["ok"] is False
    assert result["outcome"] == "lost"
    assert "write lost" in result["error"]
    assert result["node_id"] is None
    assert result["steps"]["create"]["http_status"] == 500
    assert result["steps"]["reconcile"]["http_status"] == 404
    assert result["steps"]["reconcile"]["attempts"] >= 2  # looked again during settle
    assert creates(stub) == 1
    assert stub.count("PUT", "/content") == 0
    assert stub.count("DELETE", "") == 0


def test_content_mismatch_fails_and_still_cleans_up(stub: AlfrescoStub) -> None:
    stub.content_mismatch = True
    result = probes.write_succeeds(configuration=cfg(stub))
    assert result["ok"] is False
    assert result["outcome"] == "failed"
    assert result["error"].startswith("content-mismatch")
    assert result["sha256"] != result["sha256_read"]
    assert result["steps"]["delete"]["http_status"] == 204
    assert stub.files() == []


def test_node_surviving_its_delete_is_an_error(stub: AlfrescoStub) -> None:
    stub.delete_mode = "noop"
    result = probes.write_succeeds(configuration=cfg(stub))
    assert result["ok"] is False
    assert result["outcome"] == "failed"
    assert result["steps"]["delete"]["http_status"] == 204
    assert result["steps"]["verify-gone"]["http_status"] == 200
    assert "verify-gone" in result["error"] and result["node_id"] in result["error"]


def test_delete_answering_500_but_committed_is_confirmed_by_the_404(stub: AlfrescoStub) -> None:
    stub.delete_mode = "commit-500"
    result = probes.write_succeeds(configuration=cfg(stub))
    assert result["ok"] is True, result
    assert result["steps"]["delete"]["http_status"] == 500
    assert result["steps"]["verify-gone"]["http_status"] == 404
    assert stub.count("DELETE", result["node_id"]) == 1
    assert stub.files() == []


def test_wrong_credentials_fail_clearly(stub: AlfrescoStub) -> None:
    result = probes.write_succeeds(configuration=cfg(stub, chaosha_alfresco_password="nope"))
    assert result["ok"] is False
    assert result["outcome"] == "failed"
    assert result["steps"]["create"]["http_status"] == 401
    assert "CHAOSHA_ALFRESCO_PASSWORD" in result["error"]
    assert "reconcile" not in result["steps"]
    assert stub.files() == []


def test_wrong_credentials_with_ticket_fail_at_login(stub: AlfrescoStub) -> None:
    result = probes.write_succeeds(
        configuration=cfg(stub, chaosha_alfresco_auth="ticket", chaosha_alfresco_password="nope")
    )
    assert result["ok"] is False
    assert "403" in result["error"] and "CHAOSHA_ALFRESCO_PASSWORD" in result["error"]
    assert creates(stub) == 0


def test_write_unreachable_fails_fast_without_reconciling() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    start = time.monotonic()
    result = probes.write_succeeds(
        timeout_s=10, configuration={"CHAOSHA_ALFRESCO_URL": url, "CHAOSHA_ENV_FILE": "/nonexistent/.env"}
    )
    assert time.monotonic() - start < 3
    assert result["ok"] is False
    assert result["outcome"] == "failed"
    assert "refused" in result["error"].lower()
    assert list(result["steps"]) == ["create"]  # a refused connection sent nothing


def test_repository_failing_after_create_leaves_outcome_unknown(stub: AlfrescoStub) -> None:
    stub.create_mode = "lost"
    stub.down_after_create = True  # every later node call answers 500
    start = time.monotonic()
    result = probes.write_succeeds(timeout_s=1.5, settle_s=0.2, configuration=cfg(stub))
    assert time.monotonic() - start < 2.2
    assert result["ok"] is False
    assert result["outcome"] == "failed"  # neither "lost" nor "committed-late": unknown
    assert "outcome unknown" in result["error"]
    assert result["steps"]["reconcile"]["attempts"] >= 2
    assert creates(stub) == 1


def test_total_deadline_bounds_a_slow_repository(stub: AlfrescoStub) -> None:
    stub.delay = 0.4
    start = time.monotonic()
    result = probes.write_succeeds(timeout_s=1.0, settle_s=0, configuration=cfg(stub))
    assert time.monotonic() - start < 1.6
    assert result["ok"] is False
    assert "deadline of 1s exceeded" in result["error"]
    assert result["steps"]["delete"]["skipped"] == "deadline"
    assert "may be left in chaos-probe" in result["error"]


def test_total_deadline_caps_each_call(stub: AlfrescoStub) -> None:
    stub.delay = 2.0  # longer than the probe's deadline, shorter than CHAOSHA_TIMEOUT
    start = time.monotonic()
    result = probes.write_succeeds(timeout_s=0.8, settle_s=0, configuration=cfg(stub))
    assert time.monotonic() - start < 1.4
    assert result["ok"] is False
    assert "no answer within 0.8s" in result["steps"]["create"]["error"]
    assert result["outcome"] == "failed" and "outcome unknown" in result["error"]
    assert creates(stub) == 1


@pytest.mark.parametrize("folder", ["", "/", "a:b", "bad.", "a//b", "x|y"])
def test_bad_folder_is_rejected_with_a_fix(stub: AlfrescoStub, folder: str) -> None:
    with pytest.raises(ActivityFailed, match="Company Home"):
        probes.write_succeeds(folder, configuration=cfg(stub))
    assert stub.calls == []


# -- client and stub contract -------------------------------------------------
def test_client_sets_timeouts_and_base_url(stub: AlfrescoStub) -> None:
    with client(load(cfg(stub)), timeout=7) as session:
        assert session.timeouts() == (5.0, 7)
        assert session.timeouts(2) == (2, 2)
        response = session.get(f"{CORE}/nodes/-root-")
    assert response.status_code == 200
    assert response.json()["entry"]["isFolder"] is True


def test_client_rejects_bad_url_and_auth_mode() -> None:
    with pytest.raises(ActivityFailed, match="CHAOSHA_ALFRESCO_URL"):
        client(load({"CHAOSHA_ALFRESCO_URL": "localhost:8080"}))
    with pytest.raises(ActivityFailed, match="CHAOSHA_ALFRESCO_AUTH"):
        client(load({"CHAOSHA_ALFRESCO_AUTH": "kerberos"}))


def test_stub_follows_the_error_contract(stub: AlfrescoStub) -> None:
    response = requests.get(f"{stub.url}{CORE}/nodes/-root-", timeout=5)
    assert response.status_code == 401
    error = response.json()["error"]
    assert set(error) == {"errorKey", "statusCode", "briefSummary", "stackTrace", "descriptionURL", "logId"}
    assert error["statusCode"] == 401
    ticket = requests.post(f"{stub.url}{AUTH}/tickets", json={"userId": "admin", "password": "admin"}, timeout=5)
    assert ticket.status_code == 201
    token = base64.b64encode(ticket.json()["entry"]["id"].encode()).decode()
    me = requests.get(f"{stub.url}{AUTH}/tickets/-me-", headers={"Authorization": f"Basic {token}"}, timeout=5)
    assert me.status_code == 200


def test_activity_signatures_follow_chaos_toolkit_conventions() -> None:
    assert probes.__all__ == ["ready", "write_succeeds"]
    for name in probes.__all__:
        params = list(inspect.signature(getattr(probes, name)).parameters.values())
        assert [p.name for p in params[-2:]] == ["configuration", "secrets"]
        for param in params:
            assert param.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
            assert param.annotation is not inspect.Parameter.empty
            assert not isinstance(param.annotation, str)
            assert "Optional" not in str(param.annotation)
        assert getattr(probes, name).__doc__

"""One vocabulary on the activity surface, as ``chaos discover`` shows it:
what an activity aims at is ``target``, every duration is a number of
seconds named ``*_s``, and results report durations in seconds (``*_s``)."""

import re
import socket
import ssl
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from alfresco_stub import AlfrescoStub

import chaosha
from chaosha.alfresco import probes as alfresco
from chaosha.clients import ensemble
from chaosha.config import ZkNode
from chaosha.docker import actions as docker_actions
from chaosha.integrity.verdict import verdict_from_ledger
from chaosha.patroni import probes as patroni
from chaosha.postgres import probes as postgres

SOURCE = Path(chaosha.__file__).resolve().parent
LEDGER = Path(__file__).resolve().parents[1] / "data" / "journals" / "master-kill-ledger.jsonl"
# Names an aimed-at thing must not carry (it is a ``target``), and the
# documented exceptions as (activity, parameter): why.
TARGET_WORDS = {"service", "node", "port", "member"}
EXCEPTIONS: Dict[Tuple[str, str], str] = {}
# Parameter names that are durations unless they end in ``_s``.
DURATION_WORDS = re.compile(r"(^|_)(timeout|grace|settle|wait|duration|delay|jitter|interval)$")
LOOKS_LIKE_DURATION = re.compile(r"^\s*\d+(\.\d+)?\s*(ms|s|m|min|h)\s*$")


def parameters() -> Iterator[Tuple[str, Dict[str, Any]]]:
    """(module.activity, argument) for every probe and action argument."""
    for activity in chaosha.discover()["activities"]:
        if activity["type"] == "control":
            continue
        for arg in activity["arguments"]:
            if arg["name"] not in ("configuration", "secrets"):
                yield f"{activity['mod']}.{activity['name']}", arg


def test_what_an_activity_aims_at_is_called_target() -> None:
    wrong = [
        (where, arg["name"])
        for where, arg in parameters()
        if arg["name"] in TARGET_WORDS and (where.rsplit(".", 1)[1], arg["name"]) not in EXCEPTIONS
    ]
    assert wrong == [], "name it `target` (or document the exception in EXCEPTIONS)"


def test_every_s_parameter_is_a_number() -> None:
    assert [
        (w, a["name"], a.get("type"))
        for w, a in parameters()
        if a["name"].endswith("_s") and a.get("type") != "number"
    ] == []


def test_duration_parameters_are_named_s() -> None:
    assert [(w, a["name"]) for w, a in parameters() if DURATION_WORDS.search(a["name"])] == []


def test_no_string_parameter_defaults_to_a_duration() -> None:
    assert [
        (w, a["name"], a.get("default"))
        for w, a in parameters()
        if a.get("type") == "string" and LOOKS_LIKE_DURATION.match(str(a.get("default", "")))
    ] == []


def keys(value: Any) -> Iterator[str]:
    """Every key of nested dicts and lists."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield str(key)
            yield from keys(inner)
    elif isinstance(value, (list, tuple)):
        for inner in value:
            yield from keys(inner)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def samples() -> List[Tuple[str, Any]]:
    """Results of activities (and the helpers that shape them) that need no stack."""
    port = str(closed_port())
    nowhere = {
        "CHAOSHA_ENV_FILE": "/nonexistent/.env",
        "CHAOSHA_TIMEOUT": "2",
        "CHAOSHA_PG1_API_PORT": port,
        "CHAOSHA_PG2_API_PORT": port,
    }
    with AlfrescoStub() as stub:
        alf = {
            "CHAOSHA_ALFRESCO_URL": stub.url,
            "CHAOSHA_ALFRESCO_USER": "admin",
            "CHAOSHA_ALFRESCO_PASSWORD": "admin",
            "CHAOSHA_ENV_FILE": "/nonexistent/.env",
        }
        found = [
            ("alfresco.ready", alfresco.ready(5, alf)),
            ("alfresco.write_succeeds", alfresco.write_succeeds("chaos-probe", 10, 1, alf)),
        ]
    srvr = "Zookeeper version: 3.8.0-1\nLatency min/avg/max: 0/0.4/12\nMode: follower\nZxid: 0x1\n"
    return found + [
        ("postgres.write_check", postgres.write_check(port, 1, nowhere)),
        ("patroni.cluster_health", patroni.cluster_health(1048576, configuration=nowhere)),
        ("zookeeper.parse_srvr", ensemble.parse_srvr(srvr)),
        (
            "zookeeper.node_status",
            ensemble.node_status(ZkNode("zk1", "127.0.0.1", int(port)), 1, ssl.create_default_context()),
        ),
        ("docker result", docker_actions._result("pg1", "kill", time.time())),
        ("verdict", verdict_from_ledger(LEDGER, [])),
    ]


def test_results_give_durations_in_seconds() -> None:
    for name, result in samples():
        # The verdict's fields keep their names (its incidents' ``seconds`` among them).
        vague = () if name == "verdict" else ("seconds", "elapsed")
        bad = [k for k in keys(result) if k.endswith("_ms") or k == "ms" or k in vague]
        assert bad == [], (name, bad)


@pytest.mark.parametrize("path", sorted(SOURCE.rglob("*.py")), ids=lambda p: str(p.relative_to(SOURCE)))
def test_no_millisecond_result_keys_in_the_source(path: Path) -> None:
    text = path.read_text()
    found = re.findall(r"""["'](\w*_ms|ms)["']\s*:|\b(\w+_ms)=""", text)
    allowed = {("ms", "")} if path.name == "timing.py" else set()  # parse_duration's unit table
    assert set(found) <= allowed, found

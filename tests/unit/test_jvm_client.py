"""The JVM client's pure parts: the profile's settings as the one truth,
the config file the client reads, and the verdict of a retrying client on
hand-made ledgers (duplicates explained, unexplained and committed twice)."""

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any, List

import pytest
import yaml
from chaoslib.exceptions import ActivityFailed
from ledgers import Rec, T, header

from chaosha.alfresco import jvm
from chaosha.alfresco.actions import client_config
from chaosha.config import load
from chaosha.integrity.verdict import verdict_from_records

PROFILE = yaml.safe_load(jvm.COMPOSE_FILE.read_text())["services"]["alfresco"]["environment"]["JAVA_OPTS"]


def settings(**extra: str) -> Any:
    return load({"CHAOSHA_ALFRESCO_DB_PASSWORD": "s3cret", "CHAOSHA_RW_PORT": "27000", **extra})


def test_the_profile_is_the_one_truth_of_every_db_setting() -> None:
    found = jvm.profile_settings()
    # every -Ddb.* word of the profile, and nothing else, with its value
    words = [w for w in PROFILE.split() if w.startswith("-Ddb.")]
    assert {w[2:].split("=", 1)[0] for w in words} == set(found)
    assert found["db.pool.validate.query"] == "SELECT 1"  # SELECT\ 1 is one shell word
    assert found["db.password"].startswith("${CHAOSHA_ALFRESCO_DB_PASSWORD")
    effective = jvm.client_settings(settings())
    for key, value in found.items():
        if key not in ("db.url", "db.password"):
            assert effective[key] == value, key
    assert effective["db.password"] == "s3cret"
    profile_options = found["db.url"].split("?", 1)[1]
    assert effective["db.url"] == f"jdbc:postgresql://127.0.0.1:27000/alfresco?{profile_options}"


def test_what_the_profile_leaves_out_takes_alfrescos_defaults() -> None:
    effective = jvm.client_settings(settings(), "rw", None, {"db.url": "jdbc:postgresql://h:1/db"})
    assert effective["db.pool.evict.interval"] == "600000" and effective["db.pool.evict.validate"] == "false"
    assert effective["server.transaction.max-retries"] == "40"


def test_overrides_change_a_known_key_or_a_url_option_only() -> None:
    effective = jvm.client_settings(
        settings(), "rw", {"db.pool.validate.borrow": False, "url.socketTimeout": 10, "url.loginTimeout": "3"}
    )
    assert effective["db.pool.validate.borrow"] == "false"
    assert "socketTimeout=10" in effective["db.url"] and "loginTimeout=3" in effective["db.url"]
    assert "socketTimeout=300" not in effective["db.url"]
    with pytest.raises(ActivityFailed, match="unknown client setting"):
        jvm.client_settings(settings(), "rw", {"db.pool.validate.borow": "true"})


def test_a_missing_password_is_refused_with_what_to_do() -> None:
    with pytest.raises(ActivityFailed, match="CHAOSHA_ALFRESCO_DB_PASSWORD is not set"):
        jvm.client_settings(load({"CHAOSHA_ALFRESCO_DB_PASSWORD": "", "CHAOSHA_ENV_FILE": "/nonexistent"}))


@pytest.mark.parametrize(
    ("opts", "expected"),
    [
        (
            "-Ddb.a=1 -Dother=2 -Dserver.transaction.max-retries=5",
            {"db.a": "1", "server.transaction.max-retries": "5"},
        ),
        ('-Ddb.q=SELECT\\ 1 -Dx="a b"', {"db.q": "SELECT 1"}),
        ("-Ddb.p=${PW:?missing: run 'x y'} -Ddb.b=2", {"db.p": "${PW:?missing: run 'x y'}", "db.b": "2"}),
    ],
)
def test_java_opts_words(opts: str, expected: Rec) -> None:
    assert jvm.parse_java_opts(opts) == expected


def test_jdbc_url_rewrite_and_bad_urls() -> None:
    assert jvm.jdbc_url("jdbc:postgresql://haproxy:5432/alfresco", "127.0.0.1", 5) == (
        "jdbc:postgresql://127.0.0.1:5/alfresco"
    )
    assert jvm.url_database("jdbc:postgresql://h:1/alfresco?x=1") == "alfresco"
    with pytest.raises(ActivityFailed):
        jvm.jdbc_url("jdbc:mysql://h/db", "h", 1)


def test_the_config_carries_the_writers_ledger_sql_with_jdbc_placeholders() -> None:
    values = client_config(settings(), "rw", None, {"duration_s": 5.0, "threads": 2})
    assert values["chaosha.database"] == "alfresco" and values["chaosha.members"] == "pg1,pg2"
    sql = values["chaosha.ledger_insert_sql"]
    assert sql.startswith("INSERT INTO chaosha_ledger (run, id) VALUES (?, ?) RETURNING")
    assert "%s" not in sql and values["chaosha.threads"] == "2"


@pytest.mark.skipif(shutil.which("java") is None, reason="needs a JDK")
def test_java_reads_the_properties_file_back_exactly(tmp_path: Path) -> None:
    tricky = {"a.b": "SELECT 1", "c": " lead\\back\tslash = : #x", "d": "caf\u00e9 \u20ac", "#e": "!"}
    path = tmp_path / "c.properties"
    path.write_text(jvm.properties_text(tricky))
    src = tmp_path / "Dump.java"
    src.write_text(
        "import java.util.*; import java.io.*; public class Dump { public static void main(String[] a) "
        "throws Exception { Properties p = new Properties(); p.load(new FileInputStream(a[0])); "
        "for (String k : new TreeSet<>(p.stringPropertyNames())) "
        'System.out.println(k + "\\u0001" + p.getProperty(k)); } }'
    )
    out = subprocess.run(["java", str(src), str(path)], capture_output=True, text=True, timeout=60, check=True)
    back = dict(line.split("\x01", 1) for line in out.stdout.splitlines())
    assert back == tricky


# --- the verdict of a retrying client --------------------------------------


def a(i: int, op: int, t: float, r: str = "ok", tr: int = 1, node: str = "pg1", **extra: Any) -> Rec:
    rec: Rec = {"k": "w", "id": i, "op": op, "try": tr, "t0": T + t, "t1": T + t + 0.01, "r": r, **extra}
    if r == "ok":
        rec.update(addr="10.0.0.1" if node == "pg1" else "10.0.0.2", member=node, tl=1 if node == "pg1" else 2)
    return rec


def op(n: int, t0: float, t1: float, r: str = "ok", tries: int = 1) -> Rec:
    return {"k": "op", "op": n, "t0": T + t0, "t1": T + t1, "r": r, "tries": tries}


def failover_ledger() -> List[Rec]:
    """Op 1 ok; op 2: its commit in doubt (it did commit), the retry
    refused as a duplicate; op 3: a failed attempt, then ok on pg2."""
    return [
        header(client="jdbc"),
        a(1, 1, 0.0),
        op(1, 0.0, 0.01),
        a(2, 2, 1.0, "in-doubt", err="EOF"),
        a(3, 2, 3.0, "failed", tr=2, dup=True, state="23505"),
        op(2, 1.0, 3.01, "duplicate", 2),
        a(4, 3, 1.1, "failed", stale=True, state="08006"),
        a(5, 3, 4.0, tr=2, node="pg2"),
        op(3, 1.1, 4.01, "ok", 2),
        {"k": "end", "t": T + 5, "last_id": 5},
    ]


def audit(final: List[int]) -> Rec:
    node = {"reachable": True, "timeline": 2, "caught_up": True, "ids": final}
    return {
        "nodes": {
            "pg1": {**node, "in_recovery": True, "address": "10.0.0.1"},
            "pg2": {**node, "in_recovery": False, "address": "10.0.0.2"},
        }
    }


def test_a_retried_commit_that_had_committed_is_a_duplicate_not_a_loss() -> None:
    final = [1, 2, 5]
    v = verdict_from_records(failover_ledger(), final, audit(final))
    assert v["passed"] is True, v["reasons"]
    assert (v["lost"], v["recovered"], v["failed_committed"]) == (0, 1, 0)
    assert (v["ops"], v["attempts"], v["retries"], v["failed_attempts"]) == (3, 5, 2, 3)
    assert (v["duplicates"], v["duplicate_unexplained"], v["duplicate_commits"]) == (1, 0, 0)
    assert v["stale_connections"] == 1
    assert v["ops_by_outcome"] == {"ok": 2, "duplicate": 1} and v["app_failures"] == 1
    assert v["app_rto_s"] == pytest.approx(3.0)  # first failure at 1.11 (op 3), next commit at 4.01
    assert v["longest_op_s"] == pytest.approx(2.91)  # op 3: 1.1 -> 4.01
    json.dumps(v)


def test_a_duplicate_refusal_without_an_earlier_commit_is_caught() -> None:
    final = [1, 5]  # op 2's first attempt is not there: what did the retry clash with?
    v = verdict_from_records(failover_ledger(), final, audit(final))
    assert v["duplicate_unexplained"] == 1 and v["duplicate_unexplained_ops"] == [2]
    assert v["passed"] is False and any("refused as duplicates" in r for r in v["reasons"])


def test_an_operation_committed_twice_is_caught() -> None:
    records = failover_ledger()
    records[4] = a(3, 2, 3.0, tr=2, node="pg2")  # the retry committed too: no unique name
    final = [1, 2, 3, 5]
    v = verdict_from_records(records, final, audit(final))
    assert v["duplicate_commits"] == 1 and v["duplicate_commit_ops"] == [2]
    assert v["passed"] is False and any("more than once" in r for r in v["reasons"])


def test_a_lost_commit_of_a_retried_operation_is_lost() -> None:
    final = [1, 2]  # op 3's acknowledged retry (id 5) is missing
    v = verdict_from_records(failover_ledger(), final, audit(final))
    assert v["lost"] == 1 and v["lost_ids"] == [5] and v["passed"] is False


def test_the_writers_ledger_has_no_retry_figures() -> None:
    records = [header(), {"k": "w", "id": 1, "t0": T, "t1": T + 0.01, "r": "ok", "member": "pg1", "tl": 1}]
    v = verdict_from_records(records + [{"k": "end", "t": T + 1, "last_id": 1}], [1], audit([1]))
    assert "retries" not in v and "duplicates" not in v


def test_app_rto_ignores_a_commit_that_was_already_in_flight_at_the_first_failure() -> None:
    records = failover_ledger()
    # another thread's commit begun before the first failure (1.01), answered just after it
    records.insert(2, a(6, 4, 0.9, tr=1) | {"t1": T + 1.02})
    records.insert(3, op(4, 0.9, 1.02))
    records[-1] = {"k": "end", "t": T + 5, "last_id": 6}
    final = [1, 2, 5, 6]
    v = verdict_from_records(records, final, audit(final))
    assert v["passed"] is True, v["reasons"]
    assert v["app_rto_s"] == pytest.approx(3.0)  # not 0.01: the next commit begun after 1.01 ends at 4.01


@pytest.mark.skipif(shutil.which("javac") is None, reason="needs a JDK")
def test_the_client_builds_once_and_refuses_a_config_without_a_setting(tmp_path: Path) -> None:
    try:
        classpath = jvm.build(tmp_path, 120)
    except ActivityFailed as exc:
        pytest.skip(str(exc))  # jars not installed: the bootstrap installs them
    assert jvm.build(tmp_path, 1) == classpath  # built: not compiled again
    values = jvm.client_settings(settings())
    del values["db.pool.evict.interval"]
    config = tmp_path / "c.properties"
    config.write_text(jvm.properties_text(values))
    head, marker = jvm.program(classpath, 64)
    assert marker == head[-1] == jvm.MAIN_CLASS
    cmd = [*head, "--run-id", "r1", "--ledger", str(tmp_path / "l.jsonl"), "--config", str(config)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "missing setting db.pool.evict.interval" in done.stderr, done.stderr

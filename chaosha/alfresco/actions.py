"""Actions: start and stop the JVM client (Alfresco's database layer with
the alfresco profile's pool and driver settings, :mod:`chaosha.alfresco.jvm`)
in the background, writing a workload ledger that the integrity verdict
(``workload_verdict``) judges like the writer's."""

import os
from typing import Any, Dict, Optional

from chaoslib.types import Configuration, Secrets

from chaosha.alfresco.jvm import build, client_settings, program, properties_text, url_database
from chaosha.config import Settings, load
from chaosha.integrity.actions import stop_workload
from chaosha.integrity.ledger import new_run_id, read_records
from chaosha.integrity.runner import start_process, state_dir
from chaosha.integrity.writer import INSERT_SQL, TABLE_SQL
from chaosha.timing import parse_duration

__all__ = ["start_alfresco_client", "stop_alfresco_client"]


def client_config(
    settings: Settings,
    target: str,
    overrides: Optional[Dict[str, Any]],
    run: Dict[str, Any],
) -> Dict[str, str]:
    """The client's config file content: its effective db.* settings and
    the run's chaosha.* options (the ledger table and insert are the
    writer's own, so the same audit reads them)."""
    values = client_settings(settings, target, overrides)
    values.update({f"chaosha.{key}": str(value) for key, value in run.items()})
    values.update(
        {
            "chaosha.target": target,
            "chaosha.database": url_database(values["db.url"]),
            "chaosha.members": ",".join(n.name for n in settings.pg_nodes),
            "chaosha.ledger_table_sql": TABLE_SQL,
            "chaosha.ledger_insert_sql": INSERT_SQL.replace("%s", "?"),
        }
    )
    return values


def start_alfresco_client(
    duration_s: float = 300,
    rate: float = 40,
    threads: int = 4,
    max_ops: int = 1000000,
    target: str = "rw",
    overrides: Dict[str, Any] = {},  # noqa: B006 - read only
    startup_timeout_s: float = 60,
    build_timeout_s: float = 120,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> Dict[str, Any]:
    """Build (at first use, within ``build_timeout_s`` seconds) and start the
    JVM client in the background; return once its first transaction
    committed (within ``startup_timeout_s`` seconds): ``{run_id, pid,
    ledger, log, started, settings}``.

    ``threads`` workers create Alfresco-shaped nodes (transaction, node,
    child association, properties and the ledger row in one transaction) at
    ``rate`` transactions/s in all, through ``target`` (default HAProxy rw),
    with the alfresco profile's pool and driver settings (``overrides``:
    ``{"db.pool.validate.borrow": false, "url.socketTimeout": 10}`` for a
    bench variant), retried like Alfresco's RetryingTransactionHelper, until
    ``duration_s`` seconds or ``max_ops`` node creates.  Judge it with
    ``workload_verdict``; stop it with ``stop_alfresco_client``."""
    settings = load(configuration, secrets)
    seconds = parse_duration(duration_s, "start_alfresco_client duration_s")
    run = {"duration_s": seconds, "rate": float(rate), "threads": max(1, int(threads)), "max_ops": int(max_ops)}
    values = client_config(settings, target, overrides, run)
    folder = state_dir(settings)
    classpath = build(folder.parent / "jvm", parse_duration(build_timeout_s, "build_timeout_s"))
    run_id = new_run_id()
    config = folder / f"{run_id}.properties"
    config.touch(mode=0o600)
    config.write_text(properties_text(values))
    head, marker = program(classpath)
    timeout = parse_duration(startup_timeout_s, "startup_timeout_s")
    state = start_process(settings, ["--config", str(config)], True, timeout, head, marker, run_id, seconds)
    shown = {k: v for k, v in values.items() if k.startswith(("db.", "server.")) and k != "db.password"}
    return {**{k: state[k] for k in ("run_id", "pid", "ledger", "log", "started")}, "settings": shown}


def stop_alfresco_client(
    run_id: str = "",
    timeout_s: float = 15,
    force: bool = False,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> Dict[str, Any]:
    """Stop the JVM client ``run_id`` (default: the latest workload):
    SIGTERM (it finishes its transactions for 5 s, records the rest in
    doubt and writes its end record), SIGKILL after ``timeout_s`` seconds.
    Safe to call twice.  Returns ``{run_id, ledger, stopped}``, the
    attempts written and the node creates by outcome (``ops``)."""
    result = stop_workload(run_id, timeout_s, force, configuration, secrets)
    if result.get("ledger") and os.path.isfile(result["ledger"]):
        ops: Dict[str, int] = {}
        for record in read_records(result["ledger"]):
            if record.get("k") == "op":
                ops[str(record.get("r"))] = ops.get(str(record.get("r")), 0) + 1
        result["ops"] = ops
    return result

"""``chaosha alfresco-client start|stop|settings``: the JVM client with the
alfresco profile's pool and driver settings (judge it with ``chaosha
verdict LEDGER``)."""

import json
from typing import Dict, Tuple

import click
from chaoslib.exceptions import ActivityFailed

from chaosha.alfresco.actions import start_alfresco_client, stop_alfresco_client
from chaosha.alfresco.jvm import client_settings
from chaosha.cli.common import CONTEXT, POSITIVE, Failed
from chaosha.config import load

__all__ = ["alfresco_client"]


def _overrides(pairs: Tuple[str, ...]) -> Dict[str, str]:
    found: Dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise Failed(
                2, f"--set {pair!r}: expected KEY=VALUE (db.pool.evict.interval=5000, url.socketTimeout=10)"
            )
        found[key] = value
    return found


SET = click.option(
    "--set",
    "pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="override one setting of the profile (a db.* key or url.<JDBC option>), for a bench variant",
)


@click.group("alfresco-client", context_settings=CONTEXT)
def alfresco_client() -> None:
    """Alfresco's database layer (pgjdbc + DBCP2, the alfresco profile's
    settings) creating nodes in the background into a workload ledger."""


@alfresco_client.command(context_settings=CONTEXT)
@click.option("--duration", type=POSITIVE, required=True, help="seconds to run (required: this loads the stack)")
@click.option("--rate", type=POSITIVE, default=40, show_default=True, help="transactions/s in all")
@click.option("--threads", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--target", default="rw", show_default=True, help="rw, a node or a port")
@SET
def start(duration: float, rate: float, threads: int, target: str, pairs: Tuple[str, ...]) -> None:
    """Start the client in the background; prints its run id, ledger and settings."""
    try:
        state = start_alfresco_client(duration, rate, threads, 1000000, target, _overrides(pairs))
    except ActivityFailed as exc:
        raise Failed(2, f"alfresco-client: {exc}") from None
    click.echo(json.dumps(state, indent=2))


@alfresco_client.command(context_settings=CONTEXT)
@click.argument("run_id", required=False, default="")
@click.option("--timeout", type=POSITIVE, default=15, show_default=True, help="seconds before SIGKILL")
def stop(run_id: str, timeout: float) -> None:
    """Stop the client RUN_ID (default: the latest workload)."""
    click.echo(json.dumps(stop_alfresco_client(run_id, timeout), indent=2))


@alfresco_client.command(context_settings=CONTEXT)
@click.option("--target", default="rw", show_default=True)
@SET
def settings(target: str, pairs: Tuple[str, ...]) -> None:
    """Print the settings the client would use (password hidden)."""
    try:
        values = client_settings(load(), target, _overrides(pairs))
    except ActivityFailed as exc:
        raise Failed(2, f"alfresco-client: {exc}") from None
    values["db.password"] = "***"
    click.echo(json.dumps(values, indent=2))

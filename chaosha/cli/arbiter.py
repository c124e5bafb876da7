"""``chaosha arbiter start|stop|status``: the opt-in fence-then-release arbiter."""

import json
import os

import click
from chaoslib.exceptions import ActivityFailed

from chaosha.arbiter.actions import start_arbiter, stop_arbiter
from chaosha.arbiter.probes import arbiter_status
from chaosha.cli.common import CONTEXT, POSITIVE, SECONDS, Failed

__all__ = ["arbiter"]


@click.group(context_settings=CONTEXT)
def arbiter() -> None:
    """The opt-in arbiter: fences a crashed, frozen or cut-off leader and
    releases its ZooKeeper key (docs/fast-failover.md, "Arbiter")."""


@arbiter.command(context_settings=CONTEXT)
@click.option("--instances", type=click.IntRange(min=1), default=2, show_default=True)
@click.option(
    "--hold",
    type=SECONDS,
    default=float(os.environ.get("CHAOSHA_ARBITER_HOLD_S") or 0),
    show_default=True,
    help="seconds between fence and release (CHAOSHA_ARBITER_HOLD_S; for tests)",
)
@click.option("--session", type=POSITIVE, default=3, show_default=True, help="the instances' ZooKeeper session, s")
@click.option("--interval", type=POSITIVE, default=0.2, show_default=True, help="seconds between two looks")
def start(instances: int, hold: float, session: float, interval: float) -> None:
    """Start the instances in the background (`chaosha heal` stops them)."""
    try:
        result = start_arbiter(instances, hold, session, interval)
    except ActivityFailed as exc:
        raise Failed(1, f"arbiter: {exc}") from None
    click.echo(json.dumps(result, indent=2))


@arbiter.command(context_settings=CONTEXT)
def stop() -> None:
    """Stop every running instance."""
    click.echo(json.dumps(stop_arbiter(), indent=2))


@arbiter.command(context_settings=CONTEXT)
def status() -> None:
    """The running instances, the lock holder, fences and releases."""
    click.echo(json.dumps(arbiter_status(), indent=2))

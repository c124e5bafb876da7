"""``chaosha workload run|stop|status`` and ``chaosha verdict LEDGER``."""

import json
from pathlib import Path
from typing import Any, Optional

import click
from chaoslib.exceptions import ActivityFailed

from chaosha.cli.common import CONTEXT, POSITIVE, SECONDS, Failed
from chaosha.config import load
from chaosha.integrity.actions import stop_workload
from chaosha.integrity.audit import audited_verdict, fault_time
from chaosha.integrity.probes import workload_progress
from chaosha.integrity.verdict import verdict_from_ledger
from chaosha.integrity.workload import WorkloadOptions, run_workload

__all__ = ["workload", "verdict"]


@click.group(context_settings=CONTEXT)
def workload() -> None:
    """The integrity workload: unique ids written (and read, and node roles
    sampled) into an append-only ledger."""


@workload.command(context_settings=CONTEXT)
@click.option("--duration", type=POSITIVE, required=True, help="seconds to run (required: this loads the stack)")
@click.option(
    "--rate",
    type=SECONDS,
    default=WorkloadOptions.rate,
    show_default=True,
    help="writes/s, 0 = as fast as possible",
)
@click.option("--max-writes", type=click.IntRange(min=1), default=WorkloadOptions.max_writes, show_default=True)
@click.option("--target", default=WorkloadOptions.target, show_default=True, help="rw, ro, a node or a port")
@click.option("--read-target", default=WorkloadOptions.read_target, show_default=True)
@click.option("--read-rate", type=SECONDS, default=WorkloadOptions.read_rate, show_default=True)
@click.option("--reads/--no-reads", default=True)
@click.option("--sampler/--no-sampler", default=True, help="sample every node's role")
@click.option("--sample-interval", type=POSITIVE, default=WorkloadOptions.sample_interval, show_default=True)
@click.option(
    "--op-timeout",
    type=POSITIVE,
    default=WorkloadOptions.op_timeout,
    show_default=True,
    help="client-side deadline of one operation, seconds",
)
@click.option(
    "--fresh-writers",
    type=click.IntRange(min=0),
    default=WorkloadOptions.fresh_writers,
    show_default=True,
    help="writers opening a new connection for every write",
)
@click.option("--fresh-rate", type=SECONDS, default=WorkloadOptions.fresh_rate, show_default=True)
@click.option(
    "--writers",
    type=click.IntRange(min=1),
    default=WorkloadOptions.writers,
    show_default=True,
    help="persistent writers, each at --rate writes/s",
)
@click.option("--rw-reads/--no-rw-reads", default=False, help="a second reader through the read-write port")
@click.option(
    "--read-window",
    type=POSITIVE,
    default=WorkloadOptions.read_window,
    show_default=True,
    help="seconds of recent acknowledgements each read checks id by id",
)
@click.option(
    "--max-read-lag",
    type=SECONDS,
    default=WorkloadOptions.max_read_lag,
    show_default=True,
    help="seconds a read through the replicas' port may lag behind acknowledgements",
)
@click.option(
    "--ledger",
    type=click.Path(dir_okay=False),
    default="",
    help="ledger file (default: in the project's state folder)",
)
def run(**flags: Any) -> None:
    """Run the workload in the foreground and print its summary."""
    options = WorkloadOptions(**flags)
    try:
        summary = run_workload(load(), options)
    except ActivityFailed as exc:
        raise Failed(2, f"workload: {exc}") from None
    click.echo(json.dumps(summary, indent=2))


@workload.command(context_settings=CONTEXT)
@click.argument("run_id", required=False, default="")
@click.option("--timeout", type=POSITIVE, default=15, show_default=True, help="seconds before SIGKILL")
def stop(run_id: str, timeout: float) -> None:
    """Stop the workload RUN_ID (default: the latest) started in the background."""
    click.echo(json.dumps(stop_workload(run_id, timeout), indent=2))


@workload.command(context_settings=CONTEXT)
@click.argument("run_id", required=False, default="")
def status(run_id: str) -> None:
    """Counts so far of the workload RUN_ID (default: the latest)."""
    click.echo(json.dumps(workload_progress(run_id), indent=2))


@click.command(context_settings=CONTEXT)
@click.argument("ledger", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--timeout",
    type=POSITIVE,
    default=120,
    show_default=True,
    help="seconds to wait for one primary and replayed replicas",
)
@click.option("--fault-at", default="", help="epoch or ISO time of the fault: recovery gaps after it only")
@click.option(
    "--final-ids",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="offline: a file of the ids finally present (one per line) instead of asking the cluster",
)
def verdict(ledger: Path, timeout: float, fault_at: str, final_ids: Optional[Path]) -> None:
    """Audit the healed cluster against LEDGER and print the verdict as
    JSON; exit 1 when it did not pass."""
    try:
        at = fault_time(fault_at)
        if final_ids is not None:
            result = verdict_from_ledger(ledger, [int(x) for x in final_ids.read_text().split()], None, at)
        else:
            result = audited_verdict(load(), ledger, timeout, at)
    except (ActivityFailed, OSError, ValueError) as exc:
        raise Failed(2, f"verdict: {exc}") from None
    click.echo(json.dumps(result, indent=2))
    if not result.get("passed"):
        raise Failed(1)

"""``chaosha stack up|down|status|logs|add-node|remove-node`` and ``chaosha heal``."""

import json

import click

from chaosha.cli.common import CONTEXT, SECONDS, Failed, the_stack
from chaosha.docker.actions import heal as heal_all
from chaosha.patroni.probes import cluster_health
from chaosha.stack import Stack
from chaosha.suite.runner import wait_ready

__all__ = ["stack", "heal"]


@click.group(context_settings=CONTEXT)
@click.option("--profile", "profiles", multiple=True, help="a Compose profile: pg3, alfresco")
@click.pass_context
def stack(ctx: click.Context, profiles: tuple) -> None:
    """Bring the HA stack up or down, show its status and logs."""
    ctx.obj = the_stack(profiles)


@stack.command(context_settings=CONTEXT)
@click.option("--wait", type=SECONDS, default=180, show_default=True, help="seconds to wait for readiness")
@click.pass_obj
def up(obj: Stack, wait: float) -> None:
    """Bootstrap, build, start and wait for the first write on the leader."""
    ready = obj.up(wait=wait)
    s = obj.settings()
    nodes = ", ".join(f"{n.name} {n.port}/{n.api_port}" for n in s.pg_nodes)
    click.echo(f"""
Stack {s.project} is up in {ready["seconds"]}s; leader: {ready["leader"]}.
  PostgreSQL read-write (HAProxy)  {s.host}:{s.get("CHAOSHA_RW_PORT")}
  PostgreSQL replicas  (HAProxy)   {s.host}:{s.get("CHAOSHA_RO_PORT")}
  HAProxy stats page               http://{s.host}:{s.get("CHAOSHA_STATS_PORT")}/
  nodes (PostgreSQL / Patroni API) {nodes}
  passwords                        {obj.env_file} (user postgres: CHAOSHA_PG_PASSWORD)
  cluster members                  docker compose -p {s.project} exec pg1 \
                                     patronictl -c /etc/patroni/patroni.yml list
""")


@stack.command(context_settings=CONTEXT)
@click.option("--volumes", is_flag=True, help="also delete every data volume")
@click.pass_obj
def down(obj: Stack, volumes: bool) -> None:
    """Stop and remove the containers (volumes kept unless --volumes)."""
    obj.down(volumes=volumes)


@stack.command(context_settings=CONTEXT)
@click.pass_obj
def status(obj: Stack) -> None:
    """Containers and cluster health; exit 1 when unhealthy."""
    click.echo(obj.status())
    health = cluster_health()
    click.echo(json.dumps(health, indent=2))
    if not health["healthy"]:
        raise Failed(1)


@stack.command("add-node", context_settings=CONTEXT)
@click.argument("name")
@click.option("--wait", type=SECONDS, default=300, show_default=True, help="seconds to wait until it streams")
@click.pass_obj
def add_node(obj: Stack, name: str, wait: float) -> None:
    """Start node NAME (e.g. pg3), wait until it streams from the leader,
    add it to CHAOSHA_PG_NODES in the env file."""
    click.echo(json.dumps(obj.add_node(name, wait=wait), indent=2))


@stack.command("remove-node", context_settings=CONTEXT)
@click.argument("name")
@click.option("--force", is_flag=True, help="even when only one node would be left (no synchronous standby)")
@click.option(
    "--purge", is_flag=True, help="also delete its data volume (kept by default: a re-add resumes from it)"
)
@click.option("--wait", type=SECONDS, default=90, show_default=True, help="seconds to wait for each step")
@click.pass_obj
def remove_node(obj: Stack, name: str, force: bool, purge: bool, wait: float) -> None:
    """Switch over away from node NAME if it leads, stop and remove it, have
    Patroni forget it and drop its replication slot, drop it from
    CHAOSHA_PG_NODES.  Refuses to leave no node that could serve."""
    click.echo(json.dumps(obj.remove_node(name, force=force, purge=purge, wait=wait), indent=2))


@stack.command(context_settings=CONTEXT)
@click.argument("services", nargs=-1)
@click.option("--tail", type=click.IntRange(min=1), default=200, show_default=True)
@click.pass_obj
def logs(obj: Stack, services: tuple, tail: int) -> None:
    """Recent logs of the services (all by default)."""
    obj.logs(list(services), tail)


@click.command(context_settings=CONTEXT)
@click.option("--deep", is_flag=True, help="clear netfilter/netem in every container, recorded or not")
@click.option("--force", is_flag=True, help="even while an experiment runs against the stack")
@click.option(
    "--wait",
    type=SECONDS,
    default=120,
    show_default=True,
    help="then wait this long for a healthy cluster that HAProxy routes writes to (0: do not wait)",
)
def heal(deep: bool, force: bool, wait: float) -> None:
    """Undo every fault chaosha may have left (after a killed run) and stop
    the project's orphaned workloads; refuses while an experiment runs
    against the stack (it heals when it ends) unless --force."""
    click.echo(json.dumps(heal_all(deep=deep, force=force), indent=2))
    if wait:
        click.echo(json.dumps(wait_ready(wait), indent=2))

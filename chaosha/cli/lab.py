"""``chaosha lab up|down|status``: the stack spread over three hosts on this machine."""

import json
from pathlib import Path

import click

from chaosha.cli.common import CONTEXT, SECONDS
from chaosha.lab import DEFAULT_SUBNET, Lab, default_folder

__all__ = ["lab"]


@click.group(context_settings=CONTEXT)
@click.option("--project", default="chaosha-lab", show_default=True, help="Compose project of the node containers")
@click.option(
    "--folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="where the env file, ZooKeeper's credentials and the ssh keys go (default: the checkout's .chaosha/lab)",
)
@click.option("--subnet", default=DEFAULT_SUBNET, show_default=True, help="the lab network (hosts on .11-.13)")
@click.option("--profile", default="default", show_default=True, help="failover profile (compose/profiles)")
@click.pass_context
def lab(ctx: click.Context, project: str, folder: Path, subnet: str, profile: str) -> None:
    """Three hosts on this machine, each with its own Docker engine (tcp
    :2375 on its lab address, ssh as root), the stack spread over them:
    host1 zk1 + pg1, host2 zk2 + pg2, host3 zk3 + HAProxy.  Point chaosha
    at it with CHAOSHA_ENV_FILE=<folder>/<project>.env."""
    ctx.obj = Lab(project=project, folder=folder or default_folder(), subnet=subnet, profile=profile)


@lab.command(context_settings=CONTEXT)
@click.option("--wait", type=SECONDS, default=300, show_default=True, help="seconds to wait for readiness")
@click.pass_obj
def up(obj: Lab, wait: float) -> None:
    """Build, start the hosts, load the images, spread the stack, wait for a write on the leader."""
    ready = obj.up(wait=wait)
    click.echo(json.dumps(ready, indent=2))
    click.echo(f"\nexport CHAOSHA_ENV_FILE={obj.env_file}")


@lab.command(context_settings=CONTEXT)
@click.pass_obj
def down(obj: Lab) -> None:
    """Remove the hosts and everything on them (their engines' volumes too)."""
    obj.down()


@lab.command(context_settings=CONTEXT)
@click.pass_obj
def status(obj: Lab) -> None:
    """Each host's address and the containers on its engine."""
    click.echo(json.dumps(obj.status(), indent=2))

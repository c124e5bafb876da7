"""The ``chaosha`` command, on click (the library Chaos Toolkit's own CLI is
built on), also reachable as ``chaos ha …`` through the
``chaostoolkit.cli_plugins`` entry point.

Exit codes, for every command: 0 done (and, for checks, passed); 1 the
check failed (unhealthy cluster, verdict not passed, an experiment of the
suite failed, no journal found); 2 bad usage or input (click's own code,
also an unreadable journal or ledger); 3 another run holds the project's
lock; 130 interrupted.
"""

import sys
from typing import List, Optional

import click
from chaoslib.exceptions import ActivityFailed

from chaosha import state
from chaosha.cli.alfresco import alfresco_client
from chaosha.cli.arbiter import arbiter
from chaosha.cli.common import CONTEXT, Failed, which_stack
from chaosha.cli.lab import lab
from chaosha.cli.nemesis import nemesis
from chaosha.cli.reports import LOCKED_EXIT, report, suite, trend
from chaosha.cli.stack import heal, stack
from chaosha.cli.workload import verdict, workload
from chaosha.stack import StackError

__all__ = ["cli", "ha", "main"]

COMMANDS = (stack, lab, heal, workload, verdict, alfresco_client, report, suite, trend, nemesis, arbiter)


@click.group(context_settings=CONTEXT, help=__doc__)
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="the stack's env file (default: CHAOSHA_ENV_FILE, ./compose/.env, the checkout's)",
)
@click.pass_context
def cli(ctx: click.Context, env_file: Optional[str]) -> None:
    which_stack(env_file, ctx.invoked_subcommand or "")


for command in COMMANDS:
    cli.add_command(command)

# The same commands as `chaos ha ...` (chaostoolkit loads this group).
ha = click.Group(
    name="ha",
    commands={c.name or "": c for c in COMMANDS},
    context_settings=CONTEXT,
    params=list(cli.params),
    callback=cli.callback,
    help="chaosha: HA PostgreSQL (Patroni + ZooKeeper + HAProxy) stack control, heal, "
    "integrity workload, verdicts, reports and suites.",
)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line; returns the exit code (see the module docstring)."""
    try:
        cli.main(args=argv, prog_name="chaosha", standalone_mode=False)
        return 0
    except Failed as exc:
        if exc.message:
            print(f"chaosha: {exc.message}", file=sys.stderr)
        return exc.code
    except state.Locked as exc:  # another run holds the project (heal, stop_workload)
        print(f"chaosha: {exc}", file=sys.stderr)
        return LOCKED_EXIT
    except (StackError, ActivityFailed) as exc:
        print(f"chaosha: {exc}", file=sys.stderr)
        return 1
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return int(exc.exit_code)
    except (KeyboardInterrupt, click.exceptions.Abort):
        return 130

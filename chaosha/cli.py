"""The ``chaosha`` command: stack control, heal, workload and verdict."""

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional

from chaoslib.exceptions import ActivityFailed

from chaosha.config import DEFAULT_ENV_FILE, find_env_file, load
from chaosha.stack import Stack, StackError

__all__ = ["main"]


def _stack(args: argparse.Namespace) -> Stack:
    named = Path(args.env_file) if args.env_file else find_env_file()  # `up` may create it
    return Stack(env_file=named, profiles=args.profile or [])


def which_stack(args: argparse.Namespace) -> None:
    """Make ``--env-file`` the rule for this process and its children, and
    say which project the command acts on when no env file was found."""
    if args.env_file:
        if not Path(args.env_file).is_file() and args.command != "stack":
            raise StackError(f"--env-file {args.env_file}: no such file")
        os.environ["CHAOSHA_ENV_FILE"] = str(Path(args.env_file).resolve())
    if find_env_file() is None and args.command not in ("report", "trend"):
        settings = load()
        print(f"[chaosha] no env file found (--env-file, CHAOSHA_ENV_FILE, ./{DEFAULT_ENV_FILE} or the "
              f"checkout's): acting on project {settings.project!r} with "
              + ("ports from the environment" if settings.get("CHAOSHA_PORT_BASE") else "default ports"),
              file=sys.stderr)


def cmd_up(args: argparse.Namespace) -> int:
    stack = _stack(args)
    ready = stack.up(wait=args.wait)
    s = stack.settings()
    print(f"""
Stack {s.project} is up in {ready['seconds']}s; leader: {ready['leader']}.
  PostgreSQL read-write (HAProxy)  {s.host}:{s.get('CHAOSHA_RW_PORT')}
  PostgreSQL replicas  (HAProxy)   {s.host}:{s.get('CHAOSHA_RO_PORT')}
  HAProxy stats page               http://{s.host}:{s.get('CHAOSHA_STATS_PORT')}/
  nodes (PostgreSQL / Patroni API) """ + ", ".join(
        f"{n.name} {n.port}/{n.api_port}" for n in s.pg_nodes) + f"""
  passwords                        {stack.env_file} (user postgres: CHAOSHA_PG_PASSWORD)
  cluster members                  docker compose -p {s.project} exec pg1 patronictl \
-c /etc/patroni/patroni.yml list
""")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    _stack(args).down(volumes=args.volumes)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from chaosha.patroni.probes import cluster_health

    stack = _stack(args)
    print(stack.status())
    health = cluster_health(configuration={"CHAOSHA_ENV_FILE": str(stack.env_file)})
    print(json.dumps(health, indent=2))
    return 0 if health["healthy"] else 1


def cmd_logs(args: argparse.Namespace) -> int:
    _stack(args).logs(args.services, args.tail)
    return 0


def cmd_heal(args: argparse.Namespace) -> int:
    from chaosha.docker.actions import heal
    from chaosha.patroni.probes import wait_for_healthy

    print(json.dumps(heal(deep=args.deep), indent=2))
    if args.wait:
        print(json.dumps(wait_for_healthy(f"{args.wait}s"), indent=2))
    return 0


def _delegate(module: str, function: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        import importlib

        return int(getattr(importlib.import_module(module), function)(args.rest) or 0)

    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chaosha", description=__doc__)
    parser.add_argument("--env-file", help="the stack's env file (default compose/.env)")
    sub = parser.add_subparsers(dest="command", required=True)

    stack = sub.add_parser("stack", help="bring the HA stack up or down, show status and logs")
    stack.add_argument("--profile", action="append", help="compose profile (pg3, alfresco)")
    ssub = stack.add_subparsers(dest="stack_command", required=True)
    up = ssub.add_parser("up", help="bootstrap, build, start and wait for the first write")
    up.add_argument("--wait", type=float, default=180, help="seconds to wait for readiness")
    up.set_defaults(func=cmd_up)
    down = ssub.add_parser("down", help="stop and remove containers (volumes kept)")
    down.add_argument("--volumes", action="store_true", help="also delete every data volume")
    down.set_defaults(func=cmd_down)
    ssub.add_parser("status", help="containers and cluster health").set_defaults(func=cmd_status)
    logs = ssub.add_parser("logs", help="recent logs of the services")
    logs.add_argument("services", nargs="*")
    logs.add_argument("--tail", type=int, default=200)
    logs.set_defaults(func=cmd_logs)

    heal = sub.add_parser("heal", help="undo every fault chaosha may have left (after a killed run)")
    heal.add_argument("--deep", action="store_true", help="clear netfilter/netem in every container")
    heal.add_argument("--wait", type=float, default=120, help="then wait this long for a healthy cluster")
    heal.set_defaults(func=cmd_heal)

    delegated: Dict[str, tuple] = {
        "workload": ("chaosha.integrity.cli", "run_workload_cli", "run the ledger writer/reader"),
        "verdict": ("chaosha.integrity.cli", "run_verdict_cli", "integrity verdict of a ledger"),
        "report": ("chaosha.report.cli", "run_report_cli", "HTML report of a journal"),
        "suite": ("chaosha.suite.cli", "run_suite_cli", "run experiments one after another"),
        "trend": ("chaosha.suite.cli", "run_trend_cli", "RTO and lost writes across runs"),
    }
    for name, (module, function, help_text) in delegated.items():
        p = sub.add_parser(name, help=help_text, add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(func=_delegate(module, function))
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        which_stack(args)
        return int(args.func(args))
    except (StackError, ActivityFailed) as exc:
        print(f"chaosha: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

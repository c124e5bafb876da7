"""What every command shares: ``-h``, how the stack is found, exit codes."""

import os
import sys
from pathlib import Path
from typing import Optional

import click

from chaosha.config import DEFAULT_ENV_FILE, find_env_file, load
from chaosha.stack import Stack

__all__ = ["CONTEXT", "Failed", "which_stack", "the_stack", "SECONDS", "POSITIVE"]

CONTEXT = {"help_option_names": ["-h", "--help"]}
SECONDS = click.FloatRange(min=0)  # 0 allowed: "do not wait"
POSITIVE = click.FloatRange(min=0, min_open=True)
SILENT = ("report", "trend", "lab")  # commands that do not act on a stack


class Failed(Exception):
    """End the command with ``code`` (and a one-line ``message`` on stderr)."""

    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def which_stack(env_file: Optional[str], command: str) -> None:
    """Make ``--env-file`` the rule for this process and its children, and
    say which project the command acts on when no env file was found."""
    if env_file:
        if not Path(env_file).is_file() and command != "stack":
            raise Failed(2, f"--env-file {env_file}: no such file")
        os.environ["CHAOSHA_ENV_FILE"] = str(Path(env_file).resolve())
    if command in SILENT or find_env_file() is not None:
        return
    settings = load()
    ports = "ports from CHAOSHA_PORT_BASE" if settings.get("CHAOSHA_PORT_BASE") else "default ports"
    print(
        f"[chaosha] no env file found (--env-file, CHAOSHA_ENV_FILE, ./{DEFAULT_ENV_FILE} or the "
        f"checkout's): acting on project {settings.project!r} with {ports}",
        file=sys.stderr,
    )


def the_stack(profiles: tuple = ()) -> Stack:
    """The stack of this command: the named env file (``up`` may create it)
    or the one found by the rule."""
    named = os.environ.get("CHAOSHA_ENV_FILE")
    return Stack(env_file=Path(named) if named else find_env_file(), profiles=list(profiles))

"""Local commands chaosha runs itself (openssl, iptables): each under a
deadline, its failures as ActivityFailed saying what to do."""

import subprocess
from pathlib import Path
from typing import Optional, Sequence

from chaoslib.exceptions import ActivityFailed

__all__ = ["run"]


def run(
    argv: Sequence[str], timeout_s: float, what: str, missing: str, cwd: Optional[Path] = None, hint: str = ""
) -> str:
    """Run ``argv`` within ``timeout_s``; its standard output.  ``what``
    names the call in errors, ``missing`` is the error when the program is
    not installed, ``hint`` is added to a non-zero exit's message."""
    try:
        done = subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True, timeout=timeout_s)
    except FileNotFoundError:
        raise ActivityFailed(missing) from None
    except subprocess.TimeoutExpired:
        raise ActivityFailed(f"`{what}` took over {timeout_s:g}s") from None
    if done.returncode != 0:
        raise ActivityFailed(f"`{what}` failed: {done.stderr.strip()[-500:]}{hint}")
    return done.stdout

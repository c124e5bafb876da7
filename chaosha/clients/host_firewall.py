"""Rules in *this* host's iptables ``OUTPUT`` chain (the host chaosha and
the arbiter run on): cut this host off from one container address while
every other container still reaches it (the arbiter's "cut off from a
healthy leader" experiment).  Every rule carries the comment
``chaosha:<project>``, so :func:`clear` removes ours and nothing else.
Needs root on the host and the ``iptables`` command; every call has a deadline.
"""

from typing import List

from chaosha.clients import command
from chaosha.config import Settings

__all__ = ["FAULT", "block", "clear", "rules"]

FAULT = "host-cut"  # fault kind in the registry
TIMEOUT_S = 30.0


def _iptables(*args: str) -> str:
    missing = "cutting this host off needs the iptables command (and root)"
    argv = ["iptables", "-w", "5", *args]
    return command.run(argv, TIMEOUT_S, f"iptables {' '.join(args)}", missing, hint=" (are you root?)")


def _comment(settings: Settings) -> str:
    return f"chaosha:{settings.project}"


def _spec(settings: Settings, address: str) -> List[str]:
    return ["OUTPUT", "-d", f"{address}/32", "-m", "comment", "--comment", _comment(settings), "-j", "DROP"]


def block(settings: Settings, address: str) -> None:
    """Drop what this host sends to ``address`` (only that address)."""
    _iptables("-I", *_spec(settings, address))


def rules(settings: Settings) -> List[str]:
    """The project's rules in ``OUTPUT`` (``iptables -S`` lines)."""
    mark = _comment(settings)
    lines = _iptables("-S", "OUTPUT").splitlines()
    return [line for line in lines if f"--comment {mark} " in f"{line} " or f'--comment "{mark}"' in line]


def clear(settings: Settings) -> int:
    """Remove every rule of the project; how many were removed."""
    removed = 0
    for line in rules(settings):
        parts = line.split()
        if parts[:2] != ["-A", "OUTPUT"]:
            continue
        address = parts[parts.index("-d") + 1].split("/")[0] if "-d" in parts else ""
        if address:
            _iptables("-D", *_spec(settings, address))
            removed += 1
    return removed

#!/usr/bin/env python3
"""Patroni 4.1.5 with ttl < 20 (failover profile "fast", compose/profiles/fast.env).

Copies the installed ``patroni`` package to DEST/patroni, changes six lines
there (numbers only, but one timeout becomes a connect and a read timeout and
one condition of the failsafe answer widens) and adds one import; the
installed package is never touched, so the "default" profile runs stock
Patroni.  The entrypoint then runs Patroni with PYTHONPATH=DEST.  The
changes:

- ``Config._validate_and_adjust_timeouts``: the ttl floor 20 -> 7, the
  arithmetic floor of Patroni's own rule loop_wait + 2*retry_timeout <= ttl
  at its minima (1 + 2*3);
- ``Ha.fetch_node_status`` (the leader race asks every other member's REST
  API, the old leader's too, for its WAL position): the hard-coded request
  timeout 2 s -> 0.25 s to connect and 1 s to answer (``urllib3.Timeout``,
  imported by one added line).  A blackholed old leader never completes the
  TCP connect, a frozen one never the TLS handshake of the HTTPS API, which
  urllib3 counts in the connect: each costs the race ~0.3 s instead of 2 s
  (measured: docs/fast-failover.md).  A peer on the same network connects
  within milliseconds, and a member that does not is only left out of the
  race (with synchronous mode only the synchronous standby may win it);
- ``Ha.update_failsafe`` (a member's answer to ``POST /failsafe``, failsafe
  mode): stock 4.1.5 refuses an old leader only when this member runs as
  ``primary``, so a replica that has just taken the leader key, or is
  promoting (role ``promoted`` for up to 1 s, until Patroni's next look at
  pg_controldata), accepts it, and the cut-off old leader, reconnected,
  goes on as primary beside the new one (seen in ``master-partition``:
  2.2 s, both passing HAProxy's check; its commits hung on the synchronous
  standby it had lost, so none was acknowledged).  It now refuses also while
  it holds the key (``is_leader()``) or is promoting;
- ``Ha.demote`` and ``Ha.shutdown`` (a switchover and a graceful stop): the
  hard-coded 1 s sleep before the leader key is released early -> 0.2 s.
  Only when the standby already reports the shutdown checkpoint is the key
  released then (``is_failover_possible(cluster_lsn=checkpoint)``);
  otherwise Patroni releases it after PostgreSQL has stopped, as before.
  The sleep only waits for the standby's report, which a synchronous standby
  has within milliseconds: it cost every graceful stop and switchover ~1 s;
- ``STOP_POLLING_INTERVAL`` (how often a stopping Patroni looks whether
  PostgreSQL has begun and ended its shutdown; used by nothing else): 1 s ->
  0.1 s.  A graceful stop spent up to 1 s after PostgreSQL was already down
  before the leader key was released.

Pinned: the installed distribution and ``patroni/version.py`` must both say
4.1.5 and each patched file must hash to what was reviewed; anything else is
refused with exit code 3 and a message saying what to do (never a silent
half-patch).  Idempotent: a DEST patched from the same source is redone.

    /opt/patroni/bin/python3 short_ttl_patch.py DEST
"""

import hashlib
import importlib.metadata
import importlib.util
import re
import shutil
import sys
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Tuple

VERSION = "4.1.5"
TTL_FLOOR = 7
RACE_CONNECT_S = 0.25
RACE_READ_S = 1
RELEASE_GRACE_S = 0.2
STOP_POLL_S = 0.1
MARK = "  # chaosha short-ttl patch"


class Edit(NamedTuple):
    path: str  # inside the package
    sha256: str  # of the file as shipped in VERSION
    old: str  # exactly `times` occurrences, each replaced by new
    new: str
    times: int = 1


EDITS = (
    Edit(
        "config.py",
        "e8edb91f9491b27e91acc44928be55ec9985e3a6834727a3aa6521ddbc284df0",
        "ttl = self. __get_and_maybe_adjust_int_value(config, 'ttl', 20)\n",
        f"ttl = self. __get_and_maybe_adjust_int_value(config, 'ttl', {TTL_FLOOR}){MARK}\n",
    ),
    Edit(
        "ha.py",
        "a7e8792ca28b92c538e10a01d15efea183b1116b1784ccac1588e39bc6713ba7",
        "import uuid\n",
        f"import uuid\nfrom urllib3 import Timeout{MARK}\n",
    ),
    Edit(
        "ha.py",
        "a7e8792ca28b92c538e10a01d15efea183b1116b1784ccac1588e39bc6713ba7",
        "response = self.patroni.request(member, timeout=2, retries=0)\n",
        "response = self.patroni.request(member, "
        f"timeout=Timeout(connect={RACE_CONNECT_S}, read={RACE_READ_S}), retries=0){MARK}\n",
    ),
    Edit(  # Ha.update_failsafe (POST /failsafe): refuse while holding the key or promoting
        "ha.py",
        "a7e8792ca28b92c538e10a01d15efea183b1116b1784ccac1588e39bc6713ba7",
        "if self.state_handler.state == PostgresqlState.RUNNING and self.state_handler.role == PostgresqlRole.PRIMARY:\n",
        "if self.is_leader() or (self.state_handler.state == PostgresqlState.RUNNING and "
        f"self.state_handler.role in (PostgresqlRole.PRIMARY, PostgresqlRole.PROMOTED)):{MARK}\n",
    ),
    Edit(  # Ha.demote and Ha.shutdown: the same line in both
        "ha.py",
        "a7e8792ca28b92c538e10a01d15efea183b1116b1784ccac1588e39bc6713ba7",
        "time.sleep(1)  # give replicas some more time to catch up\n",
        f"time.sleep({RELEASE_GRACE_S})  # give replicas some more time to catch up{MARK}\n",
        times=2,
    ),
    Edit(
        "postgresql/__init__.py",
        "51e655d3a3ad45fb34c5c70158eee9b2a13b85a0f40d4836da325a481f031af6",
        "STOP_POLLING_INTERVAL = 1\n",
        f"STOP_POLLING_INTERVAL = {STOP_POLL_S}{MARK}\n",
    ),
)


class Refused(Exception):
    """The installed Patroni is not the one the patch was written for."""


def source_version(package: Path) -> str:
    """``__version__`` of ``package/version.py`` ("" when absent)."""
    try:
        text = (package / "version.py").read_text()
    except OSError:
        return ""
    found = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", text, re.M)
    return found.group(1) if found else ""


def patch(
    package: Path, dest: Path, installed: str, version: str = VERSION, edits: Tuple[Edit, ...] = EDITS
) -> List[str]:
    """Copy ``package`` to ``dest/patroni`` and apply ``edits``; the edited
    files.  ``installed``: the distribution's version (importlib.metadata).
    Raises :class:`Refused` before writing anything when a pin fails."""
    found = {"installed distribution": installed, "patroni/version.py": source_version(package)}
    wrong = {where: v for where, v in found.items() if v != version}
    if wrong:
        said = ", ".join(f"{where} says {v or 'nothing'}" for where, v in wrong.items())
        raise Refused(
            f"the short-ttl patch is for Patroni {version} exactly, but {said}: build the image with "
            f"PATRONI_VERSION={version}, port and review compose/patroni/short_ttl_patch.py for the new "
            "version, or use CHAOSHA_FAILOVER_PROFILE=default"
        )
    texts: Dict[str, str] = {}
    for edit in edits:
        raw = (package / edit.path).read_bytes()
        digest = hashlib.sha256(raw).hexdigest()
        if digest != edit.sha256:
            raise Refused(
                f"patroni/{edit.path} of Patroni {version} is not the file the short-ttl patch was reviewed "
                f"against (sha256 {digest}, expected {edit.sha256}): reinstall patroni=={version} unmodified"
            )
        text = texts.get(edit.path, raw.decode("utf-8"))  # a file's edits apply one after the other
        count = text.count(edit.old)
        if count != edit.times:
            expected = "once" if edit.times == 1 else f"{edit.times} times"
            raise Refused(f"patroni/{edit.path}: {edit.old.strip()!r} found {count} times, expected {expected}")
        texts[edit.path] = text.replace(edit.old, edit.new)
    target = dest / "patroni"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(package, target, ignore=shutil.ignore_patterns("__pycache__"))
    for name, text in texts.items():
        (target / name).write_text(text)
    return sorted(texts)


def installed_package() -> Optional[Path]:
    """The installed ``patroni`` package's folder, without importing it."""
    spec = importlib.util.find_spec("patroni")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def main(argv: List[str]) -> int:
    if len(argv) != 1:
        print("usage: short_ttl_patch.py DEST", file=sys.stderr)
        return 2
    package = installed_package()
    try:
        if package is None:
            raise Refused("no patroni package is installed in this Python")
        installed = importlib.metadata.version("patroni")
        edited = patch(package, Path(argv[0]), installed)
    except (Refused, importlib.metadata.PackageNotFoundError, OSError) as exc:
        print(f"chaosha: refusing to start Patroni with the fast failover profile: {exc}", file=sys.stderr)
        return 3
    print(
        f"chaosha: Patroni {VERSION} patched in {argv[0]} ({', '.join(edited)}): ttl floor {TTL_FLOOR} s, "
        f"leader-race member-status timeout {RACE_CONNECT_S} s to connect, {RACE_READ_S} s to answer, "
        f"early key release after {RELEASE_GRACE_S} s, stop polled every {STOP_POLL_S} s, "
        "POST /failsafe refused while holding the key or promoting",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

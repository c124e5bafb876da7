"""The JVM client (``java/ChaoshaAlfrescoClient.java``): Alfresco's database
layer — pgjdbc behind a Commons DBCP2 pool — with the ``alfresco`` compose
profile's own ``db.*`` settings, built with javac at first use.

One truth: the pool and driver settings are the ``-D`` options of the
profile's ``JAVA_OPTS`` in ``compose/docker-compose.yml``; what the profile
leaves out takes Alfresco 23.4's defaults (:data:`ALFRESCO_DEFAULTS`).  The
client gets them with the JDBC URL pointed at chaosha's endpoint instead of
``haproxy:5432`` (its options kept) and ``${VAR}`` references resolved from
the settings (the password from the stack's env file).
"""

import hashlib
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple
from urllib.parse import parse_qsl, urlencode

import yaml
from chaoslib.exceptions import ActivityFailed

from chaosha.clients.postgres import endpoint
from chaosha.config import CHECKOUT, Settings
from chaosha.timing import Deadline

__all__ = [
    "COMPOSE_FILE",
    "MAIN_CLASS",
    "ALFRESCO_DEFAULTS",
    "parse_java_opts",
    "profile_settings",
    "jdbc_url",
    "url_database",
    "interpolate",
    "client_settings",
    "properties_text",
    "build",
    "program",
]

COMPOSE_FILE = CHECKOUT / "compose" / "docker-compose.yml"
SOURCE = Path(__file__).with_name("java") / "ChaoshaAlfrescoClient.java"
MAIN_CLASS = "ChaoshaAlfrescoClient"
JARS = ("postgresql.jar", "commons-dbcp2.jar", "commons-pool2.jar", "commons-logging.jar")
JAVA_LIBS = "/usr/share/java"  # where Debian's lib*-java packages put them
PREFIXES = ("db.", "server.transaction.")
# Alfresco 23.4's repository.properties values for what the profile does not
# set (and RetryingTransactionHelper's server.transaction.* defaults).
ALFRESCO_DEFAULTS: Dict[str, str] = {
    "db.driver": "org.postgresql.Driver",
    "db.username": "alfresco",
    "db.pool.initial": "10",
    "db.pool.max": "275",
    "db.pool.min": "10",
    "db.pool.idle": "10",
    "db.pool.wait.max": "5000",
    "db.pool.validate.query": "",
    "db.pool.validate.borrow": "true",
    "db.pool.validate.return": "false",
    "db.pool.evict.interval": "600000",
    "db.pool.evict.idle.min": "1800000",
    "db.pool.evict.num.tests": "-1",
    "db.pool.evict.validate": "false",
    "db.pool.statements.enable": "true",
    "db.pool.statements.max": "40",
    "db.pool.abandoned.detect": "false",
    "db.pool.abandoned.time": "300",
    "db.txn.isolation": "-1",
    "server.transaction.max-retries": "40",
    "server.transaction.min-retry-wait-ms": "100",
    "server.transaction.max-retry-wait-ms": "2000",
    "server.transaction.wait-increment-ms": "100",
}
_URL = re.compile(r"^jdbc:postgresql://([^/?]+)/([^?]*)(?:\?(.*))?$")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?][^}]*)?\}")


def parse_java_opts(opts: str) -> Dict[str, str]:
    """The ``-Dkey=value`` system properties of a ``JAVA_OPTS`` string
    (shell words: ``SELECT\\ 1`` is one) whose key is a database or
    transaction-retry setting."""
    refs: List[str] = []

    def hide(match: "re.Match[str]") -> str:  # a ${...} reference is one word, whatever it holds
        refs.append(match.group(0))
        return f"\0{len(refs) - 1}\0"

    found: Dict[str, str] = {}
    for word in shlex.split(_VAR.sub(hide, opts)):
        if word.startswith("-D") and "=" in word:
            key, value = word[2:].split("=", 1)
            if key.startswith(PREFIXES):
                found[key] = re.sub("\0(\\d+)\0", lambda m: refs[int(m.group(1))], value)
    return found


def profile_settings(compose_file: Path = COMPOSE_FILE) -> Dict[str, str]:
    """The alfresco service's database settings, as written in the compose
    file (``${...}`` references not yet resolved)."""
    try:
        services = yaml.safe_load(compose_file.read_text())["services"]
        opts = services["alfresco"]["environment"]["JAVA_OPTS"]
    except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
        raise ActivityFailed(
            f"cannot read the alfresco profile's JAVA_OPTS from {compose_file}: {exc}; "
            "run from the chaosha checkout"
        ) from None
    found = parse_java_opts(str(opts))
    if "db.url" not in found:
        raise ActivityFailed(f"the alfresco profile in {compose_file} sets no -Ddb.url")
    return found


def jdbc_url(url: str, host: str, port: int, options: Optional[Mapping[str, str]] = None) -> str:
    """``url`` pointed at ``host:port`` (its database and options kept,
    ``options`` added or replacing)."""
    match = _URL.match(url)
    if not match:
        raise ActivityFailed(f"db.url {url!r} is not a jdbc:postgresql://host:port/database URL")
    query = dict(parse_qsl(match.group(3) or "", keep_blank_values=True))
    query.update(options or {})
    tail = f"?{urlencode(query, safe=':,')}" if query else ""
    return f"jdbc:postgresql://{host}:{port}/{match.group(2)}{tail}"


def url_database(url: str) -> str:
    match = _URL.match(url)
    if not match or not match.group(2):
        raise ActivityFailed(f"db.url {url!r} names no database")
    return match.group(2)


def interpolate(value: str, settings: Settings) -> str:
    """``value`` with every Compose ``${VAR}`` / ``${VAR:?msg}`` /
    ``${VAR:-default}`` taken from the settings (empty: ActivityFailed)."""

    def resolve(match: "re.Match[str]") -> str:
        found = settings.get(match.group(1))
        if not found:
            raise ActivityFailed(
                f"{match.group(1)} is not set: bring the stack up (chaosha stack up writes it to compose/.env)"
            )
        return found

    return _VAR.sub(resolve, value)


def client_settings(
    settings: Settings,
    target: str = "rw",
    overrides: Optional[Mapping[str, Any]] = None,
    profile: Optional[Mapping[str, str]] = None,
) -> Dict[str, str]:
    """The client's effective ``db.*``/``server.transaction.*`` settings:
    Alfresco's defaults, then the profile's, then ``overrides`` (a bench's
    variant: a known key, or ``url.<option>`` for a JDBC URL option), with
    the URL pointed at ``target``."""
    merged = {**ALFRESCO_DEFAULTS, **(profile if profile is not None else profile_settings())}
    url_options: Dict[str, str] = {}
    for key, value in (overrides or {}).items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if key.startswith("url."):
            url_options[key[4:]] = text
        elif key in merged:
            merged[key] = text
        else:
            raise ActivityFailed(
                f"unknown client setting {key!r}: use one of {', '.join(sorted(merged))} or url.<JDBC option>"
            )
    host, port = endpoint(settings, target)
    resolved = {key: interpolate(value, settings) for key, value in merged.items()}
    resolved["db.url"] = jdbc_url(merged["db.url"], host, port, url_options)
    return resolved


def _escape(text: str) -> str:
    """A Java properties value (or key) as ``Properties.load`` reads it back."""
    out = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    out = "".join(c if ord(c) < 0x7F else f"\\u{ord(c):04x}" for c in out)
    return "\\" + out if out.startswith((" ", "#", "!")) else out


def properties_text(values: Mapping[str, str]) -> str:
    """``values`` as a Java properties file."""
    return "".join(f"{_escape(k)}={_escape(v)}\n" for k, v in sorted(values.items()))


def _jars() -> List[str]:
    folder = Path(os.environ.get("CHAOSHA_JAVA_LIBS") or JAVA_LIBS)
    jars = [folder / name for name in JARS]
    missing = [str(j) for j in jars if not j.is_file()]
    if missing:
        raise ActivityFailed(
            f"missing {', '.join(missing)}: install libpostgresql-jdbc-java and libcommons-dbcp2-java "
            "(compose/bootstrap.sh does)"
        )
    return [str(j) for j in jars]


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise ActivityFailed(f"{name} not found: install openjdk-17-jdk-headless (compose/bootstrap.sh does)")
    return found


def build(build_dir: Path, timeout: float = 120.0) -> str:
    """Compile the client into ``build_dir`` (once per source version,
    within ``timeout`` seconds); returns the classpath to run it with."""
    source = SOURCE.read_bytes()
    out = build_dir / f"classes-{hashlib.sha256(source).hexdigest()[:12]}"
    jars = _jars()
    classpath = os.pathsep.join([str(out), *jars])
    if (out / f"{MAIN_CLASS}.class").is_file():
        return classpath
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    deadline = Deadline(timeout)
    cmd = [
        _tool("javac"),
        "-Xlint:all,-path",
        "-Werror",
        "-d",
        str(tmp),
        "-cp",
        os.pathsep.join(jars),
        str(SOURCE),
    ]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=deadline.remaining())  # noqa: S603
    except subprocess.TimeoutExpired:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ActivityFailed(f"javac did not finish within {timeout:g}s: is the machine overloaded?") from None
    if done.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ActivityFailed(f"javac failed on {SOURCE}: {(done.stderr or done.stdout)[-800:]}")
    try:
        tmp.rename(out)
    except OSError:  # built meanwhile by another process
        shutil.rmtree(tmp, ignore_errors=True)
    return classpath


def program(classpath: str, heap_mb: int = 256) -> Tuple[List[str], str]:
    """The command that runs the client (before its ``--run-id`` ...), and
    the word of it that marks the process as ours (for orphan checks)."""
    return [_tool("java"), f"-Xmx{heap_mb}m", "-cp", classpath, MAIN_CLASS], MAIN_CLASS

"""Failover profiles: one setting, ``CHAOSHA_FAILOVER_PROFILE``, picks the
timing of ZooKeeper, Patroni and HAProxy together.

A profile is ``compose/profiles/<name>.env``: the containers' env_file in
docker-compose.yml, read here too, so what the stack runs and what chaosha
checks come from one file.  ``default`` is what the suite has proven;
``fast`` (ttl 7 s, ZooKeeper tick 1 s, a patched Patroni 4.1.5) fails over a
crashed leader in under ~10 s (README: "Failover profiles").

Patroni's timing lives in the DCS: a new cluster takes it from
``bootstrap.dcs`` (the entrypoint writes it from the profile), a running one
is converged with ``PATCH /config`` (:func:`converge`, run by ``stack up``).
"""

from pathlib import Path
from typing import Any, Dict, List

from chaoslib.exceptions import ActivityFailed

from chaosha.clients import patroni, zk_tls
from chaosha.clients.zookeeper import four_letter_word
from chaosha.config import CHECKOUT, Settings, parse_env_file
from chaosha.timing import wait_until

__all__ = ["PROFILE_KEY", "FOLDER", "names", "values", "dcs", "differences", "converge", "session_timeouts_ms"]

PROFILE_KEY = "CHAOSHA_FAILOVER_PROFILE"
FOLDER = CHECKOUT / "compose" / "profiles"


def names(folder: Path = FOLDER) -> List[str]:
    """The profiles there are (one ``<name>.env`` each)."""
    return sorted(p.stem for p in folder.glob("*.env"))


def values(name: str, folder: Path = FOLDER) -> Dict[str, str]:
    """Profile ``name``'s container settings; ActivityFailed naming the
    known profiles when there is no such profile."""
    path = folder / f"{name}.env"
    if not name.replace("-", "").isalnum() or not path.is_file():
        raise ActivityFailed(
            f"unknown failover profile {name!r} ({PROFILE_KEY}): choose one of {', '.join(names(folder))}"
        )
    return parse_env_file(path)


def dcs(name: str, folder: Path = FOLDER) -> Dict[str, Any]:
    """Patroni's dynamic configuration that profile ``name`` sets (the body
    of a ``PATCH /config``)."""
    found = values(name, folder)
    return {
        "ttl": int(found["DCS_TTL"]),
        "loop_wait": int(found["DCS_LOOP_WAIT"]),
        "retry_timeout": int(found["DCS_RETRY_TIMEOUT"]),
        "maximum_lag_on_failover": int(found["DCS_MAXIMUM_LAG_ON_FAILOVER"]),
        "failsafe_mode": found["DCS_FAILSAFE_MODE"] == "true",
        "postgresql": {"parameters": {"wal_sender_timeout": found["PG_WAL_SENDER_TIMEOUT"]}},
    }


def differences(wanted: Dict[str, Any], current: Dict[str, Any]) -> Dict[str, Any]:
    """The part of ``wanted`` that ``current`` (``GET /config``) lacks, as a
    ``PATCH /config`` body; empty when the cluster already runs it."""
    patch: Dict[str, Any] = {}
    for key, value in wanted.items():
        have = current.get(key)
        if isinstance(value, dict):
            nested = differences(value, have if isinstance(have, dict) else {})
            if nested:
                patch[key] = nested
        elif str(have) != str(value):
            patch[key] = value
    return patch


def converge(settings: Settings, timeout: float = 120) -> Dict[str, Any]:
    """Bring the running cluster's dynamic configuration to the profile's
    (``PATCH /config`` of what differs), then wait (``timeout`` s) until
    every member's ZooKeeper session runs with the profile's ttl: a ttl
    change restarts the sessions (Patroni's ``set_ttl``).  Returns the
    profile, what was patched and the negotiated session timeouts (s)."""
    name = settings.get(PROFILE_KEY)
    wanted = dcs(name)
    patch = differences(wanted, patroni.dynamic_config(settings))
    if patch:
        code, text = patroni.post(settings, "/config", patch, method="PATCH")
        if code != 200:
            raise ActivityFailed(f"Patroni refused the {name} profile's settings {patch} ({code}): {text}")
    want = [wanted["ttl"] * 1000] * len(settings.pg_nodes)
    what = f"every member's ZooKeeper session to run with the {name} profile's ttl ({wanted['ttl']} s)"

    def negotiated() -> List[int]:
        found = session_timeouts_ms(settings)
        return found if found == want else []

    sessions, _ = wait_until(negotiated, timeout, 1, what)
    return {"profile": name, "patched": patch, "zk_session_timeouts_s": [ms / 1000 for ms in sessions]}


def session_timeouts_ms(settings: Settings, timeout: float = 5) -> List[int]:
    """Negotiated session timeouts (ms) of the Patroni members' ZooKeeper
    sessions, from every reachable member's 4lw ``cons`` (the host's own
    clients, addresses ending in .1 = the network gateway, left out)."""
    tls = zk_tls.client_context(settings)
    found: List[int] = []
    for node in settings.zk_nodes:
        try:
            text = four_letter_word(node, "cons", timeout, tls)
        except ActivityFailed:
            continue
        for line in text.splitlines():
            if "to=" in line and "sid=" in line and not line.strip().split(":")[0].endswith(".1"):
                found.append(int(line.split("to=")[1].split(",")[0].rstrip(")")))
    return sorted(found)

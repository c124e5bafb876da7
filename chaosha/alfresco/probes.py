"""Alfresco probes: repository readiness and an end-to-end document write.

Both return values instead of raising when Alfresco (or the database behind
it) is down, so they can serve as steady-state hypothesis probes; they raise
``ActivityFailed`` only for bad arguments or settings.
"""

import hashlib
import re
import time
import uuid
from typing import Any, Dict, List, Optional, Tuple

import requests
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaosha.clients.alfresco import (
    CORE,
    READY_PATH,
    AlfrescoSession,
    auth_mode,
    authenticate,
    call_timeout,
    client,
    error_summary,
)
from chaosha.config import load
from chaosha.timing import Deadline, parse_duration

__all__ = ["ready", "write_succeeds"]

# Names Alfresco refuses (Node.name pattern of alfresco-core.yaml).
_BAD_NAME = re.compile(r'[*"<>\\?:|]|[. ]$')
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


def ready(timeout_s: float = 10, configuration: Configuration = None, secrets: Secrets = None) -> Dict[str, Any]:
    """Alfresco's readiness probe (``GET .../probes/-ready-``, which touches
    the database): ``ready`` is true on HTTP 200.  Never raises for an
    unreachable or failing repository: ``ready`` is false and ``message``
    says why.  ``timeout_s`` bounds the call; ``took_s`` is what it took."""
    settings = load(configuration, secrets)
    seconds = _positive(timeout_s, "alfresco ready: timeout_s")
    result: Dict[str, Any] = {"ready": False, "http_status": None, "message": "", "took_s": 0.0}
    start = time.monotonic()
    with client(settings, timeout=seconds, auth="none") as session:
        url = session.base_url + READY_PATH
        try:
            response = session.get(READY_PATH)
        except requests.RequestException as exc:
            result["message"] = f"{url}: {_reason(exc, seconds)}"
        else:
            result["http_status"] = response.status_code
            result["ready"] = response.status_code == 200
            if response.status_code == 200:
                result["message"] = _entry(response).get("message", "")
            else:
                result["message"] = error_summary(response) or f"HTTP {response.status_code}"
    result["took_s"] = _took(start)
    return result


def write_succeeds(
    folder: str = "chaos-probe",
    timeout_s: float = 60,
    settle_s: float = 5,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> Dict[str, Any]:
    """Create ``probe-<uuid>.txt`` in ``folder`` (under Company Home, created
    if missing), upload a random nonce, read node and content back and
    compare sha256, delete it permanently and check it is gone.

    A timeout, 5xx or 409 on the create is never retried: the node is looked
    up by path (for up to ``settle_s`` seconds) and ``outcome`` becomes
    ``committed-late`` (found: the probe carries on) or ``lost``.  Otherwise
    ``outcome`` is ``ok`` or ``failed``; ``ok`` is true when the document was
    durable, intact and cleaned up.  ``steps`` holds each call's seconds
    ``s`` and ``http_status``.  ``timeout_s`` bounds the whole probe;
    ``took_s`` is what it took."""
    settings = load(configuration, secrets)
    path = _check_folder(folder)
    seconds = _positive(timeout_s, "alfresco write_succeeds: timeout_s")
    grace = parse_duration(settle_s, "alfresco write_succeeds: settle_s")
    mode = auth_mode(settings)
    name = f"probe-{uuid.uuid4()}.txt"
    payload = f"chaosha write probe {name}\nnonce {uuid.uuid4().hex}\n".encode()
    run = _Run(client(settings, auth="none"), Deadline(seconds), call_timeout(settings))
    result: Dict[str, Any] = {
        "ok": False,
        "node_id": None,
        "name": name,
        "folder": path,
        "steps": run.steps,
        "outcome": "failed",
        "error": None,
        "committed_late": False,
        "sha256": hashlib.sha256(payload).hexdigest(),
    }
    node_id: Optional[str] = None
    with run.session:
        try:
            if mode == "ticket":
                run.login(settings)
            else:
                authenticate(run.session, settings, mode)
            node_id, outcome = _create(run, path, name, grace)
            result["node_id"], result["outcome"] = node_id, outcome
            result["committed_late"] = outcome == "committed-late"
            _upload_and_verify(run, node_id, name, payload, result)
        except _Stop as stop:
            result["error"] = stop.message
            if stop.outcome:
                result["outcome"] = stop.outcome
        finally:
            if node_id:
                _cleanup(run, node_id, path, result)
    if result["error"] and result["outcome"] in ("ok", "committed-late"):
        result["outcome"] = "failed"
    result["ok"] = result["error"] is None
    result["took_s"] = round(run.deadline.elapsed(), 3)
    return result


class _Stop(Exception):
    """Ends the probe early with an error (and possibly an outcome)."""

    def __init__(self, message: str, outcome: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.outcome = outcome


class _Run:
    """One probe run: the session, its deadline and the per-step record."""

    def __init__(self, session: AlfrescoSession, deadline: Deadline, per_call: float) -> None:
        self.session = session
        self.deadline = deadline
        self.per_call = per_call
        self.steps: Dict[str, Dict[str, Any]] = {}

    def budget(self, step: str) -> float:
        remaining = self.deadline.remaining()
        if remaining <= 0:
            self.steps.setdefault(step, {"s": 0.0, "http_status": None, "skipped": "deadline"})
            raise _Stop(f"deadline of {self.deadline.end - self.deadline.start:g}s exceeded before step {step}")
        return min(self.per_call, remaining)

    def call(self, step: str, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One request; raises ``requests.RequestException`` after recording it."""
        seconds = self.budget(step)
        start = time.monotonic()
        try:
            response = self.session.request(method, path, timeout=seconds, **kwargs)
        except requests.RequestException as exc:
            self.steps[step] = {"s": _took(start), "http_status": None, "error": _reason(exc, seconds)}
            raise
        self.steps[step] = {"s": _took(start), "http_status": response.status_code}
        return response

    def must(self, step: str, method: str, path: str, expect: int, **kwargs: Any) -> requests.Response:
        """A request whose only acceptable answer is ``expect``."""
        try:
            response = self.call(step, method, path, **kwargs)
        except requests.RequestException:
            raise _Stop(f"{step}: {self.steps[step]['error']}") from None
        if response.status_code != expect:
            raise _Stop(f"{step}: HTTP {response.status_code} (expected {expect}): {_explain(response)}")
        return response

    def login(self, settings: Any) -> None:
        seconds = self.budget("login")
        start = time.monotonic()
        try:
            authenticate(self.session, settings, "ticket", seconds)
        except ActivityFailed as exc:
            self.steps["login"] = {"s": _took(start), "http_status": None}
            raise _Stop(f"login: {exc}") from None
        self.steps["login"] = {"s": _took(start), "http_status": 201}


def _create(run: _Run, folder: str, name: str, settle: float) -> Tuple[str, str]:
    """Create the node once; on an ambiguous answer reconcile by path."""
    body = {"name": name, "nodeType": "cm:content", "relativePath": folder}
    try:
        response = run.call(
            "create", "POST", f"{CORE}/nodes/-root-/children", params={"autoRename": "false"}, json=body
        )
    except requests.RequestException as exc:
        why = run.steps["create"]["error"]
        if _not_sent(exc):  # nothing reached Alfresco: no doubt to reconcile
            raise _Stop(f"create: {why}") from None
    else:
        if response.status_code == 201:
            return str(_entry(response).get("id", "")), "ok"
        if response.status_code != 409 and response.status_code < 500:
            raise _Stop(f"create: HTTP {response.status_code}: {_explain(response)}")
        why = f"HTTP {response.status_code}: {error_summary(response)}"
    node_id = _reconcile(run, f"{folder}/{name}", name, settle, why)
    return node_id, "committed-late"


def _reconcile(run: _Run, path: str, name: str, settle: float, why: str) -> str:
    """Look the node up by path until found, or absent for ``settle`` s."""
    start = time.monotonic()
    attempts = 0
    last = "no answer"
    absent = False
    while True:
        attempts += 1
        try:
            response = run.call("reconcile", "GET", f"{CORE}/nodes/-root-", params={"relativePath": path})
        except requests.RequestException:
            last = run.steps["reconcile"]["error"]
        except _Stop:
            break
        else:
            if response.status_code == 200 and _entry(response).get("name") == name:
                run.steps["reconcile"]["attempts"] = attempts
                return str(_entry(response)["id"])
            absent = response.status_code == 404
            last = f"HTTP {response.status_code}"
        run.steps["reconcile"]["attempts"] = attempts
        waited = time.monotonic() - start
        if absent and waited >= settle:
            break
        pause = min(1.0, max(settle / 5, 0.05), run.deadline.remaining())
        if pause <= 0:
            break
        time.sleep(pause)
    if absent:
        raise _Stop(f"create failed ({why}) and {path} is absent: write lost", "lost")
    raise _Stop(f"create failed ({why}) and looking {path} up failed too ({last}): outcome unknown", "failed")


def _upload_and_verify(run: _Run, node_id: str, name: str, payload: bytes, result: Dict[str, Any]) -> None:
    node = f"{CORE}/nodes/{node_id}"
    run.must(
        "upload", "PUT", f"{node}/content", 200, data=payload, headers={"Content-Type": "text/plain;charset=UTF-8"}
    )
    entry = _entry(run.must("read-node", "GET", node, 200))
    if entry.get("name") != name:
        raise _Stop(f"read-node: node {node_id} is named {entry.get('name')!r}, not {name!r}")
    content = run.must("read-content", "GET", f"{node}/content", 200, params={"attachment": "false"}).content
    result["sha256_read"] = hashlib.sha256(content).hexdigest()
    if result["sha256_read"] != result["sha256"]:
        raise _Stop(
            f"content-mismatch: wrote {len(payload)} bytes sha256 "
            f"{result['sha256'][:12]}…, read {len(content)} bytes sha256 "
            f"{result['sha256_read'][:12]}…"
        )


def _cleanup(run: _Run, node_id: str, folder: str, result: Dict[str, Any]) -> None:
    """Delete permanently and confirm 404; a leftover is an error."""
    node = f"{CORE}/nodes/{node_id}"
    problems: List[str] = []
    try:
        try:
            run.call("delete", "DELETE", node, params={"permanent": "true"})
        except requests.RequestException:
            pass  # the delete may still have committed: the read below decides
        response = run.call("verify-gone", "GET", node)
        if response.status_code != 404:
            problems.append(f"verify-gone: HTTP {response.status_code} after permanent delete")
    except requests.RequestException:
        problems.append(f"verify-gone: {run.steps['verify-gone']['error']}")
    except _Stop as stop:
        problems.append(stop.message)
    if problems:
        problems.append(f"node {node_id} may be left in {folder}")
        result["error"] = "; ".join(filter(None, [result["error"], *problems]))


def _entry(response: requests.Response) -> Dict[str, Any]:
    try:
        entry = response.json().get("entry")
    except (ValueError, AttributeError):
        return {}
    return entry if isinstance(entry, dict) else {}


def _explain(response: requests.Response) -> str:
    summary = error_summary(response)
    if response.status_code == 401:
        return f"authentication failed ({summary}): check CHAOSHA_ALFRESCO_USER and CHAOSHA_ALFRESCO_PASSWORD"
    return summary


def _reason(exc: requests.RequestException, seconds: float) -> str:
    if isinstance(exc, requests.ConnectTimeout):
        return "connect timed out"
    if isinstance(exc, requests.Timeout):
        return f"no answer within {seconds:.3g}s"
    found = _ERRNO.search(str(exc))
    return found.group(1).strip() if found else str(exc)


def _not_sent(exc: requests.RequestException) -> bool:
    """True when the request cannot have reached the server."""
    return isinstance(exc, requests.ConnectTimeout) or (
        isinstance(exc, requests.ConnectionError) and "Failed to establish a new connection" in str(exc)
    )


def _took(start: float) -> float:
    """Seconds since ``start`` (monotonic), to the millisecond."""
    return round(time.monotonic() - start, 3)


def _positive(value: Any, what: str) -> float:
    seconds = parse_duration(value, what)
    if seconds <= 0:
        raise ActivityFailed(f"{what}: {value!r} must be more than zero seconds")
    return seconds


def _check_folder(folder: str) -> str:
    path = str(folder or "").strip("/")
    parts = path.split("/")
    if not path or any(not p or _BAD_NAME.search(p) for p in parts):
        raise ActivityFailed(
            f"alfresco write_succeeds: folder {folder!r} is not a usable path under "
            'Company Home: use names like chaos-probe or a/b, without * " < > \\ ? : | '
            "and not ending in a dot or space"
        )
    return path

"""The Alfresco REST client factory: one ``requests.Session`` per use, with
the repository's base URL, authentication and a deadline on every request.

Settings: ``CHAOSHA_ALFRESCO_URL`` (default ``http://127.0.0.1:8080``),
``CHAOSHA_ALFRESCO_USER`` / ``CHAOSHA_ALFRESCO_PASSWORD``,
``CHAOSHA_ALFRESCO_AUTH`` (``basic``, the default, or ``ticket``: log in once
through the authentication API and send ``Basic base64(ticket)``), and
``CHAOSHA_ALFRESCO_TIMEOUT`` (read deadline of one call, default
``CHAOSHA_TIMEOUT``).  Connecting never waits longer than 5 s.

Paths follow the REST API explorer's Swagger definitions (tag 23.4.0):
``alfresco-core.yaml`` (basePath ``CORE``) and ``alfresco-auth.yaml``
(basePath ``AUTH``).
"""

import base64
from typing import Any, Dict, Tuple

import requests
from chaoslib.exceptions import ActivityFailed

from chaosha.config import Settings

__all__ = [
    "AlfrescoSession",
    "client",
    "auth_mode",
    "authenticate",
    "login",
    "call_timeout",
    "error_summary",
    "CORE",
    "AUTH",
    "READY_PATH",
    "CONNECT_TIMEOUT",
]

CORE = "/alfresco/api/-default-/public/alfresco/versions/1"
AUTH = "/alfresco/api/-default-/public/authentication/versions/1"
# The probes are a resource of the core API (ProbeEntityResource); this is the
# path of the spec and of the official Compose healthcheck.
READY_PATH = f"{CORE}/probes/-ready-"
CONNECT_TIMEOUT = 5.0


class AlfrescoSession(requests.Session):
    """A session whose relative paths (``/alfresco/...``) resolve against
    ``base_url`` and whose every request carries a ``(connect, read)``
    timeout; a bare number passed as ``timeout`` is the read deadline."""

    def __init__(self, base_url: str, read_timeout: float) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.read_timeout = read_timeout
        self.headers["Accept"] = "application/json"

    def timeouts(self, read: float = 0) -> Tuple[float, float]:
        seconds = max(read or self.read_timeout, 0.001)
        return (min(CONNECT_TIMEOUT, seconds), seconds)

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        if isinstance(url, str) and url.startswith("/"):
            url = self.base_url + url
        timeout = kwargs.get("timeout")
        if timeout is None:
            kwargs["timeout"] = self.timeouts()
        elif isinstance(timeout, (int, float)):
            kwargs["timeout"] = self.timeouts(float(timeout))
        return super().request(method, url, *args, **kwargs)


def call_timeout(settings: Settings) -> float:
    """Read deadline of one REST call: ``CHAOSHA_ALFRESCO_TIMEOUT``, else
    ``CHAOSHA_TIMEOUT``."""
    if settings.get("CHAOSHA_ALFRESCO_TIMEOUT"):
        return settings.seconds("CHAOSHA_ALFRESCO_TIMEOUT")
    return settings.timeout


def error_summary(response: requests.Response) -> str:
    """``briefSummary`` of an Alfresco error body, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error: Dict[str, Any] = body["error"]
        return str(error.get("briefSummary") or error.get("errorKey") or "")
    return response.text[:200].strip()


def client(settings: Settings, timeout: float = 0, auth: str = "") -> AlfrescoSession:
    """A session on ``CHAOSHA_ALFRESCO_URL``.

    ``timeout`` is the read deadline of each call (default
    :func:`call_timeout`).  ``auth`` is ``basic``, ``ticket`` or ``none``
    (default ``CHAOSHA_ALFRESCO_AUTH`` or ``basic``).  Logging in for a
    ticket raises ``ActivityFailed`` when refused or unreachable.
    """
    url = settings.get("CHAOSHA_ALFRESCO_URL")
    if not url.startswith(("http://", "https://")):
        raise ActivityFailed(
            f"CHAOSHA_ALFRESCO_URL={url!r} is not an http(s) URL: set it to the "
            "repository's address, e.g. http://127.0.0.1:8080"
        )
    mode = auth_mode(settings, auth)
    session = AlfrescoSession(url, timeout or call_timeout(settings))
    authenticate(session, settings, mode)
    return session


def auth_mode(settings: Settings, auth: str = "") -> str:
    """``auth`` or ``CHAOSHA_ALFRESCO_AUTH`` (default ``basic``), checked."""
    mode = (auth or settings.get("CHAOSHA_ALFRESCO_AUTH") or "basic").strip().lower()
    if mode not in ("basic", "ticket", "none"):
        raise ActivityFailed(f"CHAOSHA_ALFRESCO_AUTH={mode!r} is unknown: use basic, ticket or none")
    return mode


def authenticate(session: AlfrescoSession, settings: Settings, mode: str = "basic", timeout: float = 0) -> None:
    """Make ``session`` send the configured credentials: HTTP basic, or
    ``Basic base64(ticket)`` after logging in (``timeout`` bounds the login)."""
    user = settings.get("CHAOSHA_ALFRESCO_USER")
    password = settings.get("CHAOSHA_ALFRESCO_PASSWORD")
    if mode == "basic":
        session.auth = (user, password)
    elif mode == "ticket":
        ticket = login(session, user, password, timeout)
        token = base64.b64encode(ticket.encode()).decode()
        session.headers["Authorization"] = f"Basic {token}"


def login(session: AlfrescoSession, user: str, password: str, timeout: float = 0) -> str:
    """Create a ticket (``POST AUTH/tickets``) and return its id; raises
    ``ActivityFailed`` when refused or unreachable."""
    where = f"{session.base_url}{AUTH}/tickets"
    try:
        response = session.post(
            f"{AUTH}/tickets", json={"userId": user, "password": password}, timeout=session.timeouts(timeout)
        )
    except requests.RequestException as exc:
        raise ActivityFailed(f"Alfresco login at {where} failed: {exc}") from None
    if response.status_code != 201:
        raise ActivityFailed(
            f"Alfresco login as {user!r} at {where} refused (HTTP {response.status_code}: "
            f"{error_summary(response)}): check CHAOSHA_ALFRESCO_USER and "
            "CHAOSHA_ALFRESCO_PASSWORD"
        )
    try:
        return str(response.json()["entry"]["id"])
    except (ValueError, KeyError, TypeError):
        raise ActivityFailed(
            f"Alfresco login at {where} answered 201 without entry.id: is "
            "CHAOSHA_ALFRESCO_URL an Alfresco repository?"
        ) from None

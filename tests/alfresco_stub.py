"""A stand-in for Alfresco Community 23.4's REST API v1, for unit tests.

It serves only what ``chaosha.alfresco`` uses, with the paths, status codes
and JSON shapes of the REST API explorer's Swagger definitions (tag 23.4.0:
``alfresco-core.yaml``, ``alfresco-auth.yaml``) and of the repository's
``ProbeEntityResource`` (tag 23.4.1.1):

- ``GET  CORE/probes/-ready-`` / ``-live-`` (no authentication): 200
  ``{"entry":{"message":"readyProbe: Success - Tested"}}``, 503 error body;
  another probe name answers 400 like the code does (the spec says 404);
- ``POST AUTH/tickets`` ``{userId,password}``: 201 ``{"entry":{"id","userId"}}``,
  400 when a field is missing, 403 when refused; ``GET AUTH/tickets/-me-``;
- ``GET CORE/nodes/{id}[?relativePath=]``, ``POST CORE/nodes/{id}/children``
  (``autoRename``, ``relativePath`` creating folders; 201/400/404/409),
  ``PUT``/``GET CORE/nodes/{id}/content`` (200), ``DELETE CORE/nodes/{id}``
  (204); ``-root-`` is Company Home;
- HTTP basic authentication, or ``Basic base64(ticket)``; 401 otherwise.

Errors carry ``{"error":{"errorKey","statusCode","briefSummary",
"stackTrace","descriptionURL","logId"}}``.  Failure modes are attributes:

- ``ready_fails``: the readiness probe answers 503;
- ``create_mode``: ``"conflict"`` (the node is committed, the answer is 409,
  as when Alfresco retries a commit whose outcome it did not see),
  ``"commit-timeout"`` (committed, then the answer is held ``hang`` seconds),
  ``"commit-500"`` (committed, answer 500), ``"lost"`` (500, nothing stored);
- ``content_mismatch``: content is returned altered;
- ``down_after_create``: once a create was answered, every node call
  answers 500 (the database went away);
- ``delete_mode``: ``"noop"`` (204 but the node stays) or ``"commit-500"``
  (deleted, answer 500);
- ``delay``: seconds every response is held back.

``calls`` records every request as ``(method, path, query)``.
"""

import base64
import json
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

CORE = "/alfresco/api/-default-/public/alfresco/versions/1"
AUTH = "/alfresco/api/-default-/public/authentication/versions/1"
ROOT_ID = "8f2105b4-daaf-4874-9e8a-2152569d109b"
_BAD_NAME = ("*", '"', "<", ">", "\\", "/", "?", ":", "|")


def _now() -> str:
    stamp = datetime.now(UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}+0000"


class AlfrescoStub:
    """Start with :meth:`start` (or ``with``); ``url`` is its base URL."""

    def __init__(self, user: str = "admin", password: str = "admin") -> None:  # noqa: S107
        self.user = user
        self.password = password
        self.lock = threading.Lock()
        self.nodes: Dict[str, Dict[str, Any]] = {}
        self.tickets: Dict[str, str] = {}
        self.calls: List[Tuple[str, str, Dict[str, str]]] = []
        self.ready_fails = False
        self.create_mode = "normal"
        self.hang = 0.0
        self.content_mismatch = False
        self.down_after_create = False
        self.down = False
        self.delete_mode = "normal"
        self.delay = 0.0
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self._add_node(ROOT_ID, "Company Home", "cm:folder", None)

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> "AlfrescoStub":
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.stub = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="alfresco-stub", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "AlfrescoStub":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "stub not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- inspection helpers for tests --------------------------------------
    def count(self, method: str, path_suffix: str) -> int:
        return sum(1 for m, p, _ in self.calls if m == method and p.endswith(path_suffix))

    def find(self, relative_path: str) -> Optional[Dict[str, Any]]:
        with self.lock:
            return self._resolve(ROOT_ID, relative_path)

    def files(self) -> List[Dict[str, Any]]:
        with self.lock:
            return [n for n in self.nodes.values() if not n["isFolder"]]

    # -- repository model --------------------------------------------------
    def _add_node(self, node_id: str, name: str, node_type: str, parent: Optional[str]) -> Dict[str, Any]:
        stamp = _now()
        node = {
            "id": node_id,
            "name": name,
            "nodeType": node_type,
            "isFolder": node_type == "cm:folder",
            "isFile": node_type != "cm:folder",
            "parentId": parent,
            "createdAt": stamp,
            "modifiedAt": stamp,
            "content": b"",
            "mimeType": "text/plain",
        }
        self.nodes[node_id] = node
        return node

    def _child(self, parent: str, name: str) -> Optional[Dict[str, Any]]:
        for node in self.nodes.values():
            if node["parentId"] == parent and node["name"] == name:
                return node
        return None

    def _resolve(self, start: str, relative_path: str) -> Optional[Dict[str, Any]]:
        node = self.nodes.get(start)
        for part in [p for p in relative_path.split("/") if p]:
            if node is None:
                return None
            node = self._child(node["id"], part)
        return node

    def entry(self, node: Dict[str, Any]) -> Dict[str, Any]:
        user = {"id": self.user, "displayName": "Administrator"}
        entry: Dict[str, Any] = {
            "id": node["id"],
            "name": node["name"],
            "nodeType": node["nodeType"],
            "isFolder": node["isFolder"],
            "isFile": node["isFile"],
            "createdAt": node["createdAt"],
            "createdByUser": user,
            "modifiedAt": node["modifiedAt"],
            "modifiedByUser": user,
            "aspectNames": ["cm:auditable"],
        }
        if node["parentId"]:
            entry["parentId"] = node["parentId"]
        if node["isFile"]:
            entry["content"] = {
                "mimeType": node["mimeType"],
                "mimeTypeName": "Plain Text",
                "sizeInBytes": len(node["content"]),
                "encoding": "UTF-8",
            }
        return {"entry": entry}


def _error(status: int, key: str, summary: str) -> Dict[str, Any]:
    log_id = uuid.uuid4().hex[:8]
    return {
        "error": {
            "errorKey": key,
            "statusCode": status,
            "briefSummary": f"{log_id} {summary}",
            "stackTrace": "For security reasons the stack trace is no longer displayed, "
            "but the property is kept for previous versions",
            "descriptionURL": "https://api-explorer.alfresco.com",
            "logId": log_id,
        }
    }


class _Handler(BaseHTTPRequestHandler):
    server_version = "Apache-Coyote/1.1"

    @property
    def stub(self) -> AlfrescoStub:
        return self.server.stub  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- plumbing ----------------------------------------------------------
    def _send(
        self,
        status: int,
        body: Any = None,
        content_type: str = "application/json",
        headers: Optional[Dict[str, str]] = None,
    ) -> None:
        if self.stub.delay:
            time.sleep(self.stub.delay)
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
        elif isinstance(body, bytes):
            data = body
        else:
            data = b""
        try:
            self.send_response(status)
            if status != 204:
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if data and status != 204:
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout under test): nothing to do

    def _fail(self, status: int, key: str, summary: str) -> None:
        headers = {"WWW-Authenticate": 'Basic realm="Alfresco"'} if status == 401 else None
        self._send(status, _error(status, key, summary), headers=headers)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _user(self) -> Optional[str]:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            decoded = base64.b64decode(header[6:]).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        user, sep, password = decoded.partition(":")
        if not sep:  # Basic base64(ticket)
            return self.stub.tickets.get(decoded)
        if user == self.stub.user and password == self.stub.password:
            return user
        return None

    def _route(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        with self.stub.lock:
            self.stub.calls.append((method, path, query))
        try:
            self._dispatch(method, path, query)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    # -- endpoints ---------------------------------------------------------
    def _dispatch(self, method: str, path: str, query: Dict[str, str]) -> None:
        if path.startswith(f"{CORE}/probes/") and method == "GET":
            return self._probe(path.rsplit("/", 1)[-1])
        if path == f"{AUTH}/tickets" and method == "POST":
            return self._login()
        if path == f"{AUTH}/tickets/-me-" and method == "GET":
            return self._ticket()
        if not path.startswith(f"{CORE}/nodes/"):
            return self._fail(404, "framework.exception.NotFound", f"{path} was not found")
        if self._user() is None:
            return self._fail(401, "framework.exception.ApiDefault", "Authentication failed")
        if self.stub.down:
            return self._fail(500, "framework.exception.ApiDefault", "Unknown error calling the Rest API")
        rest = path[len(f"{CORE}/nodes/") :].split("/")
        node_id = ROOT_ID if rest[0] == "-root-" else rest[0]
        tail = "/".join(rest[1:])
        if method == "GET" and not tail:
            return self._get_node(node_id, query.get("relativePath", ""))
        if method == "POST" and tail == "children":
            try:
                return self._create(node_id, query)
            finally:
                self.stub.down = self.stub.down_after_create
        if method == "PUT" and tail == "content":
            return self._put_content(node_id)
        if method == "GET" and tail == "content":
            return self._get_content(node_id)
        if method == "DELETE" and not tail:
            return self._delete(node_id)
        return self._fail(405, "framework.exception.UnsupportedResourceOperation", "The operation is unsupported")

    def _probe(self, name: str) -> None:
        if name == "-live-":
            return self._send(200, {"entry": {"message": "liveProbe: Success - Tested"}})
        if name != "-ready-":
            return self._fail(
                400, "framework.exception.InvalidArgument", "An invalid argument was received Bad probe name"
            )
        if self.stub.ready_fails:
            return self._fail(
                503, "framework.exception.ServiceUnavailableException", "readyProbe: Failure - Tested"
            )
        return self._send(200, {"entry": {"message": "readyProbe: Success - Tested"}})

    def _login(self) -> None:
        try:
            body = json.loads(self._body() or b"{}")
        except ValueError:
            body = {}
        user, password = body.get("userId"), body.get("password")
        if not user or not password:
            return self._fail(
                400,
                "framework.exception.InvalidArgument",
                "An invalid argument was received userId or password is missing",
            )
        if user != self.stub.user or password != self.stub.password:
            return self._fail(403, "framework.exception.PermissionDenied", "Login failed")
        ticket = f"TICKET_{uuid.uuid4().hex}"
        with self.stub.lock:
            self.stub.tickets[ticket] = user
        return self._send(201, {"entry": {"id": ticket, "userId": user}})

    def _ticket(self) -> None:
        header = self.headers.get("Authorization", "")
        ticket = base64.b64decode(header[6:]).decode() if header.startswith("Basic ") else ""
        user = self.stub.tickets.get(ticket)
        if user is None:
            return self._fail(401, "framework.exception.ApiDefault", "Authentication failed")
        return self._send(200, {"entry": {"id": ticket}})

    def _get_node(self, node_id: str, relative_path: str) -> None:
        with self.stub.lock:
            node = self.stub._resolve(node_id, relative_path)
            body = self.stub.entry(node) if node else None
        if body is None:
            return self._fail(
                404,
                "framework.exception.EntityNotFound",
                f"The entity with id: {relative_path or node_id} was not found",
            )
        return self._send(200, body)

    def _create(self, parent_id: str, query: Dict[str, str]) -> None:
        try:
            body = json.loads(self._body() or b"{}")
        except ValueError:
            return self._fail(
                400,
                "framework.exception.InvalidArgument",
                "An invalid argument was received Could not read content",
            )
        name, node_type = body.get("name"), body.get("nodeType")
        if not name or not node_type or any(c in name for c in _BAD_NAME):
            return self._fail(
                400,
                "framework.exception.InvalidArgument",
                "An invalid argument was received name and nodeType are required",
            )
        mode = self.stub.create_mode
        if mode == "lost":
            return self._fail(500, "framework.exception.ApiDefault", "Unknown error calling the Rest API")
        auto_rename = query.get("autoRename", "false").lower() == "true"
        with self.stub.lock:
            parent = self.stub.nodes.get(parent_id)
            if parent is None or not parent["isFolder"]:
                clash = None
            else:
                for part in [p for p in str(body.get("relativePath", "")).split("/") if p]:
                    child = self.stub._child(parent["id"], part)
                    if child is None:
                        child = self.stub._add_node(str(uuid.uuid4()), part, "cm:folder", parent["id"])
                    parent = child
                clash = self.stub._child(parent["id"], name)
            if parent is not None and clash is not None and auto_rename:
                stem, dot, ext = name.rpartition(".")
                n = 1
                while self.stub._child(parent["id"], name):
                    name = f"{stem}-{n}{dot}{ext}" if dot else f"{body['name']}-{n}"
                    n += 1
                clash = None
            node = None
            if parent is not None and parent["isFolder"] and clash is None:
                node = self.stub._add_node(str(uuid.uuid4()), name, node_type, parent["id"])
                entry = self.stub.entry(node)
        if parent is None:
            return self._fail(
                404, "framework.exception.EntityNotFound", f"The entity with id: {parent_id} was not found"
            )
        if clash is not None:
            return self._fail(
                409, "framework.exception.ConstraintViolated", f"Duplicate child name not allowed: {name}"
            )
        if node is None:
            return self._fail(
                400,
                "framework.exception.InvalidArgument",
                "An invalid argument was received parent is not a folder",
            )
        if mode == "conflict":
            return self._fail(
                409, "framework.exception.ConstraintViolated", f"Duplicate child name not allowed: {name}"
            )
        if mode == "commit-500":
            return self._fail(500, "framework.exception.ApiDefault", "Unknown error calling the Rest API")
        if mode == "commit-timeout":
            time.sleep(self.stub.hang)
        return self._send(201, entry)

    def _put_content(self, node_id: str) -> None:
        data = self._body()
        mime = self.headers.get("Content-Type", "application/octet-stream").split(";")[0]
        with self.stub.lock:
            node = self.stub.nodes.get(node_id)
            if node is not None and node["isFile"]:
                node["content"], node["mimeType"] = data, mime
                node["modifiedAt"] = _now()
                body = self.stub.entry(node)
        if node is None:
            return self._fail(
                404, "framework.exception.EntityNotFound", f"The entity with id: {node_id} was not found"
            )
        if not node["isFile"]:
            return self._fail(
                400,
                "framework.exception.InvalidArgument",
                f"An invalid argument was received {node_id} is not a file",
            )
        return self._send(200, body)

    def _get_content(self, node_id: str) -> None:
        with self.stub.lock:
            node = self.stub.nodes.get(node_id)
            data = bytes(node["content"]) if node else b""
            mime = node["mimeType"] if node else ""
        if node is None:
            return self._fail(
                404, "framework.exception.EntityNotFound", f"The entity with id: {node_id} was not found"
            )
        if self.stub.content_mismatch:
            data = data[:-1] + bytes([data[-1] ^ 0x20]) if data else b"?"
        return self._send(200, data, content_type=mime)

    def _delete(self, node_id: str) -> None:
        with self.stub.lock:
            node = self.stub.nodes.get(node_id)
            if node is not None and node_id != ROOT_ID and self.stub.delete_mode != "noop":
                doomed = [node_id]
                while doomed:
                    current = doomed.pop()
                    doomed += [n["id"] for n in self.stub.nodes.values() if n["parentId"] == current]
                    del self.stub.nodes[current]
        if node is None:
            return self._fail(
                404, "framework.exception.EntityNotFound", f"The entity with id: {node_id} was not found"
            )
        if node_id == ROOT_ID:
            return self._fail(403, "framework.exception.PermissionDenied", "Permission was denied")
        if self.stub.delete_mode == "commit-500":
            return self._fail(500, "framework.exception.ApiDefault", "Unknown error calling the Rest API")
        return self._send(204)

"""HTTP plumbing: a threaded stdlib server on 127.0.0.1 that parses requests the way Slack does
(JSON, form or multipart bodies, bearer or ``token=`` auth) and hands them to the fake."""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import itertools
import json
import socket
import socketserver
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from tests.fakes.slack.workspace import Request

API_PATH = "/api/"
UPLOAD_PATH = "/upload/"

#: Parameters that Slack accepts as JSON-encoded strings (form bodies) and that we decode for assertions.
JSON_FIELDS = frozenset({"blocks", "view", "attachments", "files", "metadata"})


@dataclass
class Reply:
    body: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


class App(Protocol):
    def handle_api(self, req: Request, connection: int, http_method: str) -> Reply: ...

    def handle_upload(self, file_id: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]: ...

    def record_error(self, error: BaseException) -> None: ...


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, app: App) -> None:
        self.app = app
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        self._connections = itertools.count(1)
        super().__init__(("127.0.0.1", 0), Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn), which can be slow in sandboxes.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def opened(self, sock: socket.socket) -> int:
        """Track a new connection; returns its sequence number."""
        with self._open_lock:
            self._open.add(sock)
            return next(self._connections)

    def closed(self, sock: socket.socket) -> None:
        with self._open_lock:
            self._open.discard(sock)

    def close_open_connections(self) -> None:
        """Unblock handler threads parked on idle keep-alive connections."""
        with self._open_lock:
            socks = list(self._open)
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # idle keep-alive connections are dropped after this many seconds
    server: Server

    def setup(self) -> None:
        super().setup()
        self.connection_number = self.server.opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.closed(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output quiet

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def _dispatch(self, http_method: str) -> None:
        app = self.server.app
        try:
            body = self._read_body()
            url = urlsplit(self.path)
            headers = {k.lower(): v for k, v in self.headers.items()}
            if url.path.startswith(UPLOAD_PATH):
                status, text = app.handle_upload(url.path.removeprefix(UPLOAD_PATH), body, headers)
                self._send(status, text.encode(), "text/plain; charset=utf-8", {})
                return
            if not url.path.startswith(API_PATH):
                self._send(404, b"Not Found", "text/plain; charset=utf-8", {})
                return
            params = parse_params(url.query, headers.get("content-type", ""), body)
            req = Request(url.path.removeprefix(API_PATH), params, headers, token_of(headers, params))
            reply = app.handle_api(req, self.connection_number, http_method)
            payload = json.dumps(reply.body).encode()
            self._send(reply.status, payload, "application/json; charset=utf-8", reply.headers)
        except (BrokenPipeError, ConnectionResetError):  # the client went away (e.g. a killed worker)
            self.close_connection = True
        except Exception as e:
            app.record_error(e)
            payload = json.dumps({"ok": False, "error": f"fake_slack_internal_error: {e!r}"}).encode()
            self._send(500, payload, "application/json; charset=utf-8", {})
            self.close_connection = True

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, payload: bytes, content_type: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()


def token_of(headers: dict[str, str], params: dict[str, Any]) -> str | None:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    token = params.get("token")
    return token if isinstance(token, str) and token else None


def _flatten(qs: dict[str, list[str]]) -> dict[str, Any]:
    return {k: v[0] if len(v) == 1 else v for k, v in qs.items()}


def parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    fields: dict[str, Any] = {}
    if not message.is_multipart():
        return fields
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        data = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            fields[name] = data
        else:
            fields[name] = data.decode(part.get_content_charset() or "utf-8")
    return fields


def parse_params(query: str, content_type: str, body: bytes) -> dict[str, Any]:
    params: dict[str, Any] = _flatten(parse_qs(query, keep_blank_values=True)) if query else {}
    ctype = content_type.split(";", 1)[0].strip().lower()
    if body:
        if ctype == "application/json":
            decoded = json.loads(body)
            if isinstance(decoded, dict):
                params.update(decoded)
        elif ctype == "multipart/form-data":
            params.update(parse_multipart(content_type, body))
        else:  # application/x-www-form-urlencoded (also the fallback, as Slack does)
            params.update(_flatten(parse_qs(body.decode("utf-8"), keep_blank_values=True)))
    for key in JSON_FIELDS & params.keys():
        value = params[key]
        if isinstance(value, str) and value[:1] in ("[", "{"):
            with contextlib.suppress(ValueError):
                params[key] = json.loads(value)
    return params

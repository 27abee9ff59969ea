"""Azure Communication Services Email, locally: the REST API the `azure-communication-email` SDK
speaks (`POST /emails:send`, 202 with Operation-Location, `GET /emails/operations/{id}`), with its
HMAC-SHA256 request signing checked as the service does, keeping every message for tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import ssl
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from localdev.graph_standin import ensure_certificates

SENDER = "DoNotReply@alerts.tenantry.local"


@dataclass
class SentEmail:
    id: str
    sender: str
    to: list[str]
    subject: str
    text: str


@dataclass
class EmailState:
    access_key: str
    sent: list[SentEmail] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def to(self, address: str) -> list[SentEmail]:
        with self.lock:
            return [m for m in self.sent if address.lower() in (a.lower() for a in m.to)]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _signed(self, body: bytes) -> bool:
        """The service's check: SignedHeaders x-ms-date;host;x-ms-content-sha256 over verb, path+query."""
        content_hash = base64.b64encode(hashlib.sha256(body).digest()).decode()
        if self.headers.get("x-ms-content-sha256") != content_hash:
            return False
        date = self.headers.get("x-ms-date", "")
        to_sign = f"{self.command}\n{self.path}\n{date};{self.headers.get('host', '')};{content_hash}"
        key = base64.b64decode(self.server.state.access_key)
        expected = base64.b64encode(hmac.new(key, to_sign.encode(), hashlib.sha256).digest()).decode()
        authorization = self.headers.get("authorization", "")
        return hmac.compare_digest(
            authorization,
            f"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={expected}",
        )

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def do_POST(self) -> None:
        body = self._body()
        parts = urlsplit(self.path)
        version = parse_qs(parts.query).get("api-version", [""])[0]
        if parts.path != "/emails:send":
            self._answer(404, {"error": {"code": "NotFound", "message": "No such operation."}})
            return
        if not self._signed(body):
            self._answer(401, {"error": {"code": "Denied", "message": "Denied by the resource provider."}})
            return
        try:
            message = json.loads(body)
            to = [r["address"] for r in message["recipients"]["to"]]
            content = message["content"]
            sent = SentEmail(
                str(uuid.uuid4()),
                message["senderAddress"],
                to,
                content["subject"],
                content.get("plainText", ""),
            )
        except (KeyError, TypeError, ValueError):
            self._answer(400, {"error": {"code": "BadRequest", "message": "Invalid email request."}})
            return
        if not to or not version:
            self._answer(
                400, {"error": {"code": "BadRequest", "message": "Recipients and api-version needed."}}
            )
            return
        with self.server.state.lock:
            self.server.state.sent.append(sent)
        location = f"https://{self.headers.get('host')}/emails/operations/{sent.id}?api-version={version}"
        self._answer(
            202,
            {"id": sent.id, "status": "Running", "error": None},
            {"Operation-Location": location, "operation-id": sent.id, "Retry-After": "0"},
        )

    def do_GET(self) -> None:
        self._body()
        parts = urlsplit(self.path)
        operation = parts.path.removeprefix("/emails/operations/")
        known = any(m.id == operation for m in self.server.state.sent)
        if not known:
            self._answer(404, {"error": {"code": "NotFound", "message": "No such operation."}})
            return
        self._answer(200, {"id": operation, "status": "Succeeded", "error": None})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: EmailState
    ca: Path


@dataclass
class RunningEmailStandin:
    server: _Server
    thread: threading.Thread

    @property
    def state(self) -> EmailState:
        return self.server.state

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.server.server_address[1]}/"

    def settings(self) -> dict[str, str]:
        return {
            "ACS_EMAIL_CONNECTION_STRING": f"endpoint={self.endpoint};accesskey={self.state.access_key}",
            "ACS_EMAIL_SENDER": SENDER,
            "ACS_EMAIL_CA_BUNDLE": str(self.server.ca),
        }

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_email_standin(port: int = 0, *, cert_dir: Path | None = None) -> RunningEmailStandin:
    """Serves the stand-in over HTTPS (the SDK calls `https://<endpoint host>` whatever the connection
    string says) on a thread, port 0: a free one, with a fresh access key and its own CA."""
    certificates = ensure_certificates(cert_dir or Path(tempfile.mkdtemp(prefix="acs-email-")))
    server = _Server(("127.0.0.1", port), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates.certificate, certificates.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.state = EmailState(base64.b64encode(os.urandom(32)).decode())
    server.ca = certificates.ca
    thread = threading.Thread(target=server.serve_forever, name="acs-email-standin", daemon=True)
    thread.start()
    return RunningEmailStandin(server, thread)

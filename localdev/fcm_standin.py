"""A local stand-in for Firebase Cloud Messaging HTTP v1 and Google's OAuth token endpoint.

firebase-admin has no messaging emulator, so this plays Google: the real SDK runs against it
unchanged (see `shared.adapters.fcm`: the FCM URL is overridden, and the throwaway service
account's `token_uri` points here, so the SDK's real OAuth path runs too).

Wire format
  POST /token                                  JWT-bearer grant as google-auth sends it; the
                                               assertion's RS256 signature is checked against the
                                               public key of a trusted service account (by `kid`)
  POST /v1/projects/{project}/messages:send    `{"message": {...}, "validate_only": bool}` ->
                                               `{"name": "projects/<p>/messages/<id>"}` or the
                                               real error shape (google.rpc status, with an
                                               `FcmError` detail carrying `errorCode`)

Deterministic failures by target (the token or fid), checked longest prefix first:
  unregistered-        404 UNREGISTERED                 invalid-      400 INVALID_ARGUMENT (bad token)
  mismatch-            403 SENDER_ID_MISMATCH           thirdparty-   401 THIRD_PARTY_AUTH_ERROR
  quota-               429 QUOTA_EXCEEDED (no Retry-After)
  unavailable-         503 UNAVAILABLE, every attempt   unavailable-once-  503 on the first attempt only
  internal-            500 INTERNAL, every attempt      internal-once-     500 on the first attempt only
Anything else is delivered (unless a switch below says otherwise).

Switches (JSON bodies) and records
  POST /_standin/errors         {"rates": {"UNAVAILABLE": 0.1, ...}, "seed": 1}  random errors per code
  POST /_standin/throttle       {"count": n | "seconds": s, "retry_after": 30, "error_code": ...}
                                the next n sends (or all sends for s seconds) get 429 with Retry-After;
                                error_code defaults to QUOTA_EXCEEDED, null sends a bare 429
  POST /_standin/outage         {"count": n | "seconds": s, "error_code": "UNAVAILABLE", "retry_after": 5}
                                the next n sends (or all for s seconds) after the throttle's get that
                                error (its HTTP status, as FCM answers it), with Retry-After if given
  POST /_standin/latency        {"ms": 20, "jitter_ms": 5}  added before every send is answered
  POST /_standin/service-accounts   a service-account JSON (or {private_key_id, client_email,
                                public_key_pem}) whose assertions /token then accepts
  POST /_standin/revoke-tokens  every access token issued so far stops working (401 on send)
  POST /_standin/reset          clears records and switches (trusted keys and tokens stay)
  GET  /_standin/deliveries?token=... | ?fid=...   what was delivered to that target, message included
  GET  /_standin/attempts?token=... | ?fid=...   every send to that target, answered or refused:
                                wall-clock time, HTTP status, errorCode, Retry-After sent
  GET  /_standin/token-requests  the assertions /token accepted (issuer, scope, key id)
  GET  /_standin/stats          counters: requests, delivered, failures per code, in-flight peak, CPU

Where the real format is not documented, the shape is a labelled guess: the wording of
validation messages, and "Message is too big" answering INVALID_ARGUMENT with an FcmError
detail but no BadRequest (which is why the adapter must not delete a device on every
INVALID_ARGUMENT). The stand-in keeps message bodies in memory: it plays Google, not us.

`python -m localdev.fcm_standin --port N [--service-account PATH]` serves it; tests use
`start_in_thread()`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import itertools
import json
import logging
import random
import re
import resource
import secrets
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

log = logging.getLogger("localdev.fcm_standin")

ASGIReceive = Callable[[], Awaitable[dict[str, Any]]]
ASGISend = Callable[[dict[str, Any]], Awaitable[None]]
Response = tuple[int, Any, dict[str, str]]  # status, JSON body, extra headers

FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL, not a secret
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_SEND_SCOPES = {
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/firebase.messaging",
}
_TOKEN_LIFETIME = 3600
_SEND_PATH = re.compile(r"^/v1/projects/([^/]+)/messages:send$")
_TOPIC = re.compile(r"^[a-zA-Z0-9\-_.~%]+$")

# errorCode -> (HTTP status, google.rpc status, message), as FCM's ErrorCode reference lists them.
FCM_ERRORS: dict[str, tuple[int, str, str]] = {
    "INVALID_ARGUMENT": (
        400,
        "INVALID_ARGUMENT",
        "The registration token is not a valid FCM registration token",
    ),
    "UNREGISTERED": (404, "NOT_FOUND", "Requested entity was not found."),
    "SENDER_ID_MISMATCH": (403, "PERMISSION_DENIED", "SenderId mismatch"),
    "QUOTA_EXCEEDED": (429, "RESOURCE_EXHAUSTED", "Quota exceeded for the message target."),
    "UNAVAILABLE": (503, "UNAVAILABLE", "The service is currently unavailable."),
    "INTERNAL": (500, "INTERNAL", "Internal error encountered."),
    "THIRD_PARTY_AUTH_ERROR": (401, "UNAUTHENTICATED", "Auth error from APNS or Web Push Service"),
}

# Longest first, so `unavailable-once-` wins over `unavailable-`. Value: (errorCode, first attempt only).
TARGET_PREFIXES: tuple[tuple[str, str, bool], ...] = (
    ("unavailable-once-", "UNAVAILABLE", True),
    ("internal-once-", "INTERNAL", True),
    ("unregistered-", "UNREGISTERED", False),
    ("unavailable-", "UNAVAILABLE", False),
    ("thirdparty-", "THIRD_PARTY_AUTH_ERROR", False),
    ("internal-", "INTERNAL", False),
    ("mismatch-", "SENDER_ID_MISMATCH", False),
    ("invalid-", "INVALID_ARGUMENT", False),
    ("quota-", "QUOTA_EXCEEDED", False),
)

_MESSAGE_FIELDS = {
    "name", "data", "notification", "android", "webpush", "apns", "fcm_options", "fcmOptions",
    "token", "topic", "condition", "fid",
}  # fmt: skip
_TARGETS = ("token", "topic", "condition", "fid")
_NOTIFICATION_FIELDS = {"title", "body", "image"}
_WEBPUSH_FIELDS = {"headers", "data", "notification", "fcm_options", "fcmOptions"}
_WEBPUSH_OPTION_FIELDS = {"link", "analytics_label", "analyticsLabel"}
_RESERVED_DATA_KEYS = {"from", "gcm"}  # and anything starting with "google."
# FCM's payload limit for messages to a device; counted over the message without its target.
MAX_PAYLOAD_BYTES = 4096


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class InvalidRequestError(Exception):
    """A request FCM would refuse with 400 INVALID_ARGUMENT."""

    def __init__(self, description: str, field: str | None = None, *, fcm_error: bool = False):
        super().__init__(description)
        self.description = description
        self.field = field
        self.fcm_error = fcm_error


def error_body(http: int, status: str, message: str, details: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {"code": http, "message": message, "status": status}
    if details:
        body["details"] = details
    return {"error": body}


def fcm_error_body(code: str) -> tuple[int, dict[str, Any]]:
    http, status, message = FCM_ERRORS[code]
    return http, error_body(http, status, message, [{"@type": FCM_ERROR_TYPE, "errorCode": code}])


def invalid_body(problem: InvalidRequestError) -> dict[str, Any]:
    details: list[dict[str, Any]] = []
    if problem.fcm_error:
        details.append({"@type": FCM_ERROR_TYPE, "errorCode": "INVALID_ARGUMENT"})
    if problem.field is not None:
        violation = {"field": problem.field, "description": problem.description}
        details.append({"@type": BAD_REQUEST_TYPE, "fieldViolations": [violation]})
    return error_body(400, "INVALID_ARGUMENT", problem.description, details)


def _string_map(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise InvalidRequestError(
            f"Invalid value at '{where}' (type.googleapis.com/google.protobuf.Map), {value}", where
        )
    for index, item in enumerate(value.values()):
        if not isinstance(item, str):
            # Google echoes the offending value; the adapter must never copy this text into logs.
            raise InvalidRequestError(
                f"Invalid value at '{where}[{index}].value' (TYPE_STRING), {item}", f"{where}[{index}].value"
            )


def _known_fields(value: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidRequestError(f"Invalid value at '{where}': expected an object.", where)
    for name in value:
        if name not in allowed:
            raise InvalidRequestError(
                f"Invalid JSON payload received. Unknown name \"{name}\" at '{where}': Cannot find field.",
                where,
            )
    return value


def validate_request(body: Any) -> tuple[dict[str, Any], str, str, bool]:
    """Checks a send request as FCM does; returns (message, target field, target, validate_only)."""
    if not isinstance(body, dict):
        raise InvalidRequestError("Invalid JSON payload received. Expected an object.")
    for name in body:
        if name not in {"message", "validate_only", "validateOnly"}:
            raise InvalidRequestError(
                f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.', name
            )
    validate_only = body.get("validate_only", body.get("validateOnly", False))
    if not isinstance(validate_only, bool):
        raise InvalidRequestError(
            f"Invalid value at 'validate_only' (TYPE_BOOL), {validate_only}", "validate_only"
        )
    message = _known_fields(body.get("message"), _MESSAGE_FIELDS, "message")
    target_field, target = _target(message)
    _validate_content(message)
    payload = {k: v for k, v in message.items() if k not in _TARGETS}
    if len(json.dumps(payload, separators=(",", ":")).encode()) > MAX_PAYLOAD_BYTES:
        raise InvalidRequestError("Message is too big", fcm_error=True)
    return message, target_field, target, validate_only


def _target(message: dict[str, Any]) -> tuple[str, str]:
    targets = [name for name in _TARGETS if message.get(name) is not None]
    if not targets:
        raise InvalidRequestError("Recipient of the message is not set.", "message")
    if len(targets) > 1:
        raise InvalidRequestError(
            "Invalid value at 'message' (oneof), oneof field 'target' is already set. "
            f"Cannot set '{targets[1]}'",
            "message",
        )
    target_field = targets[0]
    target = message[target_field]
    if not isinstance(target, str):
        raise InvalidRequestError(
            f"Invalid value at 'message.{target_field}' (TYPE_STRING), {target}", f"message.{target_field}"
        )
    if target_field == "token" and not target:
        raise InvalidRequestError(FCM_ERRORS["INVALID_ARGUMENT"][2], fcm_error=True)
    if target_field == "fid" and not target:
        raise InvalidRequestError("The Firebase installation ID is not valid", fcm_error=True)
    if target_field == "topic" and not _TOPIC.match(target.removeprefix("/topics/")):
        raise InvalidRequestError("Invalid topic name.", "message.topic")
    return target_field, target


def _validate_content(message: dict[str, Any]) -> None:
    if "data" in message:
        _string_map(message["data"], "message.data")
        for key in message["data"]:
            if key in _RESERVED_DATA_KEYS or key.startswith("google."):
                raise InvalidRequestError(f"Invalid data payload key: {key}", "message.data")
    if "notification" in message:
        notification = _known_fields(message["notification"], _NOTIFICATION_FIELDS, "message.notification")
        for name, value in notification.items():
            if not isinstance(value, str):
                where = f"message.notification.{name}"
                raise InvalidRequestError(f"Invalid value at '{where}' (TYPE_STRING), {value}", where)
    if "webpush" in message:
        _validate_webpush(message["webpush"])
    for name in ("android", "apns", "fcm_options", "fcmOptions"):
        if name in message and not isinstance(message[name], dict):
            raise InvalidRequestError(
                f"Invalid value at 'message.{name}': expected an object.", f"message.{name}"
            )


def _validate_webpush(value: Any) -> None:
    webpush = _known_fields(value, _WEBPUSH_FIELDS, "message.webpush")
    for name in ("headers", "data"):
        if name in webpush:
            _string_map(webpush[name], f"message.webpush.{name}")
    if "notification" in webpush and not isinstance(webpush["notification"], dict):
        where = "message.webpush.notification"
        raise InvalidRequestError(f"Invalid value at '{where}': expected an object.", where)
    options = webpush.get("fcm_options", webpush.get("fcmOptions"))
    if options is not None:
        _known_fields(options, _WEBPUSH_OPTION_FIELDS, "message.webpush.fcm_options")
        link = options.get("link")
        if link is not None and (not isinstance(link, str) or not link.startswith("https://")):
            raise InvalidRequestError(
                "The link must be a valid HTTPS URL.", "message.webpush.fcm_options.link"
            )


@dataclass
class TrustedKey:
    client_email: str
    public_key: Any  # cryptography RSAPublicKey


@dataclass
class AccessToken:
    client_email: str
    scopes: frozenset[str]
    expires_at: float


@dataclass
class Throttle:
    """A stretch of refused sends: by count, by time, or both (429 for the throttle switch, any
    FCM error for the outage switch)."""

    remaining: int | None  # None: by time only
    until: float | None  # monotonic deadline; None: by count only
    retry_after: int | None  # None: no Retry-After header
    error_code: str | None

    def applies(self, now: float) -> bool:
        if self.until is not None and now >= self.until:
            return False
        if self.remaining is not None:
            if self.remaining <= 0:
                return False
            self.remaining -= 1
        return True


@dataclass
class StandinState:
    """Everything the stand-in knows. Handlers run on the server's loop; tests may read from other threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    trusted: dict[str, TrustedKey] = field(default_factory=dict)
    tokens: dict[str, AccessToken] = field(default_factory=dict)
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    deliveries: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    attempts: Counter[tuple[str, str]] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    error_rates: dict[str, float] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)
    throttle: Throttle | None = None
    outage: Throttle | None = None
    # Every send per target as the stand-in answered it: at (wall clock), status, errorCode, retryAfter.
    attempt_log: dict[tuple[str, str], list[dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    requests: int = 0
    delivered: int = 0
    validated: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    sequence: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def reset(self) -> None:
        with self.lock:
            self.deliveries.clear()
            self.attempts.clear()
            self.failures.clear()
            self.token_requests.clear()
            self.error_rates = {}
            self.throttle = None
            self.outage = None
            self.attempt_log.clear()
            self.latency_ms = self.jitter_ms = 0.0
            self.requests = self.delivered = self.validated = self.max_in_flight = 0

    def trust(self, key_id: str, client_email: str, public_key_pem: str) -> None:
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        key = load_pem_public_key(public_key_pem.encode())
        with self.lock:
            self.trusted[key_id] = TrustedKey(client_email, key)

    def trust_service_account(self, service_account: dict[str, Any]) -> None:
        if "public_key_pem" in service_account:
            pem = str(service_account["public_key_pem"])
        else:
            from localdev.fcm_credentials import public_key_pem

            pem = public_key_pem(service_account)
        self.trust(str(service_account["private_key_id"]), str(service_account["client_email"]), pem)

    def deliveries_to(self, field_name: str, target: str) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.deliveries.get((field_name, target), []))

    def stats(self) -> dict[str, Any]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        with self.lock:
            return {
                "requests": self.requests,
                "delivered": self.delivered,
                "validated": self.validated,
                "failures": dict(self.failures),
                "tokenRequests": len(self.token_requests),
                "inFlight": self.in_flight,
                "maxInFlight": self.max_in_flight,
                "targets": len(self.deliveries),
                "cpuSeconds": usage.ru_utime + usage.ru_stime,
                "maxRssKiB": usage.ru_maxrss,
            }


class TokenRefusedError(Exception):
    def __init__(self, error: str, description: str):
        super().__init__(description)
        self.error = error
        self.description = description


class FcmStandin:
    """The ASGI app. One instance holds one `StandinState`."""

    def __init__(self, state: StandinState | None = None, *, token_audiences: set[str] | None = None):
        self.state = state or StandinState()
        # google-auth puts Google's token URL in `aud` even when token_uri points elsewhere.
        self.token_audiences = token_audiences or {GOOGLE_TOKEN_AUDIENCE}

    async def __call__(self, scope: dict[str, Any], receive: ASGIReceive, send: ASGISend) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        status, payload, headers = await self.handle(scope, b"".join(chunks))
        encoded = json.dumps(payload, separators=(",", ":")).encode()
        raw_headers = [(b"content-type", b"application/json; charset=UTF-8")]
        raw_headers += [(k.encode(), v.encode()) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": encoded})

    async def handle(self, scope: dict[str, Any], body: bytes) -> Response:
        path: str = scope["path"]
        method: str = scope["method"]
        match = _SEND_PATH.match(path)
        if match:
            if method != "POST":
                return 405, error_body(405, "METHOD_NOT_ALLOWED", "Use POST.", []), {}
            return await self.send_message(match.group(1), scope, body)
        if path == "/token":
            if method != "POST":
                return 405, {"error": "invalid_request", "error_description": "Use POST."}, {}
            return self.issue_token(body)
        if path.startswith("/_standin/"):
            return self.control(method, path.removeprefix("/_standin/"), scope, body)
        return 404, error_body(404, "NOT_FOUND", f"No such method: {path}", []), {}

    # --- OAuth ------------------------------------------------------------------------------

    def issue_token(self, body: bytes) -> Response:
        form = dict(parse_qsl(body.decode("latin-1")))
        try:
            if form.get("grant_type") != JWT_BEARER:
                raise TokenRefusedError(
                    "unsupported_grant_type", f"Invalid grant_type: {form.get('grant_type')}"
                )
            claims, key_id = self.verify_assertion(form.get("assertion", ""))
        except TokenRefusedError as refused:
            return 400, {"error": refused.error, "error_description": refused.description}, {}
        access_token = "ya29.standin." + secrets.token_urlsafe(32)
        scopes = frozenset(str(claims.get("scope", "")).split())
        with self.state.lock:
            self.state.tokens[access_token] = AccessToken(
                claims["iss"], scopes, time.time() + _TOKEN_LIFETIME
            )
            self.state.token_requests.append(
                {"issuer": claims["iss"], "scope": sorted(scopes), "keyId": key_id, "at": time.time()}
            )
        return (
            200,
            {"access_token": access_token, "expires_in": _TOKEN_LIFETIME - 1, "token_type": "Bearer"},
            {},
        )

    def verify_assertion(self, assertion: str) -> tuple[dict[str, Any], str]:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        try:
            header_b64, claims_b64, signature_b64 = assertion.split(".")
            header = json.loads(_b64url(header_b64))
            claims = json.loads(_b64url(claims_b64))
            signature = _b64url(signature_b64)
        except (ValueError, binascii.Error) as error:
            raise TokenRefusedError("invalid_grant", "Invalid JWT: malformed.") from error
        if header.get("alg") != "RS256":
            raise TokenRefusedError("invalid_grant", "Invalid JWT: only RS256 is accepted.")
        trusted = self.state.trusted.get(str(header.get("kid")))
        if trusted is None:
            raise TokenRefusedError(
                "invalid_grant", "Invalid JWT Signature."
            )  # Google's words for an unknown key
        try:
            trusted.public_key.verify(
                signature, f"{header_b64}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature as error:
            raise TokenRefusedError("invalid_grant", "Invalid JWT Signature.") from error
        now = time.time()
        if claims.get("iss") != trusted.client_email:
            raise TokenRefusedError("invalid_grant", "Invalid JWT: issuer does not own this key.")
        if claims.get("aud") not in self.token_audiences:
            raise TokenRefusedError("invalid_grant", "Invalid JWT: Failed audience check.")
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or not isinstance(exp, int):
            raise TokenRefusedError("invalid_grant", "Invalid JWT: iat and exp are required.")
        if exp <= now or iat > now + 60 or exp - iat > _TOKEN_LIFETIME:
            raise TokenRefusedError(
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe.",
            )
        if not claims.get("scope"):
            raise TokenRefusedError("invalid_scope", "Empty or missing scope not allowed.")
        return claims, str(header["kid"])

    # --- send -------------------------------------------------------------------------------

    def _authorised(self, scope: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        authorization = ""
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
        token = self.state.tokens.get(authorization.removeprefix("Bearer ").strip())
        if token is None or token.expires_at <= time.time():
            message = (
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
                "cookie or other valid authentication credential."
            )
            return 401, error_body(401, "UNAUTHENTICATED", message, [])
        if not token.scopes & _SEND_SCOPES:
            return 403, error_body(
                403, "PERMISSION_DENIED", "Request had insufficient authentication scopes.", []
            )
        return None

    async def send_message(self, project: str, scope: dict[str, Any], body: bytes) -> Response:
        state = self.state
        state.requests += 1
        state.in_flight += 1
        state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            if state.latency_ms or state.jitter_ms:
                await asyncio.sleep((state.latency_ms + state.rng.uniform(0, state.jitter_ms)) / 1000)
            answer = self._answer_send(project, scope, body)
        finally:
            state.in_flight -= 1
        self._log_attempt(body, answer)
        return answer

    def _log_attempt(self, body: bytes, answer: Response) -> None:
        try:
            message = json.loads(body).get("message", {})
        except (ValueError, AttributeError):
            return
        if not isinstance(message, dict):
            return
        for target_field in ("token", "fid"):
            target = message.get(target_field)
            if isinstance(target, str):
                status, payload, headers = answer
                details = payload.get("error", {}).get("details", []) if status != 200 else []
                code = next((d.get("errorCode") for d in details if d.get("errorCode")), None)
                entry = {"at": time.time(), "status": status, "errorCode": code}
                entry["retryAfter"] = headers.get("Retry-After")
                with self.state.lock:
                    self.state.attempt_log[(target_field, target)].append(entry)
                return

    def _fail(self, code: str, headers: dict[str, str] | None = None) -> Response:
        self.state.failures[code] += 1
        http, body = fcm_error_body(code)
        return http, body, headers or {}

    def _answer_send(self, project: str, scope: dict[str, Any], body: bytes) -> Response:
        state = self.state
        request = self._refuse_early(scope, body)
        if isinstance(request, tuple):
            return request
        try:
            message, target_field, target, validate_only = validate_request(request)
        except InvalidRequestError as problem:
            state.failures["INVALID_ARGUMENT"] += 1
            return 400, invalid_body(problem), {}
        failure = self._target_failure(target_field, target)
        if failure is None and not validate_only:
            failure = self._random_failure()
        if failure is not None:
            return failure
        if validate_only:
            state.validated += 1
            return 200, {"name": f"projects/{project}/messages/fake_message_id"}, {}
        name = f"projects/{project}/messages/0:{time.time_ns() // 1000}%{next(state.sequence):016x}"
        record = {
            "name": name,
            "project": project,
            "target": {target_field: target},
            "message": message,
            "receivedAt": datetime.now(UTC).isoformat(),
        }
        with state.lock:
            state.deliveries[(target_field, target)].append(record)
            state.delivered += 1
        return 200, {"name": name}, {}

    def _refuse_early(self, scope: dict[str, Any], body: bytes) -> Response | Any:
        """Auth, JSON and the throttle switch, in the order Google's front end applies them."""
        state = self.state
        refused = self._authorised(scope)
        if refused is not None:
            state.failures[refused[1]["error"]["status"]] += 1
            return refused[0], refused[1], {}
        try:
            request = json.loads(body)
        except ValueError:
            state.failures["INVALID_ARGUMENT"] += 1
            return 400, error_body(400, "INVALID_ARGUMENT", "Invalid JSON payload received.", []), {}
        throttle = state.throttle
        if throttle is not None and throttle.applies(time.monotonic()):
            code = throttle.error_code
            state.failures[code or "RESOURCE_EXHAUSTED"] += 1
            details = [{"@type": FCM_ERROR_TYPE, "errorCode": code}] if code else []
            quota_text = "Quota exceeded for quota metric 'Send requests' of service 'fcm.googleapis.com'."
            return (
                429,
                error_body(429, "RESOURCE_EXHAUSTED", quota_text, details),
                {} if throttle.retry_after is None else {"Retry-After": str(throttle.retry_after)},
            )
        outage = state.outage
        if outage is not None and outage.applies(time.monotonic()):
            headers = {} if outage.retry_after is None else {"Retry-After": str(outage.retry_after)}
            return self._fail(outage.error_code or "UNAVAILABLE", headers)
        return request

    def _target_failure(self, target_field: str, target: str) -> Response | None:
        for prefix, code, first_only in TARGET_PREFIXES:
            if target.startswith(prefix):
                with self.state.lock:
                    self.state.attempts[(target_field, target)] += 1
                    attempt = self.state.attempts[(target_field, target)]
                return self._fail(code) if not first_only or attempt == 1 else None
        return None

    def _random_failure(self) -> Response | None:
        state = self.state
        if state.error_rates:
            draw = state.rng.random()
            for code, rate in state.error_rates.items():
                draw -= rate
                if draw < 0:
                    return self._fail(code)
        return None

    # --- switches and records --------------------------------------------------------------

    def control(self, method: str, name: str, scope: dict[str, Any], body: bytes) -> Response:
        if method == "GET":
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            return self._record(name, query)
        if method != "POST":
            return 405, {"error": "use GET for records and POST for switches"}, {}
        try:
            options = json.loads(body or b"{}")
            if not isinstance(options, dict):
                raise ValueError("expected a JSON object")
            return self._switch(name, options)
        except (ValueError, KeyError, TypeError) as error:
            return 400, {"error": str(error)}, {}

    def _record(self, name: str, query: dict[str, str]) -> Response:
        state = self.state
        if name == "deliveries":
            for field_name in _TARGETS:
                if field_name in query:
                    return 200, {"deliveries": state.deliveries_to(field_name, query[field_name])}, {}
            with state.lock:
                everything = [d for records in state.deliveries.values() for d in records]
            return 200, {"deliveries": everything}, {}
        if name == "token-requests":
            with state.lock:
                return 200, {"tokenRequests": list(state.token_requests)}, {}
        if name == "attempts":
            named = [(f, query[f]) for f in _TARGETS if f in query][:1]
            with state.lock:
                found = [a for key in named for a in state.attempt_log.get(key, [])]
            return 200, {"attempts": found}, {}
        if name == "stats":
            return 200, state.stats(), {}
        return 404, {"error": f"no such record: {name}"}, {}

    def _switch(self, name: str, options: dict[str, Any]) -> Response:
        state = self.state
        if name == "errors":
            rates = {str(k): float(v) for k, v in dict(options.get("rates", {})).items()}
            unknown = set(rates) - set(FCM_ERRORS)
            if unknown or sum(rates.values()) > 1 or any(r < 0 for r in rates.values()):
                raise ValueError(
                    f"rates must be FCM error codes ({', '.join(FCM_ERRORS)}) summing to at most 1"
                )
            state.error_rates = rates
            if "seed" in options:
                state.rng.seed(options["seed"])
        elif name == "throttle":
            # A bare 429 (error_code null) is allowed here: Google's front end sends those too.
            state.throttle = _stretch(options, default_code="QUOTA_EXCEEDED", default_retry_after=30)
        elif name == "outage":
            state.outage = _stretch(options, default_code="UNAVAILABLE", default_retry_after=None)
        elif name == "latency":
            state.latency_ms = float(options.get("ms", 0))
            state.jitter_ms = float(options.get("jitter_ms", 0))
        elif name == "service-accounts":
            state.trust_service_account(options)
        elif name == "revoke-tokens":
            with state.lock:
                state.tokens.clear()
        elif name == "reset":
            state.reset()
        else:
            return 404, {"error": f"no such switch: {name}"}, {}
        return 200, {"ok": True}, {}


def _stretch(
    options: dict[str, Any], *, default_code: str, default_retry_after: int | None
) -> Throttle | None:
    """A stretch of refused sends from a switch's options; None (switched off) without count or seconds."""
    count, seconds = options.get("count"), options.get("seconds")
    if count is None and seconds is None:
        return None
    error_code = options.get("error_code", default_code)
    if error_code is not None and error_code not in FCM_ERRORS:
        raise ValueError(f"unknown error_code {error_code}")
    retry_after = options.get("retry_after", default_retry_after)
    return Throttle(
        remaining=None if count is None else int(count),
        until=None if seconds is None else time.monotonic() + float(seconds),
        retry_after=None if retry_after is None else int(retry_after),
        error_code=error_code,
    )


# --- running it ---------------------------------------------------------------------------


@dataclass
class RunningStandin:
    """A stand-in serving on a thread of this process (tests) until `stop()`."""

    app: FcmStandin
    port: int
    server: Any  # uvicorn.Server
    thread: threading.Thread

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token_uri(self) -> str:
        return f"{self.base_url}/token"

    @property
    def state(self) -> StandinState:
        return self.app.state

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _uvicorn_config(app: FcmStandin, host: str, port: int) -> Any:
    import uvicorn

    # A send of 500 messages opens hundreds of connections at once; the default backlog would drop some.
    # Google's front end keeps idle connections for minutes; uvicorn's 5 s default would close pooled
    # ones under a busy client and turn the reuse race into spurious connection errors.
    # http/loop "auto" pick httptools and uvloop (requirements-dev): a third of the CPU per message
    # of uvicorn's pure-Python h11, which matters because benches run the stand-in on our cores.
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        backlog=4096,
        timeout_keep_alive=120,
    )


def start_in_thread(
    port: int | None = None, *, host: str = "127.0.0.1", app: FcmStandin | None = None
) -> RunningStandin:
    """Serves a stand-in on a daemon thread, on a free port unless given one; returns once it serves."""
    import uvicorn

    from localdev.azurite import free_port

    app = app or FcmStandin()
    port = port or free_port()
    server = uvicorn.Server(_uvicorn_config(app, host, port))
    thread = threading.Thread(target=server.run, name=f"fcm-standin-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the FCM stand-in did not start on port {port}")
        time.sleep(0.01)
    return RunningStandin(app, port, server, thread)


@contextmanager
def running(port: int | None = None) -> Iterator[RunningStandin]:
    standin = start_in_thread(port)
    try:
        yield standin
    finally:
        standin.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m localdev.fcm_standin", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--port", type=int, default=9099)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--service-account",
        type=Path,
        help="trust this service-account key file; if it does not exist, write a throwaway one there",
    )
    parser.add_argument("--project", default="tenantry-local", help="project_id of a written service account")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = FcmStandin()
    if args.service_account:
        from localdev.fcm_credentials import make_service_account, write_service_account

        path: Path = args.service_account
        if not path.exists():
            token_uri = f"http://{args.host}:{args.port}/token"
            write_service_account(path, make_service_account(token_uri, args.project))
            log.info("wrote a throwaway service account to %s", path)
        app.state.trust_service_account(json.loads(path.read_text()))
    import uvicorn

    print(f"FCM stand-in on http://{args.host}:{args.port} (token_uri /token)", flush=True)
    asyncio.run(uvicorn.Server(_uvicorn_config(app, args.host, args.port)).serve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Firebase Cloud Messaging: sends push messages with firebase-admin and gives each device one outcome.

The message body exists only in the `PushMessage` objects a caller passes in and in the request
firebase-admin sends; nothing here stores it or logs it, nor any token or installation id (logs
carry device ids and error codes). Every failure is classified into what the caller must do with
the device: delete it, retry it later (with backoff and jitter), keep it and alert the partner, or
give up on this notification for it.

Messages go out with firebase-admin's `send_each_async` on the sender's own event loop, over
aiohttp (see `shared.adapters.fcm_transport`). firebase_admin (and with it google-auth, requests,
httpx, aiohttp) is imported at first send, never at import time, so indexing the Functions app
stays light.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import itertools
import json
import logging
import random
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from shared.clock import Clock, SystemClock

log = logging.getLogger("tenantry.fcm")

FCM_BASE_URL: Final = "https://fcm.googleapis.com"
_SEND_PATH: Final = "/v1/projects/{0}/messages:send"
MAX_MESSAGES_PER_CALL: Final = 500  # firebase-admin refuses more in one send_each(_async)
# FCM's quotas. The project one is paced per process (see Pacer; the composition root gives each
# process its share). The device one spans invocations and instances, so it is the notification
# service's to keep; beyond it FCM answers QUOTA_EXCEEDED, which is deferred at least a minute here.
FCM_PROJECT_LIMIT_PER_MINUTE: Final = 600_000
FCM_DEVICE_LIMIT_PER_MINUTE: Final = 240
_FCM_ERROR_TYPE: Final = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
_BAD_REQUEST_TYPE: Final = "type.googleapis.com/google.rpc.BadRequest"
_TARGET_FIELDS: Final = frozenset({"message.token", "message.fid"})

# Patching the SDK's class-level URL must not race with another sender being set up.
_FCM_URL_LOCK = threading.Lock()
_APP_SERIAL = itertools.count(1)


@dataclass(frozen=True)
class FcmSettings:
    """What the adapter needs; built from app settings by the composition root, or directly by tests."""

    project_id: str
    service_account: str = field(repr=False)  # the key file's JSON text (Key Vault in Azure) or its path
    fcm_url: str | None = None  # base URL of an FCM stand-in; None sends to Google
    timeout_seconds: float = 30.0
    max_attempts: int = 5  # attempts per device per notification before a retryable failure gives up
    max_messages_per_minute: int = FCM_PROJECT_LIMIT_PER_MINUTE  # this process's share of the project quota
    # Keep-alive HTTP/1.1 connections per process, shared by all concurrent calls; requests beyond
    # it wait for a free connection (cheaply, in aiohttp's queue).
    pool_size: int = 100
    # Functions egress does not use proxy variables, so by default they are not consulted.
    honour_proxy_environment: bool = False

    def service_account_info(self) -> dict[str, Any]:
        text = self.service_account.strip()
        if not text.startswith("{"):
            text = Path(text).read_text()
        info: dict[str, Any] = json.loads(text)
        return info

    @property
    def endpoint(self) -> str:
        return (self.fcm_url or FCM_BASE_URL).rstrip("/")


@dataclass(frozen=True, kw_only=True)
class PushMessage:
    """One device's copy of a notification. Only `device_id` and `attempt` appear in repr (and so in logs)."""

    device_id: str
    title: str = field(repr=False)
    body: str = field(repr=False)
    token: str | None = field(default=None, repr=False)  # a registration token, or
    fid: str | None = field(default=None, repr=False)  # a Firebase installation id
    data: Mapping[str, str] = field(default_factory=dict, repr=False)
    link: str | None = field(default=None, repr=False)  # opened on click (webpush fcm_options.link)
    attempt: int = 0  # earlier attempts for this device and notification, for the backoff

    def __post_init__(self) -> None:
        # Checked here, per device, because firebase-admin refuses a whole call of 500 for one bad message.
        if (self.token is None) == (self.fid is None):
            raise ValueError("a push message targets exactly one of token or fid")
        if not (self.token or self.fid):
            raise ValueError("the push target is empty")
        if self.link is not None and not self.link.startswith("https://"):
            raise ValueError("the link must be an https URL")
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in self.data.items()):
            raise ValueError("data keys and values must be strings")
        if self.attempt < 0:
            raise ValueError("attempt must not be negative")


@dataclass(frozen=True)
class Sent:
    device_id: str
    message_name: str  # projects/<project>/messages/<id>, Firebase's id for this delivery
    sent_at: datetime


@dataclass(frozen=True)
class DeleteDevice:
    """The token or installation id is dead or not ours: forget the device."""


@dataclass(frozen=True)
class Retry:
    after_seconds: float


@dataclass(frozen=True)
class KeepAndAlert:
    """The partner's web push / APNs credentials were refused: the device is fine, the partner must act."""


@dataclass(frozen=True)
class GiveUp:
    """No later attempt would succeed for this notification; the device stays."""


FailureAction = DeleteDevice | Retry | KeepAndAlert | GiveUp


@dataclass(frozen=True)
class Failed:
    device_id: str
    reason: str  # fixed wording per cause: never Firebase's text, which can echo message values
    error_code: str  # FCM errorCode, else the google.rpc status, else UNREACHABLE / TIMEOUT / HTTP_<n>
    action: FailureAction


SendOutcome = Sent | Failed


# --- classification (pure: no SDK, no I/O) ---------------------------------------------------


@dataclass(frozen=True)
class ErrorFacts:
    """What an FCM failure says, read from the HTTP answer (or its absence)."""

    error_code: str
    http_status: int | None = None  # None: no answer (connection failed or timed out)
    target_problem: bool = False  # INVALID_ARGUMENT about the token / fid rather than the message
    retry_after: float | None = None


def facts_from_response(status: int, body: Any, headers: Mapping[str, str]) -> ErrorFacts:
    """Reads FCM's error shape: google.rpc status plus an FcmError detail with `errorCode`."""
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    details = [d for d in error.get("details") or [] if isinstance(d, dict)]
    fcm_code = next((str(d.get("errorCode")) for d in details if d.get("@type") == _FCM_ERROR_TYPE), None)
    code = fcm_code or str(error.get("status") or f"HTTP_{status}")
    return ErrorFacts(
        error_code=code,
        http_status=status,
        target_problem=code == "INVALID_ARGUMENT" and _about_target(error, details),
        retry_after=parse_retry_after(_header(headers, "retry-after")),
    )


def _about_target(error: Mapping[str, Any], details: list[dict[str, Any]]) -> bool:
    # INVALID_ARGUMENT also means "message too big" or "bad data key"; deleting the device for those
    # would silently unsubscribe users. Only an answer that names the target counts.
    fields = [
        str(violation.get("field"))
        for detail in details
        if detail.get("@type") == _BAD_REQUEST_TYPE
        for violation in detail.get("fieldViolations") or []
        if isinstance(violation, dict)
    ]
    if fields:
        return all(name in _TARGET_FIELDS for name in fields)
    message = str(error.get("message", "")).lower()
    return "registration token" in message or "installation id" in message


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (delta-seconds or an HTTP date); None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 2.0
    cap_seconds: float = 900.0
    quota_floor_seconds: float = 60.0  # FCM asks for at least a minute after QUOTA_EXCEEDED
    max_attempts: int = 5
    spread: float = 0.2  # extra jitter above a floor, so deferred devices do not all return at once

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Exponential backoff with equal jitter: between half and all of base * 2^attempt (capped)."""
        ceiling = min(self.cap_seconds, self.base_seconds * 2.0 ** min(attempt, 30))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)

    def not_before(self, floor: float, attempt: int, rng: random.Random) -> float:
        """At least `floor`, never less, spread above it."""
        return max(floor, self.backoff(attempt, rng)) + rng.uniform(0, floor * self.spread)


_REASONS: Final[dict[str, str]] = {
    "UNREGISTERED": "The device is no longer registered with Firebase.",
    "SENDER_ID_MISMATCH": "The device is registered to a different Firebase sender.",
    "QUOTA_EXCEEDED": "Firebase's sending quota was exceeded.",
    "UNAVAILABLE": "Firebase was unavailable.",
    "INTERNAL": "Firebase had an internal error.",
    "THIRD_PARTY_AUTH_ERROR": "Firebase's web push or APNs credentials for this app were refused.",
    "RESOURCE_EXHAUSTED": "Firebase throttled the request.",
    "UNAUTHENTICATED": "Firebase refused our service-account credentials.",
    "PERMISSION_DENIED": "Our service account may not send for this Firebase project.",
    "UNREACHABLE": "Firebase could not be reached.",
    "TIMEOUT": "Firebase did not answer in time.",
    "AUTH_FAILED": "No access token could be obtained for Firebase.",
    "INVALID_MESSAGE": "The message was refused as invalid.",
}
_DELETE: Final = frozenset({"UNREGISTERED", "SENDER_ID_MISMATCH"})
_RETRY: Final = frozenset(
    {
        "UNAVAILABLE",
        "INTERNAL",
        "UNREACHABLE",
        "TIMEOUT",
        "AUTH_FAILED",
        "UNAUTHENTICATED",
        "PERMISSION_DENIED",
    }
)


def classify(
    facts: ErrorFacts, attempt: int, policy: RetryPolicy, rng: random.Random
) -> tuple[str, FailureAction]:
    """The reason and the action for one failed device. `attempt` counts earlier attempts (0 = first)."""
    code = facts.error_code
    reason = _REASONS.get(code, f"Firebase refused the message ({code}).")
    action: FailureAction = GiveUp()
    if code in _DELETE:
        action = DeleteDevice()
    elif code == "INVALID_ARGUMENT":
        if facts.target_problem:
            reason, action = "Firebase refused the device's token or installation id.", DeleteDevice()
        else:
            reason = "Firebase refused the message as invalid."
    elif code == "THIRD_PARTY_AUTH_ERROR":
        action = KeepAndAlert()
    elif _retryable(facts):
        floor = facts.retry_after or 0.0  # Retry-After is honoured whenever Firebase sends one
        if code == "QUOTA_EXCEEDED":
            floor = max(policy.quota_floor_seconds, floor)
        if attempt + 1 >= policy.max_attempts:
            reason += " Retries exhausted."
        else:
            action = Retry(policy.not_before(floor, attempt, rng))
    return reason, action


def _retryable(facts: ErrorFacts) -> bool:
    status = facts.http_status
    return (
        facts.error_code in _RETRY
        or facts.error_code in {"QUOTA_EXCEEDED", "RESOURCE_EXHAUSTED"}
        or status == 429
        or (status is not None and status >= 500)
    )


# --- pacing ------------------------------------------------------------------------------------


class Pacer:
    """Spaces calls so this process never sends more than `per_minute` messages a minute."""

    def __init__(
        self,
        per_minute: int,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self._interval = 60.0 / per_minute
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = 0.0

    def wait_for(self, count: int) -> None:
        with self._lock:
            now = self._monotonic()
            start = max(now, self._next)
            self._next = start + count * self._interval
        if start > now:
            self._sleep(start - now)


def chunks(messages: Sequence[PushMessage], size: int = MAX_MESSAGES_PER_CALL) -> list[Sequence[PushMessage]]:
    if not 0 < size <= MAX_MESSAGES_PER_CALL:
        raise ValueError(f"a call carries 1 to {MAX_MESSAGES_PER_CALL} messages")
    return [messages[i : i + size] for i in range(0, len(messages), size)]


# --- the sender -----------------------------------------------------------------------------


class FcmSender:
    """Sends push messages through one named firebase-admin app, set up once at first use."""

    def __init__(
        self,
        settings: FcmSettings,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        pacer: Pacer | None = None,
        policy: RetryPolicy | None = None,
        set_up: Callable[[], tuple[Any, Any]] | None = None,
    ):
        self.settings = settings
        # Makes (firebase-admin app, messaging module) at the first send; unit tests hand in a
        # stand-in for the SDK so chunking and classification run without a network.
        self._make_app = set_up or self._set_up
        self._clock = clock or SystemClock()
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy
        self._pacer = pacer or Pacer(settings.max_messages_per_minute)
        self._policy = policy or RetryPolicy(max_attempts=settings.max_attempts)
        self._lock = threading.Lock()
        self._app: Any = None
        self._messaging: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None

    def _app_name(self, info: Mapping[str, Any]) -> str:
        # Each sender owns its firebase app: sharing one by name would let one sender's close() break
        # another, and a rotated key (same client_email) would keep sending with the old credential.
        key = f"{self.settings.project_id}|{self.settings.endpoint}|{info.get('private_key_id')}"
        return f"tenantry-fcm-{hashlib.sha256(key.encode()).hexdigest()[:12]}-{next(_APP_SERIAL)}"

    def _ready(self) -> tuple[Any, Any]:
        with self._lock:
            if self._app is None:
                self._app, self._messaging = self._make_app()
            return self._app, self._messaging

    def _set_up(self) -> tuple[Any, Any]:
        import firebase_admin
        from firebase_admin import credentials, messaging

        settings = self.settings
        info = settings.service_account_info()
        app = firebase_admin.initialize_app(
            credentials.Certificate(info),
            {"projectId": settings.project_id, "httpTimeout": settings.timeout_seconds},
            name=self._app_name(info),
        )
        url = settings.endpoint + _SEND_PATH
        with _FCM_URL_LOCK:
            # The SDK reads this class attribute when it creates an app's messaging service, at first
            # send. Set only around that moment, so other apps in the process still reach Google.
            original = messaging._MessagingService.FCM_URL
            messaging._MessagingService.FCM_URL = url
            try:
                service = messaging._get_messaging_service(app)
            finally:
                messaging._MessagingService.FCM_URL = original
        if service._fcm_url != url.format(settings.project_id):
            raise RuntimeError("firebase-admin did not take the FCM endpoint; refusing to send elsewhere")
        from shared.adapters import fcm_transport

        fcm_transport.install(
            service,
            connections=settings.pool_size,
            timeout_seconds=settings.timeout_seconds,
            trust_env=settings.honour_proxy_environment,
        )
        # One event loop per sender, on its own thread: every caller thread's calls share its
        # connections, and a sync caller (a queue function) just waits for its call's outcomes.
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(
            target=fcm_transport.run_forever, args=(self._loop,), name="fcm-sender", daemon=True
        )
        self._loop_thread.start()
        # A sender usually lives as long as its process; close its connections on the way out.
        atexit.register(_close_at_exit, weakref.ref(self))
        log.info("fcm sender ready: project=%s endpoint=%s", settings.project_id, settings.endpoint)
        return app, messaging

    def _prime(self, app: Any, *, force: bool = False) -> None:
        # Fetch the access token once before a call: its requests only read the current token
        # (fcm_transport.AiohttpClient), so an expired one is renewed here, once per call.
        if force or not app.credential.get_credential().valid:
            app.credential.get_access_token()

    def send(self, messages: Sequence[PushMessage]) -> list[SendOutcome]:
        """One outcome per message, in order. Sends at most 500 per firebase-admin call."""
        if not messages:
            return []
        app, messaging = self._ready()
        outcomes: list[SendOutcome] = []
        for chunk in chunks(messages):
            self._pacer.wait_for(len(chunk))
            outcomes.extend(self._send_chunk(app, messaging, chunk))
        self._log_summary(outcomes)
        return outcomes

    def _send_chunk(
        self, app: Any, messaging: Any, chunk: Sequence[PushMessage], *, may_refresh: bool = True
    ) -> list[SendOutcome]:
        try:
            self._prime(app, force=not may_refresh)
        except Exception as error:  # google.auth RefreshError / TransportError
            log.warning("fcm access token refused or unreachable: %s", type(error).__name__)
            return [self._failed(m, ErrorFacts("AUTH_FAILED")) for m in chunk]
        try:
            batch = self._send_each(app, messaging, [self._to_fcm(messaging, m) for m in chunk])
        except ValueError:
            if len(chunk) == 1:
                return [self._failed(chunk[0], ErrorFacts("INVALID_MESSAGE"))]
            # The SDK encodes all messages before sending any; find the one it refused.
            return [o for m in chunk for o in self._send_chunk(app, messaging, [m])]
        except Exception as error:  # the SDK wraps executor failures in UnknownError
            # Never log the exception itself: its request carries tokens and the body.
            log.warning("fcm call failed as a whole: %s", type(error).__name__)
            return [self._failed(m, ErrorFacts("UNREACHABLE")) for m in chunk]
        sent_at = self._clock.now()
        outcomes: list[SendOutcome] = []
        for message, response in zip(chunk, batch.responses, strict=True):
            if response.success:
                outcomes.append(Sent(message.device_id, str(response.message_id), sent_at))
            else:
                outcomes.append(self._failed(message, facts_from_exception(response.exception)))
        stale = [
            i for i, o in enumerate(outcomes) if isinstance(o, Failed) and o.error_code == "UNAUTHENTICATED"
        ]
        if stale and may_refresh:
            # Our token was revoked or expired early: one refresh for the call, then those devices again.
            again = self._send_chunk(app, messaging, [chunk[i] for i in stale], may_refresh=False)
            for index, outcome in zip(stale, again, strict=True):
                outcomes[index] = outcome
        return outcomes

    def _send_each(self, app: Any, messaging: Any, messages: list[Any]) -> Any:
        """firebase-admin's `send_each_async` on the sender's loop; this thread waits for the batch."""
        if self._loop is None:  # a messaging module without the loop (unit tests' fake SDK)
            return asyncio.run(messaging.send_each_async(messages, app=app))
        call = asyncio.run_coroutine_threadsafe(messaging.send_each_async(messages, app=app), self._loop)
        return call.result()

    @staticmethod
    def _to_fcm(messaging: Any, message: PushMessage) -> Any:
        webpush = None
        if message.link:
            webpush = messaging.WebpushConfig(fcm_options=messaging.WebpushFCMOptions(link=message.link))
        fcm = messaging.Message(
            fid=message.fid,
            notification=messaging.Notification(title=message.title, body=message.body),
            data=dict(message.data) or None,
            webpush=webpush,
        )
        if message.token is not None:
            # Message(token=...) warns on every construction (firebase-admin 7.5+ prefers fid); the
            # attribute is what the encoder reads, and registration tokens stay supported by FCM.
            fcm.token = message.token
        return fcm

    def _failed(self, message: PushMessage, facts: ErrorFacts) -> Failed:
        reason, action = classify(facts, message.attempt, self._policy, self._rng)
        log.debug("fcm send failed: device=%s code=%s action=%s", message.device_id, facts.error_code, action)
        return Failed(message.device_id, reason, facts.error_code, action)

    @staticmethod
    def _log_summary(outcomes: list[SendOutcome]) -> None:
        failures = Counter(o.error_code for o in outcomes if isinstance(o, Failed))
        sent = len(outcomes) - sum(failures.values())
        log.info("fcm send: sent=%d failed=%d by code=%s", sent, sum(failures.values()), dict(failures))

    def close(self) -> None:
        with self._lock:
            if self._app is not None:
                import firebase_admin

                loop, thread = self._loop, self._loop_thread
                if loop is not None and thread is not None:
                    service = self._messaging._get_messaging_service(self._app)
                    closing = service._async_client.aclose()
                    asyncio.run_coroutine_threadsafe(closing, loop).result(timeout=10)
                    loop.call_soon_threadsafe(loop.stop)
                    thread.join(timeout=10)
                    loop.close()
                firebase_admin.delete_app(self._app)
                self._app = self._messaging = None
                self._loop = self._loop_thread = None


def _close_at_exit(sender: weakref.ref[FcmSender]) -> None:
    alive = sender()
    if alive is not None:
        with contextlib.suppress(Exception):  # the process is ending either way
            alive.close()


def facts_from_exception(error: Any) -> ErrorFacts:
    """Facts from a firebase-admin FirebaseError: its HTTP answer when there was one, else its code."""
    response = getattr(error, "http_response", None)
    if response is not None:
        try:
            body = response.json()
        except ValueError:
            body = None
        return facts_from_response(int(response.status_code), body, dict(response.headers))
    code = str(getattr(error, "code", "") or "")
    if code == "DEADLINE_EXCEEDED":
        return ErrorFacts("TIMEOUT")
    return ErrorFacts("UNREACHABLE")

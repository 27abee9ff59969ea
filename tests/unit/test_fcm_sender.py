"""The FCM sender without a network: calls of at most 500, one outcome per device in order, pacing."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.fcm import (
    DeleteDevice,
    Failed,
    FcmSender,
    FcmSettings,
    Pacer,
    PushMessage,
    Retry,
    Sent,
    chunks,
)

REPO = Path(__file__).resolve().parents[2]


class FixedClock:
    def now(self) -> datetime:
        return datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@dataclass
class FakeResponse:
    status_code: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        return self.body


@dataclass
class FakeError(Exception):
    http_response: FakeResponse | None = None
    code: str = "UNKNOWN"


@dataclass
class FakeSendResponse:
    message_id: str | None
    exception: Exception | None

    @property
    def success(self) -> bool:
        return self.exception is None


@dataclass
class FakeBatch:
    responses: list[FakeSendResponse]


class FakeMessage:
    def __init__(self, **fields: Any):
        self.__dict__.update(fields)
        self.token: str | None = fields.get("token")

    def __getattr__(self, name: str) -> Any:  # the SDK's keyword arguments, as attributes
        raise AttributeError(name)


class FakeCredential:
    def __init__(self) -> None:
        self.refreshes = 0
        self.valid = True

    def get_credential(self) -> FakeCredential:
        return self

    def get_access_token(self) -> None:
        self.refreshes += 1


class FakeMessaging:
    """Stands in for firebase_admin.messaging: answers by the target's prefix, records each call's size."""

    Notification = WebpushConfig = WebpushFCMOptions = FakeMessage
    Message = FakeMessage

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.unauthenticated_once: set[str] = set()

    async def send_each_async(self, messages: list[FakeMessage], app: Any = None) -> FakeBatch:
        return self.send_each(messages, app)

    def send_each(self, messages: list[FakeMessage], app: Any = None) -> FakeBatch:
        if len(messages) > 500:
            raise ValueError("messages must not contain more than 500 elements.")
        self.calls.append(len(messages))
        if any(getattr(m, "fid", None) == "unencodable" for m in messages):
            raise ValueError("Message.data must not contain non-string values.")
        if any(getattr(m, "fid", None) == "explode" for m in messages):
            raise RuntimeError("thread pool broke")
        return FakeBatch([self._answer(m) for m in messages])

    def _answer(self, message: FakeMessage) -> FakeSendResponse:
        target = message.token or message.fid
        if target.startswith("gone-"):
            detail = {
                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                "errorCode": "UNREGISTERED",
            }
            body = {"error": {"code": 404, "status": "NOT_FOUND", "details": [detail]}}
            return FakeSendResponse(None, FakeError(FakeResponse(404, body)))
        if target in self.unauthenticated_once:
            self.unauthenticated_once.discard(target)
            body = {"error": {"code": 401, "status": "UNAUTHENTICATED", "message": "expired"}}
            return FakeSendResponse(None, FakeError(FakeResponse(401, body)))
        if target.startswith("offline-"):
            return FakeSendResponse(None, FakeError(None, "UNAVAILABLE"))
        return FakeSendResponse(f"projects/p/messages/{target}", None)


def sender_with(fake: FakeMessaging, credential: FakeCredential | None = None) -> FcmSender:
    settings = FcmSettings(project_id="p", service_account=json.dumps({"client_email": "x@p"}))
    app = type("App", (), {"credential": credential or FakeCredential()})()
    return FcmSender(settings, clock=FixedClock(), set_up=lambda: (app, fake))


def devices(targets: list[str]) -> list[PushMessage]:
    return [PushMessage(device_id=f"dev-{i}", fid=t, title="t", body="b") for i, t in enumerate(targets)]


def test_chunks_hold_at_most_500() -> None:
    messages = devices([f"f{i}" for i in range(1200)])
    assert [len(c) for c in chunks(messages)] == [500, 500, 200]
    assert [m for c in chunks(messages) for m in c] == messages
    with pytest.raises(ValueError):
        chunks(messages, 501)


def test_1200_devices_take_three_calls_and_get_one_outcome_each_in_order() -> None:
    fake = FakeMessaging()
    targets = [f"gone-{i}" if i % 100 == 0 else f"ok-{i}" for i in range(1200)]
    outcomes = sender_with(fake).send(devices(targets))
    assert fake.calls == [500, 500, 200]
    assert [o.device_id for o in outcomes] == [f"dev-{i}" for i in range(1200)]
    deleted = [o for o in outcomes if isinstance(o, Failed)]
    assert len(deleted) == 12 and all(isinstance(o.action, DeleteDevice) for o in deleted)
    sent = [o for o in outcomes if isinstance(o, Sent)]
    assert sent[0] == Sent("dev-1", "projects/p/messages/ok-1", FixedClock().now())


def test_one_unencodable_message_does_not_sink_the_other_499() -> None:
    fake = FakeMessaging()
    outcomes = sender_with(fake).send(devices(["ok-a", "unencodable", "ok-b"]))
    assert [type(o) for o in outcomes] == [Sent, Failed, Sent]
    assert isinstance(outcomes[1], Failed) and outcomes[1].error_code == "INVALID_MESSAGE"


def test_a_call_failing_as_a_whole_retries_every_device_in_it() -> None:
    outcomes = sender_with(FakeMessaging()).send(devices(["ok-a", "explode"]))
    assert all(isinstance(o, Failed) and isinstance(o.action, Retry) for o in outcomes)


def test_no_http_answer_is_a_retry_for_that_device_only() -> None:
    outcomes = sender_with(FakeMessaging()).send(devices(["ok-a", "offline-b"]))
    assert isinstance(outcomes[0], Sent)
    assert isinstance(outcomes[1], Failed) and outcomes[1].error_code == "UNREACHABLE"


def test_a_revoked_token_is_refreshed_once_per_call_and_the_devices_resent() -> None:
    fake = FakeMessaging()
    fake.unauthenticated_once = {"ok-a", "ok-b"}
    credential = FakeCredential()
    outcomes = sender_with(fake, credential).send(devices(["ok-a", "ok-b", "ok-c"]))
    assert all(isinstance(o, Sent) for o in outcomes)
    assert credential.refreshes == 1
    assert fake.calls == [3, 2]


def test_token_devices_are_sent_by_token_not_fid() -> None:
    built: list[FakeMessage] = []

    class Recording(FakeMessaging):
        def send_each(self, messages: list[FakeMessage], app: Any = None) -> FakeBatch:
            built.extend(messages)
            return super().send_each(messages, app)

    message = PushMessage(device_id="d", token="ok-tok", title="t", body="b", link="https://x.example/")
    sender_with(Recording()).send([message])
    assert built[0].token == "ok-tok" and built[0].fid is None
    assert built[0].webpush.fcm_options.link == "https://x.example/"


def test_pacer_keeps_a_process_under_the_per_minute_limit() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer(per_minute=600, monotonic=lambda: now[0], sleep=sleep)  # 10 a second
    for _ in range(4):
        pacer.wait_for(5)
    assert slept == pytest.approx([0.5, 0.5, 0.5])
    # FCM's real limit of 600,000 a minute spaces 500-message calls 50 ms apart.
    fcm = Pacer(per_minute=600_000, monotonic=lambda: now[0], sleep=sleep)
    slept.clear()
    fcm.wait_for(500)
    fcm.wait_for(500)
    assert slept == pytest.approx([0.05])


def test_importing_the_adapter_loads_no_sdk() -> None:
    probe = (
        "import sys, json, shared.adapters.fcm\n"
        "heavy = ['firebase_admin', 'google.auth', 'requests', 'httpx', 'urllib3', 'cryptography']\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []

"""FCM failures: each answer Firebase gives becomes the right action for the device, and a log-safe reason."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from shared.adapters.fcm import (
    DeleteDevice,
    ErrorFacts,
    FailureAction,
    GiveUp,
    KeepAndAlert,
    PushMessage,
    Retry,
    RetryPolicy,
    classify,
    facts_from_response,
    parse_retry_after,
)

FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


def draws(seed: int = 0) -> random.Random:
    return random.Random(seed)  # noqa: S311 - jitter, not secrets


POLICY = RetryPolicy(base_seconds=2, cap_seconds=900, quota_floor_seconds=60, max_attempts=5)


Json = dict[str, Any]


def fcm_error(
    http: int, status: str, code: str | None, message: str = "x", extra: list[Json] | None = None
) -> Json:
    details = [{"@type": FCM_ERROR, "errorCode": code}] if code else []
    return {"error": {"code": http, "message": message, "status": status, "details": details + (extra or [])}}


def action_for(
    status: int, body: Json, headers: dict[str, str] | None = None, attempt: int = 0
) -> FailureAction:
    facts = facts_from_response(status, body, headers or {})
    return classify(facts, attempt, POLICY, draws(7))[1]


# The two examples of FCM's error-codes page, verbatim in shape.
INVALID_TOKEN = fcm_error(
    400,
    "INVALID_ARGUMENT",
    "INVALID_ARGUMENT",
    "The registration token is not a valid FCM registration token",
)
INVALID_DATA = {
    "error": {
        "code": 400,
        "message": "Invalid value at 'message.data[0].value' (TYPE_STRING), 12",
        "status": "INVALID_ARGUMENT",
        "details": [
            {
                "@type": BAD_REQUEST,
                "fieldViolations": [
                    {
                        "field": "message.data[0].value",
                        "description": "Invalid value at 'message.data[0].value'",
                    }
                ],
            }
        ],
    }
}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (404, fcm_error(404, "NOT_FOUND", "UNREGISTERED"), DeleteDevice),
        (403, fcm_error(403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH"), DeleteDevice),
        (400, INVALID_TOKEN, DeleteDevice),
        (401, fcm_error(401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR"), KeepAndAlert),
        (503, fcm_error(503, "UNAVAILABLE", "UNAVAILABLE"), Retry),
        (500, fcm_error(500, "INTERNAL", "INTERNAL"), Retry),
        (429, fcm_error(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"), Retry),
        (400, INVALID_DATA, GiveUp),
    ],
)
def test_each_fcm_answer_maps_to_its_action(status: int, body: Json, expected: type) -> None:
    assert isinstance(action_for(status, body), expected)


def test_invalid_argument_about_the_message_never_deletes_the_device() -> None:
    # Same status and errorCode as a bad token, but about the payload: deleting would unsubscribe a user.
    too_big = fcm_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "Message is too big")
    assert isinstance(action_for(400, too_big), GiveUp)
    assert isinstance(action_for(400, INVALID_DATA), GiveUp)
    # A field violation naming the target is about the device, whatever the wording.
    violation = {"field": "message.fid", "description": "bad"}
    about_fid = fcm_error(
        400, "INVALID_ARGUMENT", None, "bad", [{"@type": BAD_REQUEST, "fieldViolations": [violation]}]
    )
    assert isinstance(action_for(400, about_fid), DeleteDevice)


def test_error_code_prefers_fcm_code_then_rpc_status_then_http() -> None:
    assert (
        facts_from_response(404, fcm_error(404, "NOT_FOUND", "UNREGISTERED"), {}).error_code == "UNREGISTERED"
    )
    assert (
        facts_from_response(429, fcm_error(429, "RESOURCE_EXHAUSTED", None), {}).error_code
        == "RESOURCE_EXHAUSTED"
    )
    assert facts_from_response(502, "<html>bad gateway</html>", {}).error_code == "HTTP_502"


def test_backoff_grows_with_attempts_is_jittered_and_capped() -> None:
    rng = draws(1)
    body = fcm_error(503, "UNAVAILABLE", "UNAVAILABLE")
    facts = facts_from_response(503, body, {})
    for attempt in range(4):
        delays = [classify(facts, attempt, POLICY, rng)[1] for _ in range(200)]
        seconds = [d.after_seconds for d in delays if isinstance(d, Retry)]
        ceiling = 2 * 2**attempt
        assert len(seconds) == 200
        assert all(ceiling / 2 <= s <= ceiling for s in seconds)
        assert len({round(s, 6) for s in seconds}) > 150  # jittered, not one synchronised wave
    capped = RetryPolicy(base_seconds=2, cap_seconds=30, max_attempts=100)
    assert all(capped.backoff(50, rng) <= 30 for _ in range(100))


def test_quota_exceeded_waits_at_least_a_minute() -> None:
    rng = draws(3)
    quota = fcm_error(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED")
    for headers in ({}, {"Retry-After": "5"}):
        facts = facts_from_response(429, quota, headers)
        afters = [classify(facts, 0, POLICY, rng)[1] for _ in range(200)]
        assert all(isinstance(a, Retry) and a.after_seconds >= 60 for a in afters)
    longer = facts_from_response(429, quota, {"Retry-After": "120"})
    later = [classify(longer, 0, POLICY, rng)[1] for _ in range(50)]
    assert all(isinstance(a, Retry) and a.after_seconds >= 120 for a in later)


def test_retry_after_on_a_bare_429_or_503_is_honoured() -> None:
    rng = draws(4)
    bare = facts_from_response(429, fcm_error(429, "RESOURCE_EXHAUSTED", None), {"retry-after": "30"})
    unavailable = facts_from_response(
        503, fcm_error(503, "UNAVAILABLE", "UNAVAILABLE"), {"Retry-After": "45"}
    )
    for facts, floor in ((bare, 30), (unavailable, 45)):
        for _ in range(100):
            action = classify(facts, 0, POLICY, rng)[1]
            assert isinstance(action, Retry) and floor <= action.after_seconds <= floor * 1.2 + 2


def test_retries_stop_after_max_attempts() -> None:
    facts = facts_from_response(503, fcm_error(503, "UNAVAILABLE", "UNAVAILABLE"), {})
    assert isinstance(classify(facts, 3, POLICY, draws())[1], Retry)
    reason, action = classify(facts, 4, POLICY, draws())
    assert isinstance(action, GiveUp) and "Retries exhausted" in reason


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (ErrorFacts("UNREACHABLE"), Retry),
        (ErrorFacts("TIMEOUT"), Retry),
        (ErrorFacts("AUTH_FAILED"), Retry),
        (ErrorFacts("UNAUTHENTICATED", 401), Retry),
        (ErrorFacts("HTTP_502", 502), Retry),
        (ErrorFacts("HTTP_418", 418), GiveUp),
        (ErrorFacts("INVALID_MESSAGE"), GiveUp),
    ],
)
def test_failures_without_an_fcm_code(facts: ErrorFacts, expected: type) -> None:
    assert isinstance(classify(facts, 0, POLICY, draws())[1], expected)


def test_reason_never_repeats_firebases_text() -> None:
    # Google echoes offending values (message content) in its messages; reasons are fixed wording.
    violation = {"field": "message.data[0].value", "description": "salary"}
    echoing = fcm_error(
        400,
        "INVALID_ARGUMENT",
        None,
        "Invalid value (TYPE_STRING), Your salary review is due",
        [{"@type": BAD_REQUEST, "fieldViolations": [violation]}],
    )
    for status, body in (
        (400, echoing),
        (400, INVALID_TOKEN),
        (503, fcm_error(503, "UNAVAILABLE", None, "salary")),
    ):
        reason, _ = classify(facts_from_response(status, body, {}), 0, POLICY, draws())
        assert "salary" not in reason.lower()


def test_retry_after_forms() -> None:
    assert parse_retry_after("120") == 120
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    assert 85 <= (parse_retry_after(later) or 0) <= 91


def test_push_message_targets_exactly_one_and_hides_content() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        PushMessage(device_id="d", title="t", body="b")
    with pytest.raises(ValueError, match="exactly one"):
        PushMessage(device_id="d", title="t", body="b", token="x", fid="y")
    with pytest.raises(ValueError, match="https"):
        PushMessage(device_id="d", title="t", body="b", fid="y", link="http://example.com")
    with pytest.raises(ValueError, match="strings"):
        PushMessage(device_id="d", title="t", body="b", fid="y", data={"n": 1})  # type: ignore[dict-item]  # on purpose
    message = PushMessage(
        device_id="dev-1", title="Secret title", body="Secret body", token="tok-123", data={"k": "v"}
    )
    assert "dev-1" in repr(message)
    assert not any(s in repr(message) for s in ("Secret", "tok-123", "'v'"))

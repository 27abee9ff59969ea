"""The FCM stand-in refuses what FCM refuses, in FCM's error shape, so adapter tests mean something."""

from __future__ import annotations

from typing import Any

import pytest

from localdev.fcm_standin import (
    BAD_REQUEST_TYPE,
    FCM_ERROR_TYPE,
    InvalidRequestError,
    fcm_error_body,
    invalid_body,
    validate_request,
)


def request(**message: Any) -> dict[str, Any]:
    return {"message": message}


def test_a_good_request_names_its_target() -> None:
    message, field, target, validate_only = validate_request(
        {"message": {"fid": "f1", "notification": {"title": "t", "body": "b"}}, "validate_only": True}
    )
    assert (field, target, validate_only) == ("fid", "f1", True)
    assert message["notification"]["title"] == "t"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (request(notification={"title": "t"}), "Recipient of the message is not set"),
        (request(token="a", fid="b"), "oneof field 'target' is already set"),
        (request(fid="f", data={"n": 1}), "message.data[0].value"),
        (request(fid="f", data={"from": "x"}), "Invalid data payload key"),
        (request(fid="f", colour="red"), 'Unknown name "colour"'),
        (request(fid="f", webpush={"fcm_options": {"link": "http://x"}}), "HTTPS"),
        ({"message": {"fid": "f"}, "dry_run": True}, 'Unknown name "dry_run"'),
        ({"message": {"fid": "f"}, "validate_only": "yes"}, "validate_only"),
    ],
)
def test_bad_requests_are_refused_like_fcm(body: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        validate_request(body)
    shape = invalid_body(refused.value)["error"]
    assert shape["code"] == 400 and shape["status"] == "INVALID_ARGUMENT"
    assert fragment in shape["message"]


def test_a_payload_over_4096_bytes_is_too_big() -> None:
    with pytest.raises(InvalidRequestError) as refused:
        validate_request(request(fid="f", data={"blob": "x" * 5000}))
    details = invalid_body(refused.value)["error"]["details"]
    assert details == [{"@type": FCM_ERROR_TYPE, "errorCode": "INVALID_ARGUMENT"}]


def test_field_violations_carry_the_bad_request_type() -> None:
    with pytest.raises(InvalidRequestError) as refused:
        validate_request(request(fid="f", data={"n": 1}))
    (detail,) = invalid_body(refused.value)["error"]["details"]
    assert detail["@type"] == BAD_REQUEST_TYPE
    assert detail["fieldViolations"][0]["field"] == "message.data[0].value"


@pytest.mark.parametrize(
    ("code", "http", "status"),
    [
        ("UNREGISTERED", 404, "NOT_FOUND"),
        ("SENDER_ID_MISMATCH", 403, "PERMISSION_DENIED"),
        ("QUOTA_EXCEEDED", 429, "RESOURCE_EXHAUSTED"),
        ("UNAVAILABLE", 503, "UNAVAILABLE"),
        ("INTERNAL", 500, "INTERNAL"),
        ("THIRD_PARTY_AUTH_ERROR", 401, "UNAUTHENTICATED"),
    ],
)
def test_fcm_errors_use_the_documented_status(code: str, http: int, status: str) -> None:
    answered, body = fcm_error_body(code)
    assert answered == http == body["error"]["code"]
    assert body["error"]["status"] == status
    assert body["error"]["details"] == [{"@type": FCM_ERROR_TYPE, "errorCode": code}]

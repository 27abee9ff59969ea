"""The rules of an Idempotency-Key (no I/O): which keys are usable, which requests are "the same",
which answers are kept, and that every create route declares the header the document shows."""

from __future__ import annotations

import json

import pytest

from functions.meta import registered_endpoints
from shared.errors import ProblemError
from shared.idempotency import MAX_KEY_LENGTH, Answer, fingerprint, parse_key
from shared.openapi import Operation, build_document

PATH = "/api/partners/01J0000000000000000000000A/api-keys"


def test_no_header_means_no_key() -> None:
    assert parse_key(None) is None


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("8e03978e-40d5-43e8-bc93-6894a57f9324", "8e03978e-40d5-43e8-bc93-6894a57f9324"),
        ('"8e03978e-40d5"', "8e03978e-40d5"),  # the draft's structured-field string
        ("  spaced  ", "spaced"),
        ("x" * MAX_KEY_LENGTH, "x" * MAX_KEY_LENGTH),
    ],
)
def test_usable_keys(header: str, key: str) -> None:
    assert parse_key(header) == key


@pytest.mark.parametrize("header", ["", "   ", '""', "x" * (MAX_KEY_LENGTH + 1), "caf\u00e9", "a\x00b"])
def test_unusable_keys_are_400_problems(header: str) -> None:
    with pytest.raises(ProblemError) as refused:
        parse_key(header)
    assert (refused.value.status, refused.value.kind) == (400, "idempotency-key-invalid")


def test_the_same_request_is_the_same_json_value_whatever_its_spelling() -> None:
    one = fingerprint("POST", PATH, {}, b'{"name": "ci", "scopes": ["read"]}')
    assert one == fingerprint("post", PATH + "/", {}, b'{"scopes":["read"],"name":"ci"}')


@pytest.mark.parametrize(
    ("method", "path", "query", "body"),
    [
        ("POST", PATH, {}, b'{"name": "cd", "scopes": ["read"]}'),  # another body
        (
            "POST",
            PATH.replace("000A", "000B"),
            {},
            b'{"name": "ci", "scopes": ["read"]}',
        ),  # another partner's path
        ("POST", PATH + "/x", {}, b'{"name": "ci", "scopes": ["read"]}'),  # another route
        ("PUT", PATH, {}, b'{"name": "ci", "scopes": ["read"]}'),
        ("POST", PATH, {"dryRun": "true"}, b'{"name": "ci", "scopes": ["read"]}'),
        ("POST", PATH, {}, b'{"name": "ci", "scopes": ["read"], "x": null}'),
    ],
)
def test_anything_else_is_another_request(method: str, path: str, query: dict[str, str], body: bytes) -> None:
    assert fingerprint(method, path, query, body) != fingerprint(
        "POST", PATH, {}, b'{"name": "ci", "scopes": ["read"]}'
    )


def test_a_body_that_is_not_json_is_compared_as_bytes() -> None:
    assert fingerprint("POST", PATH, {}, b"{nope") == fingerprint("POST", PATH, {}, b"{nope")
    assert fingerprint("POST", PATH, {}, b"{nope") != fingerprint("POST", PATH, {}, b"{nope ")
    deep = b"[" * 5000
    assert fingerprint("POST", PATH, {}, deep) != fingerprint("POST", PATH, {}, b"[")


def test_answers_of_the_request_are_kept_failures_of_ours_are_not() -> None:
    assert Answer(201, "{}", "application/json").recordable
    assert Answer(409, "{}", "application/problem+json").recordable  # e.g. tenant-limit-reached
    assert not Answer(500, "{}", "application/problem+json").recordable
    assert not Answer(503, "{}", "application/problem+json").recordable
    answer = Answer(201, json.dumps({"key": "shown once"}), "application/json", {"Location": "/x"})
    assert Answer.from_json(answer.to_json()) == answer


# The create routes (POSTs that make something) as they stood when the key was introduced. Routes
# being added alongside (billing, lifecycle, standards) set `idempotent=True` themselves.
_CREATES = {
    "create_partner",
    "invite_personnel",
    "create_api_key",
    "create_tenant",
    "register_org",
    "create_rule",
    "send_notification",
    "create_alert_subscription",
    "create_notice",
    "record_breach",
    "create_privacy_request",
}


def test_every_create_route_honours_the_key() -> None:
    declared = {name: spec.idempotent for name, spec in registered_endpoints() if name in _CREATES}
    assert set(declared) == _CREATES
    assert [name for name, idempotent in declared.items() if not idempotent] == []
    # A route without the flag does not take the header (a read, an update, a delete).
    assert not any(spec.idempotent for _, spec in registered_endpoints() if "POST" not in spec.methods)


def test_the_document_shows_the_header_and_its_refusals_where_the_route_declares_it() -> None:
    ops = [
        Operation(
            "create_thing", "/api/things", "POST", "Create.", "t", ("apiKey",), 201, (), idempotent=True
        ),
        Operation(
            "change_thing", "/api/things/{id}", "PATCH", "Change.", "t", ("apiKey",), 200, (("id", None),)
        ),
    ]
    paths = build_document(ops, title="t", version="1")["paths"]
    created = paths["/api/things"]["post"]
    header = [p for p in created["parameters"] if p["in"] == "header"]
    assert [(p["name"], p["required"], p["schema"]["maxLength"]) for p in header] == [
        ("Idempotency-Key", False, MAX_KEY_LENGTH)
    ]
    assert {"409", "422"} <= set(created["responses"])
    assert all(p["in"] != "header" for p in paths["/api/things/{id}"]["patch"]["parameters"])

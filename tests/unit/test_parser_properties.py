"""Property-based tests of every reader of outside input in a format of its own.

Dataverse's RemoteExecutionContext, NCRONTAB schedules, OData string literals, FCM error answers
and problem+json (continuation tokens: `test_continuation_tokens.py`): the examples show the shapes
we thought of, these generate the rest and state what must hold for all of them. Examples are
bounded so the suite stays fast.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from functions.app import TenantryApp
from functions.http import Call, Created, endpoint
from localdev.host import next_occurrence
from shared.adapters.fcm import (
    DeleteDevice,
    ErrorFacts,
    GiveUp,
    KeepAndAlert,
    Retry,
    RetryPolicy,
    classify,
    facts_from_response,
)
from shared.errors import PROBLEM_TYPE_BASE, FieldError, ProblemError
from shared.models import ApiInput, ApiModel
from shared.notifications.dataverse import display, pairs, parse_context, parse_date
from shared.storage.tables import eq, literal, prefix

EXAMPLES = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# For strategies that build large nested values, so each test stays well under a second or two.
FEWER = settings(EXAMPLES, max_examples=50)

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
GUIDS = st.uuids().map(str)
# Dataverse writes GUIDs in either case; we keep them as Microsoft gives them, lower case.
ANY_CASE_GUIDS = st.tuples(GUIDS, st.booleans()).map(lambda p: p[0].upper() if p[1] else p[0])
MOMENTS = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(9000, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))


def _wcf_date(moment: datetime, offset: str) -> str:
    """DataContractJsonSerializer's rendering: milliseconds since the epoch in UTC, offset for show."""
    millis = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    return f"/Date({millis}{offset})/"


def _key_values(mapping: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": v} for k, v in mapping.items()]


# --- Dataverse RemoteExecutionContext -----------------------------------------------------------


@EXAMPLES
@given(body=JSON, size_exceeded=st.booleans())
def test_any_json_object_is_read_and_anything_else_is_refused_with_value_error(
    body: Any, size_exceeded: bool
) -> None:
    if isinstance(body, dict):
        context = parse_context(body, size_exceeded=size_exceeded)
        assert context.size_exceeded is size_exceeded
        assert context.owner_id() is None or isinstance(context.owner_id(), str)
    else:
        with pytest.raises(ValueError, match="not a RemoteExecutionContext"):
            parse_context(body)


@FEWER
@given(mapping=st.dictionaries(st.text(max_size=12), JSON, max_size=6), junk=st.lists(JSON, max_size=3))
def test_key_value_arrays_read_as_the_dictionary_they_serialise(
    mapping: dict[str, Any], junk: list[Any]
) -> None:
    # Items that are not {"key": <text>, ...} are skipped, never taken for entries.
    noise = [j for j in junk if not (isinstance(j, dict) and isinstance(j.get("key"), str))]
    assert pairs([*noise, *_key_values(mapping)]) == mapping
    assert pairs(mapping) == mapping
    assert pairs(junk if not isinstance(junk, dict) else []) == pairs(junk)


@EXAMPLES
@given(moment=MOMENTS, offset=st.sampled_from(["", "+0000", "+0100", "-0530"]))
def test_wcf_dates_round_trip_whatever_offset_is_shown(moment: datetime, offset: str) -> None:
    # The milliseconds are UTC; the offset is the writer's zone, for display only.
    assert parse_date(_wcf_date(moment, offset)) == moment
    assert display(_wcf_date(moment, offset)) == moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@EXAMPLES
@given(text=st.text(max_size=30))
def test_text_that_is_not_a_wcf_date_is_no_date_and_displays_as_itself(text: str) -> None:
    assume(not re.fullmatch(r"/Date\(-?\d+([+-]\d{4})?\)/", text))
    assert parse_date(text) is None
    assert display(text) == text


@EXAMPLES
@given(
    org=ANY_CASE_GUIDS,
    record=ANY_CASE_GUIDS,
    user=ANY_CASE_GUIDS,
    owner=ANY_CASE_GUIDS,
    stage=st.sampled_from([10, 20, 40]),
    moment=MOMENTS,
    attributes=st.dictionaries(
        st.from_regex(r"[a-z_]{1,12}", fullmatch=True), st.text(max_size=10), max_size=5
    ),
    as_arrays=st.booleans(),
    extra=st.dictionaries(st.from_regex(r"[A-Z][a-zA-Z]{2,12}", fullmatch=True), JSON, max_size=3),
)
def test_a_context_in_either_dictionary_shape_reads_the_same_facts(
    *,
    org: str,
    record: str,
    user: str,
    owner: str,
    stage: int,
    moment: datetime,
    attributes: dict[str, str],
    as_arrays: bool,
    extra: dict[str, Any],
) -> None:
    target_attributes = {
        **attributes,
        "ownerid": {"__type": "EntityReference:x", "Id": owner, "LogicalName": "systemuser"},
    }
    shape = _key_values if as_arrays else (lambda m: m)
    target = {
        "__type": "Entity:x",
        "LogicalName": "contact",
        "Id": record,
        "Attributes": shape(target_attributes),
    }
    body = {
        **{k: v for k, v in extra.items() if k not in _CONTEXT_FIELDS},
        "OrganizationId": org,
        "MessageName": "Update",
        "PrimaryEntityName": "contact",
        "PrimaryEntityId": record,
        "InitiatingUserId": user,
        "Stage": stage,
        "OperationCreatedOn": _wcf_date(moment, "+0000"),
        "InputParameters": shape({"Target": target}),
    }
    context = parse_context(body)
    assert (context.organization_id, context.record_id, context.initiating_user_id) == (
        org.lower(),
        record.lower(),
        user.lower(),
    )
    assert (context.entity, context.message, context.stage) == ("contact", "Update", stage)
    assert context.operation_created_on == moment
    assert context.owner_id() == owner.lower()
    assert context.changed() == set(target_attributes)
    for name, value in attributes.items():
        assert context.attribute(name) == (True, value, None)


_CONTEXT_FIELDS = {
    "OrganizationId",
    "MessageName",
    "PrimaryEntityName",
    "PrimaryEntityId",
    "InitiatingUserId",
    "Stage",
    "OperationCreatedOn",
    "InputParameters",
    "PostEntityImages",
    "PreEntityImages",
    "OwningExtension",
    "CorrelationId",
    "OperationId",
    "RequestId",
    "UserId",
    "Depth",
}


# --- NCRONTAB (six fields, seconds first) ---------------------------------------------------------

AFTER = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC))


@EXAMPLES
@given(second=st.integers(0, 59), minute=st.integers(0, 59), hour=st.integers(0, 23), after=AFTER)
def test_a_daily_schedule_fires_next_at_its_time_within_a_day(
    second: int, minute: int, hour: int, after: datetime
) -> None:
    moment = next_occurrence(f"{second} {minute} {hour} * * *", after)
    assert (moment.hour, moment.minute, moment.second) == (hour, minute, second)
    assert after < moment <= after + timedelta(days=1)
    # Nothing in between: the occurrence just before it is the same one again.
    assert next_occurrence(f"{second} {minute} {hour} * * *", moment - timedelta(seconds=1)) == moment


@EXAMPLES
@given(
    step=st.sampled_from([1, 2, 5, 10, 15, 20, 30]), field=st.sampled_from(["second", "minute"]), after=AFTER
)
def test_a_step_schedule_fires_on_the_next_multiple(step: int, field: str, after: datetime) -> None:
    schedule = f"*/{step} * * * * *" if field == "second" else f"0 */{step} * * * *"
    moment = next_occurrence(schedule, after)
    unit = timedelta(seconds=1) if field == "second" else timedelta(minutes=1)
    assert getattr(moment, field) % step == 0
    assert after < moment <= after + step * unit
    assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0)


@EXAMPLES
@given(fields=st.lists(st.sampled_from(["*", "0", "*/5", "1-3"]), min_size=1, max_size=8))
def test_only_six_fields_are_a_schedule(fields: list[str]) -> None:
    assume(len(fields) != 6)
    with pytest.raises(ValueError, match="six fields"):
        next_occurrence(" ".join(fields), datetime(2026, 1, 1, tzinfo=UTC))


# --- OData string literals ------------------------------------------------------------------------------

_LITERAL = re.compile(r"'((?:[^']|'')*)'")


def _unquote(text: str) -> str:
    """How the service reads a string literal back: the quotes around, doubled quotes inside."""
    match = _LITERAL.fullmatch(text)
    assert match is not None, f"not one OData string literal: {text!r}"
    return match.group(1).replace("''", "'")


@EXAMPLES
@given(value=st.text(max_size=40))
def test_any_string_quotes_into_one_literal_that_reads_back_as_itself(value: str) -> None:
    assert _unquote(literal(value)) == value


@EXAMPLES
@given(name=st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,15}", fullmatch=True), value=st.text(max_size=40))
def test_an_eq_filter_is_one_comparison_however_the_value_tries_to_break_out(name: str, value: str) -> None:
    filter_text = eq(name, value)
    head, literal_text = filter_text.split(" eq ", 1)
    assert head == name
    assert _unquote(literal_text) == value


@EXAMPLES
@given(
    start=st.text(min_size=1, max_size=20).filter(lambda s: ord(s[-1]) < 0x10FFFF), probe=st.text(max_size=25)
)
def test_a_prefix_filter_selects_exactly_the_values_with_that_prefix(start: str, probe: str) -> None:
    low_part, high_part = prefix("RowKey", start).split(" and ")
    low = _unquote(low_part.removeprefix("RowKey ge "))
    high = _unquote(high_part.removeprefix("RowKey lt "))
    assert low == start
    # The service compares strings ordinally, as Python does.
    for value in (probe, start + probe):
        assert (low <= value < high) == value.startswith(start)


# --- FCM error answers ------------------------------------------------------------------------------------

FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
CODES = st.sampled_from(
    [
        "UNREGISTERED",
        "SENDER_ID_MISMATCH",
        "QUOTA_EXCEEDED",
        "UNAVAILABLE",
        "INTERNAL",
        "THIRD_PARTY_AUTH_ERROR",
        "INVALID_ARGUMENT",
        "UNSPECIFIED_ERROR",
        "SOMETHING_NEW",
    ]
)
POLICY = RetryPolicy()


def _rng(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 - backoff jitter, not a secret


@EXAMPLES
@given(
    status=st.integers(100, 599),
    body=JSON,
    headers=st.dictionaries(st.text(max_size=12), st.text(max_size=20), max_size=3),
)
def test_any_answer_reads_as_facts_with_a_code(status: int, body: Any, headers: dict[str, str]) -> None:
    facts = facts_from_response(status, body, headers)
    assert facts.error_code and facts.http_status == status
    assert facts.retry_after is None or facts.retry_after >= 0


@EXAMPLES
@given(
    code=CODES,
    status=st.sampled_from([400, 401, 403, 404, 429, 500, 503]),
    retry_after=st.none() | st.integers(0, 3600),
    attempt=st.integers(0, 10),
    seed=st.integers(0, 2**32),
)
def test_every_fcm_code_gets_the_one_action_its_meaning_calls_for(
    code: str, status: int, retry_after: int | None, attempt: int, seed: int
) -> None:
    body = {"error": {"code": status, "status": "X", "details": [{"@type": FCM_ERROR, "errorCode": code}]}}
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    facts = facts_from_response(status, body, headers)
    assert facts.error_code == code
    reason, action = classify(facts, attempt, POLICY, _rng(seed))
    assert reason and "token" not in reason.lower().replace("token or installation id", "")
    if code in ("UNREGISTERED", "SENDER_ID_MISMATCH"):
        assert isinstance(action, DeleteDevice)
    elif code == "INVALID_ARGUMENT":
        # Without naming the target, an invalid argument is the message's fault: keep the device.
        assert isinstance(action, GiveUp)
    elif code == "THIRD_PARTY_AUTH_ERROR":
        assert isinstance(action, KeepAndAlert)
    elif code in ("QUOTA_EXCEEDED", "UNAVAILABLE", "INTERNAL") or status == 429 or status >= 500:
        if attempt + 1 >= POLICY.max_attempts:
            assert isinstance(action, GiveUp) and reason.endswith("Retries exhausted.")
        else:
            assert isinstance(action, Retry)
            floor = float(retry_after or 0)
            if code == "QUOTA_EXCEEDED":
                floor = max(floor, POLICY.quota_floor_seconds)
            assert action.after_seconds >= floor
    else:
        assert isinstance(action, GiveUp)


@EXAMPLES
@given(
    field=st.sampled_from(["message.token", "message.fid", "message.data", "message.android.ttl"]),
    attempt=st.integers(0, 3),
)
def test_an_invalid_argument_deletes_the_device_only_when_it_names_the_target(
    field: str, attempt: int
) -> None:
    violation = {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [{"field": field}]}
    body = {"error": {"code": 400, "status": "INVALID_ARGUMENT", "details": [violation]}}
    facts = facts_from_response(400, body, {})
    _, action = classify(facts, attempt, POLICY, _rng(0))
    about_target = field in ("message.token", "message.fid")
    assert facts.target_problem is about_target
    assert isinstance(action, DeleteDevice if about_target else GiveUp)


@EXAMPLES
@given(
    facts=st.builds(
        ErrorFacts, error_code=st.text(min_size=1, max_size=20), http_status=st.none() | st.integers(100, 599)
    )
)
def test_no_answer_or_any_code_gets_a_reason_and_an_action(facts: ErrorFacts) -> None:
    reason, action = classify(facts, 0, POLICY, _rng(1))
    assert reason
    assert isinstance(action, (DeleteDevice, GiveUp, KeepAndAlert, Retry))


# --- problem+json --------------------------------------------------------------------------------

KINDS = st.from_regex(r"[a-z][a-z-]{0,30}", fullmatch=True)


@EXAMPLES
@given(
    status=st.integers(400, 599),
    kind=KINDS,
    title=st.text(min_size=1, max_size=30),
    detail=st.none() | st.text(max_size=30),
    errors=st.lists(
        st.builds(FieldError, st.text(min_size=1, max_size=10), st.text(max_size=20)), max_size=3
    ),
    instance=st.none() | st.text(min_size=1, max_size=20),
)
def test_a_problem_becomes_rfc_9457_members(
    *, status: int, kind: str, title: str, detail: str | None, errors: list[FieldError], instance: str | None
) -> None:
    body = ProblemError(status, kind, title, detail, errors).to_problem(instance)
    assert body["type"] == PROBLEM_TYPE_BASE + kind
    assert (body["title"], body["status"]) == (title, status)
    assert body.get("detail") == (detail or None)
    assert body.get("instance") == instance
    assert body.get("errors", []) == [{"field": e.field, "message": e.message} for e in errors]
    json.dumps(body)  # serialisable as it stands


class ProbeIn(ApiInput):
    name: str
    size: int


class ProbeOut(ApiModel):
    name: str


_bp = func.Blueprint()  # type: ignore[no-untyped-call]


@endpoint(_bp, "probes", methods=["POST"], summary="Probe.", tag="test", auth=None)
def create_probe(call: Call, body: ProbeIn) -> Created[ProbeOut]:
    return Created(ProbeOut(name=body.name), f"/api/probes/{uuid.uuid4()}")


def _probe_function() -> Any:
    app = TenantryApp()
    app.register_functions(_bp)
    return next(f.get_user_function() for f in app.get_functions() if f.get_function_name() == "create_probe")


PROBE = _probe_function()
BODIES = st.one_of(
    st.binary(max_size=60),
    JSON.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"name": JSON, "size": JSON}).map(lambda v: json.dumps(v).encode()),
)


@EXAMPLES
@given(
    body=BODIES,
    content_type=st.sampled_from(["application/json", "application/merge-patch+json", "text/plain"]),
)
def test_any_body_is_taken_or_refused_as_a_4xx_problem_never_a_500(body: bytes, content_type: str) -> None:
    response = PROBE(
        func.HttpRequest("POST", "http://x/api/probes", headers={"content-type": content_type}, body=body)
    )
    if response.status_code == 201:
        return
    assert response.mimetype == "application/problem+json"
    problem = json.loads(response.get_body())
    assert 400 <= response.status_code < 500, problem
    assert problem["status"] == response.status_code
    assert problem["type"].startswith(PROBLEM_TYPE_BASE) and problem["title"]
    if response.status_code == 422:
        assert problem["errors"] and all(e["field"] for e in problem["errors"])

"""What a partner's tools see of data-subject requests: the published JSON Schema of a request
agrees with what the API accepts, problems say what to do, and a subject's identifier keeps the
spelling-free form its stored hash was made from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema_rs
import pytest
from pydantic import ValidationError

from shared.errors import ProblemError
from shared.privacy.subject_requests import RequestIn, RequestState, extended_due, next_state, normalised
from shared.privacy.subjects import SubjectIdentifier

TENANT = "0b7e8f6a-3c2d-4e1f-8a9b-7c6d5e4f3a2b"
ORG = "3f1c8a52-6b0e-ef11-9f89-000d3a3b1c2e"
EMAIL = {"email": "user1@fabrikam.example"}


def body(**overrides: Any) -> dict[str, Any]:
    made = {"type": "access", "subject": EMAIL, "tenantId": TENANT, **overrides}
    return {key: value for key, value in made.items() if value is not None}


# Each rule of RequestIn._consistent, met and broken, for every request type it names.
BODIES = [
    body(),
    body(type="erasure"),
    body(type="portability", subject={"objectId": TENANT}),
    body(tenantId=None),
    body(orgId=ORG),
    body(tenantId=None, orgId=ORG, subject={"systemUserId": ORG}),
    body(tenantId=None, orgId=ORG, subject={"objectId": TENANT}),
    body(subject={"systemUserId": ORG}),
    body(tenantId=None, orgId=ORG, subject={"phone": "+31200000000"}),
    body(type="rectification", changes={"displayName": "Ana Li"}),
    body(type="rectification"),
    body(type="rectification", changes={}),
    body(type="access", changes={"displayName": "Ana Li"}),
    body(type="erasure", changes={"displayName": "Ana Li"}),
    body(type="restriction", lift=True),
    body(type="objection", lift=True),
    body(type="restriction", lift=False),
    body(type="access", lift=True),
    body(type="rectification", changes={"displayName": "Ana Li"}, lift=True),
    body(type="consentWithdrawal"),
    body(type="consentWithdrawal", subject={"objectId": TENANT}),
    body(type="consentWithdrawal", tenantId=None, orgId=ORG, subject={"phone": "+31200000000"}),
    body(type="restriction", subject={"objectId": TENANT}),
]


def accepted_by_model(candidate: dict[str, Any]) -> bool:
    try:
        RequestIn.model_validate(candidate)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("candidate", BODIES, ids=[str(i) for i in range(len(BODIES))])
def test_the_published_schema_accepts_exactly_what_the_api_accepts(candidate: dict[str, Any]) -> None:
    """A partner's client validates against the document: a rule missing from it (or mistyped)
    lets a request through that the API then refuses, or refuses one the API takes."""
    schema = RequestIn.model_json_schema(by_alias=True)
    assert jsonschema_rs.validator_for(schema).is_valid(candidate) == accepted_by_model(candidate)


def rule_keywords(node: Any) -> set[str]:
    """Every keyword of a schema node and the nodes under it (property names left out)."""
    if isinstance(node, list):
        return set().union(*(rule_keywords(item) for item in node))
    if not isinstance(node, dict):
        return set()
    found = set(node)
    for key, value in node.items():
        if key == "properties":
            found |= set().union(*(rule_keywords(inner) for inner in value.values()))
        elif key in ("allOf", "anyOf", "oneOf", "not"):
            found |= rule_keywords(value)
    return found


def test_the_schema_names_every_rule_it_states() -> None:
    # Validators ignore unknown keywords, so a mistyped one silently drops its rule.
    known = {"allOf", "anyOf", "oneOf", "not", "properties", "required", "type", "enum", "minProperties"}
    assert rule_keywords(RequestIn.model_json_schema(by_alias=True)["allOf"]) <= known


def test_a_refused_transition_says_what_is_possible() -> None:
    with pytest.raises(ProblemError) as refused:
        next_state(RequestState.RECEIVED, "approve")
    problem = refused.value
    assert (problem.status, problem.kind, problem.title) == (
        409,
        "invalid-transition",
        "Not possible in this state.",
    )
    assert problem.detail == "Cannot approve a request that is received; it must be one of: awaitingApproval."
    assert problem.extra == {"state": "received"}


def test_an_extension_of_one_day_up_to_the_due_moment_is_allowed() -> None:
    due = datetime(2026, 3, 31, 9, tzinfo=UTC)
    assert extended_due(due, 1, due, already=False) == due + timedelta(days=1)
    with pytest.raises(ProblemError) as zero:
        extended_due(due, 0, due, already=False)
    assert zero.value.status == 422 and [e.field for e in zero.value.errors] == ["days"]
    assert zero.value.errors[0].message == "between 1 and 60"
    with pytest.raises(ProblemError) as twice:
        extended_due(due, 10, due, already=True)
    assert (twice.value.status, twice.value.title) == (409, "Already extended.")
    assert twice.value.detail == "A request's deadline can be extended once."
    with pytest.raises(ProblemError) as late:
        extended_due(due, 10, due + timedelta(seconds=1), already=False)
    assert (late.value.status, late.value.kind, late.value.title) == (
        409,
        "deadline-passed",
        "The deadline has passed.",
    )
    assert (
        late.value.detail == "An extension must be decided (and told to the subject) within the first period."
    )


@pytest.mark.parametrize(
    ("who", "form"),
    [
        (SubjectIdentifier(email="Ana.Li@Fabrikam.Example"), "email:ana.li@fabrikam.example"),
        (
            SubjectIdentifier(objectId=" {6F1C2B7E-0A4D-4C8E-9D3B-2A1F5E7C9B10} "),
            "objectId:6f1c2b7e-0a4d-4c8e-9d3b-2a1f5e7c9b10",
        ),
        (SubjectIdentifier(systemUserId="{3F1C8A52-6B0E-EF11-9F89-000D3A3B1C2E}"), f"systemUserId:{ORG}"),
        (SubjectIdentifier(phone=" +31 (20) 000-0000"), "phone:+31200000000"),
        (SubjectIdentifier(phone="020 000 0000"), "phone:0200000000"),
    ],
)
def test_an_identifier_keeps_the_form_its_stored_hash_was_made_from(
    who: SubjectIdentifier, form: str
) -> None:
    """Requests filed before an upgrade are found by this form: changing it loses them."""
    assert normalised(who) == form

"""The data-subject request state machine, deadlines and subject identity, without storage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from shared.errors import ProblemError
from shared.privacy import deadlines
from shared.privacy.subject_requests import (
    NEARING,
    OPEN_STATES,
    TRANSITIONS,
    RequestIn,
    RequestState,
    due_at,
    extended_due,
    next_state,
    request_hasher,
    subject_hash,
)
from shared.privacy.subjects import SubjectIdentifier
from tests.clocks import MovableClock

S = RequestState
TENANT = "0b7e8f6a-3c2d-4e1f-8a9b-7c6d5e4f3a2b"
ORG = "3f1c8a52-6b0e-ef11-9f89-000d3a3b1c2e"


def walk(*steps: str) -> RequestState:
    state = S.RECEIVED
    for step in steps:
        state = next_state(state, step)
    return state


def test_the_happy_path_runs_received_to_completed() -> None:
    assert walk("verify") is S.AWAITING_APPROVAL
    assert walk("verify", "approve") is S.APPROVED
    assert walk("verify", "approve", "execute") is S.IN_PROGRESS
    assert walk("verify", "approve", "execute", "complete") is S.COMPLETED


def test_approval_needs_verification_first() -> None:
    with pytest.raises(ProblemError) as refused:
        walk("approve")
    assert refused.value.status == 409 and refused.value.kind == "invalid-transition"
    assert refused.value.extra == {"state": "received"}


def test_a_failed_request_is_retried_and_keeps_its_place() -> None:
    failed = walk("verify", "approve", "execute", "fail")
    assert failed is S.FAILED and failed in OPEN_STATES
    assert next_state(failed, "execute") is S.IN_PROGRESS
    assert next_state(failed, "extend") is S.FAILED


@pytest.mark.parametrize("closed", [S.COMPLETED, S.REJECTED, S.CANCELLED, S.LINKED])
def test_nothing_moves_a_closed_request(closed: RequestState) -> None:
    for transition in TRANSITIONS:
        with pytest.raises(ProblemError):
            next_state(closed, transition)


def test_work_in_progress_cannot_be_rejected_cancelled_or_executed_twice() -> None:
    running = walk("verify", "approve", "execute")
    for transition in ("reject", "cancel", "execute", "verify", "approve"):
        with pytest.raises(ProblemError):
            next_state(running, transition)


def test_due_in_30_days_and_extended_once_by_at_most_60() -> None:
    clock = MovableClock(datetime(2026, 3, 1, 9, tzinfo=UTC))
    received = clock.now()
    due = due_at(received)
    assert due == received + timedelta(days=30)
    clock.moment += timedelta(days=29)
    assert extended_due(due, 60, clock.now(), already=False) == due + timedelta(days=60)
    with pytest.raises(ProblemError) as twice:
        extended_due(due, 10, clock.now(), already=True)
    assert twice.value.status == 409 and twice.value.kind == "already-extended"
    with pytest.raises(ProblemError) as too_long:
        extended_due(due, 61, clock.now(), already=False)
    assert too_long.value.status == 422
    clock.moment += timedelta(days=2)  # past the first period
    with pytest.raises(ProblemError) as late:
        extended_due(due, 10, clock.now(), already=False)
    assert late.value.kind == "deadline-passed"


def test_the_watch_state_moves_at_7_days_left_and_at_the_due_date() -> None:
    clock = MovableClock(datetime(2026, 3, 1, tzinfo=UTC))
    due = due_at(clock.moment)
    clock.moment = due - NEARING - timedelta(hours=1)
    assert deadlines.next_state(deadlines.OPEN, due, clock.now(), NEARING) == deadlines.OPEN
    clock.moment = due - NEARING + timedelta(hours=1)
    assert deadlines.next_state(deadlines.OPEN, due, clock.now(), NEARING) == deadlines.NEARING
    clock.moment = due
    assert deadlines.next_state(deadlines.NEARING, due, clock.now(), NEARING) == deadlines.PASSED


def test_one_subject_hashes_the_same_however_it_is_spelt() -> None:
    key = request_hasher("k" * 32)
    plain = subject_hash(key, TENANT, None, SubjectIdentifier(email="Ana.Li@Fabrikam.example"))
    assert plain == subject_hash(
        key, TENANT.upper(), None, SubjectIdentifier(email="ana.li@fabrikam.EXAMPLE")
    )
    assert "ana" not in plain and plain.startswith("pepper.v1:")
    # Another tenant (another controller), another key, another identifier: another subject.
    assert plain != subject_hash(key, ORG, None, SubjectIdentifier(email="ana.li@fabrikam.example"))
    assert plain != subject_hash(
        request_hasher("x" * 32), TENANT, None, SubjectIdentifier(email="ana.li@fabrikam.example")
    )
    phone = subject_hash(key, None, ORG, SubjectIdentifier(phone="+31 (20) 000-0000"))
    assert phone == subject_hash(key, None, ORG, SubjectIdentifier(phone="+31200000000"))
    guid = subject_hash(key, TENANT, None, SubjectIdentifier(objectId="{" + TENANT.upper() + "}"))
    assert guid == subject_hash(key, TENANT, None, SubjectIdentifier(objectId=TENANT))


def body(**overrides: object) -> dict[str, object]:
    return {"type": "access", "subject": {"email": "user1@fabrikam.example"}, "tenantId": TENANT, **overrides}


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"tenantId": None}, "exactly one of tenantId or orgId"),
        ({"orgId": ORG}, "exactly one of tenantId or orgId"),
        ({"tenantId": "fabrikam"}, "tenantId must be a GUID"),
        ({"type": "rectification"}, "names the changes"),
        ({"changes": {"displayName": "Ana"}}, "rectification requests only"),
        ({"lift": True}, "restriction and objection"),
        ({"type": "consentWithdrawal", "subject": {"phone": "+31200000000"}}, "by email"),
        ({"subject": {"systemUserId": ORG}}, "systemUserId names a Dynamics user"),
        ({"subject": {"email": "a@b.example", "phone": "+3120"}}, "exactly one of email"),
        ({"type": "deletion"}, "Input should be"),
        ({"priority": "high"}, "Extra inputs are not permitted"),
    ],
)
def test_a_request_that_does_not_add_up_is_refused(overrides: dict[str, object], says: str) -> None:
    with pytest.raises(ValidationError) as refused:
        RequestIn.model_validate(body(**overrides))
    assert says in str(refused.value)


def test_a_well_formed_request_of_each_kind_is_accepted() -> None:
    assert RequestIn.model_validate(body(type="rectification", changes={"displayName": "Ana Li"})).changes
    assert RequestIn.model_validate(body(type="objection", lift=True)).lift
    org = RequestIn.model_validate({**body(tenantId=None, orgId=ORG), "subject": {"systemUserId": ORG}})
    assert org.org_id == ORG

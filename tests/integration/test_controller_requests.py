"""Requests about data Tenantry holds as controller, against a private Azurite under a moved clock:
the operator files and decides them on the partner requests' 30-day clock and deadline watch, a
partner's request stays out of its reach, and closed ones go 24 months after they closed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.access.principals import Actor
from shared.audit.context import ActionContext
from shared.audit.log import AuditLog, iter_all
from shared.errors import ProblemError
from shared.partners.subscription import add_months
from shared.privacy import subject_requests as dsr
from shared.privacy.retention import SweepScope
from shared.privacy.subject_requests import (
    CONTROLLER_PARTITION,
    ClosedControllerRequests,
    ControllerRequestIn,
    PrivacyRequestService,
    ReasonIn,
    RequestIn,
    ResolveIn,
    VerifyIn,
)
from shared.storage.router import StorageRouter
from tests.clocks import MovableClock
from tests.integration.rigs import OPERATOR, PEPPER

DAY = timedelta(days=1)
OFFICER = ActionContext(Actor("personnel", "officer-1"))


def _controller(router: StorageRouter, clock: MovableClock) -> PrivacyRequestService:
    return PrivacyRequestService(router.region("eu"), CONTROLLER_PARTITION, "eu", clock, PEPPER)


def _request(email: str, **extra: object) -> ControllerRequestIn:
    return ControllerRequestIn.model_validate(
        {"type": "access", "subject": {"email": email}, "category": "siteContact", **extra}
    )


def test_controller_requests_run_on_the_30_day_clock_and_go_24_months_after_they_close(
    private_router: StorageRouter,
) -> None:
    clock = MovableClock(datetime(2031, 5, 1, 9, tzinfo=UTC))
    service = _controller(private_router, clock)
    filed = service.create_controller(_request(f"k.{uuid.uuid4().hex[:6]}@example.com"), OPERATOR)
    assert filed.controller is not None and filed.controller.category == "siteContact"
    assert filed.due_at - filed.received_at == timedelta(days=30)

    # The same deadline watch raises nearing, then passed, for it.
    account = private_router.region("eu")
    clock.moment = filed.due_at - 6 * DAY
    assert (CONTROLLER_PARTITION, filed.id, "privacy.request.deadlineNearing") in dsr.watch(account, clock)
    clock.moment = filed.due_at + DAY
    assert (CONTROLLER_PARTITION, filed.id, "privacy.request.deadlinePassed") in dsr.watch(account, clock)
    actions = [e["action"] for e in iter_all(AuditLog(account, clock), CONTROLLER_PARTITION)]
    assert "privacy.request.deadlinePassed" in actions

    # The operator verifies, approves and resolves it by hand: the job never runs for it.
    service.verify(filed.id, VerifyIn(method="emailChallenge", note="code came back"), OPERATOR)
    service.approve(filed.id, OPERATOR)
    with pytest.raises(ProblemError) as by_job:
        service.execute(filed.id, OPERATOR)
    assert by_job.value.kind == "manual-execution"
    done = service.resolve(filed.id, ResolveIn(note="Export mailed from the ledger"), OPERATOR)
    assert done.state.value == "completed" and done.deadline_state == "missed"
    assert done.outcome == {"note": "Export mailed from the ledger"}

    # Retention: a day before 24 months after closing it stays, a day after it goes, once.
    closed = done.closed_at
    assert closed is not None
    rule = ClosedControllerRequests()
    before = SweepScope("eu", account, private_router, add_months(closed, 24) - DAY)
    assert filed.id not in [c.key for c in rule.candidates(before, None)]
    after = SweepScope("eu", account, private_router, add_months(closed, 24) + DAY)
    due = [c for c in rule.candidates(after, None) if c.key == filed.id]
    assert [rule.delete(after, c) for c in due] == [True]
    assert [rule.delete(after, c) for c in due] == [False]  # a second sweep deletes nothing
    with pytest.raises(ProblemError):
        service.get(filed.id)


def test_the_operator_cannot_decide_a_partners_request_but_its_own_duplicates_link(
    private_router: StorageRouter,
) -> None:
    clock = MovableClock(datetime(2031, 6, 1, 9, tzinfo=UTC))
    partner_id = "01J" + uuid.uuid4().hex[:23].upper()
    partners = PrivacyRequestService(
        private_router.region("eu"), partner_id, "eu", clock, PEPPER, scope_exists=lambda _t, _o: True
    )
    body = RequestIn.model_validate(
        {"type": "erasure", "subject": {"email": "end.user@fabrikam.example"}, "tenantId": str(uuid.uuid4())}
    )
    with pytest.raises(ProblemError) as filing:
        partners.create(body, OPERATOR)
    assert (filing.value.status, filing.value.kind) == (403, "operator-is-processor")
    request = partners.create(body, OFFICER)
    for step in (
        lambda: partners.verify(request.id, VerifyIn(method="other", note="x"), OPERATOR),
        lambda: partners.reject(request.id, ReasonIn(reason="x"), OPERATOR),
        lambda: partners.execute(request.id, OPERATOR),
    ):
        with pytest.raises(ProblemError) as refused:
            step()
        assert (refused.value.status, refused.value.kind) == (403, "operator-is-processor")
    assert partners.get(request.id).state.value == "received"
    with pytest.raises(ProblemError) as not_ours:
        partners.resolve(request.id, ResolveIn(note="x"), OFFICER)
    assert not_ours.value.kind == "not-a-controller-request"

    service = _controller(private_router, clock)
    email = f"p.{uuid.uuid4().hex[:6]}@msp.example"
    first = service.create_controller(
        _request(email, category="partnerPersonnel", partnerId=partner_id), OPERATOR
    )
    again = service.create_controller(
        _request(email, category="partnerPersonnel", partnerId=partner_id), OPERATOR
    )
    assert (again.state.value, again.duplicate_of) == ("linked", first.id)
    with pytest.raises(ValueError, match="partnerId"):
        _request(email, category="partnerContact")

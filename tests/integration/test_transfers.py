"""Third-country transfers and sub-processor changes against a private Azurite under a moved clock: the
Firebase approval a push needs, and the 30-day windows of announcing a change and objecting to it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from functions.deps import SubprocessorNotices
from shared.access.principals import Actor
from shared.alerts.notices import NoticeBoard
from shared.audit.context import ActionContext
from shared.audit.log import AuditLog, iter_all
from shared.errors import ProblemError
from shared.keys import pepper_ring
from shared.partners.directory import PartnerDirectory
from shared.partners.models import PartnerIn
from shared.partners.service import Partner, PartnerService
from shared.privacy.settings import PrivacySettingsIn, PrivacySettingsService
from shared.privacy.subprocessors import ObjectionIn, SubprocessorChangeIn, SubprocessorChanges
from shared.privacy.transfers import TransferApprovals
from shared.storage.router import StorageRouter
from tests.clocks import MovableClock
from tests.integration.rigs import OPERATOR, PEPPER

OWNER = ActionContext(Actor("personnel", "owner-1", "Olga Owner"))
DAY = timedelta(days=1)


def _partner(router: StorageRouter, clock: MovableClock, region: str = "eu") -> Partner:
    service = PartnerService(router, PartnerDirectory(router), clock, pepper_ring(PEPPER))
    body = {
        "displayName": "Careful IT",
        "region": region,
        "entraTenantId": str(uuid.uuid4()),
        "contact": {"name": "Ana Li", "email": "ana@careful.example"},
        "subscription": {"plan": "standard", "tenantLimit": 5, "billingCycle": "monthly"},
    }
    return service.create(PartnerIn.model_validate(body), OPERATOR)


def _actions(router: StorageRouter, clock: MovableClock, partner: Partner) -> list[str]:
    return [e["action"] for e in iter_all(AuditLog(router.region(partner.region), clock), partner.id)]


def test_pushes_are_refused_until_the_partner_approves_firebase_and_the_approval_stays(
    private_router: StorageRouter,
) -> None:
    clock = MovableClock(datetime(2030, 3, 1, 9, tzinfo=UTC))
    partner = _partner(private_router, clock)
    account = private_router.region("eu")
    approvals = TransferApprovals(account, clock)

    with pytest.raises(ProblemError) as refused:
        approvals.require_push(partner.id)
    assert (refused.value.status, refused.value.kind) == (409, "transfer-not-approved")

    approved = approvals.approve(partner.id, OWNER)
    assert approved.approved and approved.approved_by == {"type": "personnel", "id": "owner-1"}
    approvals.require_push(partner.id)  # no longer refused
    # The partner's settings read as before, and changing them keeps the approval.
    settings = PrivacySettingsService(account, clock)
    assert settings.get(partner.id).administration_retention_years == 7
    settings.update(partner.id, PrivacySettingsIn(administration_retention_years=10), OWNER)
    clock.moment += DAY
    again = approvals.approve(partner.id, ActionContext(Actor("personnel", "someone-else")))
    assert again.approved_at == approved.approved_at  # the first approval is the one on record
    assert settings.get(partner.id).administration_retention_years == 10
    assert _actions(private_router, clock, partner).count("privacy.transfer.approved") == 1


def _change(effective: datetime, name: str = "Postmark") -> SubprocessorChangeIn:
    return SubprocessorChangeIn.model_validate(
        {
            "change": "added",
            "name": f"{name} {uuid.uuid4().hex[:6]}",
            "service": "Transactional e-mail",
            "location": "EU (Ireland)",
            "effectiveAt": effective,
        }
    )


def test_a_change_needs_30_days_notice_and_objections_close_30_days_after_it_was_announced(
    private_router: StorageRouter,
) -> None:
    clock = MovableClock(datetime(2030, 3, 1, 9, tzinfo=UTC))
    early, late, elsewhere = (_partner(private_router, clock, r) for r in ("eu", "eu", "us"))
    board = NoticeBoard(private_router, ("eu", "us"), clock)
    changes = SubprocessorChanges(SubprocessorNotices(board, clock), clock)
    now = clock.now()

    with pytest.raises(ProblemError) as too_soon:
        changes.announce(_change(now + 30 * DAY - timedelta(hours=1)), OPERATOR)
    assert too_soon.value.status == 422
    assert changes.list_pending() == []  # nothing announced, nobody told

    change = _change(now + 45 * DAY).model_copy(update={"regions": ["eu"]})
    announced = changes.announce(change, OPERATOR)
    assert announced.objection_until == announced.announced_at + 30 * DAY
    for partner in (early, late):
        assert "notice.scheduled" in _actions(private_router, clock, partner)  # every partner told
    assert "notice.scheduled" not in _actions(private_router, clock, elsewhere)  # not its region

    clock.moment = announced.objection_until - timedelta(minutes=1)  # the last minute of the window
    objected = changes.object_to(
        private_router.region("eu"), early.id, announced.id, ObjectionIn(reason="Not in our DPA"), OWNER,
        region="eu",
    )  # fmt: skip
    assert objected.objection is not None and objected.objection.reason == "Not in our DPA"
    with pytest.raises(ProblemError) as twice:
        changes.object_to(
            private_router.region("eu"), early.id, announced.id, ObjectionIn(reason="again"), OWNER,
            region="eu",
        )  # fmt: skip
    assert twice.value.kind == "already-objected"

    clock.moment += 2 * timedelta(minutes=1)  # the window closed a minute ago
    with pytest.raises(ProblemError) as closed:
        changes.object_to(
            private_router.region("eu"), late.id, announced.id, ObjectionIn(reason="late"), OWNER, region="eu"
        )
    assert (closed.value.status, closed.value.kind) == (409, "objection-window-closed")

    # The record shows the pending change to everyone, and each partner's own objection to itself.
    mine = changes.partner_record(private_router.region("eu"), early.id, "eu")
    theirs = changes.partner_record(private_router.region("eu"), late.id, "eu")
    assert [(c.id, c.objection is not None) for c in mine.pending_subprocessor_changes] == [
        (announced.id, True)
    ]
    assert [(c.id, c.objection) for c in theirs.pending_subprocessor_changes] == [(announced.id, None)]
    assert [c.id for c in changes.public_record().pending_subprocessor_changes] == [announced.id]
    assert "privacy.subprocessor.objected" in _actions(private_router, clock, early)

    clock.moment = change.effective_at + DAY  # in effect: no longer pending
    assert changes.public_record().pending_subprocessor_changes == []


def test_a_withdrawn_firebase_approval_refuses_pushes_on_every_instance_within_30_seconds(
    private_router: StorageRouter,
) -> None:
    clock = MovableClock(datetime(2030, 4, 1, 9, tzinfo=UTC))
    partner = _partner(private_router, clock)
    account = private_router.region("eu")
    here, elsewhere = TransferApprovals(account, clock), TransferApprovals(private_router.region("eu"), clock)
    here.approve(partner.id, OWNER)
    elsewhere.require_push(partner.id)  # another instance has read the approval and remembers it

    here.withdraw(partner.id, OWNER)
    here.withdraw(partner.id, OWNER)  # again: nothing more happens
    assert not here.get_firebase(partner.id).approved
    with pytest.raises(ProblemError) as refused:
        here.require_push(partner.id)
    assert refused.value.kind == "transfer-not-approved"
    # The process-wide memory was cleared by this withdrawal; a remembered approval from before it
    # (as another instance holds) lasts at most 30 seconds: put one back as that instance would have.
    from shared.privacy import transfers

    transfers._APPROVED[(account.label, partner.id)] = clock.now()
    clock.moment += timedelta(seconds=29)
    elsewhere.require_push(partner.id)
    clock.moment += timedelta(seconds=2)
    with pytest.raises(ProblemError):
        elsewhere.require_push(partner.id)
    assert _actions(private_router, clock, partner).count("privacy.transfer.withdrawn") == 1

    # Approving again counts at once.
    assert here.approve(partner.id, OWNER).approved
    here.require_push(partner.id)

"""Maintenance and policy notices under a moved clock: the notice periods hold, every partner of the
affected region hears of a notice when it is scheduled and once more before it starts, and
`list_notices` shows only what is still to come. A private Azurite: the notices reach only the
partners these tests made."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.alerts.notices import NoticeBoard, NoticeIn
from shared.alerts.rules import evaluate
from shared.audit.log import AuditLog, iter_all
from shared.errors import ProblemError
from shared.keys import pepper_ring
from shared.partners.directory import PartnerDirectory
from shared.partners.models import PartnerIn
from shared.partners.service import Partner, PartnerService
from shared.partners.subscription import add_months
from shared.storage.router import StorageRouter
from tests.clocks import MovableClock
from tests.integration.rigs import OPERATOR, PEPPER

HOUR = timedelta(hours=1)


def _partner(router: StorageRouter, clock: MovableClock, region: str) -> Partner:
    service = PartnerService(router, PartnerDirectory(router), clock, pepper_ring(PEPPER))
    body = {
        "displayName": "Notified IT",
        "region": region,
        "entraTenantId": str(uuid.uuid4()),
        "contact": {"name": "Ana Li", "email": "ana@notified.example"},
        "subscription": {"plan": "standard", "tenantLimit": 5, "billingCycle": "monthly"},
    }
    return service.create(PartnerIn.model_validate(body), OPERATOR)


def _notice(kind: str, starts: datetime, **extra: object) -> NoticeIn:
    return NoticeIn.model_validate(
        {"kind": kind, "title": f"{kind} {uuid.uuid4().hex[:6]}", "startsAt": starts, **extra}
    )


def _actions(router: StorageRouter, clock: MovableClock, partner: Partner, notice_id: str) -> list[str]:
    log = AuditLog(router.region(partner.region), clock)
    return sorted(e["action"] for e in iter_all(log, partner.id) if e["target"].get("id") == notice_id)


def test_policy_and_price_changes_need_their_notice_periods(private_router: StorageRouter) -> None:
    clock = MovableClock(datetime(2030, 1, 31, 12, tzinfo=UTC))
    board = NoticeBoard(private_router, ("eu", "us"), clock)
    now = clock.now()
    for kind, too_soon, enough in (
        ("policy", add_months(now, 1) - HOUR, add_months(now, 1) + HOUR),  # Jan 31 + 1 month: Feb 28
        ("price", now + timedelta(days=30) - HOUR, now + timedelta(days=30) + HOUR),
        ("subprocessor", add_months(now, 1) - HOUR, add_months(now, 1) + HOUR),
        ("maintenance", now - HOUR, now + HOUR),
    ):
        with pytest.raises(ProblemError) as refused:
            board.create_notice(_notice(kind, too_soon), OPERATOR)
        assert refused.value.status == 422 and "startsAt" in str(refused.value.errors)
        assert board.create_notice(_notice(kind, enough), OPERATOR).kind == kind


def test_partners_hear_at_scheduling_and_once_more_before_it_starts(private_router: StorageRouter) -> None:
    clock = MovableClock(datetime(2031, 6, 1, 9, tzinfo=UTC))
    eu, us = _partner(private_router, clock, "eu"), _partner(private_router, clock, "us")
    board = NoticeBoard(private_router, ("eu", "us"), clock)
    starts = (clock.now() + timedelta(days=3)).replace(microsecond=0)
    window = board.create_notice(
        _notice("maintenance", starts, endsAt=starts + 2 * HOUR, regions=["eu"]), OPERATOR
    )
    assert window.remind_at == starts - timedelta(hours=24)
    assert _actions(private_router, clock, eu, window.id) == ["notice.scheduled"]
    assert _actions(private_router, clock, us, window.id) == []  # another region's partner
    assert window.id in [n.id for n in board.list_notices().items]

    board.send_reminders()
    assert _actions(private_router, clock, eu, window.id) == ["notice.scheduled"]  # not yet
    clock.moment = window.remind_at + timedelta(minutes=1)
    assert board.send_reminders() >= 1
    assert board.send_reminders() == 0  # once
    assert _actions(private_router, clock, eu, window.id) == ["notice.reminder", "notice.scheduled"]

    clock.moment = starts + 3 * HOUR  # the window is over
    assert window.id not in [n.id for n in board.list_notices().items]


def test_a_notice_event_becomes_an_alert_with_its_dates() -> None:
    event = {
        "id": "e1",
        "at": "2031-06-01T09:00:00Z",
        "action": "notice.reminder",
        "target": {"type": "notice", "id": "n1"},
        "details": {"kind": "price", "title": "New prices", "startsAt": "2031-08-01T00:00:00Z"},
    }
    [alert] = evaluate("p1", event).alerts
    assert alert.type == "notice.price" and alert.link == "/api/notices"
    assert alert.title == "Reminder: Price change: New prices" and "2031-08-01" in alert.summary

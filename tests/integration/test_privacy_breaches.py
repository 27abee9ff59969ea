"""The breach register's 72-hour deadline watch, with a clock moved across each boundary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.access.principals import Actor
from shared.audit.context import ActionContext
from shared.audit.log import AuditLog, EventFilter
from shared.errors import ProblemError
from shared.privacy.breaches import BreachIn, BreachRegister
from shared.privacy.retention import SYSTEM_PARTITION
from shared.storage.router import StorageRouter

OPERATOR = ActionContext(Actor("operator", "operator"))


class SetClock:
    def __init__(self, now: datetime):
        self.moment = now

    def now(self) -> datetime:
        return self.moment


def breach(**overrides: object) -> BreachIn:
    body = {
        "region": "eu",
        "nature": "A misdirected export",
        "dataCategories": ["end-user data"],
        "approxSubjects": 12,
        "approxRecords": 40,
        "contactPoint": {"name": "DPO", "email": "dpo@tenantry.example"},
        "likelyConsequences": "Names and addresses seen by one other partner.",
        "measures": "Link revoked; blob deleted.",
        "affectedPartners": ["P1"],
        **overrides,
    }
    return BreachIn.model_validate(body)


def test_the_watch_raises_nearing_and_passed_once_each(router: StorageRouter) -> None:
    confirmed = datetime(1990, 6, 1, 12, tzinfo=UTC)
    clock = SetClock(confirmed)
    register = BreachRegister(router.region("eu"), clock, lambda partner, region: True)
    recorded = register.record(breach(confirmedAt=confirmed.isoformat()), OPERATOR)
    assert recorded.notify_by == confirmed + timedelta(hours=72)

    def raised_at(moment: datetime) -> list[str]:
        clock.moment = moment
        return [action for breach_id, action in register.watch() if breach_id == recorded.id]

    assert raised_at(confirmed + timedelta(hours=47)) == []  # more than a day left
    assert raised_at(confirmed + timedelta(hours=49)) == ["privacy.breach.deadlineNearing"]
    assert raised_at(confirmed + timedelta(hours=50)) == []  # once
    assert raised_at(confirmed + timedelta(hours=73)) == ["privacy.breach.deadlinePassed"]
    assert raised_at(confirmed + timedelta(hours=80)) == []
    assert register.get(recorded.id).deadline_state == "passed"
    events = AuditLog(router.region("eu"), clock).list(SYSTEM_PARTITION, EventFilter(), 100, None)[0]
    actions = [e["action"] for e in events if e["target"].get("id") == recorded.id]
    assert actions.count("privacy.breach.deadlinePassed") == 1
    assert actions.count("privacy.breach.deadlineNearing") == 1


def test_telling_partners_in_time_stops_the_watch(router: StorageRouter) -> None:
    confirmed = datetime(1991, 6, 1, 12, tzinfo=UTC)
    clock = SetClock(confirmed)
    register = BreachRegister(router.region("eu"), clock, lambda partner, region: True)
    recorded = register.record(breach(confirmedAt=confirmed.isoformat()), OPERATOR)
    clock.moment = confirmed + timedelta(hours=10)
    assert register.mark_notified(recorded.id, OPERATOR).deadline_state == "met"
    clock.moment = confirmed + timedelta(hours=100)
    assert recorded.id not in [breach_id for breach_id, _ in register.watch()]


def test_unknown_partners_are_refused(router: StorageRouter) -> None:
    register = BreachRegister(
        router.region("eu"), SetClock(datetime(1992, 1, 1, tzinfo=UTC)), lambda p, r: False
    )
    with pytest.raises(ProblemError) as refused:
        register.record(breach(), OPERATOR)
    assert (refused.value.status, refused.value.kind) == (422, "validation-failed")
    assert [e.field for e in refused.value.errors] == ["affectedPartners"]

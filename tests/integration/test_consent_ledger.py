"""The consent ledger against Azurite: the data-subject API (withdraw_subject, records_for) and
retention with a moved clock. Each test lives in its own past year, so the region-wide sweeps
touch only what the test made (everything else is dated today, far from due)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.errors import ProblemError
from shared.partners.subscription import add_months
from shared.privacy.consent import (
    CONTACTS,
    LEDGER,
    THROTTLE,
    ConsentKeys,
    ConsentLedger,
    Limit,
    Limits,
    SubscribeIn,
    consent_rules,
)
from shared.privacy.retention import RetentionRegistry, RetentionSweeper
from shared.settings import get_settings
from shared.storage.router import StorageRouter
from tests.clocks import MovableClock

DAY = timedelta(days=1)
KEYS = ConsentKeys("consent-key-for-integration-tests", "pepper-for-tests")


@pytest.fixture
def router() -> StorageRouter:
    router = StorageRouter(get_settings())
    router.region("eu").table("privacysweeps").delete_entity("sweep", "state")
    return router


def ledger_at(router: StorageRouter, moment: datetime) -> tuple[ConsentLedger, MovableClock]:
    clock = MovableClock(moment)
    return ConsentLedger(router.region("eu"), clock, KEYS), clock


def granted(ledger: ConsentLedger, partner_id: str, email: str, purpose: str = "newsletter") -> None:
    ledger.subscribe(
        SubscribeIn(partner_id=partner_id, email=email, purpose=purpose, name="Ana", phone="+31 6 1"),
        f"10.{uuid.uuid4().int % 250}.0.0",
    )
    item = next(
        i
        for i in ledger.outbox(partner_id, 100).items
        if i.email == email and i.purpose == purpose and i.kind == "confirm"
    )
    assert item.confirm_token is not None
    ledger.confirm(item.confirm_token, "10.0.0.0")


def rows(router: StorageRouter, table: str, partner_id: str) -> list[Any]:
    return list(router.region("eu").table(table).query_entities(f"PartitionKey eq '{partner_id}'"))


def sweep(router: StorageRouter, moment: datetime) -> dict[str, int]:
    """What went, per rule."""
    sweeper = RetentionSweeper(
        RetentionRegistry(consent_rules()), router, MovableClock(moment), budget_seconds=60
    )
    report = sweeper.sweep("eu")
    assert report.complete
    return report.per_rule


def test_withdraw_subject_removes_every_purpose_once_and_counts_the_same_on_a_rerun(
    router: StorageRouter,
) -> None:
    ledger, _ = ledger_at(router, datetime(1981, 3, 1, tzinfo=UTC))
    partner_id, email = f"p-{uuid.uuid4().hex}", "Ana.Li@Fabrikam.example"
    granted(ledger, partner_id, email, "newsletter")
    granted(ledger, partner_id, email, "events")
    granted(ledger, partner_id, "someone.else@fabrikam.example")

    before = ledger.records_for(partner_id, "ana.li@fabrikam.example")
    assert sorted(c.purpose for c in before.contacts) == ["events", "newsletter"]
    assert [c.email for c in before.contacts] == [email, email]
    assert sorted(e.action for e in before.ledger) == ["granted", "granted"]

    assert ledger.withdraw_subject(partner_id, email, request_id="dsr-1") == 2
    assert ledger.withdraw_subject(partner_id, email, request_id="dsr-1") == 2  # a retried job
    after = ledger.records_for(partner_id, email)
    assert after.contacts == []
    withdrawn = [e for e in after.ledger if e.action == "withdrawn"]
    assert sorted(e.purpose for e in withdrawn) == ["events", "newsletter"]
    assert {(e.method, e.request_id) for e in withdrawn} == {("dataSubjectRequest", "dsr-1")}
    assert [r["email"] for r in rows(router, CONTACTS, partner_id)] == ["someone.else@fabrikam.example"]
    assert ledger.withdraw_subject(partner_id, "nobody@fabrikam.example", request_id="dsr-2") == 0


def test_revocation_records_stay_three_years_after_the_withdrawal(router: StorageRouter) -> None:
    start = datetime(1983, 5, 10, 12, tzinfo=UTC)
    ledger, clock = ledger_at(router, start)
    partner_id, email = f"p-{uuid.uuid4().hex}", "reader@fabrikam.example"
    granted(ledger, partner_id, email)
    still = f"p-{uuid.uuid4().hex}"
    granted(ledger, still, email)  # another partner's consent that stands: never swept

    clock.moment = start + timedelta(days=100)
    withdrawn_at = clock.moment
    assert ledger.withdraw_subject(partner_id, email, request_id="r1") == 1
    assert rows(router, CONTACTS, partner_id) == []  # the newsletter data went at once
    assert len(rows(router, LEDGER, partner_id)) == 2

    due = add_months(withdrawn_at, 36)
    sweep(router, due - DAY)
    assert sorted(r["action"] for r in rows(router, LEDGER, partner_id)) == ["granted", "withdrawn"]
    assert sweep(router, due + DAY)["consent.revocations"] >= 2
    assert rows(router, LEDGER, partner_id) == []
    assert [r["action"] for r in rows(router, LEDGER, still)] == ["granted"]
    assert len(rows(router, CONTACTS, still)) == 1


def test_unconfirmed_addresses_go_when_their_link_expires(router: StorageRouter) -> None:
    start = datetime(1986, 1, 20, tzinfo=UTC)
    ledger, clock = ledger_at(router, start)
    partner_id = f"p-{uuid.uuid4().hex}"
    ledger.subscribe(SubscribeIn(partner_id=partner_id, email="late@fabrikam.example", purpose="news"), None)
    token = ledger.outbox(partner_id, 10).items[0].confirm_token
    assert token is not None

    sweep(router, start + timedelta(hours=47))
    assert len(rows(router, CONTACTS, partner_id)) == 1
    clock.moment = start + timedelta(hours=49)
    with pytest.raises(ProblemError) as refused:
        ledger.confirm(token, None)
    assert refused.value.status == 410
    gone = sweep(router, start + timedelta(hours=49))
    assert gone["consent.unconfirmed"] >= 1 and gone["consent.outbox"] >= 1
    assert rows(router, CONTACTS, partner_id) == []
    assert ledger.outbox(partner_id, 10).items == []


def test_rate_limit_counters_are_swept_two_days_after_their_window(router: StorageRouter) -> None:
    start = datetime(1988, 7, 1, 9, tzinfo=UTC)
    ledger, _ = ledger_at(router, start)
    ledger.subscribe(
        SubscribeIn(partner_id=f"p-{uuid.uuid4().hex}", email="c@fabrikam.example", purpose="news"),
        "10.9.9.0",
    )
    table = router.region("eu").table(THROTTLE)
    first, last = f"{start:%Y%m%d}", f"{start + timedelta(days=2):%Y%m%d}"

    def counters() -> list[Any]:
        return list(table.query_entities(f"PartitionKey ge '{first}' and PartitionKey lt '{last}'"))

    assert len(counters()) == 3  # one per network, one per partner, one per address
    sweep(router, start + timedelta(days=2) - timedelta(hours=1))
    assert len(counters()) == 3
    assert sweep(router, start + timedelta(days=3) + timedelta(hours=1))["consent.throttle"] >= 2
    assert counters() == []


def test_each_partner_has_a_public_budget_however_many_networks_call(router: StorageRouter) -> None:
    clock = MovableClock(datetime(2019, 3, 4, 10, 0, tzinfo=UTC))
    limits = Limits(public_per_partner=Limit("pp", 3, timedelta(hours=1)))
    ledger = ConsentLedger(router.region("eu"), clock, KEYS, limits)
    flooded, other, unknown = (str(uuid.uuid4()) for _ in range(3))

    def subscribe(partner_id: str, n: int) -> None:
        body = SubscribeIn(partner_id=partner_id, email=f"p{n}@flood.example", purpose="newsletter")
        ledger.subscribe(body, f"10.{n}.0.0")  # a network of its own each time

    for n in range(3):
        subscribe(flooded, n)
    with pytest.raises(ProblemError) as refused:
        subscribe(flooded, 3)
    assert refused.value.status == 429 and int(refused.value.headers["Retry-After"]) <= 3600
    assert len(rows(router, CONTACTS, flooded)) == 3  # the refused call wrote nothing
    subscribe(other, 4)  # another partner's form is not touched by the flood
    for n in range(3):  # a partner id nobody has is counted, and answered, the same way
        subscribe(unknown, 10 + n)
    with pytest.raises(ProblemError):
        subscribe(unknown, 13)
    clock.moment += timedelta(hours=1)
    subscribe(flooded, 5)  # the next window has a budget again

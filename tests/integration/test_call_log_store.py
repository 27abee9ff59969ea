"""The API call log and session events on Azurite: buffered writes, reads newest first with filters
and bound tokens, one session row per token (or per key and day), and the 90-day end (swept).

A private Azurite: the sweeps (which see a whole region) meet only what these tests made.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from functions import deps
from shared.audit.calls import (
    CALLS_TABLE,
    SESSIONS_TABLE,
    CallFilter,
    CallLog,
    CallLogReader,
    CallRecord,
    token_digest,
)
from shared.errors import ProblemError
from shared.keys import pepper_ring
from shared.partners.directory import PartnerDirectory
from shared.partners.models import PartnerIn
from shared.privacy.call_retention import DailyLogPartitions
from shared.privacy.retention import RetentionRegistry, RetentionSweeper
from shared.storage import tables
from shared.storage.router import AccountStorage, StorageRouter
from tests.clocks import MovableClock
from tests.integration.rigs import OPERATOR, PEPPER

START = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def router(private_router: StorageRouter) -> StorageRouter:
    return private_router


def make_partner(router: StorageRouter, clock: MovableClock) -> str:
    from shared.partners.service import PartnerService

    body = PartnerIn.model_validate(
        {
            "displayName": "Log IT",
            "region": "eu",
            "entraTenantId": str(uuid.uuid4()),
            "contact": {"name": "Ana Li", "email": "ana@log.example"},
            "subscription": {"plan": "standard", "tenantLimit": 5, "billingCycle": "monthly"},
            "owner": {"objectId": str(uuid.uuid4()), "email": "owner@log.example"},
        }
    )
    service = PartnerService(router, PartnerDirectory(router), clock, pepper_ring(PEPPER))
    return service.create(body, OPERATOR).id


def call(partner_id: str, at: datetime, **changes: object) -> CallRecord:
    fields: dict[str, object] = {
        "partner_id": partner_id,
        "region": "eu",
        "at": at,
        "request_id": uuid.uuid4().hex,
        "method": "GET",
        "route": "partners/{partnerId}/tenants",
        "status": 200,
        "duration_ms": 12,
        "caller_type": "apiKey",
        "caller_id": "KEY1",
        "caller_display": "psa-sync",
        "client_network": "203.0.113.0",
    }
    fields.update(changes)
    return CallRecord(**fields)  # type: ignore[arg-type]


def test_calls_are_listed_newest_first_filtered_and_only_the_partners_own(router: StorageRouter) -> None:
    clock = MovableClock(START)
    mine, other = f"P{uuid.uuid4().hex[:12]}", f"P{uuid.uuid4().hex[:12]}"
    recorder = CallLog(router.region, background=False)
    failed = call(
        mine,
        START - timedelta(days=1),
        method="POST",
        route="partners/{partnerId}/tenants/{tenantId}/sync",
        status=409,
        problem_type="https://tenantry.dev/problems/tenant-not-proven",
        problem_title="The tenant is not proven.",
    )
    for record in (call(mine, START - timedelta(minutes=5)), failed, call(mine, START), call(other, START)):
        recorder.record(record)
    # Buffered, not written by `record`: a request never waits for storage.
    assert recorder.flush() == 4
    reader = CallLogReader(router.region("eu"), clock)

    items, token = reader.list_calls(mine, CallFilter(), 100, None)
    assert [item["at"][:16] for item in items] == ["2026-03-10T09:30", "2026-03-10T09:25", "2026-03-09T09:30"]
    assert token is None
    assert items[2]["route"] == "partners/{partnerId}/tenants/{tenantId}/sync"
    assert items[2]["problemType"].endswith("/tenant-not-proven") and items[2]["status"] == 409
    assert items[0]["caller"] == {"type": "apiKey", "id": "KEY1"} and items[0]["clientIp"] == "203.0.113.0"
    assert other not in str(items)

    four = reader.list_calls(mine, CallFilter(status_class=4), 100, None)[0]
    assert [item["status"] for item in four] == [409]
    by_route = reader.list_calls(mine, CallFilter(route="partners/{partnerId}/tenants"), 100, None)[0]
    assert len(by_route) == 2
    earlier = reader.list_calls(mine, CallFilter(end=START - timedelta(hours=1)), 100, None)[0]
    assert [item["status"] for item in earlier] == [409]

    # Pages across days, each token bound to its partner's list.
    first, token = reader.list_calls(mine, CallFilter(), 2, None)
    assert len(first) == 2 and token
    rest, last = reader.list_calls(mine, CallFilter(), 2, token)
    assert [item["id"] for item in first + rest] == [item["id"] for item in items] and last is None
    with pytest.raises(ProblemError) as refused:
        reader.list_calls(other, CallFilter(), 2, token)
    assert refused.value.status == 400


def test_a_token_is_one_sign_in_and_a_key_one_use_a_day(router: StorageRouter) -> None:
    clock = MovableClock(START + timedelta(hours=1))
    partner = f"P{uuid.uuid4().hex[:12]}"
    recorder = CallLog(router.region, background=False)
    token = token_digest("eyJ.some.token")
    person = {
        "caller_type": "personnel",
        "caller_id": "PERSON1",
        "caller_display": "Ana Li",
        "session": token,
    }
    recorder.record(call(partner, START, **person))
    recorder.flush()
    recorder.record(
        call(partner, START + timedelta(minutes=20), route="partners/{partnerId}/events", **person)
    )
    recorder.record(call(partner, START + timedelta(minutes=1)))
    recorder.record(call(partner, START + timedelta(minutes=2)))
    recorder.flush()
    # Another instance saw the same token: still one row.
    elsewhere = CallLog(router.region, background=False)
    elsewhere.record(call(partner, START + timedelta(minutes=30), **person))
    elsewhere.flush()

    sessions, _ = CallLogReader(router.region("eu"), clock).list_sessions(partner, None, None, 100, None)
    assert [(s["kind"], s["actor"]["id"]) for s in sessions] == [("keyUse", "KEY1"), ("signIn", "PERSON1")]
    sign_in = sessions[1]
    assert sign_in["at"] == "2026-03-10T09:30:00Z" and sign_in["lastAt"] == "2026-03-10T10:00:00Z"
    assert sign_in["route"] == "partners/{partnerId}/tenants"  # the first call's
    assert sign_in["actor"]["display"] == "Ana Li" and sign_in["clientIp"] == "203.0.113.0"
    assert sessions[0]["lastAt"] == "2026-03-10T09:32:00Z"
    rows = list(tables.query_json(router.region("eu").table(SESSIONS_TABLE), f"PartitionKey ge '{partner}'"))
    assert "eyJ" not in str(rows)


def sweep(router: StorageRouter, at: datetime) -> dict[str, int]:
    names = {"apicalls.days", "sessionevents.days"}
    rules = [r for r in deps.retention_registry().rules() if r.name in names]
    assert len(rules) == 2 and all(isinstance(r, DailyLogPartitions) for r in rules)
    report = RetentionSweeper(RetentionRegistry(rules), router, MovableClock(at), budget_seconds=60).sweep(
        "eu"
    )
    assert report.complete
    return dict(report.per_rule)


def test_a_day_of_calls_and_sessions_goes_after_90_days(router: StorageRouter) -> None:
    clock = MovableClock(START)
    partner = make_partner(router, clock)
    recorder = CallLog(router.region, background=False)
    recorder.record(call(partner, START))
    recorder.record(call(partner, START + timedelta(days=1)))
    recorder.flush()
    account = router.region("eu")

    def days(table: str) -> set[str]:
        within = f"PartitionKey gt '{partner}~' and PartitionKey lt '{partner}~~'"
        rows = tables.query_json(account.table(table), within, ["PartitionKey"])
        return {str(row["PartitionKey"]).rsplit("~", 1)[1] for row in rows}

    # Day D is kept through D + 90 and gone on D + 91; the next day stays a day longer.
    assert sweep(router, START + timedelta(days=90)) == {}
    assert days(CALLS_TABLE) == days(SESSIONS_TABLE) == {"20260310", "20260311"}
    assert sweep(router, START + timedelta(days=91)) == {"apicalls.days": 1, "sessionevents.days": 1}
    assert days(CALLS_TABLE) == days(SESSIONS_TABLE) == {"20260311"}
    assert sweep(router, START + timedelta(days=91, hours=1)) == {}
    assert sweep(router, START + timedelta(days=92)) == {"apicalls.days": 1, "sessionevents.days": 1}
    assert days(CALLS_TABLE) == days(SESSIONS_TABLE) == set()


def test_calls_survive_one_failed_write_and_recording_never_touches_storage(router: StorageRouter) -> None:
    partner, reached = f"P{uuid.uuid4().hex[:12]}", []

    def account_of(region: str) -> AccountStorage:
        # Storage is down for the first flush: the account cannot be reached.
        reached.append(region)
        if len(reached) == 1:
            raise ConnectionError("storage unavailable")
        return router.region(region)

    recorder = CallLog(account_of, background=False)
    recorder.record(call(partner, START))
    assert reached == []
    assert recorder.flush() == 0
    assert recorder.flush() == 1
    items, _ = CallLogReader(router.region("eu"), MovableClock(START)).list_calls(
        partner, CallFilter(), 10, None
    )
    assert len(items) == 1

"""The audit log against Azurite: hash chains verify, tampering is found, writers do not queue."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from shared.audit.log import AuditLog, EventFilter, NewEvent, ScopedView, bucket_name
from shared.ids import new_id
from shared.storage.router import StorageRouter
from tests.clocks import MovableClock


def event(action: str, n: int = 0) -> NewEvent:
    return NewEvent(
        action=action,
        actor={"type": "operator", "id": "operator"},
        target={"type": "thing", "id": f"t{n}"},
        changes={"x": {"before": n, "after": n + 1}},
    )


@pytest.fixture
def log(router: StorageRouter) -> AuditLog:
    return AuditLog(router.region("eu"), MovableClock(datetime(2026, 11, 20, 12, tzinfo=UTC)))


def test_concurrent_appends_all_land_and_verify(log: AuditLog) -> None:
    partner = new_id()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda n: log.append(partner, event("thing.changed", n)), range(64)))
    items, _ = log.list(partner, EventFilter(), 1000, None)
    assert sorted(i["target"]["id"] for i in items) == sorted(f"t{n}" for n in range(64))
    result = log.verify(partner)
    assert (result.valid, result.checked, result.first_broken_event_id) == (True, 64, None)


def test_editing_one_stored_event_breaks_verify_at_that_event(log: AuditLog, router: StorageRouter) -> None:
    partner = new_id()
    stored = [log.append(partner, event("thing.changed", n)) for n in range(10)]
    victim = stored[4]
    table = router.region("eu").table_service().get_table_client(bucket_name(log.clock.now()))
    row = table.get_entity(partner, victim["RowKey"])
    row["action"] = "thing.innocent"  # what an attacker with storage access might do
    table.update_entity(row)
    result = log.verify(partner)
    assert not result.valid
    assert result.first_broken_event_id == victim["id"]


def test_deleting_the_newest_event_is_found(log: AuditLog, router: StorageRouter) -> None:
    partner = new_id()
    stored = [log.append(partner, event("thing.changed", n)) for n in range(3)]
    newest = stored[-1]
    table = router.region("eu").table_service().get_table_client(bucket_name(log.clock.now()))
    table.delete_entity(partner, newest["RowKey"])
    result = log.verify(partner)
    assert not result.valid
    assert result.first_broken_event_id == newest["id"]


def test_chain_continues_across_months_and_lists_newest_first(log: AuditLog) -> None:
    partner = new_id()
    clock = log.clock
    assert isinstance(clock, MovableClock)
    start = clock.moment
    for n in range(3):
        log.append(partner, event("early", n))
    clock.moment = start + timedelta(days=20)  # next month's bucket
    for n in range(3, 6):
        log.append(partner, event("late", n))
    assert log.verify(partner).valid
    items, token = log.list(partner, EventFilter(), 4, None)
    assert [i["target"]["id"] for i in items][:3] == ["t5", "t4", "t3"]
    rest, end = log.list(partner, EventFilter(), 4, token)
    assert token is not None and end is None
    assert [i["target"]["id"] for i in items + rest] == ["t5", "t4", "t3", "t2", "t1", "t0"]
    only_late, _ = log.list(partner, EventFilter(action="late"), 10, None)
    assert {i["action"] for i in only_late} == {"late"} and len(only_late) == 3
    window, _ = log.list(partner, EventFilter(start=start + timedelta(days=10)), 10, None)
    assert len(window) == 3


def test_events_of_one_partner_are_not_listed_for_another(log: AuditLog) -> None:
    a, b = new_id(), new_id()
    log.append(a, event("secret.of.a"))
    items, _ = log.list(b, EventFilter(), 100, None)
    assert items == []


ACTOR = {"type": "personnel", "id": "someone-else"}


def test_an_event_names_its_tenant_and_the_tenant_is_part_of_the_hash(
    log: AuditLog, router: StorageRouter
) -> None:
    partner, tenant = new_id(), "0B7E8F6A-3C2D-4E1F-8A9B-7C6D5E4F3A2B"
    plain = log.append(partner, event("partner.thing"))  # as every event was before tenants were named
    on_tenant = log.append(partner, NewEvent("tenant.synced", ACTOR, {"type": "tenant", "id": tenant}))
    on_user = log.append(
        partner, NewEvent("tenant.user.updated", ACTOR, {"type": "user", "id": "u1", "tenantId": tenant})
    )
    on_org = log.append(
        partner, NewEvent("org.updated", ACTOR, {"type": "org", "id": "o1"}, tenant_id=tenant)
    )
    assert "tenantId" not in {k for k, v in plain.items() if v is not None}
    assert {on_tenant["tenantId"], on_user["tenantId"], on_org["tenantId"]} == {tenant.lower()}
    assert log.verify(partner).valid
    listed, _ = log.list(partner, EventFilter(tenant=tenant), 10, None)
    assert {i["id"] for i in listed} == {on_tenant["id"], on_user["id"], on_org["id"]}
    assert all(i["tenantId"] == tenant.lower() for i in listed)
    # Moving an event to another tenant is tampering like any other.
    table = router.region("eu").table_service().get_table_client(bucket_name(log.clock.now()))
    row = table.get_entity(partner, on_user["RowKey"])
    row["tenantId"] = "11111111-1111-1111-1111-111111111111"
    table.update_entity(row)
    assert log.verify(partner).first_broken_event_id == on_user["id"]


@pytest.mark.parametrize("extra_tenants", [0, 20])  # few: narrowed in the query; many: filtered after
def test_a_scoped_view_lists_its_tenants_events_and_its_own_partner_level_ones(
    log: AuditLog, extra_tenants: int
) -> None:
    partner, me = new_id(), "me"
    mine, theirs = "aaaaaaaa-0000-0000-0000-000000000001", "bbbbbbbb-0000-0000-0000-000000000002"
    by_me = {"type": "personnel", "id": me}
    shown = [
        log.append(partner, NewEvent("tenant.created", ACTOR, {"type": "tenant", "id": mine})),
        log.append(partner, NewEvent("apiKey.created", by_me, {"type": "apiKey", "id": "k1"})),
        log.append(partner, NewEvent("personnel.updated", ACTOR, {"type": "personnel", "id": me})),
    ]
    hidden = [
        log.append(partner, NewEvent("tenant.created", ACTOR, {"type": "tenant", "id": theirs})),
        log.append(partner, NewEvent("tenant.deleted", by_me, {"type": "tenant", "id": theirs})),
        log.append(partner, NewEvent("apiKey.created", ACTOR, {"type": "apiKey", "id": "k2"})),
        log.append(partner, NewEvent("org.updated", ACTOR, {"type": "org", "id": "o-without-tenant"})),
    ]
    reach = frozenset({mine} | {f"cccccccc-0000-0000-0000-{n:012d}" for n in range(extra_tenants)})
    view = ScopedView(reach, frozenset({me}))
    first, token = log.list(partner, EventFilter(view=view), 2, None)
    rest, _ = log.list(partner, EventFilter(view=view), 2, token)
    assert {i["id"] for i in first + rest} == {e["id"] for e in shown}
    everything, _ = log.list(partner, EventFilter(), 100, None)
    assert {i["id"] for i in everything} == {e["id"] for e in shown + hidden}


_HASHED_COLUMNS = (
    "id", "at", "lane", "seq", "prev", "action", "actor", "target", "changes", "requestId", "clientIp",
    "details", "tenantId",
)  # fmt: skip


def _tampered(value: object) -> object:
    """A plausible edit of a stored value: another number, or text changed in place."""
    if isinstance(value, int):
        return value + 1
    text = str(value)
    if text.startswith("{"):  # a JSON column: change what it says, keep it valid JSON
        return json.dumps({**json.loads(text), "edited": True}, sort_keys=True)
    return text[:-1] + ("0" if text[-1:] != "0" else "1")


@pytest.mark.parametrize("column", _HASHED_COLUMNS)
def test_editing_any_hashed_field_of_an_event_is_found(
    log: AuditLog, router: StorageRouter, column: str
) -> None:
    partner = new_id()
    full = NewEvent(
        action="tenant.user.updated",
        actor={"type": "personnel", "id": "p1", "display": "Ana"},
        target={"type": "user", "id": "u1", "tenantId": "0b7e8f6a-3c2d-4e1f-8a9b-7c6d5e4f3a2b"},
        changes={"accountEnabled": {"before": True, "after": False}},
        request_id="req-1",
        client_ip="198.51.100.0",
        details={"reason": "leaver"},
    )
    stored = [log.append(partner, full) for _ in range(3)]
    victim = stored[1]
    table = router.region("eu").table_service().get_table_client(bucket_name(log.clock.now()))
    row = table.get_entity(partner, victim["RowKey"])
    assert row.get(column) not in (None, ""), f"the test event must fill {column}"
    row[column] = _tampered(row[column])
    table.update_entity(row)
    result = log.verify(partner)
    # Found at that event (named by the id it now carries, when the id itself was the edit).
    assert not result.valid and result.first_broken_event_id == row["id"], column

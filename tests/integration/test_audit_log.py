"""The audit log against Azurite: hash chains verify, tampering is found, writers do not queue."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from shared.audit.log import AuditLog, EventFilter, NewEvent, bucket_name
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

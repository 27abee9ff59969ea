"""The audit chain against someone who can write the table: keyed links, anchors, bounded verify.

The attacker here holds the events table (edit, delete, rewrite any row) but not the audit MAC key
(Key Vault) and cannot change the anchor blobs (immutable in Azure; Azurite does not enforce that,
so these tests prove detection, infra/ and its checkov check prove the policy).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.audit.anchors import ANCHOR_DAYS, CONTAINER, AnchorStore, anchor_region, day_blob
from shared.audit.chain import MacKeys, mac_link, new_mac_key, sha256_link
from shared.audit.log import AuditLog, EventFilter, NewEvent, ScopedView, bucket_name
from shared.audit.verifications import QUEUE, VerificationMessage, VerificationService
from shared.audit.verify import GENESIS, STEP_ROWS
from shared.ids import new_id
from shared.storage.router import AccountStorage, StorageRouter
from tests.audit_chains import fill_month
from tests.clocks import MovableClock

KEYS = MacKeys(new_mac_key("t1"))


def event(n: int) -> NewEvent:
    return NewEvent(
        action="thing.changed",
        actor={"type": "operator", "id": "operator"},
        target={"type": "thing", "id": f"t{n}"},
        changes={"x": {"before": n, "after": n + 1}},
    )


@pytest.fixture
def account(router: StorageRouter) -> AccountStorage:
    return router.region("eu")


@pytest.fixture(scope="module")
def private_account(private_router: StorageRouter) -> AccountStorage:
    return private_router.region("eu")


@pytest.fixture
def clock() -> MovableClock:
    # Its own month, far from the other modules' buckets, so anchors and counts are this test's.
    return MovableClock(datetime(2031, 3, 10, 12, tzinfo=UTC))


@pytest.fixture
def log(account: AccountStorage, clock: MovableClock) -> AuditLog:
    return AuditLog(account, clock, lanes=1, mac_keys=KEYS)


def append_anchored(log: AuditLog, partner: str, count: int) -> list[dict[str, Any]]:
    """Appends events one by one, the anchor timer running after each (every head gets anchored)."""
    stored = []
    for n in range(count):
        stored.append(log.append(partner, event(n)))
        anchor_region(log.account, log.clock, [partner])
    return stored


def checked_with_anchors(log: AuditLog, partner: str) -> Any:
    return log.verify(partner, anchors=AnchorStore(log.account, log.clock))


def rows_of(log: AuditLog, partner: str) -> Any:
    return log.account.table(bucket_name(log.clock.now()))


def recompute_lane(log: AuditLog, partner: str, edits: dict[str, dict[str, Any]], key: bytes | None) -> None:
    """What an attacker does after editing: relinks the lane from the first edited event on (by
    SHA-256, or by HMAC with `key`), and rewrites the head, so the table alone links up again."""
    table = rows_of(log, partner)
    events = sorted(
        (dict(r) for r in table.query_entities(f"PartitionKey eq '{partner}' and RowKey lt '~'")),
        key=lambda r: int(r["seq"]),
    )
    prev = GENESIS
    first = min((int(r["seq"]) for r in events if str(r["id"]) in edits), default=1)
    for row in events:
        if int(row["seq"]) < first:
            prev = row["hash"]  # before the edit: left as it was
            continue
        row.update(edits.get(str(row["id"]), {}))
        row["prev"] = prev
        if key is None:
            row.pop("kid", None)
            row["hash"] = sha256_link(row)
        else:
            row["hash"] = mac_link(row, key)
        table.upsert_entity(row, mode="replace")
        prev = row["hash"]
    head = dict(table.get_entity(partner, "~head-0"))
    head.update(seq=events[-1]["seq"], hash=prev, eventId=events[-1]["id"], eventRowKey=events[-1]["RowKey"])
    table.upsert_entity(head, mode="replace")


def test_events_are_chained_by_a_mac_under_a_named_key_and_verify(log: AuditLog) -> None:
    partner = new_id()
    stored = append_anchored(log, partner, 5)
    assert all(e["kid"] == "t1" and e["hash"] == mac_link(e, KEYS.get("t1") or b"") for e in stored)
    assert all(e["hash"] != sha256_link(e) for e in stored)
    result = checked_with_anchors(log, partner)
    assert (result.valid, result.checked, result.first_broken_event_id) == (True, 5, None)


def test_an_edit_relinked_without_the_key_is_found_at_the_edited_event(log: AuditLog) -> None:
    partner = new_id()
    stored = append_anchored(log, partner, 8)
    victim = stored[3]
    recompute_lane(log, partner, {victim["id"]: {"action": "thing.innocent"}}, key=None)
    result = log.verify(partner)  # the table alone tells: a bare SHA-256 link after keyed ones
    assert not result.valid
    assert (result.first_broken_event_id, result.reason) == (victim["id"], "unkeyed-after-keyed")
    guessed = MacKeys(new_mac_key("t1"))  # the attacker's own key under our key id
    recompute_lane(log, partner, {victim["id"]: {"action": "thing.innocent", "kid": "t1"}}, guessed.get("t1"))
    result = log.verify(partner)
    assert not result.valid and result.first_broken_event_id == victim["id"]


def test_an_edit_relinked_with_a_leaked_key_is_found_by_the_anchors(log: AuditLog) -> None:
    partner = new_id()
    stored = append_anchored(log, partner, 8)
    victim = stored[3]
    recompute_lane(log, partner, {victim["id"]: {"action": "thing.innocent"}}, key=KEYS.get("t1"))
    assert log.verify(partner).valid  # the table is consistent again: only the anchors know better
    result = checked_with_anchors(log, partner)
    assert not result.valid
    assert (result.first_broken_event_id, result.reason) == (victim["id"], "differs-from-anchor")


def test_cutting_off_the_newest_events_and_rewriting_the_head_is_found(log: AuditLog) -> None:
    partner = new_id()
    stored = append_anchored(log, partner, 8)
    table = rows_of(log, partner)
    for gone in stored[5:]:
        table.delete_entity(partner, gone["RowKey"])
    kept = stored[4]
    head = dict(table.get_entity(partner, "~head-0"))
    head.update(seq=kept["seq"], hash=kept["hash"], eventId=kept["id"], eventRowKey=kept["RowKey"])
    table.upsert_entity(head, mode="replace")
    assert log.verify(partner).valid  # a shorter chain that links: the table alone cannot tell
    result = checked_with_anchors(log, partner)
    assert not result.valid
    # The first event that differs: the oldest one cut off (its anchor names it).
    assert (result.first_broken_event_id, result.reason) == (stored[5]["id"], "anchored-event-missing")


def test_anchoring_twice_appends_nothing_new(log: AuditLog, account: AccountStorage) -> None:
    partner = new_id()
    for n in range(3):
        log.append(partner, event(n))
    assert anchor_region(account, log.clock, [partner]) == 1  # one lane, one head
    assert anchor_region(account, log.clock, [partner]) == 0
    log.append(partner, event(9))
    assert anchor_region(account, log.clock, [partner]) == 1
    blob = account.container(CONTAINER).download_blob(day_blob(log.clock.now())).readall().decode()
    mine = [json.loads(line) for line in blob.splitlines() if partner in line]
    assert [(a["s"], a["l"]) for a in mine] == [(3, 0), (4, 0)]


def test_events_chained_by_bare_sha256_before_the_key_keep_verifying(log: AuditLog) -> None:
    partner = new_id()
    append_anchored(log, partner, 4)
    table = rows_of(log, partner)
    for row in table.query_entities(f"PartitionKey eq '{partner}' and RowKey lt '~'"):
        first_id = str(row["id"])  # any event: relinking from the lane's oldest rewrites them all
    recompute_lane(log, partner, {first_id: {}}, key=None)  # as written before the keyed chain
    log.append(partner, event(5))  # a keyed event after them links to their last hash
    result = log.verify(partner)
    assert (result.valid, result.checked) == (True, 5)


def test_a_key_rotation_keeps_older_events_verifying(account: AccountStorage, clock: MovableClock) -> None:
    partner = new_id()
    old, new = new_mac_key("t1"), new_mac_key("t2")
    AuditLog(account, clock, lanes=1, mac_keys=MacKeys(old)).append(partner, event(1))
    rotated = AuditLog(account, clock, lanes=1, mac_keys=MacKeys(f"{new},{old}"))
    assert rotated.append(partner, event(2))["kid"] == "t2"  # the first key MACs from now on
    assert rotated.verify(partner).valid  # the old key still verifies what it MACed
    # Dropping the old key while its events are kept shows in verify: they cannot be checked.
    assert not AuditLog(account, clock, lanes=1, mac_keys=MacKeys(new)).verify(partner).valid


# --- Bounded work ------------------------------------------------------------------------------

MONTH_EVENTS = 50_000


def test_a_month_of_50000_events_verifies_in_bounded_steps_as_a_long_operation(
    private_account: AccountStorage,
) -> None:
    # An Azurite of its own: a local host of the session would take the steps off the queue.
    account = private_account
    clock = MovableClock(datetime(2031, 7, 31, 12, tzinfo=UTC))
    partner = new_id()
    fill_month(account, partner, clock.now(), KEYS, count=MONTH_EVENTS, lanes=8)
    log = AuditLog(account, clock, mac_keys=KEYS)
    anchor_region(account, clock, [partner])
    service = VerificationService(account, log)

    started = service.start(partner, "2031-07")
    # Too large for one request: a long operation to poll, not an answer after 50,000 reads.
    assert started.result is None and started.operation is not None
    operation = started.operation
    assert (operation.state, operation.total, operation.checked) == ("queued", MONTH_EVENTS, 0)

    queue = account.queue(QUEUE)
    steps, seen = 0, 0
    while True:
        messages = list(queue.receive_messages(max_messages=32))
        mine = [
            m
            for m in messages
            if VerificationMessage.model_validate_json(m.content).verification_id == operation.id
        ]
        for other in messages:
            if other not in mine:
                queue.update_message(other, visibility_timeout=0)
        if not mine:
            break
        assert len(mine) == 1  # one step queued at a time
        done = service.run_step(partner, operation.id)
        queue.delete_message(mine[0])
        steps += 1
        progress = service.get(partner, operation.id)
        assert progress.checked - seen <= STEP_ROWS  # each step reads at most STEP_ROWS events
        seen = progress.checked
        if done:
            break
    final = service.get(partner, operation.id)
    assert (final.state, final.valid, final.checked, final.first_broken_event_id) == (
        "succeeded", True, MONTH_EVENTS, None,
    )  # fmt: skip
    assert steps == -(-MONTH_EVENTS // STEP_ROWS) + 1  # 25 full steps and the one that closes the month

    # A listing whose filter keeps nothing of the month answers after a bounded read, with a token.
    many_tenants = ScopedView(frozenset(new_id() for _ in range(9)), frozenset({"nobody"}))
    items, token = log.list(partner, EventFilter(view=many_tenants), 100, None)
    assert items == [] and token is not None


def test_anchors_go_when_the_log_they_anchor_is_gone(log: AuditLog, account: AccountStorage) -> None:
    from functions import deps
    from shared.privacy.retention import RetentionRegistry, RetentionSweeper

    partner = new_id()
    log.append(partner, event(1))
    anchor_region(account, log.clock, [partner])
    name = day_blob(log.clock.now())
    rule = next(r for r in deps.retention_registry().rules() if r.name == "auditanchors.age")
    written = datetime.now(UTC)

    def sweep(at: datetime) -> None:
        registry = RetentionRegistry([rule])
        for _ in range(50):
            if (
                RetentionSweeper(registry, deps.storage(), MovableClock(at), budget_seconds=60)
                .sweep("eu")
                .complete
            ):
                return
        raise AssertionError("the sweep never completed")

    def kept() -> bool:
        return any(b.name == name for b in account.container(CONTAINER).list_blobs(name_starts_with=name))

    sweep(written + timedelta(days=ANCHOR_DAYS - 1))
    assert kept()  # kept as long as the log it anchors (24 months) and a month more
    sweep(written + timedelta(days=ANCHOR_DAYS + 1))
    assert not kept()

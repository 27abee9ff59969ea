"""Idempotency-Key records on Azurite: replay, refusals, a crashed attempt finished by its retry,
sealed answers, the 24-hour end (swept), and a partner created whole or not at all.

A private Azurite: the sweeps (which see a whole region) meet only what these tests made.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from functions import deps
from shared.access.reach import TenantReach
from shared.errors import ProblemError
from shared.idempotency import TABLE, Answer, IdempotencyStore, Reservation, fingerprint
from shared.ids import new_id
from shared.keys import pepper_ring
from shared.notifications.secrets import TokenCipher, new_encryption_key
from shared.partners.access import AccessService
from shared.partners.directory import PartnerDirectory
from shared.partners.models import PartnerIn
from shared.partners.service import PartnerService
from shared.privacy.idempotency_retention import IdempotencyRecords
from shared.privacy.retention import RetentionRegistry, RetentionSweeper
from shared.storage import tables
from shared.storage.router import StorageRouter
from tests.clocks import MovableClock
from tests.integration.rigs import OPERATOR, PEPPER

START = datetime(1971, 6, 1, 9, 0, tzinfo=UTC)
CIPHER = TokenCipher(new_encryption_key())


@pytest.fixture(scope="module")
def router(private_router: StorageRouter) -> StorageRouter:
    return private_router


def store(router: StorageRouter, clock: MovableClock) -> IdempotencyStore:
    return IdempotencyStore([router.region("eu")], clock, CIPHER)


def body_print(body: dict[str, object]) -> str:
    return fingerprint("POST", "/api/partners/X/api-keys", {}, json.dumps(body).encode())


def created(secret: str) -> Answer:
    body = json.dumps({"id": "K1", "key": secret})
    return Answer(201, body, "application/json", {"Location": "/api/partners/X/api-keys/K1"})


def test_the_first_answer_is_replayed_sealed_and_another_request_is_refused(router: StorageRouter) -> None:
    clock = MovableClock(START)
    records = store(router, clock)
    scope, key, secret = f"P{uuid.uuid4().hex}", str(uuid.uuid4()), f"tk_{uuid.uuid4().hex}"
    first = records.begin(scope, key, body_print({"name": "ci"}))
    assert isinstance(first, Reservation) and not first.resumed
    records.complete(first, created(secret))

    again = records.begin(scope, key, body_print({"name": "ci"}))
    assert again == created(secret)
    # Stored sealed: the key shown once is nowhere in the row, and the client's key neither.
    row = tables.get(router.region("eu").table(TABLE), scope, first.row_key)
    assert row is not None and secret not in json.dumps(dict(row)) and key not in json.dumps(dict(row))

    with pytest.raises(ProblemError) as refused:
        records.begin(scope, key, body_print({"name": "other"}))
    assert (refused.value.status, refused.value.kind) == (422, "idempotency-key-reused")
    # Another partner's same key is its own.
    assert isinstance(records.begin(f"Q{uuid.uuid4().hex}", key, body_print({"name": "other"})), Reservation)


def test_a_key_in_use_is_409_until_its_attempt_stops_then_a_retry_resumes_its_work(
    router: StorageRouter,
) -> None:
    clock = MovableClock(START)
    records = store(router, clock)
    scope, key, request = f"P{uuid.uuid4().hex}", str(uuid.uuid4()), body_print({"name": "x"})
    first = records.begin(scope, key, request)
    assert isinstance(first, Reservation)

    with pytest.raises(ProblemError) as busy:
        records.begin(scope, key, request)
    assert (busy.value.status, busy.value.kind) == (409, "idempotency-key-in-use")
    assert int(busy.value.headers["Retry-After"]) >= 1

    clock.moment += timedelta(minutes=5)  # the first attempt's instance died: its lease ran out
    second = records.begin(scope, key, request)
    assert isinstance(second, Reservation) and second.resumed and second.work_id == first.work_id
    records.complete(first, created("late"))  # the dead attempt's late write does not win
    records.complete(second, created("kept"))
    assert records.begin(scope, key, request) == created("kept")


def test_a_failure_of_ours_frees_the_key_for_a_retry_at_once(router: StorageRouter) -> None:
    clock = MovableClock(START)
    records = store(router, clock)
    scope, key, request = f"P{uuid.uuid4().hex}", str(uuid.uuid4()), body_print({"name": "y"})
    first = records.begin(scope, key, request)
    assert isinstance(first, Reservation)
    records.complete(first, Answer(503, "{}", "application/problem+json"))
    retry = records.begin(scope, key, request)
    assert isinstance(retry, Reservation) and retry.work_id == first.work_id


def test_an_operator_key_is_found_in_whichever_region_kept_it(router: StorageRouter) -> None:
    clock = MovableClock(START)
    key = str(uuid.uuid4())
    in_us = IdempotencyStore([router.region("us"), router.region("eu")], clock, CIPHER)
    first = in_us.begin("operator", key, body_print({"region": "us"}))
    assert isinstance(first, Reservation) and first.account.label == "us"
    in_us.complete(first, created("us"))
    from_eu = IdempotencyStore([router.region("eu"), router.region("us")], clock, CIPHER)
    with pytest.raises(ProblemError) as refused:
        from_eu.begin("operator", key, body_print({"region": "eu"}))
    assert refused.value.status == 422


def sweep(router: StorageRouter, at: datetime) -> dict[str, int]:
    rule = next(r for r in deps.retention_registry().rules() if r.name == IdempotencyRecords.name)
    report = RetentionSweeper(RetentionRegistry([rule]), router, MovableClock(at), budget_seconds=60).sweep(
        "eu"
    )
    assert report.complete
    return dict(report.per_rule)


def test_records_go_24_hours_after_the_request(router: StorageRouter) -> None:
    clock = MovableClock(START)
    records = store(router, clock)
    scope, key, request = f"P{uuid.uuid4().hex}", str(uuid.uuid4()), body_print({"name": "z"})
    first = records.begin(scope, key, request)
    assert isinstance(first, Reservation)
    records.complete(first, created("secret"))
    table = router.region("eu").table(TABLE)

    assert sweep(router, START + timedelta(hours=23)) == {}
    assert tables.get(table, scope, first.row_key) is not None
    assert sweep(router, START + timedelta(hours=25))[IdempotencyRecords.name] >= 1
    assert tables.get(table, scope, first.row_key) is None
    assert sweep(router, START + timedelta(hours=26)) == {}
    # Past its day the key is free: the same key starts new work.
    clock.moment = START + timedelta(hours=30)
    assert isinstance(records.begin(scope, key, body_print({"name": "new"})), Reservation)


class CrashAfterRegister(PartnerDirectory):
    """Fault injection: the instance dies right after the directory row is written."""

    def register(self, partner_id: str, region: str) -> None:
        super().register(partner_id, region)
        raise SystemExit("killed")


def partner_in() -> PartnerIn:
    return PartnerIn.model_validate(
        {
            "displayName": "Half IT",
            "region": "eu",
            "entraTenantId": str(uuid.uuid4()),
            "contact": {"name": "Ana Li", "email": "ana@half.example"},
            "subscription": {"plan": "standard", "tenantLimit": 5, "billingCycle": "monthly"},
            "owner": {"objectId": str(uuid.uuid4()), "email": "owner@half.example"},
        }
    )


def test_a_partner_is_whole_or_invisible_and_a_retry_finishes_it(router: StorageRouter) -> None:
    clock = MovableClock(START)
    request, partner_id = partner_in(), new_id()
    crashing = PartnerService(router, CrashAfterRegister(router), clock, pepper_ring(PEPPER))
    with pytest.raises(SystemExit):
        crashing.create(request, OPERATOR, partner_id=partner_id)

    service = PartnerService(router, PartnerDirectory(router), clock, pepper_ring(PEPPER))
    with pytest.raises(ProblemError) as missing:
        service.get(partner_id)
    assert missing.value.status == 404
    listed = tables.query(router.region("eu").table("partners"), tables.eq("RowKey", "partner"))
    assert partner_id not in {str(row["PartitionKey"]) for row in listed}

    done = service.create(request, OPERATOR, partner_id=partner_id)  # the retry, same work id
    assert done.id == partner_id and service.get(partner_id).display_name == "Half IT"
    people, _ = AccessService(router.region("eu"), partner_id, clock, pepper_ring(PEPPER)).list_personnel(
        10, None, TenantReach()
    )
    assert [p.role for p in people] == ["owner"]
    assert service.create(request, OPERATOR, partner_id=partner_id).id == partner_id  # after commit

"""Data-return packages: they round-trip, resume after a crash, stay the partner's own, anonymise and end."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from functions import deps
from localdev.partner_seed import Seeded, seed_partner
from shared.audit.log import AuditLog
from shared.errors import ProblemError
from shared.partners.directory import PartnerDirectory
from shared.partners.models import PartnerIn
from shared.partners.service import Partner, PartnerService
from shared.partners.subscription import SubscriptionState, TerminationChoice
from shared.privacy.data_return import CONTAINER, DataReturnOut, DataReturns, JobState
from shared.privacy.retention import RetentionRegistry, RetentionSweeper
from shared.storage import tablequery, tables
from shared.storage.router import StorageRouter
from tests.clocks import MovableClock
from tests.integration.rigs import ACTION, OPERATOR, PEPPER

DAY = timedelta(days=1)


class CrashError(Exception):
    pass


@pytest.fixture(scope="module")
def router(private_router: StorageRouter) -> StorageRouter:
    return private_router


@pytest.fixture(scope="module")
def clock() -> MovableClock:
    return MovableClock(datetime.now(UTC))


@pytest.fixture(scope="module")
def partners(router: StorageRouter, clock: MovableClock) -> PartnerService:
    return PartnerService(router, PartnerDirectory(router), clock, PEPPER)


def new_partner(partners: PartnerService, name: str) -> Partner:
    body = {
        "displayName": name,
        "region": "eu",
        "entraTenantId": str(uuid.uuid4()),
        "contact": {"name": "Ana Li", "email": f"ana@{name.lower()}.example"},
        "subscription": {"plan": "standard", "tenantLimit": 50, "billingCycle": "monthly"},
    }
    return partners.get(partners.create(PartnerIn.model_validate(body), OPERATOR).id)


def returns(
    router: StorageRouter, clock: MovableClock, partners: PartnerService, **options: Any
) -> DataReturns:
    # No queue: each test runs the job itself, as the worker would.
    return DataReturns(router, clock, partners, dispatch=lambda region, message: None, **options)


def seeded(router: StorageRouter, clock: MovableClock, partner: Partner, **counts: int) -> Seeded:
    sizes = {"tenants": 2, "users": 30, "orgs": 2, "devices": 25, **counts}
    return seed_partner(router.region("eu"), clock, partner.id, **sizes)


def download(url: str) -> bytes:
    response = httpx.get(url)
    assert response.status_code == 200, response.text
    return response.content


def package(status: DataReturnOut) -> dict[str, list[dict[str, Any]]]:
    """Every file of a finished package, fetched through its signed links and checked against the manifest."""
    assert status.state is JobState.SUCCEEDED and status.percent_done == 100
    assert status.manifest_url is not None
    manifest = json.loads(download(status.manifest_url))
    files: dict[str, list[dict[str, Any]]] = {}
    for entry in manifest["files"]:
        data = download(status.file_urls[entry["file"]])
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert len(data) == entry["bytes"]
        rows = [json.loads(line) for line in data.splitlines() if line]
        assert len(rows) == entry["rows"]
        files[entry["category"]] = rows
    return files


def stored(router: StorageRouter, table: str, filter_text: str) -> dict[tuple[str, str], dict[str, Any]]:
    rows = tablequery.query(router.region("eu").table(table), filter_text)
    return {(r["PartitionKey"], r["RowKey"]): {k: v for k, v in r.items() if k != "odata.etag"} for r in rows}


def rebuilt(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    keyed = {(r["PartitionKey"], r["RowKey"]): r for r in rows}
    assert len(keyed) == len(rows), "a row is in the package twice"
    return keyed


def stored_events(router: StorageRouter, clock: MovableClock, partner_id: str) -> dict[tuple[str, str], Any]:
    found: dict[tuple[str, str], Any] = {}
    for bucket in AuditLog(router.region("eu"), clock).bucket_names():
        found.update(stored(router, bucket, tables.partition(partner_id)))
    return found


def test_the_package_round_trips_tenants_orgs_and_events(
    router: StorageRouter, clock: MovableClock, partners: PartnerService
) -> None:
    partner = new_partner(partners, "Roundtrip")
    other = new_partner(partners, "Neighbour")
    seeded(router, clock, partner)
    theirs = seeded(router, clock, other, tenants=1, users=5, orgs=1, devices=3)
    service = returns(router, clock, partners, page_rows=20)
    started = service.start(partner, TerminationChoice.RETURN, ACTION)
    assert started.state is JobState.QUEUED and started.percent_done == 0

    service.run(partner.id, started.id)
    files = package(service.get(partner, started.id))

    assert rebuilt(files["tenants"]) == stored(router, "tenants", tables.partition(partner.id))
    assert rebuilt(files["orgs"]) == {
        key: {k: v for k, v in row.items() if k != "webhookKeyHash"}
        for key, row in stored(router, "orgs", tables.partition(partner.id)).items()
    }
    assert rebuilt(files["events"]) == stored_events(router, clock, partner.id)
    users = stored(router, "tenantusers", tables.prefix("PartitionKey", partner.id))
    assert rebuilt(files["tenantusers"]) == users and len(users) == 60
    assert len(files["devices"]) == 50
    assert all("target" not in row and "secretHash" not in row for row in files["devices"])
    # Nothing of the other partner: none of its tenants, orgs or users.
    text = json.dumps(files)
    assert not any(marker in text for marker in [*theirs.tenants, *theirs.orgs, *theirs.upns])


def test_a_package_resumes_after_a_crash_without_repeating_rows(
    router: StorageRouter, clock: MovableClock, partners: PartnerService
) -> None:
    partner = new_partner(partners, "Crashing")
    seeded(router, clock, partner, tenants=2, users=45, orgs=1, devices=30)
    staged = {"n": 0}

    def crash_mid_category(step: str, category: str) -> None:
        # Dies after staging the third block of users and before saving it: the retry stages it again.
        if step == "staged" and category == "tenantusers":
            staged["n"] += 1
            if staged["n"] == 3:
                raise CrashError

    service = returns(router, clock, partners, page_rows=20, hook=crash_mid_category)
    started = service.start(partner, TerminationChoice.RETURN, ACTION)
    with pytest.raises(CrashError):
        service.run(partner.id, started.id)
    halfway = service.get(partner, started.id)
    assert halfway.state is JobState.RUNNING and 0 < halfway.percent_done < 100
    assert {f.category for f in halfway.files} >= {"partners", "tenants"}

    returns(router, clock, partners, page_rows=20).run(partner.id, started.id)
    files = package(service.get(partner, started.id))
    assert rebuilt(files["tenantusers"]) == stored(
        router, "tenantusers", tables.prefix("PartitionKey", partner.id)
    )
    assert len(files["tenantusers"]) == 90


def test_another_partner_cannot_read_the_package(
    router: StorageRouter, clock: MovableClock, partners: PartnerService
) -> None:
    owner = new_partner(partners, "Owner")
    stranger = new_partner(partners, "Stranger")
    service = returns(router, clock, partners)
    started = service.start(owner, TerminationChoice.RETURN, ACTION)
    with pytest.raises(ProblemError) as refused:
        service.get(stranger, started.id)
    assert refused.value.status == 404


def test_anonymise_leaves_no_clear_upn_or_email(
    router: StorageRouter, clock: MovableClock, partners: PartnerService
) -> None:
    partner = new_partner(partners, "Anonymous")
    seed = seeded(router, clock, partner, tenants=2, users=15, orgs=1, devices=5)
    service = returns(router, clock, partners, page_rows=50)
    partner = service.unsubscribe(partner, TerminationChoice.ANONYMISE, ACTION)
    assert partner.subscription.termination_choice is TerminationChoice.ANONYMISE
    job = partner.subscription.data_return_id
    assert job is not None

    service.run(partner.id, job)
    status = service.get(partner, job)
    files = package(status)
    text = json.dumps(files)
    assert "@" in text  # pseudonymous addresses are still addresses...
    assert "fabrikam" not in text and "contoso" not in text and "ana@" not in text  # ...of nobody
    assert not any(upn in text for upn in seed.upns)
    assert not any(tenant in text for tenant in seed.tenants)
    assert len(files["tenantusers"]) == 30  # every user is still counted
    # The key that made the pseudonyms is gone with the job.
    state = router.region("eu").container(CONTAINER).download_blob(f"{partner.id}/{job}/job.json").readall()
    assert "key" not in json.loads(state)


def test_the_choice_is_recorded_and_delete_is_the_default(
    router: StorageRouter, clock: MovableClock, partners: PartnerService
) -> None:
    partner = new_partner(partners, "Leaving")
    service = returns(router, clock, partners)
    ended = service.unsubscribe(partner, TerminationChoice.DELETE, ACTION)
    assert ended.subscription.termination_choice is TerminationChoice.DELETE
    assert ended.subscription.data_return_id is None
    again = partners.get(partner.id)
    assert again.subscription.termination_choice is TerminationChoice.DELETE
    assert again.subscription.deletion_schedule is not None
    assert again.subscription.state is not SubscriptionState.TERMINATED  # until the cycle ends
    with pytest.raises(ProblemError) as refused:
        service.unsubscribe(again, TerminationChoice.RETURN, ACTION)
    assert refused.value.status == 409


def test_packages_go_30_days_after_they_were_written(router: StorageRouter) -> None:
    account = router.region("eu")
    name = f"{uuid.uuid4().hex}/job/manifest.json"
    account.container(CONTAINER).upload_blob(name, b"{}")
    written = datetime.now(UTC)
    rule = next(r for r in deps.retention_registry().rules() if r.name == "partnerexports.age")

    def sweep(at: datetime) -> int:
        registry = RetentionRegistry([rule])
        gone = 0
        for _ in range(50):
            report = RetentionSweeper(registry, router, MovableClock(at), budget_seconds=60).sweep("eu")
            gone += report.per_rule.get(rule.name, 0)
            if report.complete:
                return gone
        raise AssertionError("the sweep never completed")

    def names() -> list[str]:
        return [b.name for b in account.container(CONTAINER).list_blobs(name_starts_with=name)]

    assert sweep(written + timedelta(days=30) - DAY) == 0
    assert names() == [name]
    assert sweep(written + timedelta(days=30) + DAY) >= 1
    assert names() == []
    assert sweep(written + timedelta(days=30) + 2 * DAY) == 0

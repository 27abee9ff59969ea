"""Data-return packages: they round-trip (rows, delivery outcomes and blobs), resume after a crash
(mid-blob too), stay the partner's own, anonymise and end."""

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
from shared.adapters.fcm import FcmSender
from shared.audit.log import AuditLog
from shared.errors import ProblemError
from shared.keys import pepper_ring
from shared.partners.directory import PartnerDirectory
from shared.partners.models import PartnerIn
from shared.partners.service import Partner, PartnerService
from shared.partners.subscription import SubscriptionState, TerminationChoice
from shared.privacy.data_return import CONTAINER, DataReturnOut, DataReturns, JobState
from shared.privacy.retention import RetentionRegistry, RetentionSweeper
from shared.privacy.subjects import EXPORTS, SubjectScope, export_blob_name
from shared.storage import tablequery, tables
from shared.storage.router import AccountStorage, StorageRouter
from shared.tenants.snapshots import SNAPSHOTS, erase_from_snapshots
from tests.clocks import MovableClock
from tests.integration import fanout_rig
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
    return PartnerService(router, PartnerDirectory(router), clock, pepper_ring(PEPPER))


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


def push(account: AccountStorage, sender: FcmSender, org: str, devices: int, notifications: int) -> list[str]:
    """Notifications sent to an org's devices through registration, the webhook's accept and the
    fan-out (Firebase stand-in): each leaves its delivery outcomes."""
    clock = fanout_rig.MovableClock()
    fanout_rig.register(account, clock, org, [f"return-{uuid.uuid4().hex}" for _ in range(devices)])
    fanout = fanout_rig.make_fanout(account, clock, sender)
    sent = []
    for _ in range(notifications):
        notification_id = fanout_rig.notify(account, clock, org)
        fanout.handle(fanout_rig.job(org, notification_id))
        fanout.handle(fanout_rig.job(org, notification_id, shard=0))
        assert len(fanout_rig.rows(account, notification_id)) == devices
        sent.append(notification_id)
    return sent


def blob(account: AccountStorage, container: str, name: str) -> tuple[bytes, dict[str, str]]:
    downloaded = account.container(container).download_blob(name)
    return downloaded.readall(), dict(downloaded.properties.metadata or {})


def blobs_as_stored(account: AccountStorage, container: str, lines: list[dict[str, Any]]) -> None:
    """Each blob line holds the blob as stored: content, metadata, and its own size and checksum."""
    for line in lines:
        content = line["content"].encode()
        assert hashlib.sha256(content).hexdigest() == line["sha256"] and len(content) == line["bytes"]
        assert (content, line["metadata"]) == blob(account, container, line["name"])


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


def test_delivery_outcomes_and_blobs_are_returned_and_only_the_partners(
    router: StorageRouter, clock: MovableClock, partners: PartnerService, sender: FcmSender
) -> None:
    partner = new_partner(partners, "Deliveries")
    other = new_partner(partners, "Elsewhere")
    mine = seeded(router, clock, partner, tenants=2, users=4, orgs=1, devices=0, snapshots=2)
    theirs = seeded(router, clock, other, tenants=1, users=3, orgs=1, devices=0, snapshots=1)
    account = router.region("eu")
    sent = push(account, sender, mine.orgs[0], devices=3, notifications=3)
    not_mine = push(account, sender, theirs.orgs[0], devices=2, notifications=1)
    # A subject's access package, larger than a chunk (copied in several) and not all ASCII.
    export = export_blob_name(SubjectScope(partner.id, "eu", tenant_id=mine.tenants[0]), "req-1")
    words = " ".join(f"Zoë Ångström 🙂 {n}" for n in range(200))
    account.container(EXPORTS).upload_blob(export, json.dumps({"name": words}, ensure_ascii=False).encode())
    their_export = export_blob_name(SubjectScope(other.id, "eu", tenant_id=theirs.tenants[0]), "req-2")
    account.container(EXPORTS).upload_blob(their_export, b'{"name": "Olga Other"}')

    # Pages of 4 rows cross from one notification's outcomes to the next.
    service = returns(router, clock, partners, page_rows=4, blob_chunk=1000)
    started = service.start(partner, TerminationChoice.RETURN, ACTION)
    service.run(partner.id, started.id)
    files = package(service.get(partner, started.id))

    outcomes: dict[tuple[str, str], dict[str, Any]] = {}
    for notification_id in sent:
        outcomes.update(stored(router, "notifydeliveries", tables.partition(notification_id)))
    assert rebuilt(files["notifydeliveries"]) == outcomes
    assert {key[0] for key in outcomes} == set(sent) and len([k for k in outcomes if k[1][0] != "~"]) == 9
    assert sorted(line["name"] for line in files["tenantsnapshots"]) == sorted(mine.snapshots)
    blobs_as_stored(account, SNAPSHOTS, files["tenantsnapshots"])
    assert [line["name"] for line in files["privacyexports"]] == [export]
    blobs_as_stored(account, EXPORTS, files["privacyexports"])
    # Nothing of the other partner: no notification, snapshot, export or user of theirs.
    text = json.dumps(files)
    assert not any(m in text for m in [*not_mine, *theirs.snapshots, *theirs.upns, *theirs.user_ids])
    assert "Olga" not in text


def test_a_package_resumes_mid_blob_without_repeating_content(
    router: StorageRouter, clock: MovableClock, partners: PartnerService
) -> None:
    partner = new_partner(partners, "Blobcrash")
    seed = seeded(router, clock, partner, tenants=2, users=3, orgs=1, devices=2, snapshots=2)
    account = router.region("eu")
    staged = {"n": 0}

    def crash_mid_blob(step: str, category: str) -> None:
        if step == "staged" and category == "tenantsnapshots":
            staged["n"] += 1
            if staged["n"] == 3:
                raise CrashError

    # Snapshots of ~1.3 KB in chunks of 400 bytes: each one spans blocks.
    service = returns(router, clock, partners, blob_chunk=400, hook=crash_mid_blob)
    started = service.start(partner, TerminationChoice.RETURN, ACTION)
    with pytest.raises(CrashError):
        service.run(partner.id, started.id)
    state = json.loads(
        account.container(CONTAINER).download_blob(f"{partner.id}/{started.id}/job.json").readall()
    )
    assert state["categories"][state["index"]] == "tenantsnapshots" and state["position"]["offset"] > 0

    returns(router, clock, partners, blob_chunk=400).run(partner.id, started.id)
    files = package(service.get(partner, started.id))
    assert sorted(line["name"] for line in files["tenantsnapshots"]) == sorted(seed.snapshots)
    blobs_as_stored(account, SNAPSHOTS, files["tenantsnapshots"])


def test_a_snapshot_rewritten_while_copied_is_copied_again_as_it_now_is(
    router: StorageRouter, clock: MovableClock, partners: PartnerService
) -> None:
    partner = new_partner(partners, "Rewritten")
    seed = seeded(router, clock, partner, tenants=1, users=3, orgs=0, devices=0, snapshots=1)
    account = router.region("eu")
    holder = seed.user_ids[0]
    pages = {"n": 0}

    def erase_mid_blob(step: str, category: str) -> None:
        # After the first chunk of the snapshot is saved, the role holder's erasure rewrites it.
        if step == "page" and category == "tenantsnapshots":
            pages["n"] += 1
            if pages["n"] == 1:
                assert erase_from_snapshots(account, partner.id, seed.tenants[0], {holder}) == 1

    service = returns(router, clock, partners, blob_chunk=400, hook=erase_mid_blob)
    started = service.start(partner, TerminationChoice.RETURN, ACTION)
    service.run(partner.id, started.id)
    files = package(service.get(partner, started.id))
    assert [line["name"] for line in files["tenantsnapshots"]] == seed.snapshots
    blobs_as_stored(account, SNAPSHOTS, files["tenantsnapshots"])
    assert holder not in files["tenantsnapshots"][0]["content"]


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
    seed = seeded(
        router, clock, partner, tenants=2, users=15, orgs=1, devices=5, notifications=2, snapshots=2
    )
    export = export_blob_name(SubjectScope(partner.id, "eu", tenant_id=seed.tenants[0]), "req-anon")
    router.region("eu").container(EXPORTS).upload_blob(export, json.dumps({"upn": seed.upns[0]}).encode())
    # Chunks of 128 bytes: an address or id cut in two by a chunk would stay partly in clear.
    service = returns(router, clock, partners, page_rows=50, blob_chunk=128)
    partner = service.unsubscribe(partner, TerminationChoice.ANONYMISE, ACTION)
    assert partner.subscription.termination_choice is TerminationChoice.ANONYMISE
    job = partner.subscription.data_return_id
    assert job is not None

    service.run(partner.id, job)
    status = service.get(partner, job)
    files = package(status)
    text = json.dumps(files)
    # A snapshot keeps the customer's domains (a company's, naming no one); rows name no one at all.
    rows = json.dumps({category: lines for category, lines in files.items() if category != "tenantsnapshots"})
    assert "@" in text  # pseudonymous addresses are still addresses...
    assert "fabrikam" not in rows and "contoso" not in text and "ana@" not in text  # ...of nobody
    assert not any(upn in text for upn in seed.upns)
    assert not any(tenant in text for tenant in seed.tenants)
    assert len(files["tenantusers"]) == 30  # every user is still counted
    assert not any(user in text for user in seed.user_ids)
    snapshots = files["tenantsnapshots"]
    assert len(snapshots) == 4 and all("@anonymised.invalid" in line["content"] for line in snapshots)
    for line in snapshots:  # still documents, checked as the manifest says
        assert json.loads(line["content"])["configuration"]["roleAssignments"]
        assert hashlib.sha256(line["content"].encode()).hexdigest() == line["sha256"]
    assert len(files["notifydeliveries"]) == 2 * 5
    # A subject's access package names its subject through and through: left out, and said so.
    assert "privacyexports" not in files
    assert "privacyexports" in json.loads(download(str(status.manifest_url)))["leftOut"]
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

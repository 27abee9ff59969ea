"""Privacy endpoints through the local host, and the catalogue's promise about storage."""

from __future__ import annotations

from shared.settings import DEFAULT_SUBPROCESSORS
from shared.storage.catalogue import CATALOGUE, StorageKind, UndeclaredStorageError, declared
from tests.e2e.actors import OPERATOR, make_partner
from tests.stack import STACK_ENV
from tests.web import web

# A sweep reads every partition of every table of the stack (a preview included): more than
# httpx's 5 s default once the suite has filled it.
SWEEP = 60.0


def test_the_record_of_processing_lists_every_catalogue_entry(api: str) -> None:
    response = web.get(f"{api}/api/privacy/processing-activities")
    assert response.status_code == 200
    record = response.json()
    stores = {a["store"]: a for a in record["activities"]}
    for entry in CATALOGUE:
        activity = stores[entry.name + ("<yyyymm>" if entry.bucketed else "")]
        assert activity["retention"] == entry.retention
        assert activity["legalBasis"] == entry.legal_basis
        assert activity["categories"] == list(entry.categories)
        assert activity["dataSubjects"]
    assert stores["personnel"]["role"] == "controller"
    assert record["catalogueVersion"] and record["securityMeasures"]


def test_subprocessors_are_listed_per_configured_region(api: str) -> None:
    response = web.get(f"{api}/api/privacy/subprocessors")
    assert response.status_code == 200
    items = response.json()["items"]
    assert [i["region"] for i in items] == STACK_ENV["TENANTRY_REGIONS"].split(",")
    for region in items:
        assert {s["name"] for s in region["subprocessors"]} == {s.name for s in DEFAULT_SUBPROCESSORS}


def test_the_operator_previews_a_sweep_and_partners_cannot(api: str) -> None:
    partner = make_partner(api)
    response = web.post(f"{api}/api/privacy/sweeps?dryRun=true", headers=OPERATOR, timeout=SWEEP)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert {i["region"] for i in items} == {"eu", "us"}
    assert all(i["dryRun"] and i["complete"] for i in items)
    # Nothing made today is due, so a preview lists nothing of the partner.
    assert not any(partner.id in sample for i in items for sample in i["samples"])
    one = web.post(f"{api}/api/privacy/sweeps?dryRun=true&region=us", headers=OPERATOR, timeout=SWEEP).json()
    assert [i["region"] for i in one["items"]] == ["us"]
    assert web.post(f"{api}/api/privacy/sweeps?dryRun=true", headers=partner.as_key).status_code == 401


def test_a_partner_chooses_10_years_for_administration_records(api: str) -> None:
    partner = make_partner(api)
    url = f"{partner.url}/privacy/settings"
    assert web.get(url, headers=partner.as_key).json()["administrationRetentionYears"] == 7
    changed = web.put(url, headers=partner.as_key, json={"administrationRetentionYears": 10})
    assert changed.status_code == 200, changed.text
    assert web.get(url, headers=partner.bearer()).json()["administrationRetentionYears"] == 10
    bad = web.put(url, headers=partner.as_key, json={"administrationRetentionYears": 8})
    assert bad.status_code == 422
    events = web.get(f"{partner.url}/events?action=privacy.settings.changed", headers=partner.as_key)
    assert events.json()["items"][0]["changes"]["administrationRetentionYears"] == {"before": 7, "after": 10}


# Names the Functions host (and the local host standing in for it) owns, never app data.
HOST_OWNED_CONTAINERS = {"azure-webjobs-hosts", "azure-webjobs-secrets"}
# Written by tests/e2e/sample_app (the local host's own test app, not Tenantry) into
# AzureWebJobsStorage when tests/e2e/test_local_host.py runs in the same session.
# (Its queues are all named `sample-...`: one per test that holds the host's workers.)
SAMPLE_APP = {(StorageKind.TABLE, "samplerecords")}


def _undeclared(kind: StorageKind, name: str) -> bool:
    if kind is StorageKind.QUEUE and name.endswith("-poison"):
        name = name[: -len("-poison")]
    if (kind, name) in SAMPLE_APP or (kind is StorageKind.QUEUE and name.startswith("sample-")):
        return False
    try:
        declared(kind, name)
    except UndeclaredStorageError:
        return True
    return False


def test_nothing_is_stored_that_the_catalogue_does_not_declare(api: str) -> None:
    """Walks every table, container and queue of every account after the scenarios above ran."""
    from functions import deps

    partner = make_partner(api, "us")
    web.put(
        f"{partner.url}/privacy/settings", headers=partner.as_key, json={"administrationRetentionYears": 10}
    )
    web.post(f"{api}/api/privacy/sweeps?dryRun=true", headers=OPERATOR, timeout=SWEEP)
    found: list[str] = []
    for account in deps.storage().accounts():
        tables = [t.name for t in account.table_service().list_tables()]
        containers = [c.name for c in account.blob_service().list_containers()]
        queues = [q.name for q in account.queue_service().list_queues()]
        assert tables, f"{account.label}: expected the scenario to have written tables"
        found += [f"{account.label} table {n}" for n in tables if _undeclared(StorageKind.TABLE, n)]
        found += [
            f"{account.label} container {n}"
            for n in containers
            if n not in HOST_OWNED_CONTAINERS and _undeclared(StorageKind.CONTAINER, n)
        ]
        found += [f"{account.label} queue {n}" for n in queues if _undeclared(StorageKind.QUEUE, n)]
    assert found == [], f"written but not in shared/storage/catalogue.py: {found}"


def test_a_breach_is_seen_by_the_partners_it_affects_only(api: str) -> None:
    affected = make_partner(api)
    bystander = make_partner(api)
    body = {
        "region": "eu",
        "nature": "Export link sent to the wrong address",
        "dataCategories": ["end-user data"],
        "approxSubjects": 3,
        "approxRecords": 9,
        "contactPoint": {"name": "DPO", "email": "dpo@tenantry.example"},
        "likelyConsequences": "Names seen by one person.",
        "measures": "Link revoked.",
        "affectedPartners": [affected.id],
    }
    created = web.post(f"{api}/api/privacy/breaches", json=body, headers=OPERATOR)
    assert created.status_code == 201, created.text
    breach = created.json()
    assert created.headers["location"] == f"/api/privacy/breaches/{breach['id']}"
    assert breach["deadlineState"] == "open"
    seen = web.get(f"{affected.url}/privacy/breaches", headers=affected.as_key).json()["items"]
    assert [b["id"] for b in seen] == [breach["id"]] and "affectedPartners" not in seen[0]
    assert seen[0]["notifyBy"] == breach["notifyBy"]
    assert web.get(f"{bystander.url}/privacy/breaches", headers=bystander.as_key).json()["items"] == []
    events = web.get(f"{affected.url}/events?action=privacy.breach.recorded", headers=affected.as_key)
    assert events.json()["items"]
    told = web.post(f"{api}/api/privacy/breaches/{breach['id']}/partners-notified", headers=OPERATOR)
    assert told.json()["deadlineState"] == "met"
    wrong = {**body, "affectedPartners": [affected.id], "region": "us"}
    assert web.post(f"{api}/api/privacy/breaches", json=wrong, headers=OPERATOR).status_code == 422

"""Reports and end-user search through the running app: one tenant, across tenants, a scoped caller, CSV."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import httpx
import pytest

from localdev.graph_standin import StandinControl
from localdev.proving import grant_gdap
from localdev.stack import wait_until
from tests.e2e.actors import PartnerSetup, add_proven_tenant, connect_partner, make_partner

http = httpx.Client(timeout=60)
KINDS = ("mfaRegistration", "inactiveUsers", "licences", "privilegedRoles", "secureScore", "guests")


def synced(partner: PartnerSetup, tenant_id: str) -> None:
    def done() -> bool:
        tenant = http.get(f"{partner.url}/tenants/{tenant_id}", headers=partner.as_key).json()
        last = tenant.get("lastSync")
        return bool(last and last["state"] == "succeeded")

    wait_until(done, timeout=90, what="the tenant's sync to succeed")


def every_row(
    partner: PartnerSetup, path: str, headers: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    token = None
    while True:
        query = {"top": 9, **params, **({"continuationToken": token} if token else {})}
        page = http.get(f"{partner.url}/{path}", headers=headers, params=query)
        assert page.status_code == 200, page.text
        body = page.json()
        assert body["rowsRead"] <= 9 + len({r["tenantId"] for r in body["items"]})
        rows += body["items"]
        token = body["continuationToken"]
        if not token:
            return rows


@pytest.fixture(scope="module")
def world(api: str, control: StandinControl) -> dict[str, Any]:
    partner = make_partner(api, "eu")
    first = add_proven_tenant(partner, control, users=25)
    second = add_proven_tenant(partner, control, users=15)
    # A tenant without Entra ID P1: MFA registration and sign-in activity cannot be read there.
    connect_partner(partner, control)
    basic = str(uuid.uuid4())
    control.put_tenant(basic, 10, premium=False)
    grant_gdap(control, partner.entra_tenant_id, basic)
    created = http.post(
        f"{partner.url}/tenants", headers=partner.as_key, json={"tenantId": basic, "displayName": "B"}
    )
    assert created.status_code == 201, created.text
    for tenant in (first, second, basic):
        synced(partner, tenant)
    scoped = http.post(
        f"{partner.url}/api-keys",
        headers=partner.bearer(),
        json={"name": "first only", "scopes": ["read"], "tenantScope": {"tenantIds": [first]}},
    )
    assert scoped.status_code == 201, scoped.text
    return {
        "partner": partner,
        "tenants": (first, second, basic),
        "scoped": {"x-api-key": scoped.json()["key"]},
    }


def test_every_report_for_one_tenant_and_across_tenants(world: dict[str, Any]) -> None:
    partner: PartnerSetup = world["partner"]
    first, second, basic = world["tenants"]
    for kind in KINDS:
        across = every_row(partner, f"reports/{kind}", partner.as_key)
        mine = every_row(partner, f"tenants/{second}/reports/{kind}", partner.as_key)
        assert [r for r in across if r["tenantId"] == second] == mine, kind
        assert all(r["syncedAt"] and r["tenantSyncedAt"] and r["kind"] == kind for r in across), kind
        if kind != "guests":  # the generated tenants have no guests
            assert {r["tenantId"] for r in across} == {first, second, basic}, kind
    mfa = every_row(partner, "reports/mfaRegistration", partner.as_key)
    assert len([r for r in mfa if r["tenantId"] == first]) == 25
    assert [(r["status"], r["details"]["code"]) for r in mfa if r["tenantId"] == basic] == [
        ("licenceMissing", "Authentication_RequestFromNonPremiumTenantOrB2CTenant")
    ]
    missing = every_row(partner, "reports/inactiveUsers", partner.as_key, status="licenceMissing")
    assert [r["tenantId"] for r in missing] == [basic]
    other = http.get(f"{partner.url}/reports/guests", headers=partner.as_key, params={"status": "inactive"})
    assert other.status_code == 200 and other.json()["items"] == []
    bad = http.get(f"{partner.url}/reports/guests", headers=partner.as_key, params={"status": "sleepy"})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    unknown = http.get(f"{partner.url}/reports/everything", headers=partner.as_key)
    assert unknown.status_code == 404


def test_a_scoped_caller_sees_only_its_tenant_in_every_report_and_search(world: dict[str, Any]) -> None:
    partner: PartnerSetup = world["partner"]
    first, second, _ = world["tenants"]
    for kind in KINDS:
        rows = every_row(partner, f"reports/{kind}", world["scoped"])
        assert {r["tenantId"] for r in rows} <= {first}, kind
        other = http.get(f"{partner.url}/tenants/{second}/reports/{kind}", headers=world["scoped"])
        assert other.status_code == 404, kind
    theirs = every_row(partner, f"tenants/{second}/reports/mfaRegistration", partner.as_key)[0]
    prefix = theirs["userPrincipalName"]
    found = http.get(
        f"{partner.url}/end-users/search", headers=partner.as_key, params={"prefix": prefix}
    ).json()
    assert [(h["tenantId"], h["userId"]) for h in found["items"]] == [(second, theirs["userId"])]
    hidden = http.get(f"{partner.url}/end-users/search", headers=world["scoped"], params={"prefix": prefix})
    assert hidden.status_code == 200 and hidden.json()["items"] == []


def test_csv_export_pages_with_the_token_in_a_header(world: dict[str, Any]) -> None:
    partner: PartnerSetup = world["partner"]
    first = world["tenants"][0]
    response = http.get(
        f"{partner.url}/tenants/{first}/reports/mfaRegistration/export",
        headers=partner.as_key,
        params={"top": 10},
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(response.text)))
    assert len(lines) == 10 and {line["tenantId"] for line in lines} == {first}
    token = response.headers["x-continuation-token"]
    rest = http.get(
        f"{partner.url}/reports/mfaRegistration/export",
        headers=partner.as_key,
        params={"top": 1000, "tenantId": first, "continuationToken": token},
    )
    assert len(list(csv.DictReader(io.StringIO(rest.text)))) == 15
    assert "x-continuation-token" not in rest.headers

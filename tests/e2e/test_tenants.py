"""Tenants through the running app: onboarding, limit, scope, sync via the queue, management, removal."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from localdev.graph_standin import StandinControl
from localdev.proving import grant_gdap
from localdev.stack import wait_until
from tests.e2e.actors import OPERATOR, PartnerSetup, add_proven_tenant, connect_partner, make_partner

# Management calls load msgraph-sdk in the host on first use, which is slow on a busy machine.
http = httpx.Client(timeout=60)


@pytest.fixture(scope="module")
def partner(api: str) -> PartnerSetup:
    return make_partner(
        api, "eu", subscription={"plan": "standard", "tenantLimit": 4, "billingCycle": "monthly"}
    )


def synced(partner: PartnerSetup, tenant_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        tenant = http.get(f"{partner.url}/tenants/{tenant_id}", headers=partner.as_key).json()
        last = tenant.get("lastSync")
        return tenant if last and last["state"] in ("succeeded", "failed") else None

    return wait_until(done, timeout=60, what="the tenant's sync to finish")


def all_users(partner: PartnerSetup, tenant_id: str, **params: Any) -> list[dict[str, Any]]:
    users: list[dict[str, Any]] = []
    token = None
    while True:
        query = {"top": 7, **params, **({"continuationToken": token} if token else {})}
        page = http.get(f"{partner.url}/tenants/{tenant_id}/users", headers=partner.as_key, params=query)
        assert page.status_code == 200, page.text
        users.extend(page.json()["items"])
        token = page.json()["continuationToken"]
        if not token:
            return users


def test_onboarding_syncs_through_the_queue_and_users_are_listed(
    partner: PartnerSetup, control: StandinControl
) -> None:
    tenant_id = add_proven_tenant(partner, control, 30)
    tenant = synced(partner, tenant_id)
    assert tenant["lastSync"]["state"] == "succeeded" and tenant["counts"]["users"] == 30
    users = all_users(partner, tenant_id)
    assert len(users) == 30 and len({u["id"] for u in users}) == 30
    assert {"id", "displayName", "userPrincipalName", "accountEnabled", "assignedLicenses"} <= set(users[0])
    assert "credentialRef" not in str(tenant) and "secret" not in str(tenant).lower()

    # Changes in the tenant arrive with the next sync, started by hand: 202 and a status resource.
    removed = users[0]["id"]
    control.mutate(tenant_id, add=2, remove=[removed])
    started = http.post(f"{partner.url}/tenants/{tenant_id}/sync", headers=partner.as_key)
    assert started.status_code == 202, started.text
    location = started.headers["location"]
    assert location == f"/api/partners/{partner.id}/tenants/{tenant_id}/syncs/{started.json()['id']}"

    def finished() -> dict[str, Any] | None:
        status = http.get(f"{partner.api}{location}", headers=partner.as_key).json()
        return status if status["state"] in ("succeeded", "failed") else None

    status = wait_until(finished, timeout=60, what="the manual sync")
    assert status["state"] == "succeeded" and status["full"] is False
    assert status["counts"]["usersUpserted"] == 2 and status["counts"]["usersRemoved"] == 1
    ids = {u["id"] for u in all_users(partner, tenant_id)}
    assert len(ids) == 31 and removed not in ids
    disabled = all_users(partner, tenant_id, enabled="false")
    assert all(u["accountEnabled"] is False for u in disabled)


def test_a_failed_attempt_is_retried_by_the_queue(partner: PartnerSetup, control: StandinControl) -> None:
    connect_partner(partner, control)
    tenant_id = str(uuid.uuid4())
    control.put_tenant(tenant_id, 10)
    grant_gdap(control, partner.entra_tenant_id, tenant_id)
    # Not a status Graph's retry policy covers: the attempt fails, the queue delivers again.
    control.inject(
        "status", path="users/delta", count=1, tenant=tenant_id, status=500, code="InternalServerError"
    )
    created = http.post(
        f"{partner.url}/tenants", headers=partner.as_key, json={"tenantId": tenant_id, "displayName": "Retry"}
    )
    assert created.status_code == 201
    tenant = synced(partner, tenant_id)
    sync = http.get(
        f"{partner.url}/tenants/{tenant_id}/syncs/{tenant['lastSync']['id']}", headers=partner.as_key
    ).json()
    assert sync["state"] == "succeeded" and sync["attempts"] == 2 and sync["counts"]["users"] == 10
    http.delete(f"{partner.url}/tenants/{tenant_id}", headers=partner.as_key)


def test_limit_scope_management_and_removal(api: str, partner: PartnerSetup, control: StandinControl) -> None:
    tenant_id = add_proven_tenant(partner, control, 12)
    synced(partner, tenant_id)
    other = add_proven_tenant(partner, control, 5)
    assert (
        http.post(
            f"{partner.url}/tenants", headers=partner.as_key, json={"tenantId": other, "displayName": "x"}
        ).status_code
        == 409
    )

    # The limit (4) names itself.
    extra = [
        add_proven_tenant(partner, control, 3)
        for _ in range(4 - len(http.get(f"{partner.url}/tenants", headers=partner.as_key).json()["items"]))
    ]
    refused = http.post(
        f"{partner.url}/tenants",
        headers=partner.as_key,
        json={"tenantId": str(uuid.uuid4()), "displayName": "x"},
    )
    assert refused.status_code == 409 and refused.headers["content-type"].startswith(
        "application/problem+json"
    )
    assert refused.json()["tenantLimit"] == 4 and "tenantLimit" in refused.json()["detail"]

    # A key limited to one tenant sees only that one.
    scoped = http.post(
        f"{partner.url}/api-keys",
        headers=OPERATOR,
        json={"name": "one", "scopes": ["read", "write"], "tenantScope": {"tenantIds": [tenant_id]}},
    ).json()["key"]
    listed = http.get(f"{partner.url}/tenants", headers={"x-api-key": scoped}).json()["items"]
    assert [t["id"] for t in listed] == [tenant_id]
    assert http.get(f"{partner.url}/tenants/{other}", headers={"x-api-key": scoped}).status_code == 404
    assert http.get(f"{partner.url}/tenants/{other}/users", headers={"x-api-key": scoped}).status_code == 404
    assert http.delete(f"{partner.url}/tenants/{other}", headers={"x-api-key": scoped}).status_code == 404

    # Management: a change through Graph is reflected in the stored copy at once, and audited.
    user = all_users(partner, tenant_id)[0]
    url = f"{partner.url}/tenants/{tenant_id}/users/{user['id']}"
    patched = http.patch(url, headers=partner.as_key, json={"accountEnabled": not user["accountEnabled"]})
    assert patched.status_code == 200, patched.text
    assert patched.json()["accountEnabled"] is (not user["accountEnabled"])
    assert http.get(url, headers=partner.as_key).json()["accountEnabled"] is (not user["accountEnabled"])
    events = http.get(
        f"{partner.url}/events", headers=partner.as_key, params={"action": "tenant.user.updated"}
    ).json()["items"]
    assert events[0]["changes"]["accountEnabled"] == {
        "before": user["accountEnabled"],
        "after": not user["accountEnabled"],
    }

    # Graph's refusal is a clear problem, not a 500.
    control.inject(
        "status",
        path="users/",
        method="PATCH",
        tenant=tenant_id,
        status=403,
        code="Authorization_RequestDenied",
        message="Insufficient privileges to complete the operation.",
    )
    denied = http.patch(url, headers=partner.as_key, json={"displayName": "X"})
    assert denied.status_code == 403 and denied.json()["type"].endswith("/graph-insufficient-privileges")

    # Group membership.
    groups = http.get(f"{partner.url}/tenants/{tenant_id}/groups", headers=partner.as_key).json()["items"]
    group = min(groups, key=lambda g: g["memberCount"])
    members_url = f"{partner.url}/tenants/{tenant_id}/groups/{group['id']}/members"
    current = set(
        http.get(f"{partner.url}/tenants/{tenant_id}/groups/{group['id']}", headers=partner.as_key).json()[
            "members"
        ]
    )
    candidate = all_users(partner, tenant_id)[-1]["id"]
    group_url = f"{partner.url}/tenants/{tenant_id}/groups/{group['id']}"

    def remove() -> None:
        assert http.delete(f"{members_url}/{candidate}", headers=partner.as_key).status_code == 204
        assert candidate not in http.get(group_url, headers=partner.as_key).json()["members"]

    def add() -> None:
        added = http.post(members_url, headers=partner.as_key, json={"userId": candidate})
        assert added.status_code == 200, added.text
        assert candidate in added.json()["members"]
        assert candidate in http.get(group_url, headers=partner.as_key).json()["members"]

    for step in (remove, add) if candidate in current else (add, remove):
        step()

    # Security defaults and the baseline.
    sd = http.put(
        f"{partner.url}/tenants/{tenant_id}/security-defaults", headers=partner.as_key, json={"enabled": True}
    )
    assert sd.status_code == 200 and sd.json() == {"enabled": True}
    config = http.get(f"{partner.url}/tenants/{tenant_id}/configuration", headers=partner.as_key).json()
    assert config["configuration"]["securityDefaults"]["isEnabled"] is True
    baseline = http.get(f"{partner.url}/tenants/{tenant_id}/baseline", headers=partner.as_key).json()
    assert {c["id"] for c in baseline["checks"]} >= {
        "mfaEnforced",
        "globalAdminCount",
        "licencesOnDisabledAccounts",
    }
    across = http.get(f"{partner.url}/baseline", headers={"x-api-key": scoped}).json()["items"]
    assert [b["tenantId"] for b in across] == [tenant_id]

    # Removal: 204, then users 404; the audit trail stays.
    assert http.delete(f"{partner.url}/tenants/{tenant_id}", headers=partner.as_key).status_code == 204
    assert http.get(f"{partner.url}/tenants/{tenant_id}/users", headers=partner.as_key).status_code == 404
    assert http.get(url, headers=partner.as_key).status_code == 404
    actions = {
        e["action"]
        for e in http.get(f"{partner.url}/events", headers=partner.as_key, params={"top": 1000}).json()[
            "items"
        ]
        if e["target"].get("id") == tenant_id
    }
    assert {"tenant.created", "tenant.deleted"} <= actions
    for tenant in [other, *extra]:
        http.delete(f"{partner.url}/tenants/{tenant}", headers=partner.as_key)

"""The tenant boundary through the running app and the Graph stand-in: a partner manages only what it proves.

Each test plays what a partner (and an attacker among partners) would really do: onboard a tenant
id read from a domain's OpenID configuration, forge the admin-consent redirect, replay a callback,
race another partner, and what happens when a GDAP relationship ends or a customer changes MSP.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import httpx
import pytest

from localdev.graph_standin import StandinControl
from localdev.proving import grant_gdap, sign_in_through_api
from localdev.stack import wait_until
from tests.e2e.actors import PartnerSetup, connect_partner, make_partner
from tests.stack import GRAPH

http = httpx.Client(timeout=60)


@pytest.fixture
def partner(api: str, control: StandinControl) -> PartnerSetup:
    made = make_partner(api, "eu")
    connect_partner(made, control)
    return made


def onboard(partner: PartnerSetup, tenant_id: str) -> httpx.Response:
    return http.post(
        f"{partner.url}/tenants",
        headers=partner.as_key,
        json={"tenantId": tenant_id, "displayName": "Fabrikam"},
    )


def tenant(partner: PartnerSetup, tenant_id: str) -> dict[str, Any]:
    answer = http.get(f"{partner.url}/tenants/{tenant_id}", headers=partner.as_key)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def last_sync(partner: PartnerSetup, tenant_id: str, after: str | None = None) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        last = tenant(partner, tenant_id).get("lastSync")
        if last and last["id"] != after and last["state"] in ("succeeded", "failed"):
            return dict(last)
        return None

    return wait_until(done, timeout=60, what="the tenant's sync to finish")


def sync_now(partner: PartnerSetup, tenant_id: str) -> dict[str, Any]:
    before = (tenant(partner, tenant_id).get("lastSync") or {}).get("id")
    started = http.post(f"{partner.url}/tenants/{tenant_id}/sync", headers=partner.as_key)
    assert started.status_code == 202, started.text
    finished = last_sync(partner, tenant_id, before)
    sync = http.get(f"{partner.url}/tenants/{tenant_id}/syncs/{finished['id']}", headers=partner.as_key)
    return dict(sync.json())


def events(partner: PartnerSetup, action: str) -> list[dict[str, Any]]:
    answer = http.get(f"{partner.url}/events", headers=partner.as_key, params={"action": action})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def consent_link(partner: PartnerSetup, tenant_id: str) -> str:
    answer = http.post(f"{partner.url}/tenants/{tenant_id}/consent-link", headers=partner.as_key)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["url"])


def test_a_tenant_id_alone_proves_nothing(partner: PartnerSetup, control: StandinControl) -> None:
    # A real customer whose admin consented to Tenantry's app, but for another MSP: this partner
    # has no relationship with it. Today's tenant id is public; typing it must get nothing.
    stranger = str(uuid.uuid4())
    control.put_tenant(stranger, 10)
    created = onboard(partner, stranger)
    assert created.status_code == 201, created.text
    assert created.json()["access"]["state"] == "pendingProof"
    assert "no GDAP relationship" in created.json()["access"]["reason"]

    for path in ("users", "groups", "configuration"):
        refused = http.get(f"{partner.url}/tenants/{stranger}/{path}", headers=partner.as_key)
        assert refused.status_code == 409 and refused.json()["type"].endswith("tenant-not-proven"), (
            refused.text
        )
    for method, path, body in (
        ("POST", "sync", None),
        ("PUT", "security-defaults", {"enabled": False}),
        ("PATCH", f"users/{uuid.uuid4()}", {"accountEnabled": False}),
    ):
        refused = http.request(
            method, f"{partner.url}/tenants/{stranger}/{path}", headers=partner.as_key, json=body
        )
        assert refused.status_code == 409, (path, refused.text)
    verify = http.post(f"{partner.url}/tenants/{stranger}/verify", headers=partner.as_key)
    assert verify.status_code == 409 and verify.json()["type"].endswith("relationship-not-found")
    # Nothing was ever asked of the customer's tenant in Graph.
    assert not [r for r in control.requests(stranger) if r["path"].startswith("users")]


def test_forged_replayed_and_foreign_callbacks_are_refused(
    api: str, partner: PartnerSetup, control: StandinControl
) -> None:
    customer = str(uuid.uuid4())
    control.put_tenant(customer, 5, consented=False)
    assert onboard(partner, customer).status_code == 201

    # The admin-consent redirect's query string can be typed by anyone.
    forged = http.get(
        f"{api}/api/admin-consent/callback",
        params={"tenant": customer, "admin_consent": "True", "state": "x"},
    )
    assert forged.status_code == 400 and forged.headers["content-type"].startswith("application/problem+json")

    # A user who is no administrator signs in: no proof.
    answer = sign_in_through_api(api, consent_link(partner, customer), control, customer, admin=False)
    assert answer.status_code == 403 and answer.json()["type"].endswith("not-an-administrator"), answer.text

    # An administrator of *another* tenant, on a link whose tenant was swapped in the address bar.
    other = str(uuid.uuid4())
    control.put_tenant(other, 5)
    parts = urlsplit(consent_link(partner, customer))
    swapped = urlunsplit(parts._replace(path=parts.path.replace(customer, other)))
    answer = sign_in_through_api(api, swapped, control, other)
    assert answer.status_code == 400 and "sign-in-invalid" in answer.json()["type"], answer.text

    # State of another partner with this partner's code: the PKCE verifier does not match.
    rival = make_partner(api, "eu")
    rival_state = parse_qs(urlsplit(consent_link_of_new_tenant(rival, control)).query)["state"][0]
    location = control.authorize(
        consent_link(partner, customer), control.admin_of(customer)["userPrincipalName"]
    )
    mine = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    crossed = http.get(f"{api}/api/admin-consent/callback", params={**mine, "state": rival_state})
    assert crossed.status_code == 400, crossed.text

    assert tenant(partner, customer)["access"]["state"] == "pendingProof"

    # The real thing: an administrator of the customer consents; the tenant is proven and syncs.
    location = control.authorize(
        consent_link(partner, customer), control.admin_of(customer)["userPrincipalName"]
    )
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    proven = http.get(f"{api}/api/admin-consent/callback", params=query)
    assert proven.status_code == 200, proven.text
    assert proven.json()["access"]["state"] == "proven" and proven.json()["access"]["via"] == "consent"
    # The same callback again (a replayed state and code) proves nothing more.
    replay = http.get(f"{api}/api/admin-consent/callback", params=query)
    assert replay.status_code == 400 and "already used" in replay.json()["detail"]

    assert last_sync(partner, customer)["state"] == "succeeded"
    users = http.get(f"{partner.url}/tenants/{customer}/users", headers=partner.as_key)
    assert users.status_code == 200
    assert len(users.json()["items"]) == control.tenant(customer)["users"] >= 5
    proven_events = events(partner, "tenant.access.proven")
    assert any(e["target"]["id"] == customer for e in proven_events)

    # The customer's admin removes Tenantry's app: the next sync stops, and writes are refused.
    control.revoke_consent(customer)
    sync = sync_now(partner, customer)
    assert sync["state"] == "failed" and sync["error"]["code"] == "AccessLost"
    lost = tenant(partner, customer)["access"]
    assert lost["state"] == "accessLost" and "AADSTS700016" in lost["reason"]
    refused = http.put(
        f"{partner.url}/tenants/{customer}/security-defaults", headers=partner.as_key, json={"enabled": False}
    )
    assert refused.status_code == 409


def consent_link_of_new_tenant(partner: PartnerSetup, control: StandinControl) -> str:
    customer = str(uuid.uuid4())
    control.put_tenant(customer, 3, consented=False)
    assert onboard(partner, customer).status_code == 201
    return consent_link(partner, customer)


def test_gdap_proves_and_a_terminated_relationship_stops_writes_within_one_sync(
    partner: PartnerSetup, control: StandinControl
) -> None:
    customer = str(uuid.uuid4())
    control.put_tenant(customer, 8)
    # An expired relationship, and one lacking a role, prove nothing.
    expired = grant_gdap(control, partner.entra_tenant_id, customer)
    control.update_relationship(expired, endDateTime=(datetime.now(UTC) - timedelta(days=1)).isoformat())
    created = onboard(partner, customer)
    assert created.status_code == 201 and created.json()["access"]["state"] == "pendingProof"
    assert "expired" in created.json()["access"]["reason"]
    narrow = grant_gdap(
        control, partner.entra_tenant_id, customer, roles=["f2ef992c-3afb-46b9-b7cf-a126ee74c451"]
    )
    refused = http.post(f"{partner.url}/tenants/{customer}/verify", headers=partner.as_key)
    assert refused.status_code == 409 and "User Administrator" in refused.json()["detail"]
    control.terminate_relationship(narrow)

    relationship = grant_gdap(control, partner.entra_tenant_id, customer)
    verified = http.post(f"{partner.url}/tenants/{customer}/verify", headers=partner.as_key)
    assert verified.status_code == 200, verified.text
    access = verified.json()["access"]
    assert (
        access["state"] == "proven" and access["via"] == "gdap" and access["relationshipId"] == relationship
    )
    assert access["expiresAt"] is not None and len(access["roles"]) == 3
    assert last_sync(partner, customer)["state"] == "succeeded"
    assert tenant(partner, customer)["counts"]["users"] == 8

    control.terminate_relationship(relationship)
    sync = sync_now(partner, customer)
    assert sync["state"] == "failed" and sync["error"]["code"] == "AccessLost"
    assert tenant(partner, customer)["access"]["state"] == "accessLost"
    refused = http.put(
        f"{partner.url}/tenants/{customer}/security-defaults", headers=partner.as_key, json={"enabled": False}
    )
    assert refused.status_code == 409 and refused.json()["type"].endswith("tenant-not-proven")
    assert any(e["target"]["id"] == customer for e in events(partner, "tenant.access.lost"))

    # A renewed relationship restores the tenant at the next sync the timer or a verify makes.
    grant_gdap(control, partner.entra_tenant_id, customer)
    restored = http.post(f"{partner.url}/tenants/{customer}/verify", headers=partner.as_key)
    assert restored.status_code == 200 and restored.json()["access"]["state"] == "proven"
    assert any(e["target"]["id"] == customer for e in events(partner, "tenant.access.restored"))


def test_two_partners_racing_for_one_tenant_end_with_one_owner(api: str, control: StandinControl) -> None:
    customer = str(uuid.uuid4())
    control.put_tenant(customer, 4)
    rivals = [make_partner(api, "eu"), make_partner(api, "us")]
    for rival in rivals:
        connect_partner(rival, control)
        grant_gdap(control, rival.entra_tenant_id, customer)  # a customer may hold GDAP with several partners
    answers: list[httpx.Response] = []
    gate = threading.Barrier(len(rivals))

    def go(rival: PartnerSetup) -> None:
        gate.wait()
        answers.append(onboard(rival, customer))

    threads = [threading.Thread(target=go, args=(r,)) for r in rivals]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201, 409], [a.text for a in answers]
    loser = next(a for a in answers if a.status_code == 409)
    assert loser.json()["type"].endswith("tenant-claimed")
    # No hint of who holds it.
    assert not any(r.id in loser.text or r.entra_tenant_id in loser.text for r in rivals)
    owners = [
        r for r in rivals if http.get(f"{r.url}/tenants/{customer}", headers=r.as_key).status_code == 200
    ]
    assert len(owners) == 1


def test_a_customer_changes_msp(api: str, control: StandinControl) -> None:
    customer = str(uuid.uuid4())
    old, new = make_partner(api, "eu"), make_partner(api, "eu")
    connect_partner(old, control)
    connect_partner(new, control)
    control.put_tenant(customer, 6)
    relationship = grant_gdap(control, old.entra_tenant_id, customer)
    assert onboard(old, customer).json()["access"]["state"] == "proven"
    assert last_sync(old, customer)["state"] == "succeeded"

    # The new MSP's fresh proof alone does not move a tenant the old one still holds.
    grant_gdap(control, new.entra_tenant_id, customer)
    refused = onboard(new, customer)
    assert refused.status_code == 409 and refused.json()["type"].endswith("tenant-claimed")
    assert http.get(f"{new.url}/tenants/{customer}", headers=new.as_key).status_code == 404

    # The customer ends the old relationship: checked, the claim moves.
    control.terminate_relationship(relationship)
    moved = onboard(new, customer)
    assert moved.status_code == 201 and moved.json()["access"]["state"] == "proven", moved.text
    assert last_sync(new, customer)["state"] == "succeeded"
    old_view = tenant(old, customer)
    assert old_view["access"]["state"] == "accessLost" and "Another partner" in old_view["access"]["reason"]
    assert http.get(f"{old.url}/tenants/{customer}/users", headers=old.as_key).status_code == 409
    assert any(e["target"]["id"] == customer for e in events(old, "tenant.claim.lost"))
    assert any(e["target"]["id"] == customer for e in events(new, "tenant.claim.moved"))

    # Or the old partner releases it: a third MSP's proof then takes it without a fight.
    third = make_partner(api, "eu")
    connect_partner(third, control)
    grant_gdap(control, third.entra_tenant_id, customer)
    assert onboard(third, customer).status_code == 409
    assert http.delete(f"{new.url}/tenants/{customer}", headers=new.as_key).status_code == 204
    taken = onboard(third, customer)
    assert taken.status_code == 201 and taken.json()["access"]["state"] == "proven", taken.text


def test_the_partner_connects_its_own_tenant_only_through_its_administrator(
    api: str, control: StandinControl
) -> None:
    fresh = make_partner(api, "eu")
    state = http.get(f"{fresh.url}/entra-connection", headers=fresh.as_key).json()
    assert state == {
        "tenantId": fresh.entra_tenant_id,
        "connected": False,
        "connectedAt": None,
        "connectedBy": None,
    }
    # API keys never manage access, nor does an admin: an owner's sign-in does.
    assert http.post(f"{fresh.url}/entra-connection", headers=fresh.as_key).status_code == 403
    admin_oid = str(uuid.uuid4())
    invited = http.post(
        f"{fresh.url}/personnel",
        headers=fresh.bearer(),
        json={"objectId": admin_oid, "email": "admin@contoso.example", "role": "admin"},
    )
    assert invited.status_code == 201, invited.text
    refused = http.post(f"{fresh.url}/entra-connection", headers=fresh.bearer(admin_oid))
    assert refused.status_code == 403 and refused.json()["missingPermission"] == "owner"
    control.put_tenant(fresh.entra_tenant_id, 5, consented=False)
    link = http.post(f"{fresh.url}/entra-connection", headers=fresh.bearer())
    assert link.status_code == 200
    assert link.json()["url"].startswith(f"{GRAPH.base_url}/{fresh.entra_tenant_id}/oauth2/v2.0/authorize?")
    query = parse_qs(urlsplit(link.json()["url"]).query)
    assert query["prompt"] == ["consent"] and query["code_challenge_method"] == ["S256"] and query["nonce"]
    # Without proof of the partner's tenant, GDAP cannot be asked.
    customer = str(uuid.uuid4())
    control.put_tenant(customer, 3)
    grant_gdap(control, fresh.entra_tenant_id, customer)
    assert onboard(fresh, customer).json()["access"]["state"] == "pendingProof"

    admin = control.admin_of(fresh.entra_tenant_id)
    answer = sign_in_through_api(api, link.json()["url"], control, fresh.entra_tenant_id)
    assert answer.status_code == 200, answer.text
    state = http.get(f"{fresh.url}/entra-connection", headers=fresh.as_key).json()
    assert state["connected"] is True and state["connectedBy"] == admin["id"]
    assert http.post(f"{fresh.url}/tenants/{customer}/verify", headers=fresh.as_key).status_code == 200
    connected = events(fresh, "partner.entraTenant.connected")
    assert connected and connected[0]["actor"]["id"] == admin["id"]

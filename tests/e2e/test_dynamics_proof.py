"""A partner manages only the Dynamics organisations it can prove: an org is pending until its own
Dataverse's delivery proves it, nobody squats an org id, and a device registers for a Dynamics user
only with that user's own Entra ID token, within caps and a rate limit."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.e2e.actors import PartnerSetup, make_partner
from tests.e2e.dataverse import (
    INITIATING_USER,
    add_rule,
    add_user,
    completed,
    context_for,
    device_call,
    object_id_of,
    org_body,
    post_webhook,
    register_device,
    register_org,
    user_token,
)
from tests.stack import FCM
from tests.web import web

PROBLEM = "https://tenantry.dev/problems/"


def problem(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"] == PROBLEM + kind, body
    return body


def org_view(partner: PartnerSetup, org_id: str) -> dict[str, Any]:
    response = web.get(f"{partner.url}/orgs/{org_id}", headers=partner.as_key)
    assert response.status_code == 200, response.text
    return dict(response.json())


def notifications_of(partner: PartnerSetup, org_id: str) -> list[dict[str, Any]]:
    response = web.get(f"{partner.url}/orgs/{org_id}/notifications", headers=partner.as_key)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def send_to(partner: PartnerSetup, org_id: str, user: str) -> httpx.Response:
    return web.post(
        f"{partner.url}/orgs/{org_id}/notifications",
        json={"recipients": [user], "title": "Case assigned", "body": "CAS-01234"},
        headers=partner.as_key,
    )


def devices_reached(partner: PartnerSetup, org_id: str, user: str) -> int:
    """How many devices of `user` a direct notification reaches: the devices stored for them."""
    response = send_to(partner, org_id, user)
    assert response.status_code == 202, response.text
    return int(completed(partner, org_id, response.json()["id"])["deviceCount"])


# --- organisations: pending until proven, never squatted -------------------------------------


def test_an_org_is_pending_until_a_delivery_of_its_own_organization_id_proves_it(
    api: str, partner: PartnerSetup
) -> None:
    org = register_org(partner, proven=False)
    assert org["access"]["state"] == "pendingProof" and org["access"]["reason"]
    add_rule(partner, org["id"])
    add_user(partner, org, INITIATING_USER)
    # Nothing is sent for an org nobody has proven: neither devices nor direct notifications.
    as_user = user_token(api, org["tenantId"], object_id_of(org, INITIATING_USER))
    token_body = {"systemUserId": INITIATING_USER, "token": f"token-{uuid.uuid4().hex}"}
    problem(device_call(api, org, token_body, as_user), 409, "org-not-proven")
    problem(send_to(partner, org["id"], INITIATING_USER), 409, "org-not-proven")

    # The right key but another organisation's delivery (or none named) proves nothing, stores nothing.
    for other in (context_for(str(uuid.uuid4())), {**context_for(org["id"]), "OrganizationId": None}):
        problem(post_webhook(api, org, other), 403, "organization-mismatch")
    assert notifications_of(partner, org["id"]) == []
    assert org_view(partner, org["id"])["access"]["state"] == "pendingProof"

    # Its own Dataverse's delivery proves it and is taken like any other.
    proof = post_webhook(api, org, context_for(org["id"]))
    assert proof.status_code == 202, proof.text
    assert proof.json()["accepted"] == 1
    view = org_view(partner, org["id"])
    assert view["access"]["state"] == "proven" and view["access"]["reason"] is None
    assert [n["id"] for n in notifications_of(partner, org["id"])] == proof.json()["notificationIds"]
    assert device_call(api, org, token_body, as_user).status_code == 201
    events = web.get(f"{partner.url}/events?action=org.proven", headers=partner.as_key).json()["items"]
    assert [e["target"]["id"] for e in events if e["action"] == "org.proven"].count(org["id"]) == 1


def test_an_org_id_proven_by_one_partner_cannot_be_registered_by_another(
    api: str, partner: PartnerSetup
) -> None:
    org = register_org(partner)
    squatter = make_partner(api, "us")
    again = web.post(f"{squatter.url}/orgs", json=org_body(org["id"]), headers=squatter.as_key)
    body = problem(again, 409, "org-claimed")
    # No hint of who holds it.
    for hint in (partner.id, partner.entra_tenant_id, "Contoso IT", "eu"):
        assert hint not in json.dumps(body)
    assert web.get(f"{squatter.url}/orgs/{org['id']}", headers=squatter.as_key).status_code == 404


def test_of_two_pending_registrations_the_first_proven_wins_and_the_other_is_refused(
    api: str, partner: PartnerSetup
) -> None:
    org_id = str(uuid.uuid4())
    rival = make_partner(api, "us")
    ours = web.post(f"{partner.url}/orgs", json=org_body(org_id), headers=partner.as_key)
    theirs = web.post(f"{rival.url}/orgs", json=org_body(org_id), headers=rival.as_key)
    assert (ours.status_code, theirs.status_code) == (201, 201), (ours.text, theirs.text)
    mine, rivals = ours.json(), theirs.json()

    # Only the org's own Dataverse knows which key it was given: the rival's delivery comes first.
    assert post_webhook(api, rivals, context_for(org_id)).status_code == 202
    assert org_view(rival, org_id)["access"]["state"] == "proven"
    late = post_webhook(api, mine, context_for(org_id))
    body = problem(late, 409, "org-claimed")
    assert rival.id not in json.dumps(body)
    assert org_view(partner, org_id)["access"]["state"] == "pendingProof"
    add_user(partner, mine, INITIATING_USER)
    device = {"systemUserId": INITIATING_USER, "token": f"token-{uuid.uuid4().hex}"}
    problem(device_call(api, mine, device, None), 409, "org-not-proven")
    third = make_partner(api, "eu")
    problem(web.post(f"{third.url}/orgs", json=org_body(org_id), headers=third.as_key), 409, "org-claimed")

    # Once the holder lets it go, the other registration's next delivery proves it.
    assert web.delete(f"{rival.url}/orgs/{org_id}", headers=rival.as_key).status_code == 204
    assert post_webhook(api, mine, context_for(org_id)).status_code == 202
    assert org_view(partner, org_id)["access"]["state"] == "proven"


# --- devices: only as the user, within caps ---------------------------------------------------


def test_a_device_registers_only_with_its_users_own_token(api: str, partner: PartnerSetup) -> None:
    org = register_org(partner)
    user, colleague = INITIATING_USER, str(uuid.uuid4())
    object_id = add_user(partner, org, user)
    add_user(partner, org, colleague)
    tenant = org["tenantId"]
    stranger_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # never published

    def attempt(token: str | None, target: str) -> httpx.Response:
        return device_call(api, org, {"systemUserId": user, "token": target}, token)

    refused = {
        "no token": (None, 401, "unauthenticated"),
        "forged": (user_token(api, tenant, object_id, key=stranger_key), 401, "unauthenticated"),
        "expired": (user_token(api, tenant, object_id, issued_at=time.time() - 7200), 401, "unauthenticated"),
        "another user's": (
            user_token(api, tenant, object_id_of(org, colleague)),
            403,
            "token-for-another-user",
        ),
        "another tenant's": (user_token(api, str(uuid.uuid4()), object_id), 403, "token-for-another-tenant"),
        "another API's": (user_token(api, tenant, object_id, audience="api://someone-else"), 403, None),
        "without the scope": (user_token(api, tenant, object_id, scopes="User.Read"), 403, None),
    }
    targets = {name: f"token-{uuid.uuid4().hex}" for name in refused}
    for name, (token, status, kind) in refused.items():
        response = attempt(token, targets[name])
        assert response.status_code == status, (name, response.text)
        assert response.headers["content-type"].startswith("application/problem+json"), name
        if kind is not None:
            assert response.json()["type"] == PROBLEM + kind, (name, response.text)
    # Partner personnel's tokens are not Dynamics users' either (their tenant is the partner's).
    assert attempt(partner.token(), f"token-{uuid.uuid4().hex}").status_code == 403

    right = f"token-{uuid.uuid4().hex}"
    created = attempt(user_token(api, tenant, object_id), right)
    assert created.status_code == 201, created.text
    # Nothing of the refused attempts was stored: the user has exactly the one device.
    assert devices_reached(partner, org["id"], user) == 1
    assert all(FCM.state.deliveries_to("token", t) == [] for t in targets.values())
    assert len(FCM.state.deliveries_to("token", right)) == 1


def test_a_device_needs_the_orgs_tenant_and_the_users_object_id(api: str, partner: PartnerSetup) -> None:
    org = register_org(partner, tenantId=None)
    assert org["tenantId"] is None
    user = str(uuid.uuid4())
    add_user(partner, org, user)
    tenant = str(uuid.uuid4())
    as_user = user_token(api, tenant, object_id_of(org, user))
    body = {"systemUserId": user, "token": f"token-{uuid.uuid4().hex}"}
    problem(device_call(api, org, body, as_user), 409, "org-tenant-unknown")

    url = f"{partner.url}/orgs/{org['id']}"
    patched = web.patch(url, json={"tenantId": tenant}, headers=partner.as_key)
    assert patched.status_code == 200 and patched.json()["tenantId"] == tenant, patched.text
    org["tenantId"] = tenant
    assert device_call(api, org, body, as_user).status_code == 201

    nameless = str(uuid.uuid4())  # pushed without an object id
    put = web.put(
        f"{partner.url}/orgs/{org['id']}/users",
        json={"items": [{"systemUserId": nameless, "fullName": "No Object Id"}]},
        headers=partner.as_key,
    )
    assert put.status_code == 200
    body = {"systemUserId": nameless, "token": f"token-{uuid.uuid4().hex}"}
    missing = problem(device_call(api, org, body, as_user), 409, "org-user-object-id-unknown")
    assert [e["field"] for e in missing["errors"]] == ["azureActiveDirectoryObjectId"]
    stranger = {"systemUserId": str(uuid.uuid4()), "token": f"token-{uuid.uuid4().hex}"}
    problem(device_call(api, org, stranger, as_user), 409, "org-user-unknown")
    users = web.get(f"{partner.url}/orgs/{org['id']}/users", headers=partner.as_key).json()["items"]
    assert {u["systemUserId"]: u.get("azureActiveDirectoryObjectId") for u in users} == {
        user: object_id_of(org, user),
        nameless: None,
    }


def test_a_user_has_at_most_ten_devices_and_the_same_token_again_is_no_new_one(
    api: str, partner: PartnerSetup
) -> None:
    org = register_org(partner)
    user = str(uuid.uuid4())
    tokens = [f"token-{uuid.uuid4().hex}" for _ in range(10)]
    devices = [register_device(partner, org, user, t) for t in tokens]
    as_user = user_token(api, org["tenantId"], object_id_of(org, user))
    one_more = {"systemUserId": user, "token": f"token-{uuid.uuid4().hex}"}
    over = device_call(api, org, one_more, as_user)
    problem(over, 429, "device-limit-reached")
    assert int(over.headers["retry-after"]) > 0
    again = device_call(api, org, {"systemUserId": user, "token": tokens[3]}, as_user)
    assert again.status_code == 201 and again.json()["id"] == devices[3]["id"]
    # Unsubscribing frees a slot at once.
    url = f"{api}/api/orgs/{org['id']}/devices/{devices[0]['id']}"
    assert web.delete(url, headers={"x-device-secret": devices[0]["deviceSecret"]}).status_code == 204
    assert device_call(api, org, one_more, as_user).status_code == 201
    assert devices_reached(partner, org["id"], user) == 10


def test_one_device_key_registers_at_most_thirty_times_a_minute(api: str, partner: PartnerSetup) -> None:
    org = register_org(partner)
    user = str(uuid.uuid4())
    as_user = user_token(api, org["tenantId"], add_user(partner, org, user))
    # Every attempt counts, refused or not; a fixed window may split the first 30 over two minutes,
    # so the 429 comes by the 61st attempt at the latest.
    statuses: list[int] = []
    while 429 not in statuses and len(statuses) < 61:
        statuses.append(device_call(api, org, {"systemUserId": user, "token": "t"}, None).status_code)
    assert statuses[-1] == 429 and statuses.index(429) >= 30, statuses
    assert set(statuses[:-1]) == {401}
    limited = device_call(api, org, {"systemUserId": user, "token": f"token-{uuid.uuid4().hex}"}, as_user)
    body = problem(limited, 429, "too-many-requests")
    assert 1 <= int(limited.headers["retry-after"]) <= 60 and body["detail"]
    # Another org's devices are not held back by it.
    other = register_org(partner)
    assert register_device(partner, other, user, f"token-{uuid.uuid4().hex}")["id"]

"""Dynamics 365 organisations, rules, users, devices and Dataverse deliveries, through the public API."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import httpx

from localdev import dev_issuer
from localdev.stack import authority_host, wait_until
from tests.e2e.actors import AUDIENCE, PartnerSetup
from tests.web import web

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "dataverse"
SAMPLE: dict[str, Any] = json.loads((FIXTURES / "update-contact-webhook.json").read_text())
SAMPLE_HEADERS: dict[str, str] = json.loads((FIXTURES / "webhook-headers.json").read_text())["headers"]
INITIATING_USER = SAMPLE["InitiatingUserId"]


def org_body(org_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "organizationId": org_id,
        "uniqueName": "contoso",
        "name": "Contoso",
        "languageCode": 1033,
        "business": {
            "name": "Contoso Ltd",
            "phone": "+31 20 000 0000",
            "email": "it@contoso.example",
            "country": "NL",
            "address": "Main St 1, Amsterdam",
        },
        "administrators": [
            {"fullName": "Ana Li", "email": "ana@contoso.example", "mobilePhone": "+31 6 0000 0000"}
        ],
        "webhookAuth": {"type": "WebhookKey"},
    }
    body.update(overrides)
    return body


def context_for(org_id: str, **overrides: Any) -> dict[str, Any]:
    """The fixture with this org's id and a fresh delivery identity (CorrelationId, OperationId)."""
    body = copy.deepcopy(SAMPLE)
    body["OrganizationId"] = org_id
    body["CorrelationId"] = str(uuid.uuid4())
    body["OperationId"] = str(uuid.uuid4())
    body.update(overrides)
    return body


def register_org(partner: PartnerSetup, *, proven: bool = True, **overrides: Any) -> dict[str, Any]:
    """A new org of the customer tenant `tenantId` (a fresh one unless given); unless `proven` is
    False, proven at once by a delivery of its own Dataverse (no rule yet: it notifies nobody)."""
    org_id = str(uuid.uuid4())
    body = org_body(org_id, **{"tenantId": str(uuid.uuid4()), **overrides})
    created = web.post(f"{partner.url}/orgs", json=body, headers=partner.as_key)
    assert created.status_code == 201, created.text
    org = dict(created.json())
    assert org["access"]["state"] == "pendingProof"
    if proven:
        proof = post_webhook(partner.api, org, context_for(org_id))
        assert proof.status_code == 202 and proof.json()["accepted"] == 0, proof.text
    return org


def add_rule(partner: PartnerSetup, org_id: str, **overrides: Any) -> dict[str, Any]:
    rule = {
        "entity": "contact",
        "message": "Update",
        "title": "{fullname} was updated",
        "body": "Changed by {modifiedby} on {modifiedon}",
        "link": "https://contoso.crm4.dynamics.com/main.aspx?etn={$entity}&id={$recordId}",
        "recipients": {"type": "initiatingUser"},
    }
    rule.update(overrides)
    response = web.post(f"{partner.url}/orgs/{org_id}/rules", json=rule, headers=partner.as_key)
    assert response.status_code == 201, response.text
    return dict(response.json())


def object_id_of(org: dict[str, Any], user: str) -> str:
    """The Entra object id the tests give a system user of an org (stable, distinct per org)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{org['id']}/{user}"))


def add_user(partner: PartnerSetup, org: dict[str, Any], user: str, **fields: Any) -> str:
    """Upserts the system user with its Entra object id (as a partner syncs it from Dataverse)."""
    object_id = object_id_of(org, user)
    item = {"systemUserId": user, "azureActiveDirectoryObjectId": object_id, **fields}
    response = web.put(
        f"{partner.url}/orgs/{org['id']}/users", json={"items": [item]}, headers=partner.as_key
    )
    assert response.status_code == 200, response.text
    return object_id


def user_token(api: str, tenant_id: str, object_id: str, **options: Any) -> str:
    """What MSAL.js gets silently for the signed-in Dynamics user: a token for Tenantry's API."""
    claims = {"tenant_id": tenant_id, "object_id": object_id, "audience": AUDIENCE}
    return dev_issuer.mint(**{**claims, "authority_host": authority_host(api), **options})


def device_call(
    api: str, org: dict[str, Any], body: dict[str, Any], token: str | None, key: str | None = None
) -> httpx.Response:
    headers = {"x-device-key": org["deviceKey"] if key is None else key}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return web.post(f"{api}/api/orgs/{org['id']}/devices", json=body, headers=headers)


def register_device(partner: PartnerSetup, org: dict[str, Any], user: str, token: str) -> dict[str, Any]:
    """Registers a device as the user would: the partner has pushed the user with their object id,
    and the browser brings the user's own token."""
    object_id = add_user(partner, org, user)
    body = {"systemUserId": user, "token": token, "footprint": "Mozilla/5.0 (X11; Linux) Firefox/140"}
    response = device_call(partner.api, org, body, user_token(partner.api, org["tenantId"], object_id))
    assert response.status_code == 201, response.text
    return dict(response.json())


def post_webhook(
    api: str, org: dict[str, Any], body: Any, *, code: str | None = None, **headers: str
) -> httpx.Response:
    key = org["webhookKey"] if code is None else code
    return web.post(
        f"{api}/api/dynamics/{org['id']}/webhook",
        params={"code": key} if key else None,
        content=json.dumps(body),
        headers={"content-type": "application/json", **SAMPLE_HEADERS, **headers},
    )


def notification(partner: PartnerSetup, org_id: str, notification_id: str) -> dict[str, Any]:
    response = web.get(f"{partner.url}/orgs/{org_id}/notifications/{notification_id}", headers=partner.as_key)
    assert response.status_code == 200, response.text
    return dict(response.json())


def completed(partner: PartnerSetup, org_id: str, notification_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        view = notification(partner, org_id, notification_id)
        return view if view["state"] == "completed" else None

    return wait_until(done, timeout=30, what="the notification to complete")


# --- organisations and users -------------------------------------------------------------------

"""Helpers that set up partners, people, keys and tokens through the public API, as a partner would."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from localdev import dev_issuer
from localdev.graph_standin import StandinControl
from localdev.proving import connect_partner_tenant, grant_gdap
from localdev.stack import authority_host, wait_until
from tests.stack import STACK_ENV
from tests.web import web

# The break-glass key: still set locally, so tests and `make run` can bootstrap partners with it.
OPERATOR = {"x-api-key": STACK_ENV["OPERATOR_API_KEY"]}
AUDIENCE = STACK_ENV["ENTRA_AUDIENCE"]
CLIENT_ID = STACK_ENV["ENTRA_CLIENT_ID"]
OPERATOR_TENANT = STACK_ENV["OPERATOR_TENANT_ID"]


@dataclass
class PartnerSetup:
    api: str
    id: str
    entra_tenant_id: str
    owner_object_id: str
    owner_id: str
    key: str  # an API key with every scope a key can have
    key_id: str

    @property
    def url(self) -> str:
        return f"{self.api}/api/partners/{self.id}"

    def token(self, object_id: str | None = None, **options: Any) -> str:
        claims: dict[str, Any] = {
            "tenant_id": self.entra_tenant_id,
            "object_id": object_id or self.owner_object_id,
            "audience": AUDIENCE,
            "authority_host": authority_host(self.api),
        }
        return dev_issuer.mint(**{**claims, **options})

    def bearer(self, object_id: str | None = None, **options: Any) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token(object_id, **options)}"}

    @property
    def as_key(self) -> dict[str, str]:
        return {"x-api-key": self.key}


def operator_token(api: str, object_id: str = "7a6b5c4d-3e2f-4a1b-9c8d-0e1f2a3b4c5d", **options: Any) -> str:
    """A token of one of the operator's people: app role Tenantry.Operator, from the operator's tenant."""
    claims: dict[str, Any] = {
        "tenant_id": OPERATOR_TENANT,
        "object_id": object_id,
        "audience": AUDIENCE,
        "authority_host": authority_host(api),
        "name": "Olga Operator",
        "roles": [dev_issuer.OPERATOR_ROLE],
    }
    return dev_issuer.mint(**{**claims, **options})


def operator_bearer(api: str, **options: Any) -> dict[str, str]:
    return {"authorization": f"Bearer {operator_token(api, **options)}"}


def partner_body(region: str = "eu", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "displayName": "Contoso IT",
        "region": region,
        "entraTenantId": str(uuid.uuid4()),
        "contact": {"name": "Ana Li", "email": "ana@contoso.example"},
        "subscription": {"plan": "standard", "tenantLimit": 25, "billingCycle": "monthly"},
        "owner": {"objectId": str(uuid.uuid4()), "email": "owner@contoso.example", "displayName": "Owner"},
    }
    body.update(overrides)
    return body


def make_partner(
    api: str, region: str = "eu", *, approve_push: bool = True, **overrides: Any
) -> PartnerSetup:
    """`approve_push`: the owner approves the Firebase transfer, as every partner that pushes must."""
    body = partner_body(region, **overrides)
    created = web.post(f"{api}/api/partners", json=body, headers=OPERATOR)
    assert created.status_code == 201, created.text
    partner_id = created.json()["id"]
    people = web.get(f"{api}/api/partners/{partner_id}/personnel", headers=OPERATOR).json()["items"]
    key = web.post(
        f"{api}/api/partners/{partner_id}/api-keys",
        headers=OPERATOR,
        json={"name": "everything", "scopes": ["read", "write", "notify", "privacy"]},
    ).json()
    setup = PartnerSetup(
        api,
        partner_id,
        body["entraTenantId"],
        body["owner"]["objectId"],
        people[0]["id"],
        key["key"],
        key["id"],
    )
    if approve_push:
        approved = web.put(f"{setup.url}/privacy/transfers/firebase", headers=setup.bearer())
        assert approved.status_code == 200, approved.text
    return setup


def forged_token(partner: PartnerSetup) -> str:
    """Right claims, signed by a key the issuer never published."""
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return partner.token(key=stranger)


def expired_token(partner: PartnerSetup) -> str:
    return partner.token(issued_at=time.time() - 7200, lifetime_seconds=3600)


def connect_partner(partner: PartnerSetup, control: StandinControl) -> None:
    """The partner's owner connects its own Entra tenant (once), as GDAP proofs need."""
    state = web.get(f"{partner.url}/entra-connection", headers=partner.as_key).json()
    if not state["connected"]:
        connect_partner_tenant(partner.api, partner.url, partner.bearer(), control)


def add_proven_tenant(
    partner: PartnerSetup, control: StandinControl, users: int = 30, display_name: str = "Fabrikam"
) -> str:
    """A customer tenant in the stand-in, with a GDAP relationship to the partner, onboarded and proven."""
    connect_partner(partner, control)
    tenant_id = str(uuid.uuid4())
    control.put_tenant(tenant_id, users)
    grant_gdap(control, partner.entra_tenant_id, tenant_id)
    created = web.post(
        f"{partner.url}/tenants",
        headers=partner.as_key,
        json={"tenantId": tenant_id.upper(), "displayName": display_name},
        timeout=60,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    # The id as Entra writes it (lower case), whatever case the partner sent; 201 with Location.
    assert body["id"] == tenant_id and body["status"] == "active"
    assert body["access"]["state"] == "proven" and body["access"]["via"] == "gdap", created.text
    assert created.headers["location"] == f"/api/partners/{partner.id}/tenants/{tenant_id}"
    return tenant_id


def carry_out_request(partner: PartnerSetup, body: dict[str, Any]) -> dict[str, Any]:
    """Files a data-subject request and takes it through verify, approve (by the owner) and execute
    to `completed`, as a privacy officer's portal would; returns the completed request."""
    http = httpx.Client(timeout=60)
    filed = http.post(f"{partner.url}/privacy/requests", headers=partner.as_key, json=body)
    assert filed.status_code == 201, filed.text
    url = f"{partner.url}/privacy/requests/{filed.json()['id']}"
    note = {"method": "controllerConfirmed", "note": "Confirmed by the customer's DPO"}
    verified = http.post(f"{url}/verify", headers=partner.as_key, json=note)
    assert verified.status_code == 200, verified.text
    assert http.post(f"{url}/approve", headers=partner.bearer()).status_code == 200
    assert http.post(f"{url}/execute", headers=partner.as_key).status_code == 202

    def finished() -> dict[str, Any] | None:
        got: dict[str, Any] = http.get(url, headers=partner.as_key).json()
        return got if got["state"] in ("completed", "failed") else None

    done = wait_until(finished, timeout=60, what="the data-subject request's job")
    http.close()
    assert done["state"] == "completed", done
    return done

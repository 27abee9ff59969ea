"""Helpers that set up partners, people, keys and tokens through the public API, as a partner would."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from localdev import dev_issuer
from tests.conftest import STACK_ENV

OPERATOR = {"x-api-key": STACK_ENV["OPERATOR_API_KEY"]}
AUDIENCE = STACK_ENV["ENTRA_AUDIENCE"]


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
            "authority_host": f"{self.api}/_dev/entra",
        }
        return dev_issuer.mint(**{**claims, **options})

    def bearer(self, object_id: str | None = None, **options: Any) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token(object_id, **options)}"}

    @property
    def as_key(self) -> dict[str, str]:
        return {"x-api-key": self.key}


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


def make_partner(api: str, region: str = "eu", **overrides: Any) -> PartnerSetup:
    body = partner_body(region, **overrides)
    created = httpx.post(f"{api}/api/partners", json=body, headers=OPERATOR)
    assert created.status_code == 201, created.text
    partner_id = created.json()["id"]
    people = httpx.get(f"{api}/api/partners/{partner_id}/personnel", headers=OPERATOR).json()["items"]
    key = httpx.post(
        f"{api}/api/partners/{partner_id}/api-keys",
        headers=OPERATOR,
        json={"name": "everything", "scopes": ["read", "write", "notify", "privacy"]},
    ).json()
    return PartnerSetup(
        api,
        partner_id,
        body["entraTenantId"],
        body["owner"]["objectId"],
        people[0]["id"],
        key["key"],
        key["id"],
    )


def forged_token(partner: PartnerSetup) -> str:
    """Right claims, signed by a key the issuer never published."""
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return partner.token(key=stranger)


def expired_token(partner: PartnerSetup) -> str:
    return partner.token(issued_at=time.time() - 7200, lifetime_seconds=3600)

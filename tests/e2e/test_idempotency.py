"""Idempotency-Key on every create POST, through the local host: a retry gets the first answer and
creates nothing more, the key with another body is 422, a key still at work is 409, and partners'
keys never meet."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from functions import deps
from shared.idempotency import IdempotencyStore, Reservation, fingerprint
from tests.e2e.actors import OPERATOR, PartnerSetup, make_partner, partner_body
from tests.e2e.dataverse import org_body, register_org

http = httpx.Client(timeout=60)


@dataclass
class Create:
    """One create route: where to POST, as whom, two different bodies, and how many exist now."""

    url: str
    headers: dict[str, str]
    body: Callable[[], dict[str, Any]]
    count: Callable[[], int]


def _items(url: str, headers: dict[str, str]) -> Callable[[], int]:
    def count() -> int:
        response = http.get(url, headers=headers, params={"top": 200})
        assert response.status_code == 200, response.text
        return len(response.json()["items"])

    return count


@pytest.fixture(scope="module")
def tenant_id(partner: PartnerSetup) -> str:
    """A customer tenant of the partner (pending proof is enough to file requests about it)."""
    made = str(uuid.uuid4())
    created = http.post(
        f"{partner.url}/tenants", headers=partner.as_key, json={"tenantId": made, "displayName": "Fabrikam"}
    )
    assert created.status_code == 201, created.text
    return made


@pytest.fixture(scope="module")
def org(partner: PartnerSetup) -> dict[str, Any]:
    return register_org(partner)


def _creates(partner: PartnerSetup, tenant_id: str, org: dict[str, Any]) -> dict[str, Create]:
    key, url, api, owner = partner.as_key, partner.url, partner.api, partner.bearer()
    return {
        "api-key": Create(
            f"{url}/api-keys",
            owner,
            lambda: {"name": f"ci-{uuid.uuid4().hex[:8]}", "scopes": ["read"]},
            _items(f"{url}/api-keys", owner),
        ),
        "personnel": Create(
            f"{url}/personnel",
            owner,
            lambda: {"objectId": str(uuid.uuid4()), "email": "v@contoso.example", "role": "viewer"},
            _items(f"{url}/personnel", owner),
        ),
        "tenant": Create(
            f"{url}/tenants",
            key,
            lambda: {"tenantId": str(uuid.uuid4()), "displayName": "Northwind"},
            _items(f"{url}/tenants", key),
        ),
        "org": Create(
            f"{url}/orgs",
            key,
            lambda: org_body(str(uuid.uuid4()), tenantId=str(uuid.uuid4())),
            _items(f"{url}/orgs", key),
        ),
        "rule": Create(
            f"{url}/orgs/{org['id']}/rules",
            key,
            lambda: {
                "entity": "contact",
                "message": "Update",
                "title": f"{{fullname}} {uuid.uuid4().hex[:6]}",
                "body": "Changed",
                "recipients": {"type": "initiatingUser"},
            },
            _items(f"{url}/orgs/{org['id']}/rules", key),
        ),
        "notification": Create(
            f"{url}/orgs/{org['id']}/notifications",
            key,
            lambda: {"everyone": True, "title": "Maintenance", "body": uuid.uuid4().hex},
            _items(f"{url}/orgs/{org['id']}/notifications", key),
        ),
        "alert-subscription": Create(
            f"{url}/alert-subscriptions",
            key,
            lambda: {
                "channel": "email",
                "recipients": [f"noc-{uuid.uuid4().hex[:6]}@msp.example"],
                "eventTypes": ["tenant.*"],
            },
            _items(f"{url}/alert-subscriptions", key),
        ),
        "privacy-request": Create(
            f"{url}/privacy/requests",
            key,
            lambda: {
                "type": "access",
                "subject": {"email": f"{uuid.uuid4().hex[:8]}@fabrikam.example"},
                "tenantId": tenant_id,
            },
            _items(f"{url}/privacy/requests", key),
        ),
        "breach": Create(
            f"{api}/api/privacy/breaches",
            OPERATOR,
            lambda: {
                "region": "eu",
                "nature": f"Report sent to the wrong address {uuid.uuid4().hex[:6]}",
                "dataCategories": ["end-user data"],
                "approxSubjects": 1,
                "approxRecords": 2,
                "contactPoint": {"name": "DPO", "email": "dpo@tenantry.example"},
                "likelyConsequences": "None seen.",
                "measures": "Recalled.",
                "affectedPartners": [partner.id],
            },
            _items(f"{partner.url}/privacy/breaches", key),
        ),
    }


CREATES = [
    "api-key",
    "personnel",
    "tenant",
    "org",
    "rule",
    "notification",
    "alert-subscription",
    "privacy-request",
    "breach",
]


def _post(create: Create, body: dict[str, Any], key: str) -> httpx.Response:
    return http.post(create.url, headers={**create.headers, "Idempotency-Key": key}, json=body)


def _is_problem(response: httpx.Response, status: int, kind: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/" + kind)


@pytest.mark.parametrize("name", CREATES)
def test_a_retry_gets_the_first_answer_and_creates_nothing_more(
    name: str, partner: PartnerSetup, tenant_id: str, org: dict[str, Any]
) -> None:
    create = _creates(partner, tenant_id, org)[name]
    before, body, key = create.count(), create.body(), str(uuid.uuid4())

    first = _post(create, body, key)
    assert first.status_code in (201, 202), first.text
    again = _post(create, body, key)
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert again.headers.get("location") == first.headers.get("location")
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert again.headers["x-request-id"] != first.headers["x-request-id"]  # the retry's own id
    assert create.count() == before + 1

    _is_problem(_post(create, create.body(), key), 422, "idempotency-key-reused")
    assert create.count() == before + 1
    # Without a key (or with another) the same body is another request: the client asked twice.
    fresh = _post(create, create.body(), str(uuid.uuid4()))
    assert fresh.status_code == first.status_code and fresh.json()["id"] != first.json()["id"]


def test_a_partner_is_created_once_with_its_owner(api: str) -> None:
    body, key = partner_body("eu"), str(uuid.uuid4())
    headers = {**OPERATOR, "Idempotency-Key": key}
    first = http.post(f"{api}/api/partners", json=body, headers=headers)
    assert first.status_code == 201, first.text
    again = http.post(f"{api}/api/partners", json=body, headers=headers)
    assert (again.status_code, again.json(), again.headers["location"]) == (
        201,
        first.json(),
        first.headers["location"],
    )
    partner_id = first.json()["id"]
    people = http.get(f"{api}/api/partners/{partner_id}/personnel", headers=OPERATOR).json()["items"]
    assert [p["role"] for p in people] == ["owner"]
    created = http.get(
        f"{api}/api/partners/{partner_id}/events", headers=OPERATOR, params={"action": "partner.created"}
    ).json()["items"]
    assert len(created) == 1
    # The same key for a partner in another region is another request, wherever the first was kept.
    _is_problem(
        http.post(f"{api}/api/partners", json={**body, "region": "us"}, headers=headers),
        422,
        "idempotency-key-reused",
    )


def test_the_secret_shown_once_is_shown_again_to_the_retry_only(partner: PartnerSetup) -> None:
    body, key = {"name": "deploy", "scopes": ["read"]}, str(uuid.uuid4())
    headers = {**partner.bearer(), "Idempotency-Key": key}
    first = http.post(f"{partner.url}/api-keys", json=body, headers=headers)
    again = http.post(f"{partner.url}/api-keys", json=body, headers=headers)
    assert first.status_code == 201 and again.json()["key"] == first.json()["key"]
    assert http.get(f"{partner.url}", headers={"x-api-key": again.json()["key"]}).status_code == 200


def test_partners_keys_never_meet(api: str, partner: PartnerSetup) -> None:
    other = make_partner(api, "us")
    body, key = {"name": "same", "scopes": ["read"]}, str(uuid.uuid4())
    mine = http.post(
        f"{partner.url}/api-keys", json=body, headers={**partner.bearer(), "Idempotency-Key": key}
    )
    theirs = http.post(f"{other.url}/api-keys", json=body, headers={**other.bearer(), "Idempotency-Key": key})
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert "idempotent-replayed" not in theirs.headers and theirs.json()["id"] != mine.json()["id"]
    # Another body under the same key is still the other partner's own first request.
    changed = {"name": "changed", "scopes": ["read"]}
    third = make_partner(api, "eu")
    response = http.post(
        f"{third.url}/api-keys", json=changed, headers={**third.bearer(), "Idempotency-Key": key}
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(("header", "why"), [("x" * 256, "too long"), ("", "empty"), ('""', "empty string")])
def test_an_unusable_key_is_400_and_nothing_is_created(partner: PartnerSetup, header: str, why: str) -> None:
    count = _items(f"{partner.url}/api-keys", partner.bearer())
    before = count()
    response = http.post(
        f"{partner.url}/api-keys",
        json={"name": "bad-key", "scopes": ["read"]},
        headers={**partner.bearer(), "Idempotency-Key": header},
    )
    _is_problem(response, 400, "idempotency-key-invalid")
    assert count() == before, why


def test_a_key_still_at_work_is_409_with_retry_after(partner: PartnerSetup) -> None:
    body, key = {"name": "slow", "scopes": ["read"]}, str(uuid.uuid4())
    count = _items(f"{partner.url}/api-keys", partner.bearer())
    before = count()
    # Another instance is working under the key right now (its reservation, as the app makes it).
    store = IdempotencyStore([deps.storage().region("eu")], deps.clock(), deps.token_cipher())
    raw = httpx.Request("POST", f"{partner.url}/api-keys", json=body).content
    held = store.begin(partner.id, key, fingerprint("POST", f"/api/partners/{partner.id}/api-keys", {}, raw))
    assert isinstance(held, Reservation)

    response = http.post(
        f"{partner.url}/api-keys", json=body, headers={**partner.bearer(), "Idempotency-Key": key}
    )
    _is_problem(response, 409, "idempotency-key-in-use")
    assert int(response.headers["retry-after"]) >= 1
    assert count() == before


def test_the_document_shows_the_header_on_create_routes_only(api: str) -> None:
    paths = http.get(f"{api}/api/openapi.json").json()["paths"]

    def has_key(path: str, method: str) -> bool:
        return any(p["name"] == "Idempotency-Key" for p in paths[path][method]["parameters"])

    assert has_key("/api/partners", "post")
    assert has_key("/api/partners/{partnerId}/api-keys", "post")
    assert has_key("/api/partners/{partnerId}/orgs/{orgId}/notifications", "post")
    assert not has_key("/api/partners/{partnerId}/api-keys/{keyId}/rotate", "post")
    assert not has_key("/api/partners/{partnerId}", "get")

"""A partner reads its own API calls (route template, status, fault, never a body or key) and its
owners read the sessions of its people and keys; another partner sees none of it."""

from __future__ import annotations

import uuid
from typing import Any

from localdev.stack import wait_until
from tests.e2e.actors import PartnerSetup, make_partner
from tests.web import web

MARKER = "Body-Marker-7f3a"


def _calls(partner: PartnerSetup, **params: Any) -> list[dict[str, Any]]:
    response = web.get(f"{partner.url}/api-calls", params=params, headers=partner.bearer())
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _logged(partner: PartnerSetup, *request_ids: str) -> dict[str, dict[str, Any]] | None:
    found = {item["id"]: item for item in _calls(partner, top=1000) if item["id"] in request_ids}
    return found if len(found) == len(request_ids) else None


def test_a_partners_calls_show_in_its_own_log_only(api: str) -> None:
    a, b = make_partner(api, "eu"), make_partner(api, "eu")
    tenant_id, failed_id, read_id = str(uuid.uuid4()), f"fail-{uuid.uuid4().hex}", f"read-{uuid.uuid4().hex}"
    refused = web.post(
        f"{a.url}/tenants",
        headers={**a.as_key, "x-request-id": failed_id, "x-forwarded-for": "198.51.100.23"},
        json={"tenantId": "not-a-guid", "displayName": MARKER},
    )
    assert refused.status_code == 422
    missing = web.get(f"{a.url}/tenants/{tenant_id}", headers={**a.as_key, "x-request-id": read_id})
    assert missing.status_code == 404

    logged = wait_until(lambda: _logged(a, failed_id, read_id), what="A's calls in A's call log")
    failed, read = logged[failed_id], logged[read_id]
    assert (failed["method"], failed["route"], failed["status"]) == (
        "POST",
        "partners/{partnerId}/tenants",
        422,
    )
    assert failed["problemType"].endswith("/validation-failed"), failed
    assert failed["caller"] == {"type": "apiKey", "id": a.key_id}
    assert failed["clientIp"] == "198.51.100.0" and failed["durationMs"] >= 0
    assert (read["route"], read["status"]) == ("partners/{partnerId}/tenants/{tenantId}", 404)

    whole = web.get(f"{a.url}/api-calls", params={"top": 1000}, headers=a.bearer()).text
    for secret in (MARKER, a.key, tenant_id, "198.51.100.23"):
        assert secret not in whole
    # Filters: a status class and a route template.
    assert all(item["status"] // 100 == 4 for item in _calls(a, status="4xx"))
    routed = _calls(a, route="partners/{partnerId}/tenants/{tenantId}")
    assert [item["id"] for item in routed if item["id"] in logged] == [read_id]

    # B's log holds B's calls only; A's log never B's.
    b_read = f"b-{uuid.uuid4().hex}"
    assert web.get(f"{b.url}/tenants", headers={**b.as_key, "x-request-id": b_read}).status_code == 200
    wait_until(lambda: _logged(b, b_read), what="B's call in B's log")
    b_log = web.get(f"{b.url}/api-calls", params={"top": 1000}, headers=b.bearer()).text
    assert failed_id not in b_log and read_id not in b_log and a.id not in b_log
    assert b_read not in whole and b_read not in web.get(f"{a.url}/api-calls", headers=a.bearer()).text
    assert web.get(f"{a.url}/api-calls", headers=b.as_key).status_code == 404


def test_owners_see_sign_ins_and_key_use_and_nobody_else_does(api: str) -> None:
    partner = make_partner(api, "eu")
    assert web.get(f"{partner.url}/tenants", headers=partner.as_key).status_code == 200
    admin_object_id = str(uuid.uuid4())
    added = web.post(
        f"{partner.url}/personnel",
        headers=partner.bearer(),
        json={"objectId": admin_object_id, "email": "admin@contoso.example", "role": "admin"},
    )
    assert added.status_code == 201, added.text
    admin = partner.bearer(admin_object_id)
    assert web.get(f"{partner.url}/tenants", headers=admin).status_code == 200

    def sessions() -> list[dict[str, Any]] | None:
        response = web.get(f"{partner.url}/sessions", headers=partner.bearer())
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        kinds = {(item["kind"], item["actor"]["id"]) for item in items}
        wanted = {("keyUse", partner.key_id), ("signIn", partner.owner_id), ("signIn", added.json()["id"])}
        return items if wanted <= kinds else None

    items = wait_until(sessions, what="the key's use and both people's sign-ins")
    key_use = next(item for item in items if item["kind"] == "keyUse")
    assert key_use["route"] == "partners/{partnerId}/tenants" and key_use["lastAt"] >= key_use["at"]
    assert partner.key not in str(items)

    refused = web.get(f"{partner.url}/sessions", headers=admin)
    assert refused.status_code == 403 and refused.json()["type"].endswith("/owner-only")
    assert web.get(f"{partner.url}/sessions", headers=partner.as_key).status_code == 403

"""Data-subject requests through the running app: filing, verifying, approving, executing through the
queue, fetching the export through its signed link, the erasure certificate, duplicates, extensions."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from localdev.graph_standin import StandinControl
from localdev.stack import wait_until
from tests.e2e.actors import OPERATOR, PartnerSetup, add_proven_tenant, make_partner
from tests.stack import GRAPH
from tests.web import web

http = httpx.Client(timeout=60)


@pytest.fixture(scope="module")
def partner(api: str) -> PartnerSetup:
    return make_partner(api, "eu")


@pytest.fixture(scope="module")
def tenant(partner: PartnerSetup) -> dict[str, Any]:
    """A synced customer tenant and its users."""
    control = StandinControl(GRAPH.base_url, GRAPH.certificates.ca)
    tenant_id = add_proven_tenant(partner, control, 12)
    control.close()

    def synced() -> bool:
        last = http.get(f"{partner.url}/tenants/{tenant_id}", headers=partner.as_key).json().get("lastSync")
        return bool(last and last["state"] == "succeeded")

    wait_until(synced, timeout=60, what="the tenant's first sync")
    users = http.get(f"{partner.url}/tenants/{tenant_id}/users?top=20", headers=partner.as_key).json()[
        "items"
    ]
    return {"id": tenant_id, "users": users}


def file(partner: PartnerSetup, body: dict[str, Any]) -> httpx.Response:
    return http.post(f"{partner.url}/privacy/requests", headers=partner.as_key, json=body)


def drive(partner: PartnerSetup, request_id: str) -> dict[str, Any]:
    """verify -> approve -> execute (202) -> completed, as a privacy officer's portal would."""
    url = f"{partner.url}/privacy/requests/{request_id}"
    verified = http.post(
        f"{url}/verify",
        headers=partner.as_key,
        json={"method": "controllerConfirmed", "note": "Confirmed by Fabrikam's DPO, ticket 77"},
    )
    assert verified.status_code == 200, verified.text
    assert verified.json()["state"] == "awaitingApproval"
    approved = http.post(f"{url}/approve", headers=partner.bearer())
    assert approved.status_code == 200 and approved.json()["approvedBy"]["type"] == "personnel"
    started = http.post(f"{url}/execute", headers=partner.as_key)
    assert started.status_code == 202, started.text
    assert started.headers["location"] == f"/api/partners/{partner.id}/privacy/requests/{request_id}"

    def finished() -> dict[str, Any] | None:
        body: dict[str, Any] = http.get(url, headers=partner.as_key).json()
        return body if body["state"] in ("completed", "failed") else None

    done = wait_until(finished, timeout=60, what="the request's job")
    assert done["state"] == "completed", done
    return done


def test_an_access_request_ends_in_an_export_fetched_through_a_signed_link(
    partner: PartnerSetup, tenant: dict[str, Any]
) -> None:
    user = tenant["users"][0]
    created = file(
        partner, {"type": "access", "subject": {"email": user["userPrincipalName"]}, "tenantId": tenant["id"]}
    )
    assert created.status_code == 201, created.text
    request = created.json()
    assert request["state"] == "received" and request["dueAt"] and request["id"]
    assert created.headers["location"] == f"/api/partners/{partner.id}/privacy/requests/{request['id']}"
    url = f"{partner.url}/privacy/requests/{request['id']}"
    not_yet = http.get(f"{url}/export", headers=partner.as_key)
    assert not_yet.status_code == 409 and not_yet.headers["content-type"].startswith(
        "application/problem+json"
    )

    done = drive(partner, request["id"])
    assert done["outcome"]["export"]["counts"]
    link = http.get(f"{url}/export", headers=partner.as_key)
    assert link.status_code == 200, link.text
    assert set(link.json()) == {"url", "expiresAt"}
    package = web.get(link.json()["url"])
    assert package.status_code == 200
    assert user["userPrincipalName"].lower() in package.text.lower()
    assert http.get(f"{url}/certificate", headers=partner.as_key).status_code == 409

    events = http.get(f"{partner.url}/events?top=200", headers=partner.as_key).json()["items"]
    mine = [e for e in events if e["target"].get("id") == request["id"]]
    assert {e["action"] for e in mine} >= {
        "privacy.request.received",
        "privacy.request.verified",
        "privacy.request.approved",
        "privacy.request.executionStarted",
        "privacy.request.completed",
        "privacy.request.exportLinkIssued",
    }
    assert user["userPrincipalName"].lower() not in str(mine).lower()


def test_an_erasure_request_ends_with_a_certificate_and_the_user_gone(
    partner: PartnerSetup, tenant: dict[str, Any]
) -> None:
    user = tenant["users"][1]
    body = {"type": "erasure", "subject": {"objectId": user["id"]}, "tenantId": tenant["id"]}
    request = file(partner, body).json()
    done = drive(partner, request["id"])
    assert done["subject"] is None and done["subjectHash"] == request["subjectHash"]
    certificate = http.get(
        f"{partner.url}/privacy/requests/{request['id']}/certificate", headers=partner.as_key
    )
    assert certificate.status_code == 200, certificate.text
    assert certificate.json()["requestId"] == request["id"]
    assert certificate.json()["deleted"].get("tenantUser") == 1
    gone = http.get(f"{partner.url}/tenants/{tenant['id']}/users/{user['id']}", headers=partner.as_key)
    assert gone.status_code == 404


def test_a_duplicate_is_linked_to_the_open_request(partner: PartnerSetup, tenant: dict[str, Any]) -> None:
    email = tenant["users"][2]["userPrincipalName"]
    body = {"type": "restriction", "subject": {"email": email}, "tenantId": tenant["id"]}
    first = file(partner, body).json()
    again = file(partner, {**body, "subject": {"email": email.upper()}})
    assert again.status_code == 201
    assert again.json()["state"] == "linked" and again.json()["duplicateOf"] == first["id"]
    lifting = file(partner, {**body, "lift": True})
    assert lifting.json()["state"] == "received"  # lifting is another request, not a duplicate
    linked = http.get(f"{partner.url}/privacy/requests?state=linked&type=restriction", headers=partner.as_key)
    assert [r["id"] for r in linked.json()["items"]] == [again.json()["id"]]
    assert (
        http.post(
            f"{partner.url}/privacy/requests/{again.json()['id']}/execute", headers=partner.as_key
        ).status_code
        == 409
    )


def test_a_restriction_stops_management_writes_until_it_is_lifted(
    partner: PartnerSetup, tenant: dict[str, Any]
) -> None:
    user = tenant["users"][3]
    user_url = f"{partner.url}/tenants/{tenant['id']}/users/{user['id']}"
    body = {"type": "restriction", "subject": {"objectId": user["id"]}, "tenantId": tenant["id"]}
    drive(partner, file(partner, body).json()["id"])

    refused = http.patch(user_url, headers=partner.as_key, json={"displayName": "Renamed"})
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"].endswith("/subject-restricted")
    assert http.get(user_url, headers=partner.as_key).json()["displayName"] == user["displayName"]

    drive(partner, file(partner, {**body, "lift": True}).json()["id"])
    allowed = http.patch(user_url, headers=partner.as_key, json={"displayName": "Renamed"})
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["displayName"] == "Renamed"


def test_the_deadline_extends_once_by_at_most_60_days(partner: PartnerSetup, tenant: dict[str, Any]) -> None:
    body = {
        "type": "portability",
        "subject": {"email": tenant["users"][3]["userPrincipalName"]},
        "tenantId": tenant["id"],
    }
    request = file(partner, body).json()
    url = f"{partner.url}/privacy/requests/{request['id']}/extend"
    too_long = http.post(url, headers=partner.as_key, json={"days": 61, "reason": "complex"})
    assert too_long.status_code == 422 and too_long.json()["errors"][0]["field"] == "days"
    no_reason = http.post(url, headers=partner.as_key, json={"days": 30})
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
    extended = http.post(url, headers=partner.as_key, json={"days": 60, "reason": "many systems"})
    assert extended.status_code == 200, extended.text
    assert extended.json()["extension"]["previousDueAt"] == request["dueAt"]
    assert extended.json()["dueAt"] > request["dueAt"]
    twice = http.post(url, headers=partner.as_key, json={"days": 1, "reason": "more"})
    assert twice.status_code == 409 and twice.json()["type"].endswith("/already-extended")


def test_bad_input_answers_a_problem_naming_what_is_wrong(
    partner: PartnerSetup, tenant: dict[str, Any]
) -> None:
    base = {"type": "access", "subject": {"email": "someone@fabrikam.example"}, "tenantId": tenant["id"]}
    cases: list[tuple[dict[str, Any] | str, int]] = [
        ({**base, "tenantId": str(uuid.uuid4())}, 422),  # not this partner's tenant
        ({**base, "tenantId": None, "orgId": str(uuid.uuid4())}, 422),  # no such organisation
        ({**base, "type": "delete-everything"}, 422),
        ({**base, "subject": {}}, 422),
        ({**base, "subject": {"email": "not-an-address"}}, 422),
        ({k: v for k, v in base.items() if k != "tenantId"}, 422),
        ({**base, "receivedAt": "2099-01-01T00:00:00Z"}, 422),
        ("{not json", 400),
    ]
    for body, status in cases:
        if isinstance(body, str):
            response = http.post(
                f"{partner.url}/privacy/requests",
                headers={**partner.as_key, "content-type": "application/json"},
                content=body,
            )
        else:
            response = file(partner, body)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        if status == 422:
            assert response.json()["errors"], response.text
    wrong_tenant = file(partner, {**base, "tenantId": str(uuid.uuid4())}).json()
    assert wrong_tenant["errors"] == [{"field": "tenantId", "message": "no such tenant of this partner"}]

    request = file(partner, base).json()
    url = f"{partner.url}/privacy/requests/{request['id']}"
    early = http.post(f"{url}/approve", headers=partner.as_key)
    assert early.status_code == 409 and early.json()["state"] == "received"
    assert http.post(f"{url}/reject", headers=partner.as_key, json={}).status_code == 422
    assert (
        http.post(
            f"{url}/verify", headers=partner.as_key, json={"method": "trustMe", "note": "x"}
        ).status_code
        == 422
    )
    assert (
        http.get(f"{partner.url}/privacy/requests/{uuid.uuid4()}", headers=partner.as_key).status_code == 404
    )
    assert http.get(f"{partner.url}/privacy/requests?state=done", headers=partner.as_key).status_code == 422
    assert http.get(f"{partner.url}/privacy/requests?top=0", headers=partner.as_key).status_code == 422
    rejected = http.post(f"{url}/reject", headers=partner.as_key, json={"reason": "not our customer's user"})
    assert rejected.json()["state"] == "rejected"
    assert http.post(f"{url}/cancel", headers=partner.as_key, json={}).status_code == 409


def test_only_the_privacy_scope_may_file_requests(partner: PartnerSetup, tenant: dict[str, Any]) -> None:
    reader = http.post(
        f"{partner.url}/api-keys", headers=OPERATOR, json={"name": "reader", "scopes": ["read", "write"]}
    ).json()
    body = {"type": "access", "subject": {"email": "x@fabrikam.example"}, "tenantId": tenant["id"]}
    refused = http.post(f"{partner.url}/privacy/requests", headers={"x-api-key": reader["key"]}, json=body)
    assert refused.status_code == 403
    listed = http.get(f"{partner.url}/privacy/requests", headers={"x-api-key": reader["key"]})
    assert listed.status_code == 403


def test_the_list_pages_with_a_continuation_token(partner: PartnerSetup, tenant: dict[str, Any]) -> None:
    for n in range(3):
        body = {"type": "objection", "subject": {"email": f"p{n}@fabrikam.example"}, "tenantId": tenant["id"]}
        assert file(partner, body).status_code == 201
    seen: list[str] = []
    token = None
    while True:
        query: dict[str, Any] = {"top": 2, **({"continuationToken": token} if token else {})}
        page = http.get(f"{partner.url}/privacy/requests", headers=partner.as_key, params=query).json()
        assert len(page["items"]) <= 2
        seen += [r["id"] for r in page["items"]]
        token = page["continuationToken"]
        if not token:
            break
    assert len(seen) == len(set(seen)) >= 3
    assert seen == sorted(seen)


def test_a_key_limited_to_other_tenants_neither_files_nor_sees_this_tenants_requests(
    partner: PartnerSetup, tenant: dict[str, Any]
) -> None:
    body = {"type": "access", "subject": {"email": "scoped@fabrikam.example"}, "tenantId": tenant["id"]}
    request = file(partner, body).json()
    limited = http.post(
        f"{partner.url}/api-keys",
        headers=OPERATOR,
        json={"name": "one", "scopes": ["privacy"], "tenantScope": {"tenantIds": [str(uuid.uuid4())]}},
    ).json()
    as_limited = {"x-api-key": limited["key"]}
    refused = http.post(f"{partner.url}/privacy/requests", headers=as_limited, json=body)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "tenantId"
    url = f"{partner.url}/privacy/requests/{request['id']}"
    assert http.get(url, headers=as_limited).status_code == 404
    assert http.post(f"{url}/cancel", headers=as_limited, json={}).status_code == 404
    listed = http.get(f"{partner.url}/privacy/requests?top=1000", headers=as_limited).json()["items"]
    assert request["id"] not in {r["id"] for r in listed}
    assert http.get(url, headers=partner.as_key).json()["state"] == "received"


def test_a_consent_withdrawal_request_withdraws_through_the_consent_ledger(
    partner: PartnerSetup, tenant: dict[str, Any]
) -> None:
    email = f"reader-{uuid.uuid4().hex[:8]}@fabrikam.example"
    subscribed = http.post(
        f"{partner.api}/api/consent/subscribe",
        json={"partnerId": partner.id, "email": email, "purpose": "newsletter"},
    )
    assert subscribed.status_code == 202, subscribed.text
    outbox = http.get(f"{partner.url}/consent/outbox", headers=partner.as_key).json()["items"]
    token = next(item["confirmToken"] for item in outbox if item["email"] == email)
    assert http.post(f"{partner.api}/api/consent/confirm", json={"token": token}).status_code == 200

    body = {"type": "consentWithdrawal", "subject": {"email": email.upper()}, "tenantId": tenant["id"]}
    done = drive(partner, file(partner, body).json()["id"])
    assert done["outcome"] == {"consentsWithdrawn": 1}
    listed = http.get(f"{partner.url}/consent/contacts?top=1000", headers=partner.as_key).json()["items"]
    assert email not in {c["email"] for c in listed}

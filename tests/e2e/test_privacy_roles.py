"""Controller and processor through the running app: the operator forwards a subject's request to the
partner and never decides one; pushes wait for the partner's owner to approve the Firebase transfer."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.actors import OPERATOR, PartnerSetup, make_partner, operator_bearer
from tests.e2e.dataverse import add_rule, context_for, post_webhook, register_org

http = httpx.Client(timeout=60)


@pytest.fixture(scope="module")
def partner(api: str) -> PartnerSetup:
    return make_partner(api, "eu")


@pytest.fixture(scope="module")
def org(partner: PartnerSetup) -> dict[str, Any]:
    return register_org(partner)


def events(partner: PartnerSetup) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = http.get(f"{partner.url}/events?top=100", headers=partner.as_key).json()[
        "items"
    ]
    return items


def forward(partner: PartnerSetup, body: dict[str, Any]) -> httpx.Response:
    return http.post(f"{partner.url}/privacy/inbound-requests", headers=OPERATOR, json=body)


def test_a_request_that_reaches_tenantry_is_forwarded_to_the_partner_who_alone_decides_it(
    api: str, partner: PartnerSetup, org: dict[str, Any]
) -> None:
    subject = {"email": f"ana.{uuid.uuid4().hex[:8]}@contoso.example"}
    created = forward(partner, {"type": "access", "subject": subject, "orgId": org["id"]})
    assert created.status_code == 201, created.text
    request = created.json()
    assert request["state"] == "received"
    assert request["forwarded"]["to"] == partner.id
    assert request["forwarded"]["by"]["type"] == "operator"
    assert request["forwarded"]["answeredBy"] == "partner"

    # The partner's officers find it in their own list, with the record of who forwarded it when.
    seen = http.get(f"{partner.url}/privacy/requests/{request['id']}", headers=partner.as_key)
    assert seen.status_code == 200 and seen.json()["forwarded"] == request["forwarded"]
    forwarded = [e for e in events(partner) if e["action"] == "privacy.request.forwarded"]
    assert [e["target"]["id"] for e in forwarded] == [request["id"]]
    assert subject["email"] not in str(forwarded)  # the event names the subject by hash only

    # The operator cannot go on with it, by key or by token: the partner (for its customer) decides.
    url = f"{partner.url}/privacy/requests/{request['id']}"
    for headers in (OPERATOR, operator_bearer(api)):
        for step, body in (
            ("verify", {"method": "other", "note": "asked us by mail"}),
            ("approve", {}),
            ("execute", {}),
            ("reject", {"reason": "no"}),
        ):
            refused = http.post(f"{url}/{step}", headers=headers, json=body)
            assert refused.status_code == 403, (step, refused.text)
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert "customers' data" in refused.json()["detail"]
    assert http.get(url, headers=partner.as_key).json()["state"] == "received"

    # ... while the partner's own officer can.
    verified = http.post(
        f"{url}/verify", headers=partner.as_key, json={"method": "controllerConfirmed", "note": "DPO"}
    )
    assert verified.status_code == 200 and verified.json()["state"] == "awaitingApproval"


def test_a_forward_naming_no_customer_or_another_partners_is_refused_and_writes_nothing(
    api: str, partner: PartnerSetup
) -> None:
    before = http.get(f"{partner.url}/privacy/requests?top=100", headers=partner.as_key).json()["items"]
    subject = {"email": "bo@contoso.example"}
    for body in (
        {"type": "access", "subject": subject},  # which customer's data? the partner must know
        {"type": "access", "subject": subject, "orgId": str(uuid.uuid4())},  # not this partner's org
        {"type": "erasure", "subject": subject, "tenantId": "not-a-guid"},
    ):
        refused = forward(partner, body)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
    # A partner's own key is not the operator: the route is the operator's intake.
    assert forward_as(partner, {"type": "access", "subject": subject}).status_code in (401, 403)
    after = http.get(f"{partner.url}/privacy/requests?top=100", headers=partner.as_key).json()["items"]
    assert after == before


def forward_as(partner: PartnerSetup, body: dict[str, Any]) -> httpx.Response:
    return http.post(f"{partner.url}/privacy/inbound-requests", headers=partner.as_key, json=body)


def test_pushes_wait_for_the_owners_approval_of_the_firebase_transfer(api: str) -> None:
    fresh = make_partner(api, "eu", approve_push=False)
    # Before approval the org can still be registered and proven (a delivery: 202, nothing sent).
    org = register_org(fresh)
    add_rule(fresh, org["id"])
    record = http.get(f"{fresh.url}/privacy/processing-activities", headers=fresh.as_key).json()
    assert [(t["service"], t["approved"]) for t in record["transfers"]] == [("firebase", False)]

    direct = http.post(
        f"{fresh.url}/orgs/{org['id']}/notifications",
        headers=fresh.as_key,
        json={"everyone": True, "title": "Hello", "body": "world"},
    )
    assert direct.status_code == 409, direct.text
    assert direct.json()["type"].endswith("transfer-not-approved")
    assert "/privacy/transfers/firebase" in direct.json()["detail"]

    # Dataverse gets 202 (a retry changes nothing until the partner acts); the refusal is recorded.
    delivery = post_webhook(api, org, context_for(org["id"]))
    assert delivery.status_code == 202, delivery.text
    assert delivery.json()["accepted"] == 0 and delivery.json()["refused"] == "transfer-not-approved"
    assert "notification.refused" in [e["action"] for e in events(fresh)]
    listed = http.get(f"{fresh.url}/orgs/{org['id']}/notifications", headers=fresh.as_key).json()
    assert listed["items"] == []

    # Only an owner approves: not a key, not the operator.
    url = f"{fresh.url}/privacy/transfers/firebase"
    assert http.put(url, headers=fresh.as_key).status_code == 403
    assert http.put(url, headers=OPERATOR).status_code == 403
    approved = http.put(url, headers=fresh.bearer())
    assert approved.status_code == 200, approved.text
    assert approved.json()["approved"] is True and approved.json()["approvedBy"]["type"] == "personnel"
    assert "privacy.transfer.approved" in [e["action"] for e in events(fresh)]
    record = http.get(f"{fresh.url}/privacy/processing-activities", headers=OPERATOR).json()
    assert [(t["service"], t["approved"]) for t in record["transfers"]] == [("firebase", True)]

    sent = http.post(
        f"{fresh.url}/orgs/{org['id']}/notifications",
        headers=fresh.as_key,
        json={"everyone": True, "title": "Hello", "body": "world"},
    )
    assert sent.status_code == 202, sent.text
    again = post_webhook(api, org, context_for(org["id"]))
    assert again.status_code == 202 and again.json().get("refused") is None


def test_people_whose_data_tenantry_controls_are_answered_by_the_operator_on_the_30_day_clock(
    api: str, partner: PartnerSetup
) -> None:
    url = f"{api}/api/privacy/controller-requests"
    body = {
        "type": "access",
        "subject": {"email": f"it.{uuid.uuid4().hex[:6]}@msp.example"},
        "category": "partnerPersonnel",
        "partnerId": partner.id,
    }
    for wrong in (
        {**body, "category": "siteContact"},  # a site contact belongs to no partner
        {**body, "partnerId": "01J0000000000000000000000Z"},  # no such partner
    ):
        refused = http.post(url, headers=OPERATOR, json=wrong)
        assert refused.status_code == 422, refused.text
    assert http.post(url, headers=partner.as_key, json=body).status_code in (401, 403)
    assert http.post(url, headers=partner.bearer(), json=body).status_code in (401, 403)

    created = http.post(url, headers=OPERATOR, json=body)
    assert created.status_code == 201, created.text
    request = created.json()
    assert request["controller"] == {"category": "partnerPersonnel", "partnerId": partner.id}
    assert request["state"] == "received" and request["deadlineState"] == "open"
    one = f"{url}/{request['id']}"
    assert created.headers["location"] == f"/api/privacy/controller-requests/{request['id']}"
    # Not the partner's to see or decide: it is about the partner's people, and Tenantry answers it.
    assert (
        http.get(f"{partner.url}/privacy/requests/{request['id']}", headers=partner.as_key).status_code == 404
    )
    assert http.get(one, headers=partner.as_key).status_code in (401, 403)

    steps = (
        ("verify", {"method": "signedInAccount", "note": "asked from their own account"}),
        ("approve", {}),
        ("resolve", {"note": "Sent the personnel record and the sign-in history"}),
    )
    for step, payload in steps:
        moved = http.post(f"{one}/{step}", headers=OPERATOR, json=payload)
        assert moved.status_code == 200, (step, moved.text)
    done = http.get(one, headers=operator_bearer(api)).json()
    assert (done["state"], done["deadlineState"]) == ("completed", "met")
    listed = http.get(url, headers=OPERATOR).json()["items"]
    assert request["id"] in [r["id"] for r in listed]

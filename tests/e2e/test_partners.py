"""Partners, subscriptions, personnel, API keys and personnel tokens through the local host."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.actors import (
    AUDIENCE,
    CLIENT_ID,
    OPERATOR,
    PartnerSetup,
    expired_token,
    forged_token,
    make_partner,
    partner_body,
)
from tests.web import web


@pytest.fixture(scope="module")
def partner(api: str) -> PartnerSetup:
    return make_partner(api)


def test_create_partner_returns_201_with_location_and_trial(api: str) -> None:
    body = partner_body(
        subscription={"plan": "standard", "tenantLimit": 25, "billingCycle": "monthly", "trialDays": 14}
    )
    response = web.post(f"{api}/api/partners", json=body, headers=OPERATOR)
    assert response.status_code == 201
    created = response.json()
    assert response.headers["location"] == f"/api/partners/{created['id']}"
    assert created["region"] == "eu"
    assert created["subscription"]["state"] == "trial"
    assert created["subscription"]["trialEndsAt"].endswith("Z")
    assert created["entraTenantId"] == body["entraTenantId"]


def test_unknown_region_is_422_naming_the_allowed_list(api: str) -> None:
    response = web.post(f"{api}/api/partners", json=partner_body("mars"), headers=OPERATOR)
    assert response.status_code == 422
    assert "eu, us" in response.json()["detail"]


def test_invalid_fields_are_each_named(api: str) -> None:
    body = partner_body(entraTenantId="not-a-guid", contact={"name": "", "email": "nope"})
    response = web.post(f"{api}/api/partners", json=body, headers=OPERATOR)
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"entraTenantId", "contact.name", "contact.email"} <= fields


def test_only_the_operator_creates_partners(api: str, partner: PartnerSetup) -> None:
    for headers in ({}, partner.as_key, {"x-api-key": "guess"}):
        assert web.post(f"{api}/api/partners", json=partner_body(), headers=headers).status_code == 401
    # A person's genuine token, without the operator's app role: known, but not allowed.
    refused = web.post(f"{api}/api/partners", json=partner_body(), headers=partner.bearer())
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/insufficient-scope")
    assert "Tenantry.Operator" in refused.json()["detail"]


def test_partner_reads_itself_by_key_and_by_token(partner: PartnerSetup) -> None:
    assert web.get(partner.url, headers=partner.as_key).json()["id"] == partner.id
    assert web.get(partner.url, headers=partner.bearer()).json()["id"] == partner.id


def test_tokens_are_checked(partner: PartnerSetup) -> None:
    def status(token: str) -> int:
        return web.get(partner.url, headers={"authorization": f"Bearer {token}"}).status_code

    assert status(expired_token(partner)) == 401
    assert status(forged_token(partner)) == 401
    assert status("not.a.jwt") == 401
    # Valid signature, but a person the partner never invited: as if the partner did not exist.
    assert status(partner.token(object_id=str(uuid.uuid4()))) == 404


def test_two_credentials_at_once_are_refused(api: str, partner: PartnerSetup) -> None:
    both = {**partner.as_key, **partner.bearer()}
    assert web.get(partner.url, headers=both).status_code == 401
    # A good key never excuses a bad token beside it, the break-glass key least of all.
    for authorization in ("Bearer not.a.jwt", "Basic b3A6b3A=", ""):
        bad = {**OPERATOR, "authorization": authorization}
        assert web.post(f"{api}/api/partners", json=partner_body(), headers=bad).status_code == 401


@pytest.mark.parametrize("version", ["1.0", "2.0"])
@pytest.mark.parametrize("audience", [AUDIENCE, CLIENT_ID])
def test_v1_and_v2_tokens_for_either_name_of_the_api_work(
    partner: PartnerSetup, version: str, audience: str
) -> None:
    response = web.get(partner.url, headers=partner.bearer(version=version, audience=audience))
    assert response.status_code == 200, response.text
    assert response.json()["id"] == partner.id


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_a_token_of_another_tenant_or_issuer_is_as_if_the_partner_did_not_exist(
    partner: PartnerSetup, version: str
) -> None:
    # The owner's object id, but issued by another tenant, or by the tenant's id on another issuer.
    other_tenant = partner.bearer(tenant_id=str(uuid.uuid4()), version=version)
    assert web.get(partner.url, headers=other_tenant).status_code == 404
    elsewhere = partner.bearer(
        authority_host="https://login.example", v1_host="https://sts.example", version=version
    )
    assert web.get(partner.url, headers=elsewhere).status_code == 404


def test_a_token_for_another_api_or_without_the_scope_is_403_naming_what_is_missing(
    partner: PartnerSetup,
) -> None:
    for version in ("1.0", "2.0"):
        foreign = web.get(partner.url, headers=partner.bearer(audience="api://someone-else", version=version))
        assert foreign.status_code == 403
        assert foreign.headers["content-type"].startswith("application/problem+json")
        assert foreign.json()["type"].endswith("/insufficient-scope")
        assert "another API" in foreign.json()["detail"]
    for scopes in (None, "User.Read", "access_as_user.other"):
        unscoped = web.get(partner.url, headers=partner.bearer(scopes=scopes))
        assert unscoped.status_code == 403
        assert unscoped.json()["type"].endswith("/insufficient-scope")
        assert "'access_as_user'" in unscoped.json()["detail"]
    # The scope among others is enough.
    assert web.get(partner.url, headers=partner.bearer(scopes="User.Read access_as_user")).status_code == 200


def test_subscription_change_waits_for_next_cycle(api: str) -> None:
    p = make_partner(api)
    before = web.get(p.url, headers=OPERATOR).json()["subscription"]
    response = web.patch(
        f"{p.url}/subscription", json={"plan": "premium", "tenantLimit": 100}, headers=OPERATOR
    )
    assert response.status_code == 200
    sub = response.json()["subscription"]
    assert (sub["plan"], sub["tenantLimit"]) == ("standard", 25)
    assert sub["pendingChange"] == {
        "plan": "premium",
        "tenantLimit": 100,
        "billingCycle": None,  # added by self-service (#18): a cycle change waits for the next cycle too
        "effectiveAt": before["currentPeriodEnd"],
    }
    # A partner cannot change its own subscription.
    assert web.patch(f"{p.url}/subscription", json={"plan": "x"}, headers=p.as_key).status_code == 401


def test_termination_is_scheduled_with_deletions(api: str) -> None:
    p = make_partner(api)
    sub = web.post(f"{p.url}/subscription/terminate", headers=OPERATOR).json()["subscription"]
    assert sub["state"] == "active"
    assert sub["terminationEffectiveAt"] == sub["currentPeriodEnd"]
    assert sub["deletionSchedule"]["endUserDataAt"] == sub["currentPeriodEnd"]
    assert sub["deletionSchedule"]["personnelDataAt"] > sub["currentPeriodEnd"]
    again = web.post(f"{p.url}/subscription/terminate", headers=OPERATOR)
    assert again.status_code == 409


def test_past_due_subscription_is_read_only(api: str) -> None:
    p = make_partner(api)
    assert (
        web.put(f"{p.url}/subscription/state", json={"state": "past_due"}, headers=OPERATOR).status_code
        == 200
    )
    refused = web.post(f"{p.url}/api-keys", json={"name": "x", "scopes": ["read"]}, headers=p.bearer())
    assert refused.status_code == 402
    assert refused.json()["type"].endswith("/subscription-past-due")
    assert web.get(p.url, headers=p.as_key).status_code == 200  # reads still work
    web.put(f"{p.url}/subscription/state", json={"state": "active"}, headers=OPERATOR)
    allowed = web.post(f"{p.url}/api-keys", json={"name": "x", "scopes": ["read"]}, headers=p.bearer())
    assert allowed.status_code == 201


def test_personnel_roles_and_the_last_owner(api: str) -> None:
    p = make_partner(api)
    viewer_oid = str(uuid.uuid4())
    invited = web.post(
        f"{p.url}/personnel",
        headers=p.bearer(),
        json={"objectId": viewer_oid, "email": "Viewer@Contoso.example", "role": "viewer"},
    )
    assert invited.status_code == 201
    viewer = invited.json()
    assert viewer["email"] == "viewer@contoso.example"
    # A viewer reads, but manages nobody.
    assert web.get(p.url, headers=p.bearer(viewer_oid)).status_code == 200
    assert web.get(f"{p.url}/personnel", headers=p.bearer(viewer_oid)).status_code == 403
    # Same person twice: refused.
    again = web.post(
        f"{p.url}/personnel",
        headers=p.bearer(),
        json={"objectId": viewer_oid, "email": "v@contoso.example", "role": "viewer"},
    )
    assert again.status_code == 409
    # The only owner can neither leave nor be demoted...
    owner_url = f"{p.url}/personnel/{p.owner_id}"
    assert web.delete(owner_url, headers=OPERATOR).status_code == 409
    assert web.patch(owner_url, json={"role": "admin"}, headers=OPERATOR).status_code == 409
    # ...until another owner exists.
    promoted = web.patch(f"{p.url}/personnel/{viewer['id']}", json={"role": "owner"}, headers=p.bearer())
    assert promoted.json()["role"] == "owner"
    assert web.delete(owner_url, headers=p.bearer(viewer_oid)).status_code == 204
    assert web.get(owner_url, headers=OPERATOR).json()["status"] == "deactivated"
    # A deactivated person's token no longer opens anything.
    assert web.get(p.url, headers=p.bearer()).status_code == 403


def test_api_keys_are_shown_once_and_revoked_at_once(partner: PartnerSetup) -> None:
    created = web.post(
        f"{partner.url}/api-keys", headers=partner.bearer(), json={"name": "psa-sync", "scopes": ["read"]}
    )
    assert created.status_code == 201
    key = created.json()
    headers = {"x-api-key": key["key"]}
    assert web.get(partner.url, headers=headers).status_code == 200
    listed = web.get(f"{partner.url}/api-keys", headers=partner.bearer()).text
    assert key["key"] not in listed and key["id"] in listed
    # A read-only key cannot write.
    assert (
        web.post(
            f"{partner.url}/api-keys", headers=headers, json={"name": "y", "scopes": ["read"]}
        ).status_code
        == 403
    )
    # A rotation keeps the old secret working for its overlap (24 hours by default), and says so.
    rotated = web.post(f"{partner.url}/api-keys/{key['id']}/rotate", headers=partner.bearer()).json()
    assert rotated["previousKeyValidUntil"] is not None
    assert web.get(partner.url, headers=headers).status_code == 200
    assert web.get(partner.url, headers={"x-api-key": rotated["key"]}).status_code == 200
    # With no overlap (a leaked key), the replaced secret stops at once.
    leaked = web.post(
        f"{partner.url}/api-keys/{key['id']}/rotate", headers=partner.bearer(), json={"overlapHours": 0}
    ).json()
    assert leaked["previousKeyValidUntil"] is None
    for replaced in (key["key"], rotated["key"]):
        assert web.get(partner.url, headers={"x-api-key": replaced}).status_code == 401
    rotated = leaked
    assert web.get(partner.url, headers={"x-api-key": rotated["key"]}).status_code == 200
    assert web.delete(f"{partner.url}/api-keys/{key['id']}", headers=partner.bearer()).status_code == 204
    assert web.get(partner.url, headers={"x-api-key": rotated["key"]}).status_code == 401


def test_keys_cannot_manage_access_or_expire_in_the_past(partner: PartnerSetup) -> None:
    bad_scope = web.post(
        f"{partner.url}/api-keys", headers=partner.bearer(), json={"name": "x", "scopes": ["manageAccess"]}
    )
    assert bad_scope.status_code == 422
    past = web.post(
        f"{partner.url}/api-keys",
        headers=partner.bearer(),
        json={"name": "x", "scopes": ["read"], "expiresAt": "2020-01-01T00:00:00Z"},
    )
    assert past.status_code == 422
    assert web.get(f"{partner.url}/personnel", headers=partner.as_key).status_code == 403


def test_tenant_groups_and_scoped_people(partner: PartnerSetup) -> None:
    tenant = str(uuid.uuid4())
    saved = web.put(
        f"{partner.url}/tenant-groups/emea", headers=partner.bearer(), json={"tenantIds": [tenant]}
    )
    assert saved.json() == {"name": "emea", "tenantIds": [tenant]}
    tech = str(uuid.uuid4())
    person = web.post(
        f"{partner.url}/personnel",
        headers=partner.bearer(),
        json={
            "objectId": tech,
            "email": "tech@contoso.example",
            "role": "operator",
            "tenantScope": {"groups": ["emea"]},
        },
    ).json()
    assert person["tenantScope"] == {"tenantIds": [], "groups": ["emea"]}
    bad = web.put(f"{partner.url}/tenant-groups/bad%20name", headers=partner.bearer(), json={"tenantIds": []})
    assert bad.status_code == 422


def test_usage_counts_api_calls_of_the_partner(api: str) -> None:
    p = make_partner(api, approve_push=False)  # no call of the partner's own before these
    for _ in range(3):
        web.get(p.url, headers=p.as_key)
    usage = web.get(f"{p.url}/usage", headers=p.as_key).json()
    assert usage["units"]["apiCalls"] == 4  # three reads, and this call
    assert web.get(f"{p.url}/usage?month=2026-13", headers=p.as_key).status_code == 422

"""`GET /api/me`: the signed-in person learns which partners of their Entra tenant they work for."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from shared.partners.directory import TABLE as DIRECTORY
from shared.partners.directory import TENANT_INDEX_MARK, tenant_entry
from shared.storage import tables
from shared.storage.router import StorageRouter
from tests.e2e.actors import PartnerSetup, expired_token, forged_token, make_partner, operator_bearer
from tests.web import web


def me(api: str, headers: dict[str, str]) -> Any:
    response = web.get(f"{api}/api/me", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def partner_ids(body: Any) -> list[str]:
    return [m["partnerId"] for m in body["memberships"]]


@pytest.fixture(scope="module")
def a(api: str) -> PartnerSetup:
    return make_partner(api, "eu", approve_push=False, displayName="Alpha IT")


@pytest.fixture(scope="module")
def b(api: str) -> PartnerSetup:
    return make_partner(api, "us", approve_push=False, displayName="Bravo IT")


def test_the_owner_of_a_sees_a_only(api: str, a: PartnerSetup, b: PartnerSetup) -> None:
    body = me(api, a.bearer(name="Olly Owner"))
    assert body["objectId"] == a.owner_object_id
    assert body["tenantId"] == a.entra_tenant_id
    assert body["displayName"] == "Olly Owner"
    assert body["memberships"] == [
        {
            "partnerId": a.id,
            "partnerDisplayName": "Alpha IT",
            "region": "eu",
            "personnelId": a.owner_id,
            "role": "owner",
            "tenantScope": None,
        }
    ]


def test_a_person_of_b_sees_b_with_their_role_and_scope(api: str, a: PartnerSetup, b: PartnerSetup) -> None:
    oid = str(uuid.uuid4())
    scope = {"tenantIds": [str(uuid.uuid4())], "groups": []}
    invited = web.post(
        f"{b.url}/personnel",
        headers=b.bearer(),
        json={"objectId": oid, "email": "vic@bravo.example", "role": "viewer", "tenantScope": scope},
    )
    assert invited.status_code == 201, invited.text
    (membership,) = me(api, b.bearer(oid))["memberships"]
    assert membership["partnerId"] == b.id and membership["region"] == "us"
    assert membership["personnelId"] == invited.json()["id"]
    assert membership["role"] == "viewer" and membership["tenantScope"] == scope
    # The same object id under A's tenant is someone else: A has no such person.
    assert me(api, a.bearer(oid))["memberships"] == []


def test_a_person_in_two_partners_of_one_tenant_sees_both_until_deactivated(
    api: str, a: PartnerSetup
) -> None:
    sibling = make_partner(api, "us", approve_push=False, entraTenantId=a.entra_tenant_id)
    invited = web.post(
        f"{sibling.url}/personnel",
        headers=sibling.bearer(),
        json={"objectId": a.owner_object_id, "email": "o@alpha.example", "role": "admin"},
    )
    assert invited.status_code == 201, invited.text
    assert sorted(partner_ids(me(api, a.bearer()))) == sorted([a.id, sibling.id])

    deactivated = web.patch(
        f"{sibling.url}/personnel/{invited.json()['id']}",
        headers=sibling.bearer(),
        json={"status": "deactivated"},
    )
    assert deactivated.status_code == 200, deactivated.text
    assert partner_ids(me(api, a.bearer())) == [a.id]


def test_someone_no_partner_invited_is_signed_in_with_no_memberships(api: str, a: PartnerSetup) -> None:
    stranger, their_tenant = str(uuid.uuid4()), str(uuid.uuid4())
    body = me(api, a.bearer(stranger, tenant_id=their_tenant))
    assert body["objectId"] == stranger and body["tenantId"] == their_tenant
    assert body["memberships"] == []


def test_the_operator_is_signed_in_with_no_memberships(api: str) -> None:
    body = me(api, operator_bearer(api))
    assert body["displayName"] == "Olga Operator"
    assert body["memberships"] == []


def test_bad_tokens_and_keys_are_refused_as_problems(api: str, a: PartnerSetup) -> None:
    refusals = {
        "no credential": ({}, 401),
        "expired token": ({"authorization": f"Bearer {expired_token(a)}"}, 401),
        "forged token": ({"authorization": f"Bearer {forged_token(a)}"}, 401),
        "api key": (a.as_key, 401),  # a key names an app, not a person
        # Genuine but not for this API (another audience, no access_as_user): 403, as on every route.
        "other audience": (a.bearer(audience="api://someone-else"), 403),
        "no scope": (a.bearer(scopes=None), 403),
    }
    for name, (headers, status) in refusals.items():
        response = web.get(f"{api}/api/me", headers=headers)
        assert response.status_code == status, (name, response.text)
        assert response.headers["content-type"].startswith("application/problem+json"), name
        assert a.id not in response.text, name


def test_a_partner_created_before_the_tenant_index_is_found_and_indexed(
    api: str, router: StorageRouter
) -> None:
    old = make_partner(api, "eu", approve_push=False)
    # As a stamp from before the index: no row for the partner's tenant, no completion mark.
    directory = router.control.table(DIRECTORY)
    entry = tenant_entry(old.entra_tenant_id, old.id)
    tables.delete(directory, *entry)
    tables.delete(directory, *TENANT_INDEX_MARK)
    assert tables.get(directory, *entry) is None

    assert partner_ids(me(api, old.bearer())) == [old.id]
    assert tables.get(directory, *entry) is not None
    assert tables.get(directory, *TENANT_INDEX_MARK) is not None


def test_a_new_partner_writes_its_own_tenant_index_row(
    api: str, a: PartnerSetup, router: StorageRouter
) -> None:
    me(api, a.bearer())  # the index is complete from here: no later call backfills anything
    directory = router.control.table(DIRECTORY)
    assert tables.get(directory, *TENANT_INDEX_MARK) is not None
    new = make_partner(api, "us", approve_push=False)
    assert tables.get(directory, *tenant_entry(new.entra_tenant_id, new.id)) is not None

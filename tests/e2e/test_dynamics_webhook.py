"""The Dataverse webhook's remembered organisation: a change to its keys counts from the next call.

The host remembers the org a webhook or device authenticates against for a few seconds; each test
first makes a call that fills that memory, then changes the org and calls again at once.
"""

from __future__ import annotations

from tests.e2e.actors import PartnerSetup
from tests.e2e.dataverse import (
    INITIATING_USER,
    add_rule,
    add_user,
    context_for,
    device_call,
    org_body,
    post_webhook,
    register_org,
    user_token,
)
from tests.web import web


def test_a_changed_webhook_authentication_counts_from_the_next_delivery(
    api: str, partner: PartnerSetup
) -> None:
    org = register_org(partner)
    add_rule(partner, org["id"])
    assert post_webhook(api, org, context_for(org["id"])).status_code == 202

    to_header = {"webhookAuth": {"type": "HttpHeader", "headerName": "x-tenantry-key"}}
    patched = web.patch(f"{partner.url}/orgs/{org['id']}", json=to_header, headers=partner.as_key)
    assert patched.status_code == 200, patched.text
    assert post_webhook(api, org, context_for(org["id"])).status_code == 401
    header = {"x-tenantry-key": org["webhookKey"]}
    assert post_webhook(api, org, context_for(org["id"]), code="", **header).status_code == 202

    back = web.patch(
        f"{partner.url}/orgs/{org['id']}",
        json={"webhookAuth": {"type": "WebhookKey"}},
        headers=partner.as_key,
    )
    assert back.status_code == 200, back.text
    assert post_webhook(api, org, context_for(org["id"]), code="", **header).status_code == 401
    assert post_webhook(api, org, context_for(org["id"])).status_code == 202


def test_a_deleted_org_refuses_its_key_at_once_and_registered_again_takes_only_its_new_key(
    api: str, partner: PartnerSetup
) -> None:
    org = register_org(partner)
    add_rule(partner, org["id"])
    assert post_webhook(api, org, context_for(org["id"])).status_code == 202

    deleted = web.delete(f"{partner.url}/orgs/{org['id']}", headers=partner.as_key)
    assert deleted.status_code == 204, deleted.text
    assert post_webhook(api, org, context_for(org["id"])).status_code == 401

    again = web.post(f"{partner.url}/orgs", json=org_body(org["id"]), headers=partner.as_key)
    assert again.status_code == 201, again.text
    fresh = again.json()
    add_rule(partner, org["id"])
    assert post_webhook(api, fresh, context_for(org["id"])).status_code == 202
    assert post_webhook(api, org, context_for(org["id"])).status_code == 401


def test_a_rotated_device_key_is_refused_from_the_next_registration(api: str, partner: PartnerSetup) -> None:
    org = register_org(partner)
    as_user = user_token(api, org["tenantId"], add_user(partner, org, INITIATING_USER))

    def register(key: str) -> int:
        body = {"systemUserId": INITIATING_USER, "token": f"token-{key[-8:]}"}
        return device_call(api, org, body, as_user, key=key).status_code

    assert register(org["deviceKey"]) == 201
    rotated = web.post(f"{partner.url}/orgs/{org['id']}/device-key/rotate", headers=partner.as_key)
    assert rotated.status_code == 200, rotated.text
    assert register(org["deviceKey"]) == 401
    assert register(rotated.json()["deviceKey"]) == 201

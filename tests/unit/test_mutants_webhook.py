"""The webhook's key check and who a push is for, where the mutation score found no test that cared."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from shared.access.api_keys import hash_key
from shared.errors import ProblemError
from shared.keys import WEBHOOK_KEY, legacy_hmac, pepper_ring
from shared.notifications.dataverse import parse_context
from shared.notifications.models import RuleOut
from shared.notifications.orgs import Org, OrgLocation
from shared.notifications.payload import NewNotification
from shared.notifications.webhook import check_webhook_secret, plan, webhook_secret_matches

PEPPER = "pepper-of-this-test"
HASHES = pepper_ring(PEPPER).hasher(WEBHOOK_KEY, legacy_hmac)  # the orgs below are stored the old way
KEY = "whk_01TESTPARTNER0000000000000_the-secret-part"
SAMPLE: dict[str, Any] = json.loads(
    (
        Path(__file__).resolve().parents[1] / "fixtures" / "dataverse" / "update-contact-webhook.json"
    ).read_text()
)
ORG = OrgLocation(SAMPLE["OrganizationId"], "01TESTPARTNER0000000000000", "eu")
OWNER = "0A1B2C3D-0000-4000-8000-00000000000F"


def org(auth_type: str = "WebhookKey", header: str | None = None, key: str = KEY) -> Org:
    return Org(
        id=ORG.org_id,
        partner_id=ORG.partner_id,
        unique_name="contoso",
        name="Contoso",
        language_code=1033,
        business={},
        administrators=[],
        webhook_auth_type=auth_type,
        webhook_header_name=header,
        webhook_key_hash=hash_key(key, PEPPER),
        device_key_hash="-",
        created_at="2026-03-01T00:00:00Z",
    )


# --- the key: `code` for WebhookKey, the named header for HttpHeader -------------------------------


def test_a_webhook_key_org_takes_its_key_as_code_and_only_there() -> None:
    keyed = org()
    assert webhook_secret_matches(keyed, KEY, {}, HASHES)
    assert not webhook_secret_matches(keyed, None, {"x-tenantry-key": KEY, "code": KEY}, HASHES)
    assert not webhook_secret_matches(keyed, KEY + "x", {}, HASHES)
    assert not webhook_secret_matches(
        keyed, KEY, {}, pepper_ring("another pepper").hasher(WEBHOOK_KEY, legacy_hmac)
    )


def test_a_header_org_takes_its_key_from_its_header_named_in_any_case() -> None:
    headed = org("HttpHeader", "X-Tenantry-Key")
    # Headers arrive lower-cased (the host's mapping); the stored name keeps the partner's spelling.
    assert webhook_secret_matches(headed, None, {"x-tenantry-key": KEY}, HASHES)
    assert not webhook_secret_matches(headed, KEY, {}, HASHES)
    assert not webhook_secret_matches(headed, None, {"x-other": KEY}, HASHES)
    assert not webhook_secret_matches(headed, None, {"x-tenantry-key": "wrong"}, HASHES)


def test_no_key_never_matches_even_an_org_whose_key_is_empty() -> None:
    # An org whose stored hash is the hash of "" must still refuse a delivery without a key.
    empty = org(key="")
    assert not webhook_secret_matches(empty, None, {}, HASHES)
    assert not webhook_secret_matches(empty, "", {}, HASHES)
    headed_without_name = org("HttpHeader", None, key="")
    assert not webhook_secret_matches(headed_without_name, None, {"": ""}, HASHES)


def test_check_refuses_a_wrong_key_with_401_and_lets_the_right_one_through() -> None:
    check_webhook_secret(org(), KEY, {}, HASHES)
    check_webhook_secret(org("HttpHeader", "X-Tenantry-Key"), None, {"x-tenantry-key": KEY}, HASHES)
    with pytest.raises(ProblemError) as refused:
        check_webhook_secret(org(), "wrong", {}, HASHES)
    assert refused.value.status == 401
    assert refused.value.detail == "The webhook key is missing or wrong."


# --- who the push is for ---------------------------------------------------------------------------


def rule(recipients: dict[str, Any]) -> RuleOut:
    return RuleOut.model_validate(
        {
            "id": "r1",
            "entity": "contact",
            "message": "update",
            "title": "t",
            "body": "b",
            "recipients": recipients,
            "enabled": True,
            "createdAt": "2026-03-01T00:00:00Z",
        }
    )


def planned(recipients: dict[str, Any], body: dict[str, Any]) -> NewNotification:
    [made] = plan(ORG, [rule(recipients)], parse_context(body), json.dumps(body).encode())
    return made


def test_the_initiating_user_wins_over_the_user_the_step_runs_as() -> None:
    # A step registered to run as a service account: the person who made the change gets the push.
    body = {**SAMPLE, "UserId": "11111111-1111-4111-8111-111111111111"}
    made = planned({"type": "initiatingUser"}, body)
    assert (made.recipients, made.needs_record) == ([SAMPLE["InitiatingUserId"]], False)
    without_initiating = {k: v for k, v in body.items() if k != "InitiatingUserId"}
    made = planned({"type": "initiatingUser"}, without_initiating)
    assert made.recipients == ["11111111-1111-4111-8111-111111111111"]


def test_the_owner_in_the_post_image_gets_the_push() -> None:
    body = copy.deepcopy(SAMPLE)
    image = body["PostEntityImages"][0]["value"]
    image["Attributes"].append(
        {"key": "ownerid", "value": {"Id": OWNER, "LogicalName": "systemuser", "Name": "Owner"}}
    )
    made = planned({"type": "owner"}, body)
    assert (made.recipients, made.needs_record) == ([OWNER.lower()], False)

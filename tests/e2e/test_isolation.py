"""Partners never see each other: every route in the OpenAPI document refuses what it must.

The routes come from the running app's own document, so an endpoint added later joins this test
without anyone remembering to add it.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.actors import OPERATOR, PartnerSetup, expired_token, forged_token, make_partner

MEANT_PUBLIC = {("get", "/api/health"), ("get", "/api/openapi.json"), ("get", "/api/docs")}
# Transparency about Tenantry's own processing (Art. 28(2)/(4), Art. 30): no partner's data, and
# partners and prospects must be able to show it to their customers before and after signing.
MEANT_PUBLIC |= {("get", "/api/privacy/processing-activities"), ("get", "/api/privacy/subprocessors")}
# A partner's newsletter sign-up form and the links in its mails: the people calling them have no
# credential; confirm/unsubscribe carry a signed token instead, and all three are rate-limited.
MEANT_PUBLIC |= {
    ("post", "/api/consent/subscribe"),
    ("post", "/api/consent/confirm"),
    ("post", "/api/consent/unsubscribe"),
}


@pytest.fixture(scope="module")
def world(api: str) -> dict[str, Any]:
    victim = make_partner(api, "eu")
    stranger = make_partner(api, "us")
    revoked = httpx.post(
        f"{victim.url}/api-keys",
        headers=OPERATOR,
        json={"name": "old", "scopes": ["read", "write", "notify", "privacy"]},
    ).json()
    assert httpx.delete(f"{victim.url}/api-keys/{revoked['id']}", headers=OPERATOR).status_code == 204
    document = httpx.get(f"{api}/api/openapi.json").json()
    operations = [(method, path, op) for path, ops in document["paths"].items() for method, op in ops.items()]
    return {"victim": victim, "stranger": stranger, "revoked_key": revoked["key"], "operations": operations}


def concrete(path: str, victim: PartnerSetup) -> str:
    def value(match: re.Match[str]) -> str:
        return victim.id if match.group(1) == "partnerId" else str(uuid.uuid4())

    return re.sub(r"\{([^}]+)\}", value, path)


def call(api: str, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.request(method.upper(), api + path, headers=headers, json={})


def test_every_operation_declares_who_may_call_it(world: dict[str, Any]) -> None:
    for method, path, op in world["operations"]:
        if not op["security"]:
            assert (method, path) in MEANT_PUBLIC, f"{method.upper()} {path} is public by accident?"


# Routes outside /partners/{partnerId} that organisations and their devices call: each names its
# own scheme, so a partner credential alone never reaches them unless the route says so.
OWN_SCHEMES = {"deviceKey", "deviceSecret", "webhookKey"}


def test_routes_outside_partner_paths_use_device_or_webhook_credentials(world: dict[str, Any]) -> None:
    for method, path, op in world["operations"]:
        if not op["security"] or "{partnerId}" in path or (method, path) in MEANT_PUBLIC:
            continue
        schemes = {name for requirement in op["security"] for name in requirement}
        if path.startswith(("/api/partners", "/api/privacy", "/api/operator")):
            continue
        assert schemes & OWN_SCHEMES, f"{method.upper()} {path} is outside partner paths: {schemes}"


def credentials(world: dict[str, Any]) -> dict[str, dict[str, str]]:
    victim: PartnerSetup = world["victim"]
    stranger: PartnerSetup = world["stranger"]
    return {
        "none": {},
        "foreign key": stranger.as_key,
        "foreign token": stranger.bearer(),
        "expired token": {"authorization": f"Bearer {expired_token(victim)}"},
        "forged token": {"authorization": f"Bearer {forged_token(victim)}"},
        "revoked key": {"x-api-key": world["revoked_key"]},
        "garbage key": {"x-api-key": "tk_" + "A" * 60},
        # Device and webhook routes have their own credentials (deviceKey, deviceSecret, webhookKey):
        # well-formed but unknown ones are refused everywhere too.
        "garbage device key": {"x-device-key": "dk_" + "A" * 32},
        "forged device secret": {"x-device-secret": f"ds_{uuid.uuid4().hex}_{'0' * 26}_{'A' * 43}"},
    }


def test_every_protected_route_refuses_foreign_missing_and_bad_credentials(
    api: str, world: dict[str, Any]
) -> None:
    victim: PartnerSetup = world["victim"]
    failures = []
    checked = 0
    for method, path, op in world["operations"]:
        if not op["security"]:
            continue
        url = concrete(path, victim)
        partner_scoped = "{partnerId}" in path
        operator_only = [s for s in op["security"] if "bearer" not in s] == op["security"]
        for name, headers in credentials(world).items():
            response = call(api, method, url, headers)
            checked += 1
            # A valid credential of another partner gets 404 on partner paths: no existence leak.
            foreign = name.startswith("foreign") and partner_scoped and not operator_only
            expected = {404} if foreign else {401}
            if response.status_code not in expected:
                failures.append(
                    f"{method.upper()} {path} with {name}: {response.status_code} {response.text[:120]}"
                )
            elif not response.headers["content-type"].startswith("application/problem+json"):
                failures.append(f"{method.upper()} {path} with {name}: not problem+json")
    assert checked > 100
    assert failures == []


def test_a_foreign_partner_sees_nothing_of_the_victims_data(api: str, world: dict[str, Any]) -> None:
    victim: PartnerSetup = world["victim"]
    stranger: PartnerSetup = world["stranger"]
    body = httpx.get(f"{stranger.url}/events?top=1000", headers=stranger.as_key).text
    assert victim.id not in body
    assert httpx.get(f"{victim.url}/events", headers=stranger.as_key).status_code == 404

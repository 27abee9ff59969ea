"""The operator is a person with a name: Entra tokens with the operator's app role, and a
break-glass key that is off unless set, logged on every use, and kept off end-user data."""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from localdev.stack import local_host, wait_until
from tests.e2e.actors import (
    CLIENT_ID,
    OPERATOR,
    PartnerSetup,
    make_partner,
    operator_bearer,
    partner_body,
)
from tests.web import web


@pytest.fixture(scope="module")
def partner(api: str) -> PartnerSetup:
    return make_partner(api)


def created_event(api: str, partner_id: str, headers: dict[str, str]) -> dict[str, Any]:
    events = web.get(f"{api}/api/partners/{partner_id}/events?action=partner.created", headers=headers)
    assert events.status_code == 200, events.text
    (event,) = events.json()["items"]
    return event  # type: ignore[no-any-return]


@pytest.mark.parametrize("version", ["2.0", "1.0"])
def test_an_operator_token_creates_a_partner_and_the_audit_log_names_that_person(
    api: str, version: str
) -> None:
    oid = str(uuid.uuid4())
    olga = operator_bearer(api, object_id=oid, name="Olga Operator", version=version)
    created = web.post(f"{api}/api/partners", json=partner_body(), headers=olga)
    assert created.status_code == 201, created.text
    partner_id = created.json()["id"]
    # The operator reads the partner's events with the same token; the owner sees the same name.
    event = created_event(api, partner_id, olga)
    assert event["actor"] == {"type": "operator", "id": oid, "display": "Olga Operator"}
    # An app-only token of the operator's automation (no scope, no name) is named by its app.
    robot = operator_bearer(api, object_id=str(uuid.uuid4()), name=None, scopes=None, app_id=CLIENT_ID)
    keyed = web.post(
        f"{api}/api/partners/{partner_id}/api-keys", headers=robot, json={"name": "psa", "scopes": ["read"]}
    )
    assert keyed.status_code == 201, keyed.text
    listed = web.get(f"{api}/api/partners/{partner_id}/events?action=apiKey.created", headers=robot)
    assert [e["actor"]["display"] for e in listed.json()["items"]] == [f"app {CLIENT_ID}"]


def test_the_break_glass_key_names_nobody_in_the_audit_log(api: str) -> None:
    created = web.post(f"{api}/api/partners", json=partner_body(), headers=OPERATOR)
    event = created_event(api, created.json()["id"], OPERATOR)
    assert event["actor"] == {"type": "operator", "id": "break-glass", "display": "break-glass key"}


def test_operator_tokens_from_another_tenant_or_without_the_role_are_refused(
    api: str, partner: PartnerSetup
) -> None:
    refusals = {
        "another tenant": operator_bearer(api, tenant_id=str(uuid.uuid4())),
        "no role": operator_bearer(api, roles=()),
        "another role": operator_bearer(api, roles=["Tenantry.Reader"]),
        "another API": operator_bearer(api, audience="api://someone-else"),
    }
    for why, headers in refusals.items():
        for method, url in (("POST", f"{api}/api/partners"), ("GET", f"{api}/api/privacy/breaches")):
            response = web.request(method, url, json=partner_body(), headers=headers)
            assert response.status_code == 403, f"{why}: {response.status_code}"
            assert response.json()["type"].endswith("/insufficient-scope"), why
        # On a partner's path such a token is nobody of that partner.
        assert web.get(partner.url, headers=headers).status_code in (403, 404), why
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for bad in (operator_bearer(api, key=stranger), operator_bearer(api, issued_at=time.time() - 7200)):
        assert web.post(f"{api}/api/partners", json=partner_body(), headers=bad).status_code == 401


def test_the_operator_is_refused_on_end_user_data_by_token_and_by_key(
    api: str, partner: PartnerSetup
) -> None:
    end_user_data = [
        f"{partner.url}/tenants",
        f"{partner.url}/orgs",
        f"{partner.url}/privacy/requests",
        f"{partner.url}/consent/contacts",
    ]
    for url in [*end_user_data, f"{partner.url}/tenants/{uuid.uuid4()}/users"]:
        for headers in (OPERATOR, operator_bearer(api)):
            response = web.get(url, headers=headers)
            assert response.status_code == 403, f"{url}: {response.status_code}"
            assert response.json()["title"] == "Not for the operator."
    for url in end_user_data:  # the partner's own key reads them
        assert web.get(url, headers=partner.as_key).status_code == 200, url
    # Where the operator has a job, both work.
    for headers in (OPERATOR, operator_bearer(api)):
        assert web.get(partner.url, headers=headers).status_code == 200
        assert web.get(f"{partner.url}/events/verify", headers=headers).json()["valid"] is True


def test_the_operator_reads_which_key_versions_are_current_and_what_depends_on_each(
    api: str, partner: PartnerSetup
) -> None:
    for headers in (OPERATOR, operator_bearer(api)):
        answer = web.get(f"{api}/api/operator/key-versions", headers=headers)
        assert answer.status_code == 200, answer.text
        masters = {m["name"]: m for m in answer.json()["items"]}
        assert set(masters) == {"pepper", "subjectkey", "tokencipher", "auditmac", "consenttoken"}
        # One version of each here, current; the partner's own API key is a hash under the pepper.
        (pepper,) = masters["pepper"]["versions"]
        assert pepper["keyId"] == "pepper.v1" and pepper["current"] and pepper["dependents"] >= 1
        (subject,) = masters["subjectkey"]["versions"]
        assert subject["keyId"] == "subjectkey.v1" and subject["current"] and subject["configured"]
        assert masters["consenttoken"]["versions"][0]["dependents"] is None  # nothing stored
    # Nobody else: a partner's key is no operator credential, a token without the role is refused.
    assert web.get(f"{api}/api/operator/key-versions", headers=partner.as_key).status_code == 401
    no_role = operator_bearer(api, roles=())
    assert web.get(f"{api}/api/operator/key-versions", headers=no_role).status_code == 403


def test_the_document_says_which_routes_take_the_operator(api: str) -> None:
    paths = web.get(f"{api}/api/openapi.json").json()["paths"]

    def schemes(path: str, method: str) -> dict[str, list[str]]:
        return {name: roles for req in paths[path][method]["security"] for name, roles in req.items()}

    assert schemes("/api/partners", "post") == {"operatorToken": ["Tenantry.Operator"], "breakGlassKey": []}
    assert schemes("/api/partners/{partnerId}", "get") == {
        "apiKey": [],
        "bearer": ["access_as_user"],
        "operatorToken": ["Tenantry.Operator"],
        "breakGlassKey": [],
    }
    assert schemes("/api/partners/{partnerId}/tenants/{tenantId}/users", "get") == {
        "apiKey": [],
        "bearer": ["access_as_user"],
    }


def test_every_break_glass_use_leaves_a_warning_naming_the_route_never_the_key(
    stack_env: dict[str, str],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        log_path = Path(folder) / "host.log"
        with log_path.open("wb") as output, local_host(stack_env, output=output) as api:
            created = web.post(f"{api}/api/partners", json=partner_body(), headers=OPERATOR)
            assert created.status_code == 201
            partner_url = f"/api/partners/{created.json()['id']}"
            assert web.get(f"{api}{partner_url}/tenants", headers=OPERATOR).status_code == 403
            # An operator token is no break-glass use.
            assert web.get(f"{api}{partner_url}", headers=operator_bearer(api)).status_code == 200
            expected = [
                "WARNING tenantry.security: break-glass operator key used on POST /api/partners: allowed",
                f"WARNING tenantry.security: break-glass operator key used on GET {partner_url}/tenants: "
                "refused, the route is not the operator's",
            ]
            captured = wait_until(
                lambda: (
                    (text := log_path.read_text(errors="replace"))
                    and all(line in text for line in expected)
                    and text
                ),
                what="the break-glass warnings in the host's log",
            )
    assert captured.count("break-glass operator key used") == 2
    assert OPERATOR["x-api-key"] not in captured


def test_without_operator_api_key_the_key_opens_nothing_and_tokens_still_work(
    stack_env: dict[str, str],
) -> None:
    # Empty is unset: the local settings file would fill in an absent variable.
    env = {**stack_env, "OPERATOR_API_KEY": ""}
    with local_host(env) as api:
        refused = web.post(f"{api}/api/partners", json=partner_body(), headers=OPERATOR)
        assert refused.status_code == 401
        assert (
            web.post(f"{api}/api/partners", json=partner_body(), headers={"x-api-key": ""}).status_code == 401
        )
        created = web.post(f"{api}/api/partners", json=partner_body(), headers=operator_bearer(api))
        assert created.status_code == 201, created.text
        partner_url = f"{api}/api/partners/{created.json()['id']}"
        assert web.get(partner_url, headers=OPERATOR).status_code == 401
        assert web.get(f"{partner_url}/personnel", headers=OPERATOR).status_code == 401
        assert web.get(partner_url, headers=operator_bearer(api)).status_code == 200

"""Schemathesis against the local host, every check: no 5xx, every response conforms to the OpenAPI
document, what the document allows is accepted and what it forbids is refused.

Partner routes are called with a seeded partner's key and, in positive cases, with the real ids
of what that partner has (a proven and synced tenant with its users, groups and syncs, a proven
organisation with a rule and a notification, a tenant group, a privacy request, a spare API key),
so that they reach real resources rather than only ever meeting 404.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from functions.meta import openapi_document
from localdev.graph_standin import StandinControl
from localdev.stack import local_host, wait_until
from tests.e2e.actors import OPERATOR, add_proven_tenant, make_partner
from tests.e2e.dataverse import add_rule, register_org
from tests.stack import GRAPH, STACK_ENV
from tests.web import web

# The document is the one the host serves (the same function answers /api/openapi.json), read
# here without a host: every xdist worker imports this module when it collects (and deselects it,
# see the Makefile), and a host started at import would live through that worker's whole session,
# taking its queue messages with the settings of no test (a pepper-rotation test's erasure job
# was once run by it).
schema = schemathesis.openapi.from_dict(openapi_document())
# Unknown query parameters are ignored on purpose (shared/models.py QueryInput: proxies and caches
# add their own), so a request carrying one is not schema-violating input for this API.
schema.config.generation.update(allow_extra_parameters=False)
# A guard against a hung request, not a speed check: beside the suite's browsers and hosts on
# 2 cores, a PATCH once took longer than schemathesis' default 10 seconds.
schema.config.update(request_timeout=60)


@dataclass(frozen=True)
class Seeded:
    """The module's host and its partner with one of everything."""

    base: str  # the host's base URL
    key: dict[str, str]  # the partner's key header
    ids: dict[str, str]  # path parameter -> the real id of what the partner has
    owner: dict[str, str]  # its owner's token header (for routes only a person may call)


@pytest.fixture(scope="module")
def seeded() -> Iterator[Seeded]:
    """One local host for the module's tests, with a partner seeded with one of everything."""
    with local_host(STACK_ENV) as base:
        yield _seed(base)


def _seed(base: str) -> Seeded:
    """A partner with one of everything, at the host at `base`."""
    partner = make_partner(base, "eu")
    key = {"x-api-key": partner.key}
    http = httpx.Client(base_url=partner.url, headers=key, timeout=60)

    def made(response: httpx.Response) -> dict[str, Any]:
        assert response.status_code in (200, 201, 202), response.text
        return dict(response.json())

    control = StandinControl(GRAPH.base_url, GRAPH.certificates.ca)
    try:
        tenant_id = add_proven_tenant(partner, control, users=6, display_name="Schemathesis")
    finally:
        control.close()

    def synced() -> bool:
        last = http.get(f"/tenants/{tenant_id}").json().get("lastSync")
        return bool(last and last["state"] == "succeeded")

    wait_until(synced, timeout=60, what="the seeded tenant's first sync")
    org = register_org(partner)
    spare = made(
        web.post(f"{partner.url}/api-keys", headers=OPERATOR, json={"name": "spare", "scopes": ["read"]})
    )
    notification = made(
        http.post(f"/orgs/{org['id']}/notifications", json={"everyone": True, "title": "Hi", "body": "There"})
    )
    owner = partner.bearer()  # tenant groups need a person with manageAccess, not a key
    made(web.put(f"{partner.url}/tenant-groups/seeded", json={"tenantIds": [tenant_id]}, headers=owner))
    request = made(
        http.post(
            "/privacy/requests",
            json={"type": "access", "subject": {"email": "ana@fabrikam.example"}, "tenantId": tenant_id},
        )
    )
    ids = {
        "partnerId": partner.id,
        "keyId": spare["id"],  # never the key the run authenticates with
        "personnelId": partner.owner_id,
        "tenantId": tenant_id,
        "userId": made(http.get(f"/tenants/{tenant_id}/users?top=1"))["items"][0]["id"],
        "groupId": made(http.get(f"/tenants/{tenant_id}/groups?top=1"))["items"][0]["id"],
        "syncId": made(http.get(f"/tenants/{tenant_id}/syncs?top=1"))["items"][0]["id"],
        "orgId": org["id"],
        "ruleId": add_rule(partner, org["id"])["id"],
        "notificationId": notification["id"],
        "groupName": "seeded",
        "requestId": request["id"],
    }
    http.close()
    # Spelled as the ignored-auth check spells the header it takes away to call without credentials.
    return Seeded(base, key, ids, {"Authorization": partner.bearer()["authorization"]})


def _credentials(schemes: set[str], seeded: Seeded) -> dict[str, str]:
    if "bearer" not in schemes:
        return OPERATOR
    # A person's own route (GET /api/me) takes no key: a key names no person.
    return seeded.key if "apiKey" in schemes else seeded.owner


def _prepare(case: schemathesis.Case, seeded: Seeded) -> dict[str, str]:
    """The credentials for the case; a positive case gets the seeded partner's real ids.

    A delete keeps its generated id for what it deletes (only the parents are real), so that
    the seeded resources last the whole run.
    """
    schemes = {
        name for requirement in case.operation.definition.raw.get("security", []) for name in requirement
    }
    params = case.path_parameters or {}
    ids = seeded.ids
    partner_route = "bearer" in schemes
    if partner_route and "partnerId" in params:
        params["partnerId"] = ids["partnerId"]
    credentials = _credentials(schemes, seeded)
    if not case.meta or case.meta.generation.mode.is_negative:
        return credentials
    # A continuation token is an identifier the server issued (as the document says): a positive
    # case asks for the first page rather than inventing one.
    if case.query:
        case.query.pop("continuationToken", None)
    # An Idempotency-Key stands for one request: generated keys repeat across examples (with other
    # bodies: 422 by design), so a positive case sends a key of its own.
    if case.headers and "Idempotency-Key" in case.headers:
        case.headers["Idempotency-Key"] = str(uuid.uuid4())
    # Identifiers in a body name the seeded partner's own things (the partners a breach affected,
    # the tenant or organisation a privacy request is about).
    if isinstance(case.body, dict):
        if case.body.get("tenantId") is not None:
            case.body["tenantId"] = ids["tenantId"]
        if case.body.get("orgId") is not None:
            case.body["orgId"] = ids["orgId"]
        # "Within the last 90 days" moves with the clock: no fixed schema can say it.
        case.body.pop("receivedAt", None)
        if "affectedPartners" in case.body:
            case.body["affectedPartners"] = [ids["partnerId"]]
            case.body["region"] = "eu"
    if not partner_route:
        return credentials
    names = re.findall(r"{(\w+)}", case.operation.path)  # in the path's order: parents first
    if case.method.upper() == "DELETE" and names:
        names = names[:-1]
    for name in names:
        if name in ids:
            params[name] = ids[name]
    return credentials


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("SCHEMATHESIS_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    # The same examples on every run, so a red CI is reproducible and not a roll of the dice;
    # SCHEMATHESIS_RANDOM=1 explores new ones (run it when changing the API).
    derandomize=os.environ.get("SCHEMATHESIS_RANDOM") != "1",
)
def test_api_conforms(case: schemathesis.Case, seeded: Seeded) -> None:
    headers = _prepare(case, seeded)
    route = (case.method.upper(), case.operation.path)
    if route in _SIGNED_INPUT:
        # Their input is a value only the server signs (a consent link's token, the state of an
        # admin-consent sign-in): no generated value is valid, so "accept valid data" cannot
        # apply; every other check does, and what replaces it is asserted here.
        response = case.call_and_validate(
            base_url=seeded.base,
            headers=headers,
            excluded_checks=[checks.positive_data_acceptance],
        )
        _assert_refused_as_a_problem(route, response.status_code, response.headers)
    elif route in _GRAPHS_ANSWER:
        response = case.call_and_validate(
            base_url=seeded.base,
            headers=headers,
            excluded_checks=[checks.positive_data_acceptance],
        )
        if response.status_code >= 300:
            _assert_refused_as_a_problem(route, response.status_code, response.headers)
    else:
        case.call_and_validate(base_url=seeded.base, headers=headers)


def _assert_refused_as_a_problem(route: tuple[str, str], status: int, headers: Any) -> None:
    """A generated value the server never signed is refused: a 4xx problem, never taken, never a 5xx."""
    content_type = headers.get("content-type") or headers.get("Content-Type") or ""
    if isinstance(content_type, list):
        content_type = content_type[0] if content_type else ""
    assert 400 <= status < 500, f"{route}: a value nobody signed answered {status}"
    assert str(content_type).startswith("application/problem+json"), f"{route}: {content_type}"


_SIGNED_INPUT = {
    ("GET", "/api/admin-consent/callback"),
    ("POST", "/api/consent/confirm"),
    ("POST", "/api/consent/unsubscribe"),
}
# Not signed, but as far from a schema: whether a licence can be added or removed is Microsoft
# Graph's answer about the user's licences (a 422 graph-refused, which the document lists), so a
# valid body may be refused; when it is, it is a 4xx problem.
_GRAPHS_ANSWER = {("POST", "/api/partners/{partnerId}/tenants/{tenantId}/users/{userId}/licenses")}
# Likewise whether a new user's UPN is on a domain the tenant verified, and whether the colleague
# an offboarding hands OneDrive to is a user of the tenant: Graph's answer, a 4xx problem here.
_GRAPHS_ANSWER |= {
    # A template's groups must be groups of the tenant as last synced (no generated id is).
    ("PUT", "/api/partners/{partnerId}/tenants/{tenantId}/user-template"),
    ("POST", "/api/partners/{partnerId}/tenants/{tenantId}/users"),
    ("POST", "/api/partners/{partnerId}/tenants/{tenantId}/users/{userId}/offboarding"),
}
# Also decided at run time: where a receiver's name resolves (SSRF rules: no private or loopback
# address), and how far ahead a notice is from now (a month's notice).
_GRAPHS_ANSWER |= {
    ("POST", "/api/partners/{partnerId}/alert-subscriptions"),
    ("POST", "/api/operator/notices"),
    ("POST", "/api/privacy/subprocessor-changes"),  # 30 days' notice from now
}
# And decided by another field or the catalogue: a standard's settings take the value type the
# catalogue gives each setting id (GET .../standard-settings), a controller request names a
# partner only for a partner's person or contact.
_GRAPHS_ANSWER |= {
    ("POST", "/api/partners/{partnerId}/standards"),
    ("PUT", "/api/partners/{partnerId}/standards/{standardId}"),
    ("POST", "/api/privacy/controller-requests"),
}

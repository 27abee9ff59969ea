"""Partners never see each other: every route in the OpenAPI document refuses what it must.

The routes come from the running app's own document, so an endpoint added later joins this test
without anyone remembering to add it.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.actors import (
    OPERATOR,
    PartnerSetup,
    expired_token,
    forged_token,
    make_partner,
    operator_bearer,
)
from tests.web import web

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
# Where Entra sends a customer's administrator back after admin consent: a browser redirect, with
# no credential but the signed state the consent link carried.
MEANT_PUBLIC |= {("get", "/api/admin-consent/callback")}
# Upcoming maintenance and policy or price changes of the service: about Tenantry, no partner's data.
MEANT_PUBLIC |= {("get", "/api/notices")}


# About the caller itself: any genuine person's token is answered with that person's own identity
# and partners (a foreign token included: it learns only its own), the operator's with none.
ABOUT_THE_CALLER = {("get", "/api/me")}


@pytest.fixture(scope="module")
def world(api: str) -> dict[str, Any]:
    victim = make_partner(api, "eu")
    stranger = make_partner(api, "us")
    revoked = web.post(
        f"{victim.url}/api-keys",
        headers=OPERATOR,
        json={"name": "old", "scopes": ["read", "write", "notify", "privacy"]},
    ).json()
    assert web.delete(f"{victim.url}/api-keys/{revoked['id']}", headers=OPERATOR).status_code == 204
    document = web.get(f"{api}/api/openapi.json").json()
    operations = [(method, path, op) for path, ops in document["paths"].items() for method, op in ops.items()]
    return {"victim": victim, "stranger": stranger, "revoked_key": revoked["key"], "operations": operations}


def concrete(path: str, victim: PartnerSetup) -> str:
    def value(match: re.Match[str]) -> str:
        return victim.id if match.group(1) == "partnerId" else str(uuid.uuid4())

    return re.sub(r"\{([^}]+)\}", value, path)


def call(api: str, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    return web.request(method.upper(), api + path, headers=headers, json={})


def test_every_operation_declares_who_may_call_it(world: dict[str, Any]) -> None:
    for method, path, op in world["operations"]:
        if not op["security"]:
            assert (method, path) in MEANT_PUBLIC, f"{method.upper()} {path} is public by accident?"


# Routes outside /partners/{partnerId} that organisations and their devices call: each names its
# own scheme, so a partner credential alone never reaches them unless the route says so.
OWN_SCHEMES = {"deviceKey", "deviceSecret", "webhookKey"}
# The operator's token and break-glass key: a route that lists them takes the operator.
OPERATOR_SCHEMES = {"operatorToken", "breakGlassKey"}


def test_routes_outside_partner_paths_use_device_or_webhook_credentials(world: dict[str, Any]) -> None:
    for method, path, op in world["operations"]:
        if not op["security"] or "{partnerId}" in path or (method, path) in MEANT_PUBLIC:
            continue
        if (method, path) in ABOUT_THE_CALLER:
            assert {name for requirement in op["security"] for name in requirement} == {"bearer"}
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
        schemes = {name for requirement in op["security"] for name in requirement}
        operator_only = schemes <= OPERATOR_SCHEMES
        for name, headers in credentials(world).items():
            response = call(api, method, url, headers)
            checked += 1
            if (method, path) in ABOUT_THE_CALLER and name == "foreign token":
                if response.status_code != 200 or victim.id in response.text:
                    failures.append(f"{method.upper()} {path} with {name}: {response.status_code}")
                continue
            # A valid credential of another partner gets 404 on partner paths: no existence leak.
            foreign = name.startswith("foreign") and partner_scoped and not operator_only
            # A person's genuine token on an operator route lacks the operator's app role: 403.
            expected = {404} if foreign else {403} if name == "foreign token" and operator_only else {401}
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
    body = web.get(f"{stranger.url}/events?top=1000", headers=stranger.as_key).text
    assert victim.id not in body
    assert web.get(f"{victim.url}/events", headers=stranger.as_key).status_code == 404


def test_the_operator_reaches_only_routes_that_declare_it(api: str, world: dict[str, Any]) -> None:
    """Routes say whether the operator may call them, and the default is no: every partner route
    that does not declare the operator's schemes refuses its token and the break-glass key (403)
    before doing anything; those that do let both through authentication."""
    # Allowed calls really run: they go to a partner of their own (the walk terminates its subscription).
    bystander = make_partner(api, "eu")
    victim: PartnerSetup = world["victim"]
    failures = []
    declared = refused = 0
    for method, path, op in world["operations"]:
        schemes = {name for requirement in op["security"] for name in requirement}
        if "{partnerId}" not in path and not schemes & OPERATOR_SCHEMES:
            continue  # device, webhook and public routes: no operator credential is theirs
        takes_operator = bool(schemes & OPERATOR_SCHEMES)
        declared += takes_operator
        refused += not takes_operator
        url = concrete(path, bystander if takes_operator else victim)
        if takes_operator and method == "post" and path.startswith("/api/privacy/sweeps"):
            url += "?dryRun=true"  # a preview: the walk must not sweep the session's data
        for name, headers in {"break-glass key": OPERATOR, "operator token": operator_bearer(api)}.items():
            response = call(api, method, url, headers)
            if takes_operator:
                if response.status_code in (401, 403):
                    failures.append(f"{method.upper()} {path} refuses the {name}: {response.status_code}")
            elif response.status_code != 403 or response.json()["title"] != "Not for the operator.":
                failures.append(f"{method.upper()} {path} lets the {name} in: {response.status_code}")
    assert declared >= 15 and refused >= 40
    assert failures == []


# --- the second dimension: within one partner, a caller limited to tenant A learns nothing of B --
#
# Partner P has tenants A and B, orgs of A, of B and of no tenant, requests, groups, people and keys
# of each. A key and a person (an admin, so every permission but the reach) limited to A walk every
# route of the OpenAPI document with B's ids in the path and in the body. Routes other engineers
# add join by their parameter and field names; a new id parameter belongs in `scoped_world`'s maps.

WRITES = {"post", "put", "patch", "delete"}
# Writes that could widen someone's reach: refused with 403 naming the missing permission.
WIDENING_TAGS = {"personnel", "api-keys", "tenant-groups"}
# Route values that name no one's thing (which report): walked with each value, as A's and B's alike.
NOT_IDS = {
    "kind": ["mfaRegistration", "inactiveUsers", "licences", "privilegedRoles", "secureScore", "guests"]
}


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.request.method} {response.url}: {response.text}"
    return response.json() if response.content else None


def _org_body(tenant_id: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "organizationId": str(uuid.uuid4()),
        "uniqueName": "scoped",
        "name": "Scoped",
        "languageCode": 1033,
        "business": {"name": "Scoped Ltd", "email": "it@scoped.example", "country": "NL"},
        "webhookAuth": {"type": "WebhookKey"},
    }
    if tenant_id is not None:
        body["tenantId"] = tenant_id
    return body


DATAVERSE = Path(__file__).resolve().parents[1] / "fixtures" / "dataverse"


def _prove(api: str, org: dict[str, Any]) -> None:
    """The org's first authenticated delivery from its own Dataverse proves it (no rule: nobody notified)."""
    context = json.loads((DATAVERSE / "update-contact-webhook.json").read_text())
    context.update(OrganizationId=org["id"], CorrelationId=str(uuid.uuid4()), OperationId=str(uuid.uuid4()))
    headers = json.loads((DATAVERSE / "webhook-headers.json").read_text())["headers"]
    delivered = web.post(
        f"{api}/api/dynamics/{org['id']}/webhook",
        params={"code": org["webhookKey"]},
        content=json.dumps(context),
        headers={**headers, "content-type": "application/json"},
    )
    assert delivered.status_code == 202, delivered.text


@dataclass
class ScopedWorld:
    partner: PartnerSetup
    owner: dict[str, str]
    a: dict[str, str]  # route parameter -> a thing of tenant A (or within A's reach)
    b: dict[str, list[str]]  # route parameter -> things of tenant B (or reaching beyond A)
    body_b: dict[str, Any]  # body field -> a value naming B
    markers: set[str]  # strings only something of B contains
    callers: dict[str, dict[str, str]]  # credentials limited to A
    admin_id: str
    own_ids: set[str]  # the scoped callers' own actor ids: the admin's person id, the key's id
    ids: dict[str, str]


@pytest.fixture(scope="module")
def scoped_world(api: str) -> ScopedWorld:
    p = make_partner(api, "eu")
    owner = p.bearer()
    tenant_a, tenant_b = str(uuid.uuid4()), str(uuid.uuid4())
    for tenant in (tenant_a, tenant_b):
        _ok(web.post(f"{p.url}/tenants", headers=owner, json={"tenantId": tenant, "displayName": "T"}), 201)
    groups = {"only-a": [tenant_a], "only-b-tenants": [tenant_b], "both-a-and-b": [tenant_a, tenant_b]}
    for name, members in groups.items():
        _ok(web.put(f"{p.url}/tenant-groups/{name}", headers=owner, json={"tenantIds": members}))
    orgs = [
        _ok(web.post(f"{p.url}/orgs", headers=owner, json=_org_body(t)), 201)
        for t in (tenant_a, tenant_b, None)
    ]
    for org in orgs:
        _prove(api, org)
    org_a, org_b, org_none = (org["id"] for org in orgs)
    rule_b = _ok(
        web.post(
            f"{p.url}/orgs/{org_b}/rules",
            headers=owner,
            json={"entity": "contact", "message": "Update", "title": "t", "recipients": {"type": "owner"}},
        ),
        201,
    )["id"]
    sent = web.post(
        f"{p.url}/orgs/{org_b}/notifications", headers=owner, json={"everyone": True, "title": "t"}
    )
    notification_b = sent.json()["id"] if sent.status_code == 202 else str(uuid.uuid4())

    def request(**where: str) -> str:
        body = {"type": "access", "subject": {"email": f"{uuid.uuid4().hex}@scoped.example"}, **where}
        return str(_ok(web.post(f"{p.url}/privacy/requests", headers=p.as_key, json=body), 201)["id"])

    requests = {
        "a": request(tenantId=tenant_a),
        "b": request(tenantId=tenant_b),
        "org b": request(orgId=org_b),
        "org a": request(orgId=org_a),
    }

    def person(role: str, scope: dict[str, Any] | None) -> tuple[str, str]:
        oid = str(uuid.uuid4())
        body = {"objectId": oid, "email": f"{oid[:8]}@scoped.example", "role": role, "tenantScope": scope}
        return _ok(web.post(f"{p.url}/personnel", headers=owner, json=body), 201)["id"], oid

    def key(scope: dict[str, Any] | None, scopes: list[str]) -> dict[str, Any]:
        body = {"name": "scoped", "scopes": scopes, "tenantScope": scope}
        return dict(_ok(web.post(f"{p.url}/api-keys", headers=owner, json=body), 201))

    person_a, _ = person("viewer", {"tenantIds": [tenant_a]})
    person_b, person_b_oid = person("viewer", {"tenantIds": [tenant_b]})
    admin_id, admin_oid = person("admin", {"groups": ["only-a"]})
    key_a = key({"tenantIds": [tenant_a]}, ["read"])["id"]
    key_b = key({"tenantIds": [tenant_b]}, ["read"])["id"]
    scoped_key = key({"tenantIds": [tenant_a]}, ["read", "write", "notify", "privacy"])
    syncs = _ok(web.get(f"{p.url}/tenants/{tenant_b}/syncs", headers=owner))["items"]
    sync_b = syncs[0]["id"] if syncs else str(uuid.uuid4())
    # An alert subscription about B only (no receiver needs to run: nothing is sent here).
    hook = {"channel": "webhook", "url": "http://127.0.0.1:65000/b", "eventTypes": ["*"]}
    hook["tenantScope"] = {"tenantIds": [tenant_b]}
    subscription_b = _ok(web.post(f"{p.url}/alert-subscriptions", headers=owner, json=hook), 201)["id"]
    return ScopedWorld(
        partner=p,
        owner=owner,
        a={
            "partnerId": p.id,
            "tenantId": tenant_a,
            "orgId": org_a,
            "requestId": requests["a"],
            "personnelId": person_a,
            "keyId": key_a,
            "groupName": "only-a",
        },
        b={
            "partnerId": [p.id],
            "tenantId": [tenant_b],
            "orgId": [org_b, org_none],
            "requestId": [requests["b"], requests["org b"]],
            "notificationId": [notification_b],
            "ruleId": [rule_b],
            "personnelId": [person_b],
            "keyId": [key_b],
            "groupName": ["only-b-tenants", "both-a-and-b"],
            "syncId": [sync_b],
            "subscriptionId": [subscription_b],
        },
        body_b={
            "tenantId": tenant_b,
            "orgId": org_b,
            "tenantIds": [tenant_a, tenant_b],
            "tenantScope": {"tenantIds": [tenant_b], "groups": []},
        },
        markers={
            tenant_b,
            org_b,
            org_none,
            rule_b,
            notification_b,
            requests["b"],
            requests["org b"],
            person_b,
            person_b_oid,
            key_b,
            "only-b-tenants",
            "both-a-and-b",
            subscription_b,
        },
        callers={"scoped key": {"x-api-key": scoped_key["key"]}, "scoped admin": p.bearer(admin_oid)},
        admin_id=admin_id,
        own_ids={admin_id, scoped_key["id"]},
        ids={
            "tenant a": tenant_a,
            "tenant b": tenant_b,
            "org a": org_a,
            "org b": org_b,
            "org none": org_none,
            "person a": person_a,
            "key a": key_a,
            **{f"request {k}": v for k, v in requests.items()},
        },
    )


def _schema(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _example(
    document: dict[str, Any], schema: dict[str, Any], body_b: dict[str, Any], *, top: bool = False
) -> Any:
    """A small value the schema accepts (as far as its JSON Schema says). Objects get their required
    fields; a nested one with none (one of several identifiers, say) gets its first."""
    schema = _schema(document, schema)
    options = schema.get("anyOf") or schema.get("oneOf") or schema.get("allOf")
    if options is not None:
        kept = [s for s in options if _schema(document, s).get("type") != "null"]
        return _example(document, kept[0], body_b) if kept else None
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        required = list(schema.get("required", [])) or ([] if top else list(properties)[:1])
        return {
            name: body_b[name] if name in body_b else _example(document, properties[name], body_b)
            for name in required
            if name in properties
        }
    if kind == "array":
        return [_example(document, schema.get("items", {}), body_b) for _ in range(schema.get("minItems", 0))]
    if kind == "string":
        return _string_example(schema)
    return {"integer": schema.get("minimum", 1), "number": schema.get("minimum", 1), "boolean": False}.get(
        str(kind)
    )


def _string_example(schema: dict[str, Any]) -> str:
    fmt, pattern = schema.get("format"), schema.get("pattern", "")
    if fmt == "uuid":
        return str(uuid.uuid4())
    if fmt == "date-time":
        return "2099-01-01T00:00:00Z"
    if fmt == "email" or "@" in pattern:
        return "someone@scoped.example"
    if pattern.startswith("^https://"):
        return "https://scoped.example"
    return "x" * max(1, schema.get("minLength", 1))


def _bodies(document: dict[str, Any], op: dict[str, Any], body_b: dict[str, Any]) -> list[Any]:
    """Bodies naming B: one per optional field that can name B (they may exclude each other)."""
    content = op.get("requestBody", {}).get("content", {}).get("application/json")
    if content is None:
        return [None]
    schema = _schema(document, content["schema"])
    base = _example(document, schema, body_b, top=True)
    optional = [n for n in schema.get("properties", {}) if n in body_b and n not in base]
    return [{**base, name: body_b[name]} for name in optional] or [base]


def _partner_credentials_allowed(op: dict[str, Any]) -> bool:
    return any(
        set(requirement) <= {"apiKey"} or set(requirement) <= {"bearer"} for requirement in op["security"]
    )


def _admits(op: dict[str, Any], headers: dict[str, str]) -> bool:
    """Whether the operation's security takes this caller's kind of credential (key or token)."""
    scheme = "apiKey" if "x-api-key" in headers else "bearer"
    return any(scheme in requirement for requirement in op["security"])


def _keeps_b_out(
    method: str,
    op: dict[str, Any],
    headers: dict[str, str],
    response: httpx.Response,
    *,
    b_in_path: bool,
    markers: set[str],
) -> bool:
    """Whether a caller scoped to A was answered with nothing of B."""
    status = response.status_code
    if not _admits(op, headers):
        return status == 401  # e.g. GET /api/me takes a person's token, never a key
    if method == "get" and b_in_path:
        return status in (403, 404)
    if method == "get":
        return status in (403, 404, 422) or (status == 200 and not _leaks(response.text, markers))
    if status == 403 and op["tags"][0] in WIDENING_TAGS:
        return _names_missing_permission(response)
    return status in (403, 404, 422)


def _names_missing_permission(response: httpx.Response) -> bool:
    problem = response.json()
    return bool(problem.get("missingPermission")) or bool(
        re.search(r"'[A-Za-z:.\-]+'", problem.get("detail", ""))
    )


def _leaks(text: str, markers: set[str]) -> set[str]:
    lowered = text.lower()
    return {m for m in markers if m.lower() in lowered}


def test_a_scoped_caller_gets_nothing_of_another_tenant_on_any_route(
    api: str, world: dict[str, Any], scoped_world: ScopedWorld
) -> None:
    document = web.get(f"{api}/api/openapi.json").json()
    sw = scoped_world
    failures: list[str] = []
    checked = 0
    for method, path, op in world["operations"]:
        if not op["security"] or not _partner_credentials_allowed(op):
            continue
        params = re.findall(r"\{([^}]+)\}", path)
        choices = [sw.b.get(name) or NOT_IDS.get(name) or [str(uuid.uuid4())] for name in params]
        for values in itertools.product(*choices):
            url = path
            for name, value in zip(params, values, strict=True):
                url = url.replace("{" + name + "}", value)
            b_in_path = any(name in sw.b and name != "partnerId" for name in params)
            for body in _bodies(document, op, sw.body_b):
                b_in_body = bool(_leaks(json.dumps(body), sw.markers))
                if method in WRITES and not (b_in_path or b_in_body):
                    continue  # a partner-level write, about no tenant
                for who, headers in sw.callers.items():
                    response = web.request(method.upper(), api + url, headers=headers, json=body)
                    checked += 1
                    status = response.status_code
                    label = f"{method.upper()} {url} {json.dumps(body)[:80]} as {who}: {status}"
                    if not _keeps_b_out(
                        method, op, headers, response, b_in_path=b_in_path, markers=sw.markers
                    ):
                        failures.append(f"{label} {response.text[:160]}")
    assert checked > 100
    assert not failures, "\n".join(failures)


def test_no_write_that_could_widen_reach_passes_on_the_callers_own_tenant(
    api: str, world: dict[str, Any], scoped_world: ScopedWorld
) -> None:
    """People, keys and groups within A, changed to reach B: 403 naming what is missing."""
    document = web.get(f"{api}/api/openapi.json").json()
    sw = scoped_world
    failures: list[str] = []
    checked = 0
    for method, path, op in world["operations"]:
        if method not in WRITES or op["tags"][0] not in WIDENING_TAGS or not _partner_credentials_allowed(op):
            continue
        url = re.sub(r"\{([^}]+)\}", lambda m: sw.a.get(m.group(1), str(uuid.uuid4())), path)
        for body in _bodies(document, op, sw.body_b):
            if op["tags"][0] != "tenant-groups" and not _leaks(json.dumps(body), sw.markers):
                continue  # deactivating or re-keying within A widens nothing
            for who, headers in sw.callers.items():
                response = web.request(method.upper(), api + url, headers=headers, json=body)
                checked += 1
                if response.status_code != 403 or not _names_missing_permission(response):
                    label = f"{method.upper()} {url} {body} as {who}: {response.status_code}"
                    failures.append(f"{label} {response.text[:160]}")
    assert checked >= 8
    assert not failures, "\n".join(failures)


def test_a_scoped_caller_sees_its_own_tenant_and_no_other(api: str, scoped_world: ScopedWorld) -> None:
    sw, url = scoped_world, scoped_world.partner.url
    ids = sw.ids
    for who, headers in sw.callers.items():
        tenants = [t["id"] for t in _ok(web.get(f"{url}/tenants", headers=headers))["items"]]
        assert tenants == [ids["tenant a"]], who
        _ok(web.get(f"{url}/tenants/{ids['tenant a']}", headers=headers))
        orgs = [o["id"] for o in _ok(web.get(f"{url}/orgs", headers=headers))["items"]]
        assert orgs == [ids["org a"]], who
        _ok(web.get(f"{url}/orgs/{ids['org a']}/rules", headers=headers))
        groups = _ok(web.get(f"{url}/tenant-groups", headers=headers))["items"]
        assert groups == [{"name": "only-a", "tenantIds": [ids["tenant a"]]}], who
        requests = {r["id"] for r in _ok(web.get(f"{url}/privacy/requests", headers=headers))["items"]}
        assert requests == {ids["request a"], ids["request org a"]}, who
        events = _ok(web.get(f"{url}/events?top=1000", headers=headers))["items"]
        assert {e.get("tenantId") for e in events} <= {ids["tenant a"], None}
        assert any(e["action"] == "tenant.created" and e["tenantId"] == ids["tenant a"] for e in events)
        # Partner-level events: only the caller's own (its key being made, its own invitation).
        partner_level = [e for e in events if not e.get("tenantId")]
        assert all(e["actor"]["id"] in sw.own_ids or e["target"]["id"] in sw.own_ids for e in partner_level)
        # Reports across tenants: only A's rows; B named by filter or group answers as unknown.
        for kind in NOT_IDS["kind"]:
            rows = _ok(web.get(f"{url}/reports/{kind}", headers=headers))["items"]
            assert {r["tenantId"] for r in rows} <= {ids["tenant a"]}, (who, kind)
            for refused_filter in ({"tenantId": tenant_b_of(sw)}, {"tenantGroup": "both-a-and-b"}):
                answer = web.get(f"{url}/reports/{kind}", headers=headers, params=refused_filter)
                assert answer.status_code == 404, (who, kind, refused_filter)
        for whole in ("usage", "events/verify", "events/verifications/203101" + "0" * 26):
            refused = web.get(f"{url}/{whole}", headers=headers)
            assert refused.status_code == 403 and refused.json()["missingPermission"] == "allTenants", whole
    admin = sw.callers["scoped admin"]
    people = {p["id"] for p in _ok(web.get(f"{url}/personnel", headers=admin))["items"]}
    assert people == {sw.admin_id, ids["person a"]}  # not the owner, not B's viewer
    keys = {k["id"] for k in _ok(web.get(f"{url}/api-keys", headers=admin))["items"]}
    assert ids["key a"] in keys and sw.partner.key_id not in keys


def tenant_b_of(sw: ScopedWorld) -> str:
    return sw.b["tenantId"][0]


def test_events_name_the_tenant_they_are_about(api: str, scoped_world: ScopedWorld) -> None:
    sw, url = scoped_world, scoped_world.partner.url
    # A rule's whole life names its org's tenant, so the tenant's people see it and nobody else.
    rules = f"{url}/orgs/{sw.b['orgId'][0]}/rules"
    rule = {"entity": "contact", "message": "Create", "title": "t", "recipients": {"type": "owner"}}
    rule_id = _ok(web.post(rules, headers=sw.owner, json=rule), 201)["id"]
    _ok(web.put(f"{rules}/{rule_id}", headers=sw.owner, json={**rule, "title": "changed"}))
    assert web.delete(f"{rules}/{rule_id}", headers=sw.owner).status_code == 204
    about_b = _ok(web.get(f"{url}/events?tenantId={sw.ids['tenant b']}", headers=sw.owner))["items"]
    actions = {(e["action"], e["target"]["id"]) for e in about_b}
    assert ("tenant.created", sw.ids["tenant b"]) in actions
    assert {
        ("org.rule-created", rule_id),
        ("org.rule-updated", rule_id),
        ("org.rule-deleted", rule_id),
    } <= actions
    # A request about B's org names B too, though the request names only the org.
    assert ("privacy.request.received", sw.ids["request org b"]) in actions
    assert _ok(web.get(f"{url}/events/verify", headers=sw.owner))["valid"] is True


# --- escalation: nobody grants more than it holds -------------------------------------------------


def _problem(response: httpx.Response, permission: str) -> None:
    assert response.status_code == 403, response.text
    assert response.json()["missingPermission"] == permission, response.text


def test_nobody_changes_their_own_role_status_or_scope(api: str, scoped_world: ScopedWorld) -> None:
    sw, url = scoped_world, scoped_world.partner.url
    me = f"{url}/personnel/{sw.admin_id}"
    admin = sw.callers["scoped admin"]
    _problem(web.patch(me, headers=admin, json={"role": "owner"}), "manageOwnAccess")
    _problem(web.patch(me, headers=admin, json={"tenantScope": None}), "manageOwnAccess")
    _problem(web.delete(me, headers=admin), "manageOwnAccess")
    # Not even an owner: the last-owner rule aside, a second owner must do it.
    own_demotion = web.patch(
        f"{url}/personnel/{sw.partner.owner_id}", headers=sw.owner, json={"role": "viewer"}
    )
    _problem(own_demotion, "manageOwnAccess")
    # Their own name is theirs to fix.
    renamed = _ok(web.patch(me, headers=admin, json={"displayName": "Scoped Admin"}))
    assert renamed["displayName"] == "Scoped Admin"


def test_a_scoped_admin_grants_only_within_its_own_reach(api: str, scoped_world: ScopedWorld) -> None:
    sw, url = scoped_world, scoped_world.partner.url
    admin = sw.callers["scoped admin"]
    unscoped_key = {"name": "wide", "scopes": ["read"]}
    _problem(web.post(f"{url}/api-keys", headers=admin, json=unscoped_key), "allTenants")
    wider = {"name": "wide", "scopes": ["read"], "tenantScope": {"groups": ["both-a-and-b"]}}
    _problem(web.post(f"{url}/api-keys", headers=admin, json=wider), "tenantGroup:both-a-and-b")
    not_yet = {"name": "wide", "scopes": ["read"], "tenantScope": {"groups": ["filled-later"]}}
    _problem(web.post(f"{url}/api-keys", headers=admin, json=not_yet), "tenantGroup:filled-later")
    person = {"objectId": str(uuid.uuid4()), "email": "new@scoped.example", "role": "viewer"}
    _problem(web.post(f"{url}/personnel", headers=admin, json=person), "allTenants")
    an_owner = {**person, "role": "owner", "tenantScope": {"tenantIds": [sw.ids["tenant a"]]}}
    _problem(web.post(f"{url}/personnel", headers=admin, json=an_owner), "owner")
    widen = {"tenantScope": {"tenantIds": [sw.ids["tenant a"], sw.ids["tenant b"]]}}
    widened = web.patch(f"{url}/personnel/{sw.ids['person a']}", headers=admin, json=widen)
    _problem(widened, f"tenant:{sw.ids['tenant b']}")
    # Within its reach it may: a key of A, made by this admin, which it may rotate.
    mine = {"name": "mine", "scopes": ["read", "write"], "tenantScope": {"tenantIds": [sw.ids["tenant a"]]}}
    made = _ok(web.post(f"{url}/api-keys", headers=admin, json=mine), 201)
    _ok(web.post(f"{url}/api-keys/{made['id']}/rotate", headers=admin))
    # The owner made key A: only an owner re-keys it.
    _problem(web.post(f"{url}/api-keys/{sw.ids['key a']}/rotate", headers=admin), "owner")


def test_tenant_groups_are_changed_only_by_callers_who_reach_every_tenant(
    api: str, scoped_world: ScopedWorld
) -> None:
    sw, url = scoped_world, scoped_world.partner.url
    admin = sw.callers["scoped admin"]
    both = {"tenantIds": [sw.ids["tenant a"], sw.ids["tenant b"]]}
    _problem(web.put(f"{url}/tenant-groups/only-a", headers=admin, json=both), "allTenants")
    same = {"tenantIds": [sw.ids["tenant a"]]}
    _problem(web.put(f"{url}/tenant-groups/only-a", headers=admin, json=same), "allTenants")
    _problem(web.delete(f"{url}/tenant-groups/only-a", headers=admin), "allTenants")
    assert _ok(web.get(f"{url}/tenant-groups/only-a", headers=sw.owner))["tenantIds"] == [sw.ids["tenant a"]]
    assert web.get(f"{url}/tenant-groups/both-a-and-b", headers=admin).status_code == 404


def test_only_an_owner_touches_an_owner(api: str) -> None:
    p = make_partner(api, "eu")
    owner = p.bearer()
    admin_oid = str(uuid.uuid4())
    invited = {"objectId": admin_oid, "email": "admin@ladder.example", "role": "admin"}
    _ok(web.post(f"{p.url}/personnel", headers=owner, json=invited), 201)
    admin = p.bearer(admin_oid)
    owner_url = f"{p.url}/personnel/{p.owner_id}"
    _problem(web.patch(owner_url, headers=admin, json={"role": "admin"}), "owner")
    _problem(web.delete(owner_url, headers=admin), "owner")
    _problem(web.patch(owner_url, headers=admin, json={"tenantScope": {"tenantIds": []}}), "owner")
    promote = {"objectId": str(uuid.uuid4()), "email": "o2@ladder.example", "role": "owner"}
    _problem(web.post(f"{p.url}/personnel", headers=admin, json=promote), "owner")
    owners_key = _ok(
        web.post(f"{p.url}/api-keys", headers=owner, json={"name": "o", "scopes": ["read"]}), 201
    )
    _problem(web.post(f"{p.url}/api-keys/{owners_key['id']}/rotate", headers=admin), "owner")
    _problem(web.delete(f"{p.url}/api-keys/{owners_key['id']}", headers=admin), "owner")
    assert web.get(p.url, headers={"x-api-key": owners_key["key"]}).status_code == 200  # untouched
    # Admins appoint admins and manage what admins made; the owner does all of it.
    second = {"objectId": str(uuid.uuid4()), "email": "a2@ladder.example", "role": "admin"}
    appointed = _ok(web.post(f"{p.url}/personnel", headers=admin, json=second), 201)
    _ok(web.patch(f"{p.url}/personnel/{appointed['id']}", headers=admin, json={"role": "viewer"}))
    admins_key = _ok(
        web.post(f"{p.url}/api-keys", headers=admin, json={"name": "a", "scopes": ["read"]}), 201
    )
    assert web.delete(f"{p.url}/api-keys/{admins_key['id']}", headers=admin).status_code == 204
    _ok(web.post(f"{p.url}/api-keys/{owners_key['id']}/rotate", headers=owner))


def test_partner_wide_changes_need_every_tenant(api: str, scoped_world: ScopedWorld) -> None:
    """A setting every tenant follows, a new tenant, the partner's own Entra tenant: a caller limited
    to some tenants holds the route's permission and is still refused, and nothing changes."""
    sw, url = scoped_world, scoped_world.partner.url
    before = {
        "baseline": _ok(web.get(f"{url}/baseline/settings", headers=sw.owner)),
        "privacy": _ok(web.get(f"{url}/privacy/settings", headers=sw.owner)),
        "tenants": _ok(web.get(f"{url}/tenants", headers=sw.owner))["items"],
    }
    changes = [
        ("PUT", "baseline/settings", {"disabledChecks": [], "minGlobalAdmins": 0, "maxGlobalAdmins": 9}),
        ("PUT", "privacy/settings", {"administrationRetentionYears": 10}),
        ("POST", "tenants", {"tenantId": str(uuid.uuid4()), "displayName": "Not yours"}),
        ("POST", "entra-connection", None),
    ]
    for who in ("scoped admin", "scoped key"):
        # Keys never hold manageAccess, so the Entra connection is the admin's case alone.
        for method, path, body in changes if who == "scoped admin" else changes[:3]:
            refused = web.request(method, f"{url}/{path}", headers=sw.callers[who], json=body)
            assert refused.status_code == 403, (who, path, refused.text)
            assert refused.json()["missingPermission"] == "allTenants", (who, path)
    assert _ok(web.get(f"{url}/baseline/settings", headers=sw.owner)) == before["baseline"]
    assert _ok(web.get(f"{url}/privacy/settings", headers=sw.owner)) == before["privacy"]
    assert _ok(web.get(f"{url}/tenants", headers=sw.owner))["items"] == before["tenants"]


def test_a_continuation_token_of_another_partners_list_is_a_400(api: str) -> None:
    """Partners in the same region share the table: the token names its partition, not only a row."""
    first, second = make_partner(api, "eu"), make_partner(api, "eu")
    for name in ("one", "two"):
        _ok(
            web.post(f"{first.url}/api-keys", headers=OPERATOR, json={"name": name, "scopes": ["read"]}),
            201,
        )
    for path in ("api-keys", "events"):
        page = _ok(web.get(f"{first.url}/{path}?top=1", headers=first.bearer()))
        token = page["continuationToken"]
        assert token, path
        assert _ok(
            web.get(
                f"{first.url}/{path}", params={"top": 1, "continuationToken": token}, headers=first.bearer()
            )
        )
        refused = web.get(
            f"{second.url}/{path}", params={"top": 1, "continuationToken": token}, headers=second.bearer()
        )
        assert refused.status_code == 400, (path, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "another list" in refused.json()["detail"], path
        assert first.id not in refused.text

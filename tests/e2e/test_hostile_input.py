"""Hostile input on every route of the API document: each answers a 4xx problem, writes nothing
and leaks nothing.

Beside schemathesis (which generates inputs the document allows and some it does not), this sends
what an attacker or a broken client sends on purpose: bodies nested 2,000 deep, duplicate member
names, UTF-16, invalid UTF-8, numbers too large for any type, NaN, a body over the limit; and in
every id position OData-looking strings, NUL bytes, very long segments and path tricks. Each is
sent with credentials the route accepts, so the refusal comes from reading the input, not from
authentication.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.actors import PartnerSetup, operator_bearer
from tests.e2e.dataverse import SAMPLE_HEADERS, register_org
from tests.web import web

HOSTILE_BODIES: dict[str, bytes] = {
    "nested 2,000 deep": b"[" * 2000 + b"]" * 2000,
    "objects nested 2,000 deep": b'{"a":' * 2000 + b"1" + b"}" * 2000,
    "a member twice": b'{"name": "one", "name": "two"}',
    "UTF-16": '{"name": "utf-16"}'.encode("utf-16"),
    "invalid UTF-8": b'{"name": "\xc3\x28"}',
    "a number beyond any type": b'{"top": 1e400}',
    "a 5,000-digit integer": b'{"top": ' + b"9" * 5000 + b"}",
    "NaN": b'{"top": NaN}',
    "over 1 MiB": b'{"name": "' + b"x" * (1024 * 1024) + b'"}',
}

HOSTILE_IDS: dict[str, str] = {
    "OData injection": "' or 1 eq 1 or RowKey ne '",
    "OData operators": "x' or PartitionKey gt '",
    "NUL byte": "a%00b",
    "a very long segment": "a" * 2000,
    "an encoded path climb": "..%2F..%2Fpartners",
    "a non-ASCII id": "ünïcödé-ïd",
}

# What must never reach a caller: our internals.
LEAKS = re.compile(r"Traceback|File \"|odata\.|PartitionKey|RowKey|azure\.|Exception|localhost:\d+", re.I)


@pytest.fixture(scope="module")
def document(api: str) -> dict[str, Any]:
    return dict(web.get(f"{api}/api/openapi.json").json())


@pytest.fixture(scope="module")
def org(partner: PartnerSetup) -> dict[str, Any]:
    return register_org(partner)


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield method, path, op


def _credentials(op: dict[str, Any], partner: PartnerSetup, org: dict[str, Any], api: str) -> dict[str, str]:
    """Headers the route accepts, so that the input is what gets refused."""
    schemes = {name for requirement in op.get("security", []) for name in requirement}
    if "apiKey" in schemes:
        return partner.as_key
    if "operatorToken" in schemes:
        return operator_bearer(api)
    if "webhookKey" in schemes:
        return dict(SAMPLE_HEADERS)
    if "deviceKey+dynamicsUser" in schemes:
        return {"x-device-key": org["deviceKey"]}
    return {}  # public, or a device's own secret (which these tests do not hold)


def _fill(path: str, partner: PartnerSetup, org: dict[str, Any], hostile: str | None = None) -> Iterator[str]:
    """The path with real ids, and (with `hostile`) once per id position with that value there."""
    real = {"partnerId": partner.id, "orgId": org["id"], "tenantId": org["tenantId"]}
    names = re.findall(r"\{([^}]+)\}", path)

    def render(values: dict[str, str]) -> str:
        return re.sub(r"\{([^}]+)\}", lambda m: values.get(m.group(1), "01JZZZZZZZZZZZZZZZZZZZZZZZ"), path)

    if hostile is None:
        yield render(real)
        return
    for name in names:
        yield render({**real, name: hostile})


def _events(partner: PartnerSetup) -> list[str]:
    response = web.get(f"{partner.url}/events?top=1000", headers=partner.as_key)
    assert response.status_code == 200, response.text
    return [e["id"] for e in response.json()["items"]]


def _refused_well(response: httpx.Response, sent: str = "") -> str | None:
    """Why this answer is not a clean refusal, or None when it is (`sent`: the hostile value, which
    a 404 may name back: that is the caller's own text, not a leak)."""
    if not 400 <= response.status_code < 500:
        return f"status {response.status_code}"
    if response.headers.get("content-type", "").split(";")[0] != "application/problem+json":
        return f"content-type {response.headers.get('content-type')}"
    for leak in LEAKS.finditer(response.text):
        if leak.group(0).lower() not in sent.lower():
            return f"leaks {leak.group(0)!r}"
    return None


def test_hostile_bodies_get_a_problem_on_every_route_with_a_body(
    api: str, document: dict[str, Any], partner: PartnerSetup, org: dict[str, Any]
) -> None:
    before = _events(partner)
    failures: list[str] = []
    sent = 0
    for method, path, op in _operations(document):
        if "requestBody" not in op:
            continue
        headers = {**_credentials(op, partner, org, api), "content-type": "application/json"}
        for url in _fill(path, partner, org):
            params = {"code": org["webhookKey"]} if "/webhook" in path else None
            for name, body in HOSTILE_BODIES.items():
                response = web.request(
                    method.upper(), api + url, content=body, headers=headers, params=params
                )
                sent += 1
                why = _refused_well(response)
                if why:
                    failures.append(f"{method.upper()} {path} with {name}: {why} {response.text[:120]}")
    assert sent >= 10 * len(HOSTILE_BODIES)
    assert not failures, "\n".join(failures)
    assert _events(partner) == before  # nothing was written


def test_the_webhook_reads_its_body_by_the_same_rule(api: str, org: dict[str, Any]) -> None:
    """Dataverse's own endpoint, authenticated: the body rule is the API's, 400 with what is wrong."""
    url = f"{api}/api/dynamics/{org['id']}/webhook"
    for name, body in HOSTILE_BODIES.items():
        response = web.post(
            url,
            params={"code": org["webhookKey"]},
            content=body,
            headers={"content-type": "application/json", **SAMPLE_HEADERS},
        )
        assert _refused_well(response) is None, (name, response.status_code, response.text[:200])
        assert response.status_code in (400, 413), (name, response.status_code)


def test_hostile_ids_in_every_id_position_get_a_problem(
    api: str, document: dict[str, Any], partner: PartnerSetup, org: dict[str, Any]
) -> None:
    before = _events(partner)
    failures: list[str] = []
    sent = 0
    for method, path, op in _operations(document):
        if "{" not in path:
            continue
        headers = _credentials(op, partner, org, api)
        body = {} if "requestBody" in op else None
        for name, value in HOSTILE_IDS.items():
            for url in _fill(path, partner, org, value):
                response = web.request(method.upper(), api + url, headers=headers, json=body)
                sent += 1
                why = _refused_well(response, value)
                if why:
                    failures.append(f"{method.upper()} {url[:120]} ({name}): {why} {response.text[:120]}")
    assert sent >= 50
    assert not failures, "\n".join(failures)
    assert _events(partner) == before

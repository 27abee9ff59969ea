"""The role x route table as behaviour: each role's token on every partner route of the served API
document. A route the role's scopes do not cover answers 403 naming the permission, before anything
is read or written; a read the role is given is never refused for want of permission."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from shared.ids import new_id
from tests.access_table import EXPECTED_ROLE_SCOPES, EXPECTED_ROUTES, OWNER_ONLY_READS
from tests.e2e.actors import PartnerSetup

http = httpx.Client(timeout=30)
GUID_PARAMETERS = {"orgId", "tenantId", "userId", "groupId"}


@pytest.fixture(scope="module")
def people(partner: PartnerSetup) -> dict[str, dict[str, str]]:
    """A bearer token of one person per role (the owner exists already)."""
    tokens = {"owner": partner.bearer()}
    for role in EXPECTED_ROLE_SCOPES:
        if role == "owner":
            continue
        object_id = str(uuid.uuid4())
        added = http.post(
            f"{partner.url}/personnel",
            headers=partner.bearer(),
            json={"objectId": object_id, "email": f"{role.lower()}@contoso.example", "role": role},
        )
        assert added.status_code == 201, added.text
        tokens[role] = partner.bearer(object_id)
    return tokens


def partner_routes(api: str) -> list[tuple[str, str, str]]:
    """(method, path, scope) of every operation of the served document that a partner scope guards."""
    document: dict[str, Any] = http.get(f"{api}/api/openapi.json").json()
    found = []
    for path, operations in document["paths"].items():
        for method in operations:
            key = f"{method.upper()} {path.removeprefix('/api/')}"
            assert key in EXPECTED_ROUTES, f"{key} is served but has no row in tests/access_table.py"
            scope = EXPECTED_ROUTES[key].split("+")[0]
            if scope in EXPECTED_ROLE_SCOPES["owner"]:
                found.append((method.upper(), path, scope))
    return found


def concrete(path: str, partner: PartnerSetup) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "partnerId":
            return partner.id
        return str(uuid.uuid4()) if name in GUID_PARAMETERS else new_id()

    return re.sub(r"\{(\w+)\}", value, path)


@pytest.mark.parametrize("role", list(EXPECTED_ROLE_SCOPES))
def test_each_role_is_refused_exactly_the_routes_its_scopes_do_not_cover(
    api: str, partner: PartnerSetup, people: dict[str, dict[str, str]], role: str
) -> None:
    routes = partner_routes(api)
    assert len(routes) > 50
    wrong: list[str] = []
    for method, path, scope in routes:
        url = api + concrete(path, partner)
        if scope not in EXPECTED_ROLE_SCOPES[role]:
            response = http.request(method, url, headers=people[role], json={})
            body = response.json() if response.status_code == 403 else {}
            if not (
                str(body.get("type", "")).endswith("/forbidden") and f"'{scope}'" in str(body.get("detail"))
            ):
                wrong.append(f"{method} {path}: {response.status_code}, expected 403 for want of {scope}")
        elif method == "GET" and role != "owner" and f"GET {path.removeprefix('/api/')}" in OWNER_ONLY_READS:
            response = http.get(url, headers=people[role])
            if response.status_code != 403 or not str(response.json().get("type")).endswith("/owner-only"):
                wrong.append(f"{method} {path}: {response.status_code}, expected 403 owner-only")
        elif method == "GET":
            # A read the role is given: whatever the made-up ids find (404, 200), never a 401/403.
            response = http.get(url, headers=people[role])
            if response.status_code in (401, 403):
                wrong.append(f"{method} {path}: {response.status_code} {response.text[:120]}")
    assert wrong == [], f"{role}: " + "\n".join(wrong)

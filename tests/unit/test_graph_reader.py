"""GraphReader's fault handling against a scripted transport (httpx.MockTransport, no sockets)."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest
from azure.core.credentials import AccessToken
from pydantic import SecretStr

from shared.adapters.graph import (
    DeltaTokenExpiredError,
    GraphError,
    GraphReader,
    GraphSettings,
    GraphThrottledError,
    GraphUnauthorizedError,
    GraphUnavailableError,
    Pacer,
)

BASE = "https://graph.test/v1.0"
TENANT = "0a1b2c3d-0000-4000-8000-000000000001"
SETTINGS = GraphSettings(
    "app", SecretStr("s"), base_url=BASE, max_attempts=4, backoff_base_seconds=0.5, backoff_cap_seconds=4.0
)


class FakeCredential:
    def __init__(self) -> None:
        self.issued: list[str | None] = []

    def get_token(self, *scopes: str, tenant_id: str | None = None, **_: Any) -> AccessToken:
        assert scopes == ("https://graph.microsoft.com/.default",)
        self.issued.append(tenant_id)
        return AccessToken(f"token-{tenant_id}-{len(self.issued)}", 2_000_000_000)


def graph_error(status: int, code: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"error": {"code": code, "message": code, "innerError": {"request-id": "r"}}}
    return httpx.Response(status, json=body, headers=headers)


def delta_page(users: list[dict[str, Any]], *, next_token: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"value": users}
    if next_token:
        body["@odata.nextLink"] = f"{BASE}/users/delta?$skiptoken={next_token}"
    else:
        body["@odata.deltaLink"] = f"{BASE}/users/delta?$deltatoken=next"
    return httpx.Response(200, json=body)


class Script:
    """Answers requests from a list of responses (or callables), recording what was sent."""

    def __init__(self, *responses: httpx.Response | Callable[[httpx.Request], httpx.Response]):
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.responses.pop(0)
        return answer(request) if callable(answer) else answer


def reader(
    script: Script, settings: GraphSettings = SETTINGS, **options: Any
) -> tuple[GraphReader, list[float]]:
    slept: list[float] = []
    client = httpx.Client(transport=httpx.MockTransport(script))
    return (
        GraphReader(
            TENANT,
            FakeCredential(),  # type: ignore[arg-type]
            settings,
            http_client=client,
            sleep=slept.append,
            rng=random.Random(7),  # noqa: S311 - jitter, not secrets
            **options,
        ),
        slept,
    )


def test_sends_background_priority_page_size_and_a_token_for_the_customer_tenant() -> None:
    script = Script(delta_page([{"id": "u1"}], next_token="p2"), delta_page([{"id": "u2"}]))
    graph, _ = reader(script)
    pages = list(graph.users_delta())
    assert [u.id for p in pages for u in p.items] == ["u1", "u2"]
    first, second = script.requests
    assert first.headers["x-ms-throttle-priority"] == "low"
    assert first.headers["prefer"] == "odata.maxpagesize=999"
    assert first.headers["authorization"] == f"Bearer token-{TENANT}-1"
    assert "%24select=id%2CdisplayName" in str(first.url)
    # The nextLink is followed as given: it already encodes the $select.
    assert str(second.url) == f"{BASE}/users/delta?$skiptoken=p2"
    assert second.headers["authorization"] == f"Bearer token-{TENANT}-1"  # cached, not re-issued


def test_retry_after_is_obeyed_exactly() -> None:
    script = Script(graph_error(429, "TooManyRequests", {"Retry-After": "3"}), delta_page([{"id": "u1"}]))
    graph, slept = reader(script)
    assert [u.id for p in graph.users_delta() for u in p.items] == ["u1"]
    assert slept == [3.0]


def test_without_retry_after_backoff_grows_and_the_budget_is_bounded() -> None:
    script = Script(*[graph_error(503, "serviceNotAvailable") for _ in range(10)])
    graph, slept = reader(script)
    with pytest.raises(GraphUnavailableError):
        list(graph.users_delta())
    assert len(script.requests) == SETTINGS.max_attempts
    assert len(slept) == SETTINGS.max_attempts - 1
    for attempt, delay in enumerate(slept, start=1):
        ceiling = min(4.0, 0.5 * 2 ** (attempt - 1))
        assert ceiling / 2 <= delay <= ceiling


def test_a_retry_after_longer_than_we_may_wait_fails_fast_with_the_delay() -> None:
    script = Script(graph_error(429, "TooManyRequests", {"Retry-After": "600"}))
    graph, slept = reader(script)
    with pytest.raises(GraphThrottledError) as caught:
        list(graph.users_delta())
    assert caught.value.retry_after == 600.0
    assert slept == []


def test_transport_failures_are_retried() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    script = Script(refuse, delta_page([{"id": "u1"}]))
    graph, slept = reader(script)
    assert [u.id for p in graph.users_delta() for u in p.items] == ["u1"]
    assert len(slept) == 1


def test_client_errors_are_not_retried() -> None:
    script = Script(graph_error(400, "BadRequest"))
    graph, slept = reader(script)
    with pytest.raises(GraphError):
        list(graph.users_delta())
    assert len(script.requests) == 1 and slept == []


def test_a_refused_token_is_renewed_once() -> None:
    script = Script(graph_error(401, "InvalidAuthenticationToken"), delta_page([{"id": "u1"}]))
    graph, _ = reader(script)
    list(graph.users_delta())
    assert [r.headers["authorization"] for r in script.requests] == [
        f"Bearer token-{TENANT}-1",
        f"Bearer token-{TENANT}-2",
    ]
    again = Script(*[graph_error(401, "InvalidAuthenticationToken")] * 3)
    graph, _ = reader(again)
    with pytest.raises(GraphUnauthorizedError):
        list(graph.users_delta())
    assert len(again.requests) == 2


def test_a_link_to_another_host_is_never_followed() -> None:
    evil = httpx.Response(
        200, json={"value": [], "@odata.nextLink": "https://elsewhere.test/v1.0/users/delta?x=1"}
    )
    script = Script(evil)
    graph, _ = reader(script)
    with pytest.raises(GraphError, match="another host"):
        list(graph.users_delta())
    assert len(script.requests) == 1


def test_expired_delta_link_raises_or_restarts_in_full() -> None:
    stored = f"{BASE}/users/delta?$deltatoken=old"
    graph, _ = reader(Script(graph_error(410, "syncStateNotFound")))
    with pytest.raises(DeltaTokenExpiredError):
        list(graph.users_delta(stored))

    script = Script(graph_error(410, "syncStateNotFound"), delta_page([{"id": "u1"}]))
    graph, _ = reader(script)
    pages = list(graph.users_delta(stored, resync_on_expiry=True))
    assert [p.full_sync for p in pages] == [True]
    assert "$select" in str(script.requests[1].url) or "%24select" in str(script.requests[1].url)


def test_a_delta_link_for_another_endpoint_counts_as_expired() -> None:
    script = Script()
    graph, _ = reader(script)
    with pytest.raises(DeltaTokenExpiredError):
        list(graph.users_delta("https://old-standin.test/v1.0/users/delta?$deltatoken=x"))
    assert script.requests == []


def _collection(items: list[dict[str, Any]]) -> httpx.Response:
    return httpx.Response(200, json={"value": items})


def test_configuration_joins_role_names_and_survives_a_forbidden_section() -> None:
    ga = "62e90394-69f5-4237-9190-012177145e10"

    def route(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/v1.0/")
        answers: dict[str, httpx.Response] = {
            "organization": _collection([{"id": TENANT, "displayName": "Contoso", "verifiedDomains": []}]),
            "subscribedSkus": _collection(
                [{"id": "s", "skuId": "sku", "consumedUnits": 3, "prepaidUnits": {"enabled": 5}}]
            ),
            "domains": _collection([{"id": "contoso.example", "isDefault": True}]),
            "roleManagement/directory/roleDefinitions": _collection(
                [{"id": ga, "templateId": ga, "displayName": "Global Administrator"}]
            ),
            "roleManagement/directory/roleAssignments": _collection(
                [{"id": "a1", "principalId": "u1", "roleDefinitionId": ga, "directoryScopeId": "/"}]
            ),
            "identity/conditionalAccess/policies": graph_error(403, "Authorization_RequestDenied"),
            "policies/identitySecurityDefaultsEnforcementPolicy": httpx.Response(
                200, json={"id": "00000000-0000-0000-0000-000000000005", "isEnabled": True}
            ),
        }
        return answers[path]

    script = Script(*[route] * 7)
    graph, _ = reader(script, ca_pacer=Pacer(0.0))
    config = graph.configuration()
    assert config.role_holders() == ["u1"]
    assert config.role_assignments[0].role_name == "Global Administrator"
    assert config.subscribed_skus[0].available_units == 2
    assert config.security_defaults is not None and config.security_defaults.is_enabled
    assert config.unavailable == {"conditionalAccessPolicies": "Authorization_RequestDenied"}
    assert config.conditional_access_policies == []
    json.dumps(config.model_dump(mode="json"))  # storable as it is


def test_other_failures_in_configuration_are_not_swallowed() -> None:
    script = Script(graph_error(400, "BadRequest"))
    graph, _ = reader(script, settings=replace(SETTINGS, max_attempts=1))
    with pytest.raises(GraphError):
        graph.configuration()

"""Graph wire JSON into slim models, Graph errors into typed exceptions, retry timing: no I/O."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from pydantic import SecretStr

from shared.adapters.graph import (
    GROUP_SELECT,
    USER_SELECT,
    DeltaTokenExpiredError,
    GraphBadRequestError,
    GraphConflictError,
    GraphError,
    GraphForbiddenError,
    GraphGroup,
    GraphNotFoundError,
    GraphSettings,
    GraphThrottledError,
    GraphUnauthorizedError,
    GraphUnavailableError,
    GraphUser,
    Pacer,
    backoff_delay,
    error_from_response,
    parse_delta_page,
    parse_retry_after,
)

SKU = "05e9a617-0261-4cee-bb44-138d3ef5d965"


def _page(value: list[dict[str, object]], **links: str) -> bytes:
    return json.dumps(
        {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users", "value": value, **links}
    ).encode()


def test_users_page_splits_changes_from_removals_and_keeps_the_next_link() -> None:
    body = _page(
        [
            {
                "id": "u1",
                "displayName": "Ada Berg",
                "userPrincipalName": "ada@contoso.example",
                "accountEnabled": False,
                "assignedLicenses": [{"skuId": SKU, "disabledPlans": []}],
                "onPremisesImmutableId": "not kept",
            },
            {"id": "u2", "@removed": {"reason": "deleted"}},
            {"id": "u3", "@removed": {"reason": "changed"}},
        ],
        **{"@odata.nextLink": "https://graph.microsoft.com/v1.0/users/delta?$skiptoken=abc"},
    )
    page, next_link = parse_delta_page(body, GraphUser, full_sync=True)
    assert [u.id for u in page.items] == ["u1"]
    assert page.removed == ["u2", "u3"]
    assert next_link == "https://graph.microsoft.com/v1.0/users/delta?$skiptoken=abc"
    assert page.delta_link is None
    user = page.items[0]
    assert user.account_enabled is False
    assert user.assigned_licenses is not None
    assert user.assigned_licenses[0].sku_id == SKU
    # What we store has camelCase names and no property we did not ask for.
    dumped = user.model_dump(by_alias=True, exclude_unset=True)
    assert "onPremisesImmutableId" not in dumped
    assert dumped["userPrincipalName"] == "ada@contoso.example"


def test_last_page_carries_the_delta_link() -> None:
    link = "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=xyz"
    page, next_link = parse_delta_page(_page([], **{"@odata.deltaLink": link}), GraphUser, full_sync=False)
    assert next_link is None
    assert page.delta_link == link
    assert page.items == [] and page.removed == []


def test_a_partial_change_is_distinguishable_from_a_cleared_property() -> None:
    link = "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=xyz"
    body = _page([{"id": "u1", "jobTitle": None, "department": "Sales"}], **{"@odata.deltaLink": link})
    user = parse_delta_page(body, GraphUser, full_sync=False)[0].items[0]
    assert user.model_fields_set == {"id", "job_title", "department"}
    assert user.job_title is None  # cleared: present and null
    assert "display_name" not in user.model_fields_set  # absent: unchanged, not cleared


def test_a_page_without_either_link_is_refused() -> None:
    with pytest.raises(GraphError, match="neither"):
        parse_delta_page(_page([{"id": "u1"}]), GraphUser, full_sync=True)


def test_group_member_changes_come_from_members_delta() -> None:
    body = _page(
        [
            {
                "id": "g1",
                "displayName": "Sales",
                "groupTypes": ["Unified"],
                "members@delta": [
                    {"@odata.type": "#microsoft.graph.user", "id": "u1"},
                    {"@odata.type": "#microsoft.graph.user", "id": "u2", "@removed": {"reason": "deleted"}},
                ],
            },
            {"id": "g2", "@removed": {"reason": "changed"}},
        ],
        **{"@odata.deltaLink": "https://graph.microsoft.com/v1.0/groups/delta?$deltatoken=1"},
    )
    page, _ = parse_delta_page(body, GraphGroup, full_sync=False)
    group = page.items[0]
    assert group.members_added == ["u1"]
    assert group.members_removed == ["u2"]
    assert page.removed == ["g2"]
    assert "members@delta" not in group.model_dump(by_alias=True)


def test_select_lists_name_exactly_the_properties_the_models_keep() -> None:
    assert set(USER_SELECT) == {
        "id",
        "displayName",
        "givenName",
        "surname",
        "userPrincipalName",
        "mail",
        "accountEnabled",
        "usageLocation",
        "jobTitle",
        "department",
        "userType",
        "assignedLicenses",
    }
    assert "members" in GROUP_SELECT
    assert not any(name.startswith("@") or "@" in name for name in (*USER_SELECT, *GROUP_SELECT))


def _error(status: int, code: str, message: str = "m") -> bytes:
    inner = {"date": "2026-01-01T00:00:00", "request-id": "r1", "client-request-id": "c1"}
    return json.dumps({"error": {"code": code, "message": message, "innerError": inner}}).encode()


@pytest.mark.parametrize(
    ("status", "code", "message", "expected"),
    [
        (410, "syncStateNotFound", "The sync state generation is not found.", DeltaTokenExpiredError),
        (400, "syncStateNotFound", "The delta token is expired.", DeltaTokenExpiredError),
        (400, "resyncRequired", "Resync.", DeltaTokenExpiredError),
        (404, "Request_ResourceNotFound", "Resource 'x' does not exist", GraphNotFoundError),
        (403, "Authorization_RequestDenied", "Insufficient privileges", GraphForbiddenError),
        (409, "Conflict", "Conflict", GraphConflictError),
        (
            400,
            "Request_BadRequest",
            "One or more added object references already exist for the following modified properties: "
            "'members'.",
            GraphConflictError,
        ),
        (400, "Request_BadRequest", "Invalid value specified for property", GraphBadRequestError),
        (401, "InvalidAuthenticationToken", "Access token is empty.", GraphUnauthorizedError),
        (429, "TooManyRequests", "Too many requests", GraphThrottledError),
        (503, "serviceNotAvailable", "Unavailable", GraphUnavailableError),
    ],
)
def test_graph_errors_map_to_typed_exceptions(
    status: int, code: str, message: str, expected: type[GraphError]
) -> None:
    error = error_from_response(status, _error(status, code, message), {"request-id": "r1"})
    assert type(error) is expected
    assert (error.status, error.code, error.request_id) == (status, code, "r1")


def test_throttling_error_carries_retry_after() -> None:
    error = error_from_response(429, _error(429, "TooManyRequests"), {"Retry-After": "7"})
    assert isinstance(error, GraphThrottledError)
    assert error.retry_after == 7.0


def test_an_error_without_a_graph_body_still_maps_by_status() -> None:
    error = error_from_response(503, b"<html>Service Unavailable</html>", {})
    assert isinstance(error, GraphUnavailableError)
    assert error.code == "UnknownError"


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_backoff_grows_exponentially_within_jitter_and_stops_at_the_cap() -> None:
    settings = GraphSettings("app", SecretStr("s"), backoff_base_seconds=1.0, backoff_cap_seconds=8.0)
    rng = random.Random(1)  # noqa: S311 - jitter, not secrets
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (9, 8.0)]:
        delays = [backoff_delay(attempt, settings, rng) for _ in range(200)]
        assert min(delays) >= ceiling / 2
        assert max(delays) <= ceiling
        assert max(delays) - min(delays) > ceiling / 10  # jittered, not lockstep


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_pacer_spaces_requests_from_the_end_of_the_previous_one_per_key() -> None:
    fake = FakeClock()
    pacer = Pacer(1.0, clock=fake.clock, sleep=fake.sleep)
    with pacer.slot("tenant-a"):
        fake.now += 0.4  # the request itself took 0.4 s
    with pacer.slot("tenant-b"):
        pass
    assert fake.slept == []  # another tenant is not held back
    fake.now += 0.25
    with pacer.slot("tenant-a"):
        pass
    assert fake.slept == [pytest.approx(0.75)]
    fake.now += 5
    with pacer.slot("tenant-a"):
        pass
    assert fake.slept == [pytest.approx(0.75)]  # long enough ago: no wait


def test_a_page_that_is_not_what_graph_promises_is_a_graph_error() -> None:
    with pytest.raises(GraphError, match="cannot read") as caught:
        parse_delta_page(b'{"value": [{"displayName": "no id"}]}', GraphUser, full_sync=True)
    assert caught.value.code == "MalformedResponse"

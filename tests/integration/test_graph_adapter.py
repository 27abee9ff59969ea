"""The Graph adapter, the real azure-identity credential and msgraph-sdk against the Graph stand-in."""

from __future__ import annotations

import asyncio
import ssl
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from localdev.azurite import free_port
from localdev.graph_standin import GraphStandin, RunningStandin, StandinControl, serve_in_thread
from localdev.graph_tenant import generate_tenant
from shared.adapters.graph import (
    DeltaTokenExpiredError,
    GraphBadRequestError,
    GraphConflictError,
    GraphForbiddenError,
    GraphNotFoundError,
    GraphReader,
    GraphSettings,
    GraphUnavailableError,
    GraphUser,
    GraphWriter,
    LicenceChange,
    Pacer,
    graph_credential,
)

# msgraph's generated request builders and kiota warn about their own deprecated classes at import.
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:msgraph.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:kiota_abstractions.*"),
]

CLIENT_ID = "5f1c0d3a-8e2b-4c7d-9a6f-0b1e2d3c4f5a"
CLIENT_SECRET = "stand-in-client-secret"


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStandin]:
    app = GraphStandin(users_per_tenant=1000, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    with serve_in_thread(app, port=free_port(), cert_dir=tmp_path_factory.mktemp("graph-tls")) as running:
        yield running


@pytest.fixture(scope="module")
def control(standin: RunningStandin) -> Iterator[StandinControl]:
    client = StandinControl(standin.base_url, standin.certificates.ca)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _no_faults_left(control: StandinControl) -> Iterator[None]:
    yield
    control.clear_faults()


@pytest.fixture(scope="module")
def settings(standin: RunningStandin) -> GraphSettings:
    env = standin.settings()
    return GraphSettings(
        client_id=env["GRAPH_CLIENT_ID"],
        client_secret=SecretStr(env["GRAPH_CLIENT_SECRET"]),
        authority_host=env["GRAPH_AUTHORITY_HOST"],
        base_url=env["GRAPH_BASE_URL"],
        ca_bundle=env["GRAPH_CA_BUNDLE"],
        backoff_base_seconds=0.05,
        backoff_cap_seconds=0.2,
    )


@pytest.fixture(scope="module")
def credential(settings: GraphSettings) -> Any:
    """The real ClientSecretCredential: it gets its tokens from the stand-in's token endpoint."""
    return graph_credential(settings)


def consented_tenant(control: StandinControl) -> str:
    """A tenant nobody else uses, whose admin consented to the app (generated on first sight of its id)."""
    tenant_id = str(uuid.uuid4())
    control.grant_consent(tenant_id)
    return tenant_id


@pytest.fixture
def tenant(control: StandinControl) -> str:
    return consented_tenant(control)


class Sleeps:
    def __init__(self) -> None:
        self.seconds: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)
        time.sleep(seconds)


def read_all(reader: GraphReader, delta_link: str | None = None) -> tuple[list[GraphUser], list[str], str]:
    users: list[GraphUser] = []
    removed: list[str] = []
    link = None
    for page in reader.users_delta(delta_link):
        users.extend(page.items)
        removed.extend(page.removed)
        link = page.delta_link
    assert link is not None
    return users, removed, link


def test_full_delta_pages_through_every_user_exactly_once(
    tenant: str, settings: GraphSettings, credential: Any, control: StandinControl
) -> None:
    with GraphReader(tenant, credential, replace(settings, page_size=100)) as reader:
        pages = list(reader.users_delta())
    assert len(pages) == 10
    assert all(p.delta_link is None for p in pages[:-1]) and pages[-1].delta_link
    assert all(p.full_sync for p in pages)
    ids = [u.id for p in pages for u in p.items]
    assert len(ids) == len(set(ids)) == 1000
    assert set(ids) == set(generate_tenant(tenant, 1000).users)
    sent = [r for r in control.requests(tenant) if r["path"] == "users/delta"]
    assert len(sent) == 10
    assert all(r["priority"] == "low" and r["prefer"] == "odata.maxpagesize=100" for r in sent)
    assert all(r["status"] == 200 for r in sent)


def test_delta_link_returns_only_the_changes_since(
    tenant: str, settings: GraphSettings, credential: Any, control: StandinControl
) -> None:
    with GraphReader(tenant, credential, settings) as reader:
        before, _, link = read_all(reader)
        changed_user, removed_user = before[10], before[20]
        result = control.mutate(
            tenant,
            add=[{"displayName": "New Starter"}, {}],
            change={changed_user.id: {"displayName": "Renamed Person", "jobTitle": None}},
            remove=[removed_user.id],
        )
        added_ids = {u["id"] for u in result["added"]}

        users, removed, next_link = read_all(reader, link)
        assert {u.id for u in users} == added_ids | {changed_user.id}
        assert removed == [removed_user.id]
        renamed = next(u for u in users if u.id == changed_user.id)
        assert renamed.display_name == "Renamed Person" and renamed.job_title is None
        assert any(u.display_name == "New Starter" for u in users)

        # Nothing changed since: the next round is empty, and its link still works after.
        users, removed, last_link = read_all(reader, next_link)
        assert users == [] and removed == []
        control.mutate(tenant, remove=[before[30].id], hard_delete=True)
        users, removed, _ = read_all(reader, last_link)
        assert users == [] and removed == [before[30].id]


def test_groups_delta_reports_membership_changes(
    tenant: str, settings: GraphSettings, credential: Any, control: StandinControl
) -> None:
    with GraphReader(tenant, credential, settings) as reader:
        pages = list(reader.groups_delta())
        groups = [g for p in pages for g in p.items]
        link = pages[-1].delta_link
        assert link and groups and all(g.members_delta is not None for g in groups)
        group = groups[0]
        leaver = group.members_added[0]
        control.mutate(tenant, remove=[leaver])
        changes = [g for p in reader.groups_delta(link) for g in p.items]
    touched = next(g for g in changes if g.id == group.id)
    assert touched.members_removed == [leaver] and touched.members_added == []


def test_429_retry_after_is_obeyed_and_retried(
    tenant: str, settings: GraphSettings, credential: Any, control: StandinControl
) -> None:
    control.inject("throttle", path="users/delta", tenant=tenant, retryAfter=1)
    sleeps = Sleeps()
    with GraphReader(tenant, credential, settings, sleep=sleeps) as reader:
        users, _, _ = read_all(reader)
    assert len(users) == 1000
    assert sleeps.seconds == [1.0]
    first, second = [r for r in control.requests(tenant) if r["path"] == "users/delta"][:2]
    assert (first["status"], first["retryAfter"], second["status"]) == (429, "1", 200)
    assert second["at"] - first["at"] >= 1.0


def test_503_is_retried_with_backoff(
    tenant: str, settings: GraphSettings, credential: Any, control: StandinControl
) -> None:
    control.inject("unavailable", path="users/delta", tenant=tenant, count=2)
    sleeps = Sleeps()
    with GraphReader(tenant, credential, settings, sleep=sleeps) as reader:
        users, _, _ = read_all(reader)
    assert len(users) == 1000
    assert len(sleeps.seconds) == 2 and all(0.025 <= s <= 0.2 for s in sleeps.seconds)
    statuses = [r["status"] for r in control.requests(tenant) if r["path"] == "users/delta"]
    assert statuses[:3] == [503, 503, 200]


def test_the_retry_budget_is_bounded(
    tenant: str, settings: GraphSettings, credential: Any, control: StandinControl
) -> None:
    control.inject("unavailable", path="users/delta", tenant=tenant, count=50)
    with (
        GraphReader(tenant, credential, replace(settings, max_attempts=3)) as reader,
        pytest.raises(GraphUnavailableError) as caught,
    ):
        read_all(reader)
    assert caught.value.code == "serviceNotAvailable"
    assert len([r for r in control.requests(tenant) if r["path"] == "users/delta"]) == 3


def test_a_slow_page_that_times_out_is_retried(
    tenant: str, settings: GraphSettings, credential: Any, control: StandinControl
) -> None:
    control.inject("slow", path="users/delta", tenant=tenant, delaySeconds=1.5)
    sleeps = Sleeps()
    with GraphReader(tenant, credential, replace(settings, timeout_seconds=0.5), sleep=sleeps) as reader:
        users, _, _ = read_all(reader)
    assert len(users) == 1000
    assert len(sleeps.seconds) == 1  # one timeout, one retry


def test_an_expired_delta_token_raises_and_a_full_resync_recovers(
    tenant: str, settings: GraphSettings, credential: Any, control: StandinControl
) -> None:
    with GraphReader(tenant, credential, settings) as reader:
        _, _, link = read_all(reader)
        control.expire_delta_tokens(tenant)
        with pytest.raises(DeltaTokenExpiredError) as caught:
            read_all(reader, link)
        assert (caught.value.status, caught.value.code) == (410, "syncStateNotFound")

        pages = list(reader.users_delta(link, resync_on_expiry=True))
        assert all(p.full_sync for p in pages)
        assert sum(len(p.items) for p in pages) == 1000
        fresh = pages[-1].delta_link
        assert fresh is not None

        # Graph keeps directory sync state for seven days.
        read_all(reader, fresh)
        control.advance_clock(7 * 24 * 3600 + 60)
        try:
            with pytest.raises(DeltaTokenExpiredError):
                read_all(reader, fresh)
        finally:
            control.advance_clock(-(7 * 24 * 3600 + 60))


def test_conditional_access_reads_are_paced_to_one_per_second(
    tenant: str, settings: GraphSettings, credential: Any, standin: RunningStandin, control: StandinControl
) -> None:
    with GraphReader(tenant, credential, settings, ca_pacer=Pacer(1.0)) as reader:
        first = reader.configuration()
        second = reader.configuration()
    assert first == second and first.unavailable == {}
    calls = [r for r in control.requests(tenant) if r["path"] == "identity/conditionalAccess/policies"]
    assert [r["status"] for r in calls] == [200, 200]
    assert calls[1]["at"] - calls[0]["at"] >= 1.0

    # Without pacing the stand-in refuses, and, as Graph does here, names no Retry-After.
    token = credential.get_token("https://graph.microsoft.com/.default", tenant_id=tenant).token
    verify = ssl.create_default_context(cafile=str(standin.certificates.ca))
    with httpx.Client(verify=verify, headers={"Authorization": f"Bearer {token}"}) as raw:
        url = f"{standin.graph_url}/identity/conditionalAccess/policies"
        answers = [raw.get(url), raw.get(url)]
    assert answers[1].status_code == 429 and "retry-after" not in answers[1].headers


def test_configuration_reads_the_tenant_the_token_names(
    settings: GraphSettings, credential: Any, control: StandinControl
) -> None:
    one, two = consented_tenant(control), consented_tenant(control)
    pacer = Pacer(1.0)
    configs = []
    for tenant in (one, two):
        with GraphReader(tenant, credential, settings, ca_pacer=pacer) as reader:
            configs.append(reader.configuration())
    for tenant, config in zip((one, two), configs, strict=True):
        expected = generate_tenant(tenant, 1000)
        assert config.organization is not None and config.organization.id == tenant
        assert {d.id for d in config.domains} == {d["id"] for d in expected.domains}
        admins = [
            a["principalId"] for a in expected.role_assignments if a["roleDefinitionId"].startswith("62e9")
        ]
        assert sorted(config.role_holders()) == sorted(admins)
        assert config.security_defaults is not None
        assert config.security_defaults.is_enabled == expected.security_defaults["isEnabled"]
        assert len(config.conditional_access_policies) == len(expected.ca_policies)
        assert {s.sku_id for s in config.subscribed_skus} == {s["skuId"] for s in expected.skus}


def test_a_forbidden_section_is_reported_and_the_rest_still_read(
    tenant: str, settings: GraphSettings, credential: Any, control: StandinControl
) -> None:
    control.inject(
        "status",
        path="identity/conditionalAccess",
        tenant=tenant,
        status=403,
        code="Authorization_RequestDenied",
    )
    with GraphReader(tenant, credential, settings, ca_pacer=Pacer(1.0)) as reader:
        config = reader.configuration()
    assert config.unavailable == {"conditionalAccessPolicies": "Authorization_RequestDenied"}
    assert config.organization is not None and config.domains and config.role_assignments


def test_calls_without_a_valid_token_get_graphs_401(standin: RunningStandin) -> None:
    verify = ssl.create_default_context(cafile=str(standin.certificates.ca))
    with httpx.Client(verify=verify) as raw:
        missing = raw.get(f"{standin.graph_url}/users")
        forged = raw.get(
            f"{standin.graph_url}/users",
            headers={"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJ0aWQiOiJ4In0.c2lnbmF0dXJl"},
        )
    for response in (missing, forged):
        assert response.status_code == 401
        error = response.json()["error"]
        assert error["code"] == "InvalidAuthenticationToken"
        assert set(error["innerError"]) >= {"request-id", "client-request-id", "date"}
    assert missing.json()["error"]["message"] == "Access token is empty."


def test_a_wrong_client_secret_gets_no_token(tenant: str, settings: GraphSettings) -> None:
    from azure.core.exceptions import ClientAuthenticationError

    wrong = graph_credential(replace(settings, client_secret=SecretStr("not-the-secret")))
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        wrong.get_token("https://graph.microsoft.com/.default", tenant_id=tenant)


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def test_writer_patch_shows_in_the_next_delta_and_in_an_sdk_read(
    tenant: str, settings: GraphSettings, credential: Any
) -> None:
    with GraphReader(tenant, credential, settings) as reader:
        before, _, link = read_all(reader)
        target = before[5]

        async def write_then_read() -> GraphUser:
            async with GraphWriter(tenant, credential, settings) as writer:
                await writer.update_user(
                    target.id, display_name="Patched Name", account_enabled=False, usage_location="DE"
                )
                return await writer.get_user(target.id)

        via_sdk = run(write_then_read())
        assert (via_sdk.display_name, via_sdk.account_enabled, via_sdk.usage_location) == (
            "Patched Name",
            False,
            "DE",
        )
        changed, _, _ = read_all(reader, link)
    assert [u.id for u in changed] == [target.id]
    assert (changed[0].display_name, changed[0].account_enabled, changed[0].usage_location) == (
        "Patched Name",
        False,
        "DE",
    )


def test_writer_licences_members_and_security_defaults_change_what_reads_return(
    tenant: str, settings: GraphSettings, credential: Any
) -> None:
    expected = generate_tenant(tenant, 1000)
    unlicensed = next(u for u in expected.users.values() if u["usageLocation"] and not u["assignedLicenses"])
    sku = expected.skus[0]["skuId"]
    group_id, members = next(iter(expected.members.items()))
    outsider = next(u for u in expected.users if u not in members)
    pacer = Pacer(1.0)
    with GraphReader(tenant, credential, settings, ca_pacer=pacer) as reader:
        before = reader.configuration()
        group_link = list(reader.groups_delta())[-1].delta_link

        async def manage() -> None:
            async with GraphWriter(tenant, credential, settings) as writer:
                await writer.assign_licences(unlicensed["id"], add=[LicenceChange(sku)])
                await writer.add_group_member(group_id, outsider)
                await writer.remove_group_member(group_id, next(iter(members)))
                assert before.security_defaults is not None
                await writer.set_security_defaults(not before.security_defaults.is_enabled)

        run(manage())
        after = reader.configuration()
        groups = [g for p in reader.groups_delta(group_link) for g in p.items]
    consumed = {s.sku_id: s.consumed_units for s in before.subscribed_skus}
    assert {s.sku_id: s.consumed_units for s in after.subscribed_skus}[sku] == consumed[sku] + 1
    assert after.security_defaults is not None and before.security_defaults is not None
    assert after.security_defaults.is_enabled is not before.security_defaults.is_enabled
    group = next(g for g in groups if g.id == group_id)
    assert group.members_added == [outsider]
    assert group.members_removed == [next(iter(members))]


def test_writer_maps_graph_errors_to_typed_exceptions(
    tenant: str, settings: GraphSettings, credential: Any, control: StandinControl
) -> None:
    expected = generate_tenant(tenant, 1000)
    group_id, members = next(iter(expected.members.items()))
    some_user = next(iter(expected.users))

    async def attempts() -> list[BaseException]:
        failures: list[BaseException] = []
        async with GraphWriter(tenant, credential, settings) as writer:
            for call in (
                writer.update_user(str(uuid.uuid4()), display_name="Nobody"),
                writer.add_group_member(group_id, next(iter(members))),
            ):
                try:
                    await call
                except Exception as failure:
                    failures.append(failure)
            control.inject(
                "status",
                path="users/",
                method="PATCH",
                tenant=tenant,
                status=403,
                code="Authorization_RequestDenied",
            )
            try:
                await writer.update_user(some_user, account_enabled=False)
            except Exception as failure:
                failures.append(failure)
        return failures

    missing, duplicate, forbidden = run(attempts())
    assert isinstance(missing, GraphNotFoundError) and missing.code == "Request_ResourceNotFound"
    assert isinstance(duplicate, GraphConflictError)
    assert isinstance(forbidden, GraphForbiddenError) and forbidden.code == "Authorization_RequestDenied"


def test_the_sdk_delta_request_with_parentheses_is_served(
    tenant: str, settings: GraphSettings, credential: Any, control: StandinControl
) -> None:
    async def sdk_delta() -> int:
        async with GraphWriter(tenant, credential, settings) as writer:
            response = await writer.client().users.delta.get()
            assert response is not None and response.value is not None
            return len(response.value)

    assert run(sdk_delta()) == 100
    sent = [r for r in control.requests(tenant) if r["path"] == "users/delta"]
    assert [r["rawPath"] for r in sent] == ["/v1.0/users/delta()"]


def test_a_delta_link_only_works_for_its_own_tenant(
    tenant: str, settings: GraphSettings, credential: Any, control: StandinControl
) -> None:
    with GraphReader(tenant, credential, settings) as reader:
        _, _, link = read_all(reader)
    other_tenant = consented_tenant(control)
    with GraphReader(other_tenant, credential, settings) as other, pytest.raises(GraphBadRequestError):
        read_all(other, link)

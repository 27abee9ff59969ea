"""Graph and FCM misbehaving for a stretch, mid-work: the product waits as told, retries, and ends right.

The stand-ins speak the real wire formats (Graph's 429/503 with `Retry-After`, a page slower than
the client's timeout; FCM's RESOURCE_EXHAUSTED/UNAVAILABLE and UNREGISTERED) and keep a record of
every request with its time, which is what "Retry-After honoured" is checked against. The sync and
the fan-out are the product's own classes over real Azurite, driven as their queue triggers drive
them (a failed attempt raises, the queue's retry runs it again).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from functions import deps
from localdev.graph_standin import StandinControl
from shared.adapters.fcm import FcmSender
from shared.adapters.graph import GraphUnavailableError
from shared.notifications.records import DELIVERIES
from shared.notifications.service import NotificationService
from shared.partners.service import Partner
from shared.storage.router import AccountStorage
from shared.tenants.graph_access import GraphAccess
from shared.tenants.service import TenantService
from shared.tenants.store import DirectoryStore, group_members
from tests.faults.report import record, scale
from tests.faults.standins import fcm_attempts, fcm_sender, fcm_switch, own_account
from tests.integration.fanout_rig import PARTNER as FANOUT_PARTNER
from tests.integration.fanout_rig import (
    MovableClock,
    cipher,
    deliveries,
    job,
    make_fanout,
    notify,
    register,
    registry,
    rows,
)
from tests.integration.rigs import connected_partner, onboard, queued_sync, stored_users

__all__ = ["fcm_sender", "own_account"]  # fixtures, found by name

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:msgraph.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:kiota_abstractions.*"),
]

PAGE = 40
TIMEOUT = 1.0  # the Graph client's; the slow page takes longer


# --- Graph: a tenant sync through throttling, outages and a timeout --------------------------------


@pytest.fixture(scope="module")
def partner(control: StandinControl) -> Partner:
    return connected_partner(control, "Faults IT", tenant_limit=50)


def sync_service(partner: Partner) -> TenantService:
    settings = replace(
        deps.graph_access().settings,
        page_size=PAGE,
        timeout_seconds=TIMEOUT,
        backoff_base_seconds=0.05,
        backoff_cap_seconds=0.2,
    )
    # The test runs the sync as the queue trigger would, attempt by attempt: nothing is queued.
    return deps.tenants(
        partner, graph=GraphAccess(settings), sync_workers=4, dispatch=lambda message, delay: None
    )


def source(service: TenantService, tenant_id: str) -> tuple[dict[str, Any], dict[str, set[str]]]:
    """The tenant as Graph holds it now (a fault-free read): users and groups' members."""
    with service.graph.reader(tenant_id, "graph-app") as reader:  # type: ignore[union-attr]
        users = {u.id: u for page in reader.users_delta() for u in page.items}
        groups: dict[str, set[str]] = {}
        for page in reader.groups_delta():
            for group in page.items:
                groups.setdefault(group.id, set()).update(group.members_added)
    return users, groups


def stored(service: TenantService, tenant_id: str) -> tuple[dict[str, Any], dict[str, set[str]]]:
    store = DirectoryStore(service.account, service.partner.id, tenant_id, None)  # type: ignore[arg-type]
    return stored_users(service, tenant_id), {
        str(r["RowKey"]): group_members(r) for r in store.list_group_rows()
    }


def test_a_sync_through_throttling_outages_and_a_timeout_ends_equal_to_the_source(
    partner: Partner, control: StandinControl
) -> None:
    service = sync_service(partner)
    tenant_id = onboard(service, control, scale(8 * PAGE, 20_000))
    sync_id = queued_sync(service, tenant_id)
    attempts = deps.graph_access().settings.max_attempts
    # Groups are read after users: their first page is refused once, 503 with Retry-After.
    control.inject("unavailable", path="groups/delta", tenant=tenant_id, retryAfter=1)
    faults_after_page = {
        1: ("throttle", {"retryAfter": 2}),  # 429 with Retry-After
        2: ("unavailable", {"count": 2}),  # 503 without: backoff
        3: ("slow", {"delaySeconds": TIMEOUT + 1.5}),  # slower than the client waits
        # An outage longer than one call's retry budget: the attempt fails, the queue retries it.
        4: ("unavailable", {"count": attempts}),
    }

    def mid_sync(pages: int) -> None:
        if pages in faults_after_page:
            kind, options = faults_after_page[pages]
            control.inject(kind, path="users/delta", tenant=tenant_id, **options)

    with pytest.raises(GraphUnavailableError):
        service.run_sync(tenant_id, sync_id, final_attempt=False, on_page=mid_sync)
    # Between the attempts the tenant changes: the retry must end equal to the tenant as it is then.
    control.mutate(tenant_id, add=3)
    result = service.run_sync(tenant_id, sync_id, final_attempt=False)

    users, groups = source(service, tenant_id)
    kept_users, kept_groups = stored(service, tenant_id)
    requests = [r for r in control.requests(tenant_id) if r["path"] in ("users/delta", "groups/delta")]
    problems = _retry_after_broken(requests) + _timeouts_not_retried(requests, TIMEOUT + 1.5)
    refused = [r["status"] for r in requests if r["status"] != 200]
    same = (
        set(kept_users) == set(users)
        and all(kept_users[i]["displayName"] == u.display_name for i, u in users.items())
        and kept_groups == groups
    )
    record(
        "graph-throttled-unavailable-slow-during-sync",
        injected=len(refused) + 1,
        survived=same and not problems,
    )
    assert result.state == "succeeded" and result.attempts == 2
    assert sorted(refused) == sorted([429, 503] + [503] * (2 + attempts))
    assert problems == []
    assert same, (len(kept_users), len(users), len(kept_groups), len(groups))


def _retry_after_broken(requests: list[dict[str, Any]]) -> list[str]:
    """Each answer with Retry-After: the same path was not asked again sooner (stand-in's clock)."""
    broken = []
    for index, answer in enumerate(requests):
        if answer["retryAfter"] is None:
            continue
        later = [r for r in requests[index + 1 :] if r["path"] == answer["path"] and r["at"] > answer["at"]]
        assert later, f"no retry after {answer['status']} on {answer['path']}"
        waited = min(r["at"] for r in later) - answer["at"]
        if waited < float(answer["retryAfter"]):
            broken.append(f"{answer['path']}: asked again after {waited:.2f}s, told {answer['retryAfter']}s")
    return broken


def _timeouts_not_retried(requests: list[dict[str, Any]], slow: float) -> list[str]:
    """The slow page: the client asked again before the stand-in had answered it (it timed out)."""
    slow_ones = [r for r in requests if r["took"] >= slow - 0.1]
    if len(slow_ones) != 1:
        return [f"{len(slow_ones)} slow answers, expected 1"]
    first = slow_ones[0]
    retried = [
        r
        for r in requests
        if r["path"] == first["path"] and first["at"] < r["at"] < first["at"] + first["took"]
    ]
    return [] if retried else ["the slow page was waited for, not timed out and retried"]


# --- FCM: a fan-out through throttling, an outage and unregistered tokens --------------------------


@pytest.fixture
def fcm_switches() -> Iterator[None]:
    yield
    fcm_switch("throttle")
    fcm_switch("outage")


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_fan_out_through_throttling_an_outage_and_unregistered_tokens_sends_each_device_once(
    own_account: AccountStorage, fcm_sender: FcmSender, fcm_switches: None
) -> None:
    account, clock = own_account, MovableClock()
    org, run = str(uuid.uuid4()), uuid.uuid4().hex[:8]
    size = scale(80, 2_000)
    live = [f"ok-{run}-{i:05d}" for i in range(size)]
    dead = [f"unregistered-{run}-{i}" for i in range(max(3, size // 20))]
    ids = register(account, clock, org, live + dead)
    notification_id = notify(account, clock, org)
    shard_size = scale(20, 500)
    fanout = make_fanout(account, clock, fcm_sender, shard_size=shard_size)
    stretch = max(4, size // 10)
    throttle_after, outage_after = 90, 20  # seconds of Retry-After; FCM's quota floor is 60
    fcm_switch("throttle", count=stretch, retry_after=throttle_after)
    fcm_switch("outage", count=stretch, error_code="UNAVAILABLE", retry_after=outage_after)

    fanout.handle(job(org, notification_id))  # plans the shards
    shards = len(
        list(
            account.table(DELIVERIES).query_entities(
                f"PartitionKey eq '{notification_id}' and RowKey ge '~shard'"
            )
        )
    )
    for index in range(shards):
        fanout.handle(job(org, notification_id, index))
    first = {t: fcm_attempts(t) for t in live + dead}
    refused = {t: a[0] for t, a in first.items() if a and a[0]["status"] in (429, 503)}
    assert sorted(a["status"] for a in refused.values()) == [429] * stretch + [503] * stretch

    # Each refused device waits at least as long as FCM said.
    state = rows(account, notification_id)
    early = []
    for token, answer in refused.items():
        row = state[ids[token]]
        waited = (
            _at(row["notBefore"]) - datetime.fromtimestamp(answer["at"], clock.now().tzinfo)
        ).total_seconds()
        told = throttle_after if answer["status"] == 429 else outage_after
        if row["state"] != "retrying" or waited < told - 1:
            early.append(f"{token}: {row['state']}, retry after {waited:.1f}s, told {told}s")
    assert early == []
    # The retry round coming back before that time sends nothing.
    for index in range(shards):
        fanout.handle(job(org, notification_id, index, 1))
    assert {t: len(fcm_attempts(t)) for t in live + dead} == {t: len(a) for t, a in first.items()}

    clock.offset = timedelta(seconds=throttle_after * 2)
    for index in range(shards):
        fanout.handle(job(org, notification_id, index, 2))

    state = rows(account, notification_id)
    sent_once = all(deliveries(t) == 1 and state[ids[t]]["state"] == "sent" for t in live)
    pruned = all(
        state[ids[t]]["state"] == "failed"
        and state[ids[t]]["deviceDeleted"] is True
        and registry(account, clock).get(org, ids[t]) is None
        for t in dead
    )
    view = NotificationService(account, FANOUT_PARTNER, clock, cipher()).get(org, notification_id)
    whole = view.state == "completed" and (view.sent, view.failed) == (len(live), len(dead))
    record(
        "fcm-throttled-unavailable-unregistered-during-fanout",
        injected=2 * stretch + len(dead),
        survived=sent_once and pruned and whole,
    )
    assert sent_once, [t for t in live if deliveries(t) != 1]
    assert pruned
    assert whole, (view.state, view.sent, view.failed)
    assert all(registry(account, clock).get(org, ids[t]) is not None for t in live)

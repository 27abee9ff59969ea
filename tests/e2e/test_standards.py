"""Standards end to end: report shows what differs, alert raises one, remediate changes the Graph
stand-in's tenant and the next check passes, a dry run changes nothing; an unproven tenant is never
touched; another partner neither sees nor applies a partner's standards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from localdev.graph_standin import StandinControl
from localdev.stack import wait_until
from localdev.webhook_receiver import RunningReceiver, start_receiver
from tests.e2e.actors import PartnerSetup, add_proven_tenant, make_partner
from tests.web import web

APPS = "tenantry-apps-and-guests"
WRITES = ("PATCH", "POST", "PUT", "DELETE")


@pytest.fixture(scope="module")
def partner(api: str) -> PartnerSetup:
    """A partner of this module's own; it sends no push notifications, so approves no transfer."""
    return make_partner(api, "eu", approve_push=False)


@pytest.fixture(scope="module")
def receiver() -> Iterator[RunningReceiver]:
    running = start_receiver()
    yield running
    running.stop()


def _run(partner: PartnerSetup, standard: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return web.post(
        f"{partner.url}/standards/{standard}/runs", headers=headers or partner.as_key, json=body, timeout=120
    )


def _one(partner: PartnerSetup, standard: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = _run(partner, standard, body)
    assert answer.status_code == 200, answer.text
    [tenant] = answer.json()["tenants"]
    return dict(tenant)


def _writes(control: StandinControl, tenant_id: str) -> list[dict[str, Any]]:
    return [r for r in control.requests(tenant_id) if r["method"] in WRITES]


def test_report_alert_and_remediate_a_tenant(
    partner: PartnerSetup, control: StandinControl, receiver: RunningReceiver
) -> None:
    tenant_id = add_proven_tenant(partner, control, users=5)

    report = _one(partner, APPS, {"tenantIds": [tenant_id], "mode": "report"})
    assert report["outcome"] == "checked" and report["failed"] == 2, report
    found = {s["id"]: s for s in report["settings"]}
    assert found["authorization.allowedToCreateApps"]["current"] is True
    assert found["authorization.allowInvitesFrom"]["current"] == "everyone"
    compliance = web.get(
        f"{partner.url}/compliance", params={"tenantId": tenant_id}, headers=partner.as_key
    ).json()["items"]
    # Beside the run's row, the tenant's first sync writes its `tenantry-baseline` row (when it is done).
    assert [
        (c["standardId"], c["compliant"], sorted(c["failing"]))
        for c in compliance
        if c["standardId"] != "tenantry-baseline"
    ] == [(APPS, False, ["authorization.allowInvitesFrom", "authorization.allowedToCreateApps"])]

    hook = f"/hook-{uuid.uuid4().hex}"
    subscribed = web.post(
        f"{partner.url}/alert-subscriptions",
        headers=partner.as_key,
        json={"channel": "webhook", "url": receiver.url(hook), "eventTypes": ["tenant.drift.*"]},
    )
    assert subscribed.status_code == 201, subscribed.text
    assert _one(partner, APPS, {"tenantIds": [tenant_id], "mode": "alert"})["failed"] == 2
    verifier = Webhook(subscribed.json()["secret"])

    def deviations() -> list[dict[str, Any]]:
        # The subscription hears all of `tenant.drift.*` (the tenant's own sync drift too).
        alerts = [verifier.verify(got.body, got.headers) for got in receiver.state.at(hook)]
        return [a for a in alerts if a["type"] == "tenant.drift.standardDeviation"]

    alert = wait_until(deviations, timeout=30, what="the alert")[0]
    assert alert["data"]["tenantId"] == tenant_id

    control.clear_requests()
    planned = _one(partner, APPS, {"tenantIds": [tenant_id], "mode": "remediate", "dryRun": True})
    assert planned["outcome"] == "planned"
    assert {c["target"] for s in planned["settings"] for c in s["changes"]} == {
        "authorization.allowedToCreateApps",
        "authorization.allowInvitesFrom",
    }
    assert _writes(control, tenant_id) == []  # the dry run changed nothing
    assert _one(partner, APPS, {"tenantIds": [tenant_id], "mode": "report"})["failed"] == 2

    fixed = _one(partner, APPS, {"tenantIds": [tenant_id], "mode": "remediate"})
    assert fixed["outcome"] == "remediated" and fixed["failed"] == 0 and fixed["passed"] == 2, fixed
    assert [r["path"] for r in _writes(control, tenant_id)] == ["policies/authorizationPolicy"] * 2
    again = _one(partner, APPS, {"tenantIds": [tenant_id], "mode": "report"})
    assert again["failed"] == 0 and again["passed"] == 2
    events = web.get(
        f"{partner.url}/events", params={"action": "tenant.standard.remediated"}, headers=partner.as_key
    ).json()["items"]
    changes = {k: v for e in events if e.get("tenantId") == tenant_id for k, v in e["changes"].items()}
    assert changes["authorization.allowedToCreateApps"] == {"before": True, "after": False}
    assert changes["authorization.allowInvitesFrom"] == {
        "before": "everyone",
        "after": "adminsAndGuestInviters",
    }

    control.clear_requests()
    idle = _one(partner, APPS, {"tenantIds": [tenant_id], "mode": "remediate"})
    assert idle["outcome"] == "checked" and idle["failed"] == 0
    assert _writes(control, tenant_id) == []  # idempotent: nothing left to change


def test_an_own_standard_is_versioned_and_creates_report_only_policies(
    partner: PartnerSetup, control: StandinControl
) -> None:
    tenant_id = add_proven_tenant(partner, control, users=5)
    bad = web.post(
        f"{partner.url}/standards",
        headers=partner.as_key,
        json={"name": "Bad", "settings": [{"id": "adminConsent.enabled", "value": "yes"}]},
    )
    assert bad.status_code == 422 and "settings[0].value" in bad.text
    created = web.post(
        f"{partner.url}/standards",
        headers=partner.as_key,
        json={
            "name": "Contoso baseline",
            "settings": [{"id": "conditionalAccess.blockLegacyAuthentication", "value": "disabled"}],
        },
    )
    assert created.status_code == 201, created.text
    standard = created.json()
    assert standard["version"] == 1 and not standard["builtIn"]
    edited = web.put(
        f"{partner.url}/standards/{standard['id']}",
        headers=partner.as_key,
        json={
            "name": "Contoso baseline",
            "settings": [
                {
                    "id": "conditionalAccess.blockLegacyAuthentication",
                    "value": "enabledForReportingButNotEnforced",
                },
                {"id": "adminConsent.enabled", "value": True},
                {"id": "domains.passwordValidityPeriodInDays", "value": 365},
            ],
        },
    )
    assert edited.status_code == 200 and edited.json()["version"] == 2, edited.text

    fixed = _one(partner, standard["id"], {"tenantIds": [tenant_id], "mode": "remediate"})
    assert fixed["failed"] == 0, fixed
    states = {s["id"]: s["current"] for s in fixed["settings"]}
    assert states["conditionalAccess.blockLegacyAuthentication"] in (
        "enabledForReportingButNotEnforced",
        "enabled",  # a generated tenant may enforce it already (a policy of its own name does not count)
    )
    assert set(states["domains.passwordValidityPeriodInDays"].values()) == {365}
    posted = [r for r in control.requests(tenant_id) if r["method"] == "POST"]
    assert [r["path"] for r in posted] == ["identity/conditionalAccess/policies"]
    rows = web.get(
        f"{partner.url}/compliance", params={"standardId": standard["id"]}, headers=partner.as_key
    ).json()["items"]
    assert [(r["tenantId"], r["version"], r["compliant"]) for r in rows] == [(tenant_id, 2, True)]


def test_an_unproven_tenant_is_never_touched(partner: PartnerSetup, control: StandinControl) -> None:
    tenant_id = str(uuid.uuid4())
    control.put_tenant(tenant_id, 5)  # no GDAP relationship: the tenant stays pending proof
    added = web.post(
        f"{partner.url}/tenants",
        headers=partner.as_key,
        json={"tenantId": tenant_id, "displayName": "Pending"},
    )
    assert added.status_code == 201, added.text
    assert added.json()["access"]["state"] != "proven"
    control.clear_requests()
    skipped = _one(partner, APPS, {"tenantIds": [tenant_id], "mode": "remediate"})
    assert skipped["outcome"] == "skipped" and "not proven" in skipped["reason"]
    assert control.requests(tenant_id) == []


def test_another_partner_neither_sees_nor_applies(
    api: str, partner: PartnerSetup, control: StandinControl
) -> None:
    tenant_id = add_proven_tenant(partner, control, users=5)
    own = web.post(
        f"{partner.url}/standards",
        headers=partner.as_key,
        json={"name": "Private", "settings": [{"id": "adminConsent.enabled", "value": True}]},
    ).json()
    _one(partner, APPS, {"tenantIds": [tenant_id], "mode": "report"})
    stranger = make_partner(api, "eu", approve_push=False)
    assert web.get(f"{stranger.url}/standards/{own['id']}", headers=stranger.as_key).status_code == 404
    listed = web.get(f"{stranger.url}/standards", headers=stranger.as_key).json()["items"]
    assert own["id"] not in {s["id"] for s in listed}
    assert _run(stranger, own["id"], {"tenantIds": [tenant_id], "mode": "report"}).status_code == 404
    refused = _run(stranger, APPS, {"tenantIds": [tenant_id], "mode": "remediate"})
    assert refused.status_code == 404, refused.text
    assert web.get(f"{stranger.url}/compliance", headers=stranger.as_key).json()["items"] == []
    # The victim's own key on the stranger's path is refused too.
    assert web.get(f"{stranger.url}/compliance", headers=partner.as_key).status_code in (401, 403, 404)


def _synced(partner: PartnerSetup, tenant_id: str) -> bool:
    syncs = web.get(f"{partner.url}/tenants/{tenant_id}/syncs", headers=partner.as_key).json()["items"]
    assert not any(s["state"] == "failed" for s in syncs), syncs
    return any(s["state"] == "succeeded" for s in syncs)


def test_the_baseline_is_a_report_standard_applied_to_a_tenant_group(
    partner: PartnerSetup, control: StandinControl
) -> None:
    tenants = sorted(add_proven_tenant(partner, control, users=5) for _ in range(2))
    for tenant_id in tenants:
        wait_until(lambda t=tenant_id: _synced(partner, t), timeout=60, what="the first sync")
    group = f"standards-{uuid.uuid4().hex[:8]}"
    saved = web.put(
        f"{partner.url}/tenant-groups/{group}", headers=partner.bearer(), json={"tenantIds": tenants}
    )
    assert saved.status_code == 200, saved.text
    # The sync itself checked the baseline standard in report mode: its compliance rows are there
    # before any run, agreeing with GET .../baseline.
    for tenant_id in tenants:
        [synced] = web.get(
            f"{partner.url}/compliance",
            params={"standardId": "tenantry-baseline", "tenantId": tenant_id},
            headers=partner.as_key,
        ).json()["items"]
        baseline = web.get(f"{partner.url}/tenants/{tenant_id}/baseline", headers=partner.as_key).json()
        assert (synced["mode"], synced["failed"]) == ("report", baseline["failed"]), synced

    answer = _run(partner, "tenantry-baseline", {"tenantGroups": [group], "mode": "report"})
    assert answer.status_code == 200, answer.text
    runs = answer.json()["tenants"]
    assert [r["tenantId"] for r in runs] == tenants
    for run in runs:
        baseline = web.get(f"{partner.url}/tenants/{run['tenantId']}/baseline", headers=partner.as_key).json()
        # The same findings GET .../baseline shows, whose answer is as it always was.
        assert {c["id"]: c["state"] for c in baseline["checks"]} == {
            s["id"].removeprefix("baseline."): s["current"] for s in run["settings"]
        }
        assert run["failed"] == baseline["failed"] and run["passed"] == baseline["passed"]
    # Every synced tenant of the partner has a baseline row (this module's other tenants too, from
    # their syncs), one page of one row at a time, each tenant once, in tenant order.
    paged: list[str] = []
    params: dict[str, Any] = {"standardId": "tenantry-baseline", "top": 1}
    while True:
        page = web.get(f"{partner.url}/compliance", params=params, headers=partner.as_key).json()
        assert len(page["items"]) == 1, page
        paged += [r["tenantId"] for r in page["items"]]
        if not page["continuationToken"]:
            break
        params["continuationToken"] = page["continuationToken"]
    assert paged == sorted(set(paged)) and set(tenants) <= set(paged)

    refused = _run(partner, "tenantry-baseline", {"tenantGroups": [group], "mode": "remediate"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "mode", refused.text
    unknown = _run(partner, APPS, {"tenantGroups": ["no-such-group"], "mode": "report"})
    assert unknown.status_code == 404, unknown.text


def test_an_assignment_runs_as_a_long_operation_and_a_scoped_key_assigns_only_its_tenants(
    partner: PartnerSetup, control: StandinControl
) -> None:
    own, other = sorted(add_proven_tenant(partner, control, users=5) for _ in range(2))
    assignments = f"{partner.url}/standard-assignments"
    body = {
        "standardId": APPS,
        "tenantIds": [own, other],
        "mode": "report",
        "schedule": "daily",
        "hourUtc": 3,
    }
    created = web.post(assignments, headers=partner.as_key, json=body)
    assert created.status_code == 201, created.text
    saved = created.json()
    assert created.headers["location"].endswith(f"/standard-assignments/{saved['id']}")
    assert (saved["version"], saved["schedule"], saved["hourUtc"]) == ("latest", "daily", 3)
    edited = web.put(f"{assignments}/{saved['id']}", headers=partner.as_key, json={**body, "hourUtc": 4})
    assert edited.status_code == 200 and edited.json()["hourUtc"] == 4, edited.text
    pinned = web.post(assignments, headers=partner.as_key, json={**body, "version": 2})
    assert pinned.status_code == 422 and pinned.json()["errors"][0]["field"] == "version", pinned.text

    started = web.post(f"{assignments}/{saved['id']}/runs", headers=partner.as_key)
    assert started.status_code == 202, started.text
    status_url = started.headers["location"]
    assert status_url.startswith("/api/") and started.json()["state"] in ("queued", "running", "succeeded")

    def finished() -> dict[str, Any] | None:
        run = web.get(partner.api + status_url, headers=partner.as_key).json()
        return dict(run) if run["state"] in ("succeeded", "failed") else None

    run = wait_until(finished, timeout=120, what="the run through the queue")
    assert run["state"] == "succeeded" and run["completed"] == run["total"] == 2, run
    assert [(t["tenantId"], t["state"], t["failed"]) for t in run["tenants"]] == [
        (own, "checked", 2),
        (other, "checked", 2),
    ]
    assert web.get(f"{assignments}/{saved['id']}", headers=partner.as_key).json()["lastRunId"] == run["id"]

    key = web.post(
        f"{partner.url}/api-keys",
        headers=partner.bearer(),
        json={"name": "own only", "scopes": ["read", "write"], "tenantScope": {"tenantIds": [own]}},
    )
    assert key.status_code == 201, key.text
    scoped = {"x-api-key": key.json()["key"]}
    refused = web.post(assignments, headers=scoped, json=body)
    assert refused.status_code == 404, refused.text  # another tenant, as if it did not exist
    mine = web.post(assignments, headers=scoped, json={**body, "tenantIds": [own]})
    assert mine.status_code == 201, mine.text
    listed = {a["id"] for a in web.get(assignments, headers=scoped).json()["items"]}
    assert mine.json()["id"] in listed and saved["id"] not in listed
    assert web.get(f"{assignments}/{saved['id']}", headers=scoped).status_code == 404
    assert web.post(f"{assignments}/{saved['id']}/runs", headers=scoped).status_code == 404
    lines = web.get(partner.api + status_url, headers=scoped).json()["tenants"]
    assert [t["tenantId"] for t in lines] == [own]

    # `afterSync`: the tenant's next successful sync runs the assignment for it, through the queue.
    after = web.put(
        f"{assignments}/{mine.json()['id']}",
        headers=scoped,
        json={**body, "tenantIds": [own], "schedule": "afterSync"},
    )
    assert after.status_code == 200, after.text
    assert web.post(f"{partner.url}/tenants/{own}/sync", headers=partner.as_key).status_code == 202

    def ran_after_sync() -> dict[str, Any] | None:
        last = web.get(f"{assignments}/{mine.json()['id']}", headers=scoped).json()["lastRunId"]
        if last is None:
            return None
        found = web.get(f"{partner.url}/standard-runs/{last}", headers=scoped).json()
        return dict(found) if found["state"] == "succeeded" else None

    synced_run = wait_until(ran_after_sync, timeout=120, what="the run after the sync")
    assert synced_run["trigger"] == "afterSync" and [t["tenantId"] for t in synced_run["tenants"]] == [own]

    assert web.delete(f"{assignments}/{saved['id']}", headers=partner.as_key).status_code == 204
    assert web.get(f"{assignments}/{saved['id']}", headers=partner.as_key).status_code == 404

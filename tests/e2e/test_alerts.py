"""Alerts end to end: a drift in the Graph stand-in reaches a subscribed webhook receiver (signature
verified by the `standardwebhooks` package), a Teams card and an e-mail (the ACS Email stand-in, the
real SDK); SSRF targets are refused at subscription time; scoped callers subscribe only within reach."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from functions import deps
from localdev.graph_standin import StandinControl
from localdev.stack import wait_until
from localdev.webhook_receiver import RunningReceiver, start_receiver
from tests.e2e.actors import PartnerSetup, add_proven_tenant
from tests.stack import EMAIL
from tests.web import web


@pytest.fixture(scope="module")
def receiver() -> Iterator[RunningReceiver]:
    running = start_receiver()
    yield running
    running.stop()


def _synced(partner: PartnerSetup, tenant_id: str, sync_id: str | None = None) -> bool:
    syncs = web.get(f"{partner.url}/tenants/{tenant_id}/syncs", headers=partner.as_key).json()["items"]
    done = [
        s for s in syncs if s["state"] in ("succeeded", "failed") and (sync_id is None or s["id"] == sync_id)
    ]
    assert not any(s["state"] == "failed" for s in done), syncs
    return bool(done)


def _security_defaults(tenant_id: str, enabled: bool) -> None:
    """An administrator changes the tenant outside Tenantry (the admin centre): Graph directly."""

    async def change() -> None:
        async with deps.graph_access().writer(tenant_id, "graph-app") as writer:
            await writer.set_security_defaults(enabled)

    asyncio.run(change())


def _sync(partner: PartnerSetup, tenant_id: str) -> None:
    started = web.post(f"{partner.url}/tenants/{tenant_id}/sync", headers=partner.as_key)
    assert started.status_code == 202, started.text
    sync_id = started.json()["id"]
    wait_until(lambda: _synced(partner, tenant_id, sync_id), timeout=60, what="the sync")


def _subscribe(
    partner: PartnerSetup, body: dict[str, Any], headers: dict[str, str] | None = None
) -> httpx.Response:
    return web.post(f"{partner.url}/alert-subscriptions", headers=headers or partner.as_key, json=body)


def test_a_drift_reaches_a_webhook_a_teams_card_and_an_email(
    partner: PartnerSetup, control: StandinControl, receiver: RunningReceiver
) -> None:
    tenant_id = add_proven_tenant(partner, control, users=10)
    wait_until(lambda: _synced(partner, tenant_id), timeout=60, what="the first sync")
    hook, teams, mailbox = (
        f"/hook-{uuid.uuid4().hex}",
        f"/teams-{uuid.uuid4().hex}",
        f"noc-{uuid.uuid4().hex[:8]}@msp.example",
    )
    webhook = _subscribe(
        partner, {"channel": "webhook", "url": receiver.url(hook), "eventTypes": ["tenant.drift.*"]}
    )
    assert webhook.status_code == 201, webhook.text
    secret = webhook.json()["secret"]
    assert secret.startswith("whsec_")
    assert (
        webhook.headers["location"]
        == f"/api/partners/{partner.id}/alert-subscriptions/{webhook.json()['id']}"
    )
    assert (
        "secret" not in web.get(f"{partner.api}{webhook.headers['location']}", headers=partner.as_key).json()
    )
    card = _subscribe(
        partner,
        {"channel": "teams", "url": receiver.url(teams), "eventTypes": ["*"], "minSeverity": "critical"},
    )
    assert card.status_code == 201, card.text
    assert card.json()["secret"] is None
    mail = _subscribe(partner, {"channel": "email", "recipients": [mailbox], "eventTypes": ["tenant.*"]})
    assert mail.status_code == 201, mail.text

    configuration = web.get(f"{partner.url}/tenants/{tenant_id}/configuration", headers=partner.as_key).json()
    if not configuration["configuration"]["securityDefaults"]["isEnabled"]:
        _security_defaults(tenant_id, True)
        _sync(partner, tenant_id)
    _security_defaults(tenant_id, False)
    _sync(partner, tenant_id)

    [got] = wait_until(lambda: receiver.state.at(hook), timeout=30, what="the webhook")
    alert = Webhook(secret).verify(got.body, got.headers)
    assert alert["type"] == "tenant.drift.securityDefaultsDisabled"
    assert alert["data"]["tenantId"] == tenant_id and alert["data"]["severity"] == "critical"
    assert alert["data"]["link"] == f"/api/partners/{partner.id}/tenants/{tenant_id}/configuration"

    [posted] = wait_until(lambda: receiver.state.at(teams), timeout=30, what="the Teams card")
    envelope = json.loads(posted.body)
    assert envelope["type"] == "message"
    content = envelope["attachments"][0]["content"]
    assert envelope["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert content["type"] == "AdaptiveCard" and "Security defaults turned off" in json.dumps(content)

    # `tenant.*` also hears of baseline checks the change made fail: the drift's own e-mail here.
    [sent] = wait_until(
        lambda: [m for m in EMAIL.state.to(mailbox) if "Security defaults turned off" in m.subject],
        timeout=30,
        what="the e-mail",
    )
    assert "Security defaults turned off" in sent.subject and tenant_id in sent.text

    log = wait_until(
        lambda: [
            d
            for d in web.get(
                f"{partner.url}/alert-subscriptions/{webhook.json()['id']}/deliveries", headers=partner.as_key
            ).json()["items"]
            if d["state"] == "delivered"
        ],
        what="the delivery log",
    )
    assert log[0]["webhookId"] == got.headers["webhook-id"] and log[0]["statusCode"] == 200
    assert log[0]["attempts"] == 1 and log[0]["history"][0]["statusCode"] == 200
    resent = web.post(
        f"{partner.url}/alert-subscriptions/{webhook.json()['id']}/deliveries/{log[0]['id']}/resend",
        headers=partner.as_key,
    )
    assert resent.status_code == 202, resent.text
    again = wait_until(
        lambda: len(receiver.state.at(hook)) == 2 and receiver.state.at(hook), what="the re-send"
    )
    assert {r.headers["webhook-id"] for r in again} == {got.headers["webhook-id"]}


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "https://169.254.169.254/metadata/instance",
        "https://localhost/hook",
        "https://10.0.0.8/hook",
    ],
)
def test_ssrf_targets_are_refused_at_subscription_time(partner: PartnerSetup, url: str) -> None:
    refused = _subscribe(partner, {"channel": "webhook", "url": url, "eventTypes": ["*"]})
    assert refused.status_code == 422, refused.text
    assert refused.json()["type"].endswith("destination-not-allowed")


def test_a_scoped_key_subscribes_only_within_its_tenants(
    partner: PartnerSetup, receiver: RunningReceiver
) -> None:
    mine = str(uuid.uuid4())
    key = web.post(
        f"{partner.url}/api-keys",
        headers=partner.bearer(),  # keys are made by people (owners, admins), never by a key
        json={"name": "scoped", "scopes": ["read", "write"], "tenantScope": {"tenantIds": [mine]}},
    ).json()["key"]
    scoped = {"x-api-key": key}
    url = receiver.url("/scoped")
    everything = _subscribe(partner, {"channel": "webhook", "url": url, "eventTypes": ["*"]}, scoped)
    assert everything.status_code == 403, everything.text
    other = {"tenantScope": {"tenantIds": [str(uuid.uuid4())]}}
    assert (
        _subscribe(
            partner, {"channel": "webhook", "url": url, "eventTypes": ["*"], **other}, scoped
        ).status_code
        == 403
    )
    own = _subscribe(
        partner,
        {"channel": "webhook", "url": url, "eventTypes": ["*"], "tenantScope": {"tenantIds": [mine]}},
        scoped,
    )
    assert own.status_code == 201, own.text
    listed = web.get(f"{partner.url}/alert-subscriptions", headers=scoped).json()["items"]
    assert [s["id"] for s in listed] == [own.json()["id"]]


def test_bad_subscriptions_are_refused_with_the_field_named(partner: PartnerSetup) -> None:
    no_url = _subscribe(partner, {"channel": "webhook", "eventTypes": ["*"]})
    assert no_url.status_code == 422
    bad_pattern = _subscribe(
        partner, {"channel": "email", "recipients": ["a@b.example"], "eventTypes": ["tenant.*.x"]}
    )
    assert bad_pattern.status_code == 422 and "eventTypes" in bad_pattern.text

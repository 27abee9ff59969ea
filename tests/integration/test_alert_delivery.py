"""Alert delivery against real Azurite, a local receiver and the ACS Email stand-in (real SDK), with
a moved clock: the retry schedule, disabling with the owners told by e-mail, dedup until cleared,
tenant scope, and SSRF refused at delivery time.

Events are handed to the router directly, bar one test that records them as the sync does and routes
them by their place in the audit table (the alertevents queue's path).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from functions import deps
from localdev.webhook_receiver import Behaviour, RunningReceiver, start_receiver
from shared.access.reach import TenantReach
from shared.adapters.email import EmailSender, EmailSettings
from shared.adapters.graph import GLOBAL_ADMINISTRATOR
from shared.alerts.delivery import SCHEDULE, Channels, DeliveryRunner
from shared.alerts.destinations import OutboundPolicy, parse_ports, resolve
from shared.alerts.digest import DigestRunner
from shared.alerts.models import (
    DELIVERY_QUEUE,
    RETRY_QUEUE,
    DeliveryMessage,
    DeliveryState,
    EventMessage,
    SubscriptionIn,
)
from shared.alerts.outbound import HttpSender
from shared.alerts.routing import AlertRouter
from shared.alerts.service import OwnerMail, owner_addresses
from shared.alerts.subscriptions import AlertSubscriptions, SubscriptionStore
from shared.audit.log import AuditLog, NewEvent, bucket_name
from shared.audit.seal import EventSubject, tenant_scope
from shared.keys import pepper_ring
from shared.partners.access import AccessService
from shared.partners.directory import PartnerDirectory
from shared.partners.models import PartnerIn
from shared.partners.service import Partner, PartnerService
from shared.storage.router import StorageRouter
from tests.clocks import MovableClock
from tests.integration.rigs import ACTION, OPERATOR, PEPPER
from tests.stack import EMAIL


@dataclass
class Rig:
    partner: Partner
    owner_email: str
    clock: MovableClock
    subscriptions: AlertSubscriptions
    router: AlertRouter
    runner: DeliveryRunner
    resolved: dict[str, list[str]]  # names the test resolves itself (a DNS it controls)
    sent: list[tuple[str, DeliveryMessage, int]] = field(default_factory=list)

    def subscribe(self, url: str, *, scope: list[str] | None = None, reach: TenantReach | None = None) -> str:
        body: dict[str, Any] = {"channel": "webhook", "url": url, "eventTypes": ["tenant.*"]}
        if scope is not None:
            body["tenantScope"] = {"tenantIds": scope}
        created = self.subscriptions.create_subscription(
            SubscriptionIn.model_validate(body), ACTION, reach or TenantReach()
        )
        assert created.secret is not None
        return created.id

    def take(self) -> list[tuple[str, DeliveryMessage, int]]:
        taken, self.sent[:] = list(self.sent), []
        return taken


def drift_event(tenant_id: str, *, added: bool = True, principal: str = "u-1") -> dict[str, Any]:
    holder = {"principalId": principal, "role": "Global Administrator"}
    return {
        "id": f"ev-{uuid.uuid4().hex}",
        "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "action": "tenant.drift.roleAssigned" if added else "tenant.drift.roleRemoved",
        "tenantId": tenant_id,
        "target": {"type": "tenant", "id": tenant_id},
        "changes": {
            f"roles/{GLOBAL_ADMINISTRATOR}": {
                "before": None if added else holder,
                "after": holder if added else None,
            }
        },
        "details": {"summary": "new Global Administrator" if added else "Global Administrator removed"},
    }


@pytest.fixture(scope="module")
def receiver() -> Iterator[RunningReceiver]:
    running = start_receiver()
    yield running
    running.stop()


@pytest.fixture
def rig(router: StorageRouter) -> Rig:
    clock = MovableClock(datetime.now(UTC))
    owner_email = f"owner-{uuid.uuid4().hex[:8]}@contoso.example"
    service = PartnerService(router, PartnerDirectory(router), clock, pepper_ring(PEPPER))
    partner = service.create(
        PartnerIn.model_validate(
            {
                "displayName": "Contoso IT",
                "region": "eu",
                "entraTenantId": str(uuid.uuid4()),
                "contact": {"name": "Ana Li", "email": "ana@contoso.example"},
                "subscription": {"plan": "standard", "tenantLimit": 5, "billingCycle": "monthly"},
                "owner": {"objectId": str(uuid.uuid4()), "email": owner_email},
            }
        ),
        OPERATOR,
    )
    account = router.region("eu")
    resolved: dict[str, list[str]] = {}

    def resolver(host: str, port: int) -> list[str]:
        return resolved[host] if host in resolved else resolve(host, port)

    policy = OutboundPolicy(parse_ports("1024-65535"), resolver=resolver)

    def store(partner_id: str) -> SubscriptionStore:
        return SubscriptionStore(account, partner_id, clock, deps.token_cipher())

    mailer = EmailSender(EmailSettings(**_email_settings()))
    sent: list[tuple[str, DeliveryMessage, int]] = []

    def dispatch(queue: str, message: DeliveryMessage, delay: int) -> None:
        sent.append((queue, message, delay))

    def owners_of(partner_id: str) -> list[str]:
        return owner_addresses(AccessService(account, partner_id, clock, pepper_ring(PEPPER)))

    runner = DeliveryRunner(
        account,
        clock,
        Channels(HttpSender(policy, timeout=2.0), mailer, "https://tenantry.example"),
        store,
        dispatch=dispatch,
        owners_told=OwnerMail(mailer, owners_of, "https://tenantry.example"),
    )
    routing = AlertRouter(account, clock, store, lambda partner_id: {}, dispatch=dispatch)
    subscriptions = AlertSubscriptions(store(partner.id), policy, AuditLog(account, clock))
    return Rig(partner, owner_email, clock, subscriptions, routing, runner, resolved, sent)


def _email_settings() -> dict[str, str]:
    settings = EMAIL.settings()
    return {
        "connection_string": settings["ACS_EMAIL_CONNECTION_STRING"],
        "sender": settings["ACS_EMAIL_SENDER"],
        "ca_bundle": settings["ACS_EMAIL_CA_BUNDLE"],
    }


def test_a_delivery_is_signed_as_standard_webhooks_verifies_it(rig: Rig, receiver: RunningReceiver) -> None:
    path = f"/ok-{uuid.uuid4().hex}"
    secret = rig.subscriptions.create_subscription(
        SubscriptionIn.model_validate(
            {"channel": "webhook", "url": receiver.url(path), "eventTypes": ["tenant.drift.*"]}
        ),
        ACTION,
        TenantReach(),
    ).secret
    tenant = str(uuid.uuid4())
    assert rig.router.route(rig.partner.id, drift_event(tenant)) == 1
    [(queue, message, delay)] = rig.take()
    assert (queue, delay, message.attempt) == (DELIVERY_QUEUE, 0, 1)
    assert rig.runner.deliver(message) is DeliveryState.DELIVERED
    [got] = receiver.state.at(path)
    body = Webhook(str(secret)).verify(got.body, got.headers)
    assert body["type"] == "tenant.drift.globalAdministratorAdded"
    assert body["data"]["tenantId"] == tenant and body["data"]["severity"] == "critical"
    assert body["data"]["link"] == f"/api/partners/{rig.partner.id}/tenants/{tenant}/configuration"
    # The same message again (the queue is at-least-once) sends nothing more.
    assert rig.runner.deliver(message) is None
    assert len(receiver.state.at(path)) == 1


def test_a_failing_receiver_is_retried_on_schedule_then_disabled_and_the_owners_told(
    rig: Rig, receiver: RunningReceiver
) -> None:
    path = f"/fail-{uuid.uuid4().hex}"
    receiver.behave(path, Behaviour(status=503))
    subscription = rig.subscribe(receiver.url(path))
    rig.router.route(rig.partner.id, drift_event(str(uuid.uuid4())))
    [(_, message, _)] = rig.take()
    for attempt, planned in enumerate(SCHEDULE, start=1):
        assert rig.runner.deliver(message) is DeliveryState.RETRYING
        [(queue, message, delay)] = rig.take()
        assert queue == RETRY_QUEUE and message.attempt == attempt + 1
        assert planned * 0.9 - 1 <= delay <= planned * 1.1 + 1, (attempt, delay)
        # Early (the queue's delay and our clock apart): nothing is sent, the message waits again.
        assert rig.runner.deliver(message) is None
        assert len(receiver.state.at(path)) == attempt
        rig.take()
        rig.clock.moment += timedelta(seconds=delay + 1)
    assert rig.runner.deliver(message) is DeliveryState.FAILED
    assert rig.take() == []
    got = receiver.state.at(path)
    assert len(got) == len(SCHEDULE) + 1
    assert len({r.headers["webhook-id"] for r in got}) == 1  # the receiver can dedup every retry
    state = rig.subscriptions.get_subscription(subscription, TenantReach())
    assert state.state == "disabled" and "kept failing" in str(state.disabled_reason)
    [mail] = EMAIL.state.to(rig.owner_email)
    assert "disabled" in mail.subject and subscription in mail.text
    [delivery] = rig.runner.list_deliveries(subscription, 10, None)[0]
    assert delivery.state == "failed" and delivery.attempts == len(SCHEDULE) + 1
    assert [a.status_code for a in delivery.history] == [503] * (len(SCHEDULE) + 1)
    # A disabled subscription hears nothing more.
    assert rig.router.route(rig.partner.id, drift_event(str(uuid.uuid4()))) == 0


def test_429_waits_as_long_as_retry_after_asks_and_other_4xx_are_final(
    rig: Rig, receiver: RunningReceiver
) -> None:
    slow_down, gone = f"/429-{uuid.uuid4().hex}", f"/410-{uuid.uuid4().hex}"
    receiver.behave(slow_down, Behaviour(status=429, retry_after="120"))
    receiver.behave(gone, Behaviour(status=410))
    rig.subscribe(receiver.url(slow_down))
    refused = rig.subscribe(receiver.url(gone))
    rig.router.route(rig.partner.id, drift_event(str(uuid.uuid4())))
    results = {m.subscription_id: rig.runner.deliver(m) for _, m, _ in rig.take()}
    assert results[refused] is DeliveryState.FAILED
    [(_, _, delay)] = rig.take()
    assert delay >= 120
    assert rig.subscriptions.get_subscription(refused, TenantReach()).state == "active"


def test_a_condition_alerts_once_until_it_clears(rig: Rig, receiver: RunningReceiver) -> None:
    rig.subscribe(receiver.url(f"/dedup-{uuid.uuid4().hex}"))
    tenant = str(uuid.uuid4())
    assert rig.router.route(rig.partner.id, drift_event(tenant)) == 1
    assert rig.router.route(rig.partner.id, drift_event(tenant)) == 0  # still the same administrator
    rig.router.route(rig.partner.id, drift_event(tenant, added=False))
    assert rig.router.route(rig.partner.id, drift_event(tenant)) == 1  # added again after removal


def test_a_recorded_role_drift_is_read_with_its_sealed_holder_opened(
    rig: Rig, receiver: RunningReceiver
) -> None:
    """The path the alertevents queue takes: the event as the sync records it, the holder's id
    sealed under their key, read back from the audit table by its place."""
    path = f"/sealed-{uuid.uuid4().hex}"
    rig.subscribe(receiver.url(path))
    tenant, holder = str(uuid.uuid4()), str(uuid.uuid4())
    log = AuditLog(rig.router.account, rig.clock)

    def record(added: bool) -> EventMessage:
        event = drift_event(tenant, added=added, principal=holder)
        entity = log.append(
            rig.partner.id,
            NewEvent(
                action=event["action"],
                actor={"type": "system", "id": "sync"},
                target=event["target"],
                changes=event["changes"],
                details=event["details"],
                subject=EventSubject(tenant_scope(tenant), holder, ("changes",)),
            ),
        )
        assert holder not in str(entity["changes"])  # stored sealed
        return EventMessage(
            partner_id=rig.partner.id, bucket=bucket_name(rig.clock.now()), row_key=str(entity["RowKey"])
        )

    assert rig.router.route_event(record(added=True)) == 1
    [(_, message, _)] = rig.take()
    rig.runner.deliver(message)
    [got] = receiver.state.at(path)
    assert json.loads(got.body)["data"]["details"]["principalId"] == holder
    assert rig.router.route_event(record(added=True)) == 0  # the same holder: alerted already
    rig.router.route_event(record(added=False))  # the removal clears the holder's condition
    assert rig.router.route_event(record(added=True)) == 1


def test_a_scoped_subscription_never_hears_of_another_tenant(rig: Rig, receiver: RunningReceiver) -> None:
    mine, other = str(uuid.uuid4()), str(uuid.uuid4())
    scoped = rig.subscribe(receiver.url(f"/scoped-{uuid.uuid4().hex}"), scope=[mine])
    everything = rig.subscribe(receiver.url(f"/all-{uuid.uuid4().hex}"))
    rig.router.route(rig.partner.id, drift_event(other))
    assert {m.subscription_id for _, m, _ in rig.take()} == {everything}
    rig.router.route(rig.partner.id, drift_event(mine))
    assert {m.subscription_id for _, m, _ in rig.take()} == {scoped, everything}
    # A caller limited to one tenant subscribes only within it, and sees only such subscriptions.
    reach = TenantReach(frozenset({mine}))
    with pytest.raises(Exception, match="reach"):
        rig.subscribe(receiver.url("/x"), scope=[other], reach=reach)
    with pytest.raises(Exception, match="reach"):
        rig.subscribe(receiver.url("/x"), reach=reach)
    assert [s.id for s in rig.subscriptions.list_subscriptions(reach)] == [scoped]


def test_an_address_that_turns_private_is_refused_at_delivery_time(
    rig: Rig, receiver: RunningReceiver
) -> None:
    host = f"hooks-{uuid.uuid4().hex[:8]}.example"
    rig.resolved[host] = ["20.30.40.50"]  # public when the partner subscribes
    subscription = rig.subscribe(f"https://{host}/in")
    rig.resolved[host] = ["10.0.0.5"]  # then the name points inside (DNS rebinding)
    rig.router.route(rig.partner.id, drift_event(str(uuid.uuid4())))
    [(_, message, _)] = rig.take()
    assert rig.runner.deliver(message) is DeliveryState.REFUSED
    assert rig.take() == []  # not retried
    [delivery] = rig.runner.list_deliveries(subscription, 10, None)[0]
    assert "private" in str(delivery.error)


def test_the_email_channel_sends_through_the_acs_sdk(rig: Rig) -> None:
    to = f"noc-{uuid.uuid4().hex[:8]}@contoso.example"
    rig.subscriptions.create_subscription(
        SubscriptionIn.model_validate({"channel": "email", "recipients": [to], "eventTypes": ["*"]}),
        ACTION,
        TenantReach(),
    )
    tenant = str(uuid.uuid4())
    rig.router.route(rig.partner.id, drift_event(tenant))
    [(_, message, _)] = rig.take()
    assert rig.runner.deliver(message) is DeliveryState.DELIVERED
    [mail] = EMAIL.state.to(to)
    assert "New Global Administrator" in mail.subject and tenant in mail.subject
    assert (
        f"https://tenantry.example/api/partners/{rig.partner.id}/tenants/{tenant}/configuration" in mail.text
    )


def test_a_digest_subscription_gets_one_message_a_day_with_every_alert(
    rig: Rig, receiver: RunningReceiver
) -> None:
    path = f"/digest-{uuid.uuid4().hex}"
    created = rig.subscriptions.create_subscription(
        SubscriptionIn.model_validate(
            {"channel": "webhook", "url": receiver.url(path), "eventTypes": ["tenant.*"], "digest": True}
        ),
        ACTION,
        TenantReach(),
    )
    for _ in range(3):
        rig.router.route(rig.partner.id, drift_event(str(uuid.uuid4())))
    assert rig.take() == []  # nothing sent one by one
    digests = DigestRunner(rig.runner.account, rig.clock, dispatch=lambda q, m, d: rig.sent.append((q, m, d)))
    digests.send_digests()
    mine = [m for _, m, _ in rig.take() if m.subscription_id == created.id]
    assert len(mine) == 1
    assert rig.runner.deliver(mine[0]) is DeliveryState.DELIVERED
    [got] = receiver.state.at(path)
    body = Webhook(str(created.secret)).verify(got.body, got.headers)
    assert body["type"] == "alert.digest" and len(body["data"]["alerts"]) == 3
    digests.send_digests()  # the next day: nothing new gathered, nothing sent
    assert [m for _, m, _ in rig.take() if m.subscription_id == created.id] == []

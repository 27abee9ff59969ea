"""Alert e-mail recipients as data subjects, through the wired `SubjectData` on Azurite: a request
naming an address finds the partner's e-mail subscriptions writing to it, the export lists them (and
no other recipient), erasure takes the address out and disables a subscription it leaves empty."""

from __future__ import annotations

import json
import uuid

import pytest

from functions import deps
from shared.access.reach import TenantReach
from shared.alerts.destinations import OutboundPolicy, parse_ports
from shared.alerts.models import SubscriptionIn, SubscriptionPatch, SubscriptionState
from shared.alerts.subscriptions import AlertSubscriptions
from shared.audit.log import AuditLog, iter_all
from shared.errors import ProblemError
from shared.partners.models import PartnerIn
from shared.partners.service import Partner
from shared.privacy.subjects import EXPORTS, SubjectIdentifier, SubjectScope
from shared.storage.router import StorageRouter
from tests.integration.rigs import ACTION


@pytest.fixture
def partner(router: StorageRouter) -> Partner:
    body = {
        "displayName": "Recipients IT",
        "region": "eu",
        "entraTenantId": str(uuid.uuid4()),
        "contact": {"name": "Ana Li", "email": "ana@example.com"},
        "subscription": {"plan": "standard", "tenantLimit": 5, "billingCycle": "monthly"},
    }
    return deps.partners().create(PartnerIn.model_validate(body), ACTION)


def subscriptions_of(partner: Partner) -> AlertSubscriptions:
    policy = OutboundPolicy(parse_ports(""), resolver=lambda host, port: ["20.1.2.3"])
    account = deps.storage().region(partner.region)
    return AlertSubscriptions(
        deps.alert_subscription_store(partner.id, partner.region), policy, AuditLog(account, deps.clock())
    )


def email(subscriptions: AlertSubscriptions, recipients: list[str]) -> str:
    body = {"channel": "email", "recipients": recipients, "eventTypes": ["tenant.*"]}
    return subscriptions.create_subscription(SubscriptionIn.model_validate(body), ACTION, TenantReach()).id


def test_recipients_are_found_exported_and_erased_from_subscriptions(partner: Partner) -> None:
    subscriptions = subscriptions_of(partner)
    ana, bob = f"ana-{uuid.uuid4().hex[:8]}@contoso.example", f"bob-{uuid.uuid4().hex[:8]}@contoso.example"
    shared_one = email(subscriptions, [ana, bob])
    ana_only = email(subscriptions, [ana.upper()])  # addresses compare case-insensitively
    email(subscriptions, [bob])
    webhook = SubscriptionIn.model_validate(
        {"channel": "webhook", "url": "https://hooks.example/in", "eventTypes": ["*"]}
    )
    subscriptions.create_subscription(webhook, ACTION, TenantReach())

    data = deps.subject_data()
    # Any tenant of the partner: subscriptions are the partner's, not a tenant's.
    scope = SubjectScope(partner.id, partner.region, tenant_id=str(uuid.uuid4()))
    who = SubjectIdentifier(email=ana)
    match = data.locate(scope, who)
    assert match.found and match.counts == {"alertRecipients": 2}

    request_id = f"01JREQ{uuid.uuid4().hex[:20].upper()}"
    exported = data.export(scope, who, request_id=request_id)
    blob = deps.storage().region(partner.region).container(EXPORTS).download_blob(exported.blob_name)
    package = json.loads(blob.readall())
    listed = package["categories"]["alertRecipients"]
    assert sorted(r["subscriptionId"] for r in listed) == sorted([shared_one, ana_only])
    assert {r["address"] for r in listed} == {ana}
    assert bob not in json.dumps(package)  # another person's address is not the subject's data

    certificate = data.erase(scope, who, request_id=request_id)
    assert certificate.deleted == {"alertRecipients": 2}
    reach = TenantReach()
    left = subscriptions.get_subscription(shared_one, reach)
    assert left.recipients == [bob] and left.state is SubscriptionState.ACTIVE
    emptied = subscriptions.get_subscription(ana_only, reach)
    assert emptied.recipients == [] and emptied.state is SubscriptionState.DISABLED
    assert emptied.disabled_reason is not None and "data-subject request" in emptied.disabled_reason
    # With nobody to write to, it cannot be turned on again.
    with pytest.raises(ProblemError) as refused:
        subscriptions.update_subscription(
            ana_only, SubscriptionPatch(state=SubscriptionState.ACTIVE), ACTION, reach
        )
    assert refused.value.status == 409
    # The partner is told why its subscriptions changed, without the address.
    events = [
        e
        for e in iter_all(AuditLog(deps.storage().region(partner.region), deps.clock()), partner.id)
        if e["action"] == "alert.subscription.updated"
    ]
    assert {e["target"]["id"] for e in events} == {shared_one, ana_only}
    assert ana not in json.dumps(events).lower()

    # Idempotent: the same certificate again, and the address is found nowhere now.
    assert data.erase(scope, who, request_id=request_id) == certificate
    assert not data.locate(scope, who).found
    assert data.locate(scope, SubjectIdentifier(email=bob)).counts == {"alertRecipients": 2}

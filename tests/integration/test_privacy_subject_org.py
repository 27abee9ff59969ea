"""A Dynamics system user as a data subject: devices, deliveries, restriction stops fan-out, erasure.

Against Azurite and real firebase-admin talking to the FCM stand-in. A private Azurite (as in
test_notify_fanout.py): no local host polls its queue, so the fan-out jobs run when the test runs them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from functions import deps
from localdev.stack import wait_until
from shared.access.principals import Actor
from shared.adapters.fcm import FcmSender
from shared.audit.context import ActionContext
from shared.audit.log import AuditLog, iter_all
from shared.errors import ProblemError
from shared.notifications.devices import DeviceRegistry
from shared.notifications.fanout import FanOut
from shared.notifications.models import Business, DeviceIn, FanoutJob, OrgIn, SystemUserIn
from shared.notifications.orgs import OrgDirectory, OrgService
from shared.notifications.payload import NewNotification, Payload
from shared.notifications.records import DELIVERIES, QUEUE
from shared.notifications.secrets import TokenCipher
from shared.notifications.service import NotificationService
from shared.notifications.subjects import OrgSubjects
from shared.privacy.consent import ConsentLedger, SubscribeIn
from shared.privacy.flags import restricted_in_org
from shared.privacy.subjects import SubjectData, SubjectIdentifier, SubjectScope, index
from shared.privacy.subjects.holdings import SubjectHolders
from shared.storage.router import AccountStorage, StorageRouter
from shared.tenants.subjects import TenantSubjects
from tests.stack import FCM, STACK_ENV

ACTION = ActionContext(Actor("personnel", "privacy-officer"))
PARTNER = "01SUBJECTPARTNER0000000000"


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@pytest.fixture(scope="module")
def router(private_router: StorageRouter) -> StorageRouter:
    return private_router


def registry(account: AccountStorage) -> DeviceRegistry:
    return DeviceRegistry(
        account, Clock(), TokenCipher(STACK_ENV["DEVICE_TOKEN_KEY"]), STACK_ENV["API_KEY_PEPPER"]
    )


def ledger(router: StorageRouter) -> ConsentLedger:
    return ConsentLedger(router.region("eu"), Clock(), deps.consent_keys())


def subjects(router: StorageRouter) -> SubjectData:
    return SubjectData(
        router,
        Clock(),
        STACK_ENV["SUBJECT_KEY_MASTER"],
        consents=lambda _: ledger(router),
        pepper=STACK_ENV["API_KEY_PEPPER"],
        holders=SubjectHolders(tenant_users=TenantSubjects(), org_users=OrgSubjects()),
    )


def fanout(account: AccountStorage, sender: FcmSender) -> FanOut:
    return FanOut(account, Clock(), registry(account), sender, restricted=restricted_in_org)


def make_org(router: StorageRouter, users: list[SystemUserIn]) -> str:
    service = OrgService(
        router.region("eu"), PARTNER, "eu", OrgDirectory(router), Clock(), STACK_ENV["API_KEY_PEPPER"]
    )
    org_id = str(uuid.uuid4())
    body = OrgIn(
        organization_id=uuid.UUID(org_id),
        unique_name="contoso",
        name="Contoso",
        language_code=1033,
        business=Business(name="Contoso Ltd"),
    )
    service.register(body, "https://example.test", ACTION)
    service.upsert_users(org_id, users, ACTION)
    return org_id


def send(account: AccountStorage, sender: FcmSender, org: str) -> tuple[str, dict[str, Any]]:
    """One notification to everyone, fanned out to the end; its delivery rows by device id."""
    service = NotificationService(account, PARTNER, Clock(), TokenCipher(STACK_ENV["DEVICE_TOKEN_KEY"]))
    notification_id, _ = service.accept(
        NewNotification(
            org_id=org,
            source="partner",
            recipients=None,
            payload=Payload("Case assigned", "CAS-1 needs you", {}, None),
        )
    )
    queue = account.queue(QUEUE)

    def planning_job() -> FanoutJob | None:
        for message in queue.receive_messages(max_messages=32, visibility_timeout=1):
            found = FanoutJob.model_validate_json(message.content)
            queue.delete_message(message)
            if found.notification_id == notification_id:
                return found
        return None

    job = wait_until(planning_job, what="the planning job")
    fan = fanout(account, sender)
    fan.handle(job)
    fan.handle(job.model_copy(update={"shard": 0}))
    rows = account.table(DELIVERIES).query_entities(
        "PartitionKey eq @pk and RowKey lt '~'", parameters={"pk": notification_id}
    )
    return notification_id, {str(r["RowKey"]): r for r in rows}


def test_system_user_export_restriction_rectification_and_erasure(
    router: StorageRouter, account: AccountStorage, sender: FcmSender
) -> None:
    subject, other = str(uuid.uuid4()), str(uuid.uuid4())
    org = make_org(
        router,
        [
            SystemUserIn(
                system_user_id=uuid.UUID(subject),
                full_name="Sam Subject",
                email="Sam@Contoso.example",
                mobile_phone="+44 20 7946 0001",
            ),
            SystemUserIn(
                system_user_id=uuid.UUID(other), full_name="Olga Other", email="olga@contoso.example"
            ),
        ],
    )
    run = uuid.uuid4().hex[:8]
    mine = [f"ok-subject-{run}-{n}" for n in range(2)]
    theirs = f"ok-other-{run}"
    devices = registry(account)
    my_devices = [
        devices.register(org, DeviceIn(system_user_id=uuid.UUID(subject), token=t))[0].id for t in mine
    ]
    their_device = devices.register(org, DeviceIn(system_user_id=uuid.UUID(other), token=theirs))[0].id
    first, _ = send(account, sender, org)
    # The subject also subscribed to the partner's newsletter (double opt-in).
    consents = ledger(router)
    consents.subscribe(
        SubscribeIn(partner_id=PARTNER, email="sam@contoso.example", purpose="newsletter"), None
    )
    token = next(
        i.confirm_token for i in consents.outbox(PARTNER, 100).items if i.email == "sam@contoso.example"
    )
    consents.confirm(str(token), None)
    scope = SubjectScope(PARTNER, "eu", org_id=org)
    data = subjects(router)

    # Found by phone in any spelling, by email in any case, by id: the same subject and records.
    by_phone = data.locate(scope, SubjectIdentifier(phone="+44 (20) 7946-0001"))
    assert by_phone.subject_key == subject
    assert by_phone.counts == {"orgUser": 1, "devices": 2, "notificationDeliveries": 2, "consents": 1}
    assert data.locate(scope, SubjectIdentifier(email="sam@CONTOSO.example")).counts == by_phone.counts
    # The index is keyed hashes: no address, phone or system-user id in clear in any key.
    entries = list(
        account.table(index.TABLE).query_entities(
            f"PartitionKey ge 'o~{org}' and PartitionKey lt 'o~{org}~~'"
        )
    )
    keys = " ".join(f"{e['PartitionKey']} {e['RowKey']}" for e in entries).lower()
    assert len(entries) == 2 + 1 + 3  # sam: email, phone; olga: email; 3 devices
    for clear in (
        "sam@contoso.example",
        "olga@contoso.example",
        "sam",
        "olga",
        "442079460001",
        subject,
        other,
    ):
        assert clear not in keys
    assert set(my_devices) <= {str(e.get("deviceId")) for e in entries}  # device ids are not personal

    # The export holds the devices and their deliveries, never a token.
    result = data.export(scope, SubjectIdentifier(system_user_id=subject), request_id=f"x-{run}")
    package = httpx.get(data.export_link(scope, result.blob_name, ttl=timedelta(minutes=5)))
    assert package.status_code == 200
    body = package.json()["categories"]
    assert sorted(d["deviceId"] for d in body["devices"]) == sorted(my_devices)
    assert {d["notificationId"] for d in body["notificationDeliveries"]} == {first}
    assert all(d["state"] == "sent" for d in body["notificationDeliveries"])
    assert body["consents"][0]["contacts"][0]["purpose"] == "newsletter"
    assert not any(t in package.text for t in [*mine, theirs]) and their_device not in package.text
    assert "target" not in package.text and "secretHash" not in package.text

    # Restricted: the next notification reaches the other user only; the subject's devices get
    # a final RESTRICTED outcome and Firebase never sees them.
    data.set_restriction(
        scope,
        SubjectIdentifier(email="sam@contoso.example"),
        restricted=True,
        kind="restriction",
        request_id=f"r-{run}",
    )
    assert data.is_restricted(scope, subject) and not data.is_restricted(scope, other)
    sent_before = {t: len(FCM.state.deliveries_to("token", t)) for t in [*mine, theirs]}
    _, outcomes = send(account, sender, org)
    assert outcomes[their_device]["state"] == "sent"
    for device_id in my_devices:
        assert (outcomes[device_id]["state"], outcomes[device_id]["errorCode"]) == ("failed", "RESTRICTED")
    assert {t: len(FCM.state.deliveries_to("token", t)) for t in mine} == {t: sent_before[t] for t in mine}
    assert len(FCM.state.deliveries_to("token", theirs)) == sent_before[theirs] + 1
    assert data.locate(scope, SubjectIdentifier(system_user_id=subject)).restricted == "restriction"
    # Lifted: delivered again.
    data.set_restriction(
        scope,
        SubjectIdentifier(system_user_id=subject),
        restricted=False,
        kind="restriction",
        request_id=f"l-{run}",
    )
    _, outcomes = send(account, sender, org)
    assert all(outcomes[d]["state"] == "sent" for d in my_devices)

    # Rectified: the new number finds the subject, the old one no longer does; audited.
    fixed = data.rectify(
        scope,
        SubjectIdentifier(system_user_id=subject),
        {"mobilePhone": "+44 20 7946 0999"},
        request_id=f"c-{run}",
    )
    assert fixed.rectified == {"mobilePhone": "+44 20 7946 0999"}
    assert data.locate(scope, SubjectIdentifier(phone="442079460999")).subject_key == subject
    assert data.locate(scope, SubjectIdentifier(phone="+44 20 7946 0001")).subject_key is None
    log = AuditLog(account, Clock())
    events = list(iter_all(log, PARTNER))
    rectified = next(e for e in events if e["action"] == "privacy.subject.rectified")
    assert rectified["changes"]["mobilePhone"] == {"before": "+44 20 7946 0001", "after": "+44 20 7946 0999"}
    with pytest.raises(ProblemError) as refused:
        data.rectify(scope, SubjectIdentifier(system_user_id=subject), {"secretHash": "x"}, request_id="c2")
    assert refused.value.status == 422

    # Erased: user, devices (with their token index rows) and deliveries go; events are shredded.
    certificate = data.erase(scope, SubjectIdentifier(system_user_id=subject), request_id=f"e-{run}")
    assert certificate.deleted == {"orgUser": 1, "devices": 2, "notificationDeliveries": 6, "consents": 1}
    assert "consentRevocations" in [k.category for k in certificate.kept]
    assert consents.records_for(PARTNER, "sam@contoso.example").contacts == []
    assert certificate.crypto_shredded["auditEvents"] >= 3  # restricted, lifted, rectified
    assert data.locate(scope, SubjectIdentifier(system_user_id=subject)).counts == {}
    assert all(devices.get(org, d) is None for d in my_devices) and devices.get(org, their_device) is not None
    # Registering a deleted device's token again makes a new device (its token index row went too).
    again, fresh = devices.register(org, DeviceIn(system_user_id=uuid.UUID(other), token=mine[0]))
    assert fresh and again.id not in my_devices
    shredded = next(e for e in iter_all(log, PARTNER) if e["action"] == "privacy.subject.rectified")
    assert shredded["changes"]["mobilePhone"] == {"before": "[erased]", "after": "[erased]"}
    assert shredded["target"]["id"] == "[erased]"
    assert log.verify(PARTNER).valid
    assert data.erase(scope, SubjectIdentifier(system_user_id=subject), request_id=f"e-{run}") == certificate
    assert subject not in certificate.model_dump_json() and certificate.subject_key

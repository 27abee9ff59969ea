"""Clock-moved tests of the retention rules that close issue #15's gaps: a day before its date the
data stays, a day after it is gone, and a second sweep deletes nothing.

A private Azurite: the sweeps (which see a whole region) meet only what these tests made. Each
test that runs on a partner's dates works in its own decade of the past.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions import deps
from shared.access.principals import Actor
from shared.audit.context import ActionContext
from shared.audit.log import AuditLog, NewEvent
from shared.audit.seal import TABLE as SUBJECT_KEYS
from shared.audit.seal import EventSubject
from shared.clock import isoformat
from shared.keys import pepper_ring
from shared.notifications.cascade import org_cascade
from shared.notifications.devices import DeviceRegistry
from shared.notifications.models import Business, DeviceIn, OrgIn, RuleIn, SystemUserIn
from shared.notifications.orgs import OrgDirectory, OrgService
from shared.notifications.payload import NewNotification, Payload
from shared.notifications.retention import DynamicsDataAtSubscriptionEnd, NotificationHistory
from shared.notifications.secrets import TokenCipher
from shared.notifications.service import NotificationService
from shared.partners.directory import PartnerDirectory
from shared.partners.models import PartnerIn
from shared.partners.service import Partner, PartnerService
from shared.partners.subscription import add_months
from shared.privacy.breaches import BreachIn, BreachRegister
from shared.privacy.consent import ConsentLedger, SubscribeIn
from shared.privacy.lifetimes import MESSAGE_LIFETIME, QueueMessageLifetime, SweepRunState, UnusedSubjectKeys
from shared.privacy.retention import RetentionRegistry, RetentionRule, RetentionSweeper
from shared.privacy.settings import PrivacySettingsIn, PrivacySettingsService
from shared.privacy.subject_requests import PrivacyRequestService, RequestIn
from shared.privacy.subjects import erasure_journals, forget_org_subjects
from shared.storage.catalogue import CATALOGUE, StorageKind
from shared.storage.queues import encode_policies, enqueue
from shared.storage.router import AccountStorage, StorageRouter
from shared.tenants.retention import ExpiredSignIns
from shared.tenants.signin import LINK_LIFETIME, SignInStore
from shared.tenants.snapshots import SNAPSHOTS, SnapshotHistory, metadata_for
from tests.clocks import MovableClock
from tests.integration.rigs import PEPPER, terminated_partner
from tests.stack import STACK_ENV

OPERATOR = ActionContext(Actor("operator", "operator"))
DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def router(private_router: StorageRouter) -> StorageRouter:
    return private_router


def app_rule(name: str) -> RetentionRule:
    """The rule as the app registers it (functions/deps.py), not a copy made for the test."""
    return next(rule for rule in deps.retention_registry().rules() if rule.name == name)


def sweep(router: StorageRouter, at: datetime, *rules: RetentionRule, **options: Any) -> dict[str, int]:
    """Sweeps the eu region to the end of a run at `at`; what went, per rule."""
    registry = RetentionRegistry(rules or deps.retention_registry().rules())
    gone: dict[str, int] = {}
    for _ in range(200):
        report = RetentionSweeper(registry, router, MovableClock(at), budget_seconds=60, **options).sweep(
            "eu"
        )
        for name, count in report.per_rule.items():
            gone[name] = gone.get(name, 0) + count
        if report.complete:
            return gone
    raise AssertionError("the sweep never completed")


def partition(account: AccountStorage, table: str, key: str) -> list[Any]:
    return list(account.table(table).query_entities("PartitionKey eq @pk", parameters={"pk": key}))


def blob_names(account: AccountStorage, container: str, prefix: str) -> list[str]:
    return [b.name for b in account.container(container).list_blobs(name_starts_with=prefix)]


# --- what ends by age alone ---------------------------------------------------------------------


def test_queue_messages_end_within_seven_days(router: StorageRouter) -> None:
    rule = app_rule(QueueMessageLifetime.name)
    assert set(rule.covers) == {e.name for e in CATALOGUE if e.kind is StorageKind.QUEUE}
    # A queue of the test's own: a message on a real one would meet a worker.
    probe = (
        router.region("eu")
        .queue_service()
        .get_queue_client(f"probe{uuid.uuid4().hex[:12]}", **encode_policies())
    )
    probe.create_queue()
    try:
        enqueue(probe, PrivacySettingsIn(administration_retention_years=7))
        message = next(iter(probe.peek_messages()))
        assert message.expires_on - message.inserted_on <= MESSAGE_LIFETIME
        # The service drops it at that time; the sweep has nothing of its own to do.
        assert sweep(router, datetime.now(UTC) + MESSAGE_LIFETIME + DAY, rule) == {}
    finally:
        probe.delete_queue()


def test_a_completed_sweep_leaves_no_run_state(router: StorageRouter) -> None:
    account = router.region("eu")
    exports = account.container("privacyexports")
    names = [f"state-{uuid.uuid4().hex}.json" for _ in range(3)]
    for name in names:
        exports.upload_blob(name, b"{}")
    rules = (app_rule("privacyexports.age"), app_rule(SweepRunState.name))
    later = datetime.now(UTC) + timedelta(days=8)
    first = RetentionSweeper(
        RetentionRegistry(rules), router, MovableClock(later), budget_seconds=60, max_items=1
    )
    assert first.sweep("eu").complete is False
    assert [r["RowKey"] for r in account.table("privacysweeps").list_entities()] == ["state"]

    sweep(router, later, *rules)
    assert list(account.table("privacysweeps").list_entities()) == []
    assert [n for n in names if blob_names(account, "privacyexports", n)] == []


@pytest.mark.parametrize(
    ("rule_name", "container", "days"),
    [("privacyexports.age", "privacyexports", 7), ("notifypayloads.age", "notifypayloads", 1)],
)
def test_transient_blobs_go_after_their_days(
    router: StorageRouter, rule_name: str, container: str, days: int
) -> None:
    account = router.region("eu")
    name = f"blob-{uuid.uuid4().hex}"
    account.container(container).upload_blob(name, b"sealed")
    written = datetime.now(UTC)
    rule = app_rule(rule_name)

    sweep(router, written + timedelta(days=days) - DAY, rule)
    assert blob_names(account, container, name) == [name]
    assert sweep(router, written + timedelta(days=days) + DAY, rule)[rule_name] >= 1
    assert blob_names(account, container, name) == []
    assert sweep(router, written + timedelta(days=days) + 2 * DAY, rule) == {}


def test_subject_keys_go_24_months_after_their_last_use(router: StorageRouter) -> None:
    account = router.region("eu")
    partner_id, user = f"p-{uuid.uuid4().hex}", str(uuid.uuid4())
    clock = MovableClock(datetime(1961, 3, 15, tzinfo=UTC))
    log = AuditLog(account, clock, master_key=STACK_ENV["SUBJECT_KEY_MASTER"])
    subject = EventSubject(scope=f"t~{uuid.uuid4()}", key=user)

    def seal_event() -> None:
        log.append(
            partner_id,
            NewEvent(
                "user.updated",
                {"type": "system", "id": "sync"},
                {"type": "user", "id": user},
                subject=subject,
            ),
        )

    seal_event()
    clock.moment = datetime(1961, 5, 20, tzinfo=UTC)
    seal_event()  # used again in May: the key is needed as long as May's events
    rule = app_rule(UnusedSubjectKeys.name)
    goes_at = add_months(datetime(1961, 5, 1, tzinfo=UTC), 25)

    assert sweep(router, goes_at - DAY, rule) == {}
    assert len(partition(account, SUBJECT_KEYS, partner_id)) == 2  # the pointer and the key
    assert sweep(router, goes_at + DAY, rule) == {UnusedSubjectKeys.name: 1}
    assert partition(account, SUBJECT_KEYS, partner_id) == []
    assert sweep(router, goes_at + 2 * DAY, rule) == {}


def test_snapshots_keep_the_latest_and_those_drift_refers_to(router: StorageRouter) -> None:
    account = router.region("eu")
    container = account.container(SNAPSHOTS)
    prefix = f"p-{uuid.uuid4().hex}/{uuid.uuid4()}/"
    taken = datetime(1964, 2, 10, tzinfo=UTC)
    # Thirteen syncs (sync ids sort by time): the oldest compared by a drift event, the next not.
    names = [f"{prefix}{n:02d}.json" for n in range(13)]
    for n, name in enumerate(names):
        container.upload_blob(
            name,
            json.dumps({"syncId": n}).encode(),
            metadata=metadata_for(isoformat(taken + n * DAY), drift=n == 0),
        )
    rule = app_rule(SnapshotHistory.name)
    assert isinstance(rule, SnapshotHistory) and rule.keep == 10
    goes_at = add_months(taken, 25)

    # The unreferenced ones beyond the latest ten go at once; the referenced one stays with its event.
    assert sweep(router, goes_at - DAY, rule) == {SnapshotHistory.name: 2}
    assert blob_names(account, SNAPSHOTS, prefix) == [names[0], *names[3:]]
    assert sweep(router, goes_at + DAY, rule) == {SnapshotHistory.name: 1}
    assert blob_names(account, SNAPSHOTS, prefix) == names[3:]
    assert sweep(router, goes_at + 2 * DAY, rule) == {}


# --- a terminated partner's data -------------------------------------------------------------


def org_service(router: StorageRouter, partner_id: str, clock: MovableClock) -> OrgService:
    account = router.region("eu")
    return OrgService(
        account,
        partner_id,
        "eu",
        OrgDirectory(router),
        clock,
        PEPPER,
        cascade=org_cascade(account, forget_org_subjects),
    )


def dynamics_org(router: StorageRouter, partner_id: str, clock: MovableClock) -> tuple[str, str]:
    """An org with a system user, a rule, a device and a notification: (org, notification)."""
    account = router.region("eu")
    service = org_service(router, partner_id, clock)
    org_id, user = str(uuid.uuid4()), uuid.uuid4()
    body = OrgIn(
        organization_id=uuid.UUID(org_id),
        unique_name="contoso",
        name="Contoso",
        language_code=1033,
        business=Business(name="Contoso Ltd"),
    )
    service.register(body, "https://example.test", OPERATOR)
    service.upsert_users(
        org_id,
        [SystemUserIn(system_user_id=user, full_name="Sam Subject", email="sam@contoso.example")],
        OPERATOR,
    )
    rule = {
        "entity": "incident",
        "message": "Create",
        "title": "New case",
        "recipients": {"type": "everyone"},
    }
    service.create_rule(org_id, RuleIn.model_validate(rule), OPERATOR)
    cipher = TokenCipher(STACK_ENV["DEVICE_TOKEN_KEY"])
    DeviceRegistry(account, clock, cipher, PEPPER).register(
        org_id, DeviceIn(system_user_id=user, token=f"tok-{uuid.uuid4().hex}")
    )
    notification_id = notify(account, partner_id, clock, org_id)
    return org_id, notification_id


def notify(account: AccountStorage, partner_id: str, clock: MovableClock, org_id: str) -> str:
    cipher = TokenCipher(STACK_ENV["DEVICE_TOKEN_KEY"])
    notification_id, _ = NotificationService(account, partner_id, clock, cipher).accept(
        NewNotification(
            org_id=org_id, source="partner", recipients=None, payload=Payload("Case", "CAS-1", {}, None)
        )
    )
    # The outcome the fan-out writes per device (the fan-out itself is tested elsewhere).
    account.table("notifydeliveries").create_entity(
        {"PartitionKey": notification_id, "RowKey": "d_1", "state": "sent"}
    )
    return notification_id


def test_a_terminated_partners_dynamics_data_goes_at_end_user_data_at(router: StorageRouter) -> None:
    account = router.region("eu")
    clock = MovableClock(datetime(1966, 1, 10, tzinfo=UTC))
    partner = terminated_partner(router, clock)
    org_id, notification_id = dynamics_org(router, partner.id, clock)
    assert partner.subscription.deletion_schedule is not None
    goes_at = partner.subscription.deletion_schedule.end_user_data_at
    rule = app_rule(DynamicsDataAtSubscriptionEnd.name)
    held = {
        "orgusers": org_id,
        "orgrules": org_id,
        "devices": org_id,
        "notifications": org_id,
        "notifydeliveries": notification_id,
    }

    assert sweep(router, goes_at - DAY, rule) == {}
    assert all(partition(account, table, key) for table, key in held.items())
    assert sweep(router, goes_at + DAY, rule) == {DynamicsDataAtSubscriptionEnd.name: 1}
    assert [table for table, key in held.items() if partition(account, table, key)] == []
    assert partition(account, "orgs", partner.id) == []
    assert (
        list(
            router.control.table("orgpending").query_entities(
                "PartitionKey eq @pk", parameters={"pk": org_id}
            )
        )
        == []
    )
    assert (
        list(
            account.table("subjectindex").query_entities(
                "PartitionKey ge @lo and PartitionKey lt @hi",
                parameters={"lo": f"o~{org_id}", "hi": f"o~{org_id}~~"},
            )
        )
        == []
    )
    assert sweep(router, goes_at + 2 * DAY, rule) == {}


def live_partner(router: StorageRouter, clock: MovableClock) -> Partner:
    service = PartnerService(router, PartnerDirectory(router), clock, pepper_ring(PEPPER))
    body = PartnerIn.model_validate(
        {
            "displayName": "Live IT",
            "region": "eu",
            "entraTenantId": str(uuid.uuid4()),
            "contact": {"name": "Ana Li", "email": "ana@live.example"},
            "subscription": {"plan": "standard", "tenantLimit": 5, "billingCycle": "monthly"},
            "owner": {"objectId": str(uuid.uuid4()), "email": "owner@live.example"},
        }
    )
    return service.create(body, OPERATOR)


def test_notification_history_goes_after_the_partners_days(router: StorageRouter) -> None:
    account = router.region("eu")
    start = datetime(1968, 3, 1, tzinfo=UTC)
    clock = MovableClock(start)
    partner = live_partner(router, clock)
    org_id, first = dynamics_org(router, partner.id, clock)
    clock.moment = start + 60 * DAY
    second = notify(account, partner.id, clock, org_id)
    rule = app_rule(NotificationHistory.name)

    def kept() -> list[str]:
        return [n for n in (first, second) if partition(account, "notifydeliveries", n)]

    # 90 days unless the partner says otherwise.
    assert sweep(router, start + 89 * DAY, rule) == {}
    assert kept() == [first, second]
    assert sweep(router, start + 91 * DAY, rule) == {NotificationHistory.name: 1}
    assert kept() == [second]
    assert [r["RowKey"] for r in partition(account, "notifications", org_id)] == [second]

    # The partner shortens it to 30 days (within 30..365): the second goes 30 days after it came.
    settings = PrivacySettingsService(account, clock)
    settings.update(
        partner.id,
        PrivacySettingsIn(administration_retention_years=7, notification_retention_days=30),
        OPERATOR,
    )
    assert settings.get(partner.id).notification_retention_days == 30
    assert sweep(router, start + 89 * DAY, rule) == {}
    assert sweep(router, start + 91 * DAY, rule) == {NotificationHistory.name: 1}
    assert kept() == [] and partition(account, "notifications", org_id) == []
    assert sweep(router, start + 92 * DAY, rule) == {}


def test_a_terminated_partners_contacts_breaches_and_requests_go_even_after_missed_sweeps(
    router: StorageRouter,
) -> None:
    account = router.region("eu")
    clock = MovableClock(datetime(1970, 1, 10, tzinfo=UTC))
    partner = live_partner(router, clock)
    ledger = ConsentLedger(account, clock, deps.consent_keys())
    ledger.subscribe(
        SubscribeIn(partner_id=partner.id, email="reader@fabrikam.example", purpose="news"), "10.0.0.0"
    )
    token = ledger.outbox(partner.id, 10).items[0].confirm_token
    assert token is not None
    ledger.confirm(token, "10.0.0.0")
    BreachRegister(account, clock, lambda _p, _r: True).record(
        BreachIn.model_validate(
            {
                "region": "eu",
                "nature": "lost laptop",
                "dataCategories": ["end-user data"],
                "approxSubjects": 1,
                "approxRecords": 1,
                "contactPoint": {"name": "DPO", "email": "dpo@operator.example"},
                "likelyConsequences": "none",
                "measures": "wiped",
                "affectedPartners": [partner.id],
            }
        ),
        OPERATOR,
    )
    requests = PrivacyRequestService(
        account, partner.id, "eu", clock, PEPPER, scope_exists=lambda _t, _o: True
    )
    requests.forward(  # the operator only ever forwards one
        RequestIn.model_validate(
            {"type": "access", "subject": {"email": "ana@fabrikam.example"}, "tenantId": str(uuid.uuid4())}
        ),
        OPERATOR,
    )
    # What an erasure and a connected Entra tenant leave behind (SubjectData.erase, the proof of
    # the partner's tenant), written as they write them.
    account.table("subjectflags").create_entity(
        {"PartitionKey": erasure_journals(partner.id), "RowKey": "01REQUEST", "planned": "{}"}
    )
    account.table("adminconsents").create_entity(
        {"PartitionKey": partner.id, "RowKey": "~connection", "tenantId": partner.entra_tenant_id}
    )
    service = PartnerService(router, PartnerDirectory(router), clock, pepper_ring(PEPPER))
    ended = service.terminate(service.get(partner.id), OPERATOR)
    schedule = ended.subscription.deletion_schedule
    assert schedule is not None
    held = {
        "consentcontacts": partner.id,
        "consentledger": partner.id,
        "breaches": f"partner-{partner.id}",
        "privacyrequests": partner.id,
        "subjectflags": erasure_journals(partner.id),
        "adminconsents": partner.id,
    }

    def left() -> list[str]:
        return [table for table, key in held.items() if partition(account, table, key)]

    # A day before the end-user date everything stays; a day after, the partner's contacts go.
    sweep(router, schedule.end_user_data_at - DAY)
    assert left() == list(held)
    gone = sweep(router, schedule.end_user_data_at + DAY)
    assert left() == ["breaches", "privacyrequests", "subjectflags", "adminconsents"]
    assert gone["consentcontacts.terminated-partner"] == 1 and gone["consentledger.terminated-partner"] == 1

    # Sweeps then stop for eleven years: one sweep finds every date due at once, and still leaves
    # nothing behind (the partner row, which makes a partner's data due, goes last).
    gone = sweep(router, add_months(schedule.end_user_data_at, 12 * 11))
    assert left() == []
    assert partition(account, "partners", partner.id) == []
    for rule in (
        "breaches.terminated-partner",
        "privacyrequests.rows",
        "subjectflags.erasure-journals",
        "tenants.partner-records",
        "administration.records",
    ):
        assert gone.get(rule, 0) >= 1, rule
    assert sweep(router, add_months(schedule.end_user_data_at, 12 * 11) + DAY) == {}


def test_pending_sign_ins_go_when_their_link_expires(router: StorageRouter) -> None:
    account = router.region("eu")
    start = datetime(1972, 5, 5, 9, tzinfo=UTC)
    partner_id = f"p-{uuid.uuid4().hex}"
    pending = SignInStore(account, partner_id, MovableClock(start)).begin(
        "customerTenant", str(uuid.uuid4()), "https://portal.example/done", "owner"
    )
    rule = app_rule(ExpiredSignIns.name)

    assert sweep(router, start + LINK_LIFETIME - timedelta(minutes=1), rule) == {}
    assert [r["RowKey"] for r in partition(account, "adminconsents", partner_id)] == [f"s-{pending.id}"]
    assert sweep(router, start + LINK_LIFETIME + timedelta(minutes=1), rule) == {ExpiredSignIns.name: 1}
    assert partition(account, "adminconsents", partner_id) == []
    assert sweep(router, start + LINK_LIFETIME + DAY, rule) == {}

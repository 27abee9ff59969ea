"""Erasure reaches everything: after an end user's or a system user's erasure no table, blob or
queue of any account names them in clear (object id or system-user id, UPN, e-mail), even where
they were a role holder that drift events and configuration snapshots recorded, or a recipient
named in a notification's list.

Against Azurite and the Graph stand-in, through the app's own wiring (functions/deps.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from functions import deps
from localdev.graph_standin import StandinControl
from shared.access.principals import Actor
from shared.audit.context import ActionContext
from shared.audit.log import AuditLog, iter_all
from shared.clock import isoformat
from shared.notifications.models import Business, OrgIn, SystemUserIn
from shared.notifications.payload import NewNotification, Payload
from shared.notifications.secrets import TokenCipher
from shared.notifications.service import NotificationService
from shared.partners.service import Partner
from shared.privacy.subjects import SubjectIdentifier, SubjectScope
from shared.storage.router import AccountStorage
from shared.tenants.snapshots import SNAPSHOTS
from tests.integration.rigs import connected_partner, onboard, queued_sync, service_for
from tests.stack import STACK_ENV

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:msgraph.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:kiota_abstractions.*"),
]

ACTION = ActionContext(Actor("personnel", "privacy-officer"))


@pytest.fixture(scope="module")
def partner(control: StandinControl) -> Partner:
    return connected_partner(control, "Erasure Reach IT", tenant_limit=5)


def clear_texts(account: AccountStorage) -> Iterator[tuple[str, str]]:
    """(where, text) of every table row, blob and queue message of an account."""
    for table in account.table_service().list_tables():
        client = account.table_service().get_table_client(table.name)
        for row in client.list_entities():
            yield f"table {table.name}", json.dumps(dict(row), default=str)
    for container in account.blob_service().list_containers():
        client = account.blob_service().get_container_client(container.name)
        for blob in client.list_blobs(include=["metadata"]):
            content = client.download_blob(blob.name).readall().decode("utf-8", "replace")
            yield f"blob {container.name}/{blob.name}", f"{blob.name} {blob.metadata} {content}"
    for queue in account.queue_service().list_queues():
        client = account.queue_service().get_queue_client(queue.name)
        for message in client.peek_messages(max_messages=32):
            yield f"queue {queue.name}", str(message.content)


def test_an_erased_role_holder_is_named_nowhere_in_any_account(
    partner: Partner, control: StandinControl
) -> None:
    service = service_for(partner)
    tenant_id = onboard(service, control, 8)
    assert (
        service.run_sync(tenant_id, queued_sync(service, tenant_id), final_attempt=False).state == "succeeded"
    )
    admin = control.admin_of(tenant_id)
    identifiers = {str(admin["id"]).lower(), str(admin["userPrincipalName"]).lower()}
    identifiers |= {str(admin["mail"]).lower()} if admin.get("mail") else set()

    # The Global Administrator leaves the customer's directory: the next sync records a drift event
    # about the role they held, and the earlier snapshot lists them as its holder.
    control.mutate(tenant_id, remove=[str(admin["id"])])
    sync = service.request_sync(tenant_id, "manual", ACTION)
    assert service.run_sync(tenant_id, sync.id, final_attempt=False).state == "succeeded"
    log = AuditLog(service.account, deps.clock())
    removed = [e for e in iter_all(log, partner.id) if e["action"] == "tenant.drift.roleRemoved"]
    # Sealed under the holder's key: the partner reads who it was until the holder is erased.
    assert [next(iter(e["changes"].values()))["before"]["principalId"] for e in removed] == [str(admin["id"])]
    snapshots = service.list_snapshots(tenant_id).items
    assert len(snapshots) == 2
    first = service.account.container(SNAPSHOTS).download_blob(
        f"{partner.id}/{tenant_id}/{snapshots[1].sync_id}.json"
    )
    assert str(admin["id"]) in first.readall().decode()

    scope = SubjectScope(partner.id, partner.region, tenant_id=tenant_id)
    who = SubjectIdentifier(object_id=str(admin["id"]))
    located = deps.subject_data().locate(scope, who)
    assert located.counts.get("tenantConfigurationSnapshots", 0) >= 1
    assert located.counts.get("auditEvents", 0) >= 1
    deps.subject_data().erase(scope, who, request_id=f"req-{uuid.uuid4().hex[:8]}")

    router = deps.storage()
    accounts = [router.control, *(router.region(region) for region in router.regions)]
    found = [
        (where, clear)
        for account in accounts
        for where, text in clear_texts(account)
        for clear in identifiers
        if clear in text.lower()
    ]
    assert found == []
    # What changed is still there to read, without who: the snapshots compare as before.
    assert service.list_snapshot_changes(tenant_id, snapshots[0].sync_id, None).changes


def test_an_erased_system_user_is_named_nowhere_in_any_account(partner: Partner) -> None:
    account = deps.storage().region(partner.region)
    orgs = deps.orgs(partner.id, partner.region)
    org_id, subject, other = str(uuid.uuid4()), uuid.uuid4(), uuid.uuid4()
    email = f"sam-{uuid.uuid4().hex[:8]}@contoso.example"
    body = OrgIn(
        organization_id=uuid.UUID(org_id),
        unique_name="contoso",
        name="Contoso",
        language_code=1033,
        business=Business(name="Contoso Ltd"),
    )
    orgs.register(body, "https://example.test", ACTION)
    users = [
        SystemUserIn(system_user_id=subject, full_name="Sam Subject", email=email),
        SystemUserIn(system_user_id=other, full_name="Olga Other", email="olga@contoso.example"),
    ]
    orgs.upsert_users(org_id, users, ACTION)
    cipher = TokenCipher(STACK_ENV["DEVICE_TOKEN_KEY"])
    notifications = NotificationService(account, partner.id, deps.clock(), cipher)
    # Addressed to the subject by id (and to someone else): the list is the org's, the id theirs.
    notification_id, _ = notifications.accept(
        NewNotification(
            org_id=org_id,
            source="partner",
            recipients=[str(subject), str(other)],
            payload=Payload("Case", "CAS-1", {}, None),
        )
    )

    scope = SubjectScope(partner.id, partner.region, org_id=org_id)
    who = SubjectIdentifier(system_user_id=str(subject))
    assert deps.subject_data().locate(scope, who).counts.get("notificationRecipients") == 1
    deps.subject_data().erase(scope, who, request_id=f"req-{uuid.uuid4().hex[:8]}")

    router = deps.storage()
    accounts = [router.control, *(router.region(region) for region in router.regions)]
    identifiers = {str(subject), email}
    found = [
        (where, clear)
        for each in accounts
        for where, text in clear_texts(each)
        for clear in identifiers
        if clear in text.lower()
    ]
    assert found == []
    # The notification itself stays, still addressed to the other recipient.
    row = account.table("notifications").get_entity(org_id, notification_id)
    assert json.loads(row["recipients"]) == ["[erased]", str(other)]


def test_an_erased_leaver_and_colleague_are_named_in_no_offboarding_operation(
    partner: Partner, control: StandinControl
) -> None:
    from shared.tenants.lifecycle_models import LIFECYCLE, OffboardingIn
    from shared.tenants.offboarding import OffboardingService
    from tests.integration.rigs import stored_users

    service = service_for(partner)
    tenant_id = onboard(service, control, 8)
    assert (
        service.run_sync(tenant_id, queued_sync(service, tenant_id), final_attempt=False).state == "succeeded"
    )
    users = stored_users(service, tenant_id)
    leaver, colleague = sorted(users)[:2]
    work = OffboardingService(service.directory, deps.clock(), dispatch=lambda message, delay: None)
    operation = work.start(tenant_id, leaver, OffboardingIn(one_drive_to=colleague), ACTION)
    router = deps.storage()
    accounts = [router.control, *(router.region(region) for region in router.regions)]

    def named(user_id: str) -> list[tuple[str, str]]:
        row = users[user_id]
        identifiers = {user_id, str(row["userPrincipalName"]).lower()}
        identifiers |= {str(row["mail"]).lower()} if row.get("mail") else set()
        return [
            (where, clear)
            for account in accounts
            for where, text in clear_texts(account)
            for clear in identifiers
            if clear in text.lower()
        ]

    # The colleague is named by the leaver's operation; erased, they leave it, and it stays the leaver's.
    scope = SubjectScope(partner.id, partner.region, tenant_id=tenant_id)
    assert (
        deps.subject_data()
        .locate(scope, SubjectIdentifier(object_id=colleague))
        .counts.get("offboardingHandovers")
        == 1
    )
    deps.subject_data().erase(
        scope, SubjectIdentifier(object_id=colleague), request_id=f"req-{uuid.uuid4().hex[:8]}"
    )
    assert named(colleague) == []
    assert work.get(tenant_id, operation.id).user_id == leaver

    # The leaver: the operation and the pointer to it go; the certificate counts the operation.
    located = deps.subject_data().locate(scope, SubjectIdentifier(object_id=leaver))
    assert located.counts.get("offboardingOperations") == 1
    exported = deps.subject_data().export(
        scope, SubjectIdentifier(object_id=leaver), request_id="x-" + leaver[:8]
    )
    assert exported.counts.get("offboardingOperations") == 1
    certificate = deps.subject_data().erase(
        scope, SubjectIdentifier(object_id=leaver), request_id=f"req-{uuid.uuid4().hex[:8]}"
    )
    assert certificate.deleted.get("offboardingOperations") == 1
    router.region(partner.region).container("privacyexports").delete_blob(exported.blob_name)
    assert named(leaver) == []
    lifecycle = router.region(partner.region).table(LIFECYCLE)
    assert [
        r
        for r in lifecycle.query_entities(f"PartitionKey eq '{partner.id}~{tenant_id}'")
        if str(r["RowKey"]).startswith(("op~", "user~"))
    ] == []


def test_an_erased_partner_person_is_named_in_no_api_call_or_session(partner: Partner) -> None:
    from shared.audit.calls import CALLS_TABLE, SESSIONS_TABLE, CallLog, CallRecord
    from shared.partners.access import PERSONNEL
    from shared.privacy.subject_requests import (
        CONTROLLER_PARTITION,
        ControllerRequestIn,
        PrivacyRequestService,
        ResolveIn,
        VerifyIn,
    )
    from tests.integration.rigs import OPERATOR, PEPPER

    account = deps.storage().region(partner.region)
    person_id, object_id = f"P{uuid.uuid4().hex[:12].upper()}", str(uuid.uuid4())
    name, other = f"Petra {uuid.uuid4().hex[:6]}", f"Q{uuid.uuid4().hex[:12].upper()}"
    # A whole person row, as AccessService.invite writes one: other modules of the worker (the
    # portal's sign-in picker) list every partner's people through the product.
    now = isoformat(deps.clock().now())
    account.table(PERSONNEL).create_entity(
        {
            "PartitionKey": partner.id,
            "RowKey": f"p-{person_id}",
            "objectId": object_id,
            "email": "p@msp.example",
            "role": "viewer",
            "status": "active",
            "createdAt": now,
            "updatedAt": now,
        }
    )
    calls = CallLog(lambda region: deps.storage().region(region), background=False)
    for caller, session in ((person_id, "aaaa"), (other, "bbbb")):
        calls.record(
            CallRecord(
                partner_id=partner.id,
                region=partner.region,
                at=deps.clock().now(),
                request_id=uuid.uuid4().hex,
                method="GET",
                route="partners/{partnerId}/tenants",
                status=200,
                duration_ms=12,
                caller_type="personnel",
                caller_id=caller,
                caller_display=name if caller == person_id else "Someone Else",
                client_network="203.0.113.0",
                session=session,
            )
        )
    calls.flush()

    service = PrivacyRequestService(account, CONTROLLER_PARTITION, partner.region, deps.clock(), PEPPER)
    filed = service.create_controller(
        ControllerRequestIn.model_validate(
            {
                "type": "erasure",
                "subject": {"objectId": object_id},
                "category": "partnerPersonnel",
                "partnerId": partner.id,
            }
        ),
        OPERATOR,
    )
    service.verify(filed.id, VerifyIn(method="emailChallenge", note="code came back"), OPERATOR)
    service.approve(filed.id, OPERATOR)
    done = service.resolve(filed.id, ResolveIn(note="Person removed"), OPERATOR)
    assert done.outcome == {"note": "Person removed", "callLog": {"apiCalls": 1, "sessionEvents": 1}}

    texts = [
        text
        for where, text in clear_texts(account)
        if where in (f"table {CALLS_TABLE}", f"table {SESSIONS_TABLE}")
    ]
    assert not [t for t in texts if person_id in t or name in t]
    # The other person's call and session are untouched, and the erased person's call is still counted.
    assert len([t for t in texts if other in t]) == 2
    assert len([t for t in texts if "[erased]" in t]) == 1

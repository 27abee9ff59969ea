"""Lookup hashes across a pepper rotation (real Azurite): rows keyed or found by a keyed hash the way
the code before key ids wrote them (HMACs of the pepper, no key id) are still found; with pepper
version 2 configured, new rows are written under it and old ones move to it when looked up; once
version 1 is dropped, everything is still found. One test per family: the device token index, the
subject index, consent subject keys, data-subject request hashes, complaint and correspondence
contacts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from shared.access.principals import Actor
from shared.audit.context import ActionContext
from shared.clock import SystemClock
from shared.ids import new_id
from shared.keys import LEGACY, KeyRing
from shared.notifications.devices import INDEX_PREFIX, DeviceRegistry, device_key, device_target_dependencies
from shared.notifications.devices import TABLE as DEVICES
from shared.notifications.models import Business, DeviceIn, OrgIn, SystemUserIn
from shared.notifications.orgs import OrgDirectory, OrgService
from shared.notifications.secrets import TokenCipher
from shared.notifications.subjects import OrgSubjects
from shared.privacy import complaints, correspondence
from shared.privacy.complaints import ComplaintIn, ComplaintRegister
from shared.privacy.consent import (
    CONTACTS,
    LEDGER,
    ConsentKeys,
    ConsentLedger,
    SubscribeIn,
    consent_dependencies,
)
from shared.privacy.contact_records import COMPLAINTS, CORRESPONDENCE, ContactRecords
from shared.privacy.correspondence import Correspondence, ThreadIn
from shared.privacy.subject_requests import (
    CONTROLLER_PARTITION,
    ControllerRequestIn,
    PrivacyRequestService,
    ResolveIn,
    VerifyIn,
)
from shared.privacy.subjects import SubjectData, SubjectIdentifier, SubjectScope, index
from shared.privacy.subjects.holdings import SubjectHolders
from shared.storage.router import AccountStorage, StorageRouter
from shared.tenants.store import DirectoryStore
from shared.tenants.subjects import TenantSubjects
from tests.integration.rigs import PepperRotation
from tests.stack import STACK_ENV

ACTION = ActionContext(Actor("personnel", "tester"))
OPERATOR = ActionContext(Actor("operator", "operator"))
PEPPER = STACK_ENV["API_KEY_PEPPER"]
V2 = '{"2": "pepper-version-2-for-the-lookup-test"}'
CIPHER = TokenCipher(STACK_ENV["DEVICE_TOKEN_KEY"])
CONSENT_TOKEN_KEY = "consent-key-for-the-lookup-test"

ROTATION = PepperRotation(PEPPER, V2)
v1, v2, dropped = ROTATION.v1, ROTATION.v2, ROTATION.dropped


def old_hmac(text: str) -> str:
    """The device token index before key ids: HMAC-SHA256 keyed with the pepper itself."""
    return hmac.new(PEPPER.encode(), text.encode(), hashlib.sha256).hexdigest()


def old_keyed(label: bytes, text: str) -> bytes:
    """The privacy hashes before key ids: HMAC-SHA256 under HMAC(pepper, label)."""
    key = hmac.new(PEPPER.encode(), label, hashlib.sha256).digest()
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def rows(account: AccountStorage, table: str, partition: str) -> list[Any]:
    return list(account.table(table).query_entities("PartitionKey eq @pk", parameters={"pk": partition}))


def move_row(account: AccountStorage, table: str, row: Any, row_key: str, **changes: Any) -> None:
    """Stages a row as the old code wrote it: the same properties under the old key."""
    entity = {**dict(row), "RowKey": row_key, **changes}
    account.table(table).delete_entity(row["PartitionKey"], row["RowKey"])
    account.table(table).upsert_entity(entity)


# --- the device token index -------------------------------------------------------------------


def registry(account: AccountStorage, ring: KeyRing) -> DeviceRegistry:
    return DeviceRegistry(account, SystemClock(), CIPHER, PEPPER, ring=ring)


def token_rows(account: AccountStorage, org_id: str) -> list[str]:
    return sorted(
        str(r["RowKey"]) for r in rows(account, DEVICES, org_id) if str(r["RowKey"]).startswith("t_")
    )


def test_a_device_token_indexed_the_old_way_is_the_same_device_across_the_rotation(
    router: StorageRouter,
) -> None:
    account = router.region("eu")
    org_id, user, token = str(uuid.uuid4()), str(uuid.uuid4()), "fcm-" + new_id()
    body = DeviceIn.model_validate({"systemUserId": user, "token": token})
    made, _ = registry(account, v1()).register(org_id, body)
    # As the code before key ids stored it: index row and device both name HMAC(pepper, org|kind|token).
    legacy = old_hmac(f"{org_id}|token|{token}")
    (index_row,) = [r for r in rows(account, DEVICES, org_id) if str(r["RowKey"]).startswith(INDEX_PREFIX)]
    move_row(account, DEVICES, index_row, INDEX_PREFIX + legacy)
    account.table(DEVICES).update_entity(
        {"PartitionKey": org_id, "RowKey": device_key(made.id), "targetHash": legacy}
    )
    assert device_target_dependencies(account, org_id) == {LEGACY: 1}

    # Version 2 configured: the same token again is the same device (not a second one), and its
    # index row moves to version 2 in the same transaction.
    again, fresh = registry(account, v2()).register(org_id, body)
    assert (again.id, fresh) == (made.id, False)
    assert device_target_dependencies(account, org_id) == {"pepper.v2": 1}
    assert len(token_rows(account, org_id)) == 1
    stored = account.table(DEVICES).get_entity(org_id, device_key(made.id))["targetHash"]
    assert token_rows(account, org_id) == [INDEX_PREFIX + stored] and stored.startswith("pepper.v2:")
    # A new token is indexed under version 2 at once.
    other = DeviceIn.model_validate({"systemUserId": user, "token": "fcm-" + new_id()})
    second, fresh = registry(account, v2()).register(org_id, other)
    assert fresh and device_target_dependencies(account, org_id) == {"pepper.v2": 2}

    # Version 1 dropped: both tokens are still their devices; unsubscribing removes the index row.
    assert registry(account, dropped()).register(org_id, body)[0].id == made.id
    assert registry(account, dropped()).register(org_id, other)[0].id == second.id
    registry(account, dropped()).unsubscribe(org_id, made.id)
    assert device_target_dependencies(account, org_id) == {"pepper.v2": 1}


def test_a_token_stored_the_old_way_is_found_with_only_version_1_configured(router: StorageRouter) -> None:
    """The upgrade itself: today's settings (version 1 only) find rows of the code before it."""
    account = router.region("eu")
    org_id, token = str(uuid.uuid4()), "fid-" + new_id()
    body = DeviceIn.model_validate({"systemUserId": str(uuid.uuid4()), "fid": token})
    made, _ = registry(account, v1()).register(org_id, body)
    (index_row,) = [r for r in rows(account, DEVICES, org_id) if str(r["RowKey"]).startswith(INDEX_PREFIX)]
    move_row(account, DEVICES, index_row, INDEX_PREFIX + old_hmac(f"{org_id}|fid|{token}"))
    assert registry(account, v1()).register(org_id, body)[0].id == made.id
    assert device_target_dependencies(account, org_id) == {"pepper.v1": 1}


# --- the subject index ------------------------------------------------------------------------


def subjects(router: StorageRouter, ring: KeyRing) -> SubjectData:
    return SubjectData(
        router,
        SystemClock(),
        STACK_ENV["SUBJECT_KEY_MASTER"],
        pepper=PEPPER,
        holders=SubjectHolders(tenant_users=TenantSubjects(), org_users=OrgSubjects()),
        ring=ring,
    )


def test_subject_index_entries_written_the_old_way_are_found_and_moved(router: StorageRouter) -> None:
    account = router.region("eu")
    partner = new_id()
    service = OrgService(account, partner, "eu", OrgDirectory(router), SystemClock(), PEPPER, ring=v1())
    org_id = str(uuid.uuid4())
    body = OrgIn(
        organization_id=uuid.UUID(org_id),
        unique_name="fabrikam",
        name="Fabrikam",
        language_code=1033,
        business=Business(name="Fabrikam Ltd"),
    )
    service.register(body, "https://example.test", ACTION)
    user_id, email = str(uuid.uuid4()), f"ana.{uuid.uuid4().hex[:6]}@fabrikam.example"
    service.upsert_users(
        org_id,
        [SystemUserIn.model_validate({"systemUserId": user_id, "fullName": "Ana", "email": email})],
        ACTION,
    )
    device, _ = registry(account, v1()).register(
        org_id, DeviceIn.model_validate({"systemUserId": user_id, "token": "fcm-" + new_id()})
    )
    # As the code before key ids wrote them: `<hex of value>|<hex of user id>`, `<hex of user>|<device>`.
    people, devices = index.org_people_partition(org_id), index.org_devices_partition(org_id)
    old_value, old_user = (old_keyed(b"tenantry subject index", text).hex() for text in (email, user_id))
    for entry in rows(account, index.TABLE, people):
        move_row(account, index.TABLE, entry, f"{old_value}|{old_user}")
    for entry in rows(account, index.TABLE, devices):
        move_row(account, index.TABLE, entry, f"{old_user}|{device.id}")

    def keys(partition: str) -> list[str]:
        return [str(e["RowKey"]) for e in rows(account, index.TABLE, partition)]

    assert all(":" not in key for key in keys(people) + keys(devices))
    scope = SubjectScope(partner_id=partner, region="eu", org_id=org_id)
    # Version 2 configured: the address still finds the user and their device, and the entries move.
    found = subjects(router, v2()).locate(scope, SubjectIdentifier(email=email))
    assert (found.subject_key, found.counts.get("devices")) == (user_id, 1)
    assert [key.split("|")[0].split(":")[0] for key in keys(people) + keys(devices)] == ["pepper.v2"] * 2
    # Version 1 dropped: still found, by address and by system user id.
    assert subjects(router, dropped()).locate(scope, SubjectIdentifier(email=email)).subject_key == user_id
    by_id = subjects(router, dropped()).locate(scope, SubjectIdentifier(system_user_id=user_id))
    assert by_id.counts.get("devices") == 1


def test_an_erasure_mark_written_the_old_way_still_keeps_the_user_out_of_the_sync(
    router: StorageRouter,
) -> None:
    account = router.region("eu")
    partner, tenant, user = new_id(), str(uuid.uuid4()), str(uuid.uuid4())
    marks = index.erased_partition(partner, tenant)
    legacy = old_keyed(b"tenantry subject index", f"{partner}|t:{tenant}|{user}").hex()
    account.table(index.TABLE).upsert_entity({"PartitionKey": marks, "RowKey": legacy})

    def store(ring: KeyRing) -> DirectoryStore:
        return DirectoryStore(account, partner, tenant, ThreadPoolExecutor(1), index.index_key(ring))

    assert store(v1()).is_erased(user) and not store(v1()).is_erased(str(uuid.uuid4()))
    assert store(v2()).is_erased(user)  # found under the old form, and moved to version 2
    assert [str(r["RowKey"]).split(":")[0] for r in rows(account, index.TABLE, marks)] == ["pepper.v2"]
    assert store(dropped()).is_erased(user)


# --- consent subject keys -----------------------------------------------------------------------


def consent(router: StorageRouter, ring: KeyRing) -> ConsentLedger:
    return ConsentLedger(
        router.region("eu"), SystemClock(), ConsentKeys(CONSENT_TOKEN_KEY, PEPPER, ring=ring)
    )


def test_consents_keyed_the_old_way_are_found_moved_and_old_links_still_work(router: StorageRouter) -> None:
    account = router.region("eu")
    partner, email = f"p-{uuid.uuid4().hex}", f"Cleo.{uuid.uuid4().hex[:6]}@Fabrikam.example"
    ledger = consent(router, v1())
    for purpose in ("newsletter", "offers"):
        ledger.subscribe(SubscribeIn(partner_id=partner, email=email, purpose=purpose), "10.1.0.0")
        item = next(i for i in ledger.outbox(partner, 10).items if i.purpose == purpose)
        assert item.confirm_token is not None
        ledger.confirm(item.confirm_token, "10.1.0.0")
    # As the code before key ids keyed them: base64url of HMAC under HMAC(pepper, label), no padding.
    text = f"subject\n{partner}\n{email.strip().lower()}"
    legacy = base64.urlsafe_b64encode(old_keyed(b"tenantry consent subject keys", text)).decode().rstrip("=")
    for table in (CONTACTS, LEDGER):
        for row in rows(account, table, partner):
            rest = str(row["RowKey"]).split("|", 1)[1]
            changes = {"subjectKey": legacy} if table == LEDGER else {}
            move_row(account, table, row, f"{legacy}|{rest}", **changes)
    old_link = ledger.unsubscribe_token(partner, f"{legacy}|offers")  # as mailed before the move
    assert consent_dependencies(account, partner) == {LEGACY: 4}

    # Version 2 configured: the address's consents are found, and move to version 2.
    moved = consent(router, v2())
    found = moved.records_for(partner, email)
    assert sorted(c.purpose for c in found.contacts) == ["newsletter", "offers"] and len(found.ledger) == 2
    assert found.subject_key.startswith("pepper.v2:")
    assert consent_dependencies(account, partner) == {"pepper.v2": 4}
    # The link mailed before the move still unsubscribes (the old key points to the new one).
    moved.unsubscribe(old_link, "10.1.0.0")
    assert [c.purpose for c in moved.records_for(partner, email).contacts] == ["newsletter"]
    # The pointer went with the contact: what is left is the other purpose and its pointer.
    assert {str(r["RowKey"]).split("|")[1] for r in rows(account, CONTACTS, partner)} == {"newsletter"}

    # Version 1 dropped: still found, and a withdrawal reaches it.
    assert consent(router, dropped()).withdraw_subject(partner, email, request_id="r-1") == 1
    assert consent(router, dropped()).records_for(partner, email).contacts == []


# --- data-subject request hashes ------------------------------------------------------------------


def requests(router: StorageRouter, ring: KeyRing) -> PrivacyRequestService:
    return PrivacyRequestService(
        router.region("eu"), CONTROLLER_PARTITION, "eu", SystemClock(), PEPPER, ring=ring
    )


def _filed(email: str, kind: str = "access") -> ControllerRequestIn:
    return ControllerRequestIn.model_validate(
        {"type": kind, "subject": {"email": email}, "category": "siteContact"}
    )


def _complete(service: PrivacyRequestService, request_id: str) -> None:
    service.verify(request_id, VerifyIn(method="emailChallenge", note="code came back"), OPERATOR)
    service.approve(request_id, OPERATOR)
    service.resolve(request_id, ResolveIn(note="done by hand"), OPERATOR)


def test_request_hashes_stored_the_old_way_find_duplicates_and_erased_subjects(router: StorageRouter) -> None:
    account = router.region("eu")
    table = account.table("privacyrequests")
    email = f"k.{uuid.uuid4().hex[:8]}@example.com"
    first = requests(router, v1()).create_controller(_filed(email), OPERATOR)
    # As the code before key ids stored it: the hex HMAC on the request and in its open slot's key.
    legacy = old_keyed(b"tenantry data-subject requests", f"controller:site|email:{email}").hex()
    table.update_entity({"PartitionKey": CONTROLLER_PARTITION, "RowKey": first.id, "subjectHash": legacy})
    slot = table.get_entity(CONTROLLER_PARTITION, f"~open~{first.subject_hash}~access")
    move_row(account, "privacyrequests", slot, f"~open~{legacy}~access")

    # Version 2 configured: the same subject again is a duplicate of the open request.
    service = requests(router, v2())
    again = service.create_controller(_filed(email), OPERATOR)
    assert (again.state.value, again.duplicate_of) == ("linked", first.id)
    assert again.subject_hash.startswith("pepper.v2:")
    # Closing the old request releases its slot under the hash it stores.
    _complete(service, first.id)
    assert (
        list(
            table.query_entities(
                f"PartitionKey eq '{CONTROLLER_PARTITION}' and RowKey eq '~open~{legacy}~access'"
            )
        )
        == []
    )
    # An erasure completing reaches the old closed request: identifier dropped, hash moved to version 2.
    erasure = service.create_controller(_filed(email, "erasure"), OPERATOR)
    _complete(service, erasure.id)
    old = service.get(first.id)
    assert old.subject is None and old.subject_hash == erasure.subject_hash

    # Version 1 dropped: a later request about the erased subject still learns it was erased.
    later = requests(router, dropped())
    filed = later.create_controller(_filed(email), OPERATOR)
    _complete(later, filed.id)
    assert later.get(filed.id).subject is None


# --- complaint and correspondence contacts ------------------------------------------------------------


def test_complaints_hashed_the_old_way_are_found_moved_and_erased(router: StorageRouter) -> None:
    account = router.region("eu")
    partner, email = new_id(), f"dana.{uuid.uuid4().hex[:6]}@fabrikam.example"
    register = ComplaintRegister(account, partner, SystemClock(), PEPPER, ring=v1())
    body = {"contact": {"name": "Dana", "email": email}, "subject": "Late answer", "channel": "email"}
    made = register.create_complaint(ComplaintIn.model_validate(body), ACTION)
    legacy = old_keyed(b"tenantry contact records", f"{partner}|{email}").hex()
    table = account.table(complaints.TABLE)
    table.update_entity({"PartitionKey": partner, "RowKey": made.id, "contactHash": legacy})
    threads = Correspondence(account, partner, SystemClock(), PEPPER, ring=v1())
    thread = threads.create_thread(
        ThreadIn.model_validate({"contact": body["contact"], "topic": "Invoice"}), ACTION
    )
    account.table(correspondence.TABLE).update_entity(
        {"PartitionKey": partner, "RowKey": thread.id, "contactHash": legacy}
    )
    assert ContactRecords(account, PEPPER).dependencies(partner) == {
        COMPLAINTS: {LEGACY: 1},
        CORRESPONDENCE: {LEGACY: 1},
    }

    # Version 2 configured: the person's complaint is found by address, and its hash moves.
    found = ContactRecords(account, PEPPER, ring=v2()).records_for(partner, email)
    assert [c["id"] for c in found[COMPLAINTS]] == [made.id]
    assert [t["id"] for t in found[CORRESPONDENCE]] == [thread.id]
    assert str(table.get_entity(partner, made.id)["contactHash"]).startswith("pepper.v2:")
    assert ContactRecords(account, PEPPER).dependencies(partner) == {
        COMPLAINTS: {"pepper.v2": 1},
        CORRESPONDENCE: {"pepper.v2": 1},
    }
    newer = ComplaintRegister(account, partner, SystemClock(), PEPPER, ring=v2()).create_complaint(
        ComplaintIn.model_validate(body), ACTION
    )
    assert str(table.get_entity(partner, newer.id)["contactHash"]).startswith("pepper.v2:")

    # Version 1 dropped: both are found, and erased.
    records = ContactRecords(account, PEPPER, ring=dropped())
    assert sorted(c["id"] for c in records.records_for(partner, email)[COMPLAINTS]) == sorted(
        [made.id, newer.id]
    )
    assert records.erase_subject(partner, email) == {COMPLAINTS: 2, CORRESPONDENCE: 1}
    assert records.records_for(partner, email) == {}

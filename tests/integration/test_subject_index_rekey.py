"""The subject index re-keyed in the background (real Azurite, a storage of its own): entries written
under pepper version 1 or before key ids move to version 2 without anyone looking the subject up,
in a run cut short after one page and resumed; entries that index nothing any more go, an erased
end user is never indexed again, and once version 1 is dropped every subject is still found."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from shared.access.principals import Actor
from shared.adapters.graph import GraphUser
from shared.audit.context import ActionContext
from shared.clock import SystemClock
from shared.ids import new_id
from shared.keys import KeyRing
from shared.notifications.devices import DeviceRegistry
from shared.notifications.models import Business, DeviceIn, OrgIn, SystemUserIn
from shared.notifications.orgs import OrgDirectory, OrgService
from shared.notifications.secrets import TokenCipher
from shared.notifications.subjects import OrgSubjects
from shared.privacy.subjects import SubjectData, SubjectIdentifier, SubjectScope, index
from shared.privacy.subjects.holdings import SubjectHolders
from shared.privacy.subjects.reindex import IndexedRows, SubjectIndexRekey
from shared.storage import tables
from shared.storage.rekeying import STATE_TABLE, RekeyJob
from shared.storage.router import AccountStorage, StorageRouter
from shared.tenants.store import DirectoryStore
from shared.tenants.subjects import TenantSubjects
from tests.integration.rigs import PepperRotation
from tests.stack import STACK_ENV

ACTION = ActionContext(Actor("personnel", "tester"))
PEPPER = STACK_ENV["API_KEY_PEPPER"]
V2 = '{"2": "pepper-version-2-for-the-reindex-test"}'
POINTED = IndexedRows(TenantSubjects.indexed_by, OrgSubjects.indexed_by, OrgSubjects.device_user)

ROTATION = PepperRotation(PEPPER, V2)
v1, v2, dropped = ROTATION.v1, ROTATION.v2, ROTATION.dropped


def legacy(text: str) -> str:
    """The subject index's hash before key ids: hex HMAC-SHA256 under HMAC(pepper, label)."""
    key = hmac.digest(PEPPER.encode(), b"tenantry subject index", hashlib.sha256)
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def entries(account: AccountStorage) -> list[Any]:
    return list(tables.query_json(account.table(index.TABLE), "RowKey ne ''"))


def subjects(router: StorageRouter, ring: KeyRing) -> SubjectData:
    return SubjectData(
        router,
        SystemClock(),
        STACK_ENV["SUBJECT_KEY_MASTER"],
        pepper=PEPPER,
        holders=SubjectHolders(tenant_users=TenantSubjects(), org_users=OrgSubjects()),
        ring=ring,
    )


def job(account: AccountStorage, ring: KeyRing, **options: Any) -> RekeyJob:
    rekeying = SubjectIndexRekey(index.index_key(ring), account, POINTED)
    return RekeyJob(account, [("subjectindex", rekeying)], **options)


def user(name: str, tenant_domain: str) -> GraphUser:
    return GraphUser(
        id=str(uuid.uuid4()),
        display_name=name,
        user_principal_name=f"{name}@{tenant_domain}",
        mail=f"{name}.mail@{tenant_domain}",
    )


@pytest.fixture
def empty(account: AccountStorage) -> AccountStorage:
    """The module's storage with no subject-index entries and no saved cursor."""
    for name in (index.TABLE, STATE_TABLE):
        table = account.table(name)
        rows = list(tables.query_json(table, "RowKey ne ''", ["PartitionKey", "RowKey"]))
        tables.write_each(table, [("delete", row) for row in rows], tolerate=(404,))
    return account


def test_old_entries_move_to_the_current_version_in_the_background_and_version_1_can_go(
    empty: AccountStorage, private_router: StorageRouter
) -> None:
    account, partner, tenant = empty, new_id(), str(uuid.uuid4())
    domain = f"t{uuid.uuid4().hex[:8]}.example"
    ana, ben, cy, dee = (user(name, domain) for name in ("ana", "ben", "cy", "dee"))
    pool = ThreadPoolExecutor(2)
    # Before the rotation: a sync under version 1 indexes four end users.
    DirectoryStore(account, partner, tenant, pool, index.index_key(v1())).upsert_users(
        [ana, ben, cy, dee], "sync-1", full=True
    )
    # Ben's entries as the code before key ids wrote them (`<hex of address>|<hex of user id>`).
    table, key_v1 = account.table(index.TABLE), index.index_key(v1())
    for address in (str(ben.user_principal_name), str(ben.mail)):
        (entry,) = index.tenant_entries(key_v1, partner, tenant, ben.id, [address])
        table.delete_entity(entry["PartitionKey"], entry["RowKey"])
        old = legacy(address)
        table.upsert_entity({
            "PartitionKey": index.tenant_partition(partner, tenant, old),
            "RowKey": f"{old}|{legacy(ben.id.lower())}",
            "subject": ben.id,
        })  # fmt: skip
    # An organisation's system user and device, indexed under version 1.
    org_id, org_user = str(uuid.uuid4()), str(uuid.uuid4())
    email, phone = f"eve.{uuid.uuid4().hex[:6]}@fabrikam.example", "+44 20 7946 0000"
    service = OrgService(
        account, partner, "eu", OrgDirectory(private_router), SystemClock(), PEPPER, ring=v1()
    )
    service.register(
        OrgIn(
            organization_id=uuid.UUID(org_id),
            unique_name="fabrikam",
            name="Fabrikam",
            language_code=1033,
            business=Business(name="Fabrikam Ltd"),
        ),
        "https://example.test",
        ACTION,
    )
    service.upsert_users(
        org_id,
        [SystemUserIn.model_validate({"systemUserId": org_user, "email": email, "mobilePhone": phone})],
        ACTION,
    )
    device, _ = DeviceRegistry(
        account, SystemClock(), TokenCipher(STACK_ENV["DEVICE_TOKEN_KEY"]), PEPPER, ring=v1()
    ).register(org_id, DeviceIn.model_validate({"systemUserId": org_user, "token": "fcm-" + new_id()}))

    # Version 2 added. A sync that read the erasure marks before Cy was erased, on an instance still
    # under version 1 alone, writes Cy back with version-1 entries; Dee's row went, her entries stayed.
    racing = DirectoryStore(account, partner, tenant, pool, index.index_key(v1()))
    racing.without_erased([])
    tenant_scope = SubjectScope(partner_id=partner, region="eu", tenant_id=tenant)
    subjects(private_router, v2()).erase(
        tenant_scope, SubjectIdentifier(object_id=cy.id), request_id=new_id()
    )
    racing.upsert_users([cy], "sync-2", full=True)
    racing.delete_users([dee.id])
    # Ana's, Cy's, Dee's two addresses, Eve's email and phone and her device; Ben's; Cy's erasure mark.
    assert index.index_dependencies(account) == {"pepper.v1": 2 + 2 + 2 + 2 + 1, "legacy": 2, "pepper.v2": 1}

    class CrashError(Exception):
        pass

    def crash(name: str, pages: int) -> None:
        raise CrashError(name)

    # A run cut short after its first page saves where it stood; the next one finishes the pass.
    with pytest.raises(CrashError):
        job(account, v2(), page_size=3, after_page=crash).run()
    assert [r["RowKey"] for r in tables.query_json(account.table(STATE_TABLE), "RowKey ne ''")] == [
        "subjectindex"
    ]
    halfway = index.index_dependencies(account)
    assert halfway["pepper.v2"] > 1 and halfway["pepper.v1"] + halfway.get("legacy", 0) > 0
    (outcome,) = job(account, v2(), page_size=3).run()
    assert outcome.complete and outcome.failed == 0
    assert list(tables.query_json(account.table(STATE_TABLE), "RowKey ne ''")) == []

    # Only version 2 left: Ana's and Ben's two addresses, Eve's two values and her device, Cy's mark.
    assert index.index_dependencies(account) == {"pepper.v2": 2 + 2 + 2 + 1 + 1}
    pointed = sorted(
        str(e.get("subject") or e.get("deviceId")) for e in entries(account) if "|" in e["RowKey"]
    )
    assert pointed == sorted([ana.id, ana.id, ben.id, ben.id, org_user, org_user, device.id])
    again = job(account, v2()).run()
    assert [(o.read, o.rekeyed, o.dropped) for o in again] == [(0, 0, 0)]

    # Version 1 dropped: everyone still found by every identifier; erased Cy and departed Dee are not.
    after = subjects(private_router, dropped())
    for who in (ana, ben):
        for address in (str(who.user_principal_name), str(who.mail)):
            assert after.locate(tenant_scope, SubjectIdentifier(email=address)).subject_key == who.id
    for gone in (cy, dee):
        assert after.locate(tenant_scope, SubjectIdentifier(email=str(gone.mail))).subject_key is None
    org_scope = SubjectScope(partner_id=partner, region="eu", org_id=org_id)
    for identifier in (SubjectIdentifier(email=email), SubjectIdentifier(phone=phone)):
        assert after.locate(org_scope, identifier).subject_key == org_user
    assert after.locate(org_scope, SubjectIdentifier(system_user_id=org_user)).counts.get("devices") == 1


def test_an_erasure_landing_while_an_entry_moves_is_not_undone(
    empty: AccountStorage, private_router: StorageRouter
) -> None:
    account, partner, tenant = empty, new_id(), str(uuid.uuid4())
    fay = user("fay", f"t{uuid.uuid4().hex[:8]}.example")
    DirectoryStore(account, partner, tenant, ThreadPoolExecutor(1), index.index_key(v1())).upsert_users(
        [fay], "sync-1", full=True
    )
    scope = SubjectScope(partner_id=partner, region="eu", tenant_id=tenant)
    reads: list[str] = []

    def read_then_erase(account: AccountStorage, partner: str, tenant: str, user_id: str) -> set[str] | None:
        """The real read; the erasure request is carried out right after the second one (the job
        has planned both moves, its erasure marks read before the erasure), before the job writes."""
        found = TenantSubjects.indexed_by(account, partner, tenant, user_id)
        reads.append(user_id)
        if len(reads) == 2:
            subjects(private_router, v2()).erase(
                scope, SubjectIdentifier(object_id=user_id), request_id=new_id()
            )
        return found

    racing = IndexedRows(read_then_erase, OrgSubjects.indexed_by, OrgSubjects.device_user)
    rekeying = SubjectIndexRekey(index.index_key(v2()), account, racing)
    (outcome,) = RekeyJob(account, [("subjectindex", rekeying)]).run()
    assert reads[:2] == [fay.id, fay.id] and outcome.complete
    # Nothing points to Fay any more: only the erasure mark is left, and no address finds her.
    assert [e for e in entries(account) if "|" in str(e["RowKey"])] == []
    assert index.index_dependencies(account) == {"pepper.v2": 1}
    for address in (str(fay.user_principal_name), str(fay.mail)):
        assert (
            subjects(private_router, v2()).locate(scope, SubjectIdentifier(email=address)).subject_key is None
        )

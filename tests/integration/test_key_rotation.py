"""Rotation of the wrapping and sealing masters end to end (real Azurite, a storage of its own):
subject keys wrapped the old way (no master version recorded) and device tokens and alert secrets
sealed under the old DEVICE_TOKEN_KEY still open once a new version is added; new ones are made
under it; the re-keying job moves every old row to it, page by page, resuming where a run was cut
short and leaving a row a concurrent writer changed alone; then the old version is removed from
the settings and everything still opens."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.data.tables import UpdateMode

from shared.alerts.subscriptions import SubscriptionSecretRekey, SubscriptionStore
from shared.audit.seal import (
    KEY_ROW,
    MASTER_VERSION,
    SubjectKeyRewrap,
    SubjectKeyStore,
    UnknownMasterVersionError,
    new_master_key,
    open_tree,
    seal_value,
    subject_master,
    subject_row_key,
    tenant_scope,
)
from shared.clock import SystemClock
from shared.ids import new_id
from shared.notifications.devices import DeviceTokenRekey, device_entity
from shared.notifications.models import DeviceIn
from shared.notifications.secrets import TokenCipher, new_encryption_key
from shared.privacy.lifetimes import RekeyRunState
from shared.privacy.retention import RetentionRegistry, RetentionSweeper
from shared.storage import tables
from shared.storage.rekeying import STATE_TABLE, MasterInUse, RekeyJob, count_key_ids, key_version_report
from shared.storage.router import AccountStorage, StorageRouter
from tests.clocks import MovableClock

V1, V2 = new_master_key(), new_master_key()
OLD_TOKEN_KEY, NEW_TOKEN_KEY = new_encryption_key(), new_encryption_key()
BOTH = json.dumps({"2": V2})
ONLY_V2 = subject_master("", BOTH)  # SUBJECT_KEY_MASTER emptied once nothing depends on it


@pytest.fixture
def empty(account: AccountStorage) -> AccountStorage:
    """The module's own storage with no subject keys, devices, subscriptions or job cursors."""
    for name in ("subjectkeys", "devices", "alertsubscriptions", STATE_TABLE):
        table = account.table(name)
        rows = list(tables.query_json(table, "RowKey ne ''", ["PartitionKey", "RowKey"]))
        tables.write_each(table, [("delete", row) for row in rows], tolerate=(404,))
    return account


def _old_subject_key(account: AccountStorage, partner: str, subject: str) -> tuple[str, str]:
    """A subject key as stored before master versions (no `masterVersion`), and a value it sealed."""
    kid, key = SubjectKeyStore(account, V1).get_or_create(partner, tenant_scope("t1"), subject)
    table = account.table("subjectkeys")
    for row_key in (subject_row_key(tenant_scope("t1"), subject), KEY_ROW + kid):
        row = dict(table.get_entity(partner, row_key))
        del row[MASTER_VERSION]
        table.upsert_entity(row, mode=UpdateMode.REPLACE)
    return kid, seal_value(partner, kid, key, f"name of {subject}")


def _opens(account: AccountStorage, master: Any, partner: str, sealed: str) -> Any:
    keys = SubjectKeyStore(account, master)
    return open_tree(partner, sealed, lambda kid: keys.get_by_kid(partner, kid))


def _old_device(account: AccountStorage, cipher: TokenCipher) -> tuple[str, str, str]:
    org_id, device_id, token = str(uuid.uuid4()), new_id(), "fcm-" + new_id()
    body = DeviceIn.model_validate({"systemUserId": str(uuid.uuid4()), "token": token, "footprint": "pixel"})
    entity = device_entity(
        org_id, device_id, body, cipher=cipher, pepper="p" * 32, secret_hash="h", now="2026-01-01T00:00:00Z"
    )
    account.table("devices").create_entity(entity)
    return org_id, device_id, token


def _device_token(account: AccountStorage, cipher: TokenCipher, org_id: str, device_id: str) -> str:
    row = account.table("devices").get_entity(org_id, f"d_{device_id}")
    return cipher.open(str(row["target"]), f"{org_id}|{device_id}")


def _old_subscription(account: AccountStorage, cipher: TokenCipher) -> tuple[str, str]:
    partner, sid = new_id(), new_id()
    store = SubscriptionStore(account, partner, SystemClock(), cipher)
    secrets = [{"s": store.seal_secret(sid, "whsec_" + sid), "until": None}]
    account.table("alertsubscriptions").create_entity({
        "PartitionKey": partner, "RowKey": sid, "channel": "webhook",
        "url": store.seal_url(sid, f"https://receiver.example/{sid}"), "recipients": "[]",
        "eventTypes": '["*"]', "minSeverity": "info", "state": "active", "secrets": json.dumps(secrets),
    })  # fmt: skip
    return partner, sid


def _subscription(
    account: AccountStorage, cipher: TokenCipher, partner: str, sid: str
) -> tuple[str | None, list[str]]:
    store = SubscriptionStore(account, partner, SystemClock(), cipher)
    row = store.get_row(sid)
    opened = store.open(row)
    return opened.url, opened.secrets


def _job(account: AccountStorage, master: Any, cipher: TokenCipher, **options: Any) -> RekeyJob:
    rekeyings = [
        ("subjectkeys", SubjectKeyRewrap(SubjectKeyStore(account, master))),
        ("devices", DeviceTokenRekey(cipher)),
        ("alertsubscriptions", SubscriptionSecretRekey(cipher)),
    ]
    return RekeyJob(account, rekeyings, **options)


def test_every_master_rotates_old_data_reads_new_data_uses_the_new_version_and_the_old_one_goes(
    empty: AccountStorage,
) -> None:
    account, partner = empty, new_id()
    old_cipher = TokenCipher(OLD_TOKEN_KEY)
    # Before the rotation: rows as they were written before master versions.
    sealed = dict(_old_subject_key(account, partner, f"user-{n}") for n in range(3))
    org_id, device_id, token = _old_device(account, old_cipher)
    sub_partner, sid = _old_subscription(account, old_cipher)

    # Version 2 added (subject master) and a new token key in front: old data still opens.
    both = subject_master(V1, BOTH)
    cipher = TokenCipher(f"{NEW_TOKEN_KEY},{OLD_TOKEN_KEY}")
    for kid, value in sealed.items():
        assert _opens(account, both, partner, value) == f"name of user-{list(sealed).index(kid)}"
    assert _device_token(account, cipher, org_id, device_id) == token
    assert _subscription(account, cipher, sub_partner, sid) == (
        f"https://receiver.example/{sid}",
        ["whsec_" + sid],
    )

    # New data under the new versions.
    kid, key = SubjectKeyStore(account, both).get_or_create(partner, tenant_scope("t1"), "newcomer")
    new_rows = [r for r in tables.query_json(account.table("subjectkeys"), "RowKey ne ''") if kid in str(r)]
    assert [r[MASTER_VERSION] for r in new_rows] == [2, 2]
    rewrap = SubjectKeyRewrap(SubjectKeyStore(account, both))
    assert count_key_ids(account, rewrap).found == {"subjectkey.v1": 6, "subjectkey.v2": 2}
    devices, subscriptions = DeviceTokenRekey(cipher), SubscriptionSecretRekey(cipher)
    old_id, new_id_ = TokenCipher(OLD_TOKEN_KEY).current_key_id, cipher.current_key_id
    assert count_key_ids(account, devices).found == {old_id: 2}  # the token and the footprint
    assert count_key_ids(account, subscriptions).found == {old_id: 2}  # the URL and the secret

    # The job moves everything; a second run finds nothing left to do.
    outcomes = _job(account, both, cipher).run()
    assert [(o.name, o.rekeyed, o.complete) for o in outcomes] == [
        ("subjectkeys", 6, True), ("devices", 1, True), ("alertsubscriptions", 1, True)
    ]  # fmt: skip
    assert count_key_ids(account, rewrap).found == {"subjectkey.v2": 8}
    assert count_key_ids(account, devices).found == {new_id_: 2}
    assert count_key_ids(account, subscriptions).found == {new_id_: 2}
    assert [o.rekeyed for o in _job(account, both, cipher).run()] == [0, 0, 0]

    # The old versions removed from the settings: everything still opens, the old keys open nothing.
    only_new = TokenCipher(NEW_TOKEN_KEY)
    for kid_, value in sealed.items():
        assert _opens(account, ONLY_V2, partner, value) == f"name of user-{list(sealed).index(kid_)}"
    assert SubjectKeyStore(account, ONLY_V2).get_by_kid(partner, kid) == key
    assert _device_token(account, only_new, org_id, device_id) == token
    assert _subscription(account, only_new, sub_partner, sid) == (
        f"https://receiver.example/{sid}",
        ["whsec_" + sid],
    )
    with pytest.raises(UnknownMasterVersionError):  # a version dropped too early is not an erasure
        _opens(account, subject_master(V1), partner, next(iter(sealed.values())))


def test_a_job_cut_short_resumes_where_it_stood(empty: AccountStorage, private_router: StorageRouter) -> None:
    account, partner = empty, new_id()
    sealed = dict(_old_subject_key(account, partner, f"user-{n}") for n in range(5))  # 10 rows
    both = subject_master(V1, BOTH)
    cipher = TokenCipher(NEW_TOKEN_KEY)
    rewrap = SubjectKeyRewrap(SubjectKeyStore(account, both))

    class CrashError(Exception):
        pass

    def crash_after_first_page(name: str, pages: int) -> None:
        raise CrashError(name)

    with pytest.raises(CrashError):
        _job(account, both, cipher, page_size=4, after_page=crash_after_first_page).run()
    # One page of four moved, and where the job stood was saved.
    assert count_key_ids(account, rewrap).found == {"subjectkey.v1": 6, "subjectkey.v2": 4}
    assert [r["RowKey"] for r in tables.query_json(account.table(STATE_TABLE), "RowKey ne ''")] == [
        "subjectkeys"
    ]

    # The retention sweep leaves a cursor alone, however late (`RekeyRunState`: the job removes it).
    years_later = MovableClock(datetime.now(UTC) + timedelta(days=3 * 365))
    registry = RetentionRegistry([RekeyRunState()])
    assert RetentionSweeper(registry, private_router, years_later, budget_seconds=60).sweep("eu").complete
    assert [r["RowKey"] for r in tables.query_json(account.table(STATE_TABLE), "RowKey ne ''")] == [
        "subjectkeys"
    ]

    # A run with a budget of one page goes on from there, not from the start.
    (outcome,) = _job(account, both, cipher, page_size=4, max_pages=1).run()
    assert (outcome.read, outcome.rekeyed, outcome.complete) == (4, 4, False)
    outcomes = _job(account, both, cipher, page_size=4).run()
    assert (outcomes[0].read, outcomes[0].rekeyed, outcomes[0].complete) == (2, 2, True)
    assert count_key_ids(account, rewrap).found == {"subjectkey.v2": 10}
    # A finished pass leaves no cursor behind; the values still open under version 2 alone.
    assert list(tables.query_json(account.table(STATE_TABLE), "RowKey ne ''")) == []
    for kid, value in sealed.items():
        assert _opens(account, ONLY_V2, partner, value) == f"name of user-{list(sealed).index(kid)}"


def test_a_row_a_writer_changed_meanwhile_is_left_to_that_writer(empty: AccountStorage) -> None:
    account, partner = empty, new_id()
    _old_subject_key(account, partner, "user-0")
    both = subject_master(V1, BOTH)
    table = account.table("subjectkeys")
    stale = list(tables.query_json(table, "RowKey ne ''"))

    class Interleaved(SubjectKeyRewrap):
        """Between the job's read and its write, the app refreshes the pointer row's month."""

        def rekey(self, row: Any) -> dict[str, Any] | None:
            if str(row["RowKey"]).startswith("s~"):
                table.update_entity({"PartitionKey": partner, "RowKey": row["RowKey"], "usedMonth": "209912"})
            return super().rekey(row)

    job = RekeyJob(account, [("subjectkeys", Interleaved(SubjectKeyStore(account, both)))])
    (outcome,) = job.run()
    assert (outcome.rekeyed, outcome.skipped) == (1, 1)
    pointer = next(r for r in tables.query_json(table, "RowKey ne ''") if str(r["RowKey"]).startswith("s~"))
    assert pointer["usedMonth"] == "209912" and MASTER_VERSION not in pointer  # the writer's version stands
    assert len(stale) == 2
    # The next run moves it.
    (again,) = RekeyJob(account, [("subjectkeys", SubjectKeyRewrap(SubjectKeyStore(account, both)))]).run()
    assert (again.rekeyed, again.skipped) == (1, 0)


def test_a_key_wrapped_by_a_version_no_longer_configured_is_left_and_reported(empty: AccountStorage) -> None:
    account, partner = empty, new_id()
    _old_subject_key(account, partner, "user-0")
    # Version 1 dropped before the job ran: the rows cannot be opened, the job leaves them.
    (outcome,) = RekeyJob(
        account, [("subjectkeys", SubjectKeyRewrap(SubjectKeyStore(account, ONLY_V2)))]
    ).run()
    assert (outcome.read, outcome.rekeyed, outcome.failed, outcome.complete) == (2, 0, 2, True)
    report = key_version_report(
        [account],
        [
            MasterInUse(
                "subjectkey",
                "SUBJECT_KEY_MASTER",
                ["subjectkey.v2"],
                "the job",
                [lambda a: count_key_ids(a, SubjectKeyRewrap(SubjectKeyStore(a, ONLY_V2)))],
            )
        ],
    )
    assert [(v.key_id, v.current, v.configured, v.dependents) for v in report[0].versions] == [
        ("subjectkey.v2", True, True, 0),
        ("subjectkey.v1", False, False, 2),
    ]
    # Put back, the version opens them again and the job moves them.
    (again,) = _job(account, subject_master(V1, BOTH), TokenCipher(NEW_TOKEN_KEY)).run()[:1]
    assert (again.rekeyed, again.failed) == (2, 0)

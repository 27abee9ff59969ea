"""Crypto-shredding of audit events: personal fields sealed with a per-subject key that erasure destroys.

An event naming a data subject (an end user of a tenant, a system user of an organisation)
carries an `EventSubject`; its personal fields are stored as `enc:v1:<kid>:<base64url(nonce |
ciphertext+tag)>` under the subject's AES-256-GCM key. Keys live in table `subjectkeys` of the
region (PartitionKey = partner id): `s~<scope>~<subject>` names the subject's key id and
`k~<kid>` holds the key, wrapped (AES-GCM) with the master key from settings (Key Vault in Azure).
Both rows are written in one transaction. Erasure deletes them: the stored events do not change
(so their hash chain still verifies) but their sealed fields can no longer be read and render as
`"[erased]"`. The kid is random, so once the `s~` row is gone nothing links it to the subject.
`cryptography` is imported at first use (cold start).

The master has versions like the pepper (`shared/keys.py`): SUBJECT_KEY_MASTER is version 1,
SUBJECT_KEY_MASTER_VERSIONS adds `{"2": "<key>"}`. Each row records the version that wrapped it
(`masterVersion`; a row without one was wrapped by version 1), is unwrapped under that version,
and new keys are wrapped under the highest. `SubjectKeyRewrap` moves the rest to the highest in
the background (`shared/storage/rekeying.py`); then an old version can be dropped.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.keys import MasterKey, key_id
from shared.storage import tables

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

TABLE = "subjectkeys"
PREFIX = "enc:v1:"
ERASED = "[erased]"
SUBJECT_ROW = "s~"
KEY_ROW = "k~"
# The pointer row's month of last sealing (yyyymm): the retention sweep drops a key once no event
# it sealed can remain (shared/privacy/lifetimes.py).
USED_MONTH = "usedMonth"
MASTER_VERSION = "masterVersion"  # the master version that wrapped the row's key (absent: 1)
SUBJECT_MASTER = "subjectkey"  # the master's name in key ids (`subjectkey.v2`)


@dataclass(frozen=True)
class EventSubject:
    """The data subject an event names, and which of its fields are personal.

    `scope` is `t~<tenant id>` or `o~<org id>`; `key` the subject's stable id there (Entra object
    id, system-user id), lowercase. `fields` are dotted paths: `target.id`, `changes` (every
    before/after value), `details.<name>`.
    """

    scope: str
    key: str
    fields: tuple[str, ...] = ("target.id", "changes")


def tenant_scope(tenant_id: str) -> str:
    return f"t~{tenant_id.lower()}"


def org_scope(org_id: str) -> str:
    return f"o~{org_id.lower()}"


def subject_row_key(scope: str, key: str) -> str:
    return f"{SUBJECT_ROW}{scope}~{key.lower()}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def master_key_bytes(text: str) -> bytes:
    key = _unb64(text.strip())
    if len(key) != 32:
        raise ValueError("the subject master key must be 32 bytes, base64url")
    return key


def new_master_key() -> str:
    """A fresh value for SUBJECT_KEY_MASTER (operators: store it in Key Vault)."""
    return _b64(os.urandom(32))


def subject_master(first: str, more: str = "") -> MasterKey:
    """The master's versions from SUBJECT_KEY_MASTER (version 1, empty once dropped) and
    SUBJECT_KEY_MASTER_VERSIONS (`{"2": "<key>"}`), each checked to be a 32-byte key."""
    master = MasterKey.from_settings(SUBJECT_MASTER, first.strip(), more)
    for secret in master.versions.values():
        master_key_bytes(secret.decode())
    return master


def configured_master() -> MasterKey:
    """The master as the process's settings give it."""
    from shared.settings import get_settings

    config = get_settings()
    return subject_master(
        config.subject_key_master.get_secret_value(), config.subject_key_master_versions.get_secret_value()
    )


class UnknownMasterVersionError(Exception):
    """A row was wrapped by a master version the settings no longer hold: put it back."""


class SubjectKeyStore:
    """The per-subject keys of one region's account."""

    def __init__(self, account: AccountStorage, master_key: str | MasterKey):
        self.account = account
        master = master_key if isinstance(master_key, MasterKey) else subject_master(master_key)
        self.master = master
        self._keys = {v: master_key_bytes(secret.decode()) for v, secret in master.versions.items()}
        self.rows_read = 0

    def _table(self) -> Any:
        return self.account.table(TABLE)

    def _aad(self, partner_id: str, kid: str) -> bytes:
        return f"{partner_id}|{kid}".encode()

    def get(self, partner_id: str, scope: str, key: str) -> tuple[str, bytes] | None:
        """(kid, key) of the subject, or None (never had one, or erased)."""
        row = tables.get(self._table(), partner_id, subject_row_key(scope, key))
        if row is None:
            return None
        self.rows_read += 1
        kid = str(row["kid"])
        return kid, self._unwrap(partner_id, kid, row)

    def get_or_create(
        self, partner_id: str, scope: str, key: str, *, used_at: datetime | None = None
    ) -> tuple[str, bytes]:
        """The subject's key, made on first use. Two writers racing agree on the first one stored.

        `used_at` (a sealing) moves the key's month of last use forward, at most one write per
        subject a month; should the sweep have dropped the key meanwhile, a new one is made.
        """
        month = f"{used_at.astimezone(UTC):%Y%m}" if used_at is not None else None
        row = tables.get(self._table(), partner_id, subject_row_key(scope, key))
        if row is not None and month is not None and str(row.get(USED_MONTH) or "") < month:
            refresh = {"PartitionKey": partner_id, "RowKey": row["RowKey"], USED_MONTH: month}
            if not tables.write_each(self._table(), [("update", refresh, row.etag)], tolerate=(404, 412))[0]:
                # Swept, or refreshed by another writer, this instant: start from what is stored now.
                return self.get_or_create(partner_id, scope, key, used_at=used_at)
        if row is not None:
            self.rows_read += 1
            kid = str(row["kid"])
            return kid, self._unwrap(partner_id, kid, row)
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        from shared.ids import new_id

        kid = new_id()
        raw = AESGCM.generate_key(bit_length=256)
        wrapped = self._wrap(partner_id, kid, raw)
        try:
            tables.write(
                self._table(),
                [
                    (
                        "create",
                        {
                            "PartitionKey": partner_id,
                            "RowKey": subject_row_key(scope, key),
                            "kid": kid,
                            "wrapped": wrapped,
                            MASTER_VERSION: self.master.current,
                            **({USED_MONTH: month} if month is not None else {}),
                        },
                    ),
                    (
                        "create",
                        {
                            "PartitionKey": partner_id,
                            "RowKey": KEY_ROW + kid,
                            "wrapped": wrapped,
                            MASTER_VERSION: self.master.current,
                        },
                    ),
                ],
            )
        except tables.BatchRefusedError:
            again = self.get(partner_id, scope, key)
            if again is None:
                raise
            return again
        return kid, raw

    def get_by_kid(self, partner_id: str, kid: str) -> bytes | None:
        row = tables.get(self._table(), partner_id, KEY_ROW + kid)
        if row is None:
            return None
        self.rows_read += 1
        return self._unwrap(partner_id, kid, row)

    def delete(self, partner_id: str, scope: str, key: str) -> str | None:
        """Deletes the subject's key (both rows); returns its kid, or None if there was none."""
        row = tables.get(self._table(), partner_id, subject_row_key(scope, key))
        if row is None:
            return None
        kid = str(row["kid"])
        # The key first: a crash in between leaves a pointer to nothing, which a retry removes.
        for row_key in (KEY_ROW + kid, subject_row_key(scope, key)):
            tables.delete(self._table(), partner_id, row_key)
        return kid

    def _wrap(self, partner_id: str, kid: str, raw: bytes) -> str:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = os.urandom(12)
        master = self._keys[self.master.current]
        return _b64(nonce + AESGCM(master).encrypt(nonce, raw, self._aad(partner_id, kid)))

    def _unwrap(self, partner_id: str, kid: str, row: Any) -> bytes:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        version = version_of(row)
        master = self._keys.get(version)
        if master is None:
            raise UnknownMasterVersionError(
                f"subject key {kid} is wrapped by {key_id(SUBJECT_MASTER, version)}, which is not configured"
            )
        data = _unb64(str(row["wrapped"]))
        return AESGCM(master).decrypt(data[:12], data[12:], self._aad(partner_id, kid))

    def rewrap(self, row: Any) -> dict[str, Any] | None:
        """The row's key wrapped again under the current version (the columns to write), or None
        when it is wrapped by the current version already."""
        if version_of(row) == self.master.current:
            return None
        partner_id, row_key = str(row["PartitionKey"]), str(row["RowKey"])
        kid = row_key[len(KEY_ROW) :] if row_key.startswith(KEY_ROW) else str(row["kid"])
        raw = self._unwrap(partner_id, kid, row)
        return {"wrapped": self._wrap(partner_id, kid, raw), MASTER_VERSION: self.master.current}


def version_of(row: Any) -> int:
    """The master version that wrapped a row's key (rows from before versions: 1)."""
    return int(row.get(MASTER_VERSION) or 1)


class SubjectKeyRewrap:
    """Both rows of every subject key (`s~` and `k~`, each holds the wrapped key) as the
    background re-keying sees them (`shared/storage/rekeying.py`)."""

    table = TABLE
    columns: tuple[str, ...] = ("kid", "wrapped", MASTER_VERSION)
    where = "RowKey ne ''"

    def __init__(self, keys: SubjectKeyStore):
        self.keys = keys
        self.master = SUBJECT_MASTER

    def key_ids(self, row: Any) -> list[str]:
        return [key_id(SUBJECT_MASTER, version_of(row))] if row.get("wrapped") else []

    def rekey(self, row: Any) -> dict[str, Any] | None:
        return self.keys.rewrap(row) if row.get("wrapped") else None


def seal_value(partner_id: str, kid: str, key: bytes, value: Any) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    plain = json.dumps(value, default=str).encode()
    sealed = AESGCM(key).encrypt(nonce, plain, f"{partner_id}|{kid}".encode())
    return f"{PREFIX}{kid}:{_b64(nonce + sealed)}"


def _open_value(partner_id: str, text: str, key_of: Callable[[str], bytes | None]) -> Any:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    kid, _, body = text[len(PREFIX) :].partition(":")
    key = key_of(kid)
    if key is None:
        return ERASED
    data = _unb64(body)
    try:
        return json.loads(AESGCM(key).decrypt(data[:12], data[12:], f"{partner_id}|{kid}".encode()))
    except (InvalidTag, ValueError):
        return ERASED


def seal_fields(
    partner_id: str, kid: str, key: bytes, subject: EventSubject, parts: dict[str, Any]
) -> dict[str, Any]:
    """`parts` holds `target`, `changes`, `details` as dicts; returns them with personal fields sealed."""
    sealed = {name: json.loads(json.dumps(value, default=str)) for name, value in parts.items()}
    for path in subject.fields:
        head, _, rest = path.partition(".")
        section = sealed.get(head)
        if not isinstance(section, dict):
            continue
        if head == "changes" and not rest:
            for change in section.values():
                if isinstance(change, dict):
                    for side in ("before", "after"):
                        if change.get(side) is not None:
                            change[side] = seal_value(partner_id, kid, key, change[side])
        elif rest in section and section[rest] is not None:
            section[rest] = seal_value(partner_id, kid, key, section[rest])
    return sealed


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def kid_of(value: str) -> str:
    return value[len(PREFIX) :].partition(":")[0]


def open_tree(partner_id: str, value: Any, key_of: Callable[[str], bytes | None]) -> Any:
    """A JSON value with every sealed string opened, or `"[erased]"` where its key is gone."""
    if is_sealed(value):
        return _open_value(partner_id, value, key_of)
    if isinstance(value, dict):
        return {k: open_tree(partner_id, v, key_of) for k, v in value.items()}
    if isinstance(value, list):
        return [open_tree(partner_id, v, key_of) for v in value]
    return value


@dataclass
class KeyCache:
    """Keys by kid for one read (a page of events): one point read per subject, not per event."""

    keys: SubjectKeyStore
    partner_id: str
    found: dict[str, bytes | None] = field(default_factory=dict)

    def __call__(self, kid: str) -> bytes | None:
        if kid not in self.found:
            self.found[kid] = self.keys.get_by_kid(self.partner_id, kid)
        return self.found[kid]

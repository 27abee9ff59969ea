"""The subject index re-keyed in the background: entries under an old pepper version move to the current one.

Readers move an entry when its value is next looked up (`index.value_entries`), and a sync writes
the current version only, so an entry nobody asks for would keep pepper version 1 (or the form
before key ids) needed for ever. This rekeying (run by `shared.storage.rekeying.RekeyJob`, daily per
region) needs no identifier presented: an entry points to the row holding what it indexes (the
`subject` of a person's entry, the device of a device entry), so it reads that row through the area
holding it (`IndexedRows`: tenants' end users, organisations' system users and devices; privacy
never reads their tables), finds the identifier that hashes, under the entry's own version or
form, to the entry's value, and moves the entry to that identifier's current hash (same content).

Decided: an entry whose row is gone, whose row no longer has a matching identifier, or whose end
user is marked erased indexes nothing and is deleted (a reader would drop it as stale anyway). The
move writes the new entry, reads the row again (`Move.holds`) and deletes the old entry; an erasure
deletes the row before its entries, so one that ran meanwhile either deletes the new entry itself
or leaves the job to see the row gone and delete it: an erased subject is never indexed again.
Erasure marks (`t~...~x`) hold only a hash of an erased user's id, which is nowhere else by design:
they cannot be re-keyed without it and move when a sync next presents the user (`is_erased`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shared.keys import PEPPER, KeyedHasher, key_id, stored_key_id
from shared.privacy.subjects import index
from shared.storage import tables
from shared.storage.rekeying import Move

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage


@dataclass(frozen=True)
class IndexedRows:
    """What the rows the index points to are found by now, from the areas holding them (None: no row).

    `tenant_user(account, partner, tenant, user id)` -> the end user's addresses;
    `org_user(account, org, system user id)` -> the system user's values (`index.org_user_values`);
    `device_user(account, org, device id)` -> the system user id the device is registered to."""

    tenant_user: Callable[[AccountStorage, str, str, str], set[str] | None]
    org_user: Callable[[AccountStorage, str, str], set[str] | None]
    device_user: Callable[[AccountStorage, str, str], str | None]


@dataclass
class SubjectIndexRekey:
    """The `Rekeying` of one region's subject index (`shared/storage/rekeying.py`)."""

    key: KeyedHasher
    account: AccountStorage
    rows: IndexedRows
    master: str = PEPPER
    table: str = index.TABLE
    columns: tuple[str, ...] = ("subject", "deviceId")
    where: str = field(init=False)  # rows not under the current version (see `__post_init__`)
    # A tenant's erasure marks, read once per run (a mark written later follows a deleted row).
    _marks: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        # The current version's RowKeys start with its key id: the table leaves them out of pages.
        current = key_id(self.master, self.key.ring.current)
        low, high = tables.literal(f"{current}:"), tables.literal(f"{current};")
        self.where = f"RowKey lt {low} or RowKey ge {high}"

    def key_ids(self, row: Any) -> list[str]:
        return [stored_key_id(str(row["RowKey"]).partition("|")[0])]

    def rekey(self, row: Any) -> Move | None:
        partition, row_key = str(row["PartitionKey"]), str(row["RowKey"])
        value, sep, rest = row_key.partition("|")
        if not sep or self.key.is_current(value):
            return None  # an erasure mark (see the module's note), or already current
        if self.key.version_of(value) is None:
            raise ValueError("the entry's pepper version is not configured")
        if partition.startswith("t~") and partition[-3:-2] == "m" and "subject" in row:
            partner, tenant = partition[2:].rsplit("~", 2)[:2]
            return self._tenant_entry(partner, tenant, value, str(row["subject"]))
        if partition.startswith("o~") and partition.endswith("~m") and "subject" in row:
            return self._org_entry(partition[2:-2], value, str(row["subject"]))
        if partition.startswith("o~") and partition.endswith("~d"):
            return self._device_entry(partition[2:-2], value, str(row.get("deviceId") or rest))
        return None  # not an entry this module knows: left as it is

    def _matching(self, value: str, identifiers: set[str] | None) -> str | None:
        return next((text for text in sorted(identifiers or ()) if self.key.verify(text, value).ok), None)

    def _tenant_entry(self, partner: str, tenant: str, value: str, user_id: str) -> Move:
        found = self._matching(value, self.rows.tenant_user(self.account, partner, tenant, user_id))
        if found is None or self._erased(partner, tenant, user_id):
            return Move(None)
        (entry,) = index.tenant_entries(self.key, partner, tenant, user_id, [found])

        def holds() -> bool:
            return found in (self.rows.tenant_user(self.account, partner, tenant, user_id) or set())

        return Move(entry, holds)

    def _org_entry(self, org: str, value: str, user_id: str) -> Move:
        found = self._matching(value, self.rows.org_user(self.account, org, user_id))
        if found is None:
            return Move(None)
        (entry,) = index.org_user_entries(self.key, org, user_id, [found])

        def holds() -> bool:
            return found in (self.rows.org_user(self.account, org, user_id) or set())

        return Move(entry, holds)

    def _device_entry(self, org: str, value: str, device_id: str) -> Move:
        owner = self.rows.device_user(self.account, org, device_id)
        found = self._matching(value, {owner.lower()} if owner else None)
        if found is None:
            return Move(None)

        def holds() -> bool:
            return str(self.rows.device_user(self.account, org, device_id) or "").lower() == found

        return Move(index.device_entry(self.key, org, found, device_id), holds)

    def _erased(self, partner: str, tenant: str, user_id: str) -> bool:
        marks = self._marks.get((partner, tenant))
        if marks is None:
            rows = tables.query_json(
                self.account.table(index.TABLE),
                tables.partition(index.erased_partition(partner, tenant)),
                ["RowKey"],
            )
            marks = self._marks[(partner, tenant)] = frozenset(str(r["RowKey"]) for r in rows)
        return any(form in marks for form in index.erased_forms(self.key, partner, tenant, user_id))

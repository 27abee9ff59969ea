"""The subject index (table `subjectindex`): from an email, UPN, phone or system user to its rows.

Nothing personal is stored or sent in clear: every indexed value (address, phone, system user id)
and the id an entry points to appear in keys only as a keyed hash (`shared.keys`, purpose
`SUBJECT_INDEX`, `<key id>:<hex>`), so the table holds no address and storage URLs (which the SDK
logs at DEBUG) name no one. Entries are written under the pepper's current version; readers try
every form a value may be stored under (`value_entries`: each configured version, then the hex
written before key ids) and move what they find under an older one to the current one; the daily
re-keying job moves the rest without the value presented (`reindex.py`). Whoever
holds the pepper can still find a subject; nobody else can even confirm a guess. Partitions, each
read as one key range:
- `t~<partner>~<tenant>~m<nn>`: a tenant's end users by lowercase UPN and mail, RowKey
  `<hash of address>|<hash of object id>`, spread over `SHARDS` partitions by the address's hash
  so the sync writes them in entity-group batches in parallel, like the users themselves;
- `o~<org>~m`: an organisation's system users by email, domain name, Windows Live id and phone
  (`tel:<digits>`), RowKey `<hash of value>|<hash of system user id>`;
- `o~<org>~d`: an organisation's devices by system user, RowKey `<hash of system user id>|<device
  id>` (device ids are random, not personal);
- `t~<partner>~<tenant>~x`: end users erased while still in the customer's directory, as a keyed
  hash of their object id (`erased_key`), so the next sync does not import them again.

The id an entry points to is the `subject` (or `deviceId`) property: a user row's own key, needed
to read it, and never part of a URL. Each value is hashed once per write (`tenant_entries`).

Entries are written with the rows they point to (upserts, so a retried write is harmless). An
entry can go stale (a rename in a full sync, a device removed by Firebase): readers always check
the row it points to and delete entries that no longer match, so a stale entry costs one read
once and never yields a wrong subject.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from shared.keys import SUBJECT_INDEX, KeyedHasher, KeyRing, dependency_report, digest_part, lookup_hasher
from shared.storage import tables

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

TABLE = "subjectindex"
SHARDS = 16
_SEP = "|"
_AFTER_SEP = "}"  # the character after '|': `<hash>|` <= key < `<hash>}` is exactly one value


def index_key(ring: KeyRing) -> KeyedHasher:
    """The index's keyed hash: every writer and reader of the index builds it from the pepper's ring."""
    return lookup_hasher(ring, SUBJECT_INDEX)


def value_hash(key: KeyedHasher, value: str) -> str:
    """What an indexed value (address, `tel:` phone, system user id) is stored as now."""
    return key.hash(value)


def _forms(key: KeyedHasher, text: str, every_form: bool) -> list[str]:
    """The current form, or every form `text` may be stored under (to remove all of them)."""
    return key.lookups(text) if every_form else [key.hash(text)]


def _shard(hashed: str) -> int:
    return int(digest_part(hashed)[:4], 16) % SHARDS


def tenant_prefix(partner_id: str, tenant_id: str) -> str:
    return f"t~{partner_id}~{tenant_id.lower()}~m"


def tenant_partition(partner_id: str, tenant_id: str, hashed_address: str) -> str:
    """The partition of an address, given its `value_hash` (so it is hashed once)."""
    return f"{tenant_prefix(partner_id, tenant_id)}{_shard(hashed_address):02d}"


def org_people_partition(org_id: str) -> str:
    return f"o~{org_id.lower()}~m"


def org_devices_partition(org_id: str) -> str:
    return f"o~{org_id.lower()}~d"


def tenant_range(partner_id: str, tenant_id: str) -> str:
    """Every index partition of a tenant (addresses and erasure markers)."""
    prefix = f"t~{partner_id}~{tenant_id.lower()}~"
    return f"PartitionKey ge {tables.literal(prefix)} and PartitionKey lt {tables.literal(prefix + '~')}"


def erased_partition(partner_id: str, tenant_id: str) -> str:
    return f"t~{partner_id}~{tenant_id.lower()}~x"


def subject_ref(
    key: KeyedHasher,
    partner_id: str,
    subject_key: str,
    *,
    tenant_id: str | None = None,
    org_id: str | None = None,
) -> str:
    """A keyed one-way name of a subject in its scope: what erasure markers and certificates keep."""
    return key.hash(_ref_text(partner_id, subject_key, tenant_id=tenant_id, org_id=org_id))


def _ref_text(partner_id: str, subject_key: str, *, tenant_id: str | None, org_id: str | None) -> str:
    scope = f"t:{tenant_id.lower()}" if tenant_id is not None else f"o:{str(org_id).lower()}"
    return f"{partner_id}|{scope}|{subject_key.lower()}"


def erased_key(key: KeyedHasher, partner_id: str, tenant_id: str, user_id: str) -> str:
    """A one-way mark of an erased end user: lets sync skip them without keeping their id."""
    return subject_ref(key, partner_id, user_id, tenant_id=tenant_id)


def erased_forms(key: KeyedHasher, partner_id: str, tenant_id: str, user_id: str) -> list[str]:
    """Every form an erasure mark of the user may be stored under (the current one first)."""
    return key.lookups(_ref_text(partner_id, user_id, tenant_id=tenant_id, org_id=None))


def address_of(value: Any) -> str | None:
    text = str(value or "").strip().lower()
    return text if "@" in text else None


def phone_of(value: Any) -> str | None:
    digits = re.sub(r"[^0-9]", "", str(value or ""))
    return f"tel:{digits}" if len(digits) >= 3 else None


def tenant_user_addresses(row: Any) -> set[str]:
    """The addresses a stored (or Graph) user is found by: UPN and mail, lowercase."""
    found = {address_of(row.get("userPrincipalName")), address_of(row.get("mail"))}
    return {a for a in found if a}


def tenant_entries(
    key: KeyedHasher,
    partner_id: str,
    tenant_id: str,
    user_id: str,
    addresses: Iterable[str],
    *,
    every_form: bool = False,
) -> list[dict[str, Any]]:
    """A user's entries under the current form (`every_form`: under each form, to remove them all;
    a value and its pointer are always written under the same version)."""
    entries: list[dict[str, Any]] = []
    pointers: list[str] | None = None
    for address in addresses:
        forms = _forms(key, address, every_form)  # once: it gives both the shard and the key
        pointers = pointers or _forms(key, user_id.lower(), every_form)
        entries.extend(
            {
                "PartitionKey": tenant_partition(partner_id, tenant_id, hashed),
                "RowKey": f"{hashed}{_SEP}{pointer}",
                "subject": user_id,
            }
            for hashed, pointer in zip(forms, pointers, strict=True)
        )
    return entries


def org_user_values(row: Any) -> set[str]:
    """What an org's system user is found by: email-like fields lowercase, phone as digits."""
    found = {address_of(row.get(name)) for name in ("email", "domainName", "windowsLiveId")}
    found.add(phone_of(row.get("mobilePhone")))
    return {v for v in found if v}


def org_user_entries(
    key: KeyedHasher, org_id: str, user_id: str, values: Iterable[str], *, every_form: bool = False
) -> list[dict[str, Any]]:
    values = list(values)
    pointers = _forms(key, user_id.lower(), every_form) if values else []
    return [
        {
            "PartitionKey": org_people_partition(org_id),
            "RowKey": f"{hashed}{_SEP}{pointer}",
            "subject": user_id,
        }
        for value in values
        for hashed, pointer in zip(_forms(key, value, every_form), pointers, strict=True)
    ]


def device_entry(key: KeyedHasher, org_id: str, system_user_id: str, device_id: str) -> dict[str, Any]:
    return device_entries(key, org_id, system_user_id, device_id)[0]


def device_entries(
    key: KeyedHasher, org_id: str, system_user_id: str, device_id: str, *, every_form: bool = False
) -> list[dict[str, Any]]:
    return [
        {
            "PartitionKey": org_devices_partition(org_id),
            "RowKey": f"{hashed}{_SEP}{device_id}",
            "deviceId": device_id,
        }
        for hashed in _forms(key, system_user_id.lower(), every_form)
    ]


def value_range(hashed: str) -> tuple[str, str]:
    """(low, high) RowKeys of every entry for one indexed value, given its `value_hash`."""
    return f"{hashed}{_SEP}", f"{hashed}{_AFTER_SEP}"


def read_value(table: Any, partition: str, hashed: str) -> list[Any]:
    low, high = value_range(hashed)
    return list(
        table.query_entities(
            "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
            parameters={"pk": partition, "low": low, "high": high},
        )
    )


def value_entries(
    account: AccountStorage, key: KeyedHasher, value: str, partition: Callable[[str], str]
) -> list[tuple[str, Any]]:
    """Every entry of one indexed value as (partition, entry), read under each form the value may
    be stored under (`partition` names the partition of a form). One that was under an older form
    is moved to the current one first (upsert, then delete the old: repeated or raced, the same
    end), so what is returned is always where the entry now is."""
    table = account.table(TABLE)
    current = key.hash(value)
    found: list[tuple[str, Any]] = []
    for form in key.lookups(value):
        for entry in read_value(table, partition(form), form):
            if form == current:
                found.append((partition(current), entry))
                continue
            _, _, rest = str(entry["RowKey"]).partition(_SEP)
            moved: dict[str, Any] = {"PartitionKey": partition(current)}
            if "deviceId" in entry:  # a device entry: `<value>|<device id>`
                moved |= {"RowKey": f"{current}{_SEP}{rest}", "deviceId": str(entry["deviceId"])}
            else:  # a person's: `<value>|<pointer>`, the pointer re-made from the subject
                subject = str(entry["subject"])
                moved |= {"RowKey": f"{current}{_SEP}{key.hash(subject.lower())}", "subject": subject}
            table.upsert_entity(moved)
            tables.delete(table, partition(form), str(entry["RowKey"]))
            found.append((partition(current), moved))
    return found


def index_dependencies(account: AccountStorage, *, limit: int = 100_000) -> dict[str, int]:
    """How many subject-index rows (values and erasure marks) of one region's account depend on
    each key id (`legacy`: written before key ids, version 1 of the pepper). A scan of keys, at
    most `limit` rows."""
    from itertools import islice

    rows = account.table(TABLE).query_entities("RowKey ne ''", select=["RowKey"], results_per_page=1000)
    return dependency_report(str(row["RowKey"]).partition(_SEP)[0] for row in islice(rows, limit))


def index_org_users(
    account: AccountStorage, key: KeyedHasher, org_id: str, rows: list[dict[str, Any]]
) -> None:
    """After system users are stored: entries for what they are found by now (old ones go stale)."""
    entries = [e for r in rows for e in org_user_entries(key, org_id, str(r["RowKey"]), org_user_values(r))]
    # An org's entries share two partitions; the toolkit cuts them into transactions of 100 each.
    tables.write(account.table(TABLE), [("merge", e) for e in entries])


def index_device(
    account: AccountStorage, key: KeyedHasher, org_id: str, system_user_id: str, device_id: str
) -> None:
    """Before the device row: a crash in between leaves an entry pointing to nothing (skipped on read)."""
    account.table(TABLE).upsert_entity(device_entry(key, org_id, system_user_id, device_id))

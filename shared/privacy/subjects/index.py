"""The subject index (table `subjectindex`): from an email, UPN, phone or system user to its rows.

Nothing personal is stored or sent in clear: every indexed value (address, phone, system user id)
and the id an entry points to appear in keys only as a keyed hash (`shared.privacy.keyed`, purpose
`SUBJECT_INDEX`, hex), so the table holds no address and storage URLs (which the SDK logs at
DEBUG) name no one. Whoever holds the pepper can still find a subject; nobody else can even
confirm a guess. Partitions, each read as one key range:
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
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from shared.privacy import keyed
from shared.privacy.keyed import KeyedHash
from shared.storage import tables

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

TABLE = "subjectindex"
SHARDS = 16
_SEP = "|"
_AFTER_SEP = "}"  # the character after '|': `<hash>|` <= key < `<hash>}` is exactly one value


def index_key(pepper: str) -> KeyedHash:
    """The index's key: every writer and reader of the index must build it from the same pepper."""
    return KeyedHash(pepper, keyed.SUBJECT_INDEX)


def value_hash(key: KeyedHash, value: str) -> str:
    """What an indexed value (address, `tel:` phone, system user id) is stored and looked up as."""
    return key.hex(value)


def _shard(hashed: str) -> int:
    return int(hashed[:4], 16) % SHARDS


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
    key: KeyedHash,
    partner_id: str,
    subject_key: str,
    *,
    tenant_id: str | None = None,
    org_id: str | None = None,
) -> str:
    """A keyed one-way name of a subject in its scope: what erasure markers and certificates keep."""
    scope = f"t:{tenant_id.lower()}" if tenant_id is not None else f"o:{str(org_id).lower()}"
    return key.hex(f"{partner_id}|{scope}|{subject_key.lower()}")


def erased_key(key: KeyedHash, partner_id: str, tenant_id: str, user_id: str) -> str:
    """A one-way mark of an erased end user: lets sync skip them without keeping their id."""
    return subject_ref(key, partner_id, user_id, tenant_id=tenant_id)


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


def _pointer(key: KeyedHash, subject: str) -> str:
    return key.hex(subject.lower())


def tenant_entries(
    key: KeyedHash, partner_id: str, tenant_id: str, user_id: str, addresses: Iterable[str]
) -> list[dict[str, Any]]:
    entries = []
    pointer: str | None = None
    for address in addresses:
        hashed = value_hash(key, address)  # once: it gives both the shard and the key
        pointer = pointer or _pointer(key, user_id)
        entries.append(
            {
                "PartitionKey": tenant_partition(partner_id, tenant_id, hashed),
                "RowKey": f"{hashed}{_SEP}{pointer}",
                "subject": user_id,
            }
        )
    return entries


def org_user_values(row: Any) -> set[str]:
    """What an org's system user is found by: email-like fields lowercase, phone as digits."""
    found = {address_of(row.get(name)) for name in ("email", "domainName", "windowsLiveId")}
    found.add(phone_of(row.get("mobilePhone")))
    return {v for v in found if v}


def org_user_entries(
    key: KeyedHash, org_id: str, user_id: str, values: Iterable[str]
) -> list[dict[str, Any]]:
    values = list(values)
    pointer = _pointer(key, user_id) if values else ""
    return [
        {
            "PartitionKey": org_people_partition(org_id),
            "RowKey": f"{value_hash(key, value)}{_SEP}{pointer}",
            "subject": user_id,
        }
        for value in values
    ]


def device_entry(key: KeyedHash, org_id: str, system_user_id: str, device_id: str) -> dict[str, Any]:
    return {
        "PartitionKey": org_devices_partition(org_id),
        "RowKey": f"{value_hash(key, system_user_id.lower())}{_SEP}{device_id}",
        "deviceId": device_id,
    }


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


def index_org_users(account: AccountStorage, key: KeyedHash, org_id: str, rows: list[dict[str, Any]]) -> None:
    """After system users are stored: entries for what they are found by now (old ones go stale)."""
    entries = [e for r in rows for e in org_user_entries(key, org_id, str(r["RowKey"]), org_user_values(r))]
    # An org's entries share two partitions; the toolkit cuts them into transactions of 100 each.
    tables.write(account.table(TABLE), [("merge", e) for e in entries])


def index_device(
    account: AccountStorage, key: KeyedHash, org_id: str, system_user_id: str, device_id: str
) -> None:
    """Before the device row: a crash in between leaves an entry pointing to nothing (skipped on read)."""
    account.table(TABLE).upsert_entity(device_entry(key, org_id, system_user_id, device_id))

"""The subject index (table `subjectindex`): from an email, UPN, phone or system user to its rows.

Partitions, each read as one key range:
- `t~<partner>~<tenant>~m<nn>`: a tenant's end users by lowercase UPN and mail, RowKey
  `<address>|<object id>`, spread over `SHARDS` partitions by a hash of the address so the sync
  writes them in entity-group batches in parallel, like the users themselves;
- `o~<org>~m`: an organisation's system users by email, domain name, Windows Live id and phone
  (`tel:<digits>`), RowKey `<value>|<system user id>`;
- `o~<org>~d`: an organisation's devices by system user, RowKey `<system user id>|<device id>`;
- `t~<partner>~<tenant>~x`: end users erased while still in the customer's directory, as a
  one-way hash of their object id (`erased_key`), so the next sync does not import them again.

Entries are written with the rows they point to (upserts, so a retried write is harmless). An
entry can go stale (a rename in a full sync, a device removed by Firebase): readers always check
the row it points to and delete entries that no longer match, so a stale entry costs one read
once and never yields a wrong subject.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

TABLE = "subjectindex"
SHARDS = 16
_SEP = "|"
_AFTER_SEP = "}"  # the character after '|': `<value>|` <= key < `<value>}` is exactly one value


def _shard(value: str) -> int:
    return int.from_bytes(hashlib.blake2s(value.encode(), digest_size=2).digest()) % SHARDS


def tenant_prefix(partner_id: str, tenant_id: str) -> str:
    return f"t~{partner_id}~{tenant_id.lower()}~m"


def tenant_partition(partner_id: str, tenant_id: str, address: str) -> str:
    return f"{tenant_prefix(partner_id, tenant_id)}{_shard(address):02d}"


def org_people_partition(org_id: str) -> str:
    return f"o~{org_id.lower()}~m"


def org_devices_partition(org_id: str) -> str:
    return f"o~{org_id.lower()}~d"


def tenant_range(partner_id: str, tenant_id: str) -> str:
    """Every index partition of a tenant (addresses and erasure markers)."""
    prefix = f"t~{partner_id}~{tenant_id.lower()}~"
    return f"PartitionKey ge '{_quote(prefix)}' and PartitionKey lt '{_quote(prefix)}~'"


def erased_partition(partner_id: str, tenant_id: str) -> str:
    return f"t~{partner_id}~{tenant_id.lower()}~x"


def erased_key(partner_id: str, tenant_id: str, user_id: str) -> str:
    """A one-way mark of an erased end user: lets sync skip them without keeping their id."""
    text = f"{partner_id}|{tenant_id.lower()}|{user_id.lower()}"
    return hashlib.sha256(text.encode()).hexdigest()


def _quote(value: str) -> str:
    return value.replace("'", "''")


def _safe(value: str) -> str:
    # Table keys may not hold / \ # ? or control characters; addresses rarely do, but never fail on one.
    return re.sub(r"[/\\#?\x00-\x1f\x7f]", "_", value)


def address_of(value: Any) -> str | None:
    text = str(value or "").strip().lower()
    return _safe(text) if "@" in text else None


def phone_of(value: Any) -> str | None:
    digits = re.sub(r"[^0-9]", "", str(value or ""))
    return f"tel:{digits}" if len(digits) >= 3 else None


def tenant_user_addresses(row: Any) -> set[str]:
    """The addresses a stored (or Graph) user is found by: UPN and mail, lowercase."""
    found = {address_of(row.get("userPrincipalName")), address_of(row.get("mail"))}
    return {a for a in found if a}


def tenant_entries(
    partner_id: str, tenant_id: str, user_id: str, addresses: Iterable[str]
) -> list[dict[str, Any]]:
    return [
        {
            "PartitionKey": tenant_partition(partner_id, tenant_id, address),
            "RowKey": f"{address}{_SEP}{user_id}",
            "subject": user_id,
        }
        for address in addresses
    ]


def org_user_values(row: Any) -> set[str]:
    """What an org's system user is found by: email-like fields lowercase, phone as digits."""
    found = {address_of(row.get(name)) for name in ("email", "domainName", "windowsLiveId")}
    found.add(phone_of(row.get("mobilePhone")))
    return {v for v in found if v}


def org_user_entries(org_id: str, user_id: str, values: Iterable[str]) -> list[dict[str, Any]]:
    return [
        {
            "PartitionKey": org_people_partition(org_id),
            "RowKey": f"{value}{_SEP}{user_id}",
            "subject": user_id,
        }
        for value in values
    ]


def device_entry(org_id: str, system_user_id: str, device_id: str) -> dict[str, Any]:
    return {
        "PartitionKey": org_devices_partition(org_id),
        "RowKey": f"{system_user_id.lower()}{_SEP}{device_id}",
        "deviceId": device_id,
    }


def value_range(value: str) -> tuple[str, str]:
    """(low, high) RowKeys of every entry for one indexed value."""
    return f"{value}{_SEP}", f"{value}{_AFTER_SEP}"


def read_value(table: Any, partition: str, value: str) -> list[Any]:
    low, high = value_range(value)
    return list(
        table.query_entities(
            "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
            parameters={"pk": partition, "low": low, "high": high},
        )
    )


def index_org_users(account: AccountStorage, org_id: str, rows: list[dict[str, Any]]) -> None:
    """After system users are stored: entries for what they are found by now (old ones go stale)."""
    entries = [e for r in rows for e in org_user_entries(org_id, str(r["RowKey"]), org_user_values(r))]
    table = account.table(TABLE)
    for start in range(0, len(entries), 100):
        table.submit_transaction([("upsert", e) for e in entries[start : start + 100]])


def index_device(account: AccountStorage, org_id: str, system_user_id: str, device_id: str) -> None:
    """Before the device row: a crash in between leaves an entry pointing to nothing (skipped on read)."""
    account.table(TABLE).upsert_entity(device_entry(org_id, system_user_id, device_id))

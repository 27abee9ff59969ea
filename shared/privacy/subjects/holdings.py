"""Gathers what is held on one subject, through the subject index and point reads only.

Rows read are counted (`Holdings.rows_read`): every entity storage returned to us, index entries
included. What grows with a tenant's size is never scanned: users are reached by id or index.
Two reads are not per subject, and are stated: a tenant subject's group memberships read the
tenant's group rows (one partition; groups, not users), and a system user's notification
deliveries read the organisation's notification list (one partition; notifications, not their
deliveries) to point-read each (notification, device) pair.
"""

from __future__ import annotations

import contextlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shared.audit.seal import KeyCache, SubjectKeys, open_tree, org_scope, tenant_scope
from shared.errors import ProblemError
from shared.privacy.flags import FLAGS, org_partition, tenant_partition
from shared.privacy.subjects import index

if TYPE_CHECKING:
    from shared.privacy.keyed import KeyedHash
    from shared.privacy.subjects import SubjectIdentifier, SubjectScope
    from shared.storage.router import AccountStorage

_DEVICE_PRIVATE = {"target", "targetHash", "footprint", "secretHash", "PartitionKey", "RowKey"}
_POOL = 16


def flag_partition(scope: SubjectScope) -> str:
    if scope.org_id is not None:
        return org_partition(scope.org_id)
    return tenant_partition(scope.partner_id, str(scope.tenant_id))


def seal_scope(scope: SubjectScope) -> str:
    return org_scope(scope.org_id) if scope.org_id is not None else tenant_scope(str(scope.tenant_id))


def not_applicable(detail: str) -> ProblemError:
    return ProblemError(
        422, "subject-identifier-not-applicable", "That identifier does not apply here.", detail
    )


@dataclass
class Holdings:
    """What was found: records per category (export form) and the rows an erasure deletes."""

    subject_key: str | None = None
    data: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # category -> (table, PartitionKey, RowKey) of rows that go on erasure
    rows: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)
    index_rows: list[tuple[str, str, str]] = field(default_factory=list)
    kid: str | None = None
    event_months: list[str] = field(default_factory=list)
    addresses: set[str] = field(default_factory=set)
    flag: dict[str, Any] | None = None
    rows_read: int = 0

    def add(self, category: str, record: dict[str, Any], row: tuple[str, str, str] | None) -> None:
        self.data.setdefault(category, []).append(record)
        if row is not None:
            self.rows.setdefault(category, []).append(row)

    def counts(self) -> dict[str, int]:
        return {category: len(records) for category, records in self.data.items() if records}


class Gatherer:
    """Reads one subject's rows in one region's account."""

    def __init__(self, account: AccountStorage, keys: SubjectKeys, scope: SubjectScope, index_key: KeyedHash):
        self.account = account
        self.keys = keys
        self.scope = scope
        self.index_key = index_key

    # --- shared -------------------------------------------------------------------------------

    def _drop_stale(self, partition: str, row_key: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        with contextlib.suppress(ResourceNotFoundError):
            self.account.table(index.TABLE).delete_entity(partition, row_key)

    def gather(self, who: SubjectIdentifier, *, with_events: bool = True) -> Holdings:
        found = Holdings()
        if self.scope.tenant_id is not None:
            self._tenant(who, found)
        else:
            self._org(who, found)
        if found.subject_key is not None:
            self._flag(found)
            if with_events:
                self._events(found)
        return found

    def _flag(self, found: Holdings) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        partition = flag_partition(self.scope)
        try:
            row = self.account.table(FLAGS).get_entity(partition, str(found.subject_key))
        except ResourceNotFoundError:
            return
        found.rows_read += 1
        found.flag = dict(row)
        found.add(
            "restriction",
            {"kind": row.get("kind"), "since": row.get("since")},
            (FLAGS, partition, str(found.subject_key)),
        )

    def _events(self, found: Holdings) -> None:
        """Events naming the subject: its key's index rows in each monthly bucket, then point reads."""
        from shared.audit.log import SUBJECT_INDEX, AuditLog, to_api

        located = self.keys.find(self.scope.partner_id, seal_scope(self.scope), str(found.subject_key))
        found.rows_read += self.keys.rows_read
        self.keys.rows_read = 0
        if located is None:
            return
        kid, key = located
        found.kid = kid
        partner = self.scope.partner_id
        log = AuditLog(self.account, _NoClock())
        low, high = f"{SUBJECT_INDEX}{kid}-", f"{SUBJECT_INDEX}{kid}-~"
        events: list[tuple[str, Any]] = []
        for bucket in log.bucket_names():
            table = self.account.table_service().get_table_client(bucket)
            marks = list(
                table.query_entities(
                    "PartitionKey eq @pk and RowKey ge @low and RowKey lt @high",
                    parameters={"pk": partner, "low": low, "high": high},
                    select=["RowKey", "eventRowKey"],
                )
            )
            found.rows_read += len(marks)
            if marks:
                found.event_months.append(bucket)
            for mark in marks:
                found.index_rows.append((bucket, partner, str(mark["RowKey"])))
                events.append((bucket, mark["eventRowKey"]))
        rows = _parallel(lambda e: read_row(self.account, e[0], partner, str(e[1])), events)
        cache = KeyCache(self.keys, partner, {kid: key})
        for (bucket, _), row in zip(events, rows, strict=True):
            if row is None:
                continue
            found.rows_read += 1
            item = to_api(row)
            for part in ("target", "changes", "details"):
                item[part] = open_tree(partner, item[part], cache)
            item.pop("hash", None)
            # Kept (crypto-shredded, not deleted): the rows are part of the hash chain.
            found.add("auditEvents", item, None)
            found.rows.setdefault("auditEvents", []).append((bucket, partner, str(row["RowKey"])))

    # --- tenant end users ----------------------------------------------------------------------

    def _tenant_by_address(self, address: str, found: Holdings) -> dict[str, Any]:
        from shared.tenants.store import USERS, user_partition

        partner, tenant = self.scope.partner_id, str(self.scope.tenant_id).lower()
        hashed = index.value_hash(self.index_key, address)
        partition = index.tenant_partition(partner, tenant, hashed)
        entries = index.read_value(self.account.table(index.TABLE), partition, hashed)
        found.rows_read += len(entries)
        candidates: dict[str, Any] = {}
        for entry in entries:
            user_id = str(entry["subject"])
            row = read_row(self.account, USERS, user_partition(partner, tenant, user_id), user_id)
            if row is not None:
                found.rows_read += 1
            if row is None or address not in index.tenant_user_addresses(row):
                self._drop_stale(partition, str(entry["RowKey"]))
            else:
                candidates[user_id] = row
        return candidates

    def _tenant(self, who: SubjectIdentifier, found: Holdings) -> None:
        from shared.tenants.store import (
            GROUPS,
            USERS,
            group_members,
            group_partition,
            user_from_entity,
            user_partition,
        )

        partner, tenant = self.scope.partner_id, str(self.scope.tenant_id).lower()
        if who.system_user_id or who.phone:
            raise not_applicable("A tenant's end users are identified by email/UPN or Entra object id.")
        if who.object_id:
            found.subject_key = who.object_id.lower()
            row = read_row(
                self.account, USERS, user_partition(partner, tenant, found.subject_key), found.subject_key
            )
            found.rows_read += row is not None
        else:
            candidates = self._tenant_by_address(str(index.address_of(who.email)), found)
            if len(candidates) > 1:
                raise ProblemError(
                    409,
                    "ambiguous-subject",
                    "More than one end user has that address.",
                    "Identify the subject by its Entra object id instead.",
                )
            found.subject_key, row = next(iter(candidates.items()), (None, None))
        if found.subject_key is None:
            return
        key = found.subject_key
        if row is not None:  # counted where it was read
            found.add("tenantUser", user_from_entity(row), (USERS, str(row["PartitionKey"]), key))
            found.addresses = index.tenant_user_addresses(row)
            for entry in index.tenant_entries(self.index_key, partner, tenant, key, found.addresses):
                found.index_rows.append((index.TABLE, entry["PartitionKey"], entry["RowKey"]))
        select = ["RowKey", "displayName"] + [f"m{n:02d}" for n in range(14)]
        groups = list(
            self.account.table(GROUPS).query_entities(
                "PartitionKey eq @pk", parameters={"pk": group_partition(partner, tenant)}, select=select
            )
        )
        found.rows_read += len(groups)
        for group in groups:
            if key in group_members(group):
                found.add(
                    "tenantGroupMemberships",
                    {"groupId": group["RowKey"], "displayName": group.get("displayName")},
                    (GROUPS, group_partition(partner, tenant), str(group["RowKey"])),
                )

    # --- Dynamics system users ------------------------------------------------------------------

    def _org(self, who: SubjectIdentifier, found: Holdings) -> None:
        from shared.notifications.orgs import USERS

        org = str(self.scope.org_id).lower()
        if who.object_id:
            raise not_applicable("An organisation's users are identified by system-user id, email or phone.")
        if who.system_user_id:
            found.subject_key = who.system_user_id.lower()
        else:
            value = index.address_of(who.email) if who.email else index.phone_of(who.phone)
            if value is None:
                raise not_applicable("That phone number has too few digits.")
            partition = index.org_people_partition(org)
            hashed = index.value_hash(self.index_key, value)
            entries = index.read_value(self.account.table(index.TABLE), partition, hashed)
            found.rows_read += len(entries)
            matches = set()
            for entry in entries:
                row = read_row(self.account, USERS, org, str(entry["subject"]))
                if row is not None:
                    found.rows_read += 1
                if row is None or value not in index.org_user_values(row):
                    self._drop_stale(partition, str(entry["RowKey"]))
                else:
                    matches.add(str(entry["subject"]))
            if len(matches) > 1:
                raise ProblemError(
                    409,
                    "ambiguous-subject",
                    "More than one system user has that email or phone.",
                    "Identify the subject by its system-user id instead.",
                )
            found.subject_key = next(iter(matches), None)
        if found.subject_key is None:
            return
        key = found.subject_key
        row = read_row(self.account, USERS, org, key)
        if row is not None:
            found.rows_read += 1
            record = {k: v for k, v in dict(row).items() if k not in ("PartitionKey", "RowKey")}
            found.add("orgUser", {"systemUserId": key, **record}, (USERS, org, key))
            found.addresses = {v for v in index.org_user_values(row) if "@" in v}
            for entry in index.org_user_entries(self.index_key, org, key, index.org_user_values(row)):
                found.index_rows.append((index.TABLE, entry["PartitionKey"], entry["RowKey"]))
        self._devices(org, key, found)

    def _devices(self, org: str, key: str, found: Holdings) -> None:
        from shared.notifications.devices import DEVICE_PREFIX, INDEX_PREFIX, user_counter_key
        from shared.notifications.devices import TABLE as DEVICES
        from shared.notifications.service import DELIVERIES, NOTIFICATIONS

        # The user's device counter is keyed by their id: it goes with them (nothing to export).
        found.index_rows.append((DEVICES, org, user_counter_key(key)))
        partition = index.org_devices_partition(org)
        entries = index.read_value(
            self.account.table(index.TABLE), partition, index.value_hash(self.index_key, key)
        )
        found.rows_read += len(entries)
        device_ids: list[str] = []
        for entry in entries:
            device_id = str(entry["deviceId"])
            row = read_row(self.account, DEVICES, org, DEVICE_PREFIX + device_id)
            if row is not None:
                found.rows_read += 1
            if row is None or str(row.get("systemUserId") or "").lower() != key:
                self._drop_stale(partition, str(entry["RowKey"]))
                continue
            found.index_rows.append((index.TABLE, partition, str(entry["RowKey"])))
            device_ids.append(device_id)
            # Never the token, installation id, footprint or secret: only what describes the device.
            record = {k: v for k, v in dict(row).items() if k not in _DEVICE_PRIVATE}
            found.add("devices", {"deviceId": device_id, **record}, (DEVICES, org, DEVICE_PREFIX + device_id))
            if row.get("targetHash"):
                found.index_rows.append((DEVICES, org, INDEX_PREFIX + str(row["targetHash"])))
        if not device_ids:
            return
        # The organisation's notification list (not their deliveries), then one point read per
        # (notification, device): stated in the module docstring and counted in rows read.
        notifications = list(
            self.account.table(NOTIFICATIONS).query_entities(
                "PartitionKey eq @pk",
                parameters={"pk": org},
                select=["RowKey"],
            )
        )
        found.rows_read += len(notifications)
        pairs = [(str(n["RowKey"]), d) for n in notifications for d in device_ids]
        rows = _parallel(lambda p: read_row(self.account, DELIVERIES, p[0], p[1]), pairs)
        for (notification_id, device_id), row in zip(pairs, rows, strict=True):
            if row is None:
                continue
            found.rows_read += 1
            record = {
                k: row.get(k)
                for k in ("state", "sentAt", "deliveredAt", "errorCode", "reason", "attempts")
                if row.get(k) is not None
            }
            found.add(
                "notificationDeliveries",
                {"notificationId": notification_id, "deviceId": device_id, **record},
                (DELIVERIES, notification_id, device_id),
            )


class _NoClock:
    def now(self) -> Any:  # the gatherer never appends
        raise RuntimeError("not used")


def table_of(account: AccountStorage, table: str) -> Any:
    """A table client; monthly event buckets (`events<yyyymm>`) come from the service, not the
    catalogue's fixed names."""
    if table.startswith("events"):
        return account.table_service().get_table_client(table)
    return account.table(table)


def read_row(account: AccountStorage, table: str, partition: str, row_key: str) -> Any:
    """One row, or None when it is not there."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return table_of(account, table).get_entity(partition, row_key)
    except ResourceNotFoundError:
        return None


def _parallel(read: Any, items: list[Any]) -> list[Any]:
    if len(items) <= 1:
        return [read(i) for i in items]
    with ThreadPoolExecutor(min(_POOL, len(items))) as pool:
        return list(pool.map(read, items))


def dumps(package: dict[str, Any]) -> bytes:
    return json.dumps(package, sort_keys=True, ensure_ascii=False, default=str, indent=1).encode()

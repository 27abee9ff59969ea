"""Where a tenant's directory copy lives: users over several partitions, groups; entity-group batches.

Users of one tenant are spread over `USER_SHARDS` partitions by a hash of their id, so a large
tenant is not limited by one partition's throughput (about 2,000 entities/s) and its batches
(at most 100 entities, one partition each) can be sent in parallel. A user's partition follows
from its id alone, so a point read needs no index.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from shared.adapters.graph import GraphGroup, GraphUser
from shared.privacy.subjects import index
from shared.privacy.subjects.index import tenant_user_addresses
from shared.storage.tables import decode_token, delete, encode_token

if TYPE_CHECKING:
    from azure.data.tables import TableClient

    from shared.keys import KeyedHasher
    from shared.storage.router import AccountStorage

USERS = "tenantusers"
GROUPS = "tenantdirgroups"
USER_SHARDS = 16
BATCH = 100  # Table storage's entity-group limit (and Azurite breaks above it)
_MEMBER_CHUNK = 800  # ids per property: a string property holds 32K characters
_MEMBER_CHUNKS = 14  # an entity holds 1 MiB
_USER_FIELDS = {
    name: field.alias or name
    for name, field in GraphUser.model_fields.items()
    if name not in ("id", "removed")
}
_GROUP_FIELDS = {
    name: field.alias or name
    for name, field in GraphGroup.model_fields.items()
    if name not in ("id", "removed", "members_delta")
}


def user_shard(user_id: str) -> int:
    return int.from_bytes(hashlib.blake2s(user_id.lower().encode(), digest_size=2).digest()) % USER_SHARDS


def tenant_prefix(partner_id: str, tenant_id: str) -> str:
    return f"{partner_id}~{tenant_id}~"


def user_partition(partner_id: str, tenant_id: str, user_id: str) -> str:
    return f"{tenant_prefix(partner_id, tenant_id)}{user_shard(user_id):02d}"


def group_partition(partner_id: str, tenant_id: str) -> str:
    return f"{partner_id}~{tenant_id}"


def _range(prefix: str) -> str:
    # '~' sorts after the two-digit shard numbers, so this covers exactly the tenant's partitions.
    return f"PartitionKey ge '{prefix}' and PartitionKey lt '{prefix}~'"


def user_entity(partition: str, user: GraphUser, sync_id: str, *, only_set: bool) -> dict[str, Any]:
    """A user as a table row. `only_set` keeps just the properties Graph sent (a delta change)."""
    entity: dict[str, Any] = {"PartitionKey": partition, "RowKey": user.id, "syncId": sync_id}
    present = user.model_fields_set if only_set else set(_USER_FIELDS)
    for name, wire in _USER_FIELDS.items():
        if name not in present:
            continue
        value = getattr(user, name)
        if name == "assigned_licenses":
            entity[wire] = json.dumps([lic.model_dump(by_alias=True) for lic in value or []])
        elif value is not None:
            entity[wire] = value
        elif only_set:
            # A property Graph cleared: MERGE cannot remove a column, so store an empty marker.
            entity[wire] = ""
    return entity


def user_from_entity(entity: Any) -> dict[str, Any]:
    """A stored row as the API's camelCase user."""
    user: dict[str, Any] = {"id": entity["RowKey"]}
    for wire in _USER_FIELDS.values():
        value = entity.get(wire)
        if wire == "assignedLicenses":
            user[wire] = json.loads(value) if value else []
        elif value != "" and value is not None:
            user[wire] = value
    return user


class Writes:
    """Counts storage writes (entities written or deleted): the cost a sync causes."""

    def __init__(self) -> None:
        self.entities = 0
        self.transactions = 0


class DirectoryStore:
    """A tenant's users and groups in the region's tables."""

    def __init__(
        self,
        account: AccountStorage,
        partner_id: str,
        tenant_id: str,
        pool: ThreadPoolExecutor,
        index_key: KeyedHasher | None = None,
    ):
        self.account = account
        # The subject index's key (shared/privacy/subjects/index.py); a store built without it can
        # read and purge, and refuses to write users (which would leave them unindexed).
        self.index_key = index_key
        self.partner_id = partner_id
        self.tenant_id = tenant_id
        self.pool = pool
        self.writes = Writes()
        self._erased: frozenset[str] | None = None

    @property
    def users(self) -> TableClient:
        return self.account.table(USERS)

    @property
    def groups(self) -> TableClient:
        return self.account.table(GROUPS)

    # --- batches ---

    def _submit(self, table: TableClient, operations: list[tuple[Any, ...]]) -> None:
        from shared.storage.tablebatch import BatchRefusedError, submit

        try:
            submit(table, operations)
        except BatchRefusedError as error:
            if error.status_code != 404:
                raise
            # A delete of a row someone else removed first: the batch is all or nothing, so
            # apply it row by row, where a missing row simply counts as done.
            self._one_by_one(table, operations)
        self.writes.entities += len(operations)
        self.writes.transactions += 1

    @staticmethod
    def _one_by_one(table: TableClient, operations: list[tuple[Any, ...]]) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        for operation in operations:
            kind, entity = operation[0], operation[1]
            if kind == "delete":
                with suppress(ResourceNotFoundError):
                    table.delete_entity(entity["PartitionKey"], entity["RowKey"])
            else:
                table.upsert_entity(entity, **(operation[2] if len(operation) > 2 else {}))

    def write_batches(self, table: TableClient, operations: Iterable[tuple[Any, ...]]) -> None:
        """Groups operations by partition, at most BATCH per transaction, sent in parallel."""
        by_partition: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        for operation in operations:
            by_partition[operation[1]["PartitionKey"]].append(operation)
        chunks = [
            ops[start : start + BATCH] for ops in by_partition.values() for start in range(0, len(ops), BATCH)
        ]
        for future in [self.pool.submit(self._submit, table, chunk) for chunk in chunks]:
            future.result()

    # --- users ---

    def upsert_users(self, users: list[GraphUser], sync_id: str, *, full: bool) -> None:
        from azure.data.tables import UpdateMode

        mode = UpdateMode.REPLACE if full else UpdateMode.MERGE
        users = self.without_erased(users)
        self.index_users(users)
        self.write_batches(
            self.users,
            (
                (
                    "upsert",
                    user_entity(
                        user_partition(self.partner_id, self.tenant_id, u.id), u, sync_id, only_set=not full
                    ),
                    {"mode": mode},
                )
                for u in users
            ),
        )

    # --- the subject index (shared/privacy/subjects/index.py): end users by UPN and mail ---

    def _key(self) -> KeyedHasher:
        if self.index_key is None:
            raise RuntimeError("this DirectoryStore was built without the subject index key")
        return self.index_key

    def without_erased(self, users: list[GraphUser]) -> list[GraphUser]:
        """Users minus those erased on a data-subject request (read once per store, i.e. per sync)."""
        if self._erased is None:
            rows = self.account.table(index.TABLE).query_entities(
                "PartitionKey eq @pk",
                parameters={"pk": index.erased_partition(self.partner_id, self.tenant_id)},
                select=["RowKey"],
            )
            self._erased = frozenset(str(r["RowKey"]) for r in rows)
        if not self._erased:
            return users
        return [u for u in users if not self.is_erased(u.id)]

    def is_erased(self, user_id: str) -> bool:
        """Was this end user erased on a data-subject request? (Their data must not come back.) A
        mark found under an older form of the pepper is moved to the current one."""
        if self._erased is None:
            self.without_erased([])
        if not self._erased:
            return False
        forms = index.erased_forms(self._key(), self.partner_id, self.tenant_id, user_id)
        found = next((form for form in forms if form in self._erased), None)
        if found is not None and found != forms[0]:
            partition = index.erased_partition(self.partner_id, self.tenant_id)
            table = self.account.table(index.TABLE)
            table.upsert_entity({"PartitionKey": partition, "RowKey": forms[0]})
            delete(table, partition, found)
        return found is not None

    def index_users(self, users: list[GraphUser]) -> None:
        """Index entries for the addresses users have now (old ones: `unindex` or found stale on read)."""
        key = self._key()
        entries = [
            entry
            for u in users
            for entry in index.tenant_entries(
                key,
                self.partner_id,
                self.tenant_id,
                u.id,
                index.tenant_user_addresses({"userPrincipalName": u.user_principal_name, "mail": u.mail}),
            )
        ]
        if entries:
            self.write_batches(self.account.table(index.TABLE), (("replace", e) for e in entries))

    def unindex(self, addresses: dict[str, set[str]]) -> None:
        """Removes index entries: user id -> addresses it is no longer found by."""
        entries = [
            e
            for u, a in addresses.items()
            for e in index.tenant_entries(self._key(), self.partner_id, self.tenant_id, u, a, every_form=True)
        ]
        if entries:
            self.write_batches(self.account.table(index.TABLE), (("delete", e) for e in entries))

    def get_addresses(self, user_ids: list[str]) -> dict[str, Any]:
        """Stored users among these (parallel point reads): id -> its UPN and mail as stored."""
        from azure.core.exceptions import ResourceNotFoundError

        table = self.users

        def read(user_id: str) -> Any:
            try:
                return table.get_entity(
                    user_partition(self.partner_id, self.tenant_id, user_id),
                    user_id,
                    select=["RowKey", "userPrincipalName", "mail"],
                )
            except ResourceNotFoundError:
                return None

        return {u: r for u, r in zip(user_ids, self.pool.map(read, user_ids), strict=True) if r is not None}

    def delete_users(self, user_ids: Iterable[str]) -> None:
        self.write_batches(
            self.users,
            (
                ("delete", {"PartitionKey": user_partition(self.partner_id, self.tenant_id, u), "RowKey": u})
                for u in user_ids
            ),
        )

    def list_existing(self, user_ids: list[str]) -> set[str]:
        """Which of these users are stored (parallel point reads: cost follows the change, not the size)."""
        from azure.core.exceptions import ResourceNotFoundError

        table = self.users

        def exists(user_id: str) -> bool:
            try:
                table.get_entity(
                    user_partition(self.partner_id, self.tenant_id, user_id), user_id, select=["RowKey"]
                )
            except ResourceNotFoundError:
                return False
            return True

        return {u for u, found in zip(user_ids, self.pool.map(exists, user_ids), strict=True) if found}

    def get_user(self, user_id: str) -> Any | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.users.get_entity(user_partition(self.partner_id, self.tenant_id, user_id), user_id)
        except ResourceNotFoundError:
            return None

    def list_user_ids_not_seen(
        self, sync_id: str, addresses: dict[str, set[str]] | None = None
    ) -> Iterator[str]:
        """Users a full round did not see; `addresses` collects what they were indexed by."""
        query = f"{_range(tenant_prefix(self.partner_id, self.tenant_id))} and syncId ne @sync"
        select = ["RowKey", "userPrincipalName", "mail"]
        for row in self.users.query_entities(query, parameters={"sync": sync_id}, select=select):
            if addresses is not None:
                addresses[str(row["RowKey"])] = tenant_user_addresses(row)
            yield str(row["RowKey"])

    def list_user_rows(self, extra_filter: str = "", select: list[str] | None = None) -> Iterator[Any]:
        query = _range(tenant_prefix(self.partner_id, self.tenant_id)) + extra_filter
        yield from self.users.query_entities(query, select=select, results_per_page=1000)

    def list_user_page(
        self, top: int, continuation: str | None, server_filter: str, keep: Callable[[Any], bool]
    ) -> tuple[list[Any], str | None]:
        """Keyset paging over the tenant's partitions; `keep` filters what storage cannot (text search).

        The token is the last row looked at, so a page cut short by the scan budget resumes exactly.
        """
        query = _range(tenant_prefix(self.partner_id, self.tenant_id))
        scope = f"users\n{query}\n{server_filter}"
        position = decode_token(continuation, scope=scope)
        parameters: dict[str, Any] = {}
        if position:
            if not isinstance(position.get("pk"), str) or not isinstance(position.get("rk"), str):
                from shared.errors import bad_request

                raise bad_request("continuationToken is not one we issued.")
            query += " and ( ( PartitionKey eq @pk and RowKey gt @rk ) or PartitionKey gt @pk )"
            parameters = {"pk": position["pk"], "rk": position["rk"]}
        query += server_filter
        items: list[Any] = []
        last: Any = None
        budget = max(top * 20, 2000)
        rows = self.users.query_entities(query, parameters=parameters, results_per_page=min(1000, top + 1))
        for scanned, row in enumerate(rows, start=1):
            if len(items) == top:
                return items, encode_token({"pk": last["PartitionKey"], "rk": last["RowKey"]}, scope=scope)
            last = row
            if keep(row):
                items.append(row)
            if scanned >= budget and len(items) < top:
                return items, encode_token({"pk": row["PartitionKey"], "rk": row["RowKey"]}, scope=scope)
        return items, None

    def update_user_row(self, user: GraphUser) -> Any:
        """After a management write: the stored copy takes Graph's answer at once."""
        from azure.data.tables import UpdateMode

        current = self.get_user(user.id)
        sync_id = str(current.get("syncId", "")) if current else ""
        entity = user_entity(
            user_partition(self.partner_id, self.tenant_id, user.id), user, sync_id, only_set=False
        )
        self.users.upsert_entity(entity, mode=UpdateMode.REPLACE)
        return self.get_user(user.id)

    # --- groups ---

    def get_group(self, group_id: str) -> Any | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.groups.get_entity(group_partition(self.partner_id, self.tenant_id), group_id)
        except ResourceNotFoundError:
            return None

    def list_group_rows(self, select: list[str] | None = None) -> list[Any]:
        query = "PartitionKey eq @pk"
        return list(
            self.groups.query_entities(
                query, parameters={"pk": group_partition(self.partner_id, self.tenant_id)}, select=select
            )
        )

    def group_entity(self, fields: dict[str, Any], members: set[str]) -> dict[str, Any]:
        """A group row: its properties (`group_fields`) and its members in chunked JSON columns.
        End users erased on request stay out: Graph still lists them in the customer's groups."""
        entity: dict[str, Any] = {"PartitionKey": group_partition(self.partner_id, self.tenant_id), **fields}
        ordered = sorted(m for m in members if not self.is_erased(m))
        entity["memberCount"] = len(ordered)
        kept = ordered[: _MEMBER_CHUNK * _MEMBER_CHUNKS]
        entity["membersTruncated"] = len(kept) < len(ordered)
        for n in range(_MEMBER_CHUNKS):
            chunk = kept[n * _MEMBER_CHUNK : (n + 1) * _MEMBER_CHUNK]
            if chunk:
                entity[f"m{n:02d}"] = json.dumps(chunk)
        return entity

    def replace_members(self, row: Any, members: set[str]) -> None:
        """Rewrites a stored group with these members; its other properties stay as they are."""
        from azure.data.tables import UpdateMode

        fields = {
            k: v
            for k, v in row.items()
            if not _is_member_chunk(k) and k not in ("PartitionKey", "memberCount", "membersTruncated")
        }
        self.groups.upsert_entity(self.group_entity(fields, members), mode=UpdateMode.REPLACE)

    def upsert_groups(self, entities: list[dict[str, Any]]) -> None:
        from azure.data.tables import UpdateMode

        self.write_batches(self.groups, (("upsert", e, {"mode": UpdateMode.REPLACE}) for e in entities))

    def delete_groups(self, group_ids: Iterable[str]) -> None:
        partition = group_partition(self.partner_id, self.tenant_id)
        self.write_batches(
            self.groups, (("delete", {"PartitionKey": partition, "RowKey": g}) for g in group_ids)
        )

    # --- removal ---

    def purge(self) -> None:
        """Deletes every user and group row of the tenant (the tenant was removed)."""
        self.delete_users([str(r["RowKey"]) for r in self.list_user_rows(select=["RowKey"])])
        self.delete_groups([str(r["RowKey"]) for r in self.list_group_rows(select=["RowKey"])])
        table = self.account.table(index.TABLE)
        rows = table.query_entities(
            index.tenant_range(self.partner_id, self.tenant_id), select=["PartitionKey", "RowKey"]
        )
        self.write_batches(table, (("delete", dict(r)) for r in rows))


def group_fields(group: GraphGroup, stored: Any | None = None) -> dict[str, Any]:
    """The group's properties as columns; a delta change keeps stored values it did not send."""
    fields: dict[str, Any] = {"RowKey": group.id}
    if stored is not None:
        fields.update({wire: stored[wire] for wire in _GROUP_FIELDS.values() if stored.get(wire) is not None})
    for name, wire in _GROUP_FIELDS.items():
        if name not in group.model_fields_set:
            continue
        value = getattr(group, name)
        if value is None:
            fields.pop(wire, None)
        else:
            fields[wire] = json.dumps(value) if name == "group_types" else value
    return fields


def remove_member(
    account: AccountStorage, partner_id: str, tenant_id: str, group_id: str, user_id: str
) -> None:
    """Takes one user out of a stored group's member list (an erased end user); no group, no change.

    The group's other properties stay as they are; its count becomes the members it lists now.
    """
    from azure.core.exceptions import ResourceNotFoundError
    from azure.data.tables import UpdateMode

    table = account.table(GROUPS)
    partition = group_partition(partner_id, tenant_id)
    try:
        row = table.get_entity(partition, group_id)
    except ResourceNotFoundError:
        return
    members = group_members(row) - {user_id}
    entity: dict[str, Any] = {
        name: value
        for name, value in row.items()
        if not _is_member_chunk(name) and name not in ("memberCount", "membersTruncated")
    }
    entity["memberCount"] = len(members)
    ordered = sorted(members)
    for n in range(_MEMBER_CHUNKS):
        chunk = ordered[n * _MEMBER_CHUNK : (n + 1) * _MEMBER_CHUNK]
        if chunk:
            entity[f"m{n:02d}"] = json.dumps(chunk)
    table.upsert_entity(entity, mode=UpdateMode.REPLACE)


def _is_member_chunk(name: str) -> bool:
    return len(name) == 3 and name.startswith("m") and name[1:].isdigit()


def group_members(entity: Any) -> set[str]:
    members: set[str] = set()
    for n in range(_MEMBER_CHUNKS):
        chunk = entity.get(f"m{n:02d}")
        if chunk:
            members.update(json.loads(chunk))
    return members


def group_from_entity(entity: Any, *, with_members: bool) -> dict[str, Any]:
    group: dict[str, Any] = {"id": entity["RowKey"], "memberCount": int(entity.get("memberCount", 0))}
    for wire in _GROUP_FIELDS.values():
        value = entity.get(wire)
        if value is None:
            continue
        group[wire] = json.loads(value) if wire == "groupTypes" else value
    if with_members:
        group["members"] = sorted(group_members(entity))
    return group

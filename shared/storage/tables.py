"""The one way to use a table: filter literals, rows with their ETag, pages, point reads, deletes, batches.

Every area needs the same few things of a table and used to write them itself (seven copies of
quoting, pages read by hand, five loops cutting writes into transactions). They live here:

- `literal`, `eq`, `partition`, `prefix`: OData filter text with values quoted (quotes doubled).
- `Row`: a row's properties as a dict, its ETag beside them as `.etag` (never among them), from
  both readers: the SDK (`get`, `query`, `page`: typed values, datetimes as datetimes) and the
  plain-JSON fast path of `shared.storage.tablequery` (`get_json`, `query_json`: values as JSON
  has them, for scans of thousands of rows).
- `page`: one page of a query with the table's continuation wrapped as our opaque token, bound to
  the table and filter it read (`page_at`: the same with the table's own continuation, for tokens
  that hold more; `encode_token` / `decode_token` bind those to a scope the caller names).
- `delete`, `delete_partition`: a missing row counts as deleted.
- `write`, `write_each`: operations cut into transactions of at most 100 in one partition, sent as
  the hand-built `$batch` of `shared.storage.tablebatch`.

Operations are tuples as `tablebatch` reads them: ("create", entity), ("merge" | "replace",
entity) upserts, ("update", entity, etag) merges only over that ETag, ("delete", entity); the
SDK's spellings (("upsert", entity, {"mode"}), ("update", entity, {"mode", "etag",
"match_condition"})) too. A transaction is all or nothing, so a change that must land whole (an
event with its lane head, a person with the owner count) is one `write` of its rows.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from shared.errors import ProblemError, bad_request
from shared.storage import tablebatch, tablequery
from shared.storage.tablebatch import BatchRefusedError

if TYPE_CHECKING:
    from azure.data.tables import TableClient

__all__ = [
    "MAX_BATCH",
    "BatchRefusedError",
    "Row",
    "decode_token",
    "delete",
    "delete_partition",
    "encode_token",
    "eq",
    "get",
    "get_json",
    "literal",
    "page",
    "page_at",
    "partition",
    "prefix",
    "query",
    "query_json",
    "raise_if_conflict",
    "table_scope",
    "write",
    "write_each",
]

MAX_BATCH = tablebatch.MAX_OPERATIONS  # operations in one entity-group transaction
_KEYS = ["PartitionKey", "RowKey"]


# --- rows ---


class Row(dict[str, Any]):
    """A table row: its properties, and its ETag as `.etag` (None for a row not read from a table)."""

    __slots__ = ("etag",)

    def __init__(
        self, properties: Mapping[str, Any] | Iterable[tuple[str, Any]] = (), etag: str | None = None
    ):
        super().__init__(properties)
        self.etag = etag

    @classmethod
    def of(cls, entity: Mapping[str, Any]) -> Row:
        """The row of an SDK entity (ETag in `.metadata`) or of a JSON row (ETag as `odata.etag`)."""
        if isinstance(entity, Row):
            return entity
        metadata = getattr(entity, "metadata", None)
        if metadata is not None:
            return cls(entity, metadata.get("etag"))
        properties = dict(entity)
        return cls(properties, properties.pop(tablequery.ETAG, None))

    def __repr__(self) -> str:
        return f"Row({dict.__repr__(self)}, etag={self.etag!r})"


# --- filters ---


def literal(value: str) -> str:
    """An OData string literal: in single quotes, quotes inside doubled."""
    return tablequery.literal(value)


def eq(name: str, value: str) -> str:
    """`name eq 'value'`."""
    return f"{name} eq {literal(value)}"


def partition(partition_key: str) -> str:
    """The filter of one partition."""
    return eq("PartitionKey", partition_key)


def prefix(name: str, start: str) -> str:
    """Values of `name` that start with `start` (a non-empty prefix): `ge start and lt` its successor."""
    if not start:
        raise ValueError("a prefix filter needs a non-empty prefix")
    successor = start[:-1] + chr(ord(start[-1]) + 1)
    return f"{name} ge {literal(start)} and {name} lt {literal(successor)}"


# --- continuation tokens ---
#
# A token is bound to the list it was issued for: `scope` names that list (the table and filter of
# `page`; the caller's own words for a token of its own), and the token carries a digest of it, so
# a token of another partner's, tenant's or filter's list is refused with a 400 naming that, instead
# of being read as a position in this one. Reads never depended on it (every list's filter keeps
# its partition), and the digests are unkeyed: they catch mistakes and edits, not a deliberate
# forger, who could move only within a list of their own.

_TOKEN_KEYS = {"p", "l", "s"}
_NOT_OURS = "continuationToken is not one we issued."
_OTHER_LIST = (
    "continuationToken was issued for another list (another partner, tenant or filter); "
    "ask for this list's first page without it."
)


def _digest(*parts: str) -> str:
    hashed = hashlib.sha256("\x00".join(parts).encode()).digest()[:12]
    return base64.urlsafe_b64encode(hashed).decode()


def _sum(scope_digest: str, position: Any) -> str:
    return _digest(scope_digest, json.dumps(position, sort_keys=True, separators=(",", ":")))


def encode_token(token: Any, *, scope: str) -> str | None:
    """The table's continuation (or our own position) as an opaque, URL-safe token for one list."""
    if not token:
        return None
    bound = _digest(scope)
    sealed = {"p": token, "l": bound, "s": _sum(bound, token)}
    return base64.urlsafe_b64encode(json.dumps(sealed, separators=(",", ":")).encode()).decode()


def decode_token(text: str | None, *, scope: str) -> Any:
    """The position in a token `encode_token` made for the same `scope`; any other token is a 400."""
    if not text:
        return None
    try:
        sealed = json.loads(base64.urlsafe_b64decode(text.encode()))
    except ValueError:
        sealed = None
    if not isinstance(sealed, dict) or set(sealed) != _TOKEN_KEYS:
        raise bad_request(_NOT_OURS)
    token, bound, check = sealed["p"], sealed["l"], sealed["s"]
    if (
        not isinstance(token, dict)
        or not isinstance(bound, str)
        or not all(isinstance(k, str) and isinstance(v, (str, type(None), dict)) for k, v in token.items())
        or not hmac.compare_digest(check if isinstance(check, str) else "", _sum(bound, token))
    ):
        raise bad_request(_NOT_OURS)
    if not hmac.compare_digest(bound, _digest(scope)):
        raise bad_request(_OTHER_LIST)
    return token


def table_scope(table_name: str, filter_text: str) -> str:
    """The list a `page` token belongs to: the table and the filter (partition included) it read."""
    return f"{table_name}\n{filter_text}"


def raise_if_conflict(error: Any) -> None:
    """A failed ETag or existence precondition means someone else changed it first: 409, not 500."""
    if getattr(error, "status_code", None) in (409, 412):
        raise ProblemError(
            409,
            "concurrent-change",
            "Changed by someone else.",
            "The resource changed meanwhile; read it and retry.",
        ) from error


# --- reads ---


def get(
    table: TableClient, partition_key: str, row_key: str, select: Sequence[str] | None = None
) -> Row | None:
    """One row by its keys (typed values), or None when there is none."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        if select:
            entity = table.get_entity(partition_key, row_key, select=list(select))
        else:
            entity = table.get_entity(partition_key, row_key)
    except ResourceNotFoundError:
        return None
    return Row.of(entity)


def get_json(table: TableClient, partition_key: str, row_key: str) -> Row | None:
    """One row by its keys, values as JSON has them (the fast path), or None when there is none."""
    row = tablequery.get(table, partition_key, row_key)
    return None if row is None else Row.of(row)


def query(
    table: TableClient,
    filter_text: str,
    select: Sequence[str] | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> Iterator[Row]:
    """Every row matching a filter (typed values), page after page."""
    options: dict[str, Any] = {}
    if select:
        options["select"] = list(select)
    if parameters:
        options["parameters"] = dict(parameters)
    for entity in table.query_entities(filter_text, **options):
        yield Row.of(entity)


def query_json(table: TableClient, filter_text: str, select: Sequence[str] | None = None) -> Iterator[Row]:
    """Every row matching a filter, values as JSON has them: the fast path for scans of thousands."""
    etag = tablequery.ETAG
    for properties in tablequery.query(table, filter_text, select):
        tag = properties.pop(etag, None)
        yield Row(properties, tag)


def page(
    table: TableClient,
    filter_text: str,
    top: int,
    continuation: str | None,
    select: Sequence[str] | None = None,
) -> tuple[list[Row], str | None]:
    """One page of a query (at most `top` rows), and the token of the next or None after the last."""
    scope = table_scope(table.table_name, filter_text)
    rows, position = page_at(table, filter_text, top, decode_token(continuation, scope=scope), select)
    return rows, encode_token(position, scope=scope)


def page_at(
    table: TableClient,
    filter_text: str,
    top: int,
    position: Mapping[str, Any] | None,
    select: Sequence[str] | None = None,
) -> tuple[list[Row], dict[str, Any] | None]:
    """As `page`, with the table's own continuation (a dict, None at the start and after the last
    page), for a caller that keeps it inside a token of its own (e.g. across monthly tables)."""
    options: dict[str, Any] = {"results_per_page": top}
    if select:
        options["select"] = list(select)
    # The table's continuation is a dict, whatever `by_page`'s annotation says.
    entities: Any = table.query_entities(filter_text, **options)
    pages = entities.by_page(continuation_token=position)
    rows = [Row.of(entity) for entity in next(pages, [])]
    return rows, pages.continuation_token or None


# --- deletes ---


def delete(table: TableClient, partition_key: str, row_key: str, etag: str | None = None) -> None:
    """Deletes a row; a missing row counts as deleted. With an ETag, only that version (412 otherwise)."""
    if etag is None:
        table.delete_entity(partition_key, row_key)
        return
    from azure.core import MatchConditions

    table.delete_entity(partition_key, row_key, etag=etag, match_condition=MatchConditions.IfNotModified)


def delete_partition(table: TableClient, partition_key: str) -> int:
    """Deletes every row of a partition, 100 at a time; returns how many there were."""
    rows = list(query_json(table, partition(partition_key), _KEYS))
    write_each(table, [("delete", r) for r in rows], tolerate=(404,))
    return len(rows)


# --- writes ---


def write(table: TableClient, operations: Sequence[tuple[Any, ...]]) -> None:
    """Operations in transactions of at most 100 in one partition (each all or nothing), in order
    within a partition; a row appears once (the service refuses a transaction naming it twice).
    Raises `BatchRefusedError` at the first transaction refused."""
    for group in _transactions(operations):
        tablebatch.submit(table, [_encoded(operations[i]) for i in group])


def write_each(
    table: TableClient, operations: Sequence[tuple[Any, ...]], tolerate: Iterable[int] = (409, 412)
) -> list[bool]:
    """As `write`, but where a transaction is refused with a tolerated status (a conflict, a changed
    ETag, a row gone), its operations go one by one. Returns, per operation, whether it was applied."""
    tolerated = frozenset(tolerate)
    applied = [True] * len(operations)
    for group in _transactions(operations):
        try:
            tablebatch.submit(table, [_encoded(operations[i]) for i in group])
            continue
        except BatchRefusedError as error:
            if error.status_code not in tolerated:
                raise
        for i in group:
            try:
                tablebatch.submit(table, [_encoded(operations[i])])
            except BatchRefusedError as error:
                if error.status_code not in tolerated:
                    raise
                applied[i] = False
    return applied


def _transactions(operations: Sequence[tuple[Any, ...]]) -> Iterator[list[int]]:
    """Indexes of the operations, per partition in first-seen order, in runs of at most 100."""
    partitions: dict[str, list[int]] = {}
    for index, operation in enumerate(operations):
        partitions.setdefault(operation[1]["PartitionKey"], []).append(index)
    for indexes in partitions.values():
        for start in range(0, len(indexes), MAX_BATCH):
            yield indexes[start : start + MAX_BATCH]


def _plain(value: Any) -> bool:
    kind = type(value)
    return kind is str or kind is bool or (kind is int and -(2**31) <= value < 2**31)


def _encoded(operation: tuple[Any, ...]) -> tuple[Any, ...]:
    """The operation with its entity as the service reads it: plain values as they are, others
    (datetimes, floats, bytes, GUIDs, enums, `(value, EdmType)` pairs) typed as the SDK types
    them, None left out."""
    entity = operation[1]
    if operation[0] == "delete" or all(_plain(v) for v in entity.values()):
        return operation
    from azure.data.tables._serialize import _add_entity_properties

    return (operation[0], _add_entity_properties(entity), *operation[2:])

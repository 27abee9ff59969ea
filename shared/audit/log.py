"""The audit log: every state change, per partner, in monthly tables, tamper-evident by hash chains.

Layout: one table per region and month (`events<yyyymm>`), one partition per partner. Newest
first is the natural order (RowKey = inverted microseconds + ULID). Each event joins one of
`LANES` hash chains, picked at random: a chain's head row and the new event are written in one
entity-group transaction guarded by the head's ETag, so concurrent writers of a partner rarely
collide (and retry on another lane when they do) instead of queueing behind one row. A month's
first event of a lane links to the previous month's head of that lane, so dropping the oldest
bucket (retention) leaves the remaining chain verifiable from its new start.

An event about one customer tenant names it (`tenantId`, hashed with the event when present, so
older events hash as they always did); callers limited to some tenants see only those events (and
the partner-level ones about themselves), see `ScopedView`.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.audit.seal import EventSubject
from shared.clock import Clock, isoformat
from shared.errors import bad_request
from shared.ids import new_id
from shared.storage import tables
from shared.storage.tables import decode_token, encode_token, literal

if TYPE_CHECKING:
    from azure.data.tables import TableClient

    from shared.audit.seal import SubjectKeyStore
    from shared.storage.router import AccountStorage

LANES = 8
BUCKET_PREFIX = "events"
GENESIS = "0" * 64
_MAX_TIME_US = 99_999_999_999_999_999
_HEAD = "~head-"  # '~' sorts after every event RowKey
# Rows `~subj-<kid>-<event RowKey>` index the events naming one data subject (see audit/seal.py);
# written with the event, in its bucket, so retention drops them with it.
SUBJECT_INDEX = "~subj-"
# A scoped listing reads at most this many rows per call before it answers with what it found.
_SCAN_BUDGET = 5000
# Comparisons a scoped view may add to a query: the base filter uses up to 7 of Table storage's 15.
_NARROWING_MAX = 8


# Called after each event is stored, with (account, partner id, bucket, entity): areas above the log
# that act on events (alerts) register here in the composition root; a watcher must not raise.
Watcher = Callable[["AccountStorage", str, str, dict[str, Any]], None]
_WATCHERS: list[Watcher] = []


def add_watcher(watcher: Watcher) -> None:
    if watcher not in _WATCHERS:
        _WATCHERS.append(watcher)


def bucket_name(moment: datetime) -> str:
    return f"{BUCKET_PREFIX}{moment.astimezone(UTC):%Y%m}"


def _row_key(moment: datetime, event_id: str) -> str:
    micros = int(moment.timestamp()) * 1_000_000 + moment.microsecond
    return f"{_MAX_TIME_US - micros:017d}{event_id}"


@dataclass(frozen=True)
class NewEvent:
    action: str
    actor: dict[str, Any]
    target: dict[str, Any]
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)
    request_id: str | None = None
    client_ip: str | None = None  # already anonymised
    details: dict[str, Any] = field(default_factory=dict)
    subject: EventSubject | None = None  # a data subject the event names: its personal fields are sealed
    # The customer tenant the event is about; when None, the target's `tenantId`, or a tenant target's id.
    tenant_id: str | None = None


@dataclass(frozen=True)
class ScopedView:
    """What a caller limited to some tenants sees of the log: the events about a tenant in its reach,
    and of the partner-level events (no tenant) only those it did itself or that are about itself
    (its own key or person). Events about an org or a request whose tenant is unknown stay hidden."""

    tenant_ids: frozenset[str]
    own_ids: frozenset[str]  # the caller's actor id

    def shows(self, entity: Any) -> bool:
        tenant = entity.get("tenantId")
        if tenant:
            return str(tenant) in self.tenant_ids
        return entity.get("actorId") in self.own_ids or entity.get("targetId") in self.own_ids

    def narrowing(self) -> str | None:
        """A server-side clause that keeps at least what `shows` keeps, while it stays small (Table
        storage takes at most 15 comparisons per filter); `shows` then decides exactly."""
        if len(self.tenant_ids) + 2 * len(self.own_ids) > _NARROWING_MAX:
            return None
        clauses = [tables.eq("tenantId", t) for t in sorted(self.tenant_ids)]
        for own in sorted(self.own_ids):
            clauses += [tables.eq("actorId", own), tables.eq("targetId", own)]
        return "(" + " or ".join(clauses) + ")" if clauses else None


@dataclass(frozen=True)
class EventFilter:
    start: datetime | None = None
    end: datetime | None = None
    actor: str | None = None  # actor id
    action: str | None = None
    target: str | None = None  # target id
    tenant: str | None = None  # the customer tenant the events are about
    view: ScopedView | None = None  # None: every event of the partner


@dataclass(frozen=True)
class VerifyResult:
    valid: bool
    checked: int
    first_broken_event_id: str | None


def _canonical(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _hashed_fields(entity: dict[str, Any]) -> dict[str, Any]:
    fields = {
        "id": entity["id"],
        "at": entity["at"],
        "lane": entity["lane"],
        "seq": entity["seq"],
        "prev": entity["prev"],
        "action": entity["action"],
        "actor": entity["actor"],
        "target": entity["target"],
        "changes": entity["changes"],
        "requestId": entity.get("requestId"),
        "clientIp": entity.get("clientIp"),
        "details": entity["details"],
    }
    if entity.get("tenantId"):
        # Only when present: events written before events named their tenant keep their hash.
        fields["tenantId"] = entity["tenantId"]
    return fields


def event_hash(entity: dict[str, Any]) -> str:
    return hashlib.sha256(_canonical(_hashed_fields(entity))).hexdigest()


def to_api(entity: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": entity["id"],
        "at": entity["at"],
        "action": entity["action"],
        "actor": json.loads(entity["actor"]),
        "target": json.loads(entity["target"]),
        "changes": json.loads(entity["changes"]),
        "requestId": entity.get("requestId"),
        "clientIp": entity.get("clientIp"),
        "details": json.loads(entity["details"]),
        "tenantId": entity.get("tenantId") or None,
        "hash": entity["hash"],
    }


class ConflictRetryExhaustedError(RuntimeError):
    pass


class AuditLog:
    def __init__(
        self, account: AccountStorage, clock: Clock, *, lanes: int = LANES, master_key: str | None = None
    ):
        self.account = account
        self.clock = clock
        self.lanes = lanes
        self._master_key = master_key

    def subject_keys(self) -> SubjectKeyStore:
        from shared.audit.seal import SubjectKeyStore

        if self._master_key is None:
            from shared.settings import get_settings

            self._master_key = get_settings().subject_key_master.get_secret_value()
        return SubjectKeyStore(self.account, self._master_key)

    def _bucket(self, name: str) -> TableClient:
        return self.account.table(name)

    def _previous_head(self, partner_id: str, bucket: str, lane: int) -> str:
        """The lane's last hash in the newest earlier bucket that has one (GENESIS if none)."""
        for name in reversed(self.bucket_names()):
            if name >= bucket:
                continue
            head = tables.get(
                self.account.table_service().get_table_client(name), partner_id, f"{_HEAD}{lane}"
            )
            if head is not None:
                return str(head["hash"])
        return GENESIS

    def append(self, partner_id: str, event: NewEvent) -> dict[str, Any]:
        """Appends one event; returns it as stored. Retries on a lane conflict, up to a bound."""
        from azure.core import MatchConditions
        from azure.data.tables import UpdateMode

        at = self.clock.now()
        bucket = bucket_name(at)
        table = self._bucket(bucket)
        event_id = new_id()
        target, changes, details = event.target, event.changes, event.details
        tenant_id = _tenant_of(event)
        index_row: dict[str, Any] | None = None
        if event.subject is not None:
            from shared.audit.seal import seal_fields

            kid, key = self.subject_keys().get_or_create(
                partner_id, event.subject.scope, event.subject.key, used_at=at
            )
            parts = {"target": target, "changes": changes, "details": details}
            sealed = seal_fields(partner_id, kid, key, event.subject, parts)
            target, changes, details = sealed["target"], sealed["changes"], sealed["details"]
            index_row = {
                "PartitionKey": partner_id,
                "RowKey": f"{SUBJECT_INDEX}{kid}-{_row_key(at, event_id)}",
                "eventRowKey": _row_key(at, event_id),
            }
        lanes = list(range(self.lanes))
        random.shuffle(lanes)
        for attempt in range(self.lanes * 4):
            lane = lanes[attempt % self.lanes]
            head = tables.get(table, partner_id, f"{_HEAD}{lane}")
            prev = str(head["hash"]) if head else self._previous_head(partner_id, bucket, lane)
            entity: dict[str, Any] = {
                "PartitionKey": partner_id,
                "RowKey": _row_key(at, event_id),
                "id": event_id,
                "at": isoformat(at),
                "lane": lane,
                "seq": (int(head["seq"]) if head else 0) + 1,
                "prev": prev,
                "action": event.action,
                "actor": json.dumps(event.actor, sort_keys=True),
                "actorId": str(event.actor.get("id", "")),
                "target": json.dumps(target, sort_keys=True),
                "targetId": str(target.get("id", "")),
                "changes": json.dumps(changes, sort_keys=True, default=str),
                "requestId": event.request_id,
                "clientIp": event.client_ip,
                "details": json.dumps(details, sort_keys=True, default=str),
                "tenantId": tenant_id,
            }
            entity["hash"] = event_hash(entity)
            new_head = {
                "PartitionKey": partner_id,
                "RowKey": f"{_HEAD}{lane}",
                "seq": entity["seq"],
                "hash": entity["hash"],
                "eventId": event_id,
            }
            operations: list[Any] = [("create", {k: v for k, v in entity.items() if v is not None})]
            if index_row is not None:
                operations.append(("create", index_row))
            if head is None:
                operations.append(("create", new_head))
            else:
                operations.append(
                    (
                        "update",
                        new_head,
                        {
                            "mode": UpdateMode.REPLACE,
                            "etag": head.etag,
                            "match_condition": MatchConditions.IfNotModified,
                        },
                    )
                )
            try:
                tables.write(table, operations)
            except tables.BatchRefusedError:
                continue  # another writer moved this lane's head first: try again
            for watcher in _WATCHERS:
                watcher(self.account, partner_id, bucket, entity)
            return entity
        raise ConflictRetryExhaustedError(f"could not append to the audit log of {partner_id}")

    def bucket_names(self) -> list[str]:
        """Existing monthly buckets, oldest first."""
        service = self.account.table_service()
        names = [
            t.name
            for t in service.query_tables(
                f"TableName ge '{BUCKET_PREFIX}0' and TableName le '{BUCKET_PREFIX}9'"
            )
        ]
        return sorted(
            n for n in names if len(n) == len(BUCKET_PREFIX) + 6 and n[len(BUCKET_PREFIX) :].isdigit()
        )

    def list(
        self, partner_id: str, filters: EventFilter, top: int, continuation: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first; the continuation token is opaque to callers (bucket + the table's own token)."""
        query = self._filter(partner_id, filters)
        scope = f"audit\n{query}"  # the partner and every filter are in the query
        position = _decode_position(continuation, scope) if continuation else None
        buckets = [b for b in reversed(self.bucket_names()) if _bucket_in_range(b, filters)]
        if position is not None:
            buckets = [b for b in buckets if b <= position["b"]]
        view = filters.view
        items: list[dict[str, Any]] = []
        scanned = 0
        for index, bucket in enumerate(buckets):
            table = self.account.table_service().get_table_client(bucket)
            token = position["t"] if position is not None and position["b"] == bucket else None
            while len(items) < top:
                rows, token = tables.page_at(table, query, top - len(items), token)
                scanned += len(rows)
                if view is not None:
                    rows = [r for r in rows if view.shows(r)]
                items.extend(_opened(self, partner_id, rows))
                if not token:
                    break
                if scanned >= _SCAN_BUDGET:
                    # A scoped view may skip many rows: a short page with a token beats a long wait.
                    return items, encode_token({"b": bucket, "t": token}, scope=scope)
            if len(items) >= top:
                if token:
                    return items, encode_token({"b": bucket, "t": token}, scope=scope)
                later = buckets[index + 1 :]
                return items, (encode_token({"b": later[0], "t": None}, scope=scope) if later else None)
        return items, None

    @staticmethod
    def _filter(partner_id: str, filters: EventFilter) -> str:
        clauses = [tables.partition(partner_id), f"RowKey lt {literal(_HEAD)}"]
        if filters.end is not None:
            clauses.append(f"RowKey ge {literal(_row_key(filters.end, ''))}")
        if filters.start is not None:
            clauses.append(f"RowKey lt {literal(_row_key(filters.start, '~'))}")
        if filters.actor:
            clauses.append(tables.eq("actorId", filters.actor))
        if filters.action:
            clauses.append(tables.eq("action", filters.action))
        if filters.target:
            clauses.append(tables.eq("targetId", filters.target))
        if filters.tenant:
            clauses.append(tables.eq("tenantId", filters.tenant.lower()))
        narrowing = filters.view.narrowing() if filters.view is not None else None
        if narrowing:
            clauses.append(narrowing)
        return " and ".join(clauses)

    def verify(self, partner_id: str) -> VerifyResult:
        """Recomputes every lane of every bucket; reports the first event (oldest first) that breaks."""
        checked = 0
        heads: dict[int, str] = {}
        for bucket in self.bucket_names():
            table = self.account.table_service().get_table_client(bucket)
            events: dict[int, list[dict[str, Any]]] = {}
            bucket_heads: dict[int, dict[str, Any]] = {}
            for row in tables.query(table, tables.partition(partner_id)):
                if str(row["RowKey"]).startswith(_HEAD):
                    bucket_heads[int(str(row["RowKey"])[len(_HEAD) :])] = dict(row)
                elif str(row["RowKey"]).startswith(SUBJECT_INDEX):
                    continue
                else:
                    events.setdefault(int(row["lane"]), []).append(dict(row))
            broken: list[dict[str, Any]] = []
            for lane in sorted(set(events) | set(bucket_heads)):
                chain = sorted(events.get(lane, []), key=lambda e: (int(e["seq"]), _newness(e)))
                expected_prev = heads.get(lane)
                for position, entity in enumerate(chain, start=1):
                    checked += 1
                    links = expected_prev is None or entity["prev"] == expected_prev
                    if int(entity["seq"]) != position or not links or event_hash(entity) != entity["hash"]:
                        broken.append(entity)
                        break
                    expected_prev = entity["hash"]
                else:
                    head = bucket_heads.get(lane)
                    if head is not None and (head["hash"] != expected_prev or int(head["seq"]) != len(chain)):
                        broken.append({"id": head.get("eventId"), "at": "9999"})  # the newest event is gone
                if expected_prev is not None:
                    heads[lane] = expected_prev
            if broken:
                first = min(broken, key=lambda e: (str(e["at"]), _newness(e)))
                return VerifyResult(False, checked, str(first["id"]))
        return VerifyResult(True, checked, None)


def _newness(entity: dict[str, Any]) -> int:
    """Orders rows oldest first where `seq` or `at` (whole seconds) tie, whatever order the table
    returned them in: the RowKey starts with the time counted back from the end of time."""
    counted_back = str(entity.get("RowKey", ""))[:17]
    return -int(counted_back) if counted_back.isdigit() else 0


def _tenant_of(event: NewEvent) -> str | None:
    tenant = event.tenant_id or event.target.get("tenantId")
    if not tenant and event.target.get("type") == "tenant":
        tenant = event.target.get("id")
    return str(tenant).lower() if tenant else None


def _opened(log: AuditLog, partner_id: str, entities: list[Any]) -> list[dict[str, Any]]:
    """Events for the API, sealed personal fields opened (`"[erased]"` where the key is gone)."""
    from shared.audit.seal import PREFIX

    items = [to_api(entity) for entity in entities]
    if not any(PREFIX in str(e[part]) for e in entities for part in ("target", "changes", "details")):
        return items
    from shared.audit.seal import KeyCache, open_tree

    keys = KeyCache(log.subject_keys(), partner_id)
    for item in items:
        for part in ("target", "changes", "details"):
            item[part] = open_tree(partner_id, item[part], keys)
    return items


def _bucket_in_range(bucket: str, filters: EventFilter) -> bool:
    month = bucket[len(BUCKET_PREFIX) :]
    if filters.start is not None and month < f"{filters.start.astimezone(UTC):%Y%m}":
        return False
    return not (filters.end is not None and month > f"{filters.end.astimezone(UTC):%Y%m}")


def _decode_position(token: str, scope: str) -> dict[str, Any]:
    position: dict[str, Any] = decode_token(token, scope=scope)
    if not str(position.get("b", "")).startswith(BUCKET_PREFIX):
        raise bad_request("continuationToken is not one we issued.")
    return position


def iter_all(log: AuditLog, partner_id: str) -> Iterator[dict[str, Any]]:
    token: str | None = None
    while True:
        items, token = log.list(partner_id, EventFilter(), 1000, token)
        yield from items
        if not token:
            return

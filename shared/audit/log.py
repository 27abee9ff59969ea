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

import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.audit.anchors import AnchorSource
from shared.audit.chain import MacKeys, mac_link, sha256_link
from shared.audit.seal import EventSubject
from shared.audit.verify import GENESIS, ChainVerifier, VerifyResult, is_done, result_of, start_state
from shared.clock import Clock, isoformat
from shared.errors import bad_request
from shared.ids import new_id
from shared.storage import tables
from shared.storage.tables import decode_token, encode_token, literal

if TYPE_CHECKING:
    from azure.data.tables import TableClient

    from shared.audit.seal import SubjectKeyStore
    from shared.keys import MasterKey
    from shared.storage.router import AccountStorage

LANES = 8
BUCKET_PREFIX = "events"
_MAX_TIME_US = 99_999_999_999_999_999
_HEAD = "~head-"  # '~' sorts after every event RowKey
# Rows `~subj-<kid>-<event RowKey>` index the events naming one data subject (see audit/seal.py);
# written with the event, in its bucket, so retention drops them with it.
SUBJECT_INDEX = "~subj-"
# A listing reads at most this many rows, for at most this long, per call before it answers with
# what it found and a continuation (a filter that keeps few rows must not make one call scan a month).
_SCAN_BUDGET = 2000
_TIME_BUDGET_S = 2.0
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


def event_hash(entity: dict[str, Any]) -> str:
    """The bare SHA-256 link of events written before the keyed chain (see audit/chain.py)."""
    return sha256_link(entity)


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
        self,
        account: AccountStorage,
        clock: Clock,
        *,
        lanes: int = LANES,
        master_key: str | MasterKey | None = None,
        mac_keys: MacKeys | None = None,
    ):
        self.account = account
        self.clock = clock
        self.lanes = lanes
        self._master_key = master_key
        self._mac_keys = mac_keys

    def mac_keys(self) -> MacKeys:
        if self._mac_keys is None:
            from shared.settings import get_settings

            self._mac_keys = MacKeys(get_settings().audit_mac_keys.get_secret_value())
        return self._mac_keys

    def subject_keys(self) -> SubjectKeyStore:
        from shared.audit.seal import SubjectKeyStore, configured_master

        if self._master_key is None:
            self._master_key = configured_master()
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
        kid = self.mac_keys().signing_kid
        mac_key = self.mac_keys().get(kid)
        assert mac_key is not None  # the signing key is one of the keys
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
                "kid": kid,
            }
            entity["hash"] = mac_link(entity, mac_key)
            new_head = {
                "PartitionKey": partner_id,
                "RowKey": f"{_HEAD}{lane}",
                "seq": entity["seq"],
                "hash": entity["hash"],
                "eventId": event_id,
                "eventRowKey": entity["RowKey"],  # what the anchors name (audit/anchors.py)
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
        began = time.monotonic()
        for index, bucket in enumerate(buckets):
            table = self.account.table_service().get_table_client(bucket)
            token = position["t"] if position is not None and position["b"] == bucket else None
            while len(items) < top:
                rows, token = tables.page_at(table, query, top - len(items), token)
                scanned += len(rows)
                if view is not None:
                    rows = [r for r in rows if view.shows(r)]
                items.extend(opened(self, partner_id, rows))
                if not token:
                    break
                if scanned >= _SCAN_BUDGET or time.monotonic() - began > _TIME_BUDGET_S:
                    # A filter may skip many rows: a short page with a token beats a long wait.
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

    def verify(
        self, partner_id: str, month: str | None = None, anchors: AnchorSource | None = None
    ) -> VerifyResult:
        """Checks every lane of every bucket (or of one month) to the end, in bounded steps; reports
        the oldest event that differs. Callers serving a request use `verify_step` instead."""
        state = self.verify_start(month)
        while not is_done(state):
            state = self.verify_step(partner_id, state, anchors)
        return result_of(state)

    def verify_start(self, month: str | None = None) -> dict[str, Any]:
        """The starting state of a verification of every bucket, or of one month (`YYYY-MM`)."""
        names = list(reversed(self.bucket_names()))
        if month is not None:
            names = [n for n in names if n == f"{BUCKET_PREFIX}{month.replace('-', '')}"]
        return start_state(names)

    def verify_step(
        self,
        partner_id: str,
        state: dict[str, Any],
        anchors: AnchorSource | None = None,
        budget: int | None = None,
    ) -> dict[str, Any]:
        """One bounded step of a verification (at most `budget` rows, `verify.STEP_ROWS` unless given)."""
        verifier = ChainVerifier(self.account, partner_id, self.mac_keys(), anchors or AnchorSource())
        return verifier.step(state) if budget is None else verifier.step(state, budget)

    def count_events(self, partner_id: str, month: str | None = None) -> int:
        """How many events the heads say a verification would read (cheap: the head rows only)."""
        total = 0
        for bucket in self.verify_start(month)["buckets"]:
            table = self.account.table_service().get_table_client(bucket)
            heads = tables.query(
                table,
                f"{tables.partition(partner_id)} and RowKey ge {literal(_HEAD)} "
                f"and RowKey lt {literal(_HEAD[:-1] + '.')}",
                select=["seq"],
            )
            total += sum(int(h["seq"]) for h in heads)
        return total


def _tenant_of(event: NewEvent) -> str | None:
    tenant = event.tenant_id or event.target.get("tenantId")
    if not tenant and event.target.get("type") == "tenant":
        tenant = event.target.get("id")
    return str(tenant).lower() if tenant else None


def opened(log: AuditLog, partner_id: str, entities: list[Any]) -> list[dict[str, Any]]:
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


def mac_key_dependencies(log: AuditLog, *, limit: int = 100_000) -> tuple[dict[str, int], bool]:
    """How many stored events each AUDIT_MAC_KEYS key id MACed (newest months first), reading at
    most `limit` rows, and whether every row was read. A MAC key is kept while events it MACed
    are (the chain is never re-MACed: that is what the MAC stops an insider from doing)."""
    found: dict[str, int] = {}
    read = 0
    for name in reversed(log.bucket_names()):
        for row in tables.query_json(log.account.table(name), "RowKey ne ''", ["kid"]):
            if read >= limit:
                return found, False
            read += 1
            if row.get("kid"):
                found[str(row["kid"])] = found.get(str(row["kid"]), 0) + 1
    return found, True

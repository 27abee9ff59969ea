"""The API call log and the session events of a partner's people and keys, written off the request path.

What a call leaves: request time, method, route template (never the path with its ids, never a
query, body, header or key), status, the problem `type` and `title` when it failed, duration,
who called (an API key's id or a person's id, never the credential) and the caller's anonymised
network. What a session leaves: the first use of a person's token (a sign-in) and of an API key
on a day, with the first call's route and network, and the last use seen since (`lastAt`).

Layout (both tables, one per region, so a partner's log stays in its region): PartitionKey
`<partner id>~<yyyymmdd>`, one partition per partner and UTC day, so a read of a day is one
partition and a read of a range is one partition per day. Calls: RowKey = inverted milliseconds
+ request id, newest first by key. Sessions: RowKey = `<kind>~<actor id>[~<token digest>]`,
the same on every instance, so a session started on two instances is one row (created once,
`lastAt` merged); a day's sessions are few and sorted by time when read.

Durability: `CallLog.record` only appends to an in-process buffer (bounded; a full buffer drops
the newest record and counts it), and a background thread writes the buffer every
`FLUSH_SECONDS` as entity-group transactions per partition. A request therefore never waits for
storage; what a crash of the instance loses is what was buffered and not yet written (at most
about `FLUSH_SECONDS` of calls, more only while storage was refusing writes). The log is a record
for the partner's insight, not a bill: the usage meter (shared/usage.py) stays durable per call.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.clock import Clock, isoformat, parse_iso
from shared.errors import FieldError, validation_failed
from shared.storage import tables
from shared.storage.tables import decode_token, encode_token, literal

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

log = logging.getLogger("tenantry.calls")

CALLS_TABLE = "apicalls"
SESSIONS_TABLE = "sessionevents"
# The stated period both logs are kept (the retention rule in shared/privacy/call_retention.py).
LOG_DAYS = 90
FLUSH_SECONDS = 1.0
MAX_BUFFERED = 20_000
# Sessions this process has written a row for, per day; past this many it forgets and may write
# a row again (a create that finds it answers 409 and changes nothing).
_MAX_REMEMBERED_SESSIONS = 20_000
_MAX_MS = 9_999_999_999_999
# Reads of a day's sessions stop here; a partner has far fewer people and keys than this.
_SESSION_DAY_CAP = 5000

SIGN_IN = "signIn"
KEY_USE = "keyUse"


def _day(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y%m%d}"


def partition_of(partner_id: str, day: str) -> str:
    return f"{partner_id}~{day}"


def day_of_partition(partition_key: str) -> str:
    return partition_key.rsplit("~", 1)[-1]


def token_digest(token: str) -> str:
    """What names a token's session: 16 hex digits of its SHA-256, never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CallRecord:
    """One authenticated call of a partner's person or key, as the edge saw it."""

    partner_id: str
    region: str
    at: datetime
    request_id: str
    method: str
    route: str
    status: int
    duration_ms: int
    caller_type: str  # personnel | apiKey
    caller_id: str
    caller_display: str | None = None
    client_network: str | None = None  # already anonymised
    problem_type: str | None = None
    problem_title: str | None = None
    # A person's token digest (`token_digest`): its first call is a sign-in; None for a key.
    session: str | None = None


@dataclass
class _Session:
    entity: dict[str, Any]
    last_at: str
    written: bool = False  # created in storage (by us or, as a 409 told us, by another instance)
    dirty: bool = True


@dataclass
class _Buffer:
    calls: list[CallRecord] = field(default_factory=list)
    # Calls a flush could not write: tried once more with the next flush, then given up.
    retry: list[CallRecord] = field(default_factory=list)
    dropped: int = 0


def _call_entity(record: CallRecord) -> dict[str, Any]:
    at_ms = int(record.at.timestamp() * 1000)
    entity: dict[str, Any] = {
        "PartitionKey": partition_of(record.partner_id, _day(record.at)),
        "RowKey": f"{_MAX_MS - at_ms:013d}~{record.request_id}",
        "at": record.at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "requestId": record.request_id,
        "method": record.method,
        "route": record.route,
        "status": record.status,
        "durationMs": record.duration_ms,
        "callerType": record.caller_type,
        "callerId": record.caller_id,
    }
    if record.client_network:
        entity["clientIp"] = record.client_network
    if record.problem_type:
        entity["problemType"] = record.problem_type[:200]
    if record.problem_title:
        entity["problemTitle"] = record.problem_title[:200]
    return entity


def _session_entity(record: CallRecord) -> dict[str, Any]:
    kind = SIGN_IN if record.session else KEY_USE
    row_key = f"{kind}~{record.caller_id}" + (f"~{record.session}" if record.session else "")
    at = isoformat(record.at)
    entity: dict[str, Any] = {
        "PartitionKey": partition_of(record.partner_id, _day(record.at)),
        "RowKey": row_key,
        "kind": kind,
        "at": at,
        "lastAt": at,
        "actorType": record.caller_type,
        "actorId": record.caller_id,
        "method": record.method,
        "route": record.route,
        "requestId": record.request_id,
    }
    if record.caller_display:
        entity["displayName"] = record.caller_display[:200]
    if record.client_network:
        entity["clientIp"] = record.client_network
    return entity


class CallLog:
    """The process's recorder: `record` is cheap and never touches storage; a daemon thread writes."""

    def __init__(
        self,
        account_of: Callable[[str], AccountStorage],
        *,
        max_buffered: int = MAX_BUFFERED,
        background: bool = True,
    ):
        """`background=False`: no writer thread; whoever holds the log calls `flush` (tests)."""
        self._account_of = account_of
        self._background = background
        self._max_buffered = max_buffered
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._buffer = _Buffer()
        # (region, PartitionKey, RowKey) -> the session's row as this process knows it.
        self._sessions: dict[tuple[str, str, str], _Session] = {}
        self._today = ""  # the newest day recorded: sessions of days before it are done with
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the request path ---------------------------------------------------------------------

    def record(self, record: CallRecord) -> None:
        """Buffers one call (and notes its session); returns at once."""
        session = _session_entity(record)
        key = (record.region, str(session["PartitionKey"]), str(session["RowKey"]))
        with self._lock:
            self._today = max(self._today, _day(record.at))
            if len(self._buffer.calls) >= self._max_buffered:
                self._buffer.dropped += 1
                return
            self._buffer.calls.append(record)
            known = self._sessions.get(key)
            if known is None:
                if len(self._sessions) >= _MAX_REMEMBERED_SESSIONS:
                    self._forget_written()
                self._sessions[key] = _Session(session, str(session["lastAt"]))
            elif str(session["lastAt"]) > known.last_at:
                known.last_at = str(session["lastAt"])
                known.dirty = True
        self._ensure_thread()
        if len(self._buffer.calls) >= tables.MAX_BATCH * 5:
            self._wake.set()

    def _forget_written(self, *, before: str | None = None) -> None:
        """Drops sessions already stored with nothing new to write (only those of days before
        `before`, when given): a later call of one writes a create that finds the row (409)."""
        for key in [
            k
            for k, s in self._sessions.items()
            if s.written and not s.dirty and (before is None or day_of_partition(k[1]) < before)
        ]:
            del self._sessions[key]

    def _ensure_thread(self) -> None:
        if not self._background or (self._thread is not None and self._thread.is_alive()):
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, name="tenantry-call-log", daemon=True)
            self._thread.start()
            atexit.register(self.flush)

    def _run(self) -> None:
        while True:
            self._wake.wait(FLUSH_SECONDS)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # the thread must outlive a bad flush; the next one retries
                log.exception("the API call log could not be written")

    # --- writing ------------------------------------------------------------------------------

    def flush(self) -> int:
        """Writes what is buffered now (tests call this to skip the wait); returns calls written."""
        with self._flush_lock:
            with self._lock:
                taken, self._buffer = self._buffer, _Buffer()
                calls, retry, dropped = taken.calls, taken.retry, taken.dropped
                sessions = [(key, s) for key, s in self._sessions.items() if s.dirty]
                for _, session in sessions:
                    session.dirty = False
            if dropped:
                log.warning("the API call log buffer was full: %d calls were not recorded", dropped)
            written = self._write_calls(calls, retry)
            self._write_sessions(sessions)
            with self._lock:
                self._forget_written(before=self._today)
            return written

    def _write_calls(self, calls: list[CallRecord], retry: list[CallRecord]) -> int:
        by_region: dict[str, dict[tuple[str, str], tuple[str, dict[str, Any]]]] = {}
        for record in retry + calls:
            entity = _call_entity(record)
            # One operation per row: a transaction naming a row twice (a client's request id sent
            # twice in one millisecond) would be refused whole.
            rows = by_region.setdefault(record.region, {})
            rows[(str(entity["PartitionKey"]), str(entity["RowKey"]))] = ("replace", entity)
        written = 0
        for region, operations in by_region.items():
            try:
                tables.write(self._account_of(region).table(CALLS_TABLE), list(operations.values()))
                written += len(operations)
            except Exception:
                # Tried once more with the next flush (as far as the buffer has room), so a short
                # storage outage loses nothing; a second failure gives the calls up.
                again = [r for r in calls if r.region == region]
                lost = sum(1 for r in retry if r.region == region)
                with self._lock:
                    room = max(self._max_buffered - len(self._buffer.calls) - len(self._buffer.retry), 0)
                    self._buffer.retry.extend(again[:room])
                    lost += len(again) - min(room, len(again))
                log.warning(
                    "API call log: calls of region %s not written (%d to retry, %d given up)",
                    region,
                    min(room, len(again)),
                    lost,
                )
        return written

    def _write_sessions(self, sessions: list[tuple[tuple[str, str, str], _Session]]) -> None:
        by_region: dict[str, list[tuple[tuple[str, str, str], _Session]]] = {}
        for key, session in sessions:
            by_region.setdefault(key[0], []).append((key, session))
        for region, items in by_region.items():
            try:
                table = self._account_of(region).table(SESSIONS_TABLE)
                new = [(k, s) for k, s in items if not s.written]
                # Created once, wherever it started first: a 409 means another instance did, and
                # only its `lastAt` is ours to move on.
                created = tables.write_each(
                    table, [("create", {**s.entity, "lastAt": s.last_at}) for _, s in new], tolerate=(409,)
                )
                for _, session in new:
                    session.written = True
                fresh = {k for (k, _), applied in zip(new, created, strict=True) if applied}
                merges = [
                    ("merge", {"PartitionKey": k[1], "RowKey": k[2], "lastAt": s.last_at})
                    for k, s in items
                    if k not in fresh
                ]
                if merges:
                    tables.write(table, merges)
            except Exception:
                log.warning("session events of region %s not written yet", region)
                with self._lock:
                    for _, session in items:
                        session.dirty = True


# --- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallFilter:
    start: datetime | None = None
    end: datetime | None = None
    status_class: int | None = None  # 2 for 2xx, 4 for 4xx, ...
    route: str | None = None
    method: str | None = None


def _days_newest_first(start: datetime, end: datetime) -> list[str]:
    first: date = start.astimezone(UTC).date()
    day: date = end.astimezone(UTC).date()
    days = []
    while day >= first:
        days.append(f"{day:%Y%m%d}")
        day -= timedelta(days=1)
    return days


def _window(start: datetime | None, end: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    """The range read: what was asked, within what the log can still hold (the last LOG_DAYS + 1)."""
    oldest = now - timedelta(days=LOG_DAYS + 1)
    low = max(start, oldest) if start is not None else oldest
    high = min(end, now) if end is not None else now
    if start is not None and end is not None and start > end:
        raise validation_failed([FieldError("from", "must not be after 'to'")])
    return low, high


class CallLogReader:
    """A partner's calls and sessions in one region, newest first."""

    def __init__(self, account: AccountStorage, clock: Clock):
        self.account = account
        self.clock = clock

    def list_calls(
        self, partner_id: str, filters: CallFilter, top: int, continuation: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        low, high = _window(filters.start, filters.end, self.clock.now())
        clauses = [f"RowKey ge {literal(_inverted(high, 0))}", f"RowKey le {literal(_inverted(low, 1))}"]
        if filters.status_class is not None:
            base = filters.status_class * 100
            clauses.append(f"status ge {base} and status lt {base + 100}")
        if filters.route is not None:
            clauses.append(tables.eq("route", filters.route))
        if filters.method is not None:
            clauses.append(tables.eq("method", filters.method.upper()))
        condition = " and ".join(clauses)
        # Bound to the partner and the filters as asked (not to `now`, which moves between pages).
        scope = f"{CALLS_TABLE}\n{partner_id}\n{_asked(filters.start, filters.end)}\n{filters}"
        position = decode_token(continuation, scope=scope)
        days = _days_newest_first(low, high)
        if position is not None:
            day = position.get("d")
            if not isinstance(day, str) or day not in days:
                return [], None
            days = days[days.index(day) :]
        table = self.account.table(CALLS_TABLE)
        items: list[dict[str, Any]] = []
        for index, day in enumerate(days):
            inner = position.get("t") if position is not None and position.get("d") == day else None
            query = f"{tables.partition(partition_of(partner_id, day))} and {condition}"
            while len(items) < top:
                rows, inner = tables.page_at(table, query, top - len(items), inner)
                items.extend(_call_out(row) for row in rows)
                if not inner:
                    break
            if len(items) >= top:
                if inner:
                    return items, encode_token({"d": day, "t": inner}, scope=scope)
                later = days[index + 1 :]
                return items, encode_token({"d": later[0], "t": None}, scope=scope) if later else None
        return items, None

    def list_sessions(
        self,
        partner_id: str,
        start: datetime | None,
        end: datetime | None,
        top: int,
        continuation: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        low, high = _window(start, end, self.clock.now())
        scope = f"{SESSIONS_TABLE}\n{partner_id}\n{_asked(start, end)}"
        position = decode_token(continuation, scope=scope)
        days = _days_newest_first(low, high)
        skip = 0
        if position is not None:
            day, offset = position.get("d"), position.get("o")
            if not isinstance(day, str) or day not in days or not isinstance(offset, str):
                return [], None
            days, skip = days[days.index(day) :], int(offset) if offset.isdigit() else 0
        table = self.account.table(SESSIONS_TABLE)
        items: list[dict[str, Any]] = []
        for index, day in enumerate(days):
            rows = list(self._day_sessions(table, partner_id, day, low, high))
            taken = rows[skip : skip + top - len(items)]
            items.extend(taken)
            consumed = skip + len(taken)
            skip = 0
            if len(items) >= top:
                if consumed < len(rows):
                    return items, encode_token({"d": day, "o": str(consumed)}, scope=scope)
                later = days[index + 1 :]
                return items, encode_token({"d": later[0], "o": "0"}, scope=scope) if later else None
        return items, None

    @staticmethod
    def _day_sessions(
        table: Any, partner_id: str, day: str, low: datetime, high: datetime
    ) -> Iterator[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for row in tables.query_json(table, tables.partition(partition_of(partner_id, day))):
            if len(rows) >= _SESSION_DAY_CAP:
                break
            at = parse_iso(row.get("at") or row.get("lastAt"))
            if low <= at <= high:
                rows.append(row)
        rows.sort(key=lambda kept: (str(kept.get("at") or ""), str(kept["RowKey"])), reverse=True)
        for kept in rows:
            yield _session_out(kept)


def _asked(start: datetime | None, end: datetime | None) -> str:
    return f"{start.isoformat() if start else ''}\n{end.isoformat() if end else ''}"


def _inverted(moment: datetime, extra: int) -> str:
    """The RowKey bound of a moment: calls at `moment` sort after `_inverted(moment, 0)`."""
    at_ms = int(moment.timestamp() * 1000)
    value = _MAX_MS - at_ms
    return f"{value:013d}" if extra == 0 else f"{value:013d}~~"


def _call_out(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row.get("requestId"),
        "at": row.get("at"),
        "method": row.get("method"),
        "route": row.get("route"),
        "status": int(row.get("status") or 0),
        "durationMs": int(row.get("durationMs") or 0),
        "problemType": row.get("problemType"),
        "problemTitle": row.get("problemTitle"),
        "caller": {"type": row.get("callerType"), "id": row.get("callerId")},
        "clientIp": row.get("clientIp"),
    }


def _session_out(row: dict[str, Any]) -> dict[str, Any]:
    actor = {"type": row.get("actorType"), "id": row.get("actorId")}
    if row.get("displayName"):
        actor["display"] = row.get("displayName")
    return {
        "kind": row.get("kind"),
        "at": row.get("at") or row.get("lastAt"),
        "lastAt": row.get("lastAt"),
        "actor": actor,
        "method": row.get("method"),
        "route": row.get("route"),
        "requestId": row.get("requestId"),
        "clientIp": row.get("clientIp"),
    }


# --- erasure --------------------------------------------------------------------------------

ERASED_CALLER = "[erased]"


def erase_caller(account: AccountStorage, partner_id: str, caller_id: str) -> dict[str, int]:
    """Takes one person or key out of the partner's call log and session events (erasure of a
    partner's person): their session rows go (they are about the person alone, with their name),
    their calls stay as the partner's record of its API use with the caller and network blanked.

    Reads the partner's rows of both tables (every day partition it still has, at most `LOG_DAYS`
    plus what a missed sweep left) with a server-side filter on the caller, so only their rows come
    back. Idempotent. A call still in an instance's buffer is written within `FLUSH_SECONDS`; the
    erasure is run after the person can no longer sign in, so nothing new arrives after that."""
    low, high = literal(f"{partner_id}~"), literal(f"{partner_id}~~")
    within = f"PartitionKey gt {low} and PartitionKey lt {high}"
    calls = account.table(CALLS_TABLE)
    blanked = [
        (
            "merge",
            {
                "PartitionKey": row["PartitionKey"],
                "RowKey": row["RowKey"],
                "callerId": ERASED_CALLER,
                "clientIp": "",
            },
        )
        for row in tables.query_json(
            calls, f"{within} and {tables.eq('callerId', caller_id)}", ["PartitionKey", "RowKey"]
        )
    ]
    tables.write_each(calls, blanked, tolerate=(404,))
    sessions = account.table(SESSIONS_TABLE)
    gone = [
        ("delete", row)
        for row in tables.query_json(
            sessions, f"{within} and {tables.eq('actorId', caller_id)}", ["PartitionKey", "RowKey"]
        )
    ]
    tables.write_each(sessions, gone, tolerate=(404,))
    return {"apiCalls": len(blanked), "sessionEvents": len(gone)}

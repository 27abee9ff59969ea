"""Anchors of the audit chains outside the table: each lane's head, appended to a write-once blob.

Someone who can write the events table could cut off its newest events and rewrite the lane's head
row, or (holding the MAC key) edit an event and recompute the chain after it; the table alone then
looks whole. So a timer copies every partner-lane head (partner, bucket, lane, seq, hash, the
event's RowKey and id, time) into an append blob per region and day, `auditanchors/<yyyy-mm-dd>.jsonl`,
in a container infra/ puts under a time-based immutability policy that allows protected appends
only (nothing in it can be changed or deleted, the app's identity holds no delete right). Verify
then checks the table against what was anchored (`shared/audit/verify.py`).

Writing is idempotent: a head already anchored (same partner, bucket, lane, seq and hash) is not
appended again, so a re-run or an unchanged lane adds nothing.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.clock import Clock, isoformat
from shared.storage import tables

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

    from shared.storage.router import AccountStorage

CONTAINER = "auditanchors"
HEAD = "~head-"
_BLOCK_BYTES = 4 * 1024 * 1024  # an append block's limit
# Anchors outlive the 24 months of the log they anchor by a month; the blob's immutability (infra/)
# ends before this, so the retention sweep can then delete them.
ANCHOR_DAYS = 770


@dataclass(frozen=True)
class Anchor:
    partner_id: str
    bucket: str
    lane: int
    seq: int
    hash: str
    row_key: str
    event_id: str
    at: str

    @property
    def key(self) -> tuple[str, str, int, int, str]:
        return (self.partner_id, self.bucket, self.lane, self.seq, self.hash)

    def line(self) -> str:
        return json.dumps(
            {
                "p": self.partner_id,
                "b": self.bucket,
                "l": self.lane,
                "s": self.seq,
                "h": self.hash,
                "rk": self.row_key,
                "e": self.event_id,
                "at": self.at,
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def parse(cls, line: str) -> Anchor | None:
        try:
            raw = json.loads(line)
            return cls(
                str(raw["p"]), str(raw["b"]), int(raw["l"]), int(raw["s"]), str(raw["h"]), str(raw["rk"]),
                str(raw["e"]), str(raw["at"]),
            )  # fmt: skip
        except (ValueError, KeyError, TypeError):
            return None  # a torn or foreign line anchors nothing


class _BlobCache:
    """What this process has read of each append blob: they only grow, so later reads fetch the tail."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._read: dict[tuple[str, str], tuple[int, bytes, list[Anchor]]] = {}

    def anchors(self, container: ContainerClient, name: str, size: int) -> list[Anchor]:
        """The anchors of blob `name`, whose size the caller just listed."""
        key = (container.url, name)
        with self._lock:
            length, tail, known = self._read.get(key, (0, b"", []))
        if size > length:
            blob = container.get_blob_client(name)
            data = tail + blob.download_blob(offset=length, length=size - length).readall()
            lines = data.split(b"\n")
            tail = lines.pop()  # an unfinished last line waits for the next read
            known = known + [a for a in (Anchor.parse(raw.decode()) for raw in lines if raw) if a is not None]
            with self._lock:
                self._read[key] = (size, tail, known)
        return known


_CACHE = _BlobCache()


def day_blob(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d}.jsonl"


def _month_prefix(bucket: str) -> str:
    digits = bucket[-6:]
    return f"{digits[:4]}-{digits[4:]}"


def _next_month_prefix(bucket: str) -> str:
    year, month = int(bucket[-6:-2]), int(bucket[-2:])
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return f"{year:04d}-{month:02d}"


class AnchorSource:
    """Where a verification finds anchors: none here (a check of the table alone)."""

    def for_bucket(self, partner_id: str, bucket: str) -> list[Anchor]:
        return []


class AnchorStore(AnchorSource):
    """The anchors of one region's account."""

    def __init__(self, account: AccountStorage, clock: Clock):
        self.account = account
        self.clock = clock

    def _container(self) -> ContainerClient:
        return self.account.container(CONTAINER)

    def _read(self, prefixes: Iterable[str]) -> list[Anchor]:
        container = self._container()
        found: list[Anchor] = []
        for prefix in prefixes:
            for blob in container.list_blobs(name_starts_with=prefix):
                found.extend(_CACHE.anchors(container, str(blob.name), int(blob.size or 0)))
        return found

    def for_bucket(self, partner_id: str, bucket: str) -> list[Anchor]:
        """The anchors of one partner's bucket: written in its month or the next (the month's last heads)."""
        prefixes = (_month_prefix(bucket), _next_month_prefix(bucket))
        return [a for a in self._read(prefixes) if a.partner_id == partner_id and a.bucket == bucket]

    def anchor(self, partner_ids: Iterable[str], buckets: Iterable[str]) -> int:
        """Appends every head of these partners in these buckets not anchored before; returns how many."""
        buckets = sorted(set(buckets))
        prefixes = {_month_prefix(b) for b in buckets} | {_next_month_prefix(b) for b in buckets}
        known = {a.key for a in self._read(sorted(prefixes))}
        now = self.clock.now()
        fresh: list[Anchor] = []
        service = self.account.table_service()
        existing = set(_existing_tables(self.account, buckets))
        for bucket in buckets:
            if bucket not in existing:
                continue
            table = service.get_table_client(bucket)
            for partner_id in partner_ids:
                heads = tables.query(
                    table,
                    f"{tables.partition(partner_id)} and RowKey ge {tables.literal(HEAD)} "
                    f"and RowKey lt {tables.literal(HEAD[:-1] + '.')}",
                )
                for head in heads:
                    lane = int(str(head["RowKey"])[len(HEAD) :])
                    anchor = Anchor(
                        partner_id, bucket, lane, int(head["seq"]), str(head["hash"]),
                        _event_row_key(table, partner_id, head), str(head.get("eventId", "")), isoformat(now),
                    )  # fmt: skip
                    if anchor.key not in known and anchor.row_key:
                        known.add(anchor.key)
                        fresh.append(anchor)
        if fresh:
            self._append(day_blob(now), [a.line() for a in fresh])
        return len(fresh)

    def _append(self, name: str, lines: list[str]) -> None:
        from azure.core.exceptions import ResourceExistsError

        blob = self._container().get_blob_client(name)
        with suppress(ResourceExistsError):  # today's blob exists: append to it
            blob.create_append_blob(if_none_match="*")
        block = b""
        for line in lines:
            data = (line + "\n").encode()
            if block and len(block) + len(data) > _BLOCK_BYTES:
                blob.append_block(block)
                block = b""
            block += data
        if block:
            blob.append_block(block)


def _existing_tables(account: AccountStorage, names: list[str]) -> list[str]:
    service = account.table_service()
    return [t.name for t in service.query_tables(" or ".join(f"TableName eq '{n}'" for n in names))]


def _event_row_key(table: Any, partner_id: str, head: dict[str, Any]) -> str:
    """The head event's RowKey: on the head row since anchoring began; found by id for older heads."""
    if head.get("eventRowKey"):
        return str(head["eventRowKey"])
    event_id = head.get("eventId")
    if not event_id:
        return ""
    for row in tables.query(
        table, f"{tables.partition(partner_id)} and {tables.eq('id', str(event_id))}", select=["RowKey"]
    ):
        return str(row["RowKey"])
    return ""


def anchored_buckets(now: datetime) -> list[str]:
    """The buckets a run anchors: this month's and, for the month's last heads, the previous one."""
    earlier = now.astimezone(UTC).replace(day=1) - timedelta(days=1)
    return sorted({f"events{now.astimezone(UTC):%Y%m}", f"events{earlier:%Y%m}"})


def anchor_region(account: AccountStorage, clock: Clock, partner_ids: Iterable[str]) -> int:
    """The timer's run for one region: anchors every head of these partners not anchored before."""
    return AnchorStore(account, clock).anchor(list(partner_ids), anchored_buckets(clock.now()))

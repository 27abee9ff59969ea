"""Verification of a partner's audit chains in bounded steps, newest first, against the anchors.

A step reads at most `STEP_ROWS` event rows and leaves its whole state in a small JSON-able dict
(per lane: the seq and link expected next, a few events that arrived out of order), so a large
month is verified by many short requests or queue messages instead of one long one. Rows are read
newest first (the RowKey order): each event's own link must check (its MAC under its key, or
SHA-256 for events older than the keyed chain), its seq must be the one the newer event expects and
its link the newer event's `prev`. A lane's first event of a month links to the lane's head of an
earlier month. Anchored heads must be found in the table with the anchored link.

What is reported is the oldest event found to differ (named by the id the row carries).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.audit.anchors import HEAD, Anchor, AnchorSource
from shared.audit.chain import MacKeys, links_correctly
from shared.storage import tablequery, tables

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

STEP_ROWS = 2000
GENESIS = "0" * 64
_PAGE = 1000  # Table storage's largest page
_MAX_PENDING = 64  # events of one lane that may arrive ahead of their turn (concurrent writers)
_SUBJECT_INDEX = "~subj-"


@dataclass(frozen=True)
class VerifyResult:
    valid: bool
    checked: int
    first_broken_event_id: str | None
    reason: str | None = None


def start_state(buckets_newest_first: list[str]) -> dict[str, Any]:
    return {
        "buckets": buckets_newest_first,
        "rk": None,
        "lanes": None,
        "carry": {},
        "checked": 0,
        "broken": None,
    }


def is_done(state: dict[str, Any]) -> bool:
    return not state["buckets"]


def result_of(state: dict[str, Any]) -> VerifyResult:
    broken = state["broken"]
    if broken is None:
        return VerifyResult(True, int(state["checked"]), None)
    return VerifyResult(False, int(state["checked"]), str(broken["id"]), str(broken["why"]))


class ChainVerifier:
    def __init__(self, account: AccountStorage, partner_id: str, keys: MacKeys, anchors: AnchorSource):
        self.account = account
        self.partner_id = partner_id
        self.keys = keys
        self.anchors = anchors

    def step(self, state: dict[str, Any], budget: int = STEP_ROWS) -> dict[str, Any]:
        """Reads at most `budget` event rows (plus a bucket's head rows) and returns the new state."""
        read = 0
        while state["buckets"] and read < budget:
            bucket = state["buckets"][0]
            table = self.account.table_service().get_table_client(bucket)
            if state["lanes"] is None:
                self._open_bucket(state, bucket, table)
            anchored = {a.row_key: a for a in self.anchors.for_bucket(self.partner_id, bucket)}
            start = state["rk"]
            last = start
            finished = False
            while read < budget:
                wanted = min(_PAGE, budget - read)
                rows = self._page(table, last, wanted)
                read += len(rows)
                for row in rows:
                    self._event(state, bucket, dict(row), anchored)
                    last = str(row["RowKey"])
                if len(rows) < wanted:
                    finished = True
                    break
            # Anchored heads in the RowKey range read must have been met (and matched) on the way.
            for row_key, anchor in anchored.items():
                in_range = (start is None or row_key > start) and (
                    finished or (last is not None and row_key <= last)
                )
                if in_range and row_key not in state.setdefault("met", []):
                    _broken(state, anchor.event_id, bucket, row_key, "anchored-event-missing")
            state["met"] = []
            state["rk"] = last
            if finished:
                self._close_bucket(state, bucket)
        return state

    def _page(self, table: Any, after: str | None, top: int) -> list[Any]:
        clauses = [tables.partition(self.partner_id), f"RowKey lt {tables.literal(HEAD)}"]
        if after is not None:
            clauses.append(f"RowKey gt {tables.literal(after)}")
        # Plain JSON, not the SDK's entities: its deserializer was a third of a step's time.
        rows, _ = tablequery.page(table, " and ".join(clauses), top)
        return rows

    def _open_bucket(self, state: dict[str, Any], bucket: str, table: Any) -> None:
        heads = tables.query(
            table,
            f"{tables.partition(self.partner_id)} and RowKey ge {tables.literal(HEAD)} "
            f"and RowKey lt {tables.literal(HEAD[:-1] + '.')}",
        )
        lanes: dict[str, Any] = {}
        for head in heads:
            lane = str(head["RowKey"])[len(HEAD) :]
            event_id = str(head.get("eventId", ""))
            lanes[lane] = {"s": int(head["seq"]), "h": str(head["hash"]), "o": event_id, "ork": "", "p": {}}
            carried = state["carry"].pop(lane, None)
            if carried is not None and carried["h"] != str(head["hash"]):
                # The newer month's first event of this lane links to another head than this one.
                _broken(state, carried["o"], carried["b"], carried["rk"], "link-to-earlier-month")
        state["lanes"] = lanes
        state["rk"] = None
        state["met"] = []

    def _event(
        self, state: dict[str, Any], bucket: str, row: dict[str, Any], anchored: dict[str, Anchor]
    ) -> None:
        if str(row["RowKey"]).startswith(_SUBJECT_INDEX):
            return
        state["checked"] += 1
        row_key = str(row["RowKey"])
        event_id = str(row.get("id", ""))
        lane = str(row.get("lane", ""))
        lanes = state["lanes"]
        anchor = anchored.get(row_key)
        if anchor is not None:
            state.setdefault("met", []).append(row_key)
            if (
                anchor.hash != str(row.get("hash"))
                or anchor.seq != _int(row.get("seq"))
                or str(anchor.lane) != lane
            ):
                _broken(state, event_id, bucket, row_key, "differs-from-anchor")
        try:
            seq = int(row["seq"])
            own_link_ok = links_correctly(row, self.keys)
        except (KeyError, TypeError, ValueError):
            seq, own_link_ok = -1, False
        if lane not in lanes:
            # Every append writes its lane's head with the event: events without a head were not appended.
            _broken(state, event_id, bucket, row_key, "no-head")
            lanes[lane] = {"s": seq, "h": str(row.get("hash")), "o": event_id, "ork": row_key, "p": {}}
        st = lanes[lane]
        if not own_link_ok:
            _broken(state, event_id, bucket, row_key, "event-link")
            if seq == st["s"] and str(row.get("hash")) == st["h"]:
                # Content edited in place (its link still the one its lane expects): go on from what
                # it claims, so the rest of the lane is checked. An event whose lane or link was
                # edited is not taken for another event's place, which would break an innocent one.
                self._advance(
                    state, bucket, st, [str(row.get("hash")), str(row.get("prev")), event_id, row_key, False]
                )
                self._drain(state, bucket, st)
            # Otherwise it claims another place (lane, seq): the gap it left is found at its lane's end.
            return
        if row.get("kid") and st.get("legacy"):
            # A keyed event older than an unkeyed one in its lane: the newer one was rewritten by SHA-256.
            _broken(state, st["o"], bucket, st["ork"], "unkeyed-after-keyed")
        if seq == st["s"]:
            self._advance(
                state, bucket, st, [str(row["hash"]), str(row["prev"]), event_id, row_key, not row.get("kid")]
            )
            self._drain(state, bucket, st)
        elif 0 < seq < st["s"]:
            st["p"][str(seq)] = [str(row["hash"]), str(row["prev"]), event_id, row_key, not row.get("kid")]
            if len(st["p"]) > _MAX_PENDING:
                _broken(state, st["o"], bucket, st["ork"], "chain-gap")
                newest = max(int(s) for s in st["p"])
                st["s"] = newest
                st["h"] = st["p"][str(newest)][0]
                self._drain(state, bucket, st)
        else:
            _broken(state, event_id, bucket, row_key, "seq")

    def _advance(self, state: dict[str, Any], bucket: str, st: dict[str, Any], event: list[Any]) -> None:
        hash_, prev, event_id, row_key, legacy = event
        if hash_ != st["h"]:
            # The newer event (or the head) names another link than this event's: one of them differs.
            _broken(state, st["o"] or event_id, bucket, st["ork"] or row_key, "link")
        st["s"] -= 1
        st["h"] = prev
        st["o"] = event_id
        st["ork"] = row_key
        # Only the newer neighbour matters: keyed events are newer than unkeyed ones, never older.
        st["legacy"] = bool(legacy)

    def _drain(self, state: dict[str, Any], bucket: str, st: dict[str, Any]) -> None:
        while str(st["s"]) in st["p"]:
            self._advance(state, bucket, st, st["p"].pop(str(st["s"])))

    def _close_bucket(self, state: dict[str, Any], bucket: str) -> None:
        for lane, st in sorted(state["lanes"].items()):
            if st["p"] or st["s"] != 0:
                # A seq is missing: the event after the gap (or the head's event, when the newest went)
                # is the first one that no longer fits.
                _broken(state, st["o"], bucket, st["ork"], "chain-gap")
            elif st["h"] != GENESIS:
                state["carry"][lane] = {"h": st["h"], "o": st["o"], "b": bucket, "rk": st["ork"]}
        state["buckets"] = state["buckets"][1:]
        state["lanes"] = None
        state["rk"] = None


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _broken(state: dict[str, Any], event_id: str, bucket: str, row_key: str, why: str) -> None:
    """Keeps the oldest break: an earlier bucket, or in one bucket the larger RowKey (older)."""
    found = state["broken"]
    candidate = {"id": event_id, "b": bucket, "rk": row_key, "why": why}
    if found is None or (bucket, _older(row_key)) < (found["b"], _older(found["rk"])):
        state["broken"] = candidate


def _older(row_key: str) -> str:
    """Sorts older rows first: RowKeys count time backwards, so the larger one is older; '' is newest."""
    return "".join(chr(0x10FFFF - ord(c)) for c in row_key) if row_key else "\U0010ffff"

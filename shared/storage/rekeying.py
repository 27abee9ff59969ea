"""Re-keying in the background: rows wrapped or sealed under an older master version move to the newest.

A master that wraps or seals stored values (the subject-key master, the device-token keys) keeps
its older versions configured until nothing stored depends on them. Each area says how its rows
depend on a master (`Rekeying`: the table, the columns, the key ids a row depends on, and the
columns a row gets when sealed again under the current version); `RekeyJob` walks each such table
of one region in pages of `page_size` rows, at most `max_pages` pages per run, and saves where it
stands in `keyrewraps` (one row per rekeying: the table's own continuation) after every page, so
a run cut short (the budget, a crash, a restart) resumes at the page it was on. A pass that reaches
the end removes its row; the next run starts a new pass.

Each row is written under the ETag it was read with (a merge of the re-sealed columns only): a
writer that changed the row meanwhile wins and the job skips it until the next pass, and a row
deleted meanwhile (an erased subject's key) is never written back. Rekeying a row twice is
harmless, as a row already under the current version is left alone, so a page re-read after a
crash costs reads only. A row that does not open (its version dropped too early, damaged) is
counted as failed and left as it is. The timer (`functions/keys.py`) runs one job per region,
daily; a run reads at most 100,000 rows, so a larger table takes several days per pass.

A row whose keys are the hash (an index entry) cannot be re-sealed in place: its rekeying answers
a `Move` instead. The job writes the new row, asks `holds()` (is what the row was made from still
there?), and only then deletes the old row under its ETag; when it no longer holds, the new row goes
too, so a concurrent erasure (which deletes what entries point to before the entries) is never undone.
A `Move` to nowhere deletes a row that indexes nothing any more.

`count_key_ids` is the same walk for the operator's report of key versions, bounded in rows.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from shared.storage import tables

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

STATE_TABLE = "keyrewraps"
STATE_PARTITION = "rekey"
CURSOR = "cursor"
EVERY_ROW = "RowKey ne ''"


@dataclass(frozen=True)
class Move:
    """A row to write anew under other keys (`to`: keys and columns) before the old one is deleted,
    or None when the old one goes without a successor. `holds` is asked once the new row is written."""

    to: dict[str, Any] | None
    holds: Callable[[], bool] = field(default=lambda: True, repr=False)


class Rekeying(Protocol):
    """How the rows of one table depend on one master."""

    master: str  # the master's name in key ids and in the report (`subjectkey`, `tokencipher`)
    table: str
    columns: tuple[str, ...]  # what `key_ids` and `rekey` read (keys and ETag come anyway)
    where: str  # the rows that may hold such values (`EVERY_ROW`, or a range of row keys)

    def key_ids(self, row: Any) -> list[str]:
        """The key ids the row's values depend on (one per value)."""
        ...

    def rekey(self, row: Any) -> dict[str, Any] | Move | None:
        """The columns to write so the row depends on the current version only (a `Move` when its
        keys do), or None when it already does."""
        ...


@dataclass
class RekeyOutcome:
    """One rekeying's run: rows read and moved, rows a concurrent writer had changed (skipped), and
    whether the pass reached the end of the table."""

    name: str
    read: int = 0
    rekeyed: int = 0
    skipped: int = 0
    failed: int = 0  # rows that could not be opened: the report of key versions shows their key id
    dropped: int = 0  # rows deleted without a successor (`Move` to nowhere, or one that no longer held)
    complete: bool = False


@dataclass
class RekeyJob:
    """The re-keying of one region's account; `after_page(name, pages)` runs once a page's cursor
    is saved (tests stop a run there, as a crash would)."""

    account: AccountStorage
    rekeyings: Sequence[tuple[str, Rekeying]]
    page_size: int = 1000
    max_pages: int = 100
    after_page: Callable[[str, int], None] | None = field(default=None, repr=False)

    def run(self) -> list[RekeyOutcome]:
        """Each rekeying in turn, until the page budget is spent (the rest waits for the next run)."""
        budget = self.max_pages
        outcomes = []
        for name, rekeying in self.rekeyings:
            outcome, used = self._walk(name, rekeying, budget)
            outcomes.append(outcome)
            budget -= used
            if budget <= 0:
                break
        return outcomes

    def _state(self) -> Any:
        return self.account.table(STATE_TABLE)

    @staticmethod
    def _rekey(rekeying: Rekeying, row: Any, outcome: RekeyOutcome) -> dict[str, Any] | Move | None:
        try:
            return rekeying.rekey(row)
        except Exception:  # a row that cannot be opened (its version dropped, damaged) stays as it is
            outcome.failed += 1
            return None

    def _walk(self, name: str, rekeying: Rekeying, budget: int) -> tuple[RekeyOutcome, int]:
        outcome = RekeyOutcome(name)
        saved = tables.get(self._state(), STATE_PARTITION, name)
        position = json.loads(str(saved[CURSOR])) if saved is not None and saved.get(CURSOR) else None
        table = self.account.table(rekeying.table)
        pages = 0
        while pages < budget:
            rows, position = tables.page_at(
                table, rekeying.where, self.page_size, position, _select(rekeying)
            )
            pages += 1
            outcome.read += len(rows)
            changes = [(row, self._rekey(rekeying, row, outcome)) for row in rows]
            for row, new in changes:
                if isinstance(new, Move):
                    _move(table, row, new, outcome)
            updates = [
                ("update", {"PartitionKey": row["PartitionKey"], "RowKey": row["RowKey"], **new}, row.etag)
                for row, new in changes
                if isinstance(new, dict)
            ]
            applied = tables.write_each(table, updates, tolerate=(404, 412)) if updates else []
            outcome.rekeyed += sum(applied)
            outcome.skipped += len(applied) - sum(applied)
            if position is None:
                tables.delete(self._state(), STATE_PARTITION, name)
                outcome.complete = True
                return outcome, pages
            self._state().upsert_entity(
                {"PartitionKey": STATE_PARTITION, "RowKey": name, CURSOR: json.dumps(position)}
            )
            if self.after_page is not None:
                self.after_page(name, pages)
        return outcome, pages


def _move(table: Any, row: Any, move: Move, outcome: RekeyOutcome) -> None:
    """The new row first, then the old one under its ETag (a row changed meanwhile stays until the
    next pass); a new row whose source is gone meanwhile is deleted again."""
    from azure.core.exceptions import HttpResponseError

    if move.to is not None:
        table.upsert_entity(move.to)
        if not move.holds():
            tables.delete(table, str(move.to["PartitionKey"]), str(move.to["RowKey"]))
            move = Move(None)
    try:
        tables.delete(table, str(row["PartitionKey"]), str(row["RowKey"]), row.etag)
    except HttpResponseError as error:
        if error.status_code not in (404, 412):
            raise
        if move.to is None or error.status_code == 412:
            outcome.skipped += 1
            return
    if move.to is None:
        outcome.dropped += 1
    else:
        outcome.rekeyed += 1


def _select(rekeying: Rekeying) -> list[str]:
    return ["PartitionKey", "RowKey", *rekeying.columns]


@dataclass
class KeyIdCounts:
    """Stored values per key id, and whether every row was read (False: the scan stopped at its
    bound, so the counts are a floor)."""

    found: dict[str, int] = field(default_factory=dict)
    complete: bool = True

    def add(self, other: KeyIdCounts) -> None:
        for key, count in other.found.items():
            self.found[key] = self.found.get(key, 0) + count
        self.complete = self.complete and other.complete


def count_key_ids(account: AccountStorage, rekeying: Rekeying, limit: int = 100_000) -> KeyIdCounts:
    """How many of a table's values depend on each key id, reading at most `limit` rows."""
    table = account.table(rekeying.table)
    return count_rows(
        (rekeying.key_ids(row) for row in tables.query_json(table, rekeying.where, _select(rekeying))), limit
    )


def count_rows(key_ids_per_row: Iterable[list[str]], limit: int) -> KeyIdCounts:
    """Counts key ids over rows until `limit` rows have been read."""
    found: Counter[str] = Counter()
    for read, key_ids in enumerate(key_ids_per_row):
        if read >= limit:
            return KeyIdCounts(dict(found), complete=False)
        found.update(key_ids)
    return KeyIdCounts(dict(found))


# --- the operator's report of key versions ---

DependencyCounter = Callable[["AccountStorage"], KeyIdCounts]


@dataclass(frozen=True)
class MasterInUse:
    """One master as configured (key ids, the current one first), how what depends on an old
    version moves to the current one, and the counters of stored values per key id (each run
    over every region's account)."""

    name: str
    setting: str
    versions: Sequence[str]
    moved_by: str
    counters: Sequence[DependencyCounter] = ()
    # Key ids the counters report that stand for a configured one (`legacy` hashes: version 1).
    aliases: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VersionUse:
    key_id: str
    current: bool
    configured: bool
    dependents: int | None  # None: nothing stored records this master's key ids


@dataclass(frozen=True)
class MasterUse:
    name: str
    setting: str
    moved_by: str
    complete: bool
    versions: list[VersionUse]


def key_version_report(accounts: Sequence[AccountStorage], masters: Sequence[MasterInUse]) -> list[MasterUse]:
    """Per master and version: current or not, and how many stored values still depend on it. A
    key id found in storage that no setting holds any more is listed too (`configured` false):
    those values cannot be read until the version is put back."""
    report = []
    for master in masters:
        counts = KeyIdCounts()
        for account in accounts:
            for counter in master.counters:
                counts.add(counter(account))
        found: dict[str, int] = {}
        for key, count in counts.found.items():
            name = master.aliases.get(key, key)
            found[name] = found.get(name, 0) + count
        counted = bool(master.counters)
        versions = [
            VersionUse(key, index == 0, True, found.pop(key, 0) if counted else None)
            for index, key in enumerate(master.versions)
        ]
        versions += [VersionUse(key, False, False, count) for key, count in sorted(found.items())]
        report.append(MasterUse(master.name, master.setting, master.moved_by, counts.complete, versions))
    return report

"""Retention rules for data that ends by age alone: blobs, queue messages, subject keys, sweep state."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.audit.poison import TABLE as POISON_MESSAGES
from shared.audit.seal import KEY_ROW, SUBJECT_ROW, USED_MONTH
from shared.audit.seal import TABLE as SUBJECT_KEYS
from shared.clock import isoformat
from shared.partners.subscription import add_months
from shared.privacy.retention import EVENT_LOG_MONTHS, Candidate, SweepScope, delete_row
from shared.storage import tables

# Azure drops a queue message at its time-to-live: 7 days unless a sender sets another, and
# `shared.storage.queues.enqueue` (the one way Tenantry enqueues) sets none.
MESSAGE_LIFETIME = timedelta(days=7)
SUBJECT_KEY_CATEGORY = "cryptographic keys (per data subject, wrapped)"


class BlobsOlderThan:
    """Blobs of one container go `days` after they were written.

    The stamp's storage lifecycle policy does the same; the sweep is the promise kept where no
    policy runs (Azurite, a stamp deployed without it) and the evidence in the sweep report.
    """

    def __init__(self, name: str, container: str, category: str, days: int, *, tested_by: str):
        self.name = name
        self.container = container
        self.category = category
        self.days = days
        self.covers = (container,)
        self.tested_by = tested_by

    def candidates(self, scope: SweepScope, after: str | None) -> Iterator[Candidate]:
        cutoff = scope.as_of - timedelta(days=self.days)
        for blob in scope.account.container(self.container).list_blobs():  # name order
            if after is not None and blob.name <= after:
                continue
            written = blob.creation_time or blob.last_modified
            if written is not None and written <= cutoff:
                yield Candidate(blob.name, self.category, blob.name)

    def delete(self, scope: SweepScope, candidate: Candidate) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            scope.account.container(self.container).delete_blob(str(candidate.ref))
        except ResourceNotFoundError:
            return False
        return True


class QueueMessageLifetime:
    """Queue messages end by themselves: the storage service drops each at its time-to-live.

    Nothing is due for the sweep (a message cannot be deleted without taking it from a worker);
    the rule states the end and names the test that checks the lifetime every enqueue stamps.
    """

    name = "queues.message-lifetime"
    covers = (
        "privacyjobs",
        "tenantsync",
        "tenantoffboard",
        "standardrun",
        "notifyfanout",
        "alertevents",
        "alertsend",
        "alertretry",
        "partnerexport",
        "auditverify",
    )
    tested_by = "tests/integration/test_retention_rules.py::test_queue_messages_end_within_seven_days"

    def candidates(self, scope: SweepScope, after: str | None) -> Iterator[Candidate]:
        return iter(())

    def delete(self, scope: SweepScope, candidate: Candidate) -> bool:
        return False


POISON_RECORD_DAYS = 30


class PoisonRecords:
    """Why a queue message was given up on is kept 30 days after it was recorded: long enough to
    look into and replay, whichever partition (partner or system) holds the row."""

    name = "poisonmessages.age"
    covers = (POISON_MESSAGES,)
    tested_by = (
        "tests/integration/test_poison_retention.py::test_poison_records_go_30_days_after_they_were_made"
    )

    def candidates(self, scope: SweepScope, after: str | None) -> Iterator[Candidate]:
        cutoff = isoformat(scope.as_of - timedelta(days=POISON_RECORD_DAYS))
        rows = scope.account.table(POISON_MESSAGES).query_entities(
            f"recordedAt lt {tables.literal(cutoff)}", select=["PartitionKey", "RowKey"]
        )
        for key in sorted(f"{r['PartitionKey']}|{r['RowKey']}" for r in rows):
            if after is None or key > after:
                yield Candidate(key, "queue failure records", tuple(key.split("|", 1)))

    def delete(self, scope: SweepScope, candidate: Candidate) -> bool:
        partition, row = candidate.ref
        return delete_row(scope.account.table(POISON_MESSAGES), partition, row)


class SweepRunState:
    """The sweep's own rows: the run state goes when a run completes, the lease when it stops.

    The sweeper removes both itself (`RetentionSweeper`); nothing else is ever due.
    """

    name = "privacysweeps.run-state"
    covers = ("privacysweeps",)
    tested_by = "tests/integration/test_retention_rules.py::test_a_completed_sweep_leaves_no_run_state"

    def candidates(self, scope: SweepScope, after: str | None) -> Iterator[Candidate]:
        return iter(())

    def delete(self, scope: SweepScope, candidate: Candidate) -> bool:
        return False


class RekeyRunState:
    """The re-keying job's cursors (`shared/storage/rekeying.py`): one row per table being walked,
    removed by the job itself when its pass reaches the end; nothing else is ever due."""

    name = "keyrewraps.run-state"
    covers = ("keyrewraps",)
    tested_by = "tests/integration/test_key_rotation.py::test_a_job_cut_short_resumes_where_it_stood"

    def candidates(self, scope: SweepScope, after: str | None) -> Iterator[Candidate]:
        return iter(())

    def delete(self, scope: SweepScope, candidate: Candidate) -> bool:
        return False


def _month_start(month: str) -> datetime:
    return datetime(int(month[:4]), int(month[4:6]), 1, tzinfo=UTC)


class UnusedSubjectKeys:
    """A subject's key goes once no event it sealed can still exist: 24 months after the month it
    last sealed one (the event tables of that month are dropped then too, `events.buckets`).

    Both rows go: the pointer that holds the subject's id first, and only in the version read (a
    key a writer used again meanwhile stays), then the key.
    """

    name = "subjectkeys.unused"
    covers = (SUBJECT_KEYS,)
    tested_by = (
        "tests/integration/test_retention_rules.py::test_subject_keys_go_24_months_after_their_last_use"
    )

    def candidates(self, scope: SweepScope, after: str | None) -> Iterator[Candidate]:
        rows = scope.account.table(SUBJECT_KEYS).query_entities(
            # Pointer rows (`s~...`) sort after key rows (`k~...`) and before anything starting `t`.
            f"RowKey ge '{SUBJECT_ROW}' and RowKey lt 't'",
            select=["PartitionKey", "RowKey", USED_MONTH],
        )
        for row in rows:
            key = f"{row['PartitionKey']}|{row['RowKey']}"
            if (after is None or key > after) and self._unused(row, scope.as_of):
                yield Candidate(key, SUBJECT_KEY_CATEGORY, (str(row["PartitionKey"]), str(row["RowKey"])))

    @staticmethod
    def _unused(entity: Any, as_of: datetime) -> bool:
        month = entity.get(USED_MONTH)
        if month:
            last = _month_start(str(month))
        else:
            # A key stored before keys carried their month: the row's last write stands in for it.
            stamp = entity.metadata.get("timestamp")
            if stamp is None:
                return False
            last = stamp.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return add_months(last, EVENT_LOG_MONTHS + 1) <= as_of

    def delete(self, scope: SweepScope, candidate: Candidate) -> bool:
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        partition, row_key = candidate.ref
        table = scope.account.table(SUBJECT_KEYS)
        try:
            pointer = table.get_entity(partition, row_key)
        except ResourceNotFoundError:
            return False
        if not self._unused(pointer, scope.as_of):
            return False  # used again since the candidate was listed
        # The pointer first and only in the version read: a writer sealing with the key this
        # instant refreshes its month (a new version), so the delete fails and the key stays.
        try:
            table.delete_entity(
                partition,
                row_key,
                etag=pointer.metadata["etag"],
                match_condition=MatchConditions.IfNotModified,
            )
        except HttpResponseError:
            return False
        tables.delete(table, partition, KEY_ROW + str(pointer["kid"]))
        return True

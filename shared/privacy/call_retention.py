"""The retention rule of the API call log and the session events: a partner's day goes whole after 90 days."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from shared.audit.calls import CALLS_TABLE, LOG_DAYS, SESSIONS_TABLE, day_of_partition
from shared.privacy.retention import Candidate, SweepScope, partners_of
from shared.storage import tables

CALL_LOGS = "API call logs"
SESSION_EVENTS = "personnel data (session events)"


class DailyLogPartitions:
    """A partner's day of calls or sessions (one partition) goes once the whole day is more than
    `LOG_DAYS` old: a call at any time on day D is kept through D + 90 and gone on D + 91.

    Each candidate is a partition found by a key-range read of the partner's partitions before the
    cutoff day, so a sweep reads only what is due, and one missed for weeks still finds every day.
    """

    def __init__(self, name: str, table: str, category: str, *, tested_by: str):
        self.name = name
        self.table = table
        self.category = category
        self.covers = (table,)
        self.tested_by = tested_by

    def candidates(self, scope: SweepScope, after: str | None) -> Iterator[Candidate]:
        cutoff = f"{(scope.as_of - timedelta(days=LOG_DAYS)).date():%Y%m%d}"
        table = scope.account.table(self.table)
        for partner in partners_of(scope):
            if after is not None and partner.id < after.split("|", 1)[0]:
                continue
            low, high = f"{partner.id}~", f"{partner.id}~{cutoff}"
            condition = f"PartitionKey gt {tables.literal(low)} and PartitionKey lt {tables.literal(high)}"
            last = None
            for row in tables.query_json(table, condition, ["PartitionKey"]):
                partition = str(row["PartitionKey"])
                if partition == last:
                    continue
                last = partition
                key = f"{partner.id}|{day_of_partition(partition)}"
                if after is None or key > after:
                    yield Candidate(key, self.category, partition)

    def delete(self, scope: SweepScope, candidate: Candidate) -> bool:
        return tables.delete_partition(scope.account.table(self.table), str(candidate.ref)) > 0


_TEST = "tests/integration/test_call_log_store.py::test_a_day_of_calls_and_sessions_goes_after_90_days"


def call_log_rules() -> list[DailyLogPartitions]:
    return [
        DailyLogPartitions("apicalls.days", CALLS_TABLE, CALL_LOGS, tested_by=_TEST),
        DailyLogPartitions("sessionevents.days", SESSIONS_TABLE, SESSION_EVENTS, tested_by=_TEST),
    ]

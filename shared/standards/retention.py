"""Retention of the standards area: runs go 90 days after they were made, assignments with the
partner's other configuration (24 months after the subscription ends)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from shared.clock import isoformat
from shared.privacy.retention import (
    CONFIGURATION,
    Candidate,
    PartitionRows,
    SweepScope,
    delete_row,
    personnel_data_at,
)
from shared.standards.assignments import ASSIGNMENTS
from shared.standards.runs import RUNS
from shared.storage import tables

RUN_LIFETIME = timedelta(days=90)
_TESTS = "tests/integration/test_standard_runs.py::"


class StandardRunHistory:
    """A run's rows (the run and its per-tenant lines) go `RUN_LIFETIME` after the run was made; the
    compliance rows keep each tenant's latest finding. Every row carries the run's `createdAt`."""

    name = "standards.run-history"
    covers = (RUNS,)
    tested_by = _TESTS + "test_runs_go_ninety_days_after_they_were_made_and_assignments_with_the_partner"

    def candidates(self, scope: SweepScope, after: str | None) -> Iterator[Candidate]:
        cutoff = isoformat(scope.as_of - RUN_LIFETIME)
        rows = scope.account.table(RUNS).query_entities(
            f"createdAt le {tables.literal(cutoff)}", select=["PartitionKey", "RowKey"]
        )
        keys = sorted(f"{row['PartitionKey']}|{row['RowKey']}" for row in rows)
        for key in keys:
            if after is None or key > after:
                yield Candidate(key, CONFIGURATION, tuple(key.split("|", 1)))

    def delete(self, scope: SweepScope, candidate: Candidate) -> bool:
        partner_id, row_key = candidate.ref
        return delete_row(scope.account.table(RUNS), partner_id, row_key)


def assignment_rows() -> PartitionRows:
    """A terminated partner's assignments, with its other configuration and personnel data."""
    return PartitionRows(
        "standards.assignments",
        ASSIGNMENTS,
        CONFIGURATION,
        personnel_data_at,
        tested_by=_TESTS + "test_runs_go_ninety_days_after_they_were_made_and_assignments_with_the_partner",
    )

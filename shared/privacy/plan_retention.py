"""Retention of the plan catalogue: a superseded plan version goes once no invoice could still need it."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise

from shared.partners.plans import NOTICE, TABLE, PlanVersion, version_from_row
from shared.partners.subscription import add_months
from shared.privacy.retention import ADMINISTRATION, Candidate, SweepScope, delete_row
from shared.storage import tables

# Invoices carry their own prices; a version is kept for the longest an administration record may
# be asked about the catalogue behind it: 10 years after the version replacing it took effect.
KEEP_YEARS = 10


class SupersededPlanVersions:
    name = "plans.superseded"
    covers = (TABLE,)
    tested_by = (
        "tests/integration/test_plan_catalogue.py::"
        "test_a_superseded_plan_version_is_swept_ten_years_after_its_successor"
    )

    def candidates(self, scope: SweepScope, after: str | None) -> Iterator[Candidate]:
        # The catalogue sits in the control account: one region's sweep (the first) looks after it.
        if scope.region != sorted(scope.router.regions)[0]:
            return
        by_plan: dict[str, list[PlanVersion]] = {}
        for row in tables.query(scope.router.control.table(TABLE), "PartitionKey ne ''"):
            by_plan.setdefault(str(row["PartitionKey"]), []).append(version_from_row(row))
        due = []
        for plan_id, versions in by_plan.items():
            versions.sort(key=lambda v: v.version)
            for version, successor in pairwise(versions):
                if add_months(successor.announced_at + NOTICE, 12 * KEEP_YEARS) <= scope.as_of:
                    due.append(Candidate(f"{plan_id}/{version.version:06d}", ADMINISTRATION, version))
        for candidate in sorted(due, key=lambda c: c.key):
            if after is None or candidate.key > after:
                yield candidate

    def delete(self, scope: SweepScope, candidate: Candidate) -> bool:
        version: PlanVersion = candidate.ref
        return delete_row(scope.router.control.table(TABLE), version.plan_id, f"{version.version:06d}")

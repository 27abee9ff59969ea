"""Retention sweeps: every retention rule of the design, applied per region, resumable and bounded.

Areas plug their data in by implementing `RetentionRule` (or the `PartnerDataRule` helper for
data that goes at a date of a terminated partner's deletion schedule) and registering it with the
`RetentionRegistry` the composition root builds (functions/deps.py). A rule only lists what is due
(`candidates`, in ascending key order) and deletes one item (`delete`, True only if it removed
something now). The sweeper does the rest:

- one run per region has a fixed reference time (`asOf`), a cursor per rule and running counts,
  saved in the `privacysweeps` table every few items and whenever it stops;
- an invocation works until its time budget is spent, then saves and stops; the next invocation
  resumes the same run from the cursor, so nothing is missed;
- deletes are idempotent (an item already gone counts zero), so an invocation cut off between a
  delete and the next save deletes nothing twice and counts nothing twice;
- each invocation appends a report event (counts per data category) to the region's event log;
- a dry run lists and counts what would go, touching nothing (not even the cursor).
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from shared.audit.log import BUCKET_PREFIX, AuditLog, NewEvent
from shared.clock import Clock, isoformat, parse_iso
from shared.ids import new_id
from shared.partners import subscription as subs
from shared.partners.directory import tenant_entry
from shared.partners.subscription import Subscription, add_months
from shared.storage import tables

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage, StorageRouter

STATE_TABLE = "privacysweeps"
SETTINGS_TABLE = "privacysettings"
SYSTEM_PARTITION = "system"  # the event-log partition of region-level events (sweep reports)

EVENT_LOG_MONTHS = 24
ADMIN_RECORD_YEARS = 7
ADMIN_RECORD_YEARS_ALLOWED = (7, 10)

# Where the foundation's rules are proven (see `RetentionRule.tested_by`).
_RETENTION_TESTS = "tests/integration/test_privacy_retention.py::"
_PERSONNEL_TEST = _RETENTION_TESTS + "test_personnel_keys_and_groups_go_24_months_after_termination"

# Data categories, in the words of the design's retention table.
EVENT_LOGS = "event / audit logs"
PERSONNEL = "personnel data"
CONFIGURATION = "configuration"
ADMINISTRATION = "billing/administration records"


@dataclass(frozen=True)
class SweepScope:
    """What a rule works on: one region's account, the control account, the run's reference time."""

    region: str
    account: AccountStorage
    router: StorageRouter
    as_of: datetime


@dataclass(frozen=True)
class Candidate:
    """One item that is due. `key` orders candidates within a rule and is the resume cursor."""

    key: str
    category: str
    ref: Any = None


class RetentionRule(Protocol):
    """What an area implements to have its data swept. `name` is stable: it keys the cursor.

    `covers` names the catalogue entries whose data the rule ends and `tested_by` the test
    (`tests/<file>.py::<function>`) that moves the clock across its date: a catalogue entry no
    registered rule covers, or a rule without such a test, fails tests/unit/test_retention_coverage.py.
    """

    name: str

    @property
    def covers(self) -> tuple[str, ...]: ...

    @property
    def tested_by(self) -> str: ...

    def candidates(self, scope: SweepScope, after: str | None) -> Iterable[Candidate]:
        """Due items with key > `after`, in ascending key order."""
        ...

    def delete(self, scope: SweepScope, candidate: Candidate) -> bool:
        """Removes one item; True only if something was removed by this call."""
        ...


class RetentionRegistry:
    """The rules a sweep applies, in order. Built once by the composition root."""

    def __init__(self, rules: Iterable[RetentionRule] = ()):
        self._rules: list[RetentionRule] = []
        for rule in rules:
            self.register(rule)

    def register(self, rule: RetentionRule) -> None:
        if any(existing.name == rule.name for existing in self._rules):
            raise ValueError(f"retention rule {rule.name!r} is registered twice")
        self._rules.append(rule)

    def rules(self) -> list[RetentionRule]:
        """The rules in registration order, the administration records last: rules due at a
        partner's dates find the partner by its row, and a sweep missed for years makes every date
        due at once, so the row that goes last must go after all of them."""
        return sorted(self._rules, key=lambda rule: isinstance(rule, AdministrationRecords))


# --- helpers for rules ----------------------------------------------------------------------


def _missing_ok(action: Callable[[], object]) -> bool:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        action()
    except ResourceNotFoundError:
        return False
    return True


def _exists(
    table: Any, partition_key: str, row_key: str, matches: Callable[[Any], bool] = lambda row: True
) -> bool:
    row = tables.get(table, partition_key, row_key)
    return row is not None and matches(row)


def delete_row(table: Any, partition_key: str, row_key: str) -> bool:
    """Deletes one row; True only if it was there. (The SDK's delete answers a missing row silently,
    so a point read first tells a resumed sweep what it already removed.)"""
    if tables.get(table, partition_key, row_key, select=["RowKey"]) is None:
        return False
    tables.delete(table, partition_key, row_key)
    return True


@dataclass(frozen=True)
class PartnerRecord:
    id: str
    subscription: Subscription  # advanced to the sweep's reference time


def partners_of(scope: SweepScope) -> Iterator[PartnerRecord]:
    """Every partner stored in the region, in id order (one row each: a cheap scan)."""
    rows = scope.account.table("partners").query_entities(
        "RowKey eq 'partner'", select=["PartitionKey", "subscription"]
    )
    found = [
        PartnerRecord(
            str(row["PartitionKey"]),
            subs.advance(Subscription.model_validate_json(str(row["subscription"])), scope.as_of),
        )
        for row in rows
    ]
    return iter(sorted(found, key=lambda p: p.id))


def end_user_data_at(sub: Subscription) -> datetime | None:
    schedule = sub.deletion_schedule
    return schedule.end_user_data_at if schedule and sub.state is subs.SubscriptionState.TERMINATED else None


def personnel_data_at(sub: Subscription) -> datetime | None:
    schedule = sub.deletion_schedule
    return schedule.personnel_data_at if schedule and sub.state is subs.SubscriptionState.TERMINATED else None


class PartnerDataRule(ABC):
    """Data of terminated partners that goes at a date derived from the subscription.

    Subclasses say when (`due`) and what (`items`, `remove`); keys are `<partner id>/<item key>`.
    """

    name: str

    @abstractmethod
    def due(self, scope: SweepScope, partner: PartnerRecord) -> datetime | None: ...

    @abstractmethod
    def items(self, scope: SweepScope, partner_id: str) -> Iterable[tuple[str, str, Any]]:
        """(item key, category, ref) in ascending item-key order."""

    @abstractmethod
    def remove(self, scope: SweepScope, partner_id: str, ref: Any) -> bool: ...

    def candidates(self, scope: SweepScope, after: str | None) -> Iterator[Candidate]:
        for partner in partners_of(scope):
            when = self.due(scope, partner)
            if when is None or when > scope.as_of:
                continue
            if after is not None and partner.id < after.split("/", 1)[0]:
                continue
            for item_key, category, ref in self.items(scope, partner.id):
                key = f"{partner.id}/{item_key}"
                if after is None or key > after:
                    yield Candidate(key, category, (partner.id, ref))

    def delete(self, scope: SweepScope, candidate: Candidate) -> bool:
        partner_id, ref = candidate.ref
        return self.remove(scope, partner_id, ref)


class PartitionRows(PartnerDataRule):
    """Every row of a terminated partner's partition in one table, at a deletion-schedule date.

    The tenants and Dynamics areas register theirs like this (e.g. due=end_user_data_at) or write
    their own RetentionRule when their rows are not partitioned by partner.
    """

    def __init__(
        self,
        name: str,
        table: str,
        category: str,
        due: Callable[[Subscription], datetime | None],
        order: int = 0,
        *,
        tested_by: str = "",
        partition: Callable[[str], str] | None = None,
    ):
        self.name = name
        self.table = table
        self.category = category
        self._due = due
        self.order = order
        self.covers = (table,)
        self.tested_by = tested_by
        self._partition = partition or (lambda partner_id: partner_id)

    def due(self, scope: SweepScope, partner: PartnerRecord) -> datetime | None:
        return self._due(partner.subscription)

    def items(self, scope: SweepScope, partner_id: str) -> Iterator[tuple[str, str, Any]]:
        rows = scope.account.table(self.table).query_entities(
            tables.partition(self._partition(partner_id)), select=["PartitionKey", "RowKey"]
        )
        for row in rows:  # the service returns a partition in RowKey order
            yield str(row["RowKey"]), self.category, str(row["RowKey"])

    def remove(self, scope: SweepScope, partner_id: str, ref: Any) -> bool:
        return delete_row(scope.account.table(self.table), self._partition(partner_id), ref)


class PartnerContact(PartnerDataRule):
    """The contact person on the partner's record is personnel data: erased with the personnel."""

    name = "partners.contact"
    covers = ("partners",)
    tested_by = _RETENTION_TESTS + "test_personnel_keys_and_groups_go_24_months_after_termination"
    ERASED = "erased"

    def due(self, scope: SweepScope, partner: PartnerRecord) -> datetime | None:
        return personnel_data_at(partner.subscription)

    def items(self, scope: SweepScope, partner_id: str) -> Iterator[tuple[str, str, Any]]:
        if _exists(
            scope.account.table("partners"),
            partner_id,
            "partner",
            lambda row: row.get("contactName") != self.ERASED,
        ):
            yield "contact", PERSONNEL, None

    def remove(self, scope: SweepScope, partner_id: str, ref: Any) -> bool:
        from azure.core.exceptions import ResourceNotFoundError
        from azure.data.tables import UpdateMode

        table = scope.account.table("partners")
        try:
            row = table.get_entity(partner_id, "partner", select=["contactName", "contactEmail"])
        except ResourceNotFoundError:
            return False
        if row.get("contactName") == self.ERASED:
            return False
        table.update_entity(
            {
                "PartitionKey": partner_id,
                "RowKey": "partner",
                "contactName": self.ERASED,
                "contactEmail": self.ERASED,
            },
            mode=UpdateMode.MERGE,
        )
        return True


def admin_record_years(scope: SweepScope, partner_id: str) -> int:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        row = scope.account.table(SETTINGS_TABLE).get_entity(partner_id, "settings")
    except ResourceNotFoundError:
        return ADMIN_RECORD_YEARS
    years = int(row.get("administrationRetentionYears", ADMIN_RECORD_YEARS))
    return years if years in ADMIN_RECORD_YEARS_ALLOWED else ADMIN_RECORD_YEARS


class AdministrationRecords(PartnerDataRule):
    """Billing/administration records: 7 years (or the partner's 10) after the service ended.

    Usage counters first, then the partner's privacy settings, the directory entry (the partner
    becomes unreachable), and the partner row last, since it is what makes the partner due: an
    invocation cut off half-way still finds the partner next time.
    """

    name = "administration.records"
    covers = ("usage", SETTINGS_TABLE, "partnerdirectory", "partners")
    tested_by = _RETENTION_TESTS + "test_administration_records_go_7_years_after_the_service_ends_or_10"

    def due(self, scope: SweepScope, partner: PartnerRecord) -> datetime | None:
        ended = partner.subscription.terminated_at
        if ended is None or partner.subscription.state is not subs.SubscriptionState.TERMINATED:
            return None
        return add_months(ended, 12 * admin_record_years(scope, partner.id))

    def items(self, scope: SweepScope, partner_id: str) -> Iterator[tuple[str, str, Any]]:
        usage = scope.account.table("usage").query_entities(
            tables.prefix("PartitionKey", f"{partner_id}-"),
            select=["PartitionKey", "RowKey"],
        )
        for row in usage:
            pk, rk = str(row["PartitionKey"]), str(row["RowKey"])
            yield f"1usage/{pk}/{rk}", ADMINISTRATION, ("usage", pk, rk)
        if _exists(scope.account.table(SETTINGS_TABLE), partner_id, "settings"):
            yield "2settings", ADMINISTRATION, (SETTINGS_TABLE, partner_id, "settings")
        if _exists(scope.router.control.table("partnerdirectory"), partner_id, "region"):
            yield "3directory", ADMINISTRATION, ("partnerdirectory", partner_id, "region")
        # Its row in the Entra tenant index goes with it (the partner row, read here, goes last).
        partner = tables.get(scope.account.table("partners"), partner_id, "partner", select=["entraTenantId"])
        if partner is not None and partner.get("entraTenantId"):
            pk, rk = tenant_entry(str(partner["entraTenantId"]), partner_id)
            if _exists(scope.router.control.table("partnerdirectory"), pk, rk):
                yield "3tenant", ADMINISTRATION, ("partnerdirectory", pk, rk)
        yield "4partner", ADMINISTRATION, ("partners", partner_id, "partner")

    def remove(self, scope: SweepScope, partner_id: str, ref: Any) -> bool:
        table_name, pk, rk = ref
        account = scope.router.control if table_name == "partnerdirectory" else scope.account
        return delete_row(account.table(table_name), pk, rk)


class EventBuckets:
    """Event logs: a monthly table goes whole once its newest possible event is 24 months old."""

    name = "events.buckets"
    covers = ("events",)
    tested_by = _RETENTION_TESTS + "test_event_buckets_go_whole_24_months_after_their_last_possible_event"

    def candidates(self, scope: SweepScope, after: str | None) -> Iterator[Candidate]:
        log = AuditLog(scope.account, _FixedClock(scope.as_of))
        for bucket in log.bucket_names():
            if after is not None and bucket <= after:
                continue
            start = datetime.strptime(bucket[len(BUCKET_PREFIX) :], "%Y%m").replace(tzinfo=UTC)
            if add_months(start, EVENT_LOG_MONTHS + 1) <= scope.as_of:
                yield Candidate(bucket, EVENT_LOGS, bucket)

    def delete(self, scope: SweepScope, candidate: Candidate) -> bool:
        service = scope.account.table_service()
        exists = any(True for _ in service.query_tables(tables.eq("TableName", candidate.ref)))
        if not exists:
            return False
        service.delete_table(candidate.ref)
        return True


class _FixedClock:
    def __init__(self, moment: datetime):
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


def builtin_rules() -> list[RetentionRule]:
    """The rules for the data that exists in the foundation (partners, access, events, usage)."""
    return [
        EventBuckets(),
        PartitionRows("personnel.rows", "personnel", PERSONNEL, personnel_data_at, tested_by=_PERSONNEL_TEST),
        PartitionRows("apikeys.rows", "apikeys", CONFIGURATION, personnel_data_at, tested_by=_PERSONNEL_TEST),
        PartitionRows(
            "tenantgroups.rows", "tenantgroups", CONFIGURATION, personnel_data_at, tested_by=_PERSONNEL_TEST
        ),
        PartnerContact(),
        AdministrationRecords(),
    ]


# --- the sweeper ----------------------------------------------------------------------------


@dataclass
class SweepReport:
    region: str
    run_id: str
    as_of: datetime
    dry_run: bool
    complete: bool
    counts: dict[str, int] = field(default_factory=dict)  # this invocation, per category
    run_counts: dict[str, int] = field(default_factory=dict)  # the whole run so far
    per_rule: dict[str, int] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)  # dry run: a few keys that would go


@dataclass
class _State:
    run_id: str
    as_of: datetime
    cursors: dict[str, str]
    done: list[str]
    counts: dict[str, int]

    def to_entity(self) -> dict[str, Any]:
        return {
            "PartitionKey": "sweep",
            "RowKey": "state",
            "runId": self.run_id,
            "asOf": isoformat(self.as_of),
            "cursors": json.dumps(self.cursors),
            "done": json.dumps(self.done),
            "counts": json.dumps(self.counts),
        }

    @classmethod
    def from_entity(cls, row: Any) -> _State:
        return cls(
            run_id=str(row["runId"]),
            as_of=parse_iso(row["asOf"]),
            cursors=json.loads(str(row["cursors"])),
            done=json.loads(str(row["done"])),
            counts=json.loads(str(row["counts"])),
        )


class _OutOfBudgetError(Exception):
    pass


class SweepBusyError(RuntimeError):
    """Another invocation holds the region's sweep lease (the timer and an operator call met)."""


class RetentionSweeper:
    SAVE_EVERY = 20
    SAMPLES = 20

    def __init__(
        self,
        registry: RetentionRegistry,
        router: StorageRouter,
        clock: Clock,
        *,
        budget_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
        max_items: int | None = None,
        lease_margin_seconds: float = 120.0,
    ):
        self.registry = registry
        # How long past its budget a crashed invocation's lease still holds the region's sweep.
        self.lease_margin_seconds = lease_margin_seconds
        self.router = router
        self.clock = clock
        self.budget_seconds = budget_seconds
        self.monotonic = monotonic
        self.max_items = max_items  # tests cut an invocation off after this many deletions

    def _load(self, account: AccountStorage) -> _State | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return _State.from_entity(account.table(STATE_TABLE).get_entity("sweep", "state"))
        except ResourceNotFoundError:
            return None

    def sweep(self, region: str, *, dry_run: bool = False) -> SweepReport:
        if dry_run:
            return self._sweep(region, dry_run=True)
        account = self.router.region(region)
        lease = self._acquire(account)
        try:
            return self._sweep(region, dry_run=False)
        finally:
            self._release(account, lease)

    def _acquire(self, account: AccountStorage) -> str:
        """One sweep per region at a time; a lease left by a crashed invocation expires."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError, ResourceExistsError
        from azure.data.tables import UpdateMode

        table = account.table(STATE_TABLE)
        holder = new_id()
        lease = {
            "PartitionKey": "sweep",
            "RowKey": "lease",
            "holder": holder,
            "until": time.time() + self.budget_seconds + self.lease_margin_seconds,
        }
        try:
            table.create_entity(lease)
            return holder
        except ResourceExistsError:
            pass
        current = tables.get(table, "sweep", "lease")
        if current is None:
            raise SweepBusyError("the sweep lease changed hands; try again")
        if float(current["until"]) > time.time():
            raise SweepBusyError("a sweep of this region is running")
        try:
            table.update_entity(
                lease,
                mode=UpdateMode.REPLACE,
                etag=current.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except HttpResponseError:
            raise SweepBusyError("another invocation took the expired lease first") from None
        return holder

    def _release(self, account: AccountStorage, holder: str) -> None:
        from azure.core.exceptions import HttpResponseError

        table = account.table(STATE_TABLE)
        try:
            current = tables.get(table, "sweep", "lease")
            if current is not None and current["holder"] == holder:
                tables.delete(table, "sweep", "lease", etag=current.etag)
        except HttpResponseError:
            pass  # expired and taken over: not ours to release

    def _sweep(self, region: str, *, dry_run: bool) -> SweepReport:
        account = self.router.region(region)
        state = None if dry_run else self._load(account)
        if state is None:
            state = _State(new_id(), self.clock.now(), {}, [], {})
        scope = SweepScope(region, account, self.router, state.as_of)
        report = SweepReport(region, state.run_id, state.as_of, dry_run, complete=False)
        deadline = self.monotonic() + self.budget_seconds
        processed = 0
        try:
            for rule in self.registry.rules():
                if rule.name in state.done:
                    continue
                for candidate in rule.candidates(scope, state.cursors.get(rule.name)):
                    if self.monotonic() > deadline or (
                        self.max_items is not None and processed >= self.max_items
                    ):
                        raise _OutOfBudgetError
                    processed += 1
                    self._step(scope, rule, candidate, state, report)
                    if not dry_run and processed % self.SAVE_EVERY == 0:
                        self._save(account, state)
                state.done.append(rule.name)
                state.cursors.pop(rule.name, None)
            report.complete = True
        except _OutOfBudgetError:
            report.complete = False
        report.run_counts = dict(state.counts)
        if dry_run:
            return report
        if report.complete:
            self._report(account, report)
            _missing_ok(lambda: account.table(STATE_TABLE).delete_entity("sweep", "state"))
        else:
            self._save(account, state)
            self._report(account, report)
        return report

    def _step(
        self, scope: SweepScope, rule: RetentionRule, candidate: Candidate, state: _State, report: SweepReport
    ) -> None:
        if report.dry_run:
            gone = True
            if len(report.samples) < self.SAMPLES:
                report.samples.append(f"{rule.name}:{candidate.key}")
        else:
            gone = rule.delete(scope, candidate)
            state.cursors[rule.name] = candidate.key
        if gone:
            report.counts[candidate.category] = report.counts.get(candidate.category, 0) + 1
            state.counts[candidate.category] = state.counts.get(candidate.category, 0) + 1
            report.per_rule[rule.name] = report.per_rule.get(rule.name, 0) + 1

    def _save(self, account: AccountStorage, state: _State) -> None:
        from azure.data.tables import UpdateMode

        account.table(STATE_TABLE).upsert_entity(state.to_entity(), mode=UpdateMode.REPLACE)

    def _report(self, account: AccountStorage, report: SweepReport) -> None:
        AuditLog(account, self.clock).append(
            SYSTEM_PARTITION,
            NewEvent(
                action="privacy.retention.swept",
                actor={"type": "system", "id": "retention-sweep"},
                target={"type": "region", "id": report.region},
                details={
                    "runId": report.run_id,
                    "asOf": isoformat(report.as_of),
                    "complete": report.complete,
                    "deleted": report.counts,
                    "runDeleted": report.run_counts,
                    "rules": report.per_rule,
                },
            ),
        )

"""The breach register (Art. 33): the operator records a personal-data breach, the affected
partners see it, and a deadline watch raises events as the 72 hours to tell them near and pass.

One row per breach in the `breaches` table of the region where it happened (a stamp reaches only
its own region, so a breach is recorded where its data lives), plus one index row per affected
partner so a partner's listing is one partition read.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic import Field

from shared.audit.context import ActionContext
from shared.audit.log import AuditLog, NewEvent
from shared.clock import Clock, isoformat, parse_iso
from shared.errors import FieldError, not_found, validation_failed
from shared.ids import new_id
from shared.models import ApiInput, ApiModel, UtcDateTime
from shared.privacy import deadlines
from shared.privacy.retention import SYSTEM_PARTITION, PartitionRows, RetentionRule, personnel_data_at
from shared.storage import tables

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

TABLE = "breaches"
NOTIFY_WITHIN = timedelta(hours=72)
NEARING = timedelta(hours=24)
_REGISTER = "register"


def partner_partition(partner_id: str) -> str:
    """The partition of a partner's index rows (one per breach that affects it)."""
    return f"partner-{partner_id}"


class ContactPoint(ApiInput):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=320)


class BreachIn(ApiInput):
    region: str = Field(min_length=1, max_length=16)
    nature: str = Field(min_length=1, max_length=4000)
    data_categories: list[str] = Field(min_length=1, max_length=50)
    # Stored as a table's Int32: a larger figure would fail at the write (a 500), not here.
    approx_subjects: int = Field(ge=0, le=2**31 - 1)
    approx_records: int = Field(ge=0, le=2**31 - 1)
    contact_point: ContactPoint
    likely_consequences: str = Field(min_length=1, max_length=4000)
    measures: str = Field(min_length=1, max_length=4000)
    affected_partners: list[str] = Field(min_length=1, max_length=1000)
    confirmed_at: UtcDateTime | None = None


class BreachOut(ApiModel):
    id: str
    region: str
    nature: str
    data_categories: list[str]
    approx_subjects: int
    approx_records: int
    contact_point: dict[str, str]
    likely_consequences: str
    measures: str
    affected_partners: list[str]
    recorded_at: UtcDateTime
    confirmed_at: UtcDateTime
    notify_by: UtcDateTime
    partners_notified_at: UtcDateTime | None
    deadline_state: str  # open | nearing | passed | met


class PartnerBreachOut(ApiModel):
    """What an affected partner sees: everything but the other partners affected."""

    id: str
    nature: str
    data_categories: list[str]
    approx_subjects: int
    approx_records: int
    contact_point: dict[str, str]
    likely_consequences: str
    measures: str
    confirmed_at: UtcDateTime
    notify_by: UtcDateTime


class BreachList(ApiModel):
    items: list[BreachOut]


class PartnerBreachList(ApiModel):
    items: list[PartnerBreachOut]


def _out(row: Any) -> BreachOut:
    notified = row.get("partnersNotifiedAt")
    return BreachOut(
        id=str(row["RowKey"]),
        region=str(row["region"]),
        nature=str(row["nature"]),
        data_categories=json.loads(str(row["dataCategories"])),
        approx_subjects=int(row["approxSubjects"]),
        approx_records=int(row["approxRecords"]),
        contact_point=json.loads(str(row["contactPoint"])),
        likely_consequences=str(row["likelyConsequences"]),
        measures=str(row["measures"]),
        affected_partners=json.loads(str(row["affectedPartners"])),
        recorded_at=parse_iso(row["recordedAt"]),
        confirmed_at=parse_iso(row["confirmedAt"]),
        notify_by=parse_iso(row["notifyBy"]),
        partners_notified_at=parse_iso(notified) if notified else None,
        deadline_state=str(row.get("deadlineState", "open")),
    )


class BreachRegister:
    def __init__(self, account: AccountStorage, clock: Clock, partner_exists: Callable[[str, str], bool]):
        self.account = account
        self.clock = clock
        self.partner_exists = partner_exists  # (partner_id, region) -> bool
        self.log = AuditLog(account, clock)

    def record(self, breach: BreachIn, context: ActionContext) -> BreachOut:
        unknown = [p for p in breach.affected_partners if not self.partner_exists(p, breach.region)]
        if unknown:
            raise validation_failed(
                [FieldError("affectedPartners", f"not partners of region {breach.region}: {unknown}")]
            )
        now = self.clock.now()
        confirmed = breach.confirmed_at or now
        breach_id = new_id()
        row = {
            "PartitionKey": _REGISTER,
            "RowKey": breach_id,
            "region": breach.region,
            "nature": breach.nature,
            "dataCategories": json.dumps(breach.data_categories),
            "approxSubjects": breach.approx_subjects,
            "approxRecords": breach.approx_records,
            "contactPoint": json.dumps(breach.contact_point.model_dump()),
            "likelyConsequences": breach.likely_consequences,
            "measures": breach.measures,
            "affectedPartners": json.dumps(sorted(set(breach.affected_partners))),
            "recordedAt": isoformat(now),
            "confirmedAt": isoformat(confirmed),
            "notifyBy": isoformat(confirmed + NOTIFY_WITHIN),
            "deadlineState": "open",
        }
        table = self.account.table(TABLE)
        table.create_entity(row)
        for partner_id in sorted(set(breach.affected_partners)):
            table.upsert_entity({"PartitionKey": partner_partition(partner_id), "RowKey": breach_id})
            context.record(
                self.log,
                partner_id,
                "privacy.breach.recorded",
                {"type": "breach", "id": breach_id},
                details={"notifyBy": row["notifyBy"], "dataCategories": breach.data_categories},
            )
        context.record(
            self.log, SYSTEM_PARTITION, "privacy.breach.recorded", {"type": "breach", "id": breach_id}
        )
        return _out(row)

    def get(self, breach_id: str) -> BreachOut:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return _out(self.account.table(TABLE).get_entity(_REGISTER, breach_id))
        except ResourceNotFoundError:
            raise not_found("No such breach.") from None

    def all(self) -> list[BreachOut]:
        rows = self.account.table(TABLE).query_entities(tables.partition(_REGISTER))
        return [_out(row) for row in rows]

    def for_partner(self, partner_id: str) -> list[PartnerBreachOut]:
        table = self.account.table(TABLE)
        items = []
        for index in table.query_entities(tables.partition(partner_partition(partner_id))):
            breach = self.get(str(index["RowKey"]))
            items.append(PartnerBreachOut(**breach.model_dump()))
        return items

    def mark_notified(self, breach_id: str, context: ActionContext) -> BreachOut:
        from azure.data.tables import UpdateMode

        breach = self.get(breach_id)
        if breach.partners_notified_at is None:
            now = self.clock.now()
            state = "met" if now <= breach.notify_by else "passed"
            self.account.table(TABLE).update_entity(
                {
                    "PartitionKey": _REGISTER,
                    "RowKey": breach_id,
                    "partnersNotifiedAt": isoformat(now),
                    "deadlineState": state,
                },
                mode=UpdateMode.MERGE,
            )
            context.record(
                self.log,
                SYSTEM_PARTITION,
                "privacy.breach.partnersNotified",
                {"type": "breach", "id": breach_id},
                details={"deadlineMet": state == "met"},
            )
        return self.get(breach_id)

    def watch(self) -> list[tuple[str, str]]:
        """Raises one event per breach as its deadline nears (24 h left) and once it passes."""
        now = self.clock.now()
        raised = []
        table = self.account.table(TABLE)
        moves = deadlines.claimed_moves(
            table,
            tables.partition(_REGISTER),
            "deadlineState",
            lambda row: parse_iso(row["notifyBy"]),
            now=now,
            nearing=NEARING,
        )
        for row, new_state in moves:
            action = (
                "privacy.breach.deadlinePassed"
                if new_state == deadlines.PASSED
                else "privacy.breach.deadlineNearing"
            )
            self.log.append(
                SYSTEM_PARTITION,
                NewEvent(
                    action=action,
                    actor={"type": "system", "id": "deadline-watch"},
                    target={"type": "breach", "id": str(row["RowKey"])},
                    details={"notifyBy": str(row["notifyBy"]), "region": str(row["region"])},
                ),
            )
            raised.append((str(row["RowKey"]), action))
        return raised


def breach_rules() -> list[RetentionRule]:
    """A terminated partner's index rows go with its personnel data (24 months after the end); the
    register's own rows stay while the region's stamp runs, as the supervisory authority may ask."""
    return [
        PartitionRows(
            "breaches.terminated-partner",
            TABLE,
            "breach register",
            personnel_data_at,
            tested_by="tests/integration/test_retention_rules.py::"
            "test_a_terminated_partners_contacts_breaches_and_requests_go_even_after_missed_sweeps",
            partition=partner_partition,
        )
    ]

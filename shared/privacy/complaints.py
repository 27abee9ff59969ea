"""The complaint register: a partner records each complaint about its service, answers it within four
weeks, and a deadline watch raises events as that date nears (7 days left) and passes.

Storage: table `complaints` in the partner's region, PartitionKey = partner id, RowKey = the
complaint's ULID (oldest first). The complainant's name, e-mail and phone are personal data: kept
in clear while the complaint is handled, found again by `contactHash` (a keyed hash of the
normalised e-mail, `shared.keys` purpose `contact-record`, never the address itself; a row under an
older pepper version moves to the current one when found), so a data-subject export reads them and
an erasure blanks them (and the free text that may name the person) while the register keeps the
dates, the channel and the outcome as evidence. The watch is the one of breaches and data-subject requests
(`shared/privacy/deadlines.py`): each move of a deadline is claimed once, by ETag.

Retention: a complaint goes 24 months after it was closed (or answered, when never closed), as
long as the event log that records it; a terminated partner's, open ones too, with its personnel
data (24 months after the service ended).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import Field

from shared.audit.context import ActionContext
from shared.audit.log import AuditLog, NewEvent
from shared.clock import Clock, isoformat, parse_iso
from shared.errors import FieldError, ProblemError, not_found, validation_failed
from shared.ids import new_id
from shared.keys import CONTACT_RECORD, KeyedHasher, KeyRing, dependency_report, lookup_hasher, pepper_ring
from shared.models import ApiInput, ApiModel, PageQuery, UtcDateTime
from shared.partners.subscription import add_months
from shared.privacy import deadlines
from shared.privacy.retention import (
    EVENT_LOG_MONTHS,
    Candidate,
    PartitionRows,
    RetentionRule,
    SweepScope,
    delete_row,
    personnel_data_at,
)
from shared.storage import tables

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

TABLE = "complaints"
ANSWER_WITHIN = timedelta(weeks=4)  # the promise of the partner's complaint procedure
NEARING = timedelta(days=7)
CATEGORY = "complaint register"
ERASED = "[erased]"
_RECEIVED_AT_MOST = timedelta(days=90)
_CLOCK_SKEW = timedelta(minutes=5)
_WATCH = {"type": "system", "id": "deadline-watch"}
_TESTS = "tests/integration/test_complaints_correspondence_store.py::"


class Channel(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    LETTER = "letter"
    WEB = "web"
    IN_PERSON = "inPerson"
    OTHER = "other"


class ComplaintStatus(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    CLOSED = "closed"


class Contact(ApiInput):
    """Who complained (or with whom a correspondence is held): personal data."""

    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    phone: str | None = Field(default=None, min_length=3, max_length=32)


class ComplaintIn(ApiInput):
    received_at: UtcDateTime | None = Field(
        default=None,
        description="When the complaint reached the partner; now when absent (at most 90 days ago).",
    )
    contact: Contact = Field(description="Who complained (personal data: erased on the person's request).")
    subject: str = Field(min_length=1, max_length=200, description="What the complaint is about, briefly.")
    channel: Channel
    details: str | None = Field(default=None, max_length=4000)
    reference: str | None = Field(default=None, max_length=100, description="The partner's own reference.")


class AnswerIn(ApiInput):
    answered_at: UtcDateTime | None = Field(
        default=None, description="When the answer was sent; now when absent."
    )
    summary: str = Field(min_length=1, max_length=4000, description="What was answered.")


class CloseIn(ApiInput):
    reason: str | None = Field(default=None, max_length=1000, description="Why, when closed unanswered.")


class ComplaintOut(ApiModel):
    id: str
    status: ComplaintStatus
    received_at: UtcDateTime
    due_at: UtcDateTime = Field(description="Four weeks after it was received.")
    deadline_state: str = Field(description="open | nearing | passed | met | missed")
    contact: dict[str, str]
    subject: str
    channel: Channel
    details: str | None
    reference: str | None
    answered_at: UtcDateTime | None
    answer: str | None
    closed_at: UtcDateTime | None
    close_reason: str | None
    created_at: UtcDateTime
    updated_at: UtcDateTime


class ComplaintList(ApiModel):
    items: list[ComplaintOut]
    continuation_token: str | None = None


class ComplaintQuery(PageQuery):
    status: ComplaintStatus | None = None


def contact_hasher(pepper: str, ring: KeyRing | None = None) -> KeyedHasher:
    """The keyed hash of complainants and correspondents (version 1 only unless handed the ring)."""
    return lookup_hasher(ring or pepper_ring(pepper), CONTACT_RECORD)


def _contact_text(partner_id: str, email: str) -> str:
    return f"{partner_id}|{email.strip().lower()}"


def contact_hash(hasher: KeyedHasher, partner_id: str, email: str | None) -> str:
    """Finds a person's records again without storing whom: per partner, e-mail case-insensitive."""
    return hasher.hash(_contact_text(partner_id, email)) if email else ""


def contact_rows(table: Any, hasher: KeyedHasher, partner_id: str, email: str) -> list[tables.Row]:
    """A person's rows of one table, by `contactHash` under any form it may be stored in (one
    query, as before versions); a row under an older form gets the current one, under its ETag (a
    change meanwhile, an erasure say, wins: the next lookup moves it)."""
    from azure.core import MatchConditions
    from azure.core.exceptions import HttpResponseError
    from azure.data.tables import UpdateMode

    forms = hasher.lookups(_contact_text(partner_id, email))
    matches = " or ".join(tables.eq("contactHash", form) for form in forms)
    rows = list(tables.query(table, f"{tables.partition(partner_id)} and ({matches})"))
    for row in rows:
        if row.get("contactHash") != forms[0]:
            with contextlib.suppress(HttpResponseError):
                table.update_entity(
                    {"PartitionKey": partner_id, "RowKey": row["RowKey"], "contactHash": forms[0]},
                    mode=UpdateMode.MERGE,
                    etag=row.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
    return rows


def contact_dependencies(
    table: Any, partner_id: str | None = None, *, limit: int = 100_000
) -> dict[str, int]:
    """How many rows of one table (complaints or correspondence threads) of a region (or of one
    partner) depend on each key id through `contactHash` (`legacy`: version 1 of the pepper, before
    key ids); a row moves when its person is next looked up. A scan of one column, at most `limit`
    rows."""
    from itertools import islice

    query = "contactHash ne ''" + (f" and {tables.partition(partner_id)}" if partner_id is not None else "")
    rows = table.query_entities(query, select=["contactHash"], results_per_page=1000)
    return dependency_report(str(row["contactHash"]) for row in islice(rows, limit) if row.get("contactHash"))


def contact_columns(hasher: KeyedHasher, partner_id: str, contact: Contact) -> dict[str, str]:
    return {
        "contactName": contact.name,
        "contactEmail": contact.email or "",
        "contactPhone": contact.phone or "",
        "contactHash": contact_hash(hasher, partner_id, contact.email),
    }


def contact_of(row: Any) -> dict[str, str]:
    fields = {"name": "contactName", "email": "contactEmail", "phone": "contactPhone"}
    return {k: str(row[c]) for k, c in fields.items() if row.get(c)}


def _when(row: Any, name: str) -> datetime | None:
    value = row.get(name)
    return parse_iso(value) if value else None


def _text(row: Any, name: str) -> str | None:
    return str(row[name]) if row.get(name) else None


def _deadline_state(row: Any) -> str:
    watch = str(row.get("deadlineWatch") or "")
    return (
        watch
        if watch in (deadlines.OPEN, deadlines.NEARING, deadlines.PASSED)
        else str(row["deadlineOutcome"])
    )


def complaint_out(row: Any) -> ComplaintOut:
    return ComplaintOut(
        id=str(row["RowKey"]),
        status=ComplaintStatus(str(row["status"])),
        received_at=parse_iso(row["receivedAt"]),
        due_at=parse_iso(row["dueAt"]),
        deadline_state=_deadline_state(row),
        contact=contact_of(row),
        subject=str(row["subject"]),
        channel=Channel(str(row["channel"])),
        details=_text(row, "details"),
        reference=_text(row, "reference"),
        answered_at=_when(row, "answeredAt"),
        answer=_text(row, "answer"),
        closed_at=_when(row, "closedAt"),
        close_reason=_text(row, "closeReason"),
        created_at=parse_iso(row["createdAt"]),
        updated_at=parse_iso(row["updatedAt"]),
    )


def _target(complaint_id: str) -> dict[str, str]:
    return {"type": "complaint", "id": complaint_id}


class ComplaintRegister:
    """One partner's complaint register, in its region."""

    def __init__(
        self,
        account: AccountStorage,
        partner_id: str,
        clock: Clock,
        pepper: str,
        *,
        ring: KeyRing | None = None,
    ):
        self.account = account
        self.partner_id = partner_id
        self.clock = clock
        self.hasher = contact_hasher(pepper, ring)
        self.log = AuditLog(account, clock)

    @property
    def table(self) -> Any:
        return self.account.table(TABLE)

    def _row(self, complaint_id: str) -> tables.Row:
        row = tables.get(self.table, self.partner_id, complaint_id)
        if row is None:
            raise not_found("No such complaint.")
        return row

    def create_complaint(self, body: ComplaintIn, context: ActionContext) -> ComplaintOut:
        now = self.clock.now()
        received = body.received_at or now
        if received > now + _CLOCK_SKEW or received < now - _RECEIVED_AT_MOST:
            raise validation_failed([FieldError("receivedAt", "must be within the last 90 days, not ahead")])
        complaint_id = new_id()
        due = received + ANSWER_WITHIN
        row: dict[str, Any] = {
            "PartitionKey": self.partner_id,
            "RowKey": complaint_id,
            "status": ComplaintStatus.OPEN.value,
            "receivedAt": isoformat(received),
            "dueAt": isoformat(due),
            # A complaint recorded late may be near or past its date already: the watch says so at once.
            "deadlineWatch": deadlines.OPEN,
            "deadlineOutcome": "",
            **contact_columns(self.hasher, self.partner_id, body.contact),
            "subject": body.subject,
            "channel": body.channel.value,
            "details": body.details or "",
            "reference": body.reference or "",
            "answeredAt": "",
            "answer": "",
            "closedAt": "",
            "closeReason": "",
            "createdAt": isoformat(now),
            "updatedAt": isoformat(now),
        }
        self.table.create_entity(row)
        # The event names the complaint, its channel and date, never the person or the text.
        context.record(
            self.log,
            self.partner_id,
            "complaint.received",
            _target(complaint_id),
            details={"channel": body.channel.value, "dueAt": row["dueAt"]},
        )
        return complaint_out(row)

    def get_complaint(self, complaint_id: str) -> ComplaintOut:
        return complaint_out(self._row(complaint_id))

    def list_complaints(self, query: ComplaintQuery) -> tuple[list[ComplaintOut], str | None]:
        odata = tables.partition(self.partner_id)
        if query.status is not None:
            odata += f" and {tables.eq('status', query.status.value)}"
        rows, token = tables.page(self.table, odata, query.top, query.continuation_token)
        return [complaint_out(r) for r in rows], token

    def _change(self, row: tables.Row, updates: dict[str, Any]) -> None:
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError
        from azure.data.tables import UpdateMode

        try:
            self.table.update_entity(
                {"PartitionKey": self.partner_id, "RowKey": row["RowKey"], **updates},
                mode=UpdateMode.MERGE,
                etag=row.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except HttpResponseError as error:
            if getattr(error, "status_code", None) == 412:
                raise ProblemError(
                    409,
                    "concurrent-change",
                    "Changed by someone else.",
                    "The complaint changed meanwhile; retry.",
                ) from None
            raise

    def _ends_watch(self, row: tables.Row, at: datetime) -> dict[str, Any]:
        """Answering (or closing unanswered) ends the watch: met when on or before the due date."""
        if row.get("deadlineOutcome"):
            return {}
        return {"deadlineWatch": "", "deadlineOutcome": "met" if at <= parse_iso(row["dueAt"]) else "missed"}

    def answer_complaint(self, complaint_id: str, body: AnswerIn, context: ActionContext) -> ComplaintOut:
        row = self._row(complaint_id)
        if row["status"] != ComplaintStatus.OPEN.value:
            raise ProblemError(
                409,
                "complaint-not-open",
                "Not open.",
                f"The complaint is {row['status']}: it was answered or closed.",
            )
        now = self.clock.now()
        answered = body.answered_at or now
        if answered > now + _CLOCK_SKEW or answered < parse_iso(row["receivedAt"]):
            raise validation_failed([FieldError("answeredAt", "must lie between its receipt and now")])
        updates = {
            "status": ComplaintStatus.ANSWERED.value,
            "answeredAt": isoformat(answered),
            "answer": body.summary,
            "updatedAt": isoformat(now),
            **self._ends_watch(row, answered),
        }
        self._change(row, updates)
        context.record(
            self.log,
            self.partner_id,
            "complaint.answered",
            _target(complaint_id),
            details={
                "dueAt": row["dueAt"],
                "answeredAt": updates["answeredAt"],
                "onTime": answered <= parse_iso(row["dueAt"]),
            },
        )
        return self.get_complaint(complaint_id)

    def close_complaint(self, complaint_id: str, body: CloseIn, context: ActionContext) -> ComplaintOut:
        row = self._row(complaint_id)
        if row["status"] == ComplaintStatus.CLOSED.value:
            return complaint_out(row)  # closing twice changes nothing
        now = self.clock.now()
        if row["status"] == ComplaintStatus.OPEN.value and not body.reason:
            raise validation_failed(
                [FieldError("reason", "required to close a complaint that was not answered")]
            )
        updates = {
            "status": ComplaintStatus.CLOSED.value,
            "closedAt": isoformat(now),
            "closeReason": body.reason or "",
            "updatedAt": isoformat(now),
            **self._ends_watch(row, now),
        }
        self._change(row, updates)
        context.record(self.log, self.partner_id, "complaint.closed", _target(complaint_id))
        return self.get_complaint(complaint_id)


# --- the deadline watch ---------------------------------------------------------------------------


def watch(account: AccountStorage, clock: Clock) -> list[tuple[str, str, str]]:
    """Raises one event per open complaint as its answer date nears (7 days left) and once it
    passes, in the partner's audit log (alert rules read them). Yields (partner, complaint, action)."""
    table = account.table(TABLE)
    log = AuditLog(account, clock)
    raised = []
    moves = deadlines.claimed_moves(
        table,
        "PartitionKey ne ''",
        "deadlineWatch",
        lambda row: parse_iso(row["dueAt"]),
        now=clock.now(),
        nearing=NEARING,
    )
    for row, new_state in moves:
        action = "complaint.deadlinePassed" if new_state == deadlines.PASSED else "complaint.deadlineNearing"
        partner_id, complaint_id = str(row["PartitionKey"]), str(row["RowKey"])
        log.append(
            partner_id,
            NewEvent(
                action=action,
                actor=dict(_WATCH),
                target=_target(complaint_id),
                details={"dueAt": str(row["dueAt"]), "channel": str(row["channel"])},
            ),
        )
        raised.append((partner_id, complaint_id, action))
    return raised


# --- the data subject's side: export and erasure of the complainant's data -----------------------


def complaints_of(
    account: AccountStorage, hasher: KeyedHasher, partner_id: str, email: str
) -> list[ComplaintOut]:
    return [complaint_out(row) for row in contact_rows(account.table(TABLE), hasher, partner_id, email)]


def erase_complainant(account: AccountStorage, hasher: KeyedHasher, partner_id: str, email: str) -> int:
    """Blanks the person and the free text about them in each of their complaints; the register keeps
    dates, channel and outcome. Returns how many complaints still named them (0 on a rerun)."""
    from azure.data.tables import UpdateMode

    table = account.table(TABLE)
    erased = 0
    for row in complaints_of(account, hasher, partner_id, email):
        table.update_entity(
            {
                "PartitionKey": partner_id,
                "RowKey": row.id,
                "contactName": "",
                "contactEmail": "",
                "contactPhone": "",
                "contactHash": "",
                "subject": ERASED,
                "details": "",
                "answer": ERASED if row.answer else "",
                "closeReason": "",
            },
            mode=UpdateMode.MERGE,
        )
        erased += 1
    return erased


# --- retention --------------------------------------------------------------------------------------


class ConcludedComplaints:
    """A complaint goes 24 months after it was closed (or answered, when never closed): as long as
    the event log that records its handling. An open one is never due here (see `complaint_rules`)."""

    name = "complaints.concluded"
    covers = (TABLE,)
    tested_by = _TESTS + "test_complaints_go_24_months_after_they_close"

    @staticmethod
    def _due(row: Any) -> datetime | None:
        ended = _when(row, "closedAt") or _when(row, "answeredAt")
        return add_months(ended, EVENT_LOG_MONTHS) if ended else None

    def candidates(self, scope: SweepScope, after: str | None) -> Iterator[Candidate]:
        rows = tables.query(
            scope.account.table(TABLE),
            "closedAt ne '' or answeredAt ne ''",
            select=["PartitionKey", "RowKey", "closedAt", "answeredAt"],
        )
        for row in rows:  # PartitionKey, then RowKey order
            key = f"{row['PartitionKey']}/{row['RowKey']}"
            due = self._due(row)
            if due is not None and due <= scope.as_of and (after is None or key > after):
                yield Candidate(key, CATEGORY, (str(row["PartitionKey"]), str(row["RowKey"])))

    def delete(self, scope: SweepScope, candidate: Candidate) -> bool:
        partition, row_key = candidate.ref
        return delete_row(scope.account.table(TABLE), partition, row_key)


def complaint_rules() -> list[RetentionRule]:
    """Concluded complaints by age; a terminated partner's (open ones too) with its personnel data."""
    return [
        ConcludedComplaints(),
        PartitionRows(
            "complaints.terminated-partner",
            TABLE,
            CATEGORY,
            personnel_data_at,
            tested_by=_TESTS + "test_a_terminated_partners_complaints_and_threads_go",
        ),
    ]

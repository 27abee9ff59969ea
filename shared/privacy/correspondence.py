"""Contact correspondence: a partner's messages with a contact person, grouped in threads, kept
until the correspondence is concluded and then deleted by the retention sweep.

Storage: table `correspondence` in the partner's region. A thread is one row in the partner's
partition (PartitionKey = partner id, RowKey = the thread's ULID); its messages are the rows of
the thread's own partition (`<partner id>~<thread id>`, RowKey = the message's ULID), so a thread
and its messages go with one partition delete. The contact's name, e-mail and phone and every
message body are personal data: never logged, never in an event (events name the thread only),
found for a data subject by `contactHash` (a keyed hash of the e-mail).

Retention (the `correspondence.ended` rule): a concluded thread goes 30 days after it was
concluded (time to correct a conclusion made by mistake, nothing more); an open thread with no
message and no change for 12 months is abandoned and goes then, so nothing is kept without an end.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import Field

from shared.audit.context import ActionContext
from shared.audit.log import AuditLog
from shared.clock import Clock, isoformat, parse_iso
from shared.errors import ProblemError, not_found
from shared.ids import new_id
from shared.keys import KeyedHasher, KeyRing
from shared.models import ApiInput, ApiModel, PageQuery, UtcDateTime
from shared.partners.subscription import add_months
from shared.privacy.complaints import Contact, contact_columns, contact_hasher, contact_of, contact_rows
from shared.privacy.retention import Candidate, SweepScope
from shared.storage import tables

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

TABLE = "correspondence"
KEPT_AFTER_CONCLUSION = timedelta(days=30)
ABANDONED_AFTER_MONTHS = 12
CATEGORY = "contact correspondence"
_THREAD = "thread"
_MESSAGE = "message"


class ThreadState(StrEnum):
    OPEN = "open"
    CONCLUDED = "concluded"


class Direction(StrEnum):
    INBOUND = "inbound"  # from the contact
    OUTBOUND = "outbound"  # from the partner


class MessageIn(ApiInput):
    direction: Direction
    body: str = Field(
        min_length=1, max_length=16000, description="The message (personal data: never logged)."
    )
    sent_at: UtcDateTime | None = Field(
        default=None, description="When it was sent or received; now when absent."
    )


class ThreadIn(ApiInput):
    contact: Contact
    topic: str = Field(min_length=1, max_length=200)
    first_message: MessageIn | None = None


class MessageOut(ApiModel):
    id: str
    direction: Direction
    body: str
    sent_at: UtcDateTime
    recorded_at: UtcDateTime


class ThreadOut(ApiModel):
    id: str
    state: ThreadState
    contact: dict[str, str]
    topic: str
    messages: int
    created_at: UtcDateTime
    last_activity_at: UtcDateTime
    concluded_at: UtcDateTime | None
    delete_after: UtcDateTime = Field(
        description="When the retention sweep deletes the thread: 30 days after it was concluded, or "
        "12 months after its last activity while open."
    )


class ThreadWithMessages(ThreadOut):
    items: list[MessageOut] = Field(description="The messages, oldest first.")


class ThreadList(ApiModel):
    items: list[ThreadOut]
    continuation_token: str | None = None


class ThreadQuery(PageQuery):
    state: ThreadState | None = None


def messages_partition(partner_id: str, thread_id: str) -> str:
    return f"{partner_id}~{thread_id}"


def delete_after(row: Any) -> datetime:
    """The thread's end: 30 days after its conclusion, else 12 months after its last activity."""
    concluded = row.get("concludedAt")
    if concluded:
        return parse_iso(concluded) + KEPT_AFTER_CONCLUSION
    return add_months(parse_iso(row["lastActivityAt"]), ABANDONED_AFTER_MONTHS)


def thread_out(row: Any) -> ThreadOut:
    concluded = row.get("concludedAt")
    return ThreadOut(
        id=str(row["RowKey"]),
        state=ThreadState(str(row["state"])),
        contact=contact_of(row),
        topic=str(row["topic"]),
        messages=int(row.get("messages", 0)),
        created_at=parse_iso(row["createdAt"]),
        last_activity_at=parse_iso(row["lastActivityAt"]),
        concluded_at=parse_iso(concluded) if concluded else None,
        delete_after=delete_after(row),
    )


def _message_out(row: Any) -> MessageOut:
    return MessageOut(
        id=str(row["RowKey"]),
        direction=Direction(str(row["direction"])),
        body=str(row["body"]),
        sent_at=parse_iso(row["sentAt"]),
        recorded_at=parse_iso(row["recordedAt"]),
    )


def _target(thread_id: str) -> dict[str, str]:
    return {"type": "correspondence", "id": thread_id}


class Correspondence:
    """One partner's correspondence threads, in its region."""

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

    def _thread(self, thread_id: str) -> tables.Row:
        row = tables.get(self.table, self.partner_id, thread_id)
        if row is None:
            raise not_found("No such correspondence thread.")
        return row

    def _message_row(self, thread_id: str, body: MessageIn, now: datetime) -> dict[str, Any]:
        return {
            "PartitionKey": messages_partition(self.partner_id, thread_id),
            "RowKey": new_id(),
            "kind": _MESSAGE,
            "direction": body.direction.value,
            "body": body.body,
            "sentAt": isoformat(min(body.sent_at or now, now)),
            "recordedAt": isoformat(now),
        }

    def create_thread(self, body: ThreadIn, context: ActionContext) -> ThreadWithMessages:
        now = self.clock.now()
        thread_id = new_id()
        messages = [self._message_row(thread_id, body.first_message, now)] if body.first_message else []
        row: dict[str, Any] = {
            "PartitionKey": self.partner_id,
            "RowKey": thread_id,
            "kind": _THREAD,
            "state": ThreadState.OPEN.value,
            **contact_columns(self.hasher, self.partner_id, body.contact),
            "topic": body.topic,
            "messages": len(messages),
            "createdAt": isoformat(now),
            "lastActivityAt": isoformat(now),
            "concludedAt": "",
        }
        # The thread row first: it is what the sweep finds, so a crash before the message is written
        # leaves nothing the sweep could not reach.
        self.table.create_entity(row)
        for message in messages:
            self.table.create_entity(message)
        context.record(self.log, self.partner_id, "correspondence.opened", _target(thread_id))
        return self.get_thread(thread_id)

    def get_thread(self, thread_id: str) -> ThreadWithMessages:
        row = self._thread(thread_id)
        messages = tables.query(self.table, tables.partition(messages_partition(self.partner_id, thread_id)))
        return ThreadWithMessages(**thread_out(row).model_dump(), items=[_message_out(m) for m in messages])

    def list_threads(self, query: ThreadQuery) -> tuple[list[ThreadOut], str | None]:
        odata = tables.partition(self.partner_id)
        if query.state is not None:
            odata += f" and {tables.eq('state', query.state.value)}"
        rows, token = tables.page(self.table, odata, query.top, query.continuation_token)
        return [thread_out(r) for r in rows], token

    def _update(self, row: tables.Row, updates: dict[str, Any]) -> None:
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
                    "The thread changed meanwhile; retry.",
                ) from None
            raise

    @staticmethod
    def _open(row: Any) -> None:
        if row["state"] != ThreadState.OPEN.value:
            raise ProblemError(
                409,
                "thread-concluded",
                "The correspondence is concluded.",
                f"It was concluded at {row['concludedAt']} and is deleted 30 days later; start a new thread.",
            )

    def add_message(self, thread_id: str, body: MessageIn, context: ActionContext) -> ThreadWithMessages:
        row = self._thread(thread_id)
        self._open(row)
        now = self.clock.now()
        # The thread row first, under its ETag: a thread concluded meanwhile takes no message, and
        # its activity date moves before the message exists, so the sweep never ends it under one.
        self._update(row, {"messages": int(row.get("messages", 0)) + 1, "lastActivityAt": isoformat(now)})
        self.table.create_entity(self._message_row(thread_id, body, now))
        # The event says a message was added and which way; never what it said.
        context.record(
            self.log,
            self.partner_id,
            "correspondence.messageAdded",
            _target(thread_id),
            details={"direction": body.direction.value},
        )
        return self.get_thread(thread_id)

    def conclude_thread(self, thread_id: str, context: ActionContext) -> ThreadWithMessages:
        row = self._thread(thread_id)
        if row["state"] == ThreadState.CONCLUDED.value:
            return self.get_thread(thread_id)  # concluding twice moves no date
        now = self.clock.now()
        self._update(
            row,
            {
                "state": ThreadState.CONCLUDED.value,
                "concludedAt": isoformat(now),
                "lastActivityAt": isoformat(now),
            },
        )
        context.record(
            self.log,
            self.partner_id,
            "correspondence.concluded",
            _target(thread_id),
            details={"deleteAfter": isoformat(now + KEPT_AFTER_CONCLUSION)},
        )
        return self.get_thread(thread_id)


# --- the data subject's side ----------------------------------------------------------------------


def _threads_of(
    account: AccountStorage, hasher: KeyedHasher, partner_id: str, email: str
) -> list[tables.Row]:
    return contact_rows(account.table(TABLE), hasher, partner_id, email)


def threads_of(
    account: AccountStorage, hasher: KeyedHasher, partner_id: str, email: str
) -> list[ThreadWithMessages]:
    """Every thread held with the address, with its messages (an access or portability export)."""
    table = account.table(TABLE)
    found = []
    for row in _threads_of(account, hasher, partner_id, email):
        messages = tables.query(table, tables.partition(messages_partition(partner_id, str(row["RowKey"]))))
        found.append(
            ThreadWithMessages(**thread_out(row).model_dump(), items=[_message_out(m) for m in messages])
        )
    return found


def delete_thread(account: AccountStorage, partner_id: str, thread_id: str) -> bool:
    """The messages, then the thread row (what finds them); True only if the thread was there."""
    from shared.privacy.retention import delete_row

    table = account.table(TABLE)
    tables.delete_partition(table, messages_partition(partner_id, thread_id))
    return delete_row(table, partner_id, thread_id)


def erase_correspondent(account: AccountStorage, hasher: KeyedHasher, partner_id: str, email: str) -> int:
    """Deletes every thread held with the address, messages and all: correspondence is about the
    person alone, nothing of it needs to stay. Returns the threads deleted now (0 on a rerun)."""
    return sum(
        delete_thread(account, partner_id, str(row["RowKey"]))
        for row in _threads_of(account, hasher, partner_id, email)
    )


class EndedCorrespondence:
    """Concluded threads 30 days after their conclusion, abandoned ones (open, untouched for 12
    months) then; whoever the partner is, so a terminated partner's go by the same dates."""

    name = "correspondence.ended"
    covers = (TABLE,)
    tested_by = (
        "tests/integration/test_complaints_correspondence_store.py::"
        "test_correspondence_goes_30_days_after_its_conclusion_or_12_months_untouched"
    )

    def candidates(self, scope: SweepScope, after: str | None) -> Iterator[Candidate]:
        rows = tables.query(
            scope.account.table(TABLE),
            tables.eq("kind", _THREAD),
            select=["PartitionKey", "RowKey", "concludedAt", "lastActivityAt"],
        )
        for row in rows:
            key = f"{row['PartitionKey']}/{row['RowKey']}"
            if delete_after(row) <= scope.as_of and (after is None or key > after):
                yield Candidate(key, CATEGORY, (str(row["PartitionKey"]), str(row["RowKey"])))

    def delete(self, scope: SweepScope, candidate: Candidate) -> bool:
        partner_id, thread_id = candidate.ref
        row = tables.get(scope.account.table(TABLE), partner_id, thread_id)
        if row is None or delete_after(row) > scope.as_of:
            return False  # gone already, or a message arrived since it was listed
        return delete_thread(scope.account, partner_id, thread_id)

"""Maintenance and policy notices (365Sentri terms): the operator schedules maintenance windows,
policy or price changes and sub-processor changes; every affected partner hears of one when it is
scheduled and again before it starts, through its alert subscriptions (an event in its log, as
every alert). A policy or sub-processor change needs a month's notice, a price change 30 days;
`GET /api/notices` lists what is coming.

One row per notice in the control account's `notices` table (no personal data).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator

from shared.audit.context import ActionContext
from shared.audit.log import AuditLog, NewEvent
from shared.clock import Clock, isoformat, parse_iso
from shared.errors import FieldError, validation_failed
from shared.ids import new_id
from shared.models import ApiInput, ApiModel, UtcDateTime
from shared.partners import subscription as subs
from shared.partners.subscription import Subscription, add_months
from shared.storage import tables

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage, StorageRouter

TABLE = "notices"
_PARTITION = "notice"
PRICE_NOTICE = timedelta(days=30)
REMIND_MAINTENANCE = timedelta(hours=24)
REMIND_CHANGE = timedelta(days=7)


class NoticeKind(StrEnum):
    MAINTENANCE = "maintenance"
    POLICY = "policy"
    PRICE = "price"
    SUBPROCESSOR = "subprocessor"  # a sub-processor added or replaced (Art. 28(2) GDPR: prior notice)


class NoticeIn(ApiInput):
    kind: NoticeKind
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)
    starts_at: UtcDateTime = Field(description="The window's start, or when the change takes effect.")
    ends_at: UtcDateTime | None = Field(default=None, description="Maintenance only: the window's end.")
    regions: list[str] = Field(
        default_factory=list, max_length=20, description="Affected regions; none: all."
    )

    @model_validator(mode="after")
    def _window(self) -> NoticeIn:
        if self.ends_at is not None and (
            self.kind is not NoticeKind.MAINTENANCE or self.ends_at <= self.starts_at
        ):
            raise ValueError("endsAt is for maintenance windows and comes after startsAt")
        return self


class NoticeOut(ApiModel):
    id: str
    kind: NoticeKind
    title: str
    description: str
    starts_at: UtcDateTime
    ends_at: UtcDateTime | None
    regions: list[str]
    remind_at: UtcDateTime
    created_at: UtcDateTime


class NoticeList(ApiModel):
    items: list[NoticeOut]
    continuation_token: str | None = None


def earliest_start(kind: NoticeKind, now: datetime) -> datetime:
    """How soon a notice of this kind may take effect: a month for policy, 30 days for price."""
    if kind in (NoticeKind.POLICY, NoticeKind.SUBPROCESSOR):
        return add_months(now, 1)
    if kind is NoticeKind.PRICE:
        return now + PRICE_NOTICE
    return now


def _out(row: Any) -> NoticeOut:
    ends = row.get("endsAt")
    return NoticeOut(
        id=str(row["RowKey"]),
        kind=NoticeKind(row["kind"]),
        title=str(row["title"]),
        description=str(row.get("description") or ""),
        starts_at=parse_iso(row["startsAt"]),
        ends_at=parse_iso(ends) if ends else None,
        regions=[r for r in str(row.get("regions") or "").split(",") if r],
        remind_at=parse_iso(row["remindAt"]),
        created_at=parse_iso(row["createdAt"]),
    )


class NoticeBoard:
    """Schedules notices, lists the upcoming ones, sends reminders when due (a timer)."""

    def __init__(self, router: StorageRouter, regions: tuple[str, ...], clock: Clock):
        self.router = router
        self.regions = regions
        self.clock = clock

    @property
    def table(self) -> Any:
        return self.router.control.table(TABLE)

    def create_notice(self, request: NoticeIn, context: ActionContext) -> NoticeOut:
        now = self.clock.now()
        unknown = [r for r in request.regions if r not in self.regions]
        if unknown:
            raise validation_failed([FieldError("regions", f"unknown region(s): {', '.join(unknown)}")])
        earliest = earliest_start(request.kind, now)
        if request.starts_at <= earliest:
            rule = {
                NoticeKind.POLICY: "a policy change needs a month's notice",
                NoticeKind.PRICE: "a price change needs 30 days' notice",
                NoticeKind.MAINTENANCE: "a maintenance window starts in the future",
                NoticeKind.SUBPROCESSOR: "a sub-processor change needs a month's notice",
            }[request.kind]
            raise validation_failed([FieldError("startsAt", f"{rule}: after {isoformat(earliest)}")])
        remind = request.starts_at - (
            REMIND_MAINTENANCE if request.kind is NoticeKind.MAINTENANCE else REMIND_CHANGE
        )
        row = {
            "PartitionKey": _PARTITION,
            "RowKey": new_id(),
            "kind": request.kind.value,
            "title": request.title,
            "description": request.description,
            "startsAt": isoformat(request.starts_at),
            "endsAt": isoformat(request.ends_at) if request.ends_at else None,
            "regions": ",".join(request.regions),
            "remindAt": isoformat(max(remind, now)),
            "reminded": False,
            "createdAt": isoformat(now),
            "createdBy": context.actor.id,
        }
        tables.write(self.table, [("create", {k: v for k, v in row.items() if v is not None})])
        notice = _out(row)
        self._tell_partners(notice, "notice.scheduled")
        return notice

    def list_notices(self) -> NoticeList:
        """Upcoming and running notices, soonest first."""
        now = isoformat(self.clock.now())
        rows = tables.query(self.table, tables.partition(_PARTITION))
        upcoming = [r for r in rows if str(r.get("endsAt") or r["startsAt"]) >= now]
        return NoticeList(items=sorted((_out(r) for r in upcoming), key=lambda n: n.starts_at))

    def send_reminders(self) -> int:
        """Each notice whose reminder is due is reminded once (claimed under its ETag first)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError
        from azure.data.tables import UpdateMode

        now = isoformat(self.clock.now())
        due = tables.query(
            self.table,
            f"{tables.partition(_PARTITION)} and remindAt le {tables.literal(now)} and reminded eq false",
        )
        sent = 0
        for row in due:
            if str(row["startsAt"]) <= now:
                continue  # started already: a reminder would come too late to help
            try:
                self.table.update_entity(
                    {"PartitionKey": _PARTITION, "RowKey": row["RowKey"], "reminded": True},
                    mode=UpdateMode.MERGE,
                    etag=row.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
            except HttpResponseError as error:
                if error.status_code in (409, 412):
                    continue  # another instance reminds
                raise
            self._tell_partners(_out(row), "notice.reminder")
            sent += 1
        return sent

    def _tell_partners(self, notice: NoticeOut, action: str) -> None:
        for region in notice.regions or list(self.regions):
            account = self.router.region(region)
            log = AuditLog(account, self.clock)
            for partner_id in _active_partners(account, self.clock.now()):
                log.append(
                    partner_id,
                    NewEvent(
                        action=action,
                        actor={"type": "system", "id": "notices"},
                        target={"type": "notice", "id": notice.id},
                        details={
                            "kind": notice.kind.value,
                            "title": notice.title,
                            "startsAt": isoformat(notice.starts_at),
                            "endsAt": isoformat(notice.ends_at) if notice.ends_at else None,
                        },
                    ),
                )


def _active_partners(account: AccountStorage, now: datetime) -> Iterator[str]:
    rows = account.table("partners").query_entities(
        "RowKey eq 'partner'", select=["PartitionKey", "subscription"]
    )
    for row in rows:
        state = subs.advance(Subscription.model_validate_json(str(row["subscription"])), now).state
        if state.value != "terminated":
            yield str(row["PartitionKey"])


NoticeBoardFactory = Callable[[], NoticeBoard]

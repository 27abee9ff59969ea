"""Sub-processor changes (Art. 28(2) GDPR): announced ahead, objected to by partners, in the record.

A change is announced through the notice board (a `subprocessor` notice: every affected partner
gets an event and, when subscribed, an alert), so the notice row is the change's record and goes
with it (`notices.past`). Privacy sits below the alerts area, so the board is handed in by the
composition root as a `NoticeChannel`. A partner's objection lives on its privacy-settings row
(`subprocessorObjections`), which ends with its administration records.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import Field

from shared.audit.context import ActionContext
from shared.audit.log import AuditLog
from shared.clock import Clock, isoformat
from shared.errors import FieldError, ProblemError, not_found, validation_failed
from shared.models import ApiInput, ApiModel, UtcDateTime
from shared.privacy import record
from shared.privacy.retention import ADMIN_RECORD_YEARS, SETTINGS_TABLE
from shared.privacy.transfers import TransferApprovals, TransferOut

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

NOTICE_AHEAD = timedelta(days=30)  # the least notice of a change the DPA promises
OBJECTION_WINDOW = timedelta(days=30)  # the DPA's window to object, from the announcement
_ROW = "settings"
_OBJECTIONS = "subprocessorObjections"


@dataclass(frozen=True)
class Announced:
    """A sub-processor notice as the notice board keeps it."""

    id: str
    title: str
    description: str
    starts_at: datetime
    regions: tuple[str, ...]
    created_at: datetime


class NoticeChannel(Protocol):
    """What announcing needs of the notice board (shared/alerts/notices.py), wired in functions/deps.py."""

    def announce(
        self, title: str, description: str, starts_at: datetime, regions: list[str], context: ActionContext
    ) -> Announced: ...

    def list_announced(self) -> list[Announced]:
        """Sub-processor notices not yet in effect, soonest first."""
        ...


class SubprocessorChangeIn(ApiInput):
    change: Literal["added", "replaced", "removed"]
    name: str = Field(min_length=1, max_length=200, description="The sub-processor (company).")
    service: str = Field(min_length=1, max_length=200, description="The service it provides.")
    purpose: str = Field(default="", max_length=1000)
    location: str = Field(min_length=1, max_length=200, description="Where it processes data.")
    replaces: str | None = Field(default=None, max_length=200, description="Replaced only: whom.")
    regions: list[str] = Field(
        default_factory=list, max_length=20, description="Affected regions; none: all."
    )
    effective_at: UtcDateTime = Field(description="When the change takes effect: at least 30 days ahead.")


class ObjectionIn(ApiInput):
    reason: str = Field(min_length=1, max_length=2000, description="Why the partner objects.")


class Objection(ApiModel):
    objected_at: UtcDateTime
    objected_by: dict[str, Any]
    reason: str


class SubprocessorChangeOut(ApiModel):
    id: str
    title: str
    description: str
    effective_at: UtcDateTime
    regions: list[str]
    announced_at: UtcDateTime
    objection_until: UtcDateTime = Field(description="The last moment a partner may object (30 days).")
    objection: Objection | None = Field(
        default=None, description="The partner's objection (in the partner's own record only)."
    )


class SubprocessorChangeList(ApiModel):
    items: list[SubprocessorChangeOut]


class PublicProcessingRecord(record.ProcessingRecord):
    pending_subprocessor_changes: list[SubprocessorChangeOut]


class PartnerProcessingRecord(PublicProcessingRecord):
    partner_id: str
    transfers: list[TransferOut] = Field(description="Third-country transfers and the partner's approval.")


def _out(notice: Announced, objection: Objection | None = None) -> SubprocessorChangeOut:
    return SubprocessorChangeOut(
        id=notice.id,
        title=notice.title,
        description=notice.description,
        effective_at=notice.starts_at,
        regions=list(notice.regions),
        announced_at=notice.created_at,
        objection_until=objection_until(notice),
        objection=objection,
    )


def objection_until(notice: Announced) -> datetime:
    return min(notice.created_at + OBJECTION_WINDOW, notice.starts_at)


def _describe(body: SubprocessorChangeIn) -> tuple[str, str]:
    verb = {"added": "added", "replaced": "replacing " + (body.replaces or "another"), "removed": "removed"}
    title = f"Sub-processor {verb[body.change]}: {body.name} ({body.service}, {body.location})"
    description = f"{body.purpose}\n" if body.purpose else ""
    description += "You may object within 30 days of this notice (data processing agreement)."
    return title[:200], description


class SubprocessorChanges:
    """Announcing changes (the operator), objecting to them (a partner), and the record showing both."""

    def __init__(self, channel: NoticeChannel, clock: Clock):
        self.channel = channel
        self.clock = clock

    def announce(self, body: SubprocessorChangeIn, context: ActionContext) -> SubprocessorChangeOut:
        earliest = self.clock.now() + NOTICE_AHEAD
        if body.effective_at < earliest:
            raise validation_failed(
                [
                    FieldError(
                        "effectiveAt", f"a sub-processor change needs 30 days' notice: {isoformat(earliest)}"
                    )
                ]
            )
        title, description = _describe(body)
        return _out(self.channel.announce(title, description, body.effective_at, body.regions, context))

    def list_pending(self, region: str | None = None) -> list[Announced]:
        return [
            n for n in self.channel.list_announced() if region is None or not n.regions or region in n.regions
        ]

    def public_record(self) -> PublicProcessingRecord:
        base = record.processing_record()
        return PublicProcessingRecord(
            **base.model_dump(), pending_subprocessor_changes=[_out(n) for n in self.list_pending()]
        )

    # --- one partner --------------------------------------------------------------------------

    def _objections(self, account: AccountStorage, partner_id: str) -> tuple[Any | None, dict[str, Any]]:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            row = account.table(SETTINGS_TABLE).get_entity(partner_id, _ROW)
        except ResourceNotFoundError:
            return None, {}
        return row, json.loads(str(row.get(_OBJECTIONS) or "{}"))

    def object_to(
        self,
        account: AccountStorage,
        partner_id: str,
        change_id: str,
        body: ObjectionIn,
        context: ActionContext,
        *,
        region: str,
    ) -> SubprocessorChangeOut:
        """Records the partner's objection, once, within the window; audited in the partner's log."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError
        from azure.data.tables import UpdateMode

        notice = next((n for n in self.list_pending(region) if n.id == change_id), None)
        if notice is None:
            raise not_found("No such pending sub-processor change.")
        now = self.clock.now()
        if now > objection_until(notice):
            raise ProblemError(
                409,
                "objection-window-closed",
                "Too late to object.",
                f"Objections to this change were possible until {isoformat(objection_until(notice))}.",
            )
        objection = Objection(objected_at=now, objected_by=_actor(context), reason=body.reason)
        table = account.table(SETTINGS_TABLE)
        for _ in range(5):
            row, objections = self._objections(account, partner_id)
            if change_id in objections:
                raise ProblemError(
                    409, "already-objected", "Already objected.", "The objection is on record."
                )
            objections[change_id] = objection.model_dump(mode="json", by_alias=True)
            entity: dict[str, Any] = {
                "PartitionKey": partner_id,
                "RowKey": _ROW,
                _OBJECTIONS: json.dumps(objections),
            }
            try:
                if row is None:
                    entity.update(administrationRetentionYears=ADMIN_RECORD_YEARS, updatedAt=isoformat(now))
                    table.create_entity(entity)
                else:
                    table.update_entity(
                        entity, mode=UpdateMode.MERGE, etag=row.metadata["etag"],
                        match_condition=MatchConditions.IfNotModified,
                    )  # fmt: skip
            except HttpResponseError as error:
                if error.status_code in (409, 412):
                    continue  # someone else wrote the row meanwhile: read it again
                raise
            context.record(
                AuditLog(account, self.clock),
                partner_id,
                "privacy.subprocessor.objected",
                {"type": "subprocessorChange", "id": change_id},
                details={"title": notice.title, "effectiveAt": isoformat(notice.starts_at)},
            )
            return _out(notice, objection)
        raise ProblemError(409, "concurrent-change", "Changed by someone else.", "Retry.")

    def partner_record(
        self, account: AccountStorage, partner_id: str, region: str
    ) -> PartnerProcessingRecord:
        _, objections = self._objections(account, partner_id)
        pending = [
            _out(n, Objection.model_validate(objections[n.id]) if n.id in objections else None)
            for n in self.list_pending(region)
        ]
        base = record.processing_record()
        return PartnerProcessingRecord(
            **base.model_dump(),
            pending_subprocessor_changes=pending,
            partner_id=partner_id,
            transfers=TransferApprovals(account, self.clock).list_transfers(partner_id).items,
        )


def _actor(context: ActionContext) -> dict[str, Any]:
    actor: dict[str, Any] = {"type": context.actor.type, "id": context.actor.id}
    if context.actor.display:
        actor["display"] = context.actor.display
    return actor

"""Verify as a use case: small logs answer at once, large ones run as a long operation in bounded steps.

A request never reads more than `verify.STEP_ROWS` event rows. When the head rows say the log (or
the month asked for) holds more than that, `start` records a verification (a `~verify-` row in the
partner's partition of the current events bucket, so it ends with the log; its state is the
verifier's continuation) and queues it; each queue message runs
one bounded step, saves the continuation and queues the next, so no message runs long and a crash
resumes from the last saved step. The status resource shows progress and, at the end, the result.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from shared.audit.anchors import AnchorStore
from shared.audit.log import BUCKET_PREFIX, AuditLog, bucket_name
from shared.audit.verify import STEP_ROWS, VerifyResult, is_done, result_of
from shared.clock import isoformat
from shared.errors import not_found
from shared.ids import new_id
from shared.models import ApiModel
from shared.storage import queues, tables

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

QUEUE = "auditverify"
ROW = "~verify-"  # sorts after every event and head row: event queries never meet it
ID_PATTERN = r"^[0-9]{6}[0-7][0-9A-HJKMNP-TV-Z]{25}$"  # the bucket's yyyymm, then a ULID


class VerificationMessage(BaseModel):
    """Ids only, as every queue message."""

    model_config = ConfigDict(populate_by_name=True)
    partner_id: str = Field(alias="partnerId")
    verification_id: str = Field(alias="verificationId")


class VerificationOut(ApiModel):
    id: str
    state: str = Field(description="queued | running | succeeded (the check ran; see valid)")
    month: str | None = Field(default=None, description="YYYY-MM, or null for every month kept.")
    total: int = Field(description="Events to check, as the chains' heads counted them at the start.")
    checked: int = Field(description="Events checked so far.")
    valid: bool | None = Field(default=None, description="Null until the check has finished.")
    first_broken_event_id: str | None = None
    reason: str | None = Field(default=None, description="Why the first broken event does not fit.")
    created_at: str
    finished_at: str | None = None


@dataclass(frozen=True)
class Started:
    """What `start` did: answered at once (`result`) or queued a long operation (`operation`)."""

    result: VerifyResult | None
    operation: VerificationOut | None


class VerificationService:
    def __init__(self, account: AccountStorage, log: AuditLog, budget: int = STEP_ROWS):
        self.account = account
        self.log = log
        self.anchors = AnchorStore(account, log.clock)
        self.budget = budget

    def start(self, partner_id: str, month: str | None) -> Started:
        total = self.log.count_events(partner_id, month)
        state = self.log.verify_start(month)
        if total <= self.budget:
            state = self.log.verify_step(partner_id, state, self.anchors, self.budget)
            if is_done(state):
                return Started(result_of(state), None)
        moment = self.log.clock.now()
        now = isoformat(moment)
        verification_id = bucket_name(moment)[len(BUCKET_PREFIX) :] + new_id()
        row = {
            "PartitionKey": partner_id,
            "RowKey": ROW + verification_id,
            "state": "queued",
            "month": month,
            "total": total,
            "checked": int(state["checked"]),
            "progress": json.dumps(state),
            "createdAt": now,
        }
        table = self.log.account.table(bucket_name(moment))
        tables.write(table, [("create", {k: v for k, v in row.items() if v is not None})])
        self._enqueue(partner_id, verification_id)
        return Started(None, _out(row))

    def get(self, partner_id: str, verification_id: str) -> VerificationOut:
        row = self._row(partner_id, verification_id)
        if row is None:
            raise not_found("No such verification.")
        return _out(row)

    def _table(self, verification_id: str) -> Any:
        return self.account.table_service().get_table_client(BUCKET_PREFIX + verification_id[:6])

    def _row(self, partner_id: str, verification_id: str) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return tables.get(self._table(verification_id), partner_id, ROW + verification_id)
        except ResourceNotFoundError:
            return None  # no such bucket

    def run_step(self, partner_id: str, verification_id: str) -> bool:
        """One bounded step; queues the next one. True when the verification has finished."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError
        from azure.data.tables import UpdateMode

        table = self._table(verification_id)
        row = self._row(partner_id, verification_id)
        if row is None or row.get("state") == "succeeded":
            return True  # gone, or a repeated message of a finished one
        state = self.log.verify_step(partner_id, json.loads(str(row["progress"])), self.anchors, self.budget)
        done = is_done(state)
        update: dict[str, Any] = {
            "PartitionKey": partner_id,
            "RowKey": ROW + verification_id,
            "state": "succeeded" if done else "running",
            "checked": int(state["checked"]),
            "progress": json.dumps(state),
        }
        if done:
            result = result_of(state)
            update |= {
                "valid": result.valid,
                "firstBrokenEventId": result.first_broken_event_id or "",
                "reason": result.reason or "",
                "finishedAt": isoformat(self.log.clock.now()),
            }
        # Under the ETag: a message delivered twice runs the same step once; the other gives up.
        try:
            table.update_entity(
                update, mode=UpdateMode.MERGE, etag=row.etag, match_condition=MatchConditions.IfNotModified
            )
        except ResourceModifiedError:
            return False  # a twin delivery saved this step first and queued the next
        if not done:
            self._enqueue(partner_id, verification_id)
        return done

    def _enqueue(self, partner_id: str, verification_id: str) -> None:
        message = VerificationMessage(partnerId=partner_id, verificationId=verification_id)
        queues.enqueue(self.account.queue(QUEUE), message)


def _out(row: dict[str, Any]) -> VerificationOut:
    finished = row.get("state") == "succeeded"
    return VerificationOut(
        id=str(row["RowKey"])[len(ROW) :],
        state=str(row.get("state", "queued")),
        month=row.get("month") or None,
        total=int(row.get("total", 0)),
        checked=int(row.get("checked", 0)),
        valid=bool(row["valid"]) if finished and "valid" in row else None,
        first_broken_event_id=(row.get("firstBrokenEventId") or None) if finished else None,
        reason=(row.get("reason") or None) if finished else None,
        created_at=str(row.get("createdAt", "")),
        finished_at=row.get("finishedAt") or None,
    )

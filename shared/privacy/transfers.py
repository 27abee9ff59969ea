"""Third-country transfers a partner approves explicitly: Firebase (global) for its organisations' pushes.

The approval lives on the partner's privacy-settings row (`privacysettings`, RowKey `settings`), so
it ends with the partner's administration records (the `administration.records` rule deletes that
row) and needs no table or retention rule of its own. Until it is given, and after an owner
withdraws it, no push leaves Tenantry:
direct sends answer 409 and Dataverse deliveries are recorded as refused (see `require_push`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.audit.context import ActionContext
from shared.audit.log import AuditLog
from shared.clock import Clock, isoformat, parse_iso
from shared.errors import ProblemError
from shared.models import ApiModel, UtcDateTime
from shared.privacy.retention import ADMIN_RECORD_YEARS, SETTINGS_TABLE

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

FIREBASE = "firebase"
_ROW = "settings"
_APPROVED_AT = "firebaseTransferApprovedAt"
_APPROVED_BY = "firebaseTransferApprovedBy"


class TransferOut(ApiModel):
    service: str
    provider: str
    destination: str
    mechanism: str
    approved: bool
    approved_at: UtcDateTime | None
    approved_by: dict[str, Any] | None


class TransferList(ApiModel):
    items: list[TransferOut]


def _firebase(row: Any | None) -> TransferOut:
    approved_at = (row or {}).get(_APPROVED_AT)
    by = (row or {}).get(_APPROVED_BY)
    return TransferOut(
        service=FIREBASE,
        provider="Google LLC (Firebase Cloud Messaging)",
        destination="global (the United States and wherever Google runs FCM)",
        mechanism="EU-US Data Privacy Framework; Standard Contractual Clauses (module 3)",
        approved=bool(approved_at),
        approved_at=parse_iso(str(approved_at)) if approved_at else None,
        approved_by={"type": str(by).split(":", 1)[0], "id": str(by).split(":", 1)[1]} if by else None,
    )


def transfer_not_approved() -> ProblemError:
    return ProblemError(
        409,
        "transfer-not-approved",
        "Push transfers are not approved.",
        "Push notifications go through Firebase Cloud Messaging, a global service outside the EEA. "
        "An owner of the partner must approve that transfer first: "
        "PUT /api/partners/{partnerId}/privacy/transfers/firebase.",
    )


# An approval is read on every webhook delivery, and a storage read each time was a sixth of its
# time under load (#22), so a seen approval is remembered for `APPROVAL_CACHE_SECONDS`. An owner can
# withdraw it (`withdraw`): every instance refuses pushes again at most that long after, when its
# remembered approval runs out. Not-yet-approved is always read again, so an approval counts at once.
APPROVAL_CACHE_SECONDS = 30
_APPROVED: OrderedDict[tuple[str, str], datetime] = OrderedDict()  # -> when it was read approved
_APPROVED_LOCK = threading.Lock()
_APPROVED_MAX = 10_000


class TransferApprovals:
    """One region's partners' approvals of third-country transfers."""

    def __init__(self, account: AccountStorage, clock: Clock):
        self.account = account
        self.clock = clock

    @property
    def table(self) -> Any:
        return self.account.table(SETTINGS_TABLE)

    def _row(self, partner_id: str) -> Any | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.table.get_entity(partner_id, _ROW)
        except ResourceNotFoundError:
            return None

    def list_transfers(self, partner_id: str) -> TransferList:
        return TransferList(items=[_firebase(self._row(partner_id))])

    def get_firebase(self, partner_id: str) -> TransferOut:
        return _firebase(self._row(partner_id))

    def approve(self, partner_id: str, context: ActionContext) -> TransferOut:
        """Records the approval (once: approving again keeps the first approval) and audits it."""
        row = self._row(partner_id)
        if row is not None and row.get(_APPROVED_AT):
            return _firebase(row)
        entity: dict[str, Any] = {
            "PartitionKey": partner_id,
            "RowKey": _ROW,
            _APPROVED_AT: isoformat(self.clock.now()),
            _APPROVED_BY: f"{context.actor.type}:{context.actor.id}",
        }
        if row is None:
            # The settings row is read as a whole elsewhere: a new one carries the default term.
            entity["administrationRetentionYears"] = ADMIN_RECORD_YEARS
            entity["updatedAt"] = entity[_APPROVED_AT]
        self.table.upsert_entity(entity)  # MERGE: the partner's other settings stay
        context.record(
            AuditLog(self.account, self.clock),
            partner_id,
            "privacy.transfer.approved",
            {"type": "transfer", "id": FIREBASE},
            details={"service": FIREBASE},
        )
        return self.get_firebase(partner_id)

    def withdraw(self, partner_id: str, context: ActionContext) -> None:
        """Ends the approval (idempotent) and audits it; pushes are refused again on every instance
        within `APPROVAL_CACHE_SECONDS`, at once on this one."""
        row = self._row(partner_id)
        with _APPROVED_LOCK:
            _APPROVED.pop((self.account.label, partner_id), None)
        if row is None or not row.get(_APPROVED_AT):
            return
        # MERGE: the partner's other settings stay; empty values read as never approved.
        self.table.upsert_entity(
            {"PartitionKey": partner_id, "RowKey": _ROW, _APPROVED_AT: "", _APPROVED_BY: ""}
        )
        context.record(
            AuditLog(self.account, self.clock),
            partner_id,
            "privacy.transfer.withdrawn",
            {"type": "transfer", "id": FIREBASE},
            details={"service": FIREBASE, "approvedAt": str(row.get(_APPROVED_AT))},
        )

    def firebase_approved(self, partner_id: str) -> bool:
        """Whether pushes may leave for Firebase (an approval remembered for a while, see `_APPROVED`)."""
        key = (self.account.label, partner_id)
        now = self.clock.now()
        with _APPROVED_LOCK:
            seen = _APPROVED.get(key)
            if seen is not None and now - seen < timedelta(seconds=APPROVAL_CACHE_SECONDS):
                _APPROVED.move_to_end(key)
                return True
            _APPROVED.pop(key, None)
        if not self.get_firebase(partner_id).approved:
            return False
        with _APPROVED_LOCK:
            _APPROVED[key] = now
            while len(_APPROVED) > _APPROVED_MAX:
                _APPROVED.popitem(last=False)
        return True

    def require_push(self, partner_id: str) -> None:
        """Raises 409 `transfer-not-approved` unless the partner approved the Firebase transfer."""
        if not self.firebase_approved(partner_id):
            raise transfer_not_approved()

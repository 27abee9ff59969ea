"""Queue messages given up on: why each failed (a row kept 30 days) and an event its partner sees."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.audit.log import AuditLog, NewEvent
from shared.clock import Clock, isoformat

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

TABLE = "poisonmessages"
# Rows of messages that name no partner (or one this region does not hold).
SYSTEM_PARTITION = "~system"
ACTION = "queue.message.poisoned"
REASON_LENGTH = 300
# Partner ids are ULIDs; anything else a broken message claims is not looked up, nor written to a lane.
_PARTNER_ID = re.compile(r"^[0-9A-Z]{26}$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class PoisonedMessage:
    queue: str
    message_id: str
    attempts: int
    partner_id: str | None  # None: the row is in the system partition, no event was written
    error_type: str
    reason: str


def named_ids(body: bytes | str) -> tuple[str | None, str | None]:
    """(partner id, tenant id) a message names at its top level (or, for a group, all its jobs
    alike); None where it names none or they cannot be read."""
    try:
        parsed: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None, None
    candidates = [parsed] if isinstance(parsed, dict) else []
    if isinstance(parsed, dict) and isinstance(parsed.get("jobs"), list):
        candidates = [job for job in parsed["jobs"] if isinstance(job, dict)]

    def one(*keys: str, pattern: re.Pattern[str]) -> str | None:
        values = {str(c.get(k)) for c in candidates for k in keys if isinstance(c.get(k), str)}
        value = values.pop() if len(values) == 1 else None
        return value if value is not None and pattern.fullmatch(value) else None

    return (
        one("partnerId", "partner_id", pattern=_PARTNER_ID),
        one("tenantId", "tenant_id", pattern=_GUID),
    )


def reason_of(error: BaseException, body: bytes | str, redact: Callable[[str], str]) -> str:
    """A short reason that never carries the message body, a token or a secret: a validation error
    lists where and what (never the input), anything else its message redacted, cut short."""
    from pydantic import ValidationError

    if isinstance(error, ValidationError):
        problems = error.errors(include_url=False, include_input=False, include_context=False)
        text = f"{error.error_count()} validation error(s): " + "; ".join(
            f"{'.'.join(str(p) for p in problem['loc']) or 'message'}: {problem['msg']}"
            for problem in problems
        )
    else:
        text = str(error)
    raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    if len(raw.strip()) >= 4:
        # Exceptions that quote what they were given would carry the body into the record.
        text = text.replace(raw.strip(), "[message body]")
    text = _SPACE.sub(" ", redact(text)).strip()
    if len(text) > REASON_LENGTH:
        text = text[: REASON_LENGTH - 3] + "..."
    return text or "(no message)"


class PoisonMessages:
    """One region's record of queue messages that failed their last attempt.

    `partner_here(id)` says whether the partner exists and is held in this region: only then does
    the row go to its partition and the event to its log (a message naming another region's partner,
    or none that exists, is kept in the system partition for the operator)."""

    def __init__(
        self,
        account: AccountStorage,
        clock: Clock,
        *,
        redact: Callable[[str], str],
        partner_here: Callable[[str], bool],
    ):
        self.account = account
        self.clock = clock
        self.redact = redact
        self.partner_here = partner_here

    def record(
        self, queue: str, message_id: str, body: bytes | str, error: BaseException, attempts: int
    ) -> PoisonedMessage:
        """Records the failure once: a second call for the same message (the host retried the
        recording attempt) finds the row and writes no second event."""
        from azure.core.exceptions import ResourceExistsError

        partner, tenant = named_ids(body)
        if partner is not None and not self.partner_here(partner):
            partner = None
        poisoned = PoisonedMessage(
            queue=queue,
            message_id=message_id,
            attempts=attempts,
            partner_id=partner,
            error_type=type(error).__name__,
            reason=reason_of(error, body, self.redact),
        )
        row = {
            "PartitionKey": partner or SYSTEM_PARTITION,
            "RowKey": f"{queue}~{message_id}",
            "queue": queue,
            "messageId": message_id,
            "attempts": attempts,
            "errorType": poisoned.error_type,
            "reason": poisoned.reason,
            "recordedAt": isoformat(self.clock.now()),
        }
        try:
            self.account.table(TABLE).create_entity(row)
        except ResourceExistsError:
            return poisoned
        if partner is not None:
            AuditLog(self.account, self.clock).append(
                partner,
                NewEvent(
                    action=ACTION,
                    actor={"type": "system", "id": "queues"},
                    target={"type": "queueMessage", "id": message_id, "queue": queue},
                    details={
                        "queue": queue,
                        "messageId": message_id,
                        "attempts": attempts,
                        "errorType": poisoned.error_type,
                        "reason": poisoned.reason,
                    },
                    tenant_id=tenant,
                ),
            )
        return poisoned

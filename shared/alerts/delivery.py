"""Delivering one alert to one subscription: claim the attempt, send, record, retry or give up.

Each delivery is its own queue message (ids only), so one receiver's trouble stays its own: a
receiver has 5 s to answer, and retries (and every attempt of a subscription that is currently
failing) go through a second queue, so slow or broken endpoints never sit in front of healthy
ones. At-least-once: an attempt is claimed under the row's ETag before it is sent, and a message
for an attempt already taken is dropped; the receiver dedups on `webhook-id`, the same on every
attempt. Retries follow a Svix-like schedule (about a day, with jitter) on 5xx, 429 (honouring
Retry-After) and timeouts; when the schedule runs out the subscription is disabled and the
partner's owners are told.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from shared.alerts import messages
from shared.alerts.destinations import DestinationRefusedError
from shared.alerts.models import (
    DELIVERY_QUEUE,
    RETRY_QUEUE,
    AttemptOut,
    Channel,
    DeliveryMessage,
    DeliveryOut,
    DeliveryState,
    SubscriptionState,
)
from shared.alerts.outbound import HttpSender, Outcome
from shared.alerts.rules import Severity
from shared.alerts.signing import headers as signed_headers
from shared.alerts.subscriptions import Subscription, SubscriptionStore
from shared.audit.log import AuditLog, NewEvent
from shared.clock import Clock, isoformat, parse_iso
from shared.errors import ProblemError, not_found
from shared.storage import tables

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

log = logging.getLogger("tenantry.alerts")

TABLE = "alertdeliveries"
# Seconds before each retry: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (about 28 hours in all).
SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000)
MAX_ATTEMPTS = len(SCHEDULE) + 1
JITTER = 0.1  # each delay +-10 %, so receivers that failed together do not retry together
# A claimed attempt not finished after this long died with its worker: it counts as a timeout.
STALE_CLAIM = timedelta(minutes=2)
FINAL = frozenset(
    {DeliveryState.DELIVERED, DeliveryState.FAILED, DeliveryState.REFUSED, DeliveryState.DIGEST}
)

# (queue name, message, delay in seconds): the region's queue in Azure, a recorder in tests.
Dispatch = Callable[[str, DeliveryMessage, int], None]


class Mailer(Protocol):
    def send(self, *, to: list[str], subject: str, text: str) -> Any: ...


# (partner id, subscription id, why): tells the partner's owners a subscription was disabled.
OwnerNotice = Callable[[str, str, str], None]


def queue_dispatch(account: AccountStorage) -> Dispatch:
    from shared.storage.queues import enqueue

    def dispatch(queue: str, message: DeliveryMessage, delay: int) -> None:
        enqueue(account.queue(queue), message, delay_seconds=delay or None)

    return dispatch


def retry_delay(
    attempt: int, retry_after: float | None, *, jitter: Callable[[], float] = random.random
) -> int:
    """Seconds before the attempt after `attempt` (1-based), at least what Retry-After asked."""
    base = SCHEDULE[attempt - 1]
    delay = base * (1 - JITTER + 2 * JITTER * jitter())
    return int(max(delay, retry_after or 0))


def delivery_out(row: Any) -> DeliveryOut:
    history = [
        AttemptOut(
            at=parse_iso(h["at"]), status_code=h.get("code"), latency_ms=h.get("ms"), error=h.get("error")
        )
        for h in json.loads(row.get("history") or "[]")
    ]
    next_at = row.get("nextAttemptAt")
    return DeliveryOut(
        id=str(row["RowKey"]),
        webhook_id=webhook_id(str(row["RowKey"])),
        alert_type=str(row["alertType"]),
        severity=Severity(row["severity"]),
        tenant_id=row.get("tenantId") or None,
        event_id=str(row["eventId"]),
        title=str(row["title"]),
        state=DeliveryState(row["state"]),
        attempts=int(row.get("attempts") or 0),
        status_code=row.get("statusCode"),
        latency_ms=row.get("latencyMs"),
        error=row.get("error") or None,
        created_at=parse_iso(row["createdAt"]),
        next_attempt_at=parse_iso(next_at) if next_at and row["state"] == DeliveryState.RETRYING else None,
        history=history,
    )


def webhook_id(delivery_id: str) -> str:
    return f"msg_{delivery_id}"


@dataclass(frozen=True)
class Channels:
    http: HttpSender
    mailer: Mailer | None
    origin: str  # the stamp's public origin, for links in cards and e-mails


class DeliveryRunner:
    """Runs delivery messages of one region."""

    def __init__(
        self,
        account: AccountStorage,
        clock: Clock,
        channels: Channels,
        subscriptions: Callable[[str], SubscriptionStore],
        *,
        dispatch: Dispatch | None = None,
        owners_told: OwnerNotice | None = None,
    ):
        self.account = account
        self.clock = clock
        self.channels = channels
        self.subscriptions = subscriptions
        self.dispatch = dispatch or queue_dispatch(account)
        self.owners_told = owners_told

    @property
    def table(self) -> Any:
        return self.account.table(TABLE)

    def deliver(self, message: DeliveryMessage) -> DeliveryState | None:  # noqa: PLR0911 - each way a message ends
        """One attempt, if this message is still the one due; returns the delivery's state after it
        (None when the message was stale and did nothing)."""
        row = tables.get(self.table, message.subscription_id, message.delivery_id)
        if row is None or DeliveryState(row["state"]) in FINAL:
            return None
        attempts = int(row.get("attempts") or 0)
        now = self.clock.now()
        state = DeliveryState(row["state"])
        if state is DeliveryState.SENDING and attempts == message.attempt:
            last = row.get("lastAttemptAt")
            if last and now - parse_iso(last) < STALE_CLAIM:
                return None  # another worker is sending it right now
            return self._record(row, message, Outcome(None, 0, "worker lost during the attempt"))
        if attempts + 1 != message.attempt:
            return None  # a duplicate of an attempt already made
        due = row.get("nextAttemptAt")
        if due and parse_iso(due) > now + timedelta(seconds=1):
            wait = int((parse_iso(due) - now).total_seconds()) + 1
            self.dispatch(RETRY_QUEUE, message, wait)  # came early (a re-send, or a clock apart)
            return None
        store = self.subscriptions(message.partner_id)
        sub_row = store.get_row(message.subscription_id)
        if sub_row is None or sub_row["state"] != SubscriptionState.ACTIVE.value:
            self._update(
                row, {"state": DeliveryState.FAILED.value, "error": "subscription disabled or deleted"}
            )
            return DeliveryState.FAILED
        claimed = self._claim(row, message.attempt, now)
        if claimed is None:
            return None
        subscription = store.open(sub_row)
        try:
            outcome = self._send(subscription, claimed)
        except DestinationRefusedError as error:
            outcome = Outcome(None, 0, f"destination not allowed: {error}")
            return self._record(claimed, message, outcome, refused=True, subscription=subscription)
        return self._record(claimed, message, outcome, subscription=subscription)

    def _claim(self, row: tables.Row, attempt: int, now: Any) -> tables.Row | None:
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError
        from azure.data.tables import UpdateMode

        changes = {"state": DeliveryState.SENDING.value, "attempts": attempt, "lastAttemptAt": isoformat(now)}
        if not row.get("firstAttemptAt"):
            changes["firstAttemptAt"] = now.isoformat()
        entity = {"PartitionKey": row["PartitionKey"], "RowKey": row["RowKey"], **changes}
        try:
            written = self.table.update_entity(
                entity, mode=UpdateMode.MERGE, etag=row.etag, match_condition=MatchConditions.IfNotModified
            )
        except HttpResponseError as error:
            if error.status_code in (409, 412):
                return None  # another worker took this attempt
            raise
        return tables.Row({**row, **changes}, written.get("etag"))

    def _send(self, subscription: Subscription, row: Any) -> Outcome:
        payload = json.loads(row["payload"])
        origin = self.channels.origin
        if subscription.channel is Channel.EMAIL:
            return self._mail(subscription, payload)
        if subscription.url is None:
            return Outcome(400, 0, "the subscription has no url")
        if subscription.channel is Channel.TEAMS:
            return self.channels.http.post(subscription.url, messages.teams_card(payload, origin), {})
        body = messages.webhook_body(payload)
        timestamp = int(self.clock.now().timestamp())
        headers = signed_headers(subscription.secrets, webhook_id(str(row["RowKey"])), timestamp, body)
        return self.channels.http.post(subscription.url, body, headers)

    def _mail(self, subscription: Subscription, payload: dict[str, Any]) -> Outcome:
        if self.channels.mailer is None:
            return Outcome(400, 0, "e-mail is not configured on this stamp")
        if payload.get("type") == "alert.digest":
            subject, text = messages.digest_email(payload["alerts"], self.channels.origin)
        else:
            subject, text = messages.email(payload, self.channels.origin)
        result = self.channels.mailer.send(to=subscription.recipients, subject=subject, text=text)
        return Outcome(result.status_code, result.latency_ms, result.error, result.retry_after)

    def _record(
        self,
        row: Any,
        message: DeliveryMessage,
        outcome: Outcome,
        *,
        refused: bool = False,
        subscription: Subscription | None = None,
    ) -> DeliveryState:
        now = self.clock.now()
        attempt = message.attempt
        history = json.loads(row.get("history") or "[]")
        history.append(
            {
                "at": isoformat(now),
                "code": outcome.status_code,
                "ms": outcome.latency_ms,
                "error": outcome.error,
            }
        )
        changes: dict[str, Any] = {
            "history": json.dumps(history[-MAX_ATTEMPTS * 2 :]),
            "statusCode": outcome.status_code,
            "latencyMs": outcome.latency_ms,
            "error": outcome.error or "",
        }
        store = self.subscriptions(message.partner_id)
        if outcome.ok:
            changes["state"] = DeliveryState.DELIVERED.value
            changes["deliveredAt"] = isoformat(now)
            self._update(row, changes)
            if subscription is not None and subscription.failing:
                store.update(message.subscription_id, {"failing": False})
            return DeliveryState.DELIVERED
        if refused:
            changes["state"] = DeliveryState.REFUSED.value
            self._update(row, changes)
            return DeliveryState.REFUSED
        # A manual re-send restarts the schedule: its attempts count from there.
        in_schedule = attempt - int(row.get("scheduleBase") or 0)
        if outcome.retryable and in_schedule < MAX_ATTEMPTS:
            delay = retry_delay(in_schedule, outcome.retry_after)
            changes["state"] = DeliveryState.RETRYING.value
            changes["nextAttemptAt"] = (now + timedelta(seconds=delay)).isoformat()
            self._update(row, changes)
            if subscription is not None and not subscription.failing:
                store.update(message.subscription_id, {"failing": True})
            self.dispatch(RETRY_QUEUE, message.model_copy(update={"attempt": attempt + 1}), delay)
            return DeliveryState.RETRYING
        changes["state"] = DeliveryState.FAILED.value
        self._update(row, changes)
        if outcome.retryable:
            self._disable(
                message, store, f"the receiver kept failing ({outcome.error}) for {MAX_ATTEMPTS} attempts"
            )
        return DeliveryState.FAILED

    def _disable(self, message: DeliveryMessage, store: SubscriptionStore, reason: str) -> None:
        store.update(
            message.subscription_id,
            {"state": SubscriptionState.DISABLED.value, "disabledReason": reason, "failing": False},
        )
        AuditLog(self.account, self.clock).append(
            message.partner_id,
            NewEvent(
                action="alert.subscription.disabled",
                actor={"type": "system", "id": "alert-delivery"},
                target={"type": "alertSubscription", "id": message.subscription_id},
                details={"reason": reason},
            ),
        )
        log.warning(
            "alert subscription %s of partner %s disabled", message.subscription_id, message.partner_id
        )
        if self.owners_told is not None:
            self.owners_told(message.partner_id, message.subscription_id, reason)

    def _update(self, row: Any, changes: dict[str, Any]) -> None:
        from azure.data.tables import UpdateMode

        entity = {"PartitionKey": row["PartitionKey"], "RowKey": row["RowKey"], **changes}
        self.table.update_entity({k: v for k, v in entity.items() if v is not None}, mode=UpdateMode.MERGE)

    # --- the delivery log ---

    def list_deliveries(
        self, subscription_id: str, top: int, continuation: str | None
    ) -> tuple[list[DeliveryOut], str | None]:
        rows, token = tables.page(self.table, tables.partition(subscription_id), top, continuation)
        return [delivery_out(r) for r in rows], token

    def get_delivery(self, subscription_id: str, delivery_id: str) -> DeliveryOut:
        row = tables.get(self.table, subscription_id, delivery_id)
        if row is None:
            raise not_found("No such delivery.")
        return delivery_out(row)

    def resend(self, partner_id: str, subscription_id: str, delivery_id: str) -> DeliveryOut:
        """Sends a finished delivery again, with the same `webhook-id` (a receiver that already has it
        may ignore it) and a fresh retry schedule; a delivery still in progress is left alone."""
        row = tables.get(self.table, subscription_id, delivery_id)
        if row is None:
            raise not_found("No such delivery.")
        state = DeliveryState(row["state"])
        if state not in (DeliveryState.FAILED, DeliveryState.DELIVERED, DeliveryState.REFUSED):
            raise ProblemError(
                409, "delivery-in-progress", "Not finished yet.", f"The delivery is {state.value}."
            )
        attempts = int(row.get("attempts") or 0)
        # The schedule restarts: attempts counted from here are numbered after the ones made.
        self._update(
            row,
            {
                "state": DeliveryState.PENDING.value,
                "nextAttemptAt": self.clock.now().isoformat(),
                "scheduleBase": attempts,
            },
        )
        self.dispatch(
            DELIVERY_QUEUE,
            DeliveryMessage(
                partner_id=partner_id,
                subscription_id=subscription_id,
                delivery_id=delivery_id,
                attempt=attempts + 1,
            ),
            0,
        )
        return delivery_out(tables.get(self.table, subscription_id, delivery_id))

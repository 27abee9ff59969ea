"""Daily digests: a subscription that asked for one gets, once a day, one message per channel with
the alerts gathered since the last, instead of one message each. The gathered deliveries wait in
state `digest`; the digest is a delivery of its own (same queue, retries and log)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from shared.alerts.delivery import TABLE as DELIVERIES
from shared.alerts.delivery import Dispatch, queue_dispatch
from shared.alerts.models import DELIVERY_QUEUE, DeliveryMessage, DeliveryState
from shared.alerts.rules import Severity
from shared.alerts.subscriptions import TABLE as SUBSCRIPTIONS
from shared.clock import Clock, isoformat
from shared.ids import new_id
from shared.storage import tables

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

# A digest carries at most this many alerts in full (a table property holds 64 KiB); it counts the rest.
MAX_IN_DIGEST = 100


class DigestRunner:
    """Makes the digests of one region's subscriptions."""

    def __init__(self, account: AccountStorage, clock: Clock, *, dispatch: Dispatch | None = None):
        self.account = account
        self.clock = clock
        self.dispatch = dispatch or queue_dispatch(account)

    def send_digests(self) -> int:
        """Returns how many digests were queued."""
        subscriptions = tables.query(
            self.account.table(SUBSCRIPTIONS),
            "digest eq true and state eq 'active'",
            select=["PartitionKey", "RowKey"],
        )
        made = 0
        for subscription in subscriptions:
            made += self._digest(str(subscription["PartitionKey"]), str(subscription["RowKey"]))
        return made

    def _digest(self, partner_id: str, subscription_id: str) -> int:
        table = self.account.table(DELIVERIES)
        waiting = list(
            tables.query(
                table,
                f"{tables.partition(subscription_id)} and {tables.eq('state', DeliveryState.DIGEST.value)}",
            )
        )
        if not waiting:
            return 0
        payloads = [json.loads(row["payload"]) for row in waiting]
        worst = max((Severity(p["severity"]) for p in payloads), key=lambda s: s.rank)
        now = isoformat(self.clock.now())
        digest_id = new_id()
        shown = payloads[:MAX_IN_DIGEST]
        more = len(payloads) - len(shown)
        summary = "; ".join(p["title"] for p in shown[:10]) + (
            f"; and {len(payloads) - 10} more" if len(payloads) > 10 else ""
        )
        payload: dict[str, Any] = {
            "alertId": digest_id,
            "type": "alert.digest",
            "severity": worst.value,
            "title": f"Daily digest: {len(payloads)} alert{'s' if len(payloads) != 1 else ''}",
            "summary": summary,
            "partnerId": partner_id,
            "tenantId": None,
            "since": now,
            "link": f"/api/partners/{partner_id}/alert-subscriptions/{subscription_id}/deliveries",
            "alerts": shown,
            "more": more,
        }
        row = {
            "PartitionKey": subscription_id,
            "RowKey": digest_id,
            "partnerId": partner_id,
            "alertId": digest_id,
            "alertType": "alert.digest",
            "severity": worst.value,
            "tenantId": "",
            "eventId": "",
            "eventAt": now,
            "title": payload["title"],
            "payload": json.dumps(payload, sort_keys=True, default=str),
            "state": DeliveryState.PENDING.value,
            "attempts": 0,
            "createdAt": now,
            "history": "[]",
        }

        # The digest and the alerts it gathers change in one transaction, each alert under its ETag:
        # a digest running twice at once fails as a whole the second time, so none is sent twice.
        def gathered(rows: list[Any]) -> list[tuple[Any, ...]]:
            done = {"state": DeliveryState.DELIVERED.value, "digestId": digest_id}
            return [
                ("update", {"PartitionKey": subscription_id, "RowKey": r["RowKey"], **done}, r.etag)
                for r in rows
            ]

        try:
            tables.write(table, [("create", row), *gathered(waiting[:99])])
        except tables.BatchRefusedError:
            return 0
        tables.write_each(table, gathered(waiting[99:]))
        message = DeliveryMessage(
            partner_id=partner_id, subscription_id=subscription_id, delivery_id=digest_id, attempt=1
        )
        self.dispatch(DELIVERY_QUEUE, message, 0)
        return 1

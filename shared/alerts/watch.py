"""The audit log's watcher for alerts: an event a rule reads becomes one small queue message (where
the event is), so recording stays fast and the rules run on the region's `alertevents` queue."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from shared.alerts.models import EVENTS_QUEUE, EventMessage
from shared.alerts.rules import watched
from shared.privacy.retention import SYSTEM_PARTITION

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

log = logging.getLogger("tenantry.alerts")


def enqueue_event(account: AccountStorage, partner_id: str, bucket: str, entity: dict[str, Any]) -> None:
    # The system partition holds region-wide events (sweeps, breach deadlines): about no one partner.
    if partner_id == SYSTEM_PARTITION or not watched(str(entity.get("action", ""))):
        return
    from shared.storage.queues import enqueue

    message = EventMessage(partner_id=partner_id, bucket=bucket, row_key=str(entity["RowKey"]))
    try:
        enqueue(account.queue(EVENTS_QUEUE), message)
    except Exception:
        # The event is recorded whatever happens here; failing its writer would record it twice.
        log.exception("alert: event %s of partner %s not queued for the rules", entity.get("id"), partner_id)

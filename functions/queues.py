"""The one registration of every queue function: a message failing its last attempt leaves its reason."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import azure.functions as func

from functions import deps
from shared.settings import region_storage_setting

log = logging.getLogger("tenantry.queues")

# The trigger's last attempt is host.json's maxDequeueCount: after it the host moves the message
# to `<queue>-poison`, so that is when a handler's work is marked failed and the reason recorded.
_HOST_JSON = Path(__file__).resolve().parent.parent / "host.json"
MAX_DEQUEUE = int(
    json.loads(_HOST_JSON.read_text()).get("extensions", {}).get("queues", {}).get("maxDequeueCount", 5)
)

Handler = Callable[[func.QueueMessage], None]


def final_attempt(msg: func.QueueMessage) -> bool:
    return (msg.dequeue_count or 1) >= MAX_DEQUEUE


def queue_function(bp: func.Blueprint, name: str, queue: str, region: str) -> Callable[[Handler], Handler]:
    """Registers `run` as function `name` on the region's `queue`. When it raises on the message's
    last attempt, why is recorded (`shared/audit/poison.py`) before the host poisons the message."""

    def register(run: Handler) -> Handler:
        def guarded(msg: func.QueueMessage) -> None:
            try:
                run(msg)
            except Exception as error:
                if final_attempt(msg):
                    _record(region, queue, msg, error)
                raise

        guarded.__name__ = guarded.__qualname__ = name
        trigger = bp.queue_trigger(
            arg_name="msg", queue_name=queue, connection=region_storage_setting(region)
        )
        bp.function_name(name=name)(trigger(guarded))
        return run

    return register


def _record(region: str, queue: str, msg: func.QueueMessage, error: Exception) -> None:
    try:
        poisoned = deps.poison_messages(region).record(
            queue, str(msg.id), msg.get_body(), error, msg.dequeue_count or MAX_DEQUEUE
        )
    except Exception:
        # Recording must not hide the handler's own failure: the host poisons the message all the same.
        log.exception("could not record why message %s of %s was given up on", msg.id, queue)
        return
    log.warning(
        "message %s of %s given up on after %d attempts: %s",
        msg.id,
        queue,
        poisoned.attempts,
        poisoned.error_type,
    )

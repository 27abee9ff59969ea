"""The one way Tenantry enqueues: JSON, base64-encoded as queue triggers expect, small, ids only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    from azure.storage.queue import QueueClient

# Must equal host.json extensions.queues.messageEncoding (a test holds them together): the
# Python queue client sends plain text unless told otherwise, the trigger expects base64.
MESSAGE_ENCODING = "base64"

# Queue messages hold 64 KiB; base64 inflates by 4/3, so the JSON must stay under 48 KiB.
MAX_MESSAGE_BYTES = 48 * 1024


class MessageTooLargeError(ValueError):
    pass


def encode_policies() -> dict[str, Any]:
    from azure.storage.queue import TextBase64DecodePolicy, TextBase64EncodePolicy

    return {
        "message_encode_policy": TextBase64EncodePolicy(),
        "message_decode_policy": TextBase64DecodePolicy(),
    }


def enqueue(queue: QueueClient, message: BaseModel, *, delay_seconds: int | None = None) -> str:
    """Sends one message; returns its id. `delay_seconds` hides it that long (retry with backoff)."""
    text = message.model_dump_json(by_alias=True)
    if len(text.encode()) > MAX_MESSAGE_BYTES:
        raise MessageTooLargeError(f"queue message of {len(text)} bytes; keep ids, not content")
    sent = queue.send_message(text, visibility_timeout=delay_seconds)
    return str(sent.id)

"""The one way Tenantry enqueues: JSON, base64-encoded as queue triggers expect, small, ids only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

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


def packed(messages: list[M], max_bytes: int) -> list[list[M]]:
    """`messages` in order, grouped so each group's JSON (with a separator each) fits in `max_bytes`."""
    groups: list[list[M]] = []
    size = max_bytes
    for message in messages:
        length = len(message.model_dump_json(by_alias=True).encode()) + 1
        if length > max_bytes:
            raise MessageTooLargeError(f"one message of {length} bytes; keep ids, not content")
        if size + length > max_bytes:
            groups.append([])
            size = 0
        groups[-1].append(message)
        size += length
    return groups


def enqueue(queue: QueueClient, message: BaseModel, *, delay_seconds: int | None = None) -> str:
    """Sends one message; returns its id. `delay_seconds` hides it that long (retry with backoff)."""
    text = message.model_dump_json(by_alias=True)
    if len(text.encode()) > MAX_MESSAGE_BYTES:
        raise MessageTooLargeError(f"queue message of {len(text)} bytes; keep ids, not content")
    sent = queue.send_message(text, visibility_timeout=delay_seconds)
    return str(sent.id)

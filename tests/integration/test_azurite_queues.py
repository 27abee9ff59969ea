"""Queue semantics the local stack's Azurite patches must keep (localdev/azurite_patches.cjs, 6):
a message past its time to live is never handed out, and a batch taken at once stays hidden, each
message once, until its visibility timeout, then comes back in the order it was sent."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from azure.storage.queue import QueueClient

from localdev.stack import wait_until


@pytest.fixture
def queue(stack_env: dict[str, str]) -> Iterator[QueueClient]:
    name = f"patch-{uuid.uuid4().hex[:12]}"
    client = QueueClient.from_connection_string(stack_env["AzureWebJobsStorage"], name)
    client.create_queue()
    yield client
    client.delete_queue()


def test_a_message_past_its_time_to_live_is_never_handed_out(queue: QueueClient) -> None:
    queue.send_message("short", time_to_live=1)
    queue.send_message("long")
    # Asked again and again (every ask also runs Azurite's expiry sweep, now at most once a second):
    # once the short one expired, only the long one is ever seen.
    wait_until(
        lambda: [m.content for m in queue.peek_messages(max_messages=32)] == ["long"],
        timeout=20,
        what="the expired message to be gone",
    )
    taken = [m.content for m in queue.receive_messages(max_messages=32, visibility_timeout=30)]
    assert taken == ["long"]


def test_a_batch_stays_hidden_once_each_then_returns_in_order(queue: QueueClient) -> None:
    sent = [f"m{n:02d}" for n in range(40)]
    for text in sent:
        queue.send_message(text)
    # One call each (messages_per_page): the SDK otherwise takes a message per call, each with a
    # timeout of its own, and the batch Azurite hides at once is what this test is about.
    first = [
        m.content for m in queue.receive_messages(messages_per_page=32, max_messages=32, visibility_timeout=2)
    ]
    rest = [
        m.content
        for m in queue.receive_messages(messages_per_page=32, max_messages=32, visibility_timeout=60)
    ]
    assert first == sent[:32]
    assert rest == sent[32:]  # the 32 taken first are hidden: none handed out twice
    again = wait_until(
        lambda: [
            m.content
            for m in queue.receive_messages(messages_per_page=32, max_messages=32, visibility_timeout=60)
        ],
        timeout=20,
        what="the first batch to become visible again",
    )
    assert again == sent[:32]

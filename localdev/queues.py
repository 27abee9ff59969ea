"""Queue triggers for the local host: polling, batches, retries and poison queues as host.json says."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from azure.functions.queue import QueueMessage

from localdev.host import Indexed, decode_message, resolve

if TYPE_CHECKING:
    from localdev.host import LocalHost

log = logging.getLogger("localdev.queues")

# While a message is being processed it stays hidden this long, renewed at half time as the host's
# queue listener does (10 minutes, its default). A host killed mid-message leaves it hidden until
# then; the fault tests shorten it (local host only) so redelivery comes within a test's patience.
QUEUE_LEASE_SETTING = "TENANTRY_LOCAL_QUEUE_LEASE_SECONDS"


def queue_lease_seconds() -> int:
    raw = os.environ.get(QUEUE_LEASE_SETTING, "").strip() or "600"
    value = int(raw)
    if value < 2:
        raise ValueError(f"{QUEUE_LEASE_SETTING} must be at least 2 seconds, not {raw}")
    return value


class QueuePoller:
    def __init__(self, host: LocalHost, indexed: Indexed):
        from azure.storage.queue import QueueClient

        self.host = host
        self.indexed = indexed
        self.options = host.queue_options
        self.queue_name = resolve(str(indexed.trigger["queueName"])).lower()
        setting = str(indexed.trigger.get("connection") or "AzureWebJobsStorage")
        connection = os.environ.get(setting)
        if not connection:
            raise RuntimeError(f"queue function {indexed.name}: setting {setting} is not set")
        # Raw text in and out: the host decodes per host.json itself, and so do we.
        self.queue = QueueClient.from_connection_string(connection, self.queue_name)
        self.poison = QueueClient.from_connection_string(connection, f"{self.queue_name}-poison")
        self._in_flight: set[asyncio.Task[None]] = set()
        self.lease_seconds = queue_lease_seconds()

    async def _call(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.host.background_executor, fn, *args)

    async def _ensure_queues(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        for client in (self.queue, self.poison):
            with suppress(ResourceExistsError):
                await self._call(client.create_queue)

    async def run(self) -> None:
        await self._ensure_queues()
        idle_delay = 0.05
        while True:
            room = self.options.batch_size + self.options.new_batch_threshold - len(self._in_flight)
            if len(self._in_flight) > self.options.new_batch_threshold or room <= 0:
                await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)
                continue
            try:
                batch = await self._call(self._receive, min(self.options.batch_size, room))
            except Exception:
                # Storage away (an outage, a restart): the host's listener keeps polling, backing
                # off as on an empty queue; a poller that died here took no message again.
                log.warning("queue %s: receiving failed; polling again", self.queue_name, exc_info=True)
                batch = []
            for message in batch:
                task = asyncio.create_task(self._process(message))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
            if batch:
                idle_delay = 0.05
                continue
            # Empty queue: back off exponentially up to maxPollingInterval, as the host does.
            await asyncio.sleep(idle_delay)
            idle_delay = min(idle_delay * 2, self.options.max_polling_interval)

    def _receive(self, count: int) -> list[Any]:
        pages = self.queue.receive_messages(
            messages_per_page=count, max_messages=count, visibility_timeout=self.lease_seconds
        )
        return list(pages)

    async def _keep_hidden(self, message: Any, receipt: list[str], done: asyncio.Event) -> None:
        """Renews the message's invisibility at half the lease until `done`; `receipt` holds the
        pop receipt of the latest renewal (each update issues a new one)."""
        while True:
            with suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), timeout=self.lease_seconds / 2)
                return
            try:
                updated = await self._call(
                    lambda: self.queue.update_message(
                        message.id, receipt[0], visibility_timeout=self.lease_seconds
                    )
                )
            except Exception:  # storage away: the next renewal tries again, as the host's does
                log.warning("could not renew message %s of %s", message.id, self.queue_name)
                continue
            receipt[0] = updated.pop_receipt

    async def _process(self, message: Any) -> None:
        receipt = [message.pop_receipt]
        done = asyncio.Event()
        renewal = asyncio.create_task(self._keep_hidden(message, receipt, done))
        try:
            await self._run(message)
        except Exception:
            done.set()
            await renewal
            try:
                await self._failed(message, receipt[0])
            except Exception:  # storage away: the message comes back after its lease, as in Azure
                log.warning("queue %s: could not release message %s", self.queue_name, message.id)
            return
        done.set()
        await renewal
        try:
            await self._call(lambda: self.queue.delete_message(message.id, receipt[0]))
        except Exception:  # storage away: the message comes back after its lease, as in Azure
            log.warning("queue %s: could not delete message %s", self.queue_name, message.id)

    async def _run(self, message: Any) -> None:
        try:
            body = decode_message(message.content, self.options.message_encoding)
            argument = QueueMessage(  # type: ignore[no-untyped-call]
                id=message.id,
                body=body,
                dequeue_count=message.dequeue_count,
                insertion_time=message.inserted_on,
                expiration_time=message.expires_on,
                time_next_visible=message.next_visible_on,
                pop_receipt=message.pop_receipt,
            )
            await self.host.invoke(self.indexed, argument)
        except Exception:
            log.exception(
                "queue function %s failed on message %s (dequeue %d)",
                self.indexed.name,
                message.id,
                message.dequeue_count,
            )
            raise

    async def _failed(self, message: Any, receipt: str) -> None:
        if message.dequeue_count >= self.options.max_dequeue_count:
            content = message.content
            if self.options.message_encoding != "none" and not _is_base64(content):
                content = base64.b64encode(content.encode()).decode()
            await self._call(self.poison.send_message, content)
            await self._call(lambda: self.queue.delete_message(message.id, receipt))
            log.warning(
                "message %s moved to %s-poison after %d attempts",
                message.id,
                self.queue_name,
                message.dequeue_count,
            )
            return
        # Visible again after host.json's visibilityTimeout: the next attempt.
        await self._call(
            lambda: self.queue.update_message(
                message.id, receipt, visibility_timeout=int(self.options.visibility_timeout)
            )
        )


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except ValueError:
        return False
    return True

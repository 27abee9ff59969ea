"""Group commit: writes that arrive together for one key go out as one storage call, made by one caller.

Under load most of a webhook's cost is the storage SDK's per-call work (signing, pipeline,
HTTP), not the bytes; 32 callers each paying it twice would keep two cores busy. Here the first
caller for a key writes at once; whoever arrives while that write is in flight waits, and when it
returns the oldest waiter writes everything that piled up, its own item first. Nobody waits on a
timer: at low load every batch holds one item and costs what a lone write costs.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

I = TypeVar("I")  # noqa: E741 - the item type, as in the docs of the Generic
R = TypeVar("R")

# What a flush gives back per item, in order: that item's result, or the error it ends with.
Flush = Callable[[list[I]], Sequence[R | Exception]]


class _Waiter(Generic[I, R]):
    __slots__ = ("done", "item", "leads", "outcome")

    def __init__(self, item: I):
        self.item = item
        self.done = threading.Event()
        self.leads = False
        self.outcome: R | Exception | None = None


class GroupCommit(Generic[I, R]):
    """Thread-safe; `submit` blocks until the item's batch was written and returns its result."""

    def __init__(self, max_items: int):
        self.max_items = max_items
        self._lock = threading.Lock()
        self._pending: dict[Hashable, deque[_Waiter[I, R]]] = {}

    def submit(self, key: Hashable, item: I, flush: Flush[I, R]) -> R:
        """`flush` writes a batch of items for `key`; the caller that leads passes its own."""
        waiter: _Waiter[I, R] = _Waiter(item)
        with self._lock:
            # A key is in `_pending` exactly while some caller is writing for it.
            queue = self._pending.get(key)
            if queue is None:
                self._pending[key] = queue = deque()
                waiter.leads = True
            queue.append(waiter)
        if not waiter.leads:
            waiter.done.wait()
        if waiter.leads:
            self._lead(key, queue, flush)
        outcome = waiter.outcome
        if isinstance(outcome, Exception):
            raise outcome
        return outcome  # type: ignore[return-value]  # set by the batch that held this item

    def _lead(self, key: Hashable, queue: deque[_Waiter[I, R]], flush: Flush[I, R]) -> None:
        # The leader is at the head of the queue, so its own item is in the batch it writes.
        with self._lock:
            batch = [queue.popleft() for _ in range(min(self.max_items, len(queue)))]
        try:
            outcomes: Sequence[R | Exception] = flush([w.item for w in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError(f"flush returned {len(outcomes)} outcomes for {len(batch)} items")
        except Exception as error:  # every item of the batch ends with the error, none hangs
            outcomes = [error] * len(batch)
        for waiter, outcome in zip(batch, outcomes, strict=True):
            waiter.outcome = outcome
            waiter.leads = False
            waiter.done.set()
        with self._lock:
            if queue:
                successor = queue[0]
                successor.leads = True
                successor.done.set()
            else:
                del self._pending[key]

"""Group commit: who writes, what goes together, and that every caller gets its own outcome."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from localdev.stack import wait_until
from shared.storage.groupcommit import GroupCommit


class Storage:
    """Records each flush; the first one can be held open to play a write still in flight."""

    def __init__(self, hold_first: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.release = threading.Event()
        if not hold_first:
            self.release.set()
        self.holding = threading.Event()

    def flush(self, items: list[str]) -> list[str | Exception]:
        self.batches.append(list(items))
        if len(self.batches) == 1:
            self.holding.set()
            self.release.wait(timeout=10)
        return [ValueError(item) if item.startswith("bad") else item.upper() for item in items]


def in_thread(call: Callable[[], str]) -> tuple[threading.Thread, dict[str, object]]:
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = call()
        except Exception as error:
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def waiting(commit: GroupCommit[str, str], key: str) -> int:
    queue = commit._pending.get(key)
    return len(queue) if queue is not None else 0


def test_a_lone_write_goes_out_at_once_and_alone() -> None:
    storage, commit = Storage(), GroupCommit[str, str](max_items=100)
    assert commit.submit("org", "a", storage.flush) == "A"
    assert commit.submit("org", "b", storage.flush) == "B"
    assert storage.batches == [["a"], ["b"]]


def test_writes_arriving_while_one_is_in_flight_go_out_together_each_with_its_own_outcome() -> None:
    storage, commit = Storage(hold_first=True), GroupCommit[str, str](max_items=100)
    first, first_outcome = in_thread(lambda: commit.submit("org", "first", storage.flush))
    storage.holding.wait(timeout=10)
    others = [in_thread(lambda i=i: commit.submit("org", i, storage.flush)) for i in ("x", "bad-y", "z")]
    wait_until(lambda: waiting(commit, "org") == 3, what="three callers waiting behind the first")
    other_org = commit.submit("other", "o", storage.flush)  # another key is not held up
    storage.release.set()
    for thread, _ in [(first, first_outcome), *others]:
        thread.join(timeout=10)

    assert other_org == "O"
    assert storage.batches[0] == ["first"]
    assert sorted(storage.batches[1:]) == [["o"], ["x", "bad-y", "z"]]  # one write for all three
    assert first_outcome == {"result": "FIRST"}
    assert others[0][1] == {"result": "X"} and others[2][1] == {"result": "Z"}
    assert isinstance(others[1][1]["error"], ValueError)  # only its own caller sees its error
    assert commit._pending == {}


def test_a_failed_write_fails_every_caller_in_it_and_frees_the_key() -> None:
    commit = GroupCommit[str, str](max_items=100)

    def broken(items: list[str]) -> list[str | Exception]:
        raise ConnectionError("storage went away")

    with pytest.raises(ConnectionError):
        commit.submit("org", "a", broken)
    assert commit.submit("org", "b", Storage().flush) == "B"


def test_a_batch_holds_at_most_max_items_and_the_rest_follow_in_order() -> None:
    storage, commit = Storage(hold_first=True), GroupCommit[str, str](max_items=2)
    first, _ = in_thread(lambda: commit.submit("org", "first", storage.flush))
    storage.holding.wait(timeout=10)
    others = []
    for count, item in enumerate(("a", "b", "c"), start=1):  # one by one, so their order is known
        others.append(in_thread(lambda item=item: commit.submit("org", item, storage.flush)))
        wait_until(lambda count=count: waiting(commit, "org") == count, what=f"{item} waiting")
    storage.release.set()
    for thread, _ in [(first, None), *others]:
        thread.join(timeout=10)
    assert storage.batches == [["first"], ["a", "b"], ["c"]]
    assert [o["result"] for _, o in others] == ["A", "B", "C"]

"""The deadline watch's one rule, shared by the breach register (72 hours) and data-subject requests
(30 days): a deadline moves open -> nearing -> passed, and each move is claimed once, by ETag."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.storage import tables

if TYPE_CHECKING:
    from azure.data.tables import TableClient

OPEN = "open"
NEARING = "nearing"
PASSED = "passed"
WATCHED = (OPEN, NEARING)


def watched_filter(field: str) -> str:
    """The OData filter for rows whose deadline the watch still has to look at."""
    return f"({field} eq '{OPEN}' or {field} eq '{NEARING}')"


def next_state(state: str, due: datetime, now: datetime, nearing: timedelta) -> str:
    if now >= due:
        return PASSED
    if now >= due - nearing:
        return NEARING
    return state


def claim(table: TableClient, row: tables.Row, field: str, new_state: str) -> bool:
    """Moves the row's deadline state; False when another watcher (or a writer) changed it first.

    Whoever wins raises the event, so two watchers running at once raise it once.
    """
    from azure.core import MatchConditions
    from azure.core.exceptions import HttpResponseError
    from azure.data.tables import UpdateMode

    try:
        table.update_entity(
            {"PartitionKey": row["PartitionKey"], "RowKey": row["RowKey"], field: new_state},
            mode=UpdateMode.MERGE,
            etag=row.etag,
            match_condition=MatchConditions.IfNotModified,
        )
    except HttpResponseError:
        return False
    return True


def claimed_moves(
    table: TableClient,
    query: str,
    field: str,
    due_of: Callable[[Any], datetime],
    *,
    now: datetime,
    nearing: timedelta,
) -> Iterator[tuple[Any, str]]:
    """(row, new state) for each row of `query` whose deadline moved and which this watcher claimed:
    the caller raises one event per pair."""
    for row in tables.query(table, f"{query} and {watched_filter(field)}"):
        state = str(row[field])
        new_state = next_state(state, due_of(row), now, nearing)
        if new_state != state and claim(table, row, field, new_state):
            yield row, new_state

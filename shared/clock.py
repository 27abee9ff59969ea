"""Time, always timezone-aware UTC, behind an injectable clock so tests can move it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def parse_iso(value: object) -> datetime:
    """A stored time back: what `isoformat` wrote, or any ISO 8601 form with `Z` or an offset."""
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def isoformat(moment: datetime) -> str:
    """ISO 8601 UTC with a `Z`, second precision, as the API promises (`2026-11-22T12:00:00Z`)."""
    # Not strftime: its %Y writes the year 719 as `719`, which no ISO parser reads back.
    return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"

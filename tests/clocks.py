"""A clock tests move by hand, for services that take an injectable clock (retention, audit, usage)."""

from __future__ import annotations

from datetime import datetime, timedelta


class MovableClock:
    """Each reading ticks a millisecond, as real time would, so events keep their order."""

    def __init__(self, now: datetime):
        self.moment = now

    def now(self) -> datetime:
        self.moment += timedelta(milliseconds=1)
        return self.moment

"""Timer triggers for the local host: NCRONTAB schedules, run_on_startup, and a schedule monitor."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from contextlib import suppress
from datetime import datetime
from typing import TYPE_CHECKING, Any

import azure.functions as func
from azure.functions.timer import TimerRequest

from localdev.host import Indexed, next_occurrence, now_utc, resolve

if TYPE_CHECKING:
    from localdev.host import LocalHost

log = logging.getLogger("localdev.timers")


class ScheduleMonitor:
    """Remembers each timer's last and next occurrence in AzureWebJobsStorage, where the real host
    keeps it (`azure-webjobs-hosts/timers/...`), so a restart can tell that an occurrence was missed."""

    def __init__(self, host_id: str, function_name: str):
        self.blob_name = f"timers/{host_id}/{function_name}/status"
        self._client: Any = None
        connection = os.environ.get("AzureWebJobsStorage")
        if connection:
            from azure.storage.blob import BlobServiceClient

            service = BlobServiceClient.from_connection_string(connection)
            self._client = service.get_container_client("azure-webjobs-hosts")

    def read(self) -> dict[str, str] | None:
        if self._client is None:
            return None
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return json.loads(self._client.download_blob(self.blob_name).readall())  # type: ignore[no-any-return]
        except ResourceNotFoundError:
            return None

    def write(self, last: datetime, next_: datetime) -> None:
        if self._client is None:
            return
        from azure.core.exceptions import ResourceExistsError

        with suppress(ResourceExistsError):
            self._client.create_container()
        status = {"Last": last.isoformat(), "Next": next_.isoformat(), "LastUpdated": now_utc().isoformat()}
        self._client.upload_blob(self.blob_name, json.dumps(status), overwrite=True)


class TimerRunner:
    def __init__(self, host: LocalHost, indexed: Indexed):
        self.host = host
        self.indexed = indexed
        self.schedule = resolve(str(indexed.trigger["schedule"]))
        next_occurrence(self.schedule, now_utc())  # refuse a bad schedule at start, not at first fire
        self.run_on_startup = bool(indexed.trigger.get("runOnStartup", False))
        self.monitor = (
            ScheduleMonitor(host.host_id, indexed.name) if indexed.trigger.get("useMonitor", True) else None
        )

    async def _fire(self, scheduled: datetime, past_due: bool, status: dict[str, str] | None) -> None:
        request: func.TimerRequest = TimerRequest(
            past_due=past_due, schedule_status=status, schedule={"AdjustForDST": True}
        )
        try:
            await self.host.invoke(self.indexed, request)
        except Exception:
            log.exception("timer function %s raised", self.indexed.name)
        upcoming = next_occurrence(self.schedule, scheduled)
        if self.monitor is not None:
            try:
                await asyncio.get_running_loop().run_in_executor(
                    self.host.background_executor, self.monitor.write, scheduled, upcoming
                )
            except Exception:  # storage away: the schedule goes on; the next write records it
                log.warning("timer %s: could not record its schedule status", self.indexed.name)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        status = (
            await loop.run_in_executor(self.host.background_executor, self.monitor.read)
            if self.monitor
            else None
        )
        now = now_utc()
        if status and datetime.fromisoformat(status["Next"]) < now:
            # The host was down when an occurrence was due: run it now, flagged as past due.
            await self._fire(now, True, status)
        elif self.run_on_startup:
            await self._fire(now, False, status)
        scheduled = next_occurrence(self.schedule, now_utc())
        while True:
            delay = (scheduled - now_utc()).total_seconds()
            if delay > 0:
                await asyncio.sleep(delay)
            # An invocation that overran past the next occurrence makes that one past due.
            past_due = (now_utc() - scheduled).total_seconds() > 1.0
            await self._fire(scheduled, past_due, status)
            status = {
                "Last": scheduled.isoformat(),
                "Next": next_occurrence(self.schedule, scheduled).isoformat(),
            }
            scheduled = next_occurrence(self.schedule, scheduled)

"""A host killed during metered work: every call it answered is on the meter, and once the calls it
cut off are retried (same x-request-id), the meter equals the work done, each call once."""

from __future__ import annotations

import os
import signal
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from localdev.stack import local_host, wait_until
from shared.clock import SystemClock
from shared.ids import new_id
from shared.storage.router import StorageRouter
from shared.usage import UsageMeter, month_of
from tests.e2e.actors import make_partner
from tests.e2e.dataverse import register_device, register_org
from tests.web import web

CALLS = 300


def _host_pid(base: str) -> int:
    """The pid of the local host this test started on `base`'s port (a child of this process)."""
    port = base.rsplit(":", 1)[1].encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if parent == os.getpid() and b"--port" in argv and port in argv:
            return int(entry.name)
    raise AssertionError(f"no local host of this test on port {port.decode()}")


def test_a_host_killed_mid_work_loses_no_metered_call_and_retries_count_once(
    api: str, stack_env: dict[str, str], router: StorageRouter
) -> None:
    partner = make_partner(api, "eu", approve_push=False)  # the calls below are its only ones
    meter = UsageMeter(router.region("eu"), SystemClock())
    month = month_of(SystemClock().now())
    request_ids = [new_id() for _ in range(CALLS)]
    answered: set[str] = set()
    lock = threading.Lock()

    with local_host(stack_env) as base:  # a host of this test's own, to kill
        pid = _host_pid(base)

        def call(request_id: str) -> None:
            headers = {**partner.as_key, "x-request-id": request_id}
            try:
                response = web.get(f"{base}/api/partners/{partner.id}/tenants", headers=headers, timeout=30)
            except httpx.TransportError:
                return  # cut off by the kill
            if response.status_code == 200:
                with lock:
                    answered.add(request_id)

        with ThreadPoolExecutor(8) as pool:
            for request_id in request_ids:
                pool.submit(call, request_id)
            wait_until(lambda: len(answered) >= CALLS // 3, timeout=60, what="a third of the calls answered")
            os.kill(pid, signal.SIGKILL)  # no shutdown, no flush: as an instance taken away

    cut_off = [r for r in request_ids if r not in answered]
    assert cut_off, "the host answered everything before it was killed"
    metered = meter.month(partner.id, month)["apiCalls"]
    # Every answered call was stored before its answer; a call cut off may or may not be.
    assert len(answered) <= metered <= CALLS

    # The client retries what was cut off, with the same request ids, on a host that is up.
    for request_id in cut_off:
        headers = {**partner.as_key, "x-request-id": request_id}
        assert web.get(f"{api}/api/partners/{partner.id}/tenants", headers=headers).status_code == 200
    assert meter.month(partner.id, month)["apiCalls"] == CALLS


def test_devices_registered_are_billed_once_per_device(api: str) -> None:
    partner = make_partner(api, "eu")
    org = register_org(partner)
    first = register_device(partner, org, str(uuid.uuid4()), f"fcm-{uuid.uuid4().hex}")
    token = f"fcm-{uuid.uuid4().hex}"
    user = str(uuid.uuid4())
    again = [register_device(partner, org, user, token)["id"] for _ in range(2)]  # the browser retries
    usage = web.get(f"{partner.url}/usage", headers=partner.as_key).json()["units"]
    assert usage["devicesRegistered"] == len({first["id"], *again})

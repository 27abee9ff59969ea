"""The fault tests' stack: a private Azurite kept on disk, the session's stand-ins, a host to kill.

Each module gets its own Azurite (on disk, so it can be stopped and started again with its data,
and so nothing of another module's host or sweep is in it) and one local host in a process group
of its own, which `kill` takes away at once with SIGKILL, as an instance lost with everything
running in it. The host comes back on the same port: partners' URLs and tokens stay valid.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import httpx

from localdev.azurite import free_port
from localdev.queues import QUEUE_LEASE_SETTING
from localdev.stack import start_host, start_test_azurite, stop_host, wait_until
from shared.settings import get_settings
from shared.storage.router import AccountStorage, StorageRouter
from tests.e2e.actors import PartnerSetup

# Both the queue message lease and the work leases (Azure: 10 minutes and 120 s): short enough that
# a killed host's work comes back within a test's patience, long enough that a live worker renews
# its message and records its chunk first on this busy machine.
LEASE_SECONDS = "10"


def seeded_random() -> tuple[int, random.Random]:
    """The seed (FAULTS_SEED to replay a run) and its generator; tests put the seed in messages."""
    seed = int(os.environ.get("FAULTS_SEED") or random.SystemRandom().randrange(1, 2**31))
    return seed, random.Random(seed)  # noqa: S311 - kill points, replayable, not secrets


class FaultStack:
    def __init__(self, folder: Path, **settings: str):
        from tests.stack import STACK_ENV  # the session's stand-ins (Graph, FCM, e-mail)

        self.azurite, storage = start_test_azurite(folder / "azurite")
        self.env: dict[str, str] = {
            **STACK_ENV,
            **{key: value for key, value in storage.items() if "AccountName=" in value},
            "TENANTRY_WORK_LEASE_SECONDS": LEASE_SECONDS,
            QUEUE_LEASE_SETTING: LEASE_SECONDS,
            **settings,
        }
        self.router = StorageRouter(get_settings(), environ=self.env)
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}"
        self._log: IO[bytes] = (folder / "host.log").open("ab")  # every start of the host, to read after
        self.host: subprocess.Popen[bytes] | None = None

    def start_host(self) -> None:
        self.host = start_host(self.env, self.port, output=self._log, own_session=True)

    def kill_host(self, still_working: Callable[[], bool]) -> bool:
        """Freezes the host's processes, asks `still_working` (storage and stand-ins answer, the
        host cannot move on meanwhile), then kills them: True if the kill cut work off."""
        assert self.host is not None
        group = os.getpgid(self.host.pid)
        os.killpg(group, signal.SIGSTOP)
        try:
            cut_off = still_working()
        finally:
            os.killpg(group, signal.SIGKILL)
            self.host.wait()
        self.host = None
        return cut_off

    def close(self) -> None:
        if self.host is not None:
            stop_host(self.host)
            self.host = None
        self.azurite.stop()
        self._log.close()

    # --- storage outage -----------------------------------------------------------------------

    def stop_storage(self) -> None:
        self.azurite.stop()

    def start_storage(self) -> None:
        self.azurite.start()

    # --- calls ------------------------------------------------------------------------------

    def health(self) -> httpx.Response:
        return httpx.get(f"{self.api}/api/health", timeout=15)


def kill_during(
    stack: FaultStack,
    rng: random.Random,
    *,
    kills: int,
    progress: Callable[[], int],
    total: int,
    finished: Callable[[], bool],
    timeout: float,
) -> int:
    """Kills the host `kills` times, each when `progress()` passes a random point of `total`
    (later each time), and starts it again at once; returns how many kills cut work off."""
    points = sorted(rng.uniform(0.05, 0.9) * total for _ in range(kills))
    cut = 0
    for point in points:
        wait_until(
            lambda p=point: progress() >= p or finished(),  # type: ignore[misc]
            timeout=timeout,
            what=f"progress to {point:.0f} of {total}",
        )
        if stack.kill_host(lambda: not finished()):
            cut += 1
        stack.start_host()
    return cut


def page_all(url: str, headers: dict[str, str], field: str = "items", **params: Any) -> list[dict[str, Any]]:
    """Every item of a paged list (`continuationToken`), at the largest page the API allows."""
    found: list[dict[str, Any]] = []
    token = None
    with httpx.Client(timeout=60) as http:
        while True:
            query = {"top": 1000, **params, **({"continuationToken": token} if token else {})}
            page = http.get(url, headers=headers, params=query)
            assert page.status_code == 200, page.text
            body = page.json()
            found.extend(body[field] or [])
            token = body.get("continuationToken")
            if not token:
                return found


def notification_outcomes(
    partner: PartnerSetup, org_id: str, notification_id: str
) -> dict[str, dict[str, Any]]:
    """Device id -> its outcome, every page of the notification's per-device outcomes."""
    url = f"{partner.url}/orgs/{org_id}/notifications/{notification_id}"
    outcomes: dict[str, dict[str, Any]] = {}
    token = None
    with httpx.Client(timeout=60) as http:
        while True:
            params = {"top": 1000, **({"continuationToken": token} if token else {})}
            page = http.get(url, headers=partner.as_key, params=params)
            assert page.status_code == 200, page.text
            body = page.json()
            outcomes.update((o["deviceId"], o) for o in body["devices"] or [])
            token = body.get("devicesContinuationToken")
            if not token:
                return outcomes


def user_rows(account: AccountStorage, partner_id: str, tenant_id: str) -> Iterator[Any]:
    from concurrent.futures import ThreadPoolExecutor

    from shared.tenants.store import DirectoryStore

    with ThreadPoolExecutor(1) as pool:
        yield from DirectoryStore(account, partner_id, tenant_id, pool).list_user_rows(select=["RowKey"])


def sync_against_source(
    partner: PartnerSetup, tenant_id: str
) -> tuple[dict[str, Any], dict[str, tuple[Any, ...]], dict[str, tuple[Any, ...]]]:
    """The tenant as the API shows it, and its users by id (name, UPN, enabled) as the API lists
    them and as the Graph stand-in holds them."""
    from tests.stack import GRAPH

    tenant = httpx.get(f"{partner.url}/tenants/{tenant_id}", headers=partner.as_key, timeout=30).json()
    synced = {
        u["id"]: (u["displayName"], u["userPrincipalName"], u["accountEnabled"])
        for u in page_all(f"{partner.url}/tenants/{tenant_id}/users", partner.as_key)
    }
    source = {
        u["id"]: (u["displayName"], u["userPrincipalName"], u["accountEnabled"])
        for u in GRAPH.app.tenant(tenant_id).data.users.values()
    }
    return tenant, synced, source

"""Soak: a steady mixed load on one local host for minutes, and whether latency and memory hold.

A private Azurite, the Graph and FCM stand-ins (own processes) and the product app on the local
host (`python -m localdev host`, FUNCTIONS_WORKER_PROCESS_COUNT as `--worker-processes`). One
partner with a proven customer tenant (`--users` users, synced through the Graph stand-in) and a
proven Dynamics org whose rule notifies every one of `--devices` seeded devices. Then, for
`--minutes`:
- Dataverse webhook deliveries, open loop at `--rate` a second (latency from the scheduled moment,
  so a stall shows), each fanned out by the host's queue trigger to the devices through FCM;
- a tenant sync requested every `--sync-every` seconds (`POST .../sync`), run by the sync queue;
- `--clients` partner API clients reading in turn the tenants, a page of the tenant's users and the
  org's notifications, each pausing `--pause` seconds between reads;
- the host's memory (RSS of the host and its worker processes) sampled every 10 s.

Errors: a webhook answer other than 202, an API answer other than 200, a sync request not 202 or a
sync that did not succeed. Prints the percentiles, the RSS samples, and `soak_p99_ms` (webhooks),
`soak_api_p99_ms`, `soak_errors`, `soak_rss_growth_pct` (from the end of warm-up, 2 minutes or a
fifth of a shorter run, to the end); last line `soak_p99_ms: <n>`. Shorter: `--minutes 2`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from graph_sync_parse import start_standin  # noqa: E402
from notify_fanout import SAMPLE, _start_host, _start_standin, seed_devices  # noqa: E402
from webhook_ingest import Sender, percentile  # noqa: E402

from localdev import dev_issuer  # noqa: E402
from localdev.azurite import free_port  # noqa: E402
from localdev.graph_standin import StandinControl  # noqa: E402
from localdev.host import WORKER_PROCESS_COUNT_SETTING  # noqa: E402
from localdev.proving import connect_partner_tenant, grant_gdap  # noqa: E402
from localdev.stack import start_test_azurite  # noqa: E402

# Longer than any answer should take; past it a delivery counts as failed (as Dataverse's timeout).
ANSWER_TIMEOUT_SECONDS = 30.0


@dataclass
class Figures:
    webhooks: list[float] = field(default_factory=list)
    api: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    rss: list[tuple[float, int]] = field(default_factory=list)  # (seconds since start, KiB)
    syncs: list[str] = field(default_factory=list)  # status URLs of requested syncs

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


@dataclass(frozen=True)
class Setup:
    api: str
    partner_id: str
    key: str
    tenant_id: str
    org_id: str
    webhook_key: str


def tree_rss_kib(pid: int) -> int:
    """RSS of the host and of the worker processes it started (its children)."""
    pids = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                pids.append(int(entry.name))
    total = 0
    for each in pids:
        try:
            status = Path(f"/proc/{each}/status").read_text()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return total


def set_up(api: str, env: dict[str, str], control: StandinControl, args: argparse.Namespace) -> Setup:
    """A partner with an owner and a key, a proven tenant, and a proven org notifying seeded devices."""
    operator = {"x-api-key": env["OPERATOR_API_KEY"]}
    entra_tenant = str(uuid.uuid4())
    owner = str(uuid.uuid4())
    partner = httpx.post(
        f"{api}/api/partners",
        headers=operator,
        json={
            "displayName": "Soak IT",
            "region": "eu",
            "entraTenantId": entra_tenant,
            "contact": {"name": "Soak", "email": "soak@contoso.example"},
            "subscription": {"plan": "standard", "tenantLimit": 25, "billingCycle": "monthly"},
            "owner": {"objectId": owner, "email": "owner@contoso.example", "displayName": "Owner"},
        },
        timeout=60,
    ).json()
    partner_url = f"{api}/api/partners/{partner['id']}"
    key = httpx.post(
        f"{partner_url}/api-keys",
        headers=operator,
        json={"name": "soak", "scopes": ["read", "write", "notify"]},
        timeout=60,
    ).json()["key"]
    as_key = {"x-api-key": key}
    token = dev_issuer.mint(
        tenant_id=entra_tenant,
        object_id=owner,
        audience=env["ENTRA_AUDIENCE"],
        authority_host=f"{api}/_dev/entra",
    )
    connect_partner_tenant(api, partner_url, {"authorization": f"Bearer {token}"}, control)
    httpx.put(  # the owner approves the Firebase transfer pushes need
        f"{partner_url}/privacy/transfers/firebase", headers={"authorization": f"Bearer {token}"}, timeout=60
    ).raise_for_status()
    tenant_id = str(uuid.uuid4())
    control.put_tenant(tenant_id, args.users)
    grant_gdap(control, entra_tenant, tenant_id)
    created = httpx.post(
        f"{partner_url}/tenants",
        headers=as_key,
        json={"tenantId": tenant_id, "displayName": "Soak"},
        timeout=60,
    )
    created.raise_for_status()
    org_id = str(uuid.uuid4())
    org = httpx.post(
        f"{partner_url}/orgs",
        headers=as_key,
        json={
            "organizationId": org_id,
            "uniqueName": "soak",
            "name": "Soak",
            "languageCode": 1033,
            "business": {"name": "Soak Ltd"},
            "tenantId": tenant_id,
        },
        timeout=60,
    ).json()
    # The org's Dataverse proves it with a first delivery (no rule yet: it notifies nobody).
    httpx.post(
        f"{api}/api/dynamics/{org_id}/webhook",
        params={"code": org["webhookKey"]},
        json={**SAMPLE, "OrganizationId": org_id, "CorrelationId": str(uuid.uuid4())},
        timeout=60,
    ).raise_for_status()
    seed_devices(env, org_id, args.devices)
    httpx.post(
        f"{partner_url}/orgs/{org_id}/rules",
        headers=as_key,
        json={
            "entity": "contact",
            "message": "Update",
            "title": "{fullname} was updated",
            "body": "Changed by {modifiedby}",
            "recipients": {"type": "everyone"},
        },
        timeout=60,
    ).raise_for_status()
    return Setup(api, partner["id"], key, tenant_id, org_id, org["webhookKey"])


async def webhooks(setup: Setup, figures: Figures, *, rate: float, until: float, senders: int) -> None:
    """Open loop: delivery i is due at start + i / rate, whatever the answers before it."""
    url = f"{setup.api}/api/dynamics/{setup.org_id}/webhook"
    prefix = json.dumps({**SAMPLE, "OrganizationId": setup.org_id, "CorrelationId": "@"}).split('"@"')
    started = time.perf_counter()
    count = int((until - started) * rate)
    next_index = iter(range(count))

    async def send(connection: Sender) -> None:
        for index in next_index:
            due = started + index / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            try:
                status: int | str = await asyncio.wait_for(
                    connection.post(f'"{uuid.uuid4()}"'.join(prefix).encode()), ANSWER_TIMEOUT_SECONDS
                )
            except (TimeoutError, OSError, asyncio.IncompleteReadError) as error:
                status = type(error).__name__  # Dataverse gives up too; a fresh connection for the next
                connection.close()
                connection.streams = None
            figures.webhooks.append((time.perf_counter() - due) * 1000)
            if status != 202:
                figures.error(f"webhook {status}")

    connections = [Sender(url, setup.webhook_key) for _ in range(senders)]
    try:
        await asyncio.gather(*(send(c) for c in connections))
    finally:
        for connection in connections:
            connection.close()


async def reader(setup: Setup, figures: Figures, *, until: float, pause: float) -> None:
    base = f"{setup.api}/api/partners/{setup.partner_id}"
    reads = [
        f"{base}/tenants",
        f"{base}/tenants/{setup.tenant_id}/users?top=100",
        f"{base}/orgs/{setup.org_id}/notifications",
    ]
    async with httpx.AsyncClient(headers={"x-api-key": setup.key}, timeout=ANSWER_TIMEOUT_SECONDS) as client:
        turn = 0
        while time.perf_counter() < until:
            started = time.perf_counter()
            try:
                status: int | str = (await client.get(reads[turn % len(reads)])).status_code
            except httpx.TransportError as error:
                status = type(error).__name__
            figures.api.append((time.perf_counter() - started) * 1000)
            if status != 200:
                figures.error(f"api {status}")
            turn += 1
            await asyncio.sleep(pause)


async def syncs(setup: Setup, figures: Figures, *, until: float, every: float) -> None:
    url = f"{setup.api}/api/partners/{setup.partner_id}/tenants/{setup.tenant_id}/sync"
    async with httpx.AsyncClient(headers={"x-api-key": setup.key}, timeout=60) as client:
        while time.perf_counter() + every <= until:
            await asyncio.sleep(every)
            try:
                response = await client.post(url)
            except httpx.TransportError as error:
                figures.error(f"sync request {type(error).__name__}")
                continue
            if response.status_code != 202:
                figures.error(f"sync request {response.status_code}")
            elif (location := response.headers.get("location")) not in figures.syncs:
                figures.syncs.append(location)


async def memory(pid: int, figures: Figures, *, until: float, started: float) -> None:
    while time.perf_counter() < until:
        figures.rss.append((time.perf_counter() - started, tree_rss_kib(pid)))
        await asyncio.sleep(10)
    figures.rss.append((time.perf_counter() - started, tree_rss_kib(pid)))


async def soak(setup: Setup, host_pid: int, figures: Figures, args: argparse.Namespace) -> None:
    started = time.perf_counter()
    until = started + args.minutes * 60
    await asyncio.gather(
        webhooks(setup, figures, rate=args.rate, until=until, senders=args.senders),
        *(reader(setup, figures, until=until, pause=args.pause) for _ in range(args.clients)),
        syncs(setup, figures, until=until, every=args.sync_every),
        memory(host_pid, figures, until=until, started=started),
    )


def sync_outcomes(setup: Setup, figures: Figures) -> list[str]:
    """Each requested sync's final state (waits, two minutes in all, for running ones to end)."""
    states = []
    deadline = time.monotonic() + 120
    with httpx.Client(base_url=setup.api, headers={"x-api-key": setup.key}, timeout=60) as client:
        for location in figures.syncs:
            state = "unknown"
            while time.monotonic() < deadline:
                state = str(client.get(location).json().get("state"))
                if state not in {"queued", "running"}:
                    break
                time.sleep(1)
            states.append(state)
            if state != "succeeded":
                figures.error(f"sync {state}")
    return states


def growth_pct(rss: list[tuple[float, int]], warm_up: float) -> float:
    after = [kib for seconds, kib in rss if seconds >= warm_up] or [rss[-1][1]]
    return (after[-1] - after[0]) / after[0] * 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=20.0, help="webhook deliveries per second")
    parser.add_argument("--senders", type=int, default=16, help="Dataverse connections")
    parser.add_argument("--devices", type=int, default=5, help="devices each notification reaches")
    parser.add_argument("--users", type=int, default=1000, help="users of the synced tenant")
    parser.add_argument("--sync-every", type=float, default=60.0, help="seconds between sync requests")
    parser.add_argument("--clients", type=int, default=3, help="partner API clients")
    parser.add_argument("--pause", type=float, default=0.2, help="seconds a client waits between reads")
    parser.add_argument("--worker-processes", type=int, default=2, help=WORKER_PROCESS_COUNT_SETTING)
    args = parser.parse_args()
    azurite, env = start_test_azurite()
    folder = Path(tempfile.mkdtemp(prefix="soak-bench-"))
    started: list[subprocess.Popen[Any]] = []  # stopped in reverse order, whatever happens
    figures = Figures()
    try:
        graph, graph_env = start_standin(args.users, folder)
        started.append(graph)
        key_file = folder / "service-account.json"
        fcm_port = free_port()
        started.append(_start_standin(fcm_port, key_file))
        env = {
            **env,
            **graph_env,
            "FIREBASE_PROJECT_ID": "tenantry-local",
            "FIREBASE_SERVICE_ACCOUNT": str(key_file),
            "FIREBASE_FCM_URL": f"http://127.0.0.1:{fcm_port}",
            WORKER_PROCESS_COUNT_SETTING: str(args.worker_processes),
        }
        port = free_port()
        host = _start_host(env, port, folder / "host.log")
        started.append(host)
        control = StandinControl(graph_env["GRAPH_AUTHORITY_HOST"], Path(graph_env["GRAPH_CA_BUNDLE"]))
        try:
            setup = set_up(f"http://127.0.0.1:{port}", env, control, args)
            print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
            asyncio.run(soak(setup, host.pid, figures, args))
            states = sync_outcomes(setup, figures)
        finally:
            control.close()
    finally:
        for process in reversed(started):
            process.terminate()  # the host stops its worker processes, given the time
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        azurite.stop()
        shutil.rmtree(folder, ignore_errors=True)
    report(figures, states, args)


def report(figures: Figures, states: list[str], args: argparse.Namespace) -> None:
    warm_up = min(120.0, args.minutes * 60 / 5)
    print(
        f"{args.minutes:g} minutes: webhooks at {args.rate:g}/s to {args.devices} devices each, a sync of "
        f"{args.users} users every {args.sync_every:g} s, {args.clients} API clients; "
        f"{args.worker_processes} worker processes; load average after: {os.getloadavg()[0]:.2f}"
    )
    hooks, reads = figures.webhooks, figures.api
    print(
        f"webhooks: {len(hooks)}  p50 {percentile(hooks, 0.5):.1f} ms  p99 {percentile(hooks, 0.99):.1f} ms  "
        f"max {max(hooks):.1f} ms"
    )
    print(
        f"API reads: {len(reads)}  p50 {percentile(reads, 0.5):.1f} ms  "
        f"p99 {percentile(reads, 0.99):.1f} ms  max {max(reads):.1f} ms"
    )
    print(f"syncs: {len(states)} requested, states {states}")
    print("RSS (MiB, every 10 s): " + " ".join(f"{kib / 1024:.0f}" for _, kib in figures.rss))
    print(f"errors: {figures.errors or 'none'}")
    print(f"soak_api_p99_ms: {percentile(reads, 0.99):.1f}")
    print(f"soak_errors: {sum(figures.errors.values())}")
    print(f"soak_rss_growth_pct: {growth_pct(figures.rss, warm_up):.1f}")
    print(f"soak_p99_ms: {percentile(hooks, 0.99):.1f}")


if __name__ == "__main__":
    main()

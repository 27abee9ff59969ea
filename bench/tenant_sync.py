"""Tenant sync end to end: a full sync of a large tenant through the Graph stand-in into Azurite, then 1%.

Starts a private Azurite and the Graph stand-in (own process), onboards one tenant of N users and
runs its sync through the product's service (delta users and groups into tables, configuration
snapshot, baseline). In the same run, the same users pages are parsed by msgraph-sdk's typed
models as the baseline (sampled within a time budget, as bench/graph_sync_parse.py does). Then
1% of the users change and an incremental sync runs: its storage writes and wall time are set
against the full sync's. Last line: `tenant_sync_users_per_s: <n>`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from graph_sync_parse import Recording, msgraph_parse, start_standin  # noqa: E402

from localdev.graph_standin import StandinControl  # noqa: E402
from localdev.stack import start_test_azurite  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=100_000, help="users in the tenant (default 100000)")
    parser.add_argument("--change", type=float, default=0.01, help="share of users changed (default 0.01)")
    parser.add_argument("--workers", type=int, default=8, help="parallel storage batches")
    parser.add_argument(
        "--baseline-seconds", type=float, default=15.0, help="time budget for msgraph's models"
    )
    args = parser.parse_args()

    azurite, env = start_test_azurite()
    scratch = tempfile.mkdtemp(prefix="tenant-bench-")
    standin, graph_env = start_standin(args.users, Path(scratch))
    try:
        os.environ.update({**env, **graph_env})
        run(args, graph_env)
    finally:
        standin.terminate()
        azurite.stop()


def run(args: argparse.Namespace, graph_env: dict[str, str]) -> None:
    from functions import deps
    from localdev.proving import connect_with_service, grant_gdap
    from shared.access.principals import Actor
    from shared.audit.context import ActionContext
    from shared.partners.models import PartnerIn
    from shared.tenants.graph_access import GraphAccess
    from shared.tenants.models import TenantIn
    from shared.tenants.store import DirectoryStore

    action = ActionContext(Actor("personnel", "bench"))
    partner = deps.partners().create(
        PartnerIn.model_validate(
            {
                "displayName": "Bench IT",
                "region": "eu",
                "entraTenantId": str(uuid.uuid4()),
                "contact": {"name": "Bench", "email": "bench@example.com"},
                "subscription": {"plan": "standard", "tenantLimit": 10, "billingCycle": "monthly"},
            }
        ),
        action,
    )
    settings = deps.graph_access().settings
    service = deps.tenants(partner, graph=GraphAccess(settings), sync_workers=args.workers)
    tenant_id = str(uuid.UUID(int=args.users, version=4))
    control = StandinControl(graph_env["GRAPH_AUTHORITY_HOST"], Path(graph_env["GRAPH_CA_BUNDLE"]))
    started = time.perf_counter()
    control.put_tenant(tenant_id, args.users)
    connect_with_service(service.proof, control)
    grant_gdap(control, partner.entra_tenant_id, tenant_id)
    print(f"tenant of {args.users} users generated in {time.perf_counter() - started:.1f}s")
    service.create(TenantIn(tenant_id=uuid.UUID(tenant_id), display_name="Bench tenant"), action)
    sync_id = str(service._entity(tenant_id)["activeSyncId"])
    # The token is fetched before timing: it is once per hour per tenant, not per sync.
    access = GraphAccess(settings)
    service.graph = access
    access.credential("graph-app").get_token("https://graph.microsoft.com/.default", tenant_id=tenant_id)

    recording = Recording(httpx.HTTPTransport(verify=settings.ssl_context()))
    client = httpx.Client(transport=recording, timeout=120, headers={"Accept": "application/json"})
    wall = time.perf_counter()
    full = service.run_sync(tenant_id, sync_id, final_attempt=True, reader_options={"http_client": client})
    wall = time.perf_counter() - wall
    assert full.state == "succeeded", full.error
    rate = full.counts.users / wall
    print(
        f"full sync: {full.counts.users} users, {full.counts.groups} groups in {wall:.2f}s "
        f"({rate:,.0f} users/s), {full.counts.storage_writes} storage writes, {full.counts.pages} pages"
    )
    baseline(recording.bodies, full.counts.users, wall, rate, args.baseline_seconds)

    with ThreadPoolExecutor(4) as pool:
        store = DirectoryStore(service.account, partner.id, tenant_id, pool)
        ids = sorted(str(row["RowKey"]) for row in store.list_user_rows(select=["RowKey"]))
    assert len(ids) == args.users, f"stored {len(ids)} users, expected {args.users}"
    changed = ids[: max(1, int(len(ids) * args.change))]
    control.mutate(
        tenant_id, change={user: {"displayName": f"Changed {n}"} for n, user in enumerate(changed)}
    )
    sync = service.request_sync(tenant_id, "manual", None)
    wall_incremental = time.perf_counter()
    incremental = service.run_sync(tenant_id, sync.id, final_attempt=True)
    wall_incremental = time.perf_counter() - wall_incremental
    assert incremental.state == "succeeded" and incremental.full is False, incremental.error
    share = incremental.counts.storage_writes / full.counts.storage_writes
    print(
        f"incremental sync after {len(changed)} users changed ({args.change:.0%}): "
        f"{incremental.counts.storage_writes} storage writes ({share:.2%} of the full sync's "
        f"{full.counts.storage_writes}), {wall_incremental:.2f}s wall "
        f"({wall_incremental / wall:.1%} of the full sync's)"
    )
    control.close()
    print(f"tenant_sync_users_per_s: {rate:.0f}")


def baseline(bodies: list[bytes], users: int, wall: float, rate: float, budget: float) -> None:
    """The same users pages through msgraph-sdk's typed models, as a sync using them would."""
    users_pages = [b for b in bodies if b'"userPrincipalName"' in b]
    sdk_users, sdk_pages, sdk_seconds, modules = msgraph_parse(users_pages, budget, False)
    sdk_rate = sdk_users / sdk_seconds
    projected = users / (wall + users / sdk_rate)
    print(
        f"baseline, msgraph-sdk typed models on the same pages ({sdk_pages} of {len(users_pages)}): "
        f"{sdk_seconds / sdk_users * 1000:.2f} ms/user ({sdk_rate:,.0f} users/s parse only; "
        f"first parse imported {modules} modules)"
    )
    print(
        f"  a sync through msgraph models would spend {users / sdk_rate:,.0f}s parsing alone: "
        f"~{projected:,.0f} users/s end to end, {rate / projected:,.1f}x slower than ours"
    )


if __name__ == "__main__":
    main()

"""Syncing many small tenants at once: total time and peak memory, with bounded concurrency.

Starts a private Azurite and the Graph stand-in (own process), onboards N tenants of M users to
one partner, and runs every tenant's first sync through the product's service on a pool of
`--concurrency` workers (as the queue trigger's batch size bounds an instance). Graph throttles
per (app, tenant), so fanning out across tenants is what makes this fast. Last line:
`tenant_fleet_seconds: <s>`.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from graph_sync_parse import graph_bench_stack  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--users", type=int, default=50, help="users per tenant")
    parser.add_argument("--concurrency", type=int, default=16, help="tenants synced at once")
    args = parser.parse_args()
    with graph_bench_stack(args.users, "fleet-bench-"):
        run(args)


def run(args: argparse.Namespace) -> None:
    from localdev.proving import add_proven_tenant, bench_partner

    _, service, control = bench_partner("Fleet IT", tenant_limit=args.tenants)
    started = time.perf_counter()
    tenants = []
    for _ in range(args.tenants):
        tenant_id = add_proven_tenant(service, control, "Small")
        tenants.append((tenant_id, str(service._entity(tenant_id)["activeSyncId"])))
    print(f"{args.tenants} tenants onboarded in {time.perf_counter() - started:.1f}s")
    control.close()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def sync(item: tuple[str, str]) -> int:
        result = service.run_sync(item[0], item[1], final_attempt=True)
        assert result.state == "succeeded", result.error
        return result.counts.users

    started = time.perf_counter()
    with ThreadPoolExecutor(args.concurrency) as pool:
        users = sum(pool.map(sync, tenants))
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        f"{args.tenants} tenants ({users} users) synced in {seconds:.1f}s, "
        f"concurrency {args.concurrency} "
        f"({args.tenants / seconds:.1f} tenants/s); peak RSS {peak / 1024:.0f} MiB "
        f"({(peak - before) / 1024:.0f} MiB above the idle process)"
    )
    print(f"tenant_fleet_seconds: {seconds:.1f}")


if __name__ == "__main__":
    main()

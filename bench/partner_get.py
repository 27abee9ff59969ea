"""Latency and throughput of an authenticated `GET /api/partners/{partnerId}` through the local host.

Starts a private Azurite and the local host, creates a partner with an owner and an API key, then
measures sequential latency (median, p99) for the API key and for an Entra-style bearer token,
and requests/s with N concurrent clients. Token validation uses the cached JWKS (fetched once,
not per request: tests/integration/test_token_validation.py holds that).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from localdev import dev_issuer
from localdev.host import HTTP_CONCURRENCY_SETTING
from localdev.stack import local_host, start_test_azurite


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def latencies(client: httpx.Client, url: str, headers: dict[str, str], count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
    return times


def throughput(url: str, headers: dict[str, str], clients: int, seconds: float) -> float:
    deadline = time.perf_counter() + seconds

    def worker(_: int) -> int:
        done = 0
        with httpx.Client() as client:
            while time.perf_counter() < deadline:
                assert client.get(url, headers=headers).status_code == 200
                done += 1
        return done

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        total = sum(pool.map(worker, range(clients)))
    return total / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=500, help="sequential requests per credential")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients for requests/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of the throughput run")
    parser.add_argument(
        "--http-concurrency",
        type=int,
        default=0,
        help="HTTP executions the host runs at once, as one Flex Consumption instance (0: no limit)",
    )
    parser.add_argument("--threads", type=int, default=32, help="the worker's PYTHON_THREADPOOL_THREAD_COUNT")
    args = parser.parse_args()

    azurite, env = start_test_azurite()
    host_env = {
        **env,
        HTTP_CONCURRENCY_SETTING: str(args.http_concurrency),
        "PYTHON_THREADPOOL_THREAD_COUNT": str(args.threads),
    }
    try:
        with local_host(host_env) as api:
            operator = {"x-api-key": env["OPERATOR_API_KEY"]}
            tenant, owner = "6f1c2b7e-0a4d-4c8e-9d3b-2a1f5e7c9b10", "11111111-2222-3333-4444-555555555555"
            partner = httpx.post(
                f"{api}/api/partners",
                headers=operator,
                json={
                    "displayName": "Bench IT",
                    "region": "eu",
                    "entraTenantId": tenant,
                    "contact": {"name": "Ana Li", "email": "ana@bench.example"},
                    "subscription": {"plan": "standard", "tenantLimit": 25, "billingCycle": "monthly"},
                    "owner": {"objectId": owner, "email": "owner@bench.example"},
                },
            ).json()
            url = f"{api}/api/partners/{partner['id']}"
            key = httpx.post(
                f"{url}/api-keys", headers=operator, json={"name": "bench", "scopes": ["read"]}
            ).json()
            token = dev_issuer.mint(
                tenant_id=tenant,
                object_id=owner,
                audience=env["ENTRA_AUDIENCE"],
                authority_host=f"{api}/_dev/entra",
            )
            by_key = {"x-api-key": key["key"]}
            by_token = {"authorization": f"Bearer {token}"}
            with httpx.Client() as client:
                latencies(client, url, by_key, 20)  # warm-up: first-use imports and table clients
                latencies(client, url, by_token, 20)
                key_ms = latencies(client, url, by_key, args.requests)
                token_ms = latencies(client, url, by_token, args.requests)
            rate = throughput(url, by_key, args.clients, args.seconds)
    finally:
        azurite.stop()
    print(
        f"api key:      median {statistics.median(key_ms):.1f} ms  p99 {percentile(key_ms, 0.99):.1f} ms"
        f"  ({args.requests} sequential requests)"
    )
    print(
        f"bearer token: median {statistics.median(token_ms):.1f} ms  p99 {percentile(token_ms, 0.99):.1f} ms"
    )
    limit = args.http_concurrency or "no limit on"
    print(f"host: {limit} HTTP executions at once, {args.threads} worker threads")
    print(f"{args.clients} concurrent clients over {args.seconds:.0f} s: {rate:.0f} requests/s")
    print(f"partner_get_p50_ms: {statistics.median(key_ms):.1f}")


if __name__ == "__main__":
    main()

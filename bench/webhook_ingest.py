"""Dataverse webhook ingest: p50/p99 latency and requests/s with C concurrent Dataverse-like senders.

The product app on the local host (private Azurite, FCM stand-in), one org with one matching
rule; each request is a distinct delivery of the documented RemoteExecutionContext (its own
CorrelationId), so every one persists a notification, its payload and a queue message (the
fan-out runs too, on the same host, as it would).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from notify_fanout import SAMPLE, cpu_seconds, notify_stack  # noqa: E402


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def send_all(
    url: str, code: str, org_id: str, senders: int, requests: int
) -> tuple[list[float], float, int]:
    latencies: list[float] = []
    failures = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(requests):
        queue.put_nowait(index)
    limits = httpx.Limits(max_connections=senders, max_keepalive_connections=senders)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def sender() -> None:
            nonlocal failures
            while not queue.empty():
                queue.get_nowait()
                body = json.dumps({**SAMPLE, "OrganizationId": org_id, "CorrelationId": str(uuid.uuid4())})
                started = time.perf_counter()
                response = await client.post(
                    url, params={"code": code}, content=body, headers={"content-type": "application/json"}
                )
                latencies.append((time.perf_counter() - started) * 1000)
                failures += response.status_code != 202

        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(senders)))
        return latencies, time.perf_counter() - started, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--senders", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()
    rule = {
        "entity": "contact",
        "message": "Update",
        "title": "{fullname} was updated",
        "body": "Changed by {modifiedby}",
        "recipients": {"type": "initiatingUser"},
    }
    with notify_stack(rule) as stack:
        org = stack.org
        url = f"{stack.api}/api/dynamics/{org['id']}/webhook"
        asyncio.run(send_all(url, org["webhookKey"], org["id"], args.senders, args.warmup))
        host_cpu = cpu_seconds(stack.host.pid)
        latencies, wall, failures = asyncio.run(
            send_all(url, org["webhookKey"], org["id"], args.senders, args.requests)
        )
        host_cpu = cpu_seconds(stack.host.pid) - host_cpu
    print(f"requests: {args.requests} with {args.senders} concurrent senders in {wall:.1f} s")
    print(f"not 202: {failures}")
    print(f"p50: {statistics.median(latencies):.1f} ms  p90: {percentile(latencies, 0.9):.1f} ms  "
          f"p99: {percentile(latencies, 0.99):.1f} ms  max: {max(latencies):.1f} ms")  # fmt: skip
    print(f"requests/s: {args.requests / wall:.0f}")
    per_request = host_cpu / args.requests * 1000
    print(
        f"host CPU: {per_request:.1f} ms per request (webhook and its fan-out job), "
        f"{host_cpu / wall:.0%} of a core"
    )
    print(
        f"ceiling: one host process serves about {1000 / per_request:.0f} requests/s; with {args.senders} "
        f"senders always waiting, latency is about {args.senders} x that CPU time"
    )
    print(f"webhook_ingest_p99_ms: {percentile(latencies, 0.99):.1f}")


if __name__ == "__main__":
    main()

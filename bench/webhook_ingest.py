"""Dataverse webhook ingest: p50/p99 latency and requests/s with C concurrent Dataverse-like senders.

The product app on the local host (private Azurite, FCM stand-in), one org with one matching
rule; each request is a distinct delivery of the documented RemoteExecutionContext (its own
CorrelationId), so every one persists a notification and queues its fan-out job.

Two questions, two switches:
- `--fanout elsewhere` (default) disables the queue trigger (`AzureWebJobs.<name>.Disabled`, as in
  Azure) and measures ingest alone: what Dataverse waits for, with the fan-out jobs run by other
  instances, as when the scale controller has added instances for the queue's backlog;
  `--fanout same-host` runs them in the same host process while it ingests, as on one instance
  that does both (the most load one local host can be given).
- `--rate 0` (default): closed loop, each sender posts again as soon as it has its answer, so the
  host is saturated and latency is senders / throughput (Little's law); `--rate R`: open loop, R
  deliveries per second in total arrive on schedule whatever the answers (how events reach us),
  and latency counts from the scheduled moment, so a backlog shows (no coordinated omission).

Prints percentiles, requests/s, CPU per request of the host (with `same-host`, after the queue
has drained, so every fan-out job is counted), of Azurite and of the senders, and
`webhook_ingest_p99_ms` for the mode run. The issue's figure is the default: 32 senders, closed
loop, ingest alone. Smaller: `--requests 2000 --warmup 100`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote, urlsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from notify_fanout import SAMPLE, cpu_seconds, notify_stack  # noqa: E402

from localdev.host import HTTP_CONCURRENCY_SETTING, WORKER_PROCESS_COUNT_SETTING  # noqa: E402
from localdev.stack import wait_until  # noqa: E402
from shared.notifications.records import QUEUE  # noqa: E402

FANOUT_FUNCTION = "notify_fanout_eu"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def azurite_pid(table_connection: str) -> int | None:
    """The Azurite (node) process serving this table endpoint, to read its CPU time."""
    endpoint = table_connection.split("TableEndpoint=", 1)[-1].split(";", 1)[0]
    port = str(urlsplit(endpoint).port)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--tablePort" in command and port.encode() in command:
            return int(entry.name)
    return None


def host_cpu_seconds(pid: int) -> float:
    """CPU time of the host and of the worker processes it started (FUNCTIONS_WORKER_PROCESS_COUNT)."""
    total = cpu_seconds(pid)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                total += cpu_seconds(int(entry.name)) if parent == pid else 0.0
            except (OSError, ValueError):
                continue
    return total


HEADERS: dict[str, str] = json.loads(
    (REPO / "tests" / "fixtures" / "dataverse" / "webhook-headers.json").read_text()
)["headers"]


class Sender:
    """One keep-alive HTTP/1.1 connection posting as Dataverse does (its headers, `?code=`).

    Hand-written on asyncio streams: an httpx client spends ~2.5 ms of CPU per request, which on
    this two-core machine is CPU taken from the host and Azurite under test; this takes ~0.2 ms.
    """

    def __init__(self, url: str, code: str):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.target = f"{parts.path}?code={quote(code, safe='')}"
        self.head = "".join(f"{k}: {v}\r\n" for k, v in HEADERS.items() if k != "x-request-id")
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, body: bytes) -> int:
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        writer.write(
            f"POST {self.target} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n{self.head}"
            f"x-request-id: {uuid.uuid4()}\r\ncontent-type: application/json; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 "), head[:200]
        status = int(head.split(b" ", 2)[1])
        length, chunked = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
        if not chunked:
            await reader.readexactly(length)
        while chunked:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)  # the chunk and its CRLF (the last: no trailers)
            chunked = size > 0
        return status

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()


def drained(env: dict[str, str]) -> float:
    """Waits until every fan-out job has run (none queued, none in flight); returns the seconds."""
    from azure.storage.queue import QueueClient

    queue = QueueClient.from_connection_string(env["TENANTRY_STORAGE_EU"], QUEUE)
    started = time.perf_counter()
    wait_until(
        lambda: queue.get_queue_properties().approximate_message_count == 0,
        timeout=600,
        what="the fan-out queue to drain",
    )
    return time.perf_counter() - started


async def send_all(
    url: str, code: str, org_id: str, *, senders: int, requests: int, rate: float
) -> tuple[list[float], float, int]:
    latencies: list[float] = []
    failures = 0
    refused: dict[int, int] = {}  # status -> answers (Dataverse retries only 502/503/504)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(requests):
        queue.put_nowait(index)
    connections = [Sender(url, code) for _ in range(senders)]
    prefix = json.dumps({**SAMPLE, "OrganizationId": org_id, "CorrelationId": "@"}).split('"@"')
    started = time.perf_counter()

    async def send(connection: Sender) -> None:
        nonlocal failures
        while not queue.empty():
            index = queue.get_nowait()
            body = f'"{uuid.uuid4()}"'.join(prefix).encode()  # a delivery of its own
            due = time.perf_counter()
            if rate > 0:
                due = started + index / rate
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
            status = await connection.post(body)
            latencies.append((time.perf_counter() - due) * 1000)
            failures += status != 202
            if status != 202:
                refused[status] = refused.get(status, 0) + 1

    try:
        await asyncio.gather(*(send(c) for c in connections))
    finally:
        for connection in connections:
            connection.close()
    if refused:
        print(f"answers not 202, by status: {refused}")
    return latencies, time.perf_counter() - started, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--senders", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument(
        "--rate", type=float, default=0.0, help="open loop: deliveries/s in total (0: closed)"
    )
    parser.add_argument("--fanout", choices=["same-host", "elsewhere"], default="elsewhere")
    parser.add_argument(
        "--http-concurrency",
        type=int,
        default=0,
        help="HTTP executions the host runs at once, as one Flex Consumption instance (0: no limit)",
    )
    parser.add_argument("--threads", type=int, default=32, help="the worker's PYTHON_THREADPOOL_THREAD_COUNT")
    parser.add_argument(
        "--worker-processes",
        type=int,
        default=1,
        help=f"{WORKER_PROCESS_COUNT_SETTING}: above 1, queue triggers run in worker processes of their own",
    )
    args = parser.parse_args()
    rule = {
        "entity": "contact",
        "message": "Update",
        "title": "{fullname} was updated",
        "body": "Changed by {modifiedby}",
        "recipients": {"type": "initiatingUser"},
    }
    if args.fanout == "elsewhere":
        # The host reads its app settings from the environment it is started with.
        os.environ[f"AzureWebJobs.{FANOUT_FUNCTION}.Disabled"] = "true"
    limits = {
        HTTP_CONCURRENCY_SETTING: str(args.http_concurrency),
        "PYTHON_THREADPOOL_THREAD_COUNT": str(args.threads),
        WORKER_PROCESS_COUNT_SETTING: str(args.worker_processes),
    }
    with notify_stack(rule, limits) as stack:
        org = stack.org
        url = f"{stack.api}/api/dynamics/{org['id']}/webhook"
        storage = azurite_pid(stack.env["TENANTRY_STORAGE_EU"])
        key = org["webhookKey"]
        asyncio.run(send_all(url, key, org["id"], senders=args.senders, requests=args.warmup, rate=0.0))
        host_cpu = host_cpu_seconds(stack.host.pid)
        storage_cpu = cpu_seconds(storage) if storage else 0.0
        client_cpu = time.process_time()
        latencies, wall, failures = asyncio.run(
            send_all(url, key, org["id"], senders=args.senders, requests=args.requests, rate=args.rate)
        )
        client_cpu = time.process_time() - client_cpu
        drain = drained(stack.env) if args.fanout == "same-host" else 0.0
        host_cpu = host_cpu_seconds(stack.host.pid) - host_cpu
        storage_cpu = (cpu_seconds(storage) - storage_cpu) if storage else float("nan")
    loop = f"open loop at {args.rate:g}/s offered" if args.rate > 0 else "closed loop"
    print(f"requests: {args.requests} with {args.senders} concurrent senders ({loop}, fan-out {args.fanout}) "
          f"in {wall:.1f} s")  # fmt: skip
    limit = args.http_concurrency or "no limit on"
    print(
        f"host: {limit} HTTP executions at once, {args.threads} worker threads, "
        f"{args.worker_processes} worker processes; load average now {os.getloadavg()[0]:.2f}"
    )
    print(f"not 202: {failures}")
    if args.fanout == "same-host":
        print(f"fan-out: the queue was empty {drain:.1f} s after the last answer (its CPU is counted)")
    print(f"p50: {statistics.median(latencies):.1f} ms  p90: {percentile(latencies, 0.9):.1f} ms  "
          f"p99: {percentile(latencies, 0.99):.1f} ms  max: {max(latencies):.1f} ms")  # fmt: skip
    print(f"requests/s: {args.requests / wall:.0f}")
    per_request = host_cpu / args.requests * 1000
    what = "webhook and its fan-out job" if args.fanout == "same-host" else "webhook alone"
    busy = wall + drain
    print(f"host CPU: {per_request:.1f} ms per request ({what}), {host_cpu / busy:.0%} of a core")
    print(
        f"Azurite CPU: {storage_cpu / args.requests * 1000:.1f} ms per request, {storage_cpu / busy:.0%} "
        f"of a core; senders (this process): {client_cpu / args.requests * 1000:.1f} ms per request"
    )
    print(
        f"ceiling: one host process serves about {1000 / per_request:.0f} requests/s; closed loop with "
        f"{args.senders} senders, latency is about {args.senders} / that rate"
    )
    print(f"webhook_ingest_p99_ms: {percentile(latencies, 0.99):.1f}")


if __name__ == "__main__":
    main()

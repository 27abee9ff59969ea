"""FCM send throughput: one notification to N devices through the adapter to the local FCM stand-in.

The stand-in runs in its own process (so it does not share our GIL), with a throwaway service
account written by its CLI; the adapter runs real firebase-admin against it, OAuth included.
Prints devices/s, CPU per device on each side, peak memory, and which side is the ceiling.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from localdev.azurite import free_port  # noqa: E402
from shared.adapters.fcm import Failed, FcmSender, FcmSettings, PushMessage, Sent  # noqa: E402

PROJECT = "tenantry-bench"


@dataclass
class WorkerResult:
    devices: int
    sent: int
    failures: dict[str, int]  # error code -> devices
    started_at: float  # wall clock, so several processes' spans can be joined
    ended_at: float
    cpu_seconds: float
    max_rss_kib: int


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def notification(first: int, count: int) -> list[PushMessage]:
    return [
        PushMessage(
            device_id=f"device-{i:07d}",
            fid=f"bench-fid-{i:07d}",
            title="Case 4711 was assigned to you",
            body="Contoso Ltd: the printer on floor 3 is offline again.",
            data={"entity": "incident", "id": "4711"},
            link="https://contoso.crm4.dynamics.com/main.aspx?etn=incident&id=4711",
        )
        for i in range(first, first + count)
    ]


def run_worker(args: tuple[str, str, int, int]) -> WorkerResult:
    """One process's share: set up (token fetched, pool warm) outside the timing, then send."""
    endpoint, service_account, first, count = args
    sender = FcmSender(FcmSettings(project_id=PROJECT, service_account=service_account, fcm_url=endpoint))
    sender.send(notification(10**8 + first, 1))  # warm-up device, outside the count
    messages = notification(first, count)
    started_cpu = cpu_seconds()
    started = time.time()
    outcomes = sender.send(messages)
    ended = time.time()
    sent = sum(isinstance(o, Sent) for o in outcomes)
    failures = Counter(o.error_code for o in outcomes if isinstance(o, Failed))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result = WorkerResult(
        count, sent, dict(failures), started, ended, cpu_seconds() - started_cpu, usage.ru_maxrss
    )
    sender.close()
    return result


def start_standin(port: int, key_file: Path, latency_ms: float) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "localdev.fcm_standin", "--port", str(port)]
    # Its console goes to a file beside the key, so that our last line stays the headline.
    with (key_file.parent / "standin.log").open("wb") as console:
        process = subprocess.Popen(
            [*command, "--service-account", str(key_file)],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/_standin/stats", timeout=1)
            break
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                log = (key_file.parent / "standin.log").read_text()
                raise RuntimeError(f"the FCM stand-in did not start:\n{log}") from None
            time.sleep(0.05)
    if latency_ms:
        httpx.post(
            f"http://127.0.0.1:{port}/_standin/latency", json={"ms": latency_ms, "jitter_ms": latency_ms / 2}
        )
    return process


def ceiling(client_util: float, standin_util: float, total_util: float, cores: int) -> str:
    if standin_util > 0.85:
        return "the stand-in (its one process is CPU-bound)"
    if client_util > 0.7:
        return "CPU in our process (a Python process runs on one core at a time: the GIL)"
    if total_util > 0.85 * cores:
        return "this machine's CPU (all cores busy)"
    return "waiting on the network (latency x concurrency), not CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--processes", type=int, default=1, help="sender processes sharing the devices")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="stand-in answer delay (jitter: half)")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]  # other work on this machine skews every figure below
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as folder:
        key_file = Path(folder) / "service-account.json"
        standin = start_standin(port, key_file, args.latency_ms)
        try:
            service_account = key_file.read_text()
            before = httpx.get(endpoint + "/_standin/stats").json()
            share = -(-args.devices // args.processes)
            jobs = [
                (endpoint, service_account, first, min(share, args.devices - first))
                for first in range(0, args.devices, share)
            ]
            if len(jobs) == 1:
                results = [run_worker(jobs[0])]
            else:
                with multiprocessing.get_context("spawn").Pool(len(jobs)) as pool:
                    results = pool.map(run_worker, jobs)
            after = httpx.get(endpoint + "/_standin/stats").json()
        finally:
            standin.terminate()
            standin.wait(timeout=10)

    report(args, results, delivered=after["delivered"] - before["delivered"] - len(jobs),  # minus warm-ups
           standin_cpu=after["cpuSeconds"] - before["cpuSeconds"], standin_rss_kib=after["maxRssKiB"],
           load_before=load_before)  # fmt: skip


def report(
    args: argparse.Namespace,
    results: list[WorkerResult],
    *,
    delivered: int,
    standin_cpu: float,
    standin_rss_kib: int,
    load_before: float,
) -> None:
    # From the first process starting to send to the last one finishing (set-up excluded).
    wall = max(r.ended_at for r in results) - min(r.started_at for r in results)
    sent = sum(r.sent for r in results)
    client_cpu = sum(r.cpu_seconds for r in results)
    cores = os.cpu_count() or 1
    busiest = max(r.cpu_seconds / (r.ended_at - r.started_at) for r in results)
    failures: Counter[str] = Counter()
    for result in results:
        failures.update(result.failures)
    per_device = 1e6 / max(sent, 1)
    ours, theirs = client_cpu * per_device, standin_cpu * per_device
    print(f"devices: {args.devices}  processes: {len(results)}  stand-in latency: {args.latency_ms:.0f} ms")
    print(f"machine: {cores} cores, load average before the run {load_before:.1f}")
    if load_before > cores * 0.75:
        print("note: other work competed for these cores during the run; read the figures as a floor")
    print(f"sent: {sent}  delivered at the stand-in: {delivered}  wall: {wall:.1f} s")
    if failures:
        print(f"failed (each with an outcome for the caller to act on): {dict(failures)}")
    if sent + sum(failures.values()) != args.devices or delivered != sent:
        print(json.dumps({"error": "outcomes and deliveries do not match the devices"}))
    print(f"our CPU: {client_cpu:.1f} s ({ours:.0f} us/device; busiest process {busiest:.0%} of a core)")
    print(f"stand-in CPU: {standin_cpu:.1f} s ({theirs:.0f} us/device; {standin_cpu / wall:.0%} of a core)")
    print(f"peak memory: ours {max(r.max_rss_kib for r in results) / 1024:.0f} MiB per process, "
          f"stand-in {standin_rss_kib / 1024:.0f} MiB")  # fmt: skip
    print(f"ceiling: {ceiling(busiest, standin_cpu / wall, (client_cpu + standin_cpu) / wall, cores)}")
    print(f"projected per sender core (our CPU only): {sent / client_cpu:.0f} devices/s")
    print(f"fcm_devices_per_s: {sent / wall:.0f}")


if __name__ == "__main__":
    main()

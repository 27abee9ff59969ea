"""Graph users sync: a full delta read through the stand-in, our slim models against msgraph-sdk's.

Starts the Graph stand-in in its own process (so its JSON writing does not share our GIL), reads
every user of an N-user tenant with GraphReader (999 per page, TLS, real token), and keeps the
raw pages. The same bytes are then parsed again by our slim models and by msgraph-sdk's typed
models (`DeltaGetResponse` through kiota's JSON parse node). msgraph's models take milliseconds
per user, so its baseline is sampled on the first pages within a time budget unless
`--full-baseline` is given. Last line: `graph_users_per_s: <n>` (end to end, slim path).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
from pydantic import SecretStr

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from localdev.azurite import free_port  # noqa: E402
from localdev.graph_standin import StandinControl  # noqa: E402
from shared.adapters.graph import GraphReader, GraphSettings, GraphUser, graph_credential, parse_delta_page  # noqa: E402


class Recording(httpx.BaseTransport):
    """Keeps each response body the reader receives, so both parsers see exactly the same pages."""

    def __init__(self, inner: httpx.BaseTransport):
        self.inner = inner
        self.bodies: list[bytes] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        body = response.read()
        self.bodies.append(body)
        return httpx.Response(response.status_code, headers=response.headers, content=body, request=request)

    def close(self) -> None:
        self.inner.close()


def start_standin(users: int, cert_dir: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    port = free_port()
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "localdev.graph_standin"),
            *("--port", str(port), "--users", str(users), "--cert-dir", str(cert_dir)),
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    settings: dict[str, str] = json.loads(process.stdout.readline())
    ca = settings["GRAPH_CA_BUNDLE"]
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(
                settings["GRAPH_AUTHORITY_HOST"], verify=ssl.create_default_context(cafile=ca), timeout=1
            )
            return process, settings
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the Graph stand-in did not start") from None
            time.sleep(0.1)


@contextlib.contextmanager
def graph_bench_stack(users: int, prefix: str) -> Iterator[None]:
    """A private Azurite and a Graph stand-in of `users` users a tenant, in this process's settings."""
    from localdev.stack import start_test_azurite

    azurite, env = start_test_azurite()
    standin, graph_env = start_standin(users, Path(tempfile.mkdtemp(prefix=prefix)))
    try:
        os.environ.update({**env, **graph_env})
        yield
    finally:
        standin.terminate()
        azurite.stop()


def msgraph_parse(bodies: list[bytes], budget: float, full: bool) -> tuple[int, int, float, int]:
    """Users parsed, pages parsed, seconds, and modules the first parse imported."""
    before = len(sys.modules)
    from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory
    from msgraph.generated.users.delta.delta_get_response import DeltaGetResponse

    factory = JsonParseNodeFactory()
    users = pages = 0
    spent = 0.0
    for body in bodies:
        started = time.perf_counter()
        node = factory.get_root_parse_node("application/json", body)
        response = node.get_object_value(DeltaGetResponse)
        spent += time.perf_counter() - started
        users += len(response.value or [])
        pages += 1
        if not full and spent >= budget:
            break
    return users, pages, spent, len(sys.modules) - before


def read_through_standin(users: int) -> tuple[int, float, float, list[bytes]]:
    """Users read, wall seconds, client CPU seconds and the raw pages of one full delta read."""
    tenant = str(uuid.UUID(int=users, version=4))
    with tempfile.TemporaryDirectory(prefix="graph-bench-") as scratch:
        process, env = start_standin(users, Path(scratch))
        try:
            control = StandinControl(env["GRAPH_AUTHORITY_HOST"], Path(env["GRAPH_CA_BUNDLE"]))
            started = time.perf_counter()
            control.put_tenant(tenant, users)  # generated before timing starts
            control.close()
            print(f"tenant of {users} users generated in {time.perf_counter() - started:.1f}s")
            settings = GraphSettings(
                client_id=env["GRAPH_CLIENT_ID"],
                client_secret=SecretStr(env["GRAPH_CLIENT_SECRET"]),
                authority_host=env["GRAPH_AUTHORITY_HOST"],
                base_url=env["GRAPH_BASE_URL"],
                ca_bundle=env["GRAPH_CA_BUNDLE"],
                timeout_seconds=120,
            )
            credential = graph_credential(settings)
            credential.get_token("https://graph.microsoft.com/.default", tenant_id=tenant)  # not timed
            recording = Recording(httpx.HTTPTransport(verify=settings.ssl_context()))
            count = 0
            with (
                httpx.Client(
                    transport=recording, timeout=120, headers={"Accept": "application/json"}
                ) as client,
                GraphReader(tenant, credential, settings, http_client=client) as reader,
            ):
                wall, cpu = time.perf_counter(), time.process_time()
                for page in reader.users_delta():
                    count += len(page.items)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            credential.close()
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
    return count, wall, cpu, recording.bodies


def slim_parse(bodies: list[bytes]) -> tuple[int, float]:
    started = time.perf_counter()
    users = 0
    for body in bodies:
        page, _ = parse_delta_page(body, GraphUser, full_sync=True)
        users += len(page.items)
    return users, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=100_000, help="users in the tenant (default 100000)")
    parser.add_argument(
        "--baseline-seconds", type=float, default=20.0, help="time budget for msgraph's models"
    )
    parser.add_argument("--full-baseline", action="store_true", help="parse every page with msgraph's models")
    args = parser.parse_args()

    count, wall, cpu, bodies = read_through_standin(args.users)
    assert count == args.users, f"read {count} users, expected {args.users}"
    end_to_end = count / wall
    print(f"full delta read: {count} users in {len(bodies)} pages, {wall:.2f}s wall, {cpu:.2f}s client CPU")
    print(f"  end to end (stand-in, TLS, slim models): {end_to_end:,.0f} users/s")

    slim_users, slim_seconds = slim_parse(bodies)
    slim_rate = slim_users / slim_seconds
    print(
        f"parse only, slim models: {slim_users} users in {slim_seconds * 1000:.0f} ms "
        f"({slim_seconds / slim_users * 1e6:.1f} us/user, {slim_rate:,.0f} users/s)"
    )

    sdk_users, sdk_pages, sdk_seconds, modules = msgraph_parse(
        bodies, args.baseline_seconds, args.full_baseline
    )
    sdk_rate = sdk_users / sdk_seconds
    sampled = "all" if sdk_pages == len(bodies) else f"a sample: the first {sdk_pages} of {len(bodies)}"
    print(
        f"parse only, msgraph-sdk models ({sampled} pages): {sdk_users} users in {sdk_seconds:.2f}s "
        f"({sdk_seconds / sdk_users * 1000:.2f} ms/user, {sdk_rate:,.0f} users/s); "
        f"its first parse imported {modules} modules"
    )
    print(f"speed-up, parsing: {slim_rate / sdk_rate:,.0f}x")
    projected = count / (wall - slim_seconds + count / sdk_rate)
    print(
        f"speed-up, end to end: {end_to_end / projected:,.0f}x "
        f"(msgraph models projected to {count / sdk_rate:,.0f}s of parsing for {count} users)"
    )
    print(f"graph_users_per_s: {end_to_end:.0f}")


if __name__ == "__main__":
    main()

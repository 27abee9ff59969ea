"""Alert delivery: alerts_delivered_per_s, the p99 delay from event to first attempt, and exactly-once
per healthy receiver, for A alerts to R webhook receivers of which a share is slow or failing.

The product app on the local host (private Azurite) does the work as in Azure: each partner (one
per receiver) has one webhook subscription to `tenant.drift.*`; this process records drift events
in the partners' audit logs (the real path: the log's watcher queues `alertevents`, the host's
queue triggers route them and deliver through `alertsend` / `alertretry`). The receivers run in
one separate process (`localdev/webhook_receiver.py`), a path each; of the bad share half answer
503, half answer after 10 s (the sender's timeout is 5 s). Healthy receivers must each get every
alert of theirs exactly once, counted by the receiver on `webhook-id`.

Prints the counts, the delay percentiles (event recorded -> first attempt, from the delivery log)
and `alerts_delivered_per_s` last. Smaller: `--alerts 2000 --receivers 40`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from localdev.azurite import free_port  # noqa: E402
from localdev.stack import local_host, start_test_azurite, wait_until  # noqa: E402


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def main() -> None:  # noqa: PLR0915 - one linear script: stack, setup, load, measure
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--alerts", type=int, default=20_000)
    parser.add_argument("--receivers", type=int, default=200)
    parser.add_argument("--bad-share", type=float, default=0.05, help="receivers slow or failing")
    parser.add_argument("--writers", type=int, default=8, help="threads recording events")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for delivery")
    args = parser.parse_args()

    azurite, env = start_test_azurite()
    env["ALERTS_LOOPBACK_PORTS"] = "1024-65535"
    os.environ.update(env)
    from azure.core.exceptions import AzureError

    from functions import deps  # the bench's own audit log writes go to this Azurite
    from shared.audit.log import AuditLog, NewEvent

    bad = max(0, round(args.receivers * args.bad_share))
    failing = [f"/r/{i}" for i in range(0, bad, 2)]
    slow = [f"/r/{i}" for i in range(1, bad, 2)]
    port = free_port()
    receivers = subprocess.Popen(
        [sys.executable, "-m", "localdev.webhook_receiver", "--port", str(port),
         "--failing", ",".join(failing), "--slow", ",".join(slow)],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    stats_url = f"http://127.0.0.1:{port}/_stats"
    try:
        wait_until(lambda: _up(stats_url), what="the receiver process")
        with (
            tempfile.TemporaryDirectory() as folder,
            open(Path(folder) / "host.log", "wb") as log,
            local_host(env, output=log) as api,
        ):
            operator = {"x-api-key": env["OPERATOR_API_KEY"]}
            partners = [_partner_with_subscription(api, operator, i, port) for i in range(args.receivers)]
            print(f"receivers: {args.receivers} ({len(failing)} failing, {len(slow)} slow)")
            print(f"alerts: {args.alerts}")

            account = deps.storage().region("eu")
            audit = AuditLog(account, deps.clock())
            recorded: dict[str, float] = {}
            per_receiver = [0] * args.receivers

            def record(n: int) -> None:
                index = n % args.receivers
                tenant = _guid(10_000_000 + index)
                event = NewEvent(
                    action="tenant.drift.conditionalAccess", actor={"type": "system", "id": "bench"},
                    target={"type": "tenant", "id": tenant},
                    changes={f"conditionalAccess/policy-{n}": {"before": "enabled", "after": "disabled"}},
                    details={"summary": f"conditional access policy {n} now disabled"},
                )  # fmt: skip
                for attempt in range(3):
                    try:
                        entity = audit.append(partners[index], event)
                        break
                    except AzureError:
                        # A busy machine's Azurite times out now and then. Recording the event again
                        # is safe: the same condition alerts once.
                        if attempt == 2:
                            raise
                recorded[str(entity["id"])] = time.time()

            for n in range(args.alerts):
                per_receiver[n % args.receivers] += 1
            started = time.time()
            with ThreadPoolExecutor(args.writers) as pool:
                list(pool.map(record, range(args.alerts)))
            print(f"events recorded: {args.alerts} in {time.time() - started:.1f} s")
            healthy = [i for i in range(args.receivers) if f"/r/{i}" not in failing + slow]
            expected = sum(per_receiver[i] for i in healthy)

            def delivered() -> int:
                paths = httpx.get(stats_url, timeout=30).json()["paths"]
                return sum(paths.get(f"/r/{i}", {}).get("unique", 0) for i in healthy)

            wait_until(lambda: delivered() >= expected, timeout=args.timeout, what="every healthy delivery")
            stats = httpx.get(stats_url, timeout=60).json()
            last = max(at for at in stats["firstAt"].values())
            wall = last - started
            exact = all(
                stats["paths"].get(f"/r/{i}", {}).get("unique") == per_receiver[i]
                and stats["paths"][f"/r/{i}"]["requests"] == per_receiver[i]
                for i in healthy
            )
            delays = []
            for row in account.table("alertdeliveries").query_entities(
                "firstAttemptAt ne ''", select=["eventId", "firstAttemptAt"]
            ):
                at = recorded.get(str(row["eventId"]))
                if at is not None:
                    delays.append(
                        (datetime.fromisoformat(str(row["firstAttemptAt"])).timestamp() - at) * 1000
                    )
            print(f"healthy receivers: {len(healthy)}, alerts due to them: {expected}")
            print(f"every alert delivered exactly once to every healthy receiver: {exact}")
            print(f"event -> first attempt: p50 {percentile(delays, 0.5):.0f} ms, "
                  f"p99 {percentile(delays, 0.99):.0f} ms over {len(delays)} deliveries")  # fmt: skip
            print(f"alert_first_attempt_p99_ms: {percentile(delays, 0.99):.0f}")
            print(f"alerts_delivered_per_s: {expected / wall:.0f}")
    finally:
        receivers.terminate()
        receivers.wait(timeout=10)
        azurite.stop()


def _partner_with_subscription(api: str, operator: dict[str, str], i: int, port: int) -> str:
    """A partner with a key and one webhook subscription to receiver `/r/<i>`."""
    body = {
        "displayName": f"Bench {i}",
        "region": "eu",
        "entraTenantId": _guid(i),
        "contact": {"name": "Bench", "email": "bench@contoso.example"},
        "subscription": {"plan": "standard", "tenantLimit": 25, "billingCycle": "monthly"},
    }
    partner = str(httpx.post(f"{api}/api/partners", headers=operator, timeout=30, json=body).json()["id"])
    scopes = {"name": "bench", "scopes": ["read", "write"]}
    key = httpx.post(f"{api}/api/partners/{partner}/api-keys", headers=operator, timeout=30, json=scopes)
    hook = {"channel": "webhook", "url": f"http://127.0.0.1:{port}/r/{i}", "eventTypes": ["tenant.drift.*"]}
    made = httpx.post(
        f"{api}/api/partners/{partner}/alert-subscriptions",
        headers={"x-api-key": key.json()["key"]},
        timeout=30,
        json=hook,
    )
    assert made.status_code == 201, made.text
    return partner


def _up(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _guid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


if __name__ == "__main__":
    main()

"""A whole partner's data-return package: rows per second and the memory it takes while it runs.

Starts a private Azurite, creates a partner and seeds it straight into storage
(`localdev/partner_seed.py`): --tenants tenants of --users users each (with two audit events and
--snapshots configuration snapshots per tenant), --orgs organisations of --devices devices each,
with --notifications notifications per organisation delivered to every device (a delivery outcome
row per device). Then builds the package as the queue worker does (`DataReturns.run`) and reports
the rows and blobs written, the wall time, the resident memory before the export and its peak
during the export (sampled every 20 ms from /proc: streamed, the peak stays near the start
whatever the partner's size). Defaults are the issue's partner (50 x 2,000 users, 3 x 20,000
devices) with 2 notifications per organisation and a snapshot per tenant; run small with e.g.
`--tenants 2 --users 100 --orgs 1 --devices 500`. Last line: `partner_export_rows_per_s: <n>`
(rows of tables and blobs of containers, each a line of the package).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from localdev.stack import start_test_azurite  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tenants", type=int, default=50, help="tenants of the partner (default 50)")
    parser.add_argument("--users", type=int, default=2000, help="users per tenant (default 2000)")
    parser.add_argument("--orgs", type=int, default=3, help="Dynamics organisations (default 3)")
    parser.add_argument(
        "--devices", type=int, default=20_000, help="devices per organisation (default 20000)"
    )
    parser.add_argument(
        "--notifications",
        type=int,
        default=2,
        help="notifications per organisation, each to every device (default 2)",
    )
    parser.add_argument(
        "--snapshots", type=int, default=1, help="configuration snapshots per tenant (default 1)"
    )
    parser.add_argument("--page", type=int, default=1000, help="rows per page and block (default 1000)")
    args = parser.parse_args()
    azurite, env = start_test_azurite()
    try:
        os.environ.update(env)
        values: dict[str, str] = json.loads((REPO / "local.settings.example.json").read_text())["Values"]
        for key, value in values.items():
            if not key.startswith(("TENANTRY_STORAGE", "AzureWebJobs")):
                os.environ.setdefault(key, value)
        run(args)
    finally:
        azurite.stop()


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class PeakRss:
    """Samples the resident set while a block runs (ru_maxrss would also count the seeding)."""

    def __init__(self) -> None:
        self.peak = _rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss_mb())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mb())


def run(args: argparse.Namespace) -> None:
    from functions import deps
    from localdev.partner_seed import seed_partner
    from shared.access.principals import Actor
    from shared.audit.context import ActionContext
    from shared.partners.models import PartnerIn
    from shared.partners.subscription import TerminationChoice
    from shared.privacy.data_return import DataReturns

    action = ActionContext(Actor("operator", "bench"))
    body = {
        "displayName": "Bench IT",
        "region": "eu",
        "entraTenantId": str(uuid.uuid4()),
        "contact": {"name": "Ana Li", "email": "ana@bench.example"},
        "subscription": {"plan": "standard", "tenantLimit": 1000, "billingCycle": "monthly"},
    }
    partner = deps.partners().create(PartnerIn.model_validate(body), action)
    partner = deps.partners().get(partner.id)
    started = time.perf_counter()
    seeded = seed_partner(
        deps.storage().region("eu"),
        deps.clock(),
        partner.id,
        tenants=args.tenants,
        users=args.users,
        orgs=args.orgs,
        devices=args.devices,
        notifications=args.notifications,
        snapshots=args.snapshots,
    )
    print(f"seeded: {seeded.rows} rows, {seeded.blobs} blobs in {time.perf_counter() - started:.1f} s")
    service = DataReturns(
        deps.storage(), deps.clock(), deps.partners(), page_rows=args.page, dispatch=lambda r, m: None
    )
    job = service.start(partner, TerminationChoice.RETURN, action)
    before = _rss_mb()
    started = time.perf_counter()
    with PeakRss() as rss:
        service.run(partner.id, job.id)
    elapsed = time.perf_counter() - started
    status = service.get(partner, job.id)
    assert status.state.value == "succeeded", status
    blobs = sum(f.rows for f in status.files if f.file.startswith("blobs/"))
    print(f"files: {len(status.files)}, rows exported: {status.rows} ({blobs} blobs), in {elapsed:.1f} s")
    print(f"rss_before_export_mb: {before:.0f}")
    print(f"export_peak_rss_mb: {rss.peak:.0f}")
    print(f"partner_export_rows_per_s: {status.rows / elapsed:.0f}")


if __name__ == "__main__":
    main()

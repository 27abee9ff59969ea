"""How long the portal takes to show a signed-in person their tenants, in headless Chromium.

Starts a private Azurite and the local host serving the built portal (`make portal` first), creates a
partner whose owner signs in once through the dev issuer's picker (the real MSAL, code + PKCE), seeds
its tenants, then loads the tenants page `--runs` times in the same tab (MSAL keeps its tokens in
the tab's sessionStorage): a first visit with the browser's cache emptied, then a repeat visit
with it, each timed from the navigation's start to the first tenant's row being visible
(`performance.now()` in the page). Also prints the gzipped size of the JavaScript index.html loads
first. Last line: the first visits' median.
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import statistics
import sys
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from localdev.stack import local_host, start_test_azurite

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 60_000


def initial_javascript(dist: Path) -> dict[str, int]:
    """Each JavaScript file index.html loads at once (its module scripts and modulepreloads), with
    its size after gzip -9, as a CDN or the Functions host's compression would send it."""
    index = (dist / "index.html").read_text(encoding="utf-8")
    sources = re.findall(r'<script[^>]*\bsrc="([^"]+\.js)"', index)
    sources += re.findall(r'<link[^>]*rel="modulepreload"[^>]*href="([^"]+\.js)"', index)
    return {
        src: len(gzip.compress((dist / src.lstrip("/")).read_bytes(), 9)) for src in dict.fromkeys(sources)
    }


def create_partner(api: str, tenants: int) -> tuple[str, list[str]]:
    """A partner with an owner to sign in as and `tenants` tenants seeded into storage; returns the
    owner's display name and the tenants' names."""
    from functions import deps
    from localdev.partner_seed import seed_partner

    suffix = uuid.uuid4().hex[:6]
    owner = f"Bench Owner {suffix}"
    created = httpx.post(
        f"{api}/api/partners",
        headers={"x-api-key": os.environ["OPERATOR_API_KEY"]},
        json={
            "displayName": f"Bench MSP {suffix}",
            "region": "eu",
            "entraTenantId": str(uuid.uuid4()),
            "contact": {"name": "Ana Li", "email": "ana@bench.example"},
            "subscription": {"plan": "standard", "tenantLimit": max(tenants, 25), "billingCycle": "monthly"},
            "owner": {"objectId": str(uuid.uuid4()), "email": "owner@bench.example", "displayName": owner},
        },
        timeout=60,
    )
    created.raise_for_status()
    seed_partner(
        deps.storage().region("eu"),
        deps.clock(),
        created.json()["id"],
        tenants=tenants,
        users=1,
        orgs=0,
        devices=0,
        events_per_tenant=0,
    )
    return owner, [f"Fabrikam {t}" for t in range(tenants)]


def measure(api: str, owner: str, tenant: str, runs: int) -> tuple[list[float], list[float]]:
    from playwright.sync_api import expect, sync_playwright

    first: list[float] = []
    repeat: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=api, ignore_https_errors=True, locale="en-GB")
        context.set_default_timeout(WAIT_MS)
        page = context.new_page()
        page.goto("/")
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.wait_for_url(re.compile(r"/_dev/entra/.*/authorize"))
        page.get_by_role("button", name=re.compile(re.escape(owner))).click()
        row = page.get_by_role("link", name=tenant, exact=True)
        expect(row).to_be_visible(timeout=WAIT_MS)
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")

        def load() -> float:
            page.goto("/tenants", wait_until="commit")
            expect(row).to_be_visible(timeout=WAIT_MS)
            return float(page.evaluate("performance.now()"))

        for _ in range(runs):
            cdp.send("Network.clearBrowserCache")
            first.append(load())
            repeat.append(load())
        browser.close()
    return first, repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20, help="page loads of each kind (default 20)")
    parser.add_argument("--tenants", type=int, default=25, help="tenants the partner has (default 25)")
    args = parser.parse_args()
    dist = Path(os.environ.get("PORTAL_DIST", REPO / "portal" / "dist"))
    if not (dist / "index.html").is_file():
        sys.exit(f"{dist} has no index.html: build the portal first (`make portal`)")
    scripts = initial_javascript(dist)
    azurite, env = start_test_azurite()
    try:
        os.environ.update(env)
        with local_host(env) as api:
            owner, tenants = create_partner(api, args.tenants)
            first, repeat = measure(api, owner, tenants[0], args.runs)
    finally:
        azurite.stop()
    for src, size in scripts.items():
        print(f"initial JavaScript {src}: {size / 1024:.1f} KiB gzipped")
    print(f"portal_initial_js_gzip_kib: {sum(scripts.values()) / 1024:.1f}")
    for kind, times in (("first visits (empty cache)", first), ("repeat visits (cached)", repeat)):
        print(f"{kind}, {args.runs} runs: median {statistics.median(times):.0f} ms, max {max(times):.0f} ms")
    print(f"portal_tenants_visible_repeat_ms: {statistics.median(repeat):.0f}")
    print(f"portal_tenants_visible_ms: {statistics.median(first):.0f}")


if __name__ == "__main__":
    main()

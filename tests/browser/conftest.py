"""Browser test fixtures: the module's stack serving the built portal, Debian's Chromium, a context per test.

The steps a test takes in the page (sign in, accessibility, keyboard, screenshots) are in steps.py.
Outside CI the tests skip when the portal is not built (`make portal`); under CI (CI=true) a missing
build or a missing Chromium fails them, so a green run always drove the real portal.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from tests.browser.steps import Demo

if TYPE_CHECKING:
    from localdev.graph_standin import StandinControl

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
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
# How long a step may wait for the page (a first load on a busy 2-core CI machine runs the host, the
# dev issuer and Chromium at once); a wait, never an assertion about speed.
WAIT_MS = 30_000


def portal_dist() -> Path:
    return Path(os.environ.get("PORTAL_DIST", REPO / "portal" / "dist"))


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session", autouse=True)
def portal_built() -> None:
    if (portal_dist() / "index.html").is_file():
        return
    if under_ci():
        pytest.fail(f"{portal_dist()} has no index.html: under CI the portal must be built (`make portal`)")
    pytest.skip(f"the portal is not built ({portal_dist()} has no index.html): run `make portal` first")


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    # Per module, not per session: Playwright's sync API keeps an event loop of its own, which must
    # be gone before a later module of the same xdist worker runs asyncio code.
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get)")
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield launched
    launched.close()


@pytest.fixture
def locale() -> str:
    """The person's browser language; a test parametrizes it (`nl-NL`) to see the portal in Dutch."""
    return "en-GB"


@pytest.fixture
def context(browser: Browser, api: str, locale: str) -> Iterator[BrowserContext]:
    """A fresh profile per test (no cookies, no MSAL cache), at the module's host; the dev issuer's
    certificate comes from a local CA the browser does not know, hence ignore_https_errors."""
    opened = browser.new_context(base_url=api, ignore_https_errors=True, locale=locale)
    opened.set_default_timeout(WAIT_MS)
    expect.set_options(timeout=WAIT_MS)
    yield opened
    opened.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture(scope="module")
def demo(api: str, control: StandinControl) -> Demo:
    # Imported here: tests.e2e.actors starts the stack, which a skipped module never needs.
    from tests.e2e.actors import add_proven_tenant, make_partner, partner_body
    from tests.web import web

    suffix = uuid.uuid4().hex[:6]
    owner = f"Demo Admin {suffix}"
    body = partner_body("eu")
    partner = make_partner(
        api,
        "eu",
        displayName=f"Demo MSP {suffix}",
        owner={**body["owner"], "displayName": owner, "email": f"admin-{suffix}@demo-msp.example"},
    )
    tenant = f"Fabrikam {suffix}"
    other_tenant = f"Northwind {suffix}"
    tenant_id = add_proven_tenant(partner, control, users=5, display_name=tenant)
    add_proven_tenant(partner, control, users=5, display_name=other_tenant)
    scoped = f"Scoped Sam {suffix}"
    person = {
        "objectId": str(uuid.uuid4()),
        "email": f"sam-{suffix}@demo-msp.example",
        "displayName": scoped,
        "role": "viewer",
        "tenantScope": {"tenantIds": [tenant_id]},
    }
    added = web.post(f"{partner.url}/personnel", headers=partner.bearer(), json=person)
    assert added.status_code == 201, added.text
    return Demo(partner, owner, scoped, tenant, other_tenant)

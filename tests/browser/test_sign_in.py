"""Signing in to the portal with the real MSAL through the dev issuer: what each person sees; signing out."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.steps import Demo, check_accessibility, check_keyboard, screenshot, sign_in


def test_the_owner_signs_in_and_sees_every_tenant_of_the_partner(page: Page, demo: Demo) -> None:
    sign_in(page, demo.owner)
    expect(page.get_by_role("link", name=demo.tenant)).to_be_visible()
    expect(page.get_by_role("link", name=demo.other_tenant)).to_be_visible()
    screenshot(page, "tenants-owner")
    check_accessibility(page)
    check_keyboard(page)


def test_a_person_scoped_to_one_tenant_sees_only_that_tenant(page: Page, demo: Demo) -> None:
    sign_in(page, demo.scoped)
    expect(page.get_by_role("link", name=demo.tenant)).to_be_visible()
    expect(page.get_by_role("link", name=demo.other_tenant)).to_have_count(0)
    screenshot(page, "tenants-scoped")


def test_signing_out_ends_the_session(page: Page, demo: Demo) -> None:
    sign_in(page, demo.owner)
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    # Coming back does not sign the person in again by itself: the tenants stay out of reach.
    page.goto("/tenants")
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name=demo.tenant)).to_have_count(0)


@pytest.mark.parametrize("locale", ["nl-NL"])
def test_a_dutch_browser_gets_the_portal_in_dutch(page: Page, demo: Demo) -> None:
    sign_in(page, demo.owner, button="Aanmelden")
    expect(page.get_by_role("button", name="Afmelden", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name=demo.tenant)).to_be_visible()
    screenshot(page, "tenants-owner-nl")
    check_accessibility(page)

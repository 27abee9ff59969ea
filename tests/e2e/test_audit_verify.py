"""Verify over HTTP: a large month answers 202 and a status resource the queue steps finish."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from localdev.stack import wait_until
from shared.audit.chain import MacKeys
from shared.storage.router import StorageRouter
from tests.audit_chains import fill_month
from tests.e2e.actors import PartnerSetup
from tests.web import web

EVENTS = 4500  # more than one request reads (2,000 rows): three queued steps


def test_a_large_month_verifies_as_a_long_operation(
    partner: PartnerSetup, router: StorageRouter, stack_env: dict[str, str]
) -> None:
    keys = MacKeys(stack_env["AUDIT_MAC_KEYS"])  # the host's own key: these events are genuine
    fill_month(
        router.region("eu"), partner.id, datetime(2026, 6, 15, tzinfo=UTC), keys, count=EVENTS, lanes=8
    )
    headers = {"x-api-key": partner.key}

    started = web.get(f"{partner.url}/events/verify", params={"month": "2026-06"}, headers=headers)
    assert started.status_code == 202, started.text
    location = started.headers["Location"]
    assert location.startswith(f"/api/partners/{partner.id}/events/verifications/")
    assert started.json()["state"] == "queued" and started.json()["total"] == EVENTS

    def finished() -> dict[str, Any] | None:
        status = web.get(f"{partner.api}{location}", headers=headers)
        assert status.status_code == 200, status.text
        body: dict[str, Any] = status.json()
        return body if body["state"] == "succeeded" else None

    final = wait_until(finished, timeout=90, what="the verification to finish")
    assert (final["valid"], final["checked"], final["firstBrokenEventId"]) == (True, EVENTS, None)

    # A small month (this one: the partner's own setup) still answers at once, as the API promised.
    this_month = f"{datetime.now(UTC):%Y-%m}"
    small = web.get(f"{partner.url}/events/verify", params={"month": this_month}, headers=headers)
    assert small.status_code == 200 and small.json()["valid"] is True


def test_an_unknown_verification_is_not_found(partner: PartnerSetup) -> None:
    missing = web.get(
        f"{partner.url}/events/verifications/202606" + "0" * 26, headers={"x-api-key": partner.key}
    )
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")

"""Sub-processor changes through the running app: the operator announces one at least 30 days ahead,
every partner hears of it, an owner objects, and the record of processing shows both."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.actors import OPERATOR, PartnerSetup, make_partner

http = httpx.Client(timeout=60)


@pytest.fixture(scope="module")
def partners(api: str) -> tuple[PartnerSetup, PartnerSetup]:
    return make_partner(api, "eu"), make_partner(api, "eu")


def change(days_ahead: float) -> dict[str, Any]:
    return {
        "change": "added",
        "name": f"Mailjet {uuid.uuid4().hex[:6]}",
        "service": "Transactional e-mail",
        "purpose": "Sends alert e-mails",
        "location": "EU (France)",
        "effectiveAt": (datetime.now(UTC) + timedelta(days=days_ahead)).isoformat(),
    }


def test_a_change_is_announced_to_every_partner_and_an_owner_objects_to_it_on_record(
    api: str, partners: tuple[PartnerSetup, PartnerSetup]
) -> None:
    objector, other = partners
    url = f"{api}/api/privacy/subprocessor-changes"
    too_soon = http.post(url, headers=OPERATOR, json=change(29))
    assert too_soon.status_code == 422, too_soon.text
    assert too_soon.headers["content-type"].startswith("application/problem+json")
    assert http.post(url, headers=objector.as_key, json=change(45)).status_code in (401, 403)

    announced = http.post(url, headers=OPERATOR, json=change(45))
    assert announced.status_code == 201, announced.text
    change_id = announced.json()["id"]
    assert change_id in [n["id"] for n in http.get(f"{api}/api/notices").json()["items"]]
    for partner in partners:
        events = http.get(f"{partner.url}/events?top=100", headers=partner.as_key).json()["items"]
        assert any(e["action"] == "notice.scheduled" and e["target"]["id"] == change_id for e in events)
    public = http.get(f"{api}/api/privacy/processing-activities").json()
    assert change_id in [c["id"] for c in public["pendingSubprocessorChanges"]]

    objection = f"{objector.url}/privacy/subprocessor-changes/{change_id}/objection"
    assert http.post(objection, headers=objector.as_key, json={"reason": "no"}).status_code == 403
    assert http.post(objection, headers=OPERATOR, json={"reason": "no"}).status_code == 403
    assert http.post(objection, headers=objector.bearer(), json={}).status_code == 422
    objected = http.post(objection, headers=objector.bearer(), json={"reason": "Not in our DPA annex"})
    assert objected.status_code == 200, objected.text
    assert objected.json()["objection"]["reason"] == "Not in our DPA annex"
    again = http.post(objection, headers=objector.bearer(), json={"reason": "twice"})
    assert again.status_code == 409

    def pending(partner: PartnerSetup) -> dict[str, Any]:
        record = http.get(f"{partner.url}/privacy/processing-activities", headers=partner.as_key).json()
        return {c["id"]: c for c in record["pendingSubprocessorChanges"]}

    assert pending(objector)[change_id]["objection"]["reason"] == "Not in our DPA annex"
    assert pending(other)[change_id]["objection"] is None  # one partner's objection is its own
    public = http.get(f"{api}/api/privacy/processing-activities").json()
    assert all(c["objection"] is None for c in public["pendingSubprocessorChanges"])  # no partner's
    unknown = f"{objector.url}/privacy/subprocessor-changes/01J0000000000000000000000A/objection"
    assert http.post(unknown, headers=objector.bearer(), json={"reason": "x"}).status_code == 404

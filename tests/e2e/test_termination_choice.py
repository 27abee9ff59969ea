"""Administration fields and the partner's choice for its data at termination, through the served API."""

from __future__ import annotations

from typing import Any

from localdev.stack import wait_until
from tests.e2e.actors import OPERATOR, PartnerSetup, make_partner
from tests.web import web


def _events(partner: PartnerSetup, action: str) -> list[dict[str, Any]]:
    items = web.get(f"{partner.url}/events?action={action}", headers=partner.as_key).json()["items"]
    return [item for item in items if item["action"] == action]


def test_owners_keep_the_administration_fields_and_bad_ones_change_nothing(api: str) -> None:
    partner = make_partner(api)
    owner = partner.bearer()
    empty = web.get(f"{partner.url}/administration", headers=owner).json()
    assert set(empty) == {"legalName", "address", "chamberOfCommerceNumber", "vatNumber", "billingEmail"}
    assert set(empty.values()) == {None}

    body = {
        "address": {
            "line1": "Keizersgracht 1",
            "postalCode": "1015 CJ",
            "city": "Amsterdam",
            "country": "NL",
        },
        "chamberOfCommerceNumber": "12345678",
        "vatNumber": "nl 1234.56789.B01",
        "billingEmail": "Billing@Contoso.example",
    }
    changed = web.patch(f"{partner.url}/administration", headers=owner, json=body)
    assert changed.status_code == 200, changed.text
    assert changed.json()["vatNumber"] == "NL123456789B01"
    assert changed.json()["billingEmail"] == "billing@contoso.example"

    for bad in (
        {"vatNumber": "XX123"},
        {"vatNumber": "DE12345"},
        {"billingEmail": "nobody"},
        {"address": {"line1": "x", "postalCode": "1", "city": "y", "country": "Netherlands"}},
        {"vatNumber": "NL123456789B02", "unknown": 1},
    ):
        refused = web.patch(f"{partner.url}/administration", headers=owner, json=bad)
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
    # A key has no manageAccess: it neither reads nor writes them.
    assert web.get(f"{partner.url}/administration", headers=partner.as_key).status_code == 403
    assert web.patch(f"{partner.url}/administration", headers=partner.as_key, json={}).status_code == 403

    cleared = web.patch(
        f"{partner.url}/administration", headers=owner, json={"chamberOfCommerceNumber": None}
    )
    kept = web.get(f"{partner.url}/administration", headers=OPERATOR).json()
    assert cleared.json() == kept
    assert kept["chamberOfCommerceNumber"] is None and kept["vatNumber"] == "NL123456789B01"
    assert kept["address"]["city"] == "Amsterdam"
    assert len(_events(partner, "partner.administration_updated")) == 2


def test_return_builds_a_package_only_its_partner_reads(api: str) -> None:
    partner = make_partner(api)
    stranger = make_partner(api, "us")
    owner = partner.bearer()
    bad = web.post(f"{partner.url}/subscription/unsubscribe", headers=owner, json={"choice": "keep"})
    assert bad.status_code == 422 and _events(partner, "subscription.unsubscribed") == []

    ended = web.post(f"{partner.url}/subscription/unsubscribe", headers=owner, json={"choice": "return"})
    assert ended.status_code == 200, ended.text
    subscription = ended.json()["subscription"]
    assert subscription["terminationChoice"] == "return"
    location = f"{partner.url}/data-returns/{subscription['dataReturnId']}"

    def finished() -> dict[str, Any] | None:
        status = web.get(location, headers=owner).json()
        assert 0 <= status["percentDone"] <= 100
        return status if status["state"] in ("succeeded", "failed") else None

    status = wait_until(finished, timeout=120, what="the data-return package")
    assert status["state"] == "succeeded" and status["percentDone"] == 100
    manifest = web.get(status["manifestUrl"]).json()
    files = {entry["category"]: entry for entry in manifest["files"]}
    assert files["partners"]["rows"] == 1 and files["apikeys"]["rows"] >= 1
    assert partner.owner_object_id in web.get(status["fileUrls"]["personnel.jsonl"]).text
    keys = web.get(status["fileUrls"]["apikeys.jsonl"]).text
    assert partner.key not in keys and "hash" not in keys.lower()

    # Another partner's credentials: the package is not there for them.
    assert web.get(location, headers=stranger.as_key).status_code == 404
    stranger_path = f"{stranger.url}/data-returns/{subscription['dataReturnId']}"
    assert web.get(stranger_path, headers=stranger.bearer()).status_code == 404

    # Terminating or not, a new package can be asked for: 202 and a status resource.
    again = web.post(f"{partner.url}/data-returns", headers=owner, json={"kind": "anonymise"})
    assert again.status_code == 202, again.text
    assert again.headers["location"] == f"/api/partners/{partner.id}/data-returns/{again.json()['id']}"


def test_an_unsubscribe_without_a_body_still_means_delete(api: str) -> None:
    partner = make_partner(api)
    ended = web.post(f"{partner.url}/subscription/unsubscribe", headers=partner.bearer())
    assert ended.status_code == 200, ended.text
    assert ended.json()["subscription"]["terminationChoice"] == "delete"
    assert ended.json()["subscription"]["dataReturnId"] is None

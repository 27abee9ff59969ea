"""The consent ledger through the local host: double opt-in, one-click unsubscribe, the ledger a
partner reads, identical answers for known and unknown addresses, refused tokens, rate limits."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.privacy.consent import CONTACTS, LEDGER, ConsentKeys
from shared.storage.router import StorageRouter
from tests.e2e.actors import PartnerSetup, make_partner
from tests.stack import STACK_ENV
from tests.web import web

_networks = itertools.count(1)


def fresh_ip() -> dict[str, str]:
    """Each call its own network (/24), so tests do not share the per-network limit."""
    n = next(_networks)
    return {"x-forwarded-for": f"203.{n // 256 % 256}.{n % 256}.9"}


def address() -> str:
    return f"reader-{uuid.uuid4().hex[:12]}@fabrikam.example"


def subscribe(api: str, partner: PartnerSetup, email: str, **extra: Any) -> httpx.Response:
    body = {"partnerId": partner.id, "email": email, "purpose": "newsletter", **extra}
    return web.post(f"{api}/api/consent/subscribe", json=body, headers=fresh_ip())


def outbox_for(partner: PartnerSetup, email: str) -> list[dict[str, Any]]:
    response = web.get(f"{partner.url}/consent/outbox", headers=partner.as_key)
    assert response.status_code == 200, response.text
    return [item for item in response.json()["items"] if item["email"] == email]


def confirm_token(partner: PartnerSetup, email: str) -> str:
    items = [i for i in outbox_for(partner, email) if i["kind"] == "confirm"]
    assert items, "no confirmation message in the outbox"
    return str(items[-1]["confirmToken"])


def subscribed(api: str, partner: PartnerSetup, email: str) -> None:
    assert subscribe(api, partner, email, name="Reader One", phone="+31 6 1234 5678").status_code == 202
    response = web.post(
        f"{api}/api/consent/confirm", json={"token": confirm_token(partner, email)}, headers=fresh_ip()
    )
    assert response.status_code == 200, response.text


def unsubscribe_token(partner: PartnerSetup, email: str) -> str:
    items = web.get(f"{partner.url}/consent/contacts", headers=partner.as_key).json()["items"]
    return str(next(i["unsubscribeToken"] for i in items if i["email"] == email))


def contact_rows(router: StorageRouter, partner: PartnerSetup) -> list[Any]:
    return list(router.region("eu").table(CONTACTS).query_entities(f"PartitionKey eq '{partner.id}'"))


def ledger_rows(router: StorageRouter, partner: PartnerSetup) -> list[Any]:
    return list(router.region("eu").table(LEDGER).query_entities(f"PartitionKey eq '{partner.id}'"))


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status and problem["type"].startswith("https://")
    return problem


@pytest.fixture(scope="module")
def partner(api: str) -> PartnerSetup:
    return make_partner(api, "eu")


def test_subscribe_confirm_puts_a_grant_in_the_ledger(api: str, partner: PartnerSetup) -> None:
    email = address()
    assert subscribe(api, partner, email, name="Reader One").status_code == 202
    ledger_url = f"{partner.url}/consent/ledger"
    before = web.get(ledger_url, params={"email": email}, headers=partner.as_key).json()["items"]
    assert before == []  # asking is not consenting

    confirmed = web.post(
        f"{api}/api/consent/confirm", json={"token": confirm_token(partner, email)}, headers=fresh_ip()
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["state"] == "granted" and confirmed.json()["purpose"] == "newsletter"

    entries = web.get(ledger_url, params={"email": email.upper()}, headers=partner.as_key).json()["items"]
    assert [(e["action"], e["purpose"], e["method"]) for e in entries] == [
        ("granted", "newsletter", "doubleOptIn")
    ]
    assert entries[0]["requestedAt"] <= entries[0]["at"]
    assert email not in web.get(ledger_url, headers=partner.as_key).text  # only a keyed hash
    contacts = web.get(f"{partner.url}/consent/contacts", headers=partner.as_key).json()["items"]
    assert [(c["email"], c["name"], c["state"]) for c in contacts if c["email"] == email] == [
        (email, "Reader One", "granted")
    ]
    # The mailer acknowledges what it sent: the outbox empties.
    for item in outbox_for(partner, email):
        url = f"{partner.url}/consent/outbox/{item['id']}"
        assert web.delete(url, headers=partner.as_key).status_code == 204
    assert outbox_for(partner, email) == []


def test_one_click_unsubscribe_deletes_the_contact_at_once_and_keeps_a_revocation(
    api: str, partner: PartnerSetup, router: StorageRouter
) -> None:
    email = address()
    subscribed(api, partner, email)
    assert [r["email"] for r in contact_rows(router, partner) if r["email"] == email] == [email]
    token = unsubscribe_token(partner, email)

    # What a mail client does with List-Unsubscribe-Post: List-Unsubscribe=One-Click (RFC 8058).
    response = web.post(
        f"{api}/api/consent/unsubscribe",
        params={"token": token},
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded", **fresh_ip()},
    )
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "withdrawn"

    assert [r for r in contact_rows(router, partner) if r.get("email") == email] == []
    stored = ledger_rows(router, partner)
    assert all(email not in str(dict(row)) for row in stored)
    mine = [r for r in stored if r["subjectKey"] == keys().subject_key(partner.id, email)]
    assert sorted(r["action"] for r in mine) == ["granted", "withdrawn"]
    withdrawn = next(r for r in mine if r["action"] == "withdrawn")
    assert withdrawn["method"] == "unsubscribeLink"
    at = datetime.fromisoformat(withdrawn["at"].replace("Z", "+00:00"))
    purge = datetime.fromisoformat(withdrawn["purgeAt"].replace("Z", "+00:00"))
    assert timedelta(days=3 * 365) <= purge - at <= timedelta(days=3 * 366)
    assert all(r["purgeAt"] == withdrawn["purgeAt"] for r in mine)

    # The same link again (or as JSON) answers the same; nothing is left to delete.
    again = web.post(f"{api}/api/consent/unsubscribe", json={"token": token}, headers=fresh_ip())
    assert again.status_code == 200 and again.json()["state"] == "withdrawn"
    ledger = web.get(f"{partner.url}/consent/ledger", params={"email": email}, headers=partner.as_key)
    assert [e["action"] for e in ledger.json()["items"]] == ["granted", "withdrawn"]


def keys() -> ConsentKeys:
    return ConsentKeys(STACK_ENV["CONSENT_TOKEN_KEYS"], STACK_ENV["API_KEY_PEPPER"])


def test_known_and_unknown_addresses_get_the_same_answer(api: str, partner: PartnerSetup) -> None:
    known = address()
    subscribed(api, partner, known)
    pending = address()
    assert subscribe(api, partner, pending).status_code == 202

    answers = [subscribe(api, partner, email) for email in (known, pending, address())]
    assert {a.status_code for a in answers} == {202}
    assert len({a.content for a in answers}) == 1
    assert len({a.headers["content-type"] for a in answers}) == 1
    assert all(set(a.headers) == set(answers[0].headers) for a in answers)
    # The owner of the known address is told by mail instead (alreadySubscribed, with an unsubscribe link).
    kinds = [i["kind"] for i in outbox_for(partner, known)]
    assert kinds[-1] == "alreadySubscribed"


def test_forged_expired_and_reused_tokens_are_refused(api: str, partner: PartnerSetup) -> None:
    email = address()
    assert subscribe(api, partner, email).status_code == 202
    token = confirm_token(partner, email)
    payload = keys()._serializer(ConsentKeys.CONFIRM).loads(token)

    forged = ConsentKeys("a-key-we-never-issued-with", "pepper").sign(
        ConsentKeys.CONFIRM, payload, datetime.now(UTC) + timedelta(hours=1)
    )
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    unsubscribe_as_confirm = keys().sign(
        ConsentKeys.UNSUBSCRIBE, payload, datetime.now(UTC) + timedelta(hours=1)
    )
    for bad in (forged, tampered, unsubscribe_as_confirm, "not-a-token-at-all"):
        response = web.post(f"{api}/api/consent/confirm", json={"token": bad}, headers=fresh_ip())
        assert assert_problem(response, 400)["type"].endswith("/consent-token-invalid")

    expired = keys().sign(ConsentKeys.CONFIRM, payload, datetime.now(UTC) - timedelta(seconds=1))
    response = web.post(f"{api}/api/consent/confirm", json={"token": expired}, headers=fresh_ip())
    assert assert_problem(response, 410)["type"].endswith("/consent-token-expired")

    assert (
        web.post(f"{api}/api/consent/confirm", json={"token": token}, headers=fresh_ip()).status_code == 200
    )
    reused = web.post(f"{api}/api/consent/confirm", json={"token": token}, headers=fresh_ip())
    assert assert_problem(reused, 409)["type"].endswith("/consent-token-used")

    # A newer request replaces the older link.
    other = address()
    subscribe(api, partner, other)
    first = confirm_token(partner, other)
    subscribe(api, partner, other)
    replaced = web.post(f"{api}/api/consent/confirm", json={"token": first}, headers=fresh_ip())
    assert_problem(replaced, 409)

    for bad in (forged, "x" * 20):
        response = web.post(f"{api}/api/consent/unsubscribe", params={"token": bad}, headers=fresh_ip())
        assert_problem(response, 400)
    assert_problem(web.post(f"{api}/api/consent/unsubscribe", headers=fresh_ip()), 422)
    assert_problem(web.post(f"{api}/api/consent/confirm", content=b"{", headers=fresh_ip()), 400)


def test_malformed_subscriptions_are_refused_by_field(api: str, partner: PartnerSetup) -> None:
    url = f"{api}/api/consent/subscribe"
    bad = {"partnerId": partner.id, "email": "not-an-address", "purpose": "Newsletter!"}
    problem = assert_problem(web.post(url, json=bad, headers=fresh_ip()), 422)
    assert {e["field"] for e in problem["errors"]} == {"email", "purpose"}


def test_an_unknown_partner_gets_the_answer_a_known_one_gets(api: str, partner: PartnerSetup) -> None:
    """Nothing on this public form tells which partner ids exist."""
    url = f"{api}/api/consent/subscribe"
    unknown = {"partnerId": "01ZZZZZZZZZZZZZZZZZZZZZZZZ", "email": address(), "purpose": "newsletter"}
    answers = [web.post(url, json=unknown, headers=fresh_ip()), subscribe(api, partner, address())]
    assert [a.status_code for a in answers] == [202, 202]
    assert answers[0].content == answers[1].content
    assert set(answers[0].headers) == set(answers[1].headers)


def test_rate_limits_answer_429_with_retry_after(api: str, partner: PartnerSetup) -> None:
    url = f"{api}/api/consent/subscribe"
    # Per address: the sixth request in a day is refused, from whatever network it comes.
    email = address()
    statuses = [subscribe(api, partner, email).status_code for _ in range(5)]
    assert statuses == [202] * 5
    refused = subscribe(api, partner, email)
    assert_problem(refused, 429)
    assert 0 < int(refused.headers["Retry-After"]) <= 86400

    # Per network (/24): the 21st request in an hour is refused, whichever addresses it names.
    network = {"x-forwarded-for": "198.18.7.1"}
    for n in range(20):
        body = {"partnerId": partner.id, "email": address(), "purpose": "newsletter"}
        headers = {"x-forwarded-for": f"198.18.7.{n + 1}"}
        assert web.post(url, json=body, headers=headers).status_code == 202
    body = {"partnerId": partner.id, "email": address(), "purpose": "newsletter"}
    refused = web.post(url, json=body, headers=network)
    assert_problem(refused, 429)
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    # A spoofed first x-forwarded-for entry does not dodge it: the platform's last one counts.
    spoofed = web.post(url, json=body, headers={"x-forwarded-for": "192.0.2.1, 198.18.7.200"})
    assert_problem(spoofed, 429)

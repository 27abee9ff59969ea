"""Consent tokens, addresses and the signing key never reach a log line, even at DEBUG.

Same method as test_clean_logs.py: a local host of its own at DEBUG, its output captured to a
file, a scenario that uses every consent token, then a search of the capture.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from localdev.stack import local_host
from tests.e2e.actors import make_partner
from tests.web import web


def test_consent_tokens_and_addresses_are_never_logged(stack_env: dict[str, str]) -> None:
    marker = uuid.uuid4().hex
    email = f"reader-{marker}@fabrikam.example"
    phone = f"+31 6 {int(marker[:8], 16) % 10**8:08d}"
    client = {"x-forwarded-for": "198.51.100.23"}
    env = {**stack_env, "TENANTRY_LOG_LEVEL": "DEBUG"}
    with tempfile.TemporaryDirectory() as folder:
        log_path = Path(folder) / "host.log"
        with log_path.open("wb") as output, local_host(env, output=output) as api:
            partner = make_partner(api, "eu")
            body = {"partnerId": partner.id, "email": email, "name": f"N {marker}", "phone": phone}
            subscribed = web.post(
                f"{api}/api/consent/subscribe", json={**body, "purpose": "newsletter"}, headers=client
            )
            assert subscribed.status_code == 202
            outbox = web.get(f"{partner.url}/consent/outbox", headers=partner.as_key).json()["items"]
            confirm_token = outbox[0]["confirmToken"]
            confirmed = web.post(f"{api}/api/consent/confirm", json={"token": confirm_token}, headers=client)
            assert confirmed.status_code == 200
            contacts = web.get(f"{partner.url}/consent/contacts", headers=partner.as_key).json()["items"]
            unsubscribe_token = contacts[0]["unsubscribeToken"]
            one_click = web.post(
                f"{api}/api/consent/unsubscribe?token={unsubscribe_token}",
                content=b"List-Unsubscribe=One-Click",
                headers={"content-type": "application/x-www-form-urlencoded", **client},
            )
            assert one_click.status_code == 200
            # A refused token is not logged either.
            refused = web.post(
                f"{api}/api/consent/confirm", json={"token": confirm_token + "x"}, headers=client
            )
            assert refused.status_code == 400
        captured = log_path.read_text(errors="replace")

    assert "/api/consent/unsubscribe?token=[redacted]" in captured  # logged, and cleaned
    secrets = {
        "confirm token": confirm_token,
        "confirm token signature": confirm_token.rsplit(".", 1)[1],
        "unsubscribe token": unsubscribe_token,
        "unsubscribe token signature": unsubscribe_token.rsplit(".", 1)[1],
        "email": email,
        "phone": phone,
        "consent signing key": stack_env["CONSENT_TOKEN_KEYS"],
        "full client IP": client["x-forwarded-for"],
    }
    leaked = [name for name, value in secrets.items() if value in captured]
    assert leaked == [], f"found in the DEBUG log: {leaked}"

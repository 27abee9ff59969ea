"""No body, token, secret, API key or full IP address reaches a log line, even at DEBUG.

The app runs on its own local host with every logger at DEBUG (the Azure SDK's and urllib3's
included, and the host's own request dump), its stdout and stderr captured to a file; the
scenario uses secrets and bodies with unique markers, then searches the whole capture for them.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

import httpx

from localdev.stack import local_host
from tests.e2e.actors import OPERATOR, PartnerSetup, partner_body


def test_a_debug_log_of_a_full_scenario_holds_no_secret_and_no_body(stack_env: dict[str, str]) -> None:
    marker = uuid.uuid4().hex
    client_ip = "198.51.100.77"
    contact_email = f"contact-{marker}@fabrikam.example"
    body_text = f"Case CAS-{marker} was assigned to you"
    webhook_code = f"whk{marker}"
    env = {**stack_env, "TENANTRY_LOG_LEVEL": "DEBUG"}
    with tempfile.TemporaryDirectory() as folder:
        log_path = Path(folder) / "host.log"
        with log_path.open("wb") as output, local_host(env, output=output) as api:
            headers = {**OPERATOR, "x-forwarded-for": client_ip}
            body = partner_body(contact={"name": f"Name {marker}", "email": contact_email})
            created = httpx.post(f"{api}/api/partners", json=body, headers=headers)
            assert created.status_code == 201, created.text
            partner_id = created.json()["id"]
            key = httpx.post(
                f"{api}/api/partners/{partner_id}/api-keys",
                headers=headers,
                json={"name": "psa", "scopes": ["read", "privacy"]},
            ).json()
            partner = PartnerSetup(
                api, partner_id, body["entraTenantId"], body["owner"]["objectId"], "", key["key"], key["id"]
            )
            token = partner.token()
            for credentials in (partner.as_key, {"authorization": f"Bearer {token}"}):
                response = httpx.get(partner.url, headers={**credentials, "x-forwarded-for": client_ip})
                assert response.status_code == 200
            # A Dataverse-like webhook call: its key rides in the query string, the body is content.
            httpx.post(
                f"{api}/api/dynamics/{uuid.uuid4()}/webhook?code={webhook_code}",
                json={"MessageName": "Update", "title": body_text, "body": body_text},
                headers={"x-forwarded-for": client_ip},
            )
            # An export-like blob link is not logged either (SAS signature).
            httpx.get(partner.url, headers={"x-api-key": f"{key['key']}x"})
            httpx.get(f"{api}/api/privacy/processing-activities?sig=sig{marker}")
        captured = log_path.read_text(errors="replace")

    # The capture is real: DEBUG lines of the requests are there, cleaned.
    assert "request POST /api/partners" in captured
    assert "198.51.100.0" in captured and "[redacted]" in captured
    secrets = {
        "operator key": OPERATOR["x-api-key"],
        "API key": key["key"],
        # tk_<partner>_<key>_<secret>: the secret itself may contain "_", so split from the left.
        "API key secret part": key["key"].split("_", 3)[3],
        "bearer token": token,
        "token signature": token.rsplit(".", 1)[1],
        "webhook key": webhook_code,
        "SAS signature": f"sig{marker}",
        "notification body": body_text,
        "contact email": contact_email,
        "full client IP": client_ip,
        "pepper": stack_env["API_KEY_PEPPER"],
        "storage account key": stack_env["TENANTRY_STORAGE_EU"].split("AccountKey=")[1].split(";")[0],
    }
    leaked = [name for name, value in secrets.items() if value in captured]
    assert leaked == [], f"found in the DEBUG log: {leaked}"

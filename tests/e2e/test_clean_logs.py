"""No body, token, secret, API key or full IP address reaches a log line, even at DEBUG.

The app runs on its own local host with every logger at DEBUG (the Azure SDK's and urllib3's
included, and the host's own request dump), its stdout and stderr captured to a file; the
scenario uses secrets and bodies with unique markers, then searches the whole capture for them.
It ends with a data-subject export (file, verify, approve, execute, fetch the signed link): the
subject's identifiers, the link's signature and the package's contents must not be logged either.
"""

from __future__ import annotations

import random
import tempfile
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from localdev.graph_standin import StandinControl
from localdev.proving import grant_gdap
from localdev.stack import local_host, wait_until
from tests.e2e.actors import OPERATOR, PartnerSetup, partner_body
from tests.e2e.dataverse import org_body
from tests.stack import GRAPH
from tests.web import web


def a_subject_in_a_synced_tenant(partner: PartnerSetup, marker: str) -> tuple[str, dict[str, Any]]:
    """A customer tenant (Graph stand-in), synced, with one end user whose identifiers are unique."""
    control = StandinControl(GRAPH.base_url, GRAPH.certificates.ca)
    tenant_id = str(uuid.uuid4())
    control.put_tenant(tenant_id, 5)
    grant_gdap(control, partner.entra_tenant_id, tenant_id)
    overrides = {
        "userPrincipalName": f"upn-{marker}@fabrikam.example",
        "mail": f"mail-{marker}@fabrikam.example",
        "displayName": f"Subject {marker}",
        "jobTitle": f"Title {marker}",
    }
    subject = control.mutate(tenant_id, add=[overrides])["added"][0]
    control.close()
    added = web.post(
        f"{partner.url}/tenants", headers=partner.as_key, json={"tenantId": tenant_id, "displayName": "F"}
    )
    assert added.status_code == 201, added.text

    def synced() -> bool:
        tenant = web.get(f"{partner.url}/tenants/{tenant_id}", headers=partner.as_key).json()
        return bool(tenant.get("lastSync") and tenant["lastSync"]["state"] == "succeeded")

    wait_until(synced, timeout=60, what="the tenant's first sync")
    return tenant_id, subject


def connect_by_sign_in(partner: PartnerSetup) -> dict[str, str]:
    """The partner's own tenant connected through its administrator's sign-in; the callback's query."""
    control = StandinControl(GRAPH.base_url, GRAPH.certificates.ca)
    control.put_tenant(partner.entra_tenant_id, 3, consented=False)
    link = web.post(f"{partner.url}/entra-connection", headers=partner.bearer())
    assert link.status_code == 200, link.text
    admin = control.admin_of(partner.entra_tenant_id)
    location = control.authorize(link.json()["url"], admin["userPrincipalName"])
    control.close()
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    answer = web.get(f"{partner.api}/api/admin-consent/callback", params=query)
    assert answer.status_code == 200, answer.text
    return query


def a_system_user(partner: PartnerSetup, marker: str) -> tuple[str, dict[str, Any]]:
    """A Dynamics organisation with one system user found by phone."""
    org_id = str(uuid.uuid4())
    registered = web.post(f"{partner.url}/orgs", json=org_body(org_id), headers=partner.as_key)
    assert registered.status_code == 201, registered.text
    digits = "".join(random.choices("0123456789", k=7))  # noqa: S311 - a marker, not a secret
    user = {
        "systemUserId": str(uuid.uuid4()),
        "fullName": f"System {marker}",
        "email": f"sys-{marker}@contoso.example",
        "mobilePhone": f"+44 20 {digits}",
    }
    upserted = web.put(f"{partner.url}/orgs/{org_id}/users", json={"items": [user]}, headers=partner.as_key)
    assert upserted.status_code == 200, upserted.text
    return org_id, user


def export_through_a_request(partner: PartnerSetup, scope: dict[str, str], who: dict[str, str]) -> str:
    """An access request for the subject, driven to its end; the export's signed link."""
    created = web.post(
        f"{partner.url}/privacy/requests",
        headers=partner.as_key,
        json={"type": "access", "subject": who, **scope},
    )
    assert created.status_code == 201, created.text
    url = f"{partner.url}/privacy/requests/{created.json()['id']}"
    note = {"method": "controllerConfirmed", "note": "Confirmed by the controller"}
    assert web.post(f"{url}/verify", headers=partner.as_key, json=note).status_code == 200
    assert web.post(f"{url}/approve", headers=partner.as_key).status_code == 200
    assert web.post(f"{url}/execute", headers=partner.as_key).status_code == 202

    def completed() -> bool:
        state = web.get(url, headers=partner.as_key).json()["state"]
        assert state != "failed"
        return state == "completed"

    wait_until(completed, timeout=60, what="the access request's job")
    link = web.get(f"{url}/export", headers=partner.as_key)
    assert link.status_code == 200, link.text
    return str(link.json()["url"])


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
            created = web.post(f"{api}/api/partners", json=body, headers=headers)
            assert created.status_code == 201, created.text
            partner_id = created.json()["id"]
            key = web.post(
                f"{api}/api/partners/{partner_id}/api-keys",
                headers=headers,
                json={"name": "psa", "scopes": ["read", "write", "privacy"]},
            ).json()
            partner = PartnerSetup(
                api, partner_id, body["entraTenantId"], body["owner"]["objectId"], "", key["key"], key["id"]
            )
            token = partner.token()
            # The owner connects the partner's Entra tenant: the sign-in's code and state pass
            # through the callback's query string, and must not reach a log line.
            sign_in = connect_by_sign_in(partner)
            for credentials in (partner.as_key, {"authorization": f"Bearer {token}"}):
                response = web.get(partner.url, headers={**credentials, "x-forwarded-for": client_ip})
                assert response.status_code == 200
            # A Dataverse-like webhook call: its key rides in the query string, the body is content.
            web.post(
                f"{api}/api/dynamics/{uuid.uuid4()}/webhook?code={webhook_code}",
                json={"MessageName": "Update", "title": body_text, "body": body_text},
                headers={"x-forwarded-for": client_ip},
            )
            # An export-like blob link is not logged either (SAS signature).
            web.get(partner.url, headers={"x-api-key": f"{key['key']}x"})
            web.get(f"{api}/api/privacy/processing-activities?sig=sig{marker}")
            # Data-subject exports, end to end: an end user by UPN, a system user by phone.
            tenant_id, subject = a_subject_in_a_synced_tenant(partner, marker)
            email = subject["userPrincipalName"].upper()
            links = [export_through_a_request(partner, {"tenantId": tenant_id}, {"email": email})]
            org_id, system_user = a_system_user(partner, marker)
            phone = system_user["mobilePhone"]
            links.append(export_through_a_request(partner, {"orgId": org_id}, {"phone": phone}))
            packages = [web.get(link) for link in links]
            assert [p.status_code for p in packages] == [200, 200]
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
        "sign-in code": sign_in["code"],
        "sign-in state": sign_in["state"],
        "SAS signature": f"sig{marker}",
        "notification body": body_text,
        "contact email": contact_email,
        "full client IP": client_ip,
        "pepper": stack_env["API_KEY_PEPPER"],
        "storage account key": stack_env["TENANTRY_STORAGE_EU"].split("AccountKey=")[1].split(";")[0],
    }
    # The subjects and their exports: identifiers, the links' signatures, what the packages hold.
    user = packages[0].json()["categories"]["tenantUser"][0]
    org_user = packages[1].json()["categories"]["orgUser"][0]
    assert user["id"] == subject["id"] and org_user["mobilePhone"] == phone
    held = {
        f"package {name}": str(value)
        for record in (user, org_user)
        for name, value in record.items()
        if marker in str(value)
    }
    assert len(held) == 6  # UPN, mail, display name, job title; full name, email
    secrets |= held | {
        "subject UPN": subject["userPrincipalName"],
        "subject email": subject["mail"],
        "subject object id": subject["id"],
        "system user id": system_user["systemUserId"],
        "subject phone": phone,
        "subject phone digits": "".join(c for c in phone if c.isdigit()),
        "subject phone local part": phone.rsplit(" ", 1)[1],
        **{f"export link {n}": link.split("?")[0] for n, link in enumerate(links)},
        **{f"export SAS signature {n}": httpx.URL(link).params["sig"] for n, link in enumerate(links)},
        **{f"export package {n}": package.text[:64] for n, package in enumerate(packages)},
    }
    leaked = [name for name, value in secrets.items() if value in captured]
    lines = [line for line in captured.splitlines() for name in leaked if secrets[name] in line]
    assert leaked == [], f"found in the DEBUG log: {leaked}; first lines: {lines[:8]}"

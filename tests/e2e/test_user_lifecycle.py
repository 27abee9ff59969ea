"""An end user's password reset and session revocation through the running app, at DEBUG.

The one-time password is answered once: the test searches the host's whole DEBUG capture and every
table row and blob written meanwhile for it.
"""

from __future__ import annotations

import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from localdev.graph_standin import StandinControl
from localdev.proving import grant_gdap
from localdev.stack import local_host, wait_until
from shared.storage.router import StorageRouter
from tests.e2e.actors import OPERATOR, PartnerSetup, connect_partner, partner_body
from tests.stack import GRAPH


def test_a_password_reset_is_answered_once_and_kept_nowhere(
    stack_env: dict[str, str], router: StorageRouter
) -> None:
    started = datetime.now(UTC) - timedelta(seconds=5)
    env = {**stack_env, "TENANTRY_LOG_LEVEL": "DEBUG"}
    control = StandinControl(GRAPH.base_url, GRAPH.certificates.ca)
    http = httpx.Client(timeout=60)
    with tempfile.TemporaryDirectory() as folder:
        log_path = Path(folder) / "host.log"
        with log_path.open("wb") as output, local_host(env, output=output) as api:
            body = partner_body()
            partner_id = http.post(f"{api}/api/partners", json=body, headers=OPERATOR).json()["id"]
            key = http.post(
                f"{api}/api/partners/{partner_id}/api-keys",
                headers=OPERATOR,
                json={"name": "psa", "scopes": ["read", "write"]},
            ).json()
            partner = PartnerSetup(
                api, partner_id, body["entraTenantId"], body["owner"]["objectId"], "", key["key"], key["id"]
            )
            connect_partner(partner, control)
            tenant_id = str(uuid.uuid4())
            control.put_tenant(tenant_id, 8)
            grant_gdap(control, partner.entra_tenant_id, tenant_id)
            added = http.post(
                f"{partner.url}/tenants",
                headers=partner.as_key,
                json={"tenantId": tenant_id, "displayName": "F"},
            )
            assert added.status_code == 201, added.text

            def synced() -> bool:
                tenant = http.get(f"{partner.url}/tenants/{tenant_id}", headers=partner.as_key).json()
                return bool(tenant.get("lastSync") and tenant["lastSync"]["state"] == "succeeded")

            wait_until(synced, timeout=90, what="the tenant's first sync")
            registered = http.get(
                f"{partner.url}/tenants/{tenant_id}/reports/mfaRegistration",
                headers=partner.as_key,
                params={"status": "registered", "top": 1},
            ).json()
            user_id = registered["items"][0]["userId"]
            control.clear_requests()

            reset = http.post(
                f"{partner.url}/tenants/{tenant_id}/users/{user_id}/reset-password", headers=partner.as_key
            )
            assert reset.status_code == 200, reset.text
            password = reset.json()["temporaryPassword"]
            assert len(password) >= 16 and reset.json()["forceChangePasswordNextSignIn"] is True
            again = http.post(
                f"{partner.url}/tenants/{tenant_id}/users/{user_id}/reset-password", headers=partner.as_key
            )
            assert again.json()["temporaryPassword"] != password  # one time: a new one each reset
            revoked = http.post(
                f"{partner.url}/tenants/{tenant_id}/users/{user_id}/revoke-sessions", headers=partner.as_key
            )
            assert revoked.status_code == 200 and revoked.json()["userId"] == user_id
            # MFA reset: every method but the password goes; again, nothing is left to remove.
            mfa = http.post(
                f"{partner.url}/tenants/{tenant_id}/users/{user_id}/reset-mfa", headers=partner.as_key
            )
            assert mfa.status_code == 200, mfa.text
            removed = {m["type"] for m in mfa.json()["removed"]}
            assert removed and "#microsoft.graph.passwordAuthenticationMethod" not in removed
            twice = http.post(
                f"{partner.url}/tenants/{tenant_id}/users/{user_id}/reset-mfa", headers=partner.as_key
            )
            assert twice.status_code == 200 and twice.json()["removed"] == []
            # Graph saw the writes (the stand-in accepted the password's complexity).
            served = [(r["method"], r["path"], r["status"]) for r in control.requests(tenant_id)]
            assert ("PATCH", f"users/{user_id}", 204) in served
            assert ("POST", f"users/{user_id}/revokeSignInSessions", 200) in served
            events = http.get(f"{partner.url}/events?top=100", headers=partner.as_key).json()["items"]
            actions = [e["action"] for e in events if e["target"].get("id") == user_id]
            assert (
                actions.count("tenant.user.passwordReset") == 2 and "tenant.user.sessionsRevoked" in actions
            )
            assert actions.count("tenant.user.mfaReset") == 2
            # The next sync's MFA report shows the user with nothing registered.
            sync = http.post(f"{partner.url}/tenants/{tenant_id}/sync", headers=partner.as_key)
            assert sync.status_code == 202, sync.text

            def reported() -> dict[str, Any] | None:
                rows = http.get(
                    f"{partner.url}/tenants/{tenant_id}/reports/mfaRegistration", headers=partner.as_key
                ).json()["items"]
                row: dict[str, Any] = next(r for r in rows if r["userId"] == user_id)
                return row if row["status"] == "notRegistered" else None

            row = wait_until(reported, timeout=90, what="the MFA report after the reset")
            assert row["details"]["methodsRegistered"] == []
            # A scoped caller outside the tenant and a read-only key are refused.
            reader = http.post(
                f"{partner.url}/api-keys", headers=OPERATOR, json={"name": "ro", "scopes": ["read"]}
            ).json()
            refused = http.post(
                f"{partner.url}/tenants/{tenant_id}/users/{user_id}/reset-password",
                headers={"x-api-key": reader["key"]},
            )
            assert refused.status_code == 403
        captured = log_path.read_text(errors="replace")
    control.close()

    assert f"/users/{user_id}/reset-password" in captured  # the capture is real
    secrets = {password, again.json()["temporaryPassword"]}
    assert not [s for s in secrets if s in captured]
    # No table row and no blob written meanwhile holds it.
    since = started.strftime("%Y-%m-%dT%H:%M:%SZ")
    for account in (router.region("eu"), router.control):
        service = account.table_service()
        for table in service.list_tables():
            client = service.get_table_client(table.name)
            for row in client.query_entities(f"Timestamp ge datetime'{since}'"):
                text = str(dict(row))
                assert not [s for s in secrets if s in text], table.name
        blobs = account.blob_service() if hasattr(account, "blob_service") else None
        if blobs is None:
            continue
        for container in blobs.list_containers():
            client = blobs.get_container_client(container.name)
            for blob in client.list_blobs():
                if blob.last_modified and blob.last_modified >= started:
                    content = client.download_blob(blob.name).readall().decode(errors="replace")
                    assert not [s for s in secrets if s in content], (container.name, blob.name)

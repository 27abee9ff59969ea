"""A user created from the tenant's template and a leaver offboarded, through the running app at DEBUG.

The new user's one-time password is answered once: the test searches the host's whole DEBUG
capture and every table row written meanwhile for it. The offboarding runs on the host's own
queue trigger; the test polls its status resource as a partner's portal would.
"""

from __future__ import annotations

import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from localdev.graph_standin import StandinControl
from localdev.stack import local_host, wait_until
from shared.storage.router import StorageRouter
from tests.e2e.actors import OPERATOR, add_proven_tenant, make_partner
from tests.stack import GRAPH


def _synced(http: httpx.Client, url: str, headers: dict[str, str], tenant_id: str) -> None:
    def done() -> bool:
        tenant = http.get(f"{url}/tenants/{tenant_id}", headers=headers).json()
        return bool(tenant.get("lastSync") and tenant["lastSync"]["state"] == "succeeded")

    wait_until(done, timeout=90, what="the tenant's first sync")


def _leaver(control: StandinControl, tenant_id: str, user_ids: list[str]) -> str:
    """A user offboarding has work with: a mailbox, groups and a directory role."""
    for user_id in user_ids:
        state = control.user_state(tenant_id, user_id)
        if state["hasMailbox"] and state["groups"] and state["roleAssignments"]:
            return user_id
    raise AssertionError("the generated tenant has no licensed role holder in a group")


def test_create_from_template_then_offboard_through_the_host(
    stack_env: dict[str, str], router: StorageRouter
) -> None:
    started = datetime.now(UTC) - timedelta(seconds=5)
    env = {**stack_env, "TENANTRY_LOG_LEVEL": "DEBUG"}
    control = StandinControl(GRAPH.base_url, GRAPH.certificates.ca)
    http = httpx.Client(timeout=60)
    with tempfile.TemporaryDirectory() as folder:
        log_path = Path(folder) / "host.log"
        with log_path.open("wb") as output, local_host(env, output=output) as api:
            partner = make_partner(api, approve_push=False)
            key = partner.as_key
            tenant_id = add_proven_tenant(partner, control, users=40)
            other_tenant = add_proven_tenant(partner, control, users=5, display_name="Other")
            _synced(http, partner.url, key, tenant_id)
            tenant = f"{partner.url}/tenants/{tenant_id}"

            # --- the template and a user created from it ---------------------------------
            config = http.get(f"{tenant}/configuration", headers=key).json()["configuration"]
            sku = next(s for s in config["subscribedSkus"] if s["skuPartNumber"] != "AAD_PREMIUM")
            groups = [g["id"] for g in http.get(f"{tenant}/groups", headers=key).json()["items"][:2]]
            missing = http.get(f"{tenant}/user-template", headers=key)
            assert missing.status_code == 404, missing.text
            bad = http.put(f"{tenant}/user-template", headers=key, json={"groups": [str(uuid.uuid4())]})
            assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "groups[0]", bad.text
            template = {"licences": [{"skuId": sku["skuId"]}], "groups": groups, "usageLocation": "NL"}
            put = http.put(f"{tenant}/user-template", headers=key, json=template)
            assert put.status_code == 200, put.text
            assert http.get(f"{tenant}/user-template", headers=key).json()["groups"] == sorted(groups)

            domain = next(d["id"] for d in config["domains"] if d["isDefault"])
            upn = f"new.starter@{domain}"
            created = http.post(
                f"{tenant}/users",
                headers=key,
                json={"displayName": "New Starter", "userPrincipalName": upn, "givenName": "New"},
            )
            assert created.status_code == 201, created.text
            body = created.json()
            password = body["temporaryPassword"]
            assert len(password) >= 16 and body["forceChangePasswordNextSignIn"] is True
            newcomer = body["user"]["id"]
            assert (
                created.headers["location"]
                == f"/api/partners/{partner.id}/tenants/{tenant_id}/users/{newcomer}"
            )
            state = control.user_state(tenant_id, newcomer)
            assert [lic["skuId"] for lic in state["user"]["assignedLicenses"]] == [sku["skuId"]]
            assert sorted(state["groups"]) == sorted(groups)
            assert state["user"]["userPrincipalName"] == upn and state["user"]["usageLocation"] == "NL"
            stored = http.get(f"{tenant}/users/{newcomer}", headers=key).json()
            assert [lic["skuId"] for lic in stored["assignedLicenses"]] == [sku["skuId"]]
            # The same UPN again: Graph refuses (a conflict), a problem, no second user.
            again = http.post(
                f"{tenant}/users", headers=key, json={"displayName": "Twin", "userPrincipalName": upn}
            )
            assert again.status_code == 409 and again.headers["content-type"].startswith(
                "application/problem+json"
            ), again.text

            # --- offboarding a leaver ----------------------------------------------------
            users = http.get(f"{tenant}/users", headers=key, params={"top": 100}).json()["items"]
            leaver = _leaver(control, tenant_id, [u["id"] for u in users if u["id"] != newcomer])
            before = control.user_state(tenant_id, leaver)
            # A caller scoped to another tenant finds neither the user nor the operation.
            scoped = http.post(
                f"{partner.url}/api-keys",
                headers=OPERATOR,
                json={
                    "name": "other",
                    "scopes": ["read", "write"],
                    "tenantScope": {"tenantIds": [other_tenant]},
                },
            ).json()
            refused = http.post(
                f"{tenant}/users/{leaver}/offboarding", headers={"x-api-key": scoped["key"]}, json={}
            )
            assert refused.status_code == 404, refused.text
            # The operator's break-glass key does not reach end users' data.
            operator = http.post(f"{tenant}/users/{leaver}/offboarding", headers=OPERATOR, json={})
            assert operator.status_code == 403, operator.text
            reader = http.post(
                f"{partner.url}/api-keys", headers=OPERATOR, json={"name": "ro", "scopes": ["read"]}
            ).json()
            assert (
                http.post(
                    f"{tenant}/users/{leaver}/offboarding", headers={"x-api-key": reader["key"]}, json={}
                ).status_code
                == 403
            )
            assert (
                control.user_state(tenant_id, leaver)["user"]["accountEnabled"]
                == before["user"]["accountEnabled"]
            )
            malformed = http.post(
                f"{tenant}/users/{leaver}/offboarding", headers=key, json={"oneDriveTo": "someone"}
            )
            assert malformed.status_code in (400, 422), malformed.text

            accepted = http.post(
                f"{tenant}/users/{leaver}/offboarding",
                headers=key,
                json={"autoReply": {"internalMessage": "I have moved on."}, "oneDriveTo": newcomer},
            )
            assert accepted.status_code == 202, accepted.text
            location = accepted.headers["location"]
            operation = accepted.json()
            assert (
                location == f"/api/partners/{partner.id}/tenants/{tenant_id}/offboardings/{operation['id']}"
            )
            assert operation["state"] == "queued"
            assert http.get(api + location, headers={"x-api-key": scoped["key"]}).status_code == 404

            def finished() -> dict[str, Any] | None:
                status = http.get(api + location, headers=key).json()
                return status if status["state"] in ("succeeded", "failed") else None

            final = wait_until(finished, timeout=120, what="the offboarding to finish")
            assert final["state"] == "succeeded", final
            lines = {s["name"]: s for s in final["steps"]}
            assert [s["name"] for s in final["steps"]] == [
                "blockSignIn",
                "revokeSessions",
                "automaticReply",
                "oneDriveHandover",
                "hideFromAddressList",
                "convertMailbox",
                "removeGroups",
                "removeRoles",
                "removeLicences",
            ]
            assert {n: s["state"] for n, s in lines.items()} == {
                "blockSignIn": "done",
                "revokeSessions": "done",
                "automaticReply": "done",
                "oneDriveHandover": "done",
                "hideFromAddressList": "manual",
                "convertMailbox": "manual",
                "removeGroups": "done",
                "removeRoles": "done",
                "removeLicences": "done",
            }
            assert lines["hideFromAddressList"]["instructions"]
            freed = sorted(f["skuId"] for f in lines["removeLicences"]["freedLicences"])
            assert freed == sorted(lic["skuId"] for lic in before["user"]["assignedLicenses"])
            after = control.user_state(tenant_id, leaver)
            assert after["user"]["accountEnabled"] is False
            assert after["groups"] == [] and after["roleAssignments"] == []
            assert after["user"]["assignedLicenses"] == []
            assert after["mailboxSettings"]["automaticRepliesSetting"]["status"] == "alwaysEnabled"
            assert (
                after["mailboxSettings"]["automaticRepliesSetting"]["externalReplyMessage"]
                == "I have moved on."
            )
            assert [p["grantedToV2"]["user"]["id"] for p in after["drivePermissions"]] == [newcomer]
            events = http.get(f"{partner.url}/events?top=200", headers=key).json()["items"]
            steps = [e["details"]["step"] for e in events if e["action"] == "tenant.user.offboardingStep"]
            assert sorted(steps) == sorted(lines)
        captured = log_path.read_text(errors="replace")
    control.close()

    assert f"/tenants/{tenant_id}/users" in captured  # the capture is real
    assert password not in captured
    since = started.strftime("%Y-%m-%dT%H:%M:%SZ")
    for account in (router.region("eu"), router.control):
        service = account.table_service()
        for table in service.list_tables():
            client = service.get_table_client(table.name)
            for row in client.query_entities(f"Timestamp ge datetime'{since}'"):
                assert password not in str(dict(row)), table.name

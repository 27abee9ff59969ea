"""The pepper rotated through the local host: v1 alone, v1 with v2, then v1 dropped (API_KEY_PEPPER empty).

Secrets and lookups made under version 1 keep working while both versions are configured and move
to version 2 as they are presented (or by the re-keying job); once the report counts nothing of the
partner's under version 1, a host without it still takes every secret, finds every row and signs
and reads the admin-consent sign-in state.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from functions import deps
from localdev.graph_standin import StandinControl
from localdev.proving import sign_in_through_api
from localdev.stack import local_host, wait_until
from shared.keys import key_id, pepper_ring, stored_key_id
from shared.notifications.devices import device_secret_dependencies, device_target_dependencies
from shared.notifications.orgs import org_key_dependencies
from shared.notifications.subjects import OrgSubjects
from shared.partners.access import api_key_dependencies
from shared.privacy.consent import consent_dependencies
from shared.privacy.subject_requests import TABLE as REQUESTS
from shared.privacy.subject_requests import request_dependencies, stored_subject_hash
from shared.privacy.subjects.index import index_key
from shared.privacy.subjects.reindex import IndexedRows, SubjectIndexRekey
from shared.storage.rekeying import RekeyJob
from shared.storage.router import StorageRouter
from shared.tenants.subjects import TenantSubjects
from tests.e2e.actors import OPERATOR, PartnerSetup, connect_partner, make_partner
from tests.e2e.dataverse import (
    add_user,
    context_for,
    device_call,
    object_id_of,
    post_webhook,
    register_org,
    user_token,
)
from tests.web import web

V1, V2 = key_id("pepper", 1), key_id("pepper", 2)
LATER = json.dumps({"2": "pepper-version-two-for-the-rotation-test"})


@contextmanager
def host(stack_env: dict[str, str], **changes: str) -> Iterator[str]:
    with local_host({**stack_env, **changes}) as api:
        yield api


def on(api: str, partner: PartnerSetup) -> PartnerSetup:
    """The same partner, called at another host."""
    return dataclasses.replace(partner, api=api)


def works(partner: PartnerSetup, key: str) -> bool:
    return web.get(partner.url, headers={"x-api-key": key}).status_code == 200


def register(api: str, org: dict[str, Any], user: str, token: str) -> dict[str, Any]:
    """The user's browser registers again (its token is issued for the host it calls)."""
    as_user = user_token(api, org["tenantId"], object_id_of(org, user))
    answer = device_call(api, org, {"systemUserId": user, "token": token}, as_user)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def file_request(partner: PartnerSetup, org_id: str, email: str, kind: str) -> dict[str, Any]:
    body = {"type": kind, "subject": {"email": email}, "orgId": org_id}
    answer = web.post(f"{partner.url}/privacy/requests", headers=partner.as_key, json=body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def carry_out(partner: PartnerSetup, request_id: str) -> None:
    """verify -> approve (the owner) -> execute -> completed."""
    url = f"{partner.url}/privacy/requests/{request_id}"
    note = {"method": "controllerConfirmed", "note": "Confirmed by the customer's DPO"}
    assert web.post(f"{url}/verify", headers=partner.as_key, json=note).status_code == 200
    assert web.post(f"{url}/approve", headers=partner.bearer()).status_code == 200
    assert web.post(f"{url}/execute", headers=partner.as_key).status_code == 202

    def finished() -> str | None:
        state = str(web.get(url, headers=partner.as_key).json()["state"])
        return state if state in ("completed", "failed") else None

    assert wait_until(finished, timeout=60, what="the data-subject request's job") == "completed"


def subscribe_and_confirm(api: str, partner: PartnerSetup, email: str) -> None:
    body = {"partnerId": partner.id, "email": email, "purpose": "newsletter"}
    asked = web.post(f"{api}/api/consent/subscribe", json=body, headers={"x-forwarded-for": "203.0.113.77"})
    assert asked.status_code == 202, asked.text
    outbox = web.get(f"{partner.url}/consent/outbox", headers=partner.as_key).json()["items"]
    token = next(
        i["confirmToken"] for i in reversed(outbox) if i["email"] == email and i["kind"] == "confirm"
    )
    confirmed = web.post(
        f"{api}/api/consent/confirm", json={"token": token}, headers={"x-forwarded-for": "203.0.113.78"}
    )
    assert confirmed.status_code == 200, confirmed.text


def ledger_of(partner: PartnerSetup, email: str) -> list[dict[str, Any]]:
    answer = web.get(f"{partner.url}/consent/ledger", params={"email": email}, headers=partner.as_key)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def empty_key_state(partner_id: str) -> str:
    """A sign-in state signed under a key derived from an empty pepper, as the v1-only code made it."""
    from itsdangerous import URLSafeTimedSerializer

    key = hmac.new(b"", b"tenantry/admin-consent-state/v1", hashlib.sha256).digest()
    signer = URLSafeTimedSerializer(key, salt="tenantry.admin-consent.state")
    return str(signer.dumps({"p": partner_id, "s": "01SIGNIN"}))


def request_rows(account: Any, partner_id: str) -> list[tuple[str, str, str]]:
    """Each request row and slot of the partner: key, state and the key id its hash is under."""
    from shared.storage import tables

    rows = account.table(REQUESTS).query_entities(tables.partition(partner_id))
    return [
        (
            str(row["RowKey"]),
            str(row.get("state") or row.get("requestId")),
            stored_key_id(stored_subject_hash(row)),
        )
        for row in rows
    ]


def pepper_counts(api: str) -> dict[str, int | None]:
    report = web.get(f"{api}/api/operator/key-versions", headers=OPERATOR, timeout=60)
    assert report.status_code == 200, report.text
    pepper = next(m for m in report.json()["items"] if m["name"] == "pepper")
    return {v["keyId"]: v["dependents"] for v in pepper["versions"]}


def test_pepper_version_one_is_dropped_after_re_keying(
    stack_env: dict[str, str], router: StorageRouter, control: StandinControl
) -> None:
    account = router.region("eu")
    user = str(uuid.uuid4())
    email = f"reader-{uuid.uuid4().hex[:10]}@fabrikam.example"  # a newsletter subscriber
    asked_about = f"former-{uuid.uuid4().hex[:10]}@fabrikam.example"  # the subject of requests

    # Phase 1: version 1 alone, as every installation started.
    with host(stack_env) as api:
        partner = make_partner(api, "eu")
        org = register_org(partner)
        add_user(partner, org, user)
        device = register(api, org, user, "fcm-token-rotation")
        erasure = file_request(partner, org["id"], asked_about, "erasure")
        subscribe_and_confirm(api, partner, email)
        # An administrator is sent to sign in now and comes back after the pepper changed.
        control.put_tenant(partner.entra_tenant_id, 5, consented=False)
        link = web.post(f"{partner.url}/entra-connection", headers=partner.bearer())
        assert link.status_code == 200, link.text
    assert api_key_dependencies(account, partner.id) == {V1: 1}
    assert org_key_dependencies(account, partner.id) == {V1: 2}  # webhook and device key

    # Phase 2: version 2 added; the old secrets still work and move on as they are presented.
    with host(stack_env, API_KEY_PEPPER_VERSIONS=LATER) as api:
        partner = on(api, partner)
        answer = sign_in_through_api(api, link.json()["url"], control, partner.entra_tenant_id)
        assert answer.status_code == 200, answer.text  # a state signed under v1 reads under v1 + v2
        assert works(partner, partner.key)
        assert api_key_dependencies(account, partner.id) == {V2: 1}
        made = web.post(f"{partner.url}/api-keys", headers=OPERATOR, json={"name": "new", "scopes": ["read"]})
        assert made.status_code == 201, made.text
        new_key = made.json()["key"]
        assert api_key_dependencies(account, partner.id) == {V2: 2}  # the new key is made under v2

        assert post_webhook(api, org, context_for(org["id"])).status_code == 202
        again = register(api, org, user, "fcm-token-rotation")  # found by its token's v1 hash
        assert again["id"] == device["id"]
        assert org_key_dependencies(account, partner.id) == {V2: 2}
        assert device_target_dependencies(account, org["id"]) == {V2: 1}
        assert device_secret_dependencies(account, org["id"]) == {V2: 1}

        # The open erasure is found under its v1 hash; done, its hash moves to v2 and its slot ends.
        duplicate = file_request(partner, org["id"], asked_about.upper(), "erasure")
        assert duplicate["state"] == "linked" and duplicate["duplicateOf"] == erasure["id"]
        carry_out(partner, erasure["id"])
        restriction = file_request(partner, org["id"], asked_about, "restriction")
        assert [e["purpose"] for e in ledger_of(partner, email)] == ["newsletter"]

        # The re-keying job, as the region's timer runs it, with this host's ring.
        ring = pepper_ring(stack_env["API_KEY_PEPPER"], LATER)
        pointed = IndexedRows(TenantSubjects.indexed_by, OrgSubjects.indexed_by, OrgSubjects.device_user)
        jobs = [(n, j) for n, j in deps.rekeyings("eu") if n != "subjectindex"]
        RekeyJob(
            account, [*jobs, ("subjectindex", SubjectIndexRekey(index_key(ring), account, pointed))]
        ).run()
        # The report sums these counters over the whole region; an earlier module of this worker
        # leaves rows of its own under v1 in the same Azurite, so this partner's are read here.
        # Requests and open slots: the erasure's worker moves its hash and ends its slot just after
        # it writes `completed`, which the test may read first.
        wait_until(
            lambda: set(request_dependencies(account, partner.id)) == {V2},
            timeout=30,
            what=lambda: (
                f"the erased subject's requests and slots under v2 ({request_rows(account, partner.id)})"
            ),
        )
        assert set(consent_dependencies(account, partner.id)) == {V2}
        assert V1 not in device_target_dependencies(account, org["id"])
        report = pepper_counts(api)
        assert (report[V2] or 0) >= 9, report  # at least this partner's values, under v2

    # Phase 3: version 1 dropped; only what phase 2 presented or made is still in hand.
    with host(stack_env, API_KEY_PEPPER="", API_KEY_PEPPER_VERSIONS=LATER) as api:
        partner = on(api, partner)
        assert works(partner, partner.key) and works(partner, new_key)
        assert post_webhook(api, org, context_for(org["id"])).status_code == 202
        assert register(api, org, user, "fcm-token-rotation")["id"] == device["id"]
        linked = file_request(partner, org["id"], asked_about.upper(), "restriction")
        assert linked["state"] == "linked" and linked["duplicateOf"] == restriction["id"]
        assert [e["purpose"] for e in ledger_of(partner, email)] == ["newsletter"]
        # A state signed with what the pepper's empty version 1 would give is nobody's.
        forged = {"code": "stolen-code", "state": empty_key_state(partner.id)}
        refused = web.get(f"{api}/api/admin-consent/callback", params=forged)
        assert refused.status_code == 400 and "not issued by Tenantry" in refused.json()["detail"], (
            refused.text
        )
        other = make_partner(api, "eu")
        connect_partner(other, control)  # signs and reads a sign-in state under v2 alone
        connection = web.get(f"{other.url}/entra-connection", headers=other.as_key).json()
        assert connection["connected"]

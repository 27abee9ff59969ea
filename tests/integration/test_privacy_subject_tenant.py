"""One tenant end user as a data subject, against Azurite and the Graph stand-in: index, export, erasure."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from functions import deps
from localdev.graph_standin import StandinControl
from shared.access.principals import Actor
from shared.audit.context import ActionContext
from shared.audit.log import AuditLog, iter_all
from shared.errors import ProblemError
from shared.partners.service import Partner
from shared.privacy.subjects import SubjectData, SubjectIdentifier, SubjectScope, index
from shared.tenants.models import UserPatch
from shared.tenants.service import TenantService
from shared.tenants.store import DirectoryStore
from tests.integration.rigs import connected_partner, onboard, queued_sync, service_for

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:msgraph.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:kiota_abstractions.*"),
]

ACTION = ActionContext(Actor("personnel", "privacy-officer"))


@pytest.fixture(scope="module")
def partner(control: StandinControl) -> Partner:
    return connected_partner(control, "Subject Test IT", tenant_limit=50)


def synced_tenant(service: TenantService, control: StandinControl, users: int) -> str:
    tenant_id = onboard(service, control, users)
    sync_id = queued_sync(service, tenant_id)
    assert service.run_sync(tenant_id, sync_id, final_attempt=False).state == "succeeded"
    return tenant_id


def users_of(service: TenantService, tenant_id: str) -> dict[str, Any]:
    store = DirectoryStore(service.account, service.partner.id, tenant_id, None)  # type: ignore[arg-type]
    return {str(r["RowKey"]): r for r in store.list_user_rows()}


def index_entries(service: TenantService, tenant_id: str) -> list[Any]:
    table = service.account.table(index.TABLE)
    return list(table.query_entities(index.tenant_range(service.partner.id, tenant_id)))


def index_key() -> Any:
    return index.index_key(deps.key_ring(deps.settings()))


def assert_index_names_no_one(service: TenantService, tenant_id: str, users: dict[str, Any]) -> None:
    """No address or object id in any index key: storage (and its URLs, logged at DEBUG) never sees them."""
    keys = " ".join(f"{e['PartitionKey']} {e['RowKey']}" for e in index_entries(service, tenant_id)).lower()
    assert keys
    for user_id, row in users.items():
        for clear in (user_id, row.get("userPrincipalName"), row.get("mail")):
            if clear:
                assert str(clear).lower() not in keys
                assert str(clear).lower().split("@")[0] not in keys


def subjects() -> SubjectData:
    return deps.subject_data()


def by_email(address: str) -> SubjectIdentifier:
    return SubjectIdentifier(email=address)


def test_the_index_follows_renames_and_removals_through_sync(
    partner: Partner, control: StandinControl
) -> None:
    service = service_for(partner)
    tenant_id = synced_tenant(service, control, 40)
    scope = SubjectScope(partner.id, partner.region, tenant_id=tenant_id)
    users = users_of(service, tenant_id)
    renamed, leaver, other = sorted(users)[:3]
    old_upn = str(users[renamed]["userPrincipalName"])
    leaver_upn = str(users[leaver]["userPrincipalName"])

    found = subjects().locate(scope, by_email(old_upn.upper()))  # addresses compare case-insensitively
    assert found.found and found.subject_key == renamed and found.counts["tenantUser"] == 1
    assert_index_names_no_one(service, tenant_id, users)

    new_address = f"renamed.{uuid.uuid4().hex[:6]}@fabrikam.example"
    control.mutate(
        tenant_id, change={renamed: {"userPrincipalName": new_address, "mail": new_address}}, remove=[leaver]
    )
    sync = service.request_sync(tenant_id, "manual", ACTION)
    assert service.run_sync(tenant_id, sync.id, final_attempt=False).state == "succeeded"

    # The delta sync itself rewrote the index: no entry is left for the old address or the leaver.
    entries = index_entries(service, tenant_id)
    old, new = (index.value_hash(index_key(), a) for a in (old_upn.lower(), new_address))
    assert not any(str(e["RowKey"]).startswith(old + "|") or e["subject"] == leaver for e in entries)
    assert [e["subject"] for e in entries if str(e["RowKey"]).startswith(new + "|")] == [renamed]
    assert_index_names_no_one(service, tenant_id, {**users, renamed: {"mail": new_address}})
    assert subjects().locate(scope, by_email(new_address)).subject_key == renamed
    assert subjects().locate(scope, by_email(old_upn)).found is False
    assert subjects().locate(scope, by_email(leaver_upn)).found is False
    assert subjects().locate(scope, SubjectIdentifier(object_id=other)).counts["tenantUser"] == 1


def test_export_holds_every_category_reads_only_the_subjects_rows_and_is_fetched_by_signed_link(
    partner: Partner, control: StandinControl
) -> None:
    service = service_for(partner)
    small = synced_tenant(service, control, 30)
    large = synced_tenant(service, control, 600)
    reads = {}
    for tenant_id in (small, large):
        user_id = sorted(users_of(service, tenant_id))[5]
        service.update_user(tenant_id, user_id, UserPatch(display_name="Ada Subject"), ACTION)
        scope = SubjectScope(partner.id, partner.region, tenant_id=tenant_id)
        reads[tenant_id] = subjects().export(scope, SubjectIdentifier(object_id=user_id), request_id="r1")
    # What an export reads follows the subject, not the tenant's size (30 vs 600 users). The one
    # read that is not the subject's own is the tenant's group list (memberships live in group rows).
    groups = {t: len(service.list_groups(t, 1000, None)[0]) for t in (small, large)}
    assert groups[small] < groups[large]
    # Their report and search rows (shared/reports) are theirs too: each found by key, read once.
    own = {t: reads[t].rows_read - groups[t] - reads[t].counts.get("reportRows", 0) for t in (small, large)}
    assert own[small] == own[large] < 10

    tenant_id = large
    user_id = sorted(users_of(service, tenant_id))[5]
    group = service.list_groups(tenant_id, 1, None)[0][0]
    service.change_member(tenant_id, group.id, user_id, add=True, context=ACTION)
    scope = SubjectScope(partner.id, partner.region, tenant_id=tenant_id)
    upn = str(users_of(service, tenant_id)[user_id]["userPrincipalName"])
    result = subjects().export(scope, by_email(upn), request_id=f"req-{uuid.uuid4().hex[:8]}")
    member_of = {
        g.id: g.display_name
        for g in service.list_groups(tenant_id, 1000, None)[0]
        if user_id in (service.get_group(tenant_id, g.id).members or [])
    }
    assert group.id in member_of
    # Report rows: their users and search rows, MFA registration, sign-in activity (and any roles).
    counts = dict(result.counts)
    assert counts.pop("reportRows") >= 5
    assert counts == {"tenantUser": 1, "tenantGroupMemberships": len(member_of), "auditEvents": 2}

    link = subjects().export_link(scope, result.blob_name, ttl=timedelta(minutes=15))
    assert "sig=" in link and "se=" in link
    response = httpx.get(link)
    assert response.status_code == 200
    package = response.json()
    categories = package["categories"]
    assert categories["tenantUser"][0]["id"] == user_id
    assert categories["tenantUser"][0]["displayName"] == "Ada Subject"
    assert {m["groupId"]: m["displayName"] for m in categories["tenantGroupMemberships"]} == member_of
    updated = next(e for e in categories["auditEvents"] if e["action"] == "tenant.user.updated")
    assert updated["target"]["id"] == user_id and updated["changes"]["displayName"]["after"] == "Ada Subject"
    # Nobody else is in it.
    others = set(users_of(service, tenant_id)) - {user_id}
    text = response.text
    assert not any(other in text for other in others)
    # A link for another partner's blob name is refused; a tampered signature is refused by storage.
    with pytest.raises(ProblemError):
        subjects().export_link(scope, "someone-else/req.json", ttl=timedelta(minutes=1))
    assert httpx.get(link.replace("sig=", "sig=A")).status_code == 403


def test_erasure_deletes_shreds_events_keeps_the_chain_valid_and_is_idempotent(
    partner: Partner, control: StandinControl
) -> None:
    service = service_for(partner)
    tenant_id = synced_tenant(service, control, 25)
    user_id = sorted(users_of(service, tenant_id))[3]
    upn = str(users_of(service, tenant_id)[user_id]["userPrincipalName"])
    service.update_user(tenant_id, user_id, UserPatch(display_name="Grace Subject"), ACTION)
    group = service.list_groups(tenant_id, 1, None)[0][0]
    service.change_member(tenant_id, group.id, user_id, add=True, context=ACTION)
    log = AuditLog(service.account, deps.clock())
    before = [e for e in iter_all(log, partner.id) if e["target"].get("tenantId") == tenant_id]
    named = [e for e in before if e["action"].startswith(("tenant.user.", "tenant.group.member"))]
    assert {e["target"]["id"] for e in named if e["target"]["type"] == "user"} == {user_id}
    assert any(e["changes"].get("displayName", {}).get("after") == "Grace Subject" for e in named)

    scope = SubjectScope(partner.id, partner.region, tenant_id=tenant_id)
    request_id = f"req-{uuid.uuid4().hex[:8]}"
    located = subjects().locate(scope, by_email(upn))
    assert located.counts["tenantUser"] == 1 and located.counts["tenantGroupMemberships"] >= 1
    certificate = subjects().erase(scope, by_email(upn), request_id=request_id)
    assert certificate.deleted == {k: v for k, v in located.counts.items() if k != "auditEvents"}
    assert certificate.crypto_shredded == {"auditEvents": 2}
    assert [k.category for k in certificate.kept] == ["auditEvents", "erasureMarker"]
    assert certificate.kept[0].until is not None
    assert certificate.kept[0].until > deps.clock().now() + timedelta(days=700)
    # The certificate names no one: a keyed hash, the one the erasure marker is stored under.
    assert user_id not in certificate.model_dump_json() and upn.lower() not in certificate.model_dump_json()
    markers = index_entries(service, tenant_id)
    assert [e["RowKey"] for e in markers if str(e["PartitionKey"]).endswith("~x")] == [
        certificate.subject_key
    ]

    # The data is gone, the index too; the group no longer lists the user.
    assert user_id not in users_of(service, tenant_id)
    assert not any(e.get("subject") == user_id for e in index_entries(service, tenant_id))
    groups = service.list_groups(tenant_id, 1000, None)[0]
    assert not any(user_id in (service.get_group(tenant_id, g.id).members or []) for g in groups)
    assert subjects().locate(scope, by_email(upn)).found is False
    assert subjects().locate(scope, SubjectIdentifier(object_id=user_id)).counts == {}

    # The events stay, unreadable where they named the subject, and the chain still verifies.
    after = {e["id"]: e for e in iter_all(log, partner.id)}
    for event in named:
        kept = after[event["id"]]
        text = json.dumps(kept)
        assert user_id not in text and "Grace Subject" not in text
    updated = next(after[e["id"]] for e in named if e["action"] == "tenant.user.updated")
    assert updated["target"]["id"] == "[erased]"
    assert updated["changes"]["displayName"] == {"before": "[erased]", "after": "[erased]"}
    assert updated["target"]["tenantId"] == tenant_id  # not personal: still readable
    assert log.verify(partner.id).valid

    # Still in the customer's directory and changed there: the next sync does not bring them back.
    control.mutate(tenant_id, change={user_id: {"displayName": "Grace Back"}}, add=1)
    sync = service.request_sync(tenant_id, "manual", ACTION)
    assert service.run_sync(tenant_id, sync.id, final_attempt=False).state == "succeeded"
    assert user_id not in users_of(service, tenant_id) and len(users_of(service, tenant_id)) == 25
    assert subjects().locate(scope, by_email(upn)).found is False
    # Graph's reports still list them; their report and search rows do not come back either.
    assert subjects().locate(scope, SubjectIdentifier(object_id=user_id)).counts == {}

    # Again (a retried job): the same certificate, nothing else happens.
    again = subjects().erase(scope, by_email(upn), request_id=request_id)
    assert again == certificate
    erased_events = [e for e in iter_all(log, partner.id) if e["action"] == "privacy.subject.erased"]
    assert len([e for e in erased_events if e["details"]["privacyRequestId"] == request_id]) == 1


def test_rectifying_a_tenant_user_points_to_the_source(partner: Partner, control: StandinControl) -> None:
    service = service_for(partner)
    tenant_id = synced_tenant(service, control, 5)
    user_id = sorted(users_of(service, tenant_id))[0]
    scope = SubjectScope(partner.id, partner.region, tenant_id=tenant_id)
    with pytest.raises(ProblemError) as refused:
        subjects().rectify(scope, SubjectIdentifier(object_id=user_id), {"displayName": "X"}, request_id="r")
    assert refused.value.status == 409 and refused.value.kind == "rectify-at-source"
    assert "Entra ID" in str(refused.value.detail)
    with pytest.raises(ProblemError) as wrong:
        subjects().locate(scope, SubjectIdentifier(system_user_id=str(uuid.uuid4())))
    assert wrong.value.status == 422

"""Reports and end-user search written by the sync, read across tenants: Azurite and the Graph stand-in."""

from __future__ import annotations

import csv
import io
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from functions import deps
from localdev.graph_standin import StandinControl
from localdev.proving import grant_gdap
from shared.access.principals import Actor
from shared.access.reach import TenantReach
from shared.audit.context import ActionContext
from shared.errors import ProblemError
from shared.ids import new_id
from shared.partners.service import Partner
from shared.reports import rows as keys
from shared.reports.kinds import ReportKind
from shared.reports.models import ReportQuery, TenantReportQuery, UserSearchQuery
from shared.reports.service import ReportService
from shared.reports.sync import ReportSync
from shared.storage.router import StorageRouter
from shared.tenants.models import SyncOut, TenantIn
from shared.tenants.service import TenantService
from tests.integration.rigs import connected_partner, service_for

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:msgraph.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:kiota_abstractions.*"),
]

ACTION = ActionContext(Actor("personnel", "tester"))
EVERYONE = TenantReach()


@pytest.fixture(scope="module")
def partner(control: StandinControl) -> Partner:
    return connected_partner(control, "Reports IT", tenant_limit=20)


def synced(service: TenantService, control: StandinControl, users: int, *, premium: bool = True) -> str:
    tenant_id = str(uuid.uuid4())
    control.put_tenant(tenant_id, users, premium=premium)
    grant_gdap(control, service.partner.entra_tenant_id, tenant_id)
    service.create(TenantIn(tenant_id=uuid.UUID(tenant_id), display_name="Fabrikam"), ACTION)
    sync(service, tenant_id)
    return tenant_id


def sync(service: TenantService, tenant_id: str) -> SyncOut:
    sync_id = service.request_sync(tenant_id, "manual", ACTION).id  # or the one queued at onboarding
    result = service.run_sync(tenant_id, sync_id, final_attempt=False)
    assert result.state == "succeeded"
    return result


def every_row(reports: ReportService, kind: ReportKind, reach: TenantReach, **filters: Any) -> list[Any]:
    """Every page, asserting each page is a bounded read."""
    items: list[Any] = []
    token = None
    while True:
        query = ReportQuery(top=7, continuation_token=token, **filters)
        page = reports.list_rows(kind, query, reach, dict)
        # Rows of the page plus one point read per tenant on it (when its report was synced).
        assert page.rows_read <= 7 + len({i.tenant_id for i in page.items})
        items += page.items
        token = page.continuation_token
        if token is None:
            return items


@pytest.fixture(scope="module")
def fleet(partner: Partner, control: StandinControl) -> dict[str, Any]:
    service = service_for(partner, page_size=25)
    first = synced(service, control, 40)
    second = synced(service, control, 30)
    basic = synced(service, control, 20, premium=False)
    return {"service": service, "tenants": (first, second, basic), "reports": deps.reports(partner)}


def test_each_report_covers_every_tenant_and_says_which_lack_the_licence(
    fleet: dict[str, Any], control: StandinControl
) -> None:
    reports: ReportService = fleet["reports"]
    first, second, basic = fleet["tenants"]
    mfa = every_row(reports, ReportKind.MFA_REGISTRATION, EVERYONE)
    by_tenant: dict[str, list[Any]] = {}
    for row in mfa:
        by_tenant.setdefault(row.tenant_id, []).append(row)
    assert len(by_tenant[first]) == 40 and len(by_tenant[second]) == 30
    # The tenant without Entra ID P1: one row saying so, with Graph's own error code.
    assert [(r.item, r.status, r.details["code"]) for r in by_tenant[basic]] == [
        ("!tenant", "licenceMissing", "Authentication_RequestFromNonPremiumTenantOrB2CTenant")
    ]
    assert {r.status for r in by_tenant[first]} <= {"registered", "notRegistered"}
    assert all(r.synced_at and r.tenant_synced_at and r.user_principal_name for r in by_tenant[first])
    registered = every_row(reports, ReportKind.MFA_REGISTRATION, EVERYONE, status="registered")
    assert registered and {r.status for r in registered} == {"registered"}
    assert len(registered) == sum(1 for r in mfa if r.status == "registered")

    inactive = every_row(reports, ReportKind.INACTIVE_USERS, EVERYONE)
    assert {r.tenant_id for r in inactive} == {first, second, basic}
    assert {r.status for r in inactive if r.tenant_id == basic} == {"licenceMissing"}
    assert {r.status for r in inactive if r.tenant_id == first} >= {"active"}

    # Every generated tenant holds three SKUs; the one without P1 two.
    licences = every_row(reports, ReportKind.LICENCES, EVERYONE, tenant_id=first)
    assert len(licences) == 3 and len(every_row(reports, ReportKind.LICENCES, EVERYONE, tenant_id=basic)) == 2
    for row in licences:
        assert row.details["assigned"] + row.details["unassigned"] == row.details["available"]
        assert row.status == ("unassigned" if row.details["unassigned"] else "ok")
        assert row.details["disabledUsersWithLicence"] >= 0

    roles = every_row(reports, ReportKind.PRIVILEGED_ROLES, EVERYONE, tenant_id=second)
    assert len(roles) == 6 and sum(r.status == "globalAdministrator" for r in roles) == 2
    assert all(r.user_principal_name for r in roles)

    scores = every_row(reports, ReportKind.SECURE_SCORE, EVERYONE)
    assert sorted(r.tenant_id for r in scores) == sorted((first, second, basic))
    assert all(len(r.details["trend"]) == 30 and r.details["maxScore"] == 250.0 for r in scores)


def test_a_scoped_caller_and_a_tenant_group_see_only_their_tenants(fleet: dict[str, Any]) -> None:
    reports: ReportService = fleet["reports"]
    first, second, basic = fleet["tenants"]
    scoped = TenantReach(frozenset({second}))
    rows = every_row(reports, ReportKind.MFA_REGISTRATION, scoped)
    assert len(rows) == 30 and {r.tenant_id for r in rows} == {second}
    with pytest.raises(ProblemError) as refused:
        reports.list_rows(ReportKind.MFA_REGISTRATION, ReportQuery(tenant_id=first), scoped, dict)
    assert refused.value.status == 404
    groups = {"pair": frozenset({first, basic})}
    grouped = reports.list_rows(
        ReportKind.SECURE_SCORE, ReportQuery(tenant_group="pair"), EVERYONE, lambda: groups
    )
    assert sorted(r.tenant_id for r in grouped.items) == sorted((first, basic))
    with pytest.raises(ProblemError) as unknown:
        reports.list_rows(ReportKind.SECURE_SCORE, ReportQuery(tenant_group="nope"), EVERYONE, lambda: groups)
    assert unknown.value.status == 404
    # A status another report has: no guest row has it.
    assert reports.list_rows(ReportKind.GUESTS, ReportQuery(status="registered"), EVERYONE, dict).items == []


def test_csv_export_has_a_header_and_one_line_per_row(fleet: dict[str, Any]) -> None:
    reports: ReportService = fleet["reports"]
    first = fleet["tenants"][0]
    text, token = reports.export_tenant_csv(
        ReportKind.MFA_REGISTRATION, TenantReportQuery(top=15), EVERYONE, tenant_id=first
    )
    lines = list(csv.DictReader(io.StringIO(text)))
    assert len(lines) == 15 and token is not None
    assert {"tenantId", "status", "userPrincipalName", "isMfaRegistered", "syncedAt"} <= set(lines[0])
    assert {line["tenantId"] for line in lines} == {first}


def test_search_finds_users_across_tenants_and_follows_delta_changes(
    fleet: dict[str, Any], control: StandinControl
) -> None:
    reports: ReportService = fleet["reports"]
    service: TenantService = fleet["service"]
    first, second, _ = fleet["tenants"]
    some = reports.list_rows(
        ReportKind.MFA_REGISTRATION, ReportQuery(tenant_id=second, top=1), EVERYONE, dict
    )
    target = some.items[0]
    upn = str(target.user_principal_name)
    hits = reports.search_users(UserSearchQuery(prefix=upn[:-3].upper()), EVERYONE).items
    assert (second, target.user_id) in {(h.tenant_id, h.user_id) for h in hits}
    assert reports.search_users(UserSearchQuery(prefix=upn), TenantReach(frozenset({first}))).items == []

    # A rename and a new guest arrive as delta changes; the next sync's rows follow them.
    control.mutate(
        second,
        change={str(target.user_id): {"displayName": "Zebedee Quartermaine"}},
        add=[
            {
                "userType": "Guest",
                "displayName": "Quincy Guest",
                "userPrincipalName": "quincy_ext#EXT#@x.example",
            }
        ],
    )
    sync(service, second)
    found = reports.search_users(UserSearchQuery(prefix="zebedee q"), EVERYONE).items
    assert [(h.user_id, h.matched) for h in found] == [(target.user_id, "displayName")]
    assert not any(
        h.user_id == target.user_id and h.matched == "displayName"
        for h in reports.search_users(UserSearchQuery(prefix=str(target.display_name)), EVERYONE).items
    )
    guest = reports.search_users(UserSearchQuery(prefix="quincy_ext#"), EVERYONE).items
    assert [h.user_type for h in guest] == ["Guest"]
    guests = every_row(reports, ReportKind.GUESTS, EVERYONE, tenant_id=second)
    assert [r.user_id for r in guests] == [guest[0].user_id]

    control.mutate(second, remove=[guest[0].user_id])
    sync(service, second)
    assert reports.search_users(UserSearchQuery(prefix="quincy_ext#"), EVERYONE).items == []
    assert every_row(reports, ReportKind.GUESTS, EVERYONE, tenant_id=second) == []


def test_an_unchanged_tenant_resync_rewrites_no_report_rows(fleet: dict[str, Any]) -> None:
    service: TenantService = fleet["service"]
    first = fleet["tenants"][0]
    latest = sync(service, first)
    # Users, groups and configuration unchanged: only the per-report "synced" markers are written.
    assert not latest.full and latest.counts.storage_writes <= len(ReportKind)


def test_a_report_whose_content_is_unchanged_is_not_read_back(router: StorageRouter) -> None:
    partner_id, tenant_id, kind = new_id(), str(uuid.uuid4()), ReportKind.MFA_REGISTRATION

    def run(statuses: dict[str, str]) -> ReportSync:
        with ThreadPoolExecutor(2) as pool:
            run = ReportSync(
                router.region("eu"), partner_id, tenant_id, sync_id=new_id(), now=datetime.now(UTC), pool=pool
            )
            run.replace(kind, [run._row(kind, user, status) for user, status in statuses.items()])
        return run

    users = {f"user-{n:03d}": "registered" for n in range(300)}
    first = run(users)
    assert first.writes == 301  # every row and the `synced` marker
    again = run(users)
    # Only the tenant's few `synced` markers read, only its marker written: not 300 rows read back.
    assert again.rows.rows_read <= len(ReportKind) and again.writes == 1
    changed = run({**users, "user-007": "notRegistered"})
    assert changed.rows.rows_read >= 300 and changed.writes == 2
    stored = changed.rows.get(keys.kind_partition(partner_id, kind), keys.item_key(tenant_id, "user-007"))
    assert stored is not None and stored["status"] == "notRegistered"


def test_removing_a_tenant_removes_its_report_and_search_rows(
    partner: Partner, control: StandinControl
) -> None:
    service = service_for(partner, page_size=50)
    reports = deps.reports(partner)
    tenant_id = synced(service, control, 12)
    rows = every_row(reports, ReportKind.MFA_REGISTRATION, EVERYONE, tenant_id=tenant_id)
    upn = str(rows[0].user_principal_name)
    assert reports.search_users(UserSearchQuery(prefix=upn), EVERYONE).items
    service.delete(tenant_id, ACTION)
    with pytest.raises(ProblemError):
        reports.list_tenant_rows(
            ReportKind.MFA_REGISTRATION, TenantReportQuery(), EVERYONE, tenant_id=tenant_id
        )
    table = reports.rows.table
    left = list(table.query_entities(f"tenantId eq '{tenant_id}'", select=["PartitionKey"]))
    assert left == []
    assert reports.search_users(UserSearchQuery(prefix=upn), EVERYONE).items == []

"""The standards engine on real storage: template versions beside the baseline rows (which the
baseline listing never shows), compliance rows paged across tenants in one partition, and the
check and remediation plan a tenant's policies give."""

from __future__ import annotations

import uuid

from shared.adapters.graph_policies import TenantPolicies
from shared.ids import new_id
from shared.standards import engine
from shared.standards.catalogue import NEVER_EXPIRES, REPORT_ONLY
from shared.standards.store import StandardStore, settings_of
from shared.storage import tables
from shared.storage.router import AccountStorage
from shared.tenants.baselines import BaselineService
from shared.tenants.records import BASELINES


def test_an_edit_is_a_new_version_and_the_baseline_list_is_unchanged(account: AccountStorage) -> None:
    partner = new_id()
    store = StandardStore(account, partner)
    standard = new_id()
    for version, value in ((1, True), (2, False)):
        store.create_or_update(
            standard,
            {
                "name": "Apps",
                "version": version,
                "settings": f'[{{"id": "authorization.allowedToCreateApps", "value": {str(value).lower()}}}]',
            },
        )
    [head] = store.list_all()
    assert head["version"] == 2 and settings_of(head) == [("authorization.allowedToCreateApps", False)]
    versions = tables.query(
        account.table(BASELINES), f"{tables.partition(partner)} and RowKey ge '~standard~{standard}~'"
    )
    assert sorted(r["version"] for r in versions) == [1, 2]  # every version kept
    # GET .../baseline across tenants reads the same partition and shows none of these rows.
    baselines = BaselineService(account, partner, None, None, None)  # type: ignore[arg-type]
    assert baselines.list_baselines(100, None, lambda t: True) == ([], None)
    store.delete(standard, {"name": "Apps", "version": 2, "settings": "[]"})
    assert store.list_all() == [] and store.get(standard) is None


def test_compliance_pages_across_tenants_and_filters_by_tenant_and_standard(account: AccountStorage) -> None:
    partner = new_id()
    store = StandardStore(account, partner)
    tenants = sorted(str(uuid.uuid4()) for _ in range(3))
    for tenant in tenants:
        for standard in ("tenantry-baseline", "tenantry-admin-consent"):
            store.upsert_compliance(tenant, standard, {"version": 1, "failed": 0})
    seen: list[tuple[str, str]] = []
    position = None
    while True:
        rows, position = store.page_compliance(4, position)
        assert len(rows) <= 4
        seen += [(r["tenantId"], r["standardId"]) for r in rows]
        if position is None:
            break
    assert seen == [(t, s) for t in tenants for s in ("tenantry-admin-consent", "tenantry-baseline")]
    one, _ = store.page_compliance(100, None, tenant_id=tenants[1])
    assert {r["tenantId"] for r in one} == {tenants[1]} and len(one) == 2
    baseline, _ = store.page_compliance(100, None, standard_id="tenantry-baseline")
    assert [r["tenantId"] for r in baseline] == tenants
    assert StandardStore(account, new_id()).page_compliance(100, None) == ([], None)  # another partner's


def test_the_check_and_the_plan_of_a_tenants_policies() -> None:
    policies = TenantPolicies(
        sections={
            "conditionalAccessPolicies": [
                {"id": "p1", "displayName": "Tenantry: Block legacy authentication", "state": "enabled"}
            ],
            "domains": [
                {
                    "id": "a.example",
                    "isVerified": True,
                    "authenticationType": "Managed",
                    "passwordValidityPeriodInDays": 90,
                },
                {
                    "id": "b.example",
                    "isVerified": True,
                    "authenticationType": "Federated",
                    "passwordValidityPeriodInDays": 90,
                },
            ],
        },
        unavailable={"authorizationPolicy": "Authorization_RequestDenied"},
    )
    results = engine.check(
        [
            ("conditionalAccess.blockLegacyAuthentication", REPORT_ONLY),  # enforcing is stricter: passes
            ("conditionalAccess.requireMfaAdmins", REPORT_ONLY),
            ("domains.passwordValidityPeriodInDays", NEVER_EXPIRES),
            ("authorization.allowedToCreateApps", False),
        ],
        policies,
    )
    assert [r.state for r in results] == ["pass", "fail", "fail", "notAvailable"]
    assert results[1].current == "absent" and results[2].current == {"a.example": 90}  # federated: not ours
    assert [c.model_dump() for c in engine.plan(results[1], policies)] == [
        {
            "target": "conditionalAccessPolicy:Tenantry: Require MFA for administrators",
            "before": None,
            "after": REPORT_ONLY,
        }
    ]
    assert [(c.target, c.before) for c in engine.plan(results[2], policies)] == [("domain:a.example", 90)]
    assert engine.plan(results[0], policies) == [] and engine.plan(results[3], policies) == []

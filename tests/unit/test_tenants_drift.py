"""Drift findings between two configuration snapshots, and the baseline checks on one."""

from __future__ import annotations

from typing import Any

from shared.adapters.graph import GLOBAL_ADMINISTRATOR
from shared.standards.baseline import evaluate
from shared.tenants.baseline import BaselineInput, UserFacts
from shared.tenants.drift import compare
from shared.tenants.models import BaselineSettings


def snapshot(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "organization": {"id": "o", "displayName": "Fabrikam"},
        "subscribedSkus": [
            {"skuId": "s1", "skuPartNumber": "SPE_E3", "consumedUnits": 8, "prepaidUnits": {"enabled": 10}}
        ],
        "domains": [{"id": "fabrikam.example", "isVerified": True}],
        "roleAssignments": [
            {"principalId": "a1", "roleTemplateId": GLOBAL_ADMINISTRATOR, "roleName": "Global Administrator"},
            {"principalId": "a2", "roleTemplateId": GLOBAL_ADMINISTRATOR, "roleName": "Global Administrator"},
        ],
        "conditionalAccessPolicies": [
            {
                "id": "p1",
                "displayName": "MFA for all",
                "state": "enabled",
                "conditions": {"users": {"includeUsers": ["All"]}},
                "grantControls": {"builtInControls": ["mfa"]},
            }
        ],
        "securityDefaults": {"id": "x", "isEnabled": False},
        "unavailable": {},
    }
    base.update(overrides)
    return base


def test_no_change_no_drift() -> None:
    assert compare(snapshot(), snapshot()) == []


def test_each_changed_setting_is_one_finding() -> None:
    after = snapshot(
        securityDefaults={"id": "x", "isEnabled": True},
        roleAssignments=[
            *snapshot()["roleAssignments"],
            {"principalId": "a3", "roleTemplateId": GLOBAL_ADMINISTRATOR, "roleName": "Global Administrator"},
        ],
        conditionalAccessPolicies=[{**snapshot()["conditionalAccessPolicies"][0], "state": "disabled"}],
        domains=[],
    )
    found = {f.summary: f for f in compare(snapshot(), after)}
    assert set(found) == {
        "security defaults enabled",
        "new Global Administrator",
        "conditional access policy 'MFA for all' now disabled",
        "domain fabrikam.example removed",
    }
    assert found["new Global Administrator"].after == {"principalId": "a3", "role": "Global Administrator"}
    assert found["security defaults enabled"].action == "tenant.drift.securityDefaults"


def test_a_section_graph_refused_is_not_reported_as_removed() -> None:
    after = snapshot(conditionalAccessPolicies=[], unavailable={"conditionalAccessPolicies": "Forbidden"})
    assert compare(snapshot(), after) == []


def test_baseline_checks_and_partner_settings() -> None:
    facts = UserFacts(disabled_with_licences=2, disabled_with_licences_sample=["u1", "u2"])
    results = {r.id: r for r in evaluate(BaselineInput(snapshot(), facts, BaselineSettings()))}
    assert results["mfaEnforced"].state == "pass"  # by conditional access
    assert results["globalAdminCount"].state == "pass" and results["globalAdminCount"].value == 2
    assert results["licencesOnDisabledAccounts"].state == "fail"
    assert results["unusedLicences"].state == "pass"  # 2 spare, 5 allowed
    assert results["inactiveAccounts"].state == "notAvailable"

    strict = BaselineSettings(
        disabled_checks=["licencesOnDisabledAccounts"], max_global_admins=1, max_unused_licences=0
    )
    no_mfa = snapshot(conditionalAccessPolicies=[])
    results = {r.id: r for r in evaluate(BaselineInput(no_mfa, facts, strict))}
    assert results["mfaEnforced"].state == "fail"
    assert results["globalAdminCount"].state == "fail"
    assert results["licencesOnDisabledAccounts"].state == "off"
    assert results["unusedLicences"].state == "fail" and results["unusedLicences"].value == {"SPE_E3": 2}

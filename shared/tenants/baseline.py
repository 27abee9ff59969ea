"""Built-in baseline checks, evaluated from a configuration snapshot and facts about the stored users."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.adapters.graph import GLOBAL_ADMINISTRATOR
from shared.reports.kinds import INACTIVE_DAYS
from shared.tenants.models import BaselineSettings, CheckResult

# Free and trial SKUs do not waste money when unassigned.
FREE_SKU_MARKERS = ("FREE", "TRIAL", "FLOW_FREE", "POWER_BI_STANDARD", "WINDOWS_STORE")


@dataclass(frozen=True)
class UserFacts:
    disabled_with_licences: int
    disabled_with_licences_sample: list[str]
    # Enabled accounts without a sign-in for INACTIVE_DAYS (shared/reports); None: Graph refused
    # signInActivity (no Entra ID P1 in the tenant, or AuditLog.Read.All not consented).
    inactive_accounts: int | None = None


def _mfa_by_conditional_access(policies: list[dict[str, Any]]) -> bool:
    for policy in policies:
        if policy.get("state") != "enabled":
            continue
        controls = (policy.get("grantControls") or {}).get("builtInControls") or []
        users = ((policy.get("conditions") or {}).get("users") or {}).get("includeUsers") or []
        if "mfa" in controls and "All" in users:
            return True
    return False


def evaluate(config: dict[str, Any], facts: UserFacts, settings: BaselineSettings) -> list[CheckResult]:
    results: list[CheckResult] = []
    unavailable = config.get("unavailable") or {}
    off = set(settings.disabled_checks)

    def add(check_id: str, title: str, compute: Any) -> None:
        if check_id in off:
            results.append(
                CheckResult(id=check_id, title=title, state="off", detail="Switched off by the partner.")
            )
        else:
            results.append(compute(check_id, title))

    def mfa(check_id: str, title: str) -> CheckResult:
        defaults = (config.get("securityDefaults") or {}).get("isEnabled")
        if defaults:
            return CheckResult(id=check_id, title=title, state="pass", detail="Security defaults are on.")
        if _mfa_by_conditional_access(config.get("conditionalAccessPolicies") or []):
            return CheckResult(
                id=check_id,
                title=title,
                state="pass",
                detail="A conditional access policy requires MFA for all users.",
            )
        if "securityDefaults" in unavailable and "conditionalAccessPolicies" in unavailable:
            return CheckResult(
                id=check_id, title=title, state="notAvailable", detail="Graph refused both policy reads."
            )
        return CheckResult(
            id=check_id,
            title=title,
            state="fail",
            detail="Neither security defaults nor an enabled conditional access policy enforce MFA "
            "for all users.",
        )

    def admins(check_id: str, title: str) -> CheckResult:
        if "roleAssignments" in unavailable:
            return CheckResult(
                id=check_id,
                title=title,
                state="notAvailable",
                detail="Graph refused the role assignments read.",
            )
        count = len(
            {
                a["principalId"]
                for a in config.get("roleAssignments") or []
                if a.get("roleTemplateId") == GLOBAL_ADMINISTRATOR
            }
        )
        ok = settings.min_global_admins <= count <= settings.max_global_admins
        bound = f"{settings.min_global_admins}..{settings.max_global_admins}"
        return CheckResult(
            id=check_id,
            title=title,
            state="pass" if ok else "fail",
            detail=f"{count} Global Administrators (allowed {bound}).",
            value=count,
        )

    def waste(check_id: str, title: str) -> CheckResult:
        n = facts.disabled_with_licences
        return CheckResult(
            id=check_id,
            title=title,
            state="pass" if n == 0 else "fail",
            detail=f"{n} disabled accounts hold licences.",
            value={"count": n, "sample": facts.disabled_with_licences_sample},
        )

    def unused(check_id: str, title: str) -> CheckResult:
        if "subscribedSkus" in unavailable:
            return CheckResult(
                id=check_id, title=title, state="notAvailable", detail="Graph refused the licence read."
            )
        spare: dict[str, int] = {}
        for sku in config.get("subscribedSkus") or []:
            name = str(sku.get("skuPartNumber") or sku.get("skuId"))
            if any(marker in name.upper() for marker in FREE_SKU_MARKERS):
                continue
            free = int((sku.get("prepaidUnits") or {}).get("enabled", 0)) - int(sku.get("consumedUnits", 0))
            if free > 0:
                spare[name] = free
        total = sum(spare.values())
        ok = total <= settings.max_unused_licences
        return CheckResult(
            id=check_id,
            title=title,
            state="pass" if ok else "fail",
            detail=f"{total} paid licences unassigned (allowed {settings.max_unused_licences}).",
            value=spare,
        )

    def inactive(check_id: str, title: str) -> CheckResult:
        n = facts.inactive_accounts
        if n is None:
            return CheckResult(
                id=check_id,
                title=title,
                state="notAvailable",
                detail="Graph refused sign-in activity (needs Entra ID P1 and AuditLog.Read.All).",
            )
        return CheckResult(
            id=check_id,
            title=title,
            state="pass" if n == 0 else "fail",
            detail=f"{n} enabled accounts without a sign-in for {INACTIVE_DAYS} days.",
            value=n,
        )

    add("mfaEnforced", "MFA enforced by security defaults or conditional access", mfa)
    add("globalAdminCount", "Number of Global Administrators within bounds", admins)
    add("licencesOnDisabledAccounts", "No licences on disabled accounts", waste)
    add("unusedLicences", "Few unused paid licences", unused)
    add("inactiveAccounts", "No accounts without sign-in activity", inactive)
    return results

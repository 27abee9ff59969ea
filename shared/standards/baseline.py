"""The built-in `tenantry-baseline` standard at each sync: its checks, run through the engine in report mode.

The sync (shared/tenants/sync_runner.py) reads what the checks need anyway (the configuration
snapshot, the stored users' facts); `SyncBaseline` is the `BaselineChecker` the composition root
hands it. The checks become the standard's `baseline` section, `engine.check` compares it with the
standard's settings, and the tenant's compliance row is written as a `report` run writes it: one
mechanism, whether the baseline is read at GET .../baseline, in the compliance report or by a run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shared.adapters.graph import GLOBAL_ADMINISTRATOR
from shared.adapters.graph_policies import TenantPolicies
from shared.clock import Clock, isoformat
from shared.reports.kinds import INACTIVE_DAYS
from shared.standards import engine
from shared.standards.catalogue import BASELINE, BASELINE_CHECKS, BUILT_INS
from shared.standards.store import StandardStore
from shared.tenants.baseline import FREE_SKU_MARKERS, BaselineInput
from shared.tenants.models import CheckResult, CheckState

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

BASELINE_STANDARD = "tenantry-baseline"
BUILT_IN_VERSION = 1  # built-in standards never change (service.py answers version 1 only)

# What one check finds: its state, the detail the partner reads, and the value behind it.
Found = tuple[CheckState, str, Any]


def _mfa_by_conditional_access(policies: list[dict[str, Any]]) -> bool:
    for policy in policies:
        if policy.get("state") != "enabled":
            continue
        controls = (policy.get("grantControls") or {}).get("builtInControls") or []
        users = ((policy.get("conditions") or {}).get("users") or {}).get("includeUsers") or []
        if "mfa" in controls and "All" in users:
            return True
    return False


def _mfa(read: BaselineInput, unavailable: dict[str, Any]) -> Found:
    config = read.configuration
    if (config.get("securityDefaults") or {}).get("isEnabled"):
        return "pass", "Security defaults are on.", None
    if _mfa_by_conditional_access(config.get("conditionalAccessPolicies") or []):
        return "pass", "A conditional access policy requires MFA for all users.", None
    if "securityDefaults" in unavailable and "conditionalAccessPolicies" in unavailable:
        return "notAvailable", "Graph refused both policy reads.", None
    detail = "Neither security defaults nor an enabled conditional access policy enforce MFA for all users."
    return "fail", detail, None


def _admins(read: BaselineInput, unavailable: dict[str, Any]) -> Found:
    if "roleAssignments" in unavailable:
        return "notAvailable", "Graph refused the role assignments read.", None
    count = len(
        {
            a["principalId"]
            for a in read.configuration.get("roleAssignments") or []
            if a.get("roleTemplateId") == GLOBAL_ADMINISTRATOR
        }
    )
    low, high = read.settings.min_global_admins, read.settings.max_global_admins
    state: CheckState = "pass" if low <= count <= high else "fail"
    return state, f"{count} Global Administrators (allowed {low}..{high}).", count


def _licences_on_disabled(read: BaselineInput, unavailable: dict[str, Any]) -> Found:
    n = read.facts.disabled_with_licences
    value = {"count": n, "sample": read.facts.disabled_with_licences_sample}
    return "pass" if n == 0 else "fail", f"{n} disabled accounts hold licences.", value


def _unused_licences(read: BaselineInput, unavailable: dict[str, Any]) -> Found:
    if "subscribedSkus" in unavailable:
        return "notAvailable", "Graph refused the licence read.", None
    spare: dict[str, int] = {}
    for sku in read.configuration.get("subscribedSkus") or []:
        name = str(sku.get("skuPartNumber") or sku.get("skuId"))
        if any(marker in name.upper() for marker in FREE_SKU_MARKERS):
            continue
        free = int((sku.get("prepaidUnits") or {}).get("enabled", 0)) - int(sku.get("consumedUnits", 0))
        if free > 0:
            spare[name] = free
    total, allowed = sum(spare.values()), read.settings.max_unused_licences
    state: CheckState = "pass" if total <= allowed else "fail"
    return state, f"{total} paid licences unassigned (allowed {allowed}).", spare


def _inactive(read: BaselineInput, unavailable: dict[str, Any]) -> Found:
    n = read.facts.inactive_accounts
    if n is None:
        return (
            "notAvailable",
            "Graph refused sign-in activity (needs Entra ID P1 and AuditLog.Read.All).",
            None,
        )
    return (
        "pass" if n == 0 else "fail",
        f"{n} enabled accounts without a sign-in for {INACTIVE_DAYS} days.",
        n,
    )


_CHECKS: dict[str, Callable[[BaselineInput, dict[str, Any]], Found]] = {
    "mfaEnforced": _mfa,
    "globalAdminCount": _admins,
    "licencesOnDisabledAccounts": _licences_on_disabled,
    "unusedLicences": _unused_licences,
    "inactiveAccounts": _inactive,
}
assert set(_CHECKS) == set(BASELINE_CHECKS), "every baseline setting of the catalogue has its check"


def evaluate(read: BaselineInput) -> list[CheckResult]:
    """Each check of the catalogue in its order; one the partner switched off is `off`, not run."""
    unavailable = read.configuration.get("unavailable") or {}
    off = set(read.settings.disabled_checks)
    results: list[CheckResult] = []
    for check_id, title in BASELINE_CHECKS.items():
        if check_id in off:
            results.append(
                CheckResult(id=check_id, title=title, state="off", detail="Switched off by the partner.")
            )
            continue
        state, detail, value = _CHECKS[check_id](read, unavailable)
        results.append(CheckResult(id=check_id, title=title, state=state, detail=detail, value=value))
    return results


def baseline_section(checks: list[CheckResult]) -> dict[str, str]:
    """The standard's `baseline` section: check id -> state, as GET .../baseline shows them."""
    return {c.id: c.state for c in checks}


class SyncBaseline:
    """The tenants area's `BaselineChecker`: one partner's tenants checked against `tenantry-baseline`
    at each sync, their compliance rows written as a `report` run writes them."""

    def __init__(self, account: AccountStorage, partner_id: str, clock: Clock):
        self.store = StandardStore(account, partner_id)
        self.clock = clock

    def __call__(self, tenant_id: str, read: BaselineInput) -> list[CheckResult]:
        checks = evaluate(read)
        standard = BUILT_INS[BASELINE_STANDARD]
        results = engine.check(list(standard.settings), TenantPolicies({BASELINE: baseline_section(checks)}))
        self.store.upsert_results(
            tenant_id,
            standard.id,
            version=BUILT_IN_VERSION,
            mode="report",
            results=results,
            checked_at=isoformat(self.clock.now()),
        )
        return checks

"""The check of one tenant against a standard's settings, and the changes that remediate what differs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.standards.catalogue import (
    BASELINE,
    CA_TEMPLATES,
    GLOBAL_ADMIN_ROLE_DEFINITION,
    REPORT_ONLY,
    SETTINGS,
)
from shared.standards.models import Change, SettingResult

if TYPE_CHECKING:
    from shared.adapters.graph_policies import PolicyClient, TenantPolicies

# Admin consent requests go to the tenant's Global Administrators (a query Graph resolves itself).
REVIEWERS = (
    f"/roleManagement/directory/roleAssignments?$filter=roleDefinitionId eq '{GLOBAL_ADMIN_ROLE_DEFINITION}'"
)


def _ca_policy(policies: TenantPolicies, setting_id: str) -> dict[str, Any] | None:
    name = CA_TEMPLATES[setting_id]["displayName"]
    found = [
        p for p in policies.sections.get("conditionalAccessPolicies") or [] if p.get("displayName") == name
    ]
    return found[0] if found else None


def _domains(policies: TenantPolicies) -> dict[str, int | None]:
    return {
        str(d["id"]): d.get("passwordValidityPeriodInDays")
        for d in policies.sections.get("domains") or []
        if d.get("isVerified") and str(d.get("authenticationType") or "Managed").lower() == "managed"
    }


def current_value(setting_id: str, policies: TenantPolicies) -> Any:  # noqa: PLR0911 - one per setting
    section: Any = policies.sections.get(SETTINGS[setting_id].section)
    if setting_id == "securityDefaults.enabled":
        return section["isEnabled"]
    if setting_id.startswith("conditionalAccess."):
        policy = _ca_policy(policies, setting_id)
        return "absent" if policy is None else policy.get("state")
    if setting_id == "authorization.allowedToCreateApps":
        return section["allowedToCreateApps"]
    if setting_id == "authorization.allowInvitesFrom":
        return section["allowInvitesFrom"]
    if setting_id == "adminConsent.enabled":
        return section["isEnabled"]
    if setting_id == "authenticationMethods.registrationCampaign":
        return section["registrationCampaignState"]
    if setting_id.startswith("baseline."):
        return section.get(setting_id.removeprefix("baseline."))
    return _domains(policies)


def _passes(setting_id: str, desired: Any, current: Any) -> bool:
    if isinstance(current, dict):
        return all(days == desired for days in current.values())
    if setting_id.startswith("conditionalAccess.") and desired == "disabled":
        return current in ("disabled", "absent")
    if setting_id.startswith("conditionalAccess.") and desired == REPORT_ONLY:
        return current in (REPORT_ONLY, "enabled")  # enforcing already is stricter than report-only
    return bool(current == desired)


def check(settings: list[tuple[str, Any]], policies: TenantPolicies) -> list[SettingResult]:
    results: list[SettingResult] = []
    for setting_id, desired in settings:
        setting = SETTINGS[setting_id]
        if setting.section in policies.unavailable:
            code = policies.unavailable[setting.section]
            results.append(
                SettingResult(
                    id=setting_id,
                    title=setting.title,
                    state="notAvailable",
                    desired=desired,
                    current=None,
                    detail=f"Graph refused the read ({code}).",
                )
            )
            continue
        current = current_value(setting_id, policies)
        if setting.section == BASELINE and current not in ("pass", "fail"):
            # Switched off by the partner, refused by Graph, or no sync has evaluated it yet.
            results.append(
                SettingResult(
                    id=setting_id,
                    title=setting.title,
                    state="notAvailable",
                    desired=desired,
                    current=current,
                    detail="The tenant's last sync did not evaluate this baseline check.",
                )
            )
            continue
        ok = _passes(setting_id, desired, current)
        results.append(
            SettingResult(
                id=setting_id,
                title=setting.title,
                state="pass" if ok else "fail",
                desired=desired,
                current=current,
                detail="As the standard sets." if ok else f"Is {current!r}, the standard sets {desired!r}.",
            )
        )
    return results


def plan(result: SettingResult, policies: TenantPolicies) -> list[Change]:
    """What remediating one failing setting changes; nothing for a passing or unreadable one."""
    if result.state != "fail" or not SETTINGS[result.id].remediable:
        return []
    if result.id.startswith("conditionalAccess."):
        name = CA_TEMPLATES[result.id]["displayName"]
        before = None if result.current == "absent" else result.current
        return [
            Change(
                target=f"conditionalAccessPolicy:{name}",
                before=str(before) if before else None,
                after=result.desired,
            )
        ]
    if isinstance(result.current, dict):
        return [
            Change(target=f"domain:{domain}", before=days, after=result.desired)
            for domain, days in sorted(result.current.items())
            if days != result.desired
        ]
    before = result.current if isinstance(result.current, bool | int | str) else None
    return [Change(target=result.id, before=before, after=result.desired)]


async def apply(client: PolicyClient, result: SettingResult, policies: TenantPolicies) -> None:
    """Sets one failing setting to its desired value through Graph (each write idempotent)."""
    desired = result.desired
    setting_id = result.id
    if setting_id == "securityDefaults.enabled":
        await client.update_security_defaults(bool(desired))
    elif setting_id.startswith("conditionalAccess."):
        policy = _ca_policy(policies, setting_id)
        if policy is None:
            await client.create_conditional_access_policy(CA_TEMPLATES[setting_id], state=str(desired))
        else:
            await client.update_conditional_access_state(str(policy["id"]), str(desired))
    elif setting_id == "authorization.allowedToCreateApps":
        await client.update_authorization_policy(allowed_to_create_apps=bool(desired))
    elif setting_id == "authorization.allowInvitesFrom":
        await client.update_authorization_policy(allow_invites_from=str(desired))
    elif setting_id == "adminConsent.enabled":
        await client.update_admin_consent_policy(enabled=bool(desired), reviewer_query=REVIEWERS)
    elif setting_id == "authenticationMethods.registrationCampaign":
        await client.update_registration_campaign(str(desired))
    elif setting_id == "domains.passwordValidityPeriodInDays":
        for domain, days in _domains(policies).items():
            if days != desired:
                await client.update_password_validity(domain, int(desired))

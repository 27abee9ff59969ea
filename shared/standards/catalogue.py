"""The settings a standard may name (how each is read, compared and set) and the standards Tenantry ships."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.adapters.graph_policies import (
    ADMIN_CONSENT,
    AUTH_METHODS,
    AUTHORIZATION,
    CONDITIONAL_ACCESS,
    DOMAINS,
    SECURITY_DEFAULTS,
)

REPORT_ONLY = "enabledForReportingButNotEnforced"
CA_STATES = ("disabled", REPORT_ONLY, "enabled")  # desired; a missing policy reads "absent"
NEVER_EXPIRES = 2147483647  # Graph's passwordValidityPeriodInDays for "passwords never expire"
GLOBAL_ADMIN_ROLE_DEFINITION = "62e90394-69f5-4237-9190-012177145e10"
ADMIN_ROLES = (
    "62e90394-69f5-4237-9190-012177145e10",  # Global Administrator
    "e8611ab8-c189-46e8-94e1-60213ab1f814",  # Privileged Role Administrator
    "194ae4cb-b126-40b2-bd5b-6091b380977d",  # Security Administrator
    "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",  # SharePoint Administrator
    "29232cdf-9323-42fd-ade2-1d097af3e4de",  # Exchange Administrator
    "fe930be7-5e62-47db-91af-98c3a49a38b1",  # User Administrator
)

# Conditional-access templates, in Graph's wire names; a tenant's policy of the template is found
# by its display name, so a policy the customer renamed counts as absent.
CA_TEMPLATES: dict[str, dict[str, Any]] = {
    "conditionalAccess.requireMfaAdmins": {
        "displayName": "Tenantry: Require MFA for administrators",
        "users": {"includeRoles": list(ADMIN_ROLES)},
        "clientAppTypes": ["all"],
        "builtInControls": ["mfa"],
    },
    "conditionalAccess.blockLegacyAuthentication": {
        "displayName": "Tenantry: Block legacy authentication",
        "users": {"includeUsers": ["All"]},
        "clientAppTypes": ["exchangeActiveSync", "other"],
        "builtInControls": ["block"],
    },
    "conditionalAccess.requireMfaAllUsers": {
        "displayName": "Tenantry: Require MFA for all users",
        "users": {"includeUsers": ["All"]},
        "clientAppTypes": ["all"],
        "builtInControls": ["mfa"],
    },
}


@dataclass(frozen=True)
class Setting:
    id: str
    title: str
    section: str  # the TenantPolicies section it is read from
    type: type
    allowed: tuple[Any, ...] | None = None
    remediable: bool = True

    @property
    def type_name(self) -> str:
        return {bool: "boolean", int: "integer", str: "string"}[self.type]

    def accepts(self, value: Any) -> bool:
        if type(value) is not self.type:
            return False
        if self.id == "domains.passwordValidityPeriodInDays":
            return isinstance(value, int) and (14 <= value <= 730 or value == NEVER_EXPIRES)
        return self.allowed is None or value in self.allowed


_SETTINGS = (
    Setting("securityDefaults.enabled", "Security defaults on", SECURITY_DEFAULTS, bool),
    Setting(
        "conditionalAccess.requireMfaAdmins",
        "Conditional access: require MFA for administrators",
        CONDITIONAL_ACCESS,
        str,
        CA_STATES,
    ),
    Setting(
        "conditionalAccess.blockLegacyAuthentication",
        "Conditional access: block legacy authentication",
        CONDITIONAL_ACCESS,
        str,
        CA_STATES,
    ),
    Setting(
        "conditionalAccess.requireMfaAllUsers",
        "Conditional access: require MFA for all users",
        CONDITIONAL_ACCESS,
        str,
        CA_STATES,
    ),
    Setting(
        "authorization.allowedToCreateApps",
        "Users may register applications",
        AUTHORIZATION,
        bool,
    ),
    Setting(
        "authorization.allowInvitesFrom",
        "Who may invite guests",
        AUTHORIZATION,
        str,
        ("none", "adminsAndGuestInviters", "adminsGuestInvitersAndAllMembers", "everyone"),
    ),
    Setting("adminConsent.enabled", "Admin consent workflow on", ADMIN_CONSENT, bool),
    Setting(
        "authenticationMethods.registrationCampaign",
        "Authenticator registration campaign",
        AUTH_METHODS,
        str,
        ("default", "enabled", "disabled"),
    ),
    Setting(
        "domains.passwordValidityPeriodInDays",
        "Password expiry of every verified managed domain (days; 2147483647: never)",
        DOMAINS,
        int,
    ),
)
# The baseline checks (shared/standards/baseline.py, evaluated at each sync) as settings whose desired
# value is "pass": read from the tenant's latest baseline result, never remediated.
BASELINE = "baseline"
BASELINE_CHECKS = {
    "mfaEnforced": "MFA enforced by security defaults or conditional access",
    "globalAdminCount": "Number of Global Administrators within bounds",
    "licencesOnDisabledAccounts": "No licences on disabled accounts",
    "unusedLicences": "Few unused paid licences",
    "inactiveAccounts": "No accounts without sign-in activity",
}
_BASELINE_SETTINGS = tuple(
    Setting(f"baseline.{check}", f"Baseline: {title}", BASELINE, str, ("pass",), remediable=False)
    for check, title in BASELINE_CHECKS.items()
)
SETTINGS: dict[str, Setting] = {s.id: s for s in _SETTINGS + _BASELINE_SETTINGS}


@dataclass(frozen=True)
class BuiltIn:
    id: str
    name: str
    description: str
    settings: tuple[tuple[str, Any], ...]
    modes: tuple[str, ...] = ("report", "alert", "remediate")


BUILT_IN_PREFIX = "tenantry-"
BUILT_INS: dict[str, BuiltIn] = {
    b.id: b
    for b in (
        BuiltIn(
            "tenantry-security-defaults",
            "Security defaults",
            "Security defaults on (for tenants without conditional access).",
            (("securityDefaults.enabled", True),),
        ),
        BuiltIn(
            "tenantry-conditional-access",
            "Conditional access from templates (report-only first)",
            "Require MFA for administrators, block legacy authentication, require MFA for all users: "
            "created in report-only state; switch a copy to enabled once the sign-in logs look right.",
            tuple((key, REPORT_ONLY) for key in CA_TEMPLATES),
        ),
        BuiltIn(
            "tenantry-apps-and-guests",
            "Application registration and guest invitations",
            "Users may not register applications; only administrators and guest inviters invite guests.",
            (
                ("authorization.allowedToCreateApps", False),
                ("authorization.allowInvitesFrom", "adminsAndGuestInviters"),
            ),
        ),
        BuiltIn(
            "tenantry-admin-consent",
            "Admin consent workflow",
            "Users ask Global Administrators for consent instead of being refused.",
            (("adminConsent.enabled", True),),
        ),
        BuiltIn(
            "tenantry-authentication-methods",
            "Authenticator registration campaign",
            "Users without the Authenticator app are asked to register it at sign-in.",
            (("authenticationMethods.registrationCampaign", "enabled"),),
        ),
        BuiltIn(
            "tenantry-password-expiry",
            "Passwords do not expire",
            "Current guidance (NIST SP 800-63B, Microsoft): no periodic expiry on every verified domain.",
            (("domains.passwordValidityPeriodInDays", NEVER_EXPIRES),),
        ),
        BuiltIn(
            "tenantry-baseline",
            "Tenantry baseline",
            "The baseline checks each sync evaluates (GET .../baseline) as a standard: report and alert.",
            tuple((f"baseline.{check}", "pass") for check in BASELINE_CHECKS),
            modes=("report", "alert"),
        ),
    )
}

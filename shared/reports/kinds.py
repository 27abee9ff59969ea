"""The reports there are, the statuses each row can have, and the columns of their CSV export."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ReportKind(StrEnum):
    MFA_REGISTRATION = "mfaRegistration"
    INACTIVE_USERS = "inactiveUsers"
    LICENCES = "licences"
    PRIVILEGED_ROLES = "privilegedRoles"
    SECURE_SCORE = "secureScore"
    GUESTS = "guests"


# A tenant whose Graph refused a report's read says so in one row of that report (item TENANT_ITEM).
LICENCE_MISSING = "licenceMissing"  # Graph's Authentication_RequestFromNonPremiumTenantOrB2CTenant
NOT_AVAILABLE = "notAvailable"  # any other refusal (permission not consented, 404)
PREMIUM_LICENCE_CODE = "Authentication_RequestFromNonPremiumTenantOrB2CTenant"

# Accounts with no sign-in for this long count as inactive.
INACTIVE_DAYS = 90


@dataclass(frozen=True)
class KindInfo:
    title: str
    statuses: tuple[str, ...]
    details: tuple[str, ...]  # the CSV columns after the common ones, in order


KINDS: dict[ReportKind, KindInfo] = {
    ReportKind.MFA_REGISTRATION: KindInfo(
        "MFA registration per user (reports/authenticationMethods/userRegistrationDetails)",
        ("registered", "notRegistered", LICENCE_MISSING, NOT_AVAILABLE),
        ("isMfaRegistered", "isMfaCapable", "isAdmin", "isSsprRegistered", "methodsRegistered", "userType"),
    ),
    ReportKind.INACTIVE_USERS: KindInfo(
        f"Sign-in activity per user: inactive after {INACTIVE_DAYS} days without a sign-in",
        ("active", "inactive", "neverSignedIn", LICENCE_MISSING, NOT_AVAILABLE),
        (
            "lastSignInDateTime",
            "lastNonInteractiveSignInDateTime",
            "lastSuccessfulSignInDateTime",
            "accountEnabled",
            "userType",
        ),
    ),
    ReportKind.LICENCES: KindInfo(
        "Licences per tenant and SKU: assigned, available, unassigned, held by disabled accounts",
        ("ok", "unassigned", "overAssigned", NOT_AVAILABLE),
        ("skuId", "skuPartNumber", "assigned", "available", "unassigned", "disabledUsersWithLicence"),
    ),
    ReportKind.PRIVILEGED_ROLES: KindInfo(
        "Holders of directory roles",
        ("globalAdministrator", "otherRole", NOT_AVAILABLE),
        ("roleName", "roleTemplateId", "directoryScopeId"),
    ),
    ReportKind.SECURE_SCORE: KindInfo(
        "Microsoft Secure Score per tenant: the latest and the trend",
        ("low", "medium", "high", NOT_AVAILABLE),
        ("currentScore", "maxScore", "percentage", "createdDateTime", "trend"),
    ),
    ReportKind.GUESTS: KindInfo(
        "Guest users",
        ("enabled", "disabled"),
        ("mail", "accountEnabled"),
    ),
}

"""A deterministic Microsoft 365 tenant generated from its id: users, groups, licences, roles, policies."""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

# Product ids Microsoft publishes for its licence SKUs ("Product names and service plan identifiers
# for licensing"), so a tenant's subscribedSkus look like a real one's.
SKUS: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "05e9a617-0261-4cee-bb44-138d3ef5d965",
        "SPE_E3",
        (("efb87545-963c-4e0d-99df-69c6916d9eb0", "EXCHANGE_S_ENTERPRISE"),),
    ),
    (
        "cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46",
        "SPB",
        (("9aaf7827-d63c-4b61-89c3-182f06f82e5c", "EXCHANGE_S_STANDARD"),),
    ),
    (
        "f245ecc8-75af-4f8e-b61f-27d8114de5f3",
        "O365_BUSINESS_PREMIUM",
        (("9aaf7827-d63c-4b61-89c3-182f06f82e5c", "EXCHANGE_S_STANDARD"),),
    ),
    (
        "078d2b04-f1bd-4111-bbd4-b4b1b354cef4",
        "AAD_PREMIUM",
        (("41781fb2-bc02-4b7c-bd55-b576c07bb09d", "AAD_PREMIUM"),),
    ),
)

# Built-in directory roles: for built-in roles the role definition id is the template id.
ROLES: tuple[tuple[str, str], ...] = (
    ("62e90394-69f5-4237-9190-012177145e10", "Global Administrator"),
    ("fe930be7-5e62-47db-91af-98c3a49a38b1", "User Administrator"),
    ("b0f54661-2d74-4c50-afa3-1ec803f12efe", "Billing Administrator"),
    ("29232cdf-9323-42fd-ade2-1d097af3e4de", "Exchange Administrator"),
    ("f2ef992c-3afb-46b9-b7cf-a126ee74c451", "Global Reader"),
    ("194ae4cb-b126-40b2-bd5b-6091b380977d", "Security Administrator"),
    ("729827e3-9c14-49f7-bb1b-9608f156bbb8", "Helpdesk Administrator"),
)
GLOBAL_ADMIN_TEMPLATE = ROLES[0][0]
SECURITY_DEFAULTS_POLICY_ID = "00000000-0000-0000-0000-000000000005"

_FIRST = [
    "Ada",
    "Alan",
    "Amira",
    "Anna",
    "Ben",
    "Bram",
    "Chloe",
    "Daan",
    "Dana",
    "Elif",
    "Emma",
    "Finn",
    "Freya",
    "Grace",
    "Hugo",
    "Ines",
    "Isaac",
    "Jade",
    "Jan",
    "Julia",
    "Karim",
    "Lars",
    "Lea",
    "Liam",
    "Lina",
    "Lucas",
    "Maya",
    "Milan",
    "Mira",
    "Noah",
    "Nora",
    "Omar",
    "Pia",
    "Quinn",
    "Rosa",
    "Ruben",
    "Sara",
    "Sem",
    "Sofia",
    "Tariq",
    "Tess",
    "Tom",
    "Uma",
    "Vera",
    "Wim",
    "Yara",
    "Yusuf",
    "Zoe",
]
_LAST = [
    "Ahmed",
    "Bakker",
    "Berg",
    "Brown",
    "Clarke",
    "Costa",
    "Dekker",
    "Dubois",
    "Evans",
    "Fischer",
    "Garcia",
    "Hansen",
    "Jansen",
    "Jones",
    "Kaya",
    "Khan",
    "Kowalski",
    "Larsen",
    "Martin",
    "Meijer",
    "Moreau",
    "Murphy",
    "Nguyen",
    "Novak",
    "Olsen",
    "Patel",
    "Peeters",
    "Rossi",
    "Schmidt",
    "Silva",
    "Smit",
    "Taylor",
    "Visser",
    "Wagner",
    "Walsh",
    "Weber",
    "Wilson",
    "Wright",
    "Yilmaz",
    "Zimmermann",
]
_TITLES = ("Engineer", "Analyst", "Consultant", "Manager", "Designer", "Accountant", "Recruiter", None)
_DEPARTMENTS = ("Sales", "Finance", "Engineering", "Operations", "Marketing", "Legal", "Support")
_COUNTRIES = ("NL", "DE", "GB", "FR", "IE", "SE", "BE", "US")
_COMPANY_WORDS = (
    "Northwind",
    "Fabrikam",
    "Contoso",
    "Tailspin",
    "Litware",
    "Adatum",
    "Woodgrove",
    "Proseware",
)

# The user properties a tenant holds, in Graph's names. Graph returns only a default subset unless
# $select asks for more, so this is also the set a $select may name.
USER_PROPERTIES = frozenset(
    {
        "id",
        "displayName",
        "givenName",
        "surname",
        "userPrincipalName",
        "mail",
        "accountEnabled",
        "usageLocation",
        "jobTitle",
        "department",
        "officeLocation",
        "mobilePhone",
        "businessPhones",
        "preferredLanguage",
        "userType",
        "createdDateTime",
        "assignedLicenses",
        "companyName",
        "country",
        "city",
        "employeeId",
        "onPremisesSyncEnabled",
    }
)
USER_DEFAULT_SELECT = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
)
GROUP_PROPERTIES = frozenset(
    {
        "id",
        "displayName",
        "description",
        "mail",
        "mailEnabled",
        "mailNickname",
        "securityEnabled",
        "groupTypes",
        "createdDateTime",
        "visibility",
        "members",
    }
)
GROUP_DEFAULT_SELECT = tuple(sorted(GROUP_PROPERTIES - {"members"}))


def default_authorization_policy() -> dict[str, Any]:
    """v1.0 authorizationPolicy of a new tenant: anyone may invite guests and register apps."""
    return {
        "id": "authorizationPolicy",
        "displayName": "Authorization Policy",
        "description": "Used to manage authorization related settings across the company.",
        "allowInvitesFrom": "everyone",
        "allowedToSignUpEmailBasedSubscriptions": True,
        "allowedToUseSSPR": True,
        "allowEmailVerifiedUsersToJoinOrganization": False,
        "blockMsolPowerShell": False,
        "guestUserRoleId": "10dae51f-b6af-4016-8d66-8c2a99b929b3",
        "defaultUserRolePermissions": {
            "allowedToCreateApps": True,
            "allowedToCreateSecurityGroups": True,
            "allowedToCreateTenants": True,
            "allowedToReadBitlockerKeysForOwnedDevice": True,
            "allowedToReadOtherUsers": True,
            "permissionGrantPoliciesAssigned": [
                "ManagePermissionGrantsForSelf.microsoft-user-default-legacy"
            ],
        },
    }


def default_admin_consent_policy() -> dict[str, Any]:
    """v1.0 adminConsentRequestPolicy of a new tenant: the workflow is off."""
    return {
        "isEnabled": False,
        "notifyReviewers": False,
        "remindersEnabled": False,
        "requestDurationInDays": 0,
        "version": 0,
        "reviewers": [],
    }


def default_authentication_methods_policy() -> dict[str, Any]:
    """v1.0 authenticationMethodsPolicy of a new tenant (the registration campaign Microsoft manages)."""
    return {
        "id": "authenticationMethodsPolicy",
        "displayName": "Authentication Methods Policy",
        "description": "The tenant-wide policy that controls which authentication methods are allowed.",
        "lastModifiedDateTime": "2024-03-01T09:00:00Z",
        "policyVersion": "1.5",
        "policyMigrationState": "preMigration",
        "registrationEnforcement": {
            "authenticationMethodsRegistrationCampaign": {
                "snoozeDurationInDays": 1,
                "enforceRegistrationAfterAllowedSnoozes": True,
                "state": "default",
                "excludeTargets": [],
                "includeTargets": [
                    {
                        "id": "all_users",
                        "targetType": "group",
                        "targetedAuthenticationMethod": "microsoftAuthenticator",
                    }
                ],
            }
        },
        "authenticationMethodConfigurations": [],
    }


def _seeded(tenant_id: str, purpose: str) -> random.Random:
    digest = hashlib.sha256(f"{tenant_id.lower()}:{purpose}".encode()).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))  # noqa: S311 - test data, not secrets


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass
class GeneratedTenant:
    """A tenant's full state as Graph would hold it; the stand-in mutates it in place."""

    tenant_id: str
    organization: dict[str, Any]
    domains: list[dict[str, Any]]
    skus: list[dict[str, Any]]
    users: dict[str, dict[str, Any]]
    groups: dict[str, dict[str, Any]]
    members: dict[str, dict[str, None]]  # group id -> member ids, insertion-ordered
    role_assignments: list[dict[str, Any]]
    ca_policies: list[dict[str, Any]]
    security_defaults: dict[str, Any]
    default_domain: str = ""
    _serial: int = field(default=0, repr=False)
    # Exchange and OneDrive state of users, set by writes only (absent: Exchange's defaults).
    mailbox_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    drive_permissions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # Tenant-wide policies the standards read and remediate, as a new tenant has them in Entra ID.
    authorization_policy: dict[str, Any] = field(default_factory=default_authorization_policy)
    admin_consent_policy: dict[str, Any] = field(default_factory=default_admin_consent_policy)
    authentication_methods_policy: dict[str, Any] = field(
        default_factory=default_authentication_methods_policy
    )

    def has_mailbox(self, user: dict[str, Any]) -> bool:
        """A licence with an Exchange Online plan gives the user a mailbox (and a OneDrive)."""
        plans = {sku["skuId"]: [p["servicePlanName"] for p in sku["servicePlans"]] for sku in self.skus}
        return any(
            name.startswith("EXCHANGE_S_")
            for licence in user["assignedLicenses"]
            for name in plans.get(licence["skuId"], [])
        )

    def drive_id(self, user_id: str) -> str:
        """OneDrive ids are opaque `b!...` strings; this one is stable per user."""
        digest = hashlib.sha256(f"{self.tenant_id}:drive:{user_id}".encode()).hexdigest()
        return f"b!{digest[:40]}"

    def new_user(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """A further user, still deterministic: the n-th added user of a tenant is always the same."""
        self._serial += 1
        rng = _seeded(self.tenant_id, f"added-user-{self._serial}")
        # A separate index range keeps added users' UPNs apart from the generated ones.
        user = _make_user(rng, 10_000_000 + self._serial, self.default_domain, [])
        user.update(overrides or {})
        return user


def _make_user(rng: random.Random, index: int, domain: str, skus: list[dict[str, Any]]) -> dict[str, Any]:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    upn = f"{first}.{last}.{index}@{domain}".lower()
    country = rng.choice(_COUNTRIES)
    has_location = rng.random() < 0.97
    licences = []
    if skus and has_location and rng.random() < 0.85:
        licences.append({"disabledPlans": [], "skuId": rng.choice(skus[:3])["skuId"]})
    created = datetime(2019, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(3_000_000))
    return {
        "id": _uuid(rng),
        "displayName": f"{first} {last}",
        "givenName": first,
        "surname": last,
        "userPrincipalName": upn,
        "mail": upn,
        "accountEnabled": rng.random() < 0.95,
        "usageLocation": country if has_location else None,
        "jobTitle": rng.choice(_TITLES),
        "department": rng.choice(_DEPARTMENTS),
        "officeLocation": None,
        "mobilePhone": None,
        "businessPhones": [],
        "preferredLanguage": "en-GB",
        "userType": "Member",
        "createdDateTime": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "assignedLicenses": licences,
        "companyName": None,
        "country": country,
        "city": None,
        "employeeId": None,
        "onPremisesSyncEnabled": None,
    }


def organization_name(tenant_id: str) -> str:
    """The organisation name `generate_tenant` gives this id, without generating its users."""
    word = _seeded(tenant_id, "tenant").choice(_COMPANY_WORDS)  # generate_tenant's first draw
    return f"{word} {tenant_id[:4].upper()} Ltd"


def generate_tenant(tenant_id: str, user_count: int = 1000) -> GeneratedTenant:
    """The same id and size always give the same tenant, so a test or a demo can rely on it."""
    rng = _seeded(tenant_id, "tenant")
    word = rng.choice(_COMPANY_WORDS)
    slug = f"{word.lower()}{tenant_id.replace('-', '')[:6].lower()}"
    initial_domain = f"{slug}.onmicrosoft.com"
    custom_domain = f"{slug}.example"
    country = rng.choice(_COUNTRIES)
    created = datetime(2015, 1, 1, tzinfo=UTC) + timedelta(days=rng.randrange(3000))

    skus = []
    for sku_id, part, plans in [*rng.sample(SKUS[:3], 2), SKUS[3]]:
        skus.append(
            {
                "id": f"{tenant_id}_{sku_id}",
                "skuId": sku_id,
                "skuPartNumber": part,
                "appliesTo": "User",
                "capabilityStatus": "Enabled",
                "prepaidUnits": {
                    "enabled": max(5, int(user_count * rng.uniform(0.6, 1.1))),
                    "suspended": 0,
                    "warning": 0,
                    "lockedOut": 0,
                },
                "servicePlans": [
                    {
                        "servicePlanId": plan_id,
                        "servicePlanName": name,
                        "provisioningStatus": "Success",
                        "appliesTo": "User",
                    }
                    for plan_id, name in plans
                ],
            }
        )

    user_rng = _seeded(tenant_id, "users")
    users: dict[str, dict[str, Any]] = {}
    for index in range(user_count):
        user = _make_user(user_rng, index, custom_domain, skus[:2])
        users[user["id"]] = user
    user_ids = list(users)

    group_rng = _seeded(tenant_id, "groups")
    groups: dict[str, dict[str, Any]] = {}
    members: dict[str, dict[str, None]] = {}
    for index in range(min(200, max(3, user_count // 50))):
        department = _DEPARTMENTS[index % len(_DEPARTMENTS)]
        unified = index % 3 == 0
        nickname = f"{department.lower()}-{index}"
        group_id = _uuid(group_rng)
        group: dict[str, Any] = {
            "id": group_id,
            "displayName": f"{department} team {index}",
            "description": f"Everyone working in {department.lower()} ({index})",
            "mail": f"{nickname}@{custom_domain}" if unified else None,
            "mailEnabled": unified,
            "mailNickname": nickname,
            "securityEnabled": not unified,
            "groupTypes": ["Unified"] if unified else [],
            "createdDateTime": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "visibility": "Private" if unified else None,
        }
        groups[group_id] = group
        size = min(len(user_ids), group_rng.randrange(2, 40))
        members[group_id] = dict.fromkeys(group_rng.sample(user_ids, size))

    role_rng = _seeded(tenant_id, "roles")
    assignments = []
    admins = user_ids[: min(len(user_ids), 6)]
    for position, principal in enumerate(admins):
        template = ROLES[0][0] if position < 2 else role_rng.choice(ROLES[1:])[0]
        assignments.append(
            {
                "id": _uuid(role_rng),
                "principalId": principal,
                "roleDefinitionId": template,
                "directoryScopeId": "/",
            }
        )

    policy_rng = _seeded(tenant_id, "policies")
    uses_ca = policy_rng.random() < 0.6
    ca_policies = _ca_policies(policy_rng) if uses_ca else []

    tenant = GeneratedTenant(
        tenant_id=tenant_id,
        organization={
            "id": tenant_id,
            "displayName": f"{word} {tenant_id[:4].upper()} Ltd",
            "countryLetterCode": country,
            "preferredLanguage": "en",
            "tenantType": "AAD",
            "createdDateTime": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "verifiedDomains": [
                {"name": initial_domain, "type": "Managed", "isDefault": False, "isInitial": True},
                {"name": custom_domain, "type": "Managed", "isDefault": True, "isInitial": False},
            ],
        },
        domains=[
            {
                "id": initial_domain,
                "authenticationType": "Managed",
                "isDefault": False,
                "isInitial": True,
                "isVerified": True,
                "passwordNotificationWindowInDays": 14,
                "passwordValidityPeriodInDays": 2147483647,
                "supportedServices": ["Email", "OfficeCommunicationsOnline"],
            },
            {
                "id": custom_domain,
                "authenticationType": "Managed",
                "isDefault": True,
                "isInitial": False,
                "isVerified": True,
                "passwordNotificationWindowInDays": 14,
                "passwordValidityPeriodInDays": 2147483647,
                "supportedServices": ["Email"],
            },
        ],
        skus=skus,
        users=users,
        groups=groups,
        members=members,
        role_assignments=assignments,
        ca_policies=ca_policies,
        security_defaults={
            "id": SECURITY_DEFAULTS_POLICY_ID,
            "displayName": "Security Defaults",
            "description": "Security defaults is a set of basic identity security mechanisms recommended by "
            "Microsoft.",
            # Entra ID refuses security defaults while conditional access policies are enabled.
            "isEnabled": not uses_ca,
        },
        default_domain=custom_domain,
    )
    return tenant


def _ca_policies(rng: random.Random) -> list[dict[str, Any]]:
    stamp = "2024-03-01T09:00:00Z"

    def policy(name: str, state: str, conditions: dict[str, Any], grant: list[str]) -> dict[str, Any]:
        return {
            "id": _uuid(rng),
            "displayName": name,
            "state": state,
            "createdDateTime": stamp,
            "modifiedDateTime": stamp,
            "conditions": {
                "clientAppTypes": ["all"],
                "applications": {"includeApplications": ["All"], "excludeApplications": []},
                **conditions,
            },
            "grantControls": {"operator": "OR", "builtInControls": grant},
            "sessionControls": None,
        }

    return [
        policy(
            "Require MFA for administrators",
            "enabled",
            {"users": {"includeRoles": [r for r, _ in ROLES[:4]], "excludeUsers": []}},
            ["mfa"],
        ),
        policy(
            "Block legacy authentication",
            "enabled",
            {
                "users": {"includeUsers": ["All"], "excludeUsers": []},
                "clientAppTypes": ["exchangeActiveSync", "other"],
            },
            ["block"],
        ),
        policy(
            "Require MFA for all users",
            "enabledForReportingButNotEnforced",
            {"users": {"includeUsers": ["All"], "excludeUsers": []}},
            ["mfa"],
        ),
    ]

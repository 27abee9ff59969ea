"""What partner apps send and receive about partners, personnel, API keys and tenant groups."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar
from uuid import UUID

from pydantic import AfterValidator, Field, StringConstraints, WithJsonSchema, field_validator

from shared.access.principals import Role, Scope
from shared.models import ApiInput, ApiModel, UtcDateTime
from shared.partners.subscription import BillingCycle, Subscription, SubscriptionState, TerminationChoice

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$")


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError("must be an email address")
    return value.lower()


Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=320),
    AfterValidator(_email),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": 320}),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
GroupName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,62}$")]


class Contact(ApiInput):
    name: Name
    email: Email


class SubscriptionIn(ApiInput):
    plan: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    tenant_limit: int = Field(ge=1, le=100_000)
    billing_cycle: BillingCycle
    trial_days: int | None = Field(default=None, ge=1, le=90)


class OwnerIn(ApiInput):
    """The partner's first owner, so someone at the partner can sign in from day one."""

    object_id: UUID
    email: Email
    display_name: Name | None = None


class PartnerIn(ApiInput):
    display_name: Name
    region: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    entra_tenant_id: UUID
    contact: Contact
    subscription: SubscriptionIn
    owner: OwnerIn | None = None


class SubscriptionOut(Subscription):
    read_only: bool


class ContactOut(ApiModel):
    name: str
    email: str


class PartnerOut(ApiModel):
    id: str
    display_name: str
    region: str
    entra_tenant_id: str
    contact: ContactOut
    subscription: SubscriptionOut
    created_at: UtcDateTime


# --- administration fields (what an invoice needs; kept as the administration records are) -------

# VAT numbers by country prefix, as the EU's VIES checks them (Greece is EL, Northern Ireland XI),
# plus the UK, Switzerland and Norway; spaces, dots and dashes are dropped before the check.
_VAT_FORMATS: dict[str, str] = {
    "AT": r"U\d{8}",
    "BE": r"[01]\d{9}",
    "BG": r"\d{9,10}",
    "CY": r"\d{8}[A-Z]",
    "CZ": r"\d{8,10}",
    "DE": r"\d{9}",
    "DK": r"\d{8}",
    "EE": r"\d{9}",
    "EL": r"\d{9}",
    "ES": r"[A-Z0-9]\d{7}[A-Z0-9]",
    "FI": r"\d{8}",
    "FR": r"[A-HJ-NP-Z0-9]{2}\d{9}",
    "HR": r"\d{11}",
    "HU": r"\d{8}",
    "IE": r"\d{7}[A-W][A-I]?|\d[A-Z+*]\d{5}[A-W]",
    "IT": r"\d{11}",
    "LT": r"\d{9}|\d{12}",
    "LU": r"\d{8}",
    "LV": r"\d{11}",
    "MT": r"\d{8}",
    "NL": r"\d{9}B\d{2}",
    "PL": r"\d{10}",
    "PT": r"\d{9}",
    "RO": r"\d{2,10}",
    "SE": r"\d{12}",
    "SI": r"\d{8}",
    "SK": r"\d{10}",
    "XI": r"\d{9}|\d{12}|GD\d{3}|HA\d{3}",
    "GB": r"\d{9}|\d{12}|GD\d{3}|HA\d{3}",
    "CH": r"E\d{9}(?:MWST|TVA|IVA)?",
    "NO": r"\d{9}(?:MVA)?",
}


def vat_number(value: str) -> str:
    """The VAT number without separators, upper case, checked against its country's format."""
    compact = re.sub(r"[\s.\-]", "", value).upper()
    country, rest = compact[:2], compact[2:]
    pattern = _VAT_FORMATS.get(country)
    if pattern is None:
        raise ValueError("must start with a known country prefix, e.g. NL, DE, BE, EL, GB, CH, NO")
    if not re.fullmatch(pattern, rest):
        raise ValueError(f"is not a valid {country} VAT number")
    return compact


VatNumber = Annotated[
    str,
    StringConstraints(max_length=32),
    AfterValidator(vat_number),
    WithJsonSchema(
        {"type": "string", "maxLength": 32, "description": "With its country prefix, e.g. NL123456789B01."}
    ),
]
AddressLine = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
CocNumber = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ./\-]{0,31}$")
]


class Address(ApiInput):
    line1: AddressLine
    line2: AddressLine | None = None
    postal_code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16)]
    city: AddressLine
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = Field(
        description="ISO 3166-1 alpha-2 code, e.g. NL."
    )


class Administration(ApiModel):
    """The partner's administration fields as stored on the partner record (and read by invoicing)."""

    legal_name: str | None = None
    address: Address | None = None
    chamber_of_commerce_number: str | None = None
    vat_number: str | None = None
    billing_email: str | None = None


class AdministrationPatch(ApiInput):
    """A merge: a field given replaces the stored one, `null` clears it, a field left out stays."""

    legal_name: AddressLine | None = Field(
        default=None, description="The name invoices address (the display name when absent)."
    )
    address: Address | None = None
    chamber_of_commerce_number: CocNumber | None = None
    vat_number: VatNumber | None = None
    billing_email: Email | None = None


class SubscriptionChangeIn(ApiInput):
    plan: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] | None = None
    tenant_limit: int | None = Field(default=None, ge=1, le=100_000)


class PlanChangeIn(ApiInput):
    """A partner's own change: a dearer plan applies at once, anything else from the next cycle."""

    plan: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")] | None = None
    billing_cycle: BillingCycle | None = None


class UnsubscribeIn(ApiInput):
    """The partner's choice for its data; an empty body (as before the choice existed) is `delete`."""

    body_optional: ClassVar[bool] = True

    choice: TerminationChoice = TerminationChoice.DELETE


class SubscriptionStateIn(ApiInput):
    state: SubscriptionState


class TenantScopeIn(ApiInput):
    """Limits a person or key to these tenants (by Entra tenant id) and tenant groups."""

    tenant_ids: list[UUID] = Field(default_factory=list, max_length=1000)
    groups: list[GroupName] = Field(default_factory=list, max_length=100)


class TenantScopeOut(ApiModel):
    tenant_ids: list[str]
    groups: list[str]


class PersonnelStatus(StrEnum):
    ACTIVE = "active"
    DEACTIVATED = "deactivated"


class PersonnelIn(ApiInput):
    object_id: UUID
    email: Email
    display_name: Name | None = None
    role: Role
    tenant_scope: TenantScopeIn | None = None


class PersonnelPatch(ApiInput):
    role: Role | None = None
    status: PersonnelStatus | None = None
    display_name: Name | None = None
    tenant_scope: TenantScopeIn | None = None


class PersonnelOut(ApiModel):
    id: str
    object_id: str
    email: str
    display_name: str | None
    role: Role
    status: PersonnelStatus
    tenant_scope: TenantScopeOut | None
    created_at: UtcDateTime
    updated_at: UtcDateTime


class PersonnelList(ApiModel):
    items: list[PersonnelOut]
    continuation_token: str | None = None


class ApiKeyIn(ApiInput):
    name: Name
    scopes: list[Scope] = Field(min_length=1)
    expires_at: datetime | None = None
    tenant_scope: TenantScopeIn | None = None

    @field_validator("scopes")
    @classmethod
    def _key_scopes(cls, scopes: list[Scope]) -> list[Scope]:
        if Scope.MANAGE_ACCESS in scopes:
            raise ValueError("API keys cannot manage access; use a person with the owner or admin role")
        return sorted(set(scopes))

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must include a timezone, e.g. 2027-01-01T00:00:00Z")
        return value


class ApiKeyOut(ApiModel):
    id: str
    name: str
    scopes: list[Scope]
    expires_at: UtcDateTime | None
    created_at: UtcDateTime
    rotated_at: UtcDateTime | None
    revoked_at: UtcDateTime | None
    tenant_scope: TenantScopeOut | None
    previous_key_valid_until: UtcDateTime | None = Field(
        default=None,
        description="When the secret replaced by the last rotation stops (or stopped) working; "
        "null when it stopped at once.",
    )


class ApiKeyRotateIn(ApiInput):
    """An empty body (as before the overlap existed) keeps the old secret working for 24 hours."""

    body_optional: ClassVar[bool] = True

    overlap_hours: int = Field(
        default=24,
        ge=0,
        le=168,
        description="How long the replaced secret keeps working, so callers can switch without a "
        "failed call; 0 ends it at once (a leaked key).",
    )


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The secret. Shown once; we keep only a hash.")


class ApiKeyList(ApiModel):
    items: list[ApiKeyOut]
    continuation_token: str | None = None


class TenantGroupIn(ApiInput):
    tenant_ids: list[UUID] = Field(max_length=5000)


class TenantGroupOut(ApiModel):
    name: str
    tenant_ids: list[str]


class TenantGroupList(ApiModel):
    items: list[TenantGroupOut]
    continuation_token: str | None = None


class MembershipOut(ApiModel):
    """One partner the signed-in person works for, and what they may do there."""

    partner_id: str
    partner_display_name: str
    region: str
    personnel_id: str
    role: Role
    tenant_scope: TenantScopeOut | None


class MeOut(ApiModel):
    """Who the token names, and every partner of its Entra tenant that has them as active personnel."""

    object_id: str
    tenant_id: str
    display_name: str | None
    memberships: list[MembershipOut]

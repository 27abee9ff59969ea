"""What partner apps send and receive about partners, personnel, API keys and tenant groups."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, Field, StringConstraints, WithJsonSchema, field_validator

from shared.access.principals import Role, Scope
from shared.models import ApiInput, ApiModel, UtcDateTime
from shared.partners.subscription import BillingCycle, Subscription, SubscriptionState

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


class SubscriptionChangeIn(ApiInput):
    plan: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] | None = None
    tenant_limit: int | None = Field(default=None, ge=1, le=100_000)


class PlanChangeIn(ApiInput):
    """A partner's own change: a dearer plan applies at once, anything else from the next cycle."""

    plan: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")] | None = None
    billing_cycle: BillingCycle | None = None


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

"""The callers Tenantry knows, and the permissions their roles and scopes grant."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    OPERATOR = "operator"
    PRIVACY_OFFICER = "privacyOfficer"
    VIEWER = "viewer"


class Scope(StrEnum):
    """What an API key may do; a person's role maps onto the same words."""

    READ = "read"
    WRITE = "write"
    NOTIFY = "notify"
    PRIVACY = "privacy"
    MANAGE_ACCESS = "manageAccess"  # personnel and API keys: owners and admins only, never a key


ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.OWNER: frozenset(Scope),
    Role.ADMIN: frozenset(Scope),
    Role.OPERATOR: frozenset({Scope.READ, Scope.WRITE, Scope.NOTIFY}),
    Role.PRIVACY_OFFICER: frozenset({Scope.READ, Scope.PRIVACY}),
    Role.VIEWER: frozenset({Scope.READ}),
}

API_KEY_SCOPES = frozenset({Scope.READ, Scope.WRITE, Scope.NOTIFY, Scope.PRIVACY})


@dataclass(frozen=True)
class TenantScope:
    """The tenants a person or key may see: None means every tenant of the partner."""

    tenant_ids: frozenset[str] = field(default_factory=frozenset)
    groups: frozenset[str] = field(default_factory=frozenset)

    def allows(self, tenant_id: str, group_members: dict[str, frozenset[str]]) -> bool:
        if tenant_id.lower() in self.tenant_ids:
            return True
        return any(tenant_id.lower() in group_members.get(group, frozenset()) for group in self.groups)


@dataclass(frozen=True)
class Actor:
    """Who did something, as the audit log records it (never a secret)."""

    type: str  # personnel | apiKey | operator | system
    id: str
    display: str | None = None


# The static OPERATOR_API_KEY names nobody: the audit log says so, and every use is logged loudly.
BREAK_GLASS = Actor("operator", "break-glass", "break-glass key")


@dataclass(frozen=True)
class OperatorCaller:
    """The platform operator: a person (or app) holding the operator role, or the break-glass key."""

    actor: Actor

    @property
    def break_glass(self) -> bool:
        return self.actor == BREAK_GLASS


@dataclass(frozen=True)
class PartnerCaller:
    """A person or API key of one partner, with what it may do and which tenants it may see."""

    partner_id: str
    actor: Actor
    scopes: frozenset[Scope]
    tenant_scope: TenantScope | None  # None: all tenants


Caller = OperatorCaller | PartnerCaller
SYSTEM = Actor("system", "timer")

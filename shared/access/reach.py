"""How far a caller reaches among its partner's tenants: the one check every scoped read and grant uses."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from shared.access.principals import Caller, PartnerCaller, TenantScope

# The permission a scoped caller lacks when something needs every tenant of the partner: unscoped
# grants, tenant-group edits, partner-wide counts.
ALL_TENANTS = "allTenants"


def tenant_permission(tenant_id: str) -> str:
    return f"tenant:{tenant_id.lower()}"


def group_permission(name: str) -> str:
    return f"tenantGroup:{name}"


@dataclass(frozen=True)
class TenantReach:
    """The tenants one caller may see and hand on, fixed for one request.

    `tenant_ids` None means every tenant of the partner (the operator, unscoped people and keys);
    otherwise it is the caller's own tenant ids plus the members of its groups as read for this
    request. `groups` holds every group's members as read then (empty for an unlimited reach, which
    never needs them).
    """

    tenant_ids: frozenset[str] | None = None
    groups: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, caller: Caller, group_members: Callable[[], Mapping[str, frozenset[str]]]) -> TenantReach:
        """Reads the groups only for a scoped caller: unscoped calls cost no storage read."""
        if not isinstance(caller, PartnerCaller) or caller.tenant_scope is None:
            return cls()
        members = dict(group_members())
        scope = caller.tenant_scope
        ids = set(scope.tenant_ids)
        for group in scope.groups:
            ids |= members.get(group, frozenset())
        return cls(frozenset(t.lower() for t in ids), members)

    @property
    def unlimited(self) -> bool:
        return self.tenant_ids is None

    def allows(self, tenant_id: str | None) -> bool:
        """May the caller see this tenant? Things that name no tenant are for unlimited callers only."""
        if self.tenant_ids is None:
            return True
        return tenant_id is not None and tenant_id.lower() in self.tenant_ids

    def sees_group(self, name: str) -> bool:
        """A scoped caller sees a group only when it exists and every member is within its reach."""
        if self.tenant_ids is None:
            return True
        members = self.groups.get(name)
        return members is not None and all(self.allows(t) for t in members)

    def group_view(self, name: str) -> frozenset[str] | None:
        """A group's members as this caller may see them (None: not visible)."""
        if not self.sees_group(name):
            return None
        return self.groups.get(name, frozenset())

    def covers(self, scope: TenantScope | None) -> bool:
        """Is everything `scope` reaches within this caller's reach? (None: every tenant.)"""
        return self.grant_refusal(scope, existing_groups_only=False) is None

    def grant_refusal(self, scope: TenantScope | None, *, existing_groups_only: bool = True) -> str | None:
        """The permission this caller lacks to hand on `scope`, or None when it may.

        A scoped caller may name only tenants within its reach and groups it can see (existing,
        every member within reach), and can never hand on an unscoped reach.
        """
        if self.tenant_ids is None:
            return None
        if scope is None:
            return ALL_TENANTS
        for tenant_id in sorted(scope.tenant_ids):
            if not self.allows(tenant_id):
                return tenant_permission(tenant_id)
        for name in sorted(scope.groups):
            missing = name not in self.groups
            if (missing and existing_groups_only) or not all(
                self.allows(t) for t in self.groups.get(name, frozenset())
            ):
                return group_permission(name)
        return None

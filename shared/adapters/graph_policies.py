"""Tenant-wide policies in Graph (the standards' settings), read and changed through msgraph-sdk."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shared.adapters.graph import (
    CONDITIONAL_ACCESS_PACER,
    GraphForbiddenError,
    GraphNotFoundError,
    GraphWriter,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Collection

# Sections of TenantPolicies, as the standards' settings name them.
SECURITY_DEFAULTS = "securityDefaults"
CONDITIONAL_ACCESS = "conditionalAccessPolicies"
AUTHORIZATION = "authorizationPolicy"
ADMIN_CONSENT = "adminConsentRequestPolicy"
AUTH_METHODS = "authenticationMethodsPolicy"
DOMAINS = "domains"


@dataclass
class TenantPolicies:
    """What the standards compare, in Graph's wire names; `unavailable`: section -> Graph's error code."""

    sections: dict[str, Any] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)


def _value(enum_or_text: Any) -> Any:
    return getattr(enum_or_text, "value", enum_or_text)


class PolicyClient:
    """One tenant's policies; every call goes through the tenant's `GraphWriter` (its client and errors)."""

    def __init__(self, writer: GraphWriter) -> None:
        self.writer = writer

    # --- reads ---

    async def get_policies(self, sections: Collection[str] | None = None) -> TenantPolicies:
        """The named sections (all when None), each read once."""
        found = TenantPolicies()
        reads: dict[str, Callable[[], Awaitable[Any]]] = {
            SECURITY_DEFAULTS: self._security_defaults,
            CONDITIONAL_ACCESS: self._conditional_access,
            AUTHORIZATION: self._authorization,
            ADMIN_CONSENT: self._admin_consent,
            AUTH_METHODS: self._auth_methods,
            DOMAINS: self._domains,
        }
        for name, read in reads.items():
            if sections is not None and name not in sections:
                continue
            try:
                found.sections[name] = await read()
            except (GraphForbiddenError, GraphNotFoundError) as error:
                # One policy Graph refuses (no Entra ID P1 for conditional access) costs only itself.
                found.unavailable[name] = error.code
        return found

    async def _security_defaults(self) -> dict[str, Any]:
        client = self.writer.client()
        policy = await self.writer._call(client.policies.identity_security_defaults_enforcement_policy.get())
        return {"isEnabled": bool(policy.is_enabled)}

    async def _conditional_access(self) -> list[dict[str, Any]]:
        client = self.writer.client()
        # Conditional access takes one request a second per tenant and sends no Retry-After.
        with CONDITIONAL_ACCESS_PACER.slot(self.writer.tenant_id):
            page = await self.writer._call(client.identity.conditional_access.policies.get())
        return [
            {"id": str(p.id), "displayName": p.display_name, "state": _value(p.state)}
            for p in getattr(page, "value", None) or []
        ]

    async def _authorization(self) -> dict[str, Any]:
        client = self.writer.client()
        policy = await self.writer._call(client.policies.authorization_policy.get())
        permissions = policy.default_user_role_permissions
        return {
            "allowInvitesFrom": _value(policy.allow_invites_from),
            "allowedToCreateApps": getattr(permissions, "allowed_to_create_apps", None),
        }

    async def _admin_consent(self) -> dict[str, Any]:
        client = self.writer.client()
        policy = await self.writer._call(client.policies.admin_consent_request_policy.get())
        return {"isEnabled": bool(policy.is_enabled), "reviewers": len(policy.reviewers or [])}

    async def _auth_methods(self) -> dict[str, Any]:
        client = self.writer.client()
        policy = await self.writer._call(client.policies.authentication_methods_policy.get())
        campaign = getattr(
            policy.registration_enforcement, "authentication_methods_registration_campaign", None
        )
        return {"registrationCampaignState": _value(getattr(campaign, "state", None))}

    async def _domains(self) -> list[dict[str, Any]]:
        client = self.writer.client()
        page = await self.writer._call(client.domains.get())
        return [
            {
                "id": str(d.id),
                "isVerified": bool(d.is_verified),
                "authenticationType": d.authentication_type,
                "passwordValidityPeriodInDays": d.password_validity_period_in_days,
            }
            for d in getattr(page, "value", None) or []
        ]

    # --- writes ---

    async def update_security_defaults(self, enabled: bool) -> None:
        await self.writer.set_security_defaults(enabled)

    async def create_conditional_access_policy(self, template: dict[str, Any], *, state: str) -> str:
        """A policy from a template in Graph's wire names (users, applications, clientAppTypes, grant)."""
        from msgraph.generated.models.conditional_access_applications import ConditionalAccessApplications
        from msgraph.generated.models.conditional_access_client_app import ConditionalAccessClientApp
        from msgraph.generated.models.conditional_access_condition_set import ConditionalAccessConditionSet
        from msgraph.generated.models.conditional_access_grant_control import ConditionalAccessGrantControl
        from msgraph.generated.models.conditional_access_grant_controls import ConditionalAccessGrantControls
        from msgraph.generated.models.conditional_access_policy import ConditionalAccessPolicy
        from msgraph.generated.models.conditional_access_policy_state import ConditionalAccessPolicyState
        from msgraph.generated.models.conditional_access_users import ConditionalAccessUsers

        users = template["users"]
        body = ConditionalAccessPolicy(
            display_name=template["displayName"],
            state=ConditionalAccessPolicyState(state),
            conditions=ConditionalAccessConditionSet(
                users=ConditionalAccessUsers(
                    include_users=list(users.get("includeUsers", [])),
                    include_roles=list(users.get("includeRoles", [])),
                    exclude_users=list(users.get("excludeUsers", [])),
                ),
                applications=ConditionalAccessApplications(include_applications=["All"]),
                client_app_types=[ConditionalAccessClientApp(c) for c in template["clientAppTypes"]],
            ),
            grant_controls=ConditionalAccessGrantControls(
                operator="OR",
                built_in_controls=[ConditionalAccessGrantControl(c) for c in template["builtInControls"]],
            ),
        )
        created = await self.writer._call(
            self.writer.client().identity.conditional_access.policies.post(body)
        )
        return str(created.id)

    async def update_conditional_access_state(self, policy_id: str, state: str) -> None:
        from msgraph.generated.models.conditional_access_policy import ConditionalAccessPolicy
        from msgraph.generated.models.conditional_access_policy_state import ConditionalAccessPolicyState

        body = ConditionalAccessPolicy(state=ConditionalAccessPolicyState(state))
        policies = self.writer.client().identity.conditional_access.policies
        await self.writer._call(policies.by_conditional_access_policy_id(policy_id).patch(body))

    async def update_authorization_policy(
        self, *, allowed_to_create_apps: bool | None = None, allow_invites_from: str | None = None
    ) -> None:
        from msgraph.generated.models.allow_invites_from import AllowInvitesFrom
        from msgraph.generated.models.authorization_policy import AuthorizationPolicy
        from msgraph.generated.models.default_user_role_permissions import DefaultUserRolePermissions

        body = AuthorizationPolicy()
        if allowed_to_create_apps is not None:
            body.default_user_role_permissions = DefaultUserRolePermissions(
                allowed_to_create_apps=allowed_to_create_apps
            )
        if allow_invites_from is not None:
            body.allow_invites_from = AllowInvitesFrom(allow_invites_from)
        await self.writer._call(self.writer.client().policies.authorization_policy.patch(body))

    async def update_admin_consent_policy(self, *, enabled: bool, reviewer_query: str) -> None:
        from msgraph.generated.models.access_review_reviewer_scope import AccessReviewReviewerScope
        from msgraph.generated.models.admin_consent_request_policy import AdminConsentRequestPolicy

        body = AdminConsentRequestPolicy(
            is_enabled=enabled,
            notify_reviewers=enabled,
            reminders_enabled=enabled,
            request_duration_in_days=30 if enabled else 0,
            reviewers=[AccessReviewReviewerScope(query=reviewer_query, query_type="MicrosoftGraph")]
            if enabled
            else [],
        )
        await self.writer._call(self.writer.client().policies.admin_consent_request_policy.patch(body))

    async def update_registration_campaign(self, state: str) -> None:
        from msgraph.generated.models.advanced_config_state import AdvancedConfigState
        from msgraph.generated.models.authentication_methods_policy import AuthenticationMethodsPolicy
        from msgraph.generated.models.authentication_methods_registration_campaign import (
            AuthenticationMethodsRegistrationCampaign,
        )
        from msgraph.generated.models.registration_enforcement import RegistrationEnforcement

        body = AuthenticationMethodsPolicy(
            registration_enforcement=RegistrationEnforcement(
                authentication_methods_registration_campaign=AuthenticationMethodsRegistrationCampaign(
                    state=AdvancedConfigState(state)
                )
            )
        )
        await self.writer._call(self.writer.client().policies.authentication_methods_policy.patch(body))

    async def update_password_validity(self, domain_id: str, days: int) -> None:
        from msgraph.generated.models.domain import Domain

        body = Domain(password_validity_period_in_days=days)
        await self.writer._call(self.writer.client().domains.by_domain_id(domain_id).patch(body))

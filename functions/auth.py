"""Authenticators endpoints declare: who may call, with which scope, and whether it writes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from functions import deps
from functions.http import Call
from shared.access.principals import Caller, PartnerCaller, Scope
from shared.access.reach import ALL_TENANTS, TenantReach
from shared.audit.context import ActionContext
from shared.audit.ip import anonymise_ip, client_address
from shared.errors import ProblemError, forbidden
from shared.partners import subscription as subs
from shared.partners.access import AccessService
from shared.partners.authenticate import Credentials
from shared.partners.me import SignedIn
from shared.partners.service import Partner
from shared.storage.router import AccountStorage
from shared.usage import Unit

# OpenAPI security schemes (shared/openapi.py): a partner's API key or person's token; the
# operator's token (app role) or the break-glass key. Endpoints get them from their authenticator.
PARTNER_SECURITY = ("apiKey", "bearer")
OPERATOR_SECURITY = ("operatorToken", "breakGlassKey")


@dataclass(frozen=True)
class Declared:
    """An authenticator with the security schemes it accepts, so the OpenAPI document says who may call."""

    authenticate: Callable[[Call], Any]
    security: tuple[str, ...]
    # A write this authenticator lets through while the subscription is read-only (see partner_access).
    allowed_when_read_only: bool = False
    # The permission a partner's person or key needs (partner_access); None where no partner scope applies.
    scope: Scope | None = None

    def __call__(self, call: Call) -> Any:
        return self.authenticate(call)


def credentials_of(call: Call) -> Credentials:
    # A header that is there counts as a credential even when empty or of another scheme, and fails
    # as one: it must never be ignored beside another credential that would let the request through.
    headers = call.request.headers
    authorization = headers.get("authorization")
    bearer = None
    if authorization is not None:
        scheme, _, token = authorization.strip().partition(" ")
        bearer = token.strip() if scheme.lower() == "bearer" else authorization.strip()
    used_on = f"{call.request.method} {urlsplit(call.request.url).path}"
    return Credentials(api_key=headers.get("x-api-key"), bearer=bearer, used_on=used_on)


def client_network(call: Call) -> str | None:
    """The caller's anonymised network, for audit events and rate limits alike: the address the
    trusted hops saw (`TENANTRY_TRUSTED_PROXIES`), never one the client wrote into the header."""
    forwarded_for = call.header("x-forwarded-for")
    return anonymise_ip(client_address(forwarded_for, trusted_proxies=deps.settings().trusted_proxies))


def action_context(call: Call, caller: Caller) -> ActionContext:
    return ActionContext(caller.actor, call.request_id, client_network(call))


def _signed_in(call: Call) -> SignedIn:
    return deps.authenticator().signed_in(credentials_of(call))


# Routes about the caller itself (`GET /api/me`): any person's genuine token, of any partner or of
# none, and the operator's token (a bearer token too, so it shares the scheme); never an API key.
signed_in_person = Declared(_signed_in, ("bearer",))


@dataclass(frozen=True)
class PartnerContext:
    """What a partner-scoped handler works with: the caller, the partner, its region's storage."""

    caller: Caller
    partner: Partner
    account: AccountStorage
    action: ActionContext

    def access(self) -> AccessService:
        return AccessService(self.account, self.partner.id, deps.clock(), deps.key_ring(deps.settings()))

    @cached_property
    def reach(self) -> TenantReach:
        """The tenants the caller reaches, read once per request (group members only when scoped)."""
        return TenantReach.of(self.caller, lambda: self.access().list_group_members())


def _operator_only(call: Call) -> ActionContext:
    return action_context(call, deps.authenticator().operator(credentials_of(call)))


# Operator-only endpoints: the principal is the operator's ActionContext (the audit log names the person).
operator_only = Declared(_operator_only, OPERATOR_SECURITY)


def _operator_on_partner(call: Call) -> PartnerContext:
    caller = deps.authenticator().operator(credentials_of(call))
    partner = deps.partners().get(call.route.get("partnerId", ""))
    account = deps.storage().region(partner.region)
    return PartnerContext(caller, partner, account, action_context(call, caller))


# Operator-only calls about one partner (its subscription): the partner must exist.
operator_on_partner = Declared(_operator_on_partner, OPERATOR_SECURITY)


# Methods that change nothing: allowed whatever the subscription's state.
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


def partner_access(
    scope: Scope, *, allowed_when_read_only: bool = False, operator: bool = False, every_tenant: bool = False
) -> Declared:
    """Partner-scoped endpoints: the partner's people and keys with `scope`; the operator only if `operator`.

    `every_tenant`: the route changes something for the whole partner (a setting every tenant
    follows, a new tenant, the partner's own Entra tenant), so a person or key limited to some
    tenants is refused (403, missing permission `allTenants`) before anything is read or written.

    The operator (its token or the break-glass key) is refused unless the route says otherwise:
    routes that reach the partner's customers' data (end users, devices, subjects) never say so.
    Every write (any method but GET) is refused while the subscription is read-only (trial over,
    past due, terminated), unless the route is `allowed_when_read_only`: the deletes and revocations
    that only shrink what the partner holds or can do (removing a tenant, an org, a rule, a
    person's access, an API key, a sent outbox message), which a partner must be able to do
    whatever it owes.
    """

    def authenticate(call: Call) -> PartnerContext:
        partner_id = call.route.get("partnerId", "")
        caller, partner = deps.authenticator().partner_caller(
            partner_id, credentials_of(call), operator=operator
        )
        account = deps.storage().region(partner.region)
        if isinstance(caller, PartnerCaller):
            if scope not in caller.scopes:
                raise ProblemError(
                    403, "forbidden", "Not allowed.", f"This needs the '{scope.value}' permission."
                )
            if every_tenant and caller.tenant_scope is not None:
                raise forbidden(
                    ALL_TENANTS,
                    "This changes something for every tenant of the partner: it needs a caller "
                    "with access to every tenant.",
                )
            # Stored before the call is served; a retry with the same x-request-id counts once.
            deps.usage(partner.region).record(partner.id, Unit.API_CALLS, key=call.request_id)
            if not allowed_when_read_only and call.request.method.upper() not in _READS:
                now = deps.clock().now()
                refusal = subs.write_refusal(subs.advance(partner.subscription, now), now)
                if refusal is not None:
                    raise refusal
        return PartnerContext(caller, partner, account, action_context(call, caller))

    security = PARTNER_SECURITY + OPERATOR_SECURITY if operator else PARTNER_SECURITY
    return Declared(authenticate, security, allowed_when_read_only, scope)

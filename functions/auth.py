"""Authenticators endpoints declare: who may call, with which scope, and whether it writes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from functions import deps
from functions.http import Call
from shared.access.authenticate import Credentials
from shared.access.principals import Caller, PartnerCaller, Scope
from shared.access.reach import TenantReach
from shared.audit.context import ActionContext
from shared.audit.ip import anonymise_ip
from shared.errors import ProblemError
from shared.partners import subscription as subs
from shared.partners.access import AccessService
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


def action_context(call: Call, caller: Caller) -> ActionContext:
    return ActionContext(caller.actor, call.request_id, anonymise_ip(call.header("x-forwarded-for")))


@dataclass(frozen=True)
class PartnerContext:
    """What a partner-scoped handler works with: the caller, the partner, its region's storage."""

    caller: Caller
    partner: Partner
    account: AccountStorage
    action: ActionContext

    def access(self) -> AccessService:
        config = deps.settings()
        return AccessService(
            self.account, self.partner.id, deps.clock(), config.api_key_pepper.get_secret_value()
        )

    @cached_property
    def reach(self) -> TenantReach:
        """The tenants the caller reaches, read once per request (group members only when scoped)."""
        return TenantReach.of(self.caller, lambda: self.access().group_members())


def _operator_only(call: Call) -> ActionContext:
    return action_context(call, deps.authenticator().operator(credentials_of(call)))


# Operator-only endpoints: the principal is the operator's ActionContext (the audit log names the person).
operator_only = Declared(_operator_only, OPERATOR_SECURITY)


def partner_context(call: Call) -> PartnerContext:
    """The PartnerContext a `partner_access` or `operator_on_partner` endpoint authenticated."""
    context = call.principal
    if not isinstance(context, PartnerContext):
        raise TypeError("endpoint was not declared with partner_access or operator_on_partner")
    return context


def _operator_on_partner(call: Call) -> PartnerContext:
    caller = deps.authenticator().operator(credentials_of(call))
    partner = deps.partners().get(call.route.get("partnerId", ""))
    account = deps.storage().region(partner.region)
    return PartnerContext(caller, partner, account, action_context(call, caller))


# Operator-only calls about one partner (its subscription): the partner must exist.
operator_on_partner = Declared(_operator_on_partner, OPERATOR_SECURITY)


def partner_access(scope: Scope, *, write: bool = False, operator: bool = False) -> Declared:
    """Partner-scoped endpoints: the partner's people and keys with `scope`; the operator only if `operator`.

    The operator (its token or the break-glass key) is refused unless the route says otherwise:
    routes that reach the partner's customers' data (end users, devices, subjects) never say so.
    Writes are refused while the subscription is read-only (trial over, past due, terminated).
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
            deps.api_call_counter().add(deps.usage(partner.region), partner.id, Unit.API_CALLS)
            if write:
                now = deps.clock().now()
                refusal = subs.write_refusal(subs.advance(partner.subscription, now), now)
                if refusal is not None:
                    raise refusal
        return PartnerContext(caller, partner, account, action_context(call, caller))

    return Declared(authenticate, PARTNER_SECURITY + OPERATOR_SECURITY if operator else PARTNER_SECURITY)

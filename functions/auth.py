"""Authenticators endpoints declare: who may call, with which scope, and whether it writes."""

from __future__ import annotations

from dataclasses import dataclass

from functions import deps
from functions.http import Authenticator, Call
from shared.access.authenticate import Credentials, operator_only_refusal
from shared.access.principals import Caller, OperatorCaller, PartnerCaller, Scope
from shared.audit.context import ActionContext
from shared.audit.ip import anonymise_ip
from shared.errors import ProblemError
from shared.partners import subscription as subs
from shared.partners.access import AccessService
from shared.partners.service import Partner
from shared.storage.router import AccountStorage
from shared.usage import Unit

PARTNER_SECURITY = ("apiKey", "bearer")
OPERATOR_SECURITY = ("apiKey",)


def credentials_of(call: Call) -> Credentials:
    authorization = call.header("authorization") or ""
    scheme, _, token = authorization.partition(" ")
    bearer = token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return Credentials(api_key=call.header("x-api-key"), bearer=bearer)


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


def operator_only(call: Call) -> ActionContext:
    if not deps.authenticator().is_operator(credentials_of(call)):
        raise operator_only_refusal()
    return action_context(call, OperatorCaller())


def partner_context(call: Call) -> PartnerContext:
    """The PartnerContext a `partner_access` or `operator_on_partner` endpoint authenticated."""
    context = call.principal
    if not isinstance(context, PartnerContext):
        raise TypeError("endpoint was not declared with partner_access or operator_on_partner")
    return context


def operator_on_partner(call: Call) -> PartnerContext:
    """Operator-only calls about one partner (its subscription): the partner must exist."""
    action = operator_only(call)
    partner = deps.partners().get(call.route.get("partnerId", ""))
    return PartnerContext(OperatorCaller(), partner, deps.storage().region(partner.region), action)


def partner_access(scope: Scope, *, write: bool = False, operator: bool = True) -> Authenticator:
    """Partner-scoped endpoints: the partner's people and keys with `scope`, and (if allowed) the operator.

    Writes are refused while the subscription is read-only (trial over, past due, terminated).
    """

    def authenticate(call: Call) -> PartnerContext:
        partner_id = call.route.get("partnerId", "")
        caller, partner = deps.authenticator().partner_caller(partner_id, credentials_of(call))
        if isinstance(caller, OperatorCaller) and not operator:
            raise ProblemError(
                403, "forbidden", "Not for the operator.", "Only the partner's people may do this."
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

    return authenticate

"""Consent ledger endpoints: public double opt-in and one-click unsubscribe, and the partner's
outbox, contacts and ledger. Thin: each calls one method of shared/privacy/consent.py."""

from __future__ import annotations

import azure.functions as func
from pydantic import Field, ValidationError

from functions import deps
from functions.auth import PartnerContext, client_network, partner_access
from functions.http import Accepted, Call, NoContent, RouteParams, Ulid, endpoint
from shared.access.principals import Scope
from shared.errors import FieldError, validation_failed
from shared.jsonbody import parse_json
from shared.models import PageQuery, QueryInput
from shared.privacy.consent import (
    ConsentKeys,
    ConsentLedger,
    ConsentState,
    ContactList,
    LedgerList,
    OutboxList,
    SubscribeAccepted,
    SubscribeIn,
    TokenIn,
    partner_of_token,
    token_invalid,
)

bp = func.Blueprint()  # type: ignore[no-untyped-call]


def _ledger_of_partner(partner_id: str) -> ConsentLedger | None:
    region = deps.partners().directory.region_of(partner_id)
    return None if region is None else deps.consent_ledger(region)


def _ledger_of_token(salt: str, token: str) -> ConsentLedger:
    partner_id = partner_of_token(deps.consent_keys(), salt, token, deps.clock().now())
    region = deps.partners().directory.region_of(partner_id)
    if region is None:
        raise token_invalid()  # the partner is gone, and its contacts with it
    return deps.consent_ledger(region)


# --- public: the subscriber's side (see README "Consent ledger") ---------------------------------


@endpoint(
    bp,
    "consent/subscribe",
    methods=["POST"],
    summary="Ask for a partner's newsletter: a confirmation message goes to the address (double opt-in).",
    tag="consent",
    auth=None,
)
def subscribe(call: Call, body: SubscribeIn) -> Accepted[SubscribeAccepted]:
    ledger = _ledger_of_partner(body.partner_id)
    if ledger is None:
        # The same answer as a known partner's, and nothing written: this public form must not
        # tell which partner ids exist.
        return Accepted(SubscribeAccepted())
    return Accepted(ledger.subscribe(body, client_network(call)))


@endpoint(
    bp,
    "consent/confirm",
    methods=["POST"],
    summary="Confirm a subscription with the token of the confirmation message; records the grant.",
    tag="consent",
    auth=None,
)
def confirm(call: Call, body: TokenIn) -> ConsentState:
    return _ledger_of_token(ConsentKeys.CONFIRM, body.token).confirm(body.token, client_network(call))


class UnsubscribeQuery(QueryInput):
    token: str | None = Field(
        default=None, min_length=10, max_length=1024, description="The List-Unsubscribe link's token."
    )


def _token_of(call: Call, query: UnsubscribeQuery) -> str:
    """RFC 8058: mail clients POST `List-Unsubscribe=One-Click` as a form to the link, so the token
    is in the query; apps may send it as JSON `{"token": ...}` instead."""
    content_type = (call.header("content-type") or "").split(";")[0].strip().lower()
    raw = call.request.get_body() or b""
    if (
        query.token is None
        and raw.strip()
        and (content_type == "application/json" or content_type.endswith("+json"))
    ):
        data = parse_json(raw)
        if not isinstance(data, dict):
            raise validation_failed([FieldError("body", "must be a JSON object")])
        try:
            return TokenIn.model_validate(data).token
        except ValidationError:
            raise validation_failed(
                [FieldError("token", "must be the token of an unsubscribe link")]
            ) from None
    if query.token is None:
        raise validation_failed([FieldError("token", 'give the token in the query or as JSON {"token"}')])
    return query.token


@endpoint(
    bp,
    "consent/unsubscribe",
    methods=["POST"],
    summary="One-click unsubscribe (RFC 8058): the contact data goes at once; a revocation record stays.",
    tag="consent",
    auth=None,
)
def unsubscribe(call: Call, query: UnsubscribeQuery) -> ConsentState:
    token = _token_of(call, query)
    return _ledger_of_token(ConsentKeys.UNSUBSCRIBE, token).unsubscribe(token, client_network(call))


# --- the partner's side -----------------------------------------------------------------------


class OutboxQuery(QueryInput):
    top: int = Field(default=100, ge=1, le=1000)


class OutboxItemRoute(RouteParams):
    """`.../outbox/{itemId}`: an outbox id; acknowledging one that is no longer there is done."""

    item_id: Ulid = Field(alias="itemId")


@endpoint(
    bp,
    "partners/{partnerId}/consent/outbox",
    methods=["GET"],
    summary="Confirmation messages the partner's mailer must send, each with its link token.",
    tag="consent",
    auth=partner_access(Scope.NOTIFY, operator=False),
)
def outbox(call: Call, context: PartnerContext, query: OutboxQuery) -> OutboxList:
    return deps.consent_ledger(context.partner.region).outbox(context.partner.id, query.top)


@endpoint(
    bp,
    "partners/{partnerId}/consent/outbox/{itemId}",
    methods=["DELETE"],
    summary="The mailer sent (or dropped) an outbox message: it leaves the outbox.",
    tag="consent",
    auth=partner_access(Scope.NOTIFY, allowed_when_read_only=True, operator=False),
)
def acknowledge(call: Call, context: PartnerContext, route: OutboxItemRoute) -> NoContent:
    deps.consent_ledger(context.partner.region).acknowledge(context.partner.id, route.item_id)
    return NoContent()


class ContactQuery(PageQuery):
    purpose: str | None = Field(default=None, max_length=40, pattern=r"^[a-z][a-z0-9-]*$")


@endpoint(
    bp,
    "partners/{partnerId}/consent/contacts",
    methods=["GET"],
    summary="Contacts whose consent stands (the mailing list), each with a List-Unsubscribe token.",
    tag="consent",
    auth=partner_access(Scope.NOTIFY, operator=False),
)
def contacts(call: Call, context: PartnerContext, query: ContactQuery) -> ContactList:
    return deps.consent_ledger(context.partner.region).contacts(
        context.partner.id, query.purpose, query.top, query.continuation_token
    )


class LedgerQuery(PageQuery):
    email: str | None = Field(
        default=None, min_length=3, max_length=254, description="One address's records."
    )


@endpoint(
    bp,
    "partners/{partnerId}/consent/ledger",
    methods=["GET"],
    summary="Every consent granted and withdrawn (keyed hash of the address, purpose, time, how).",
    tag="consent",
    auth=partner_access(Scope.PRIVACY),
)
def ledger(call: Call, context: PartnerContext, query: LedgerQuery) -> LedgerList:
    return deps.consent_ledger(context.partner.region).ledger(
        context.partner.id, query.email, query.top, query.continuation_token
    )

"""Turns the credential on a request into a caller: the operator, or a person or API key of a partner.

Refusals follow one rule: a missing or invalid credential is 401; a valid credential of another
partner is 404, exactly as if the path did not exist, so nobody learns what other partners have.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass

from shared.access import api_keys
from shared.access.principals import (
    ROLE_SCOPES,
    Actor,
    Caller,
    OperatorCaller,
    PartnerCaller,
    Role,
    Scope,
)
from shared.access.tokens import InvalidTokenError, TokenValidator, expected_issuer
from shared.clock import Clock
from shared.errors import ProblemError, not_found, unauthenticated
from shared.partners.access import AccessService, key_is_live, scope_from_json
from shared.partners.models import PersonnelStatus
from shared.partners.service import Partner, PartnerService


@dataclass(frozen=True)
class Credentials:
    api_key: str | None
    bearer: str | None


def operator_only_refusal() -> ProblemError:
    return unauthenticated("This endpoint needs the operator key (x-api-key).")


class Authenticator:
    def __init__(
        self,
        partners: PartnerService,
        validator: TokenValidator,
        clock: Clock,
        *,
        operator_key: str,
        pepper: str,
        authority_host: str,
    ):
        self.partners = partners
        self.validator = validator
        self.clock = clock
        self.operator_key = operator_key
        self.pepper = pepper
        self.authority_host = authority_host

    def is_operator(self, credentials: Credentials) -> bool:
        key = credentials.api_key
        return key is not None and hmac.compare_digest(key.encode(), self.operator_key.encode())

    def _access(self, partner: Partner) -> AccessService:
        return AccessService(self.partners.router.region(partner.region), partner.id, self.clock, self.pepper)

    def _live_key(self, key: str) -> tuple[Partner, api_keys.ParsedKey, dict[str, object]] | None:
        parsed = api_keys.parse_key(key)
        if parsed is None:
            return None
        try:
            partner = self.partners.get(parsed.partner_id)
        except ProblemError:
            return None
        entity = self._access(partner).key_record(parsed.key_id)
        if entity is None or not api_keys.key_matches(key, str(entity["hash"]), self.pepper):
            return None
        if not key_is_live(entity, self.clock.now()):
            return None
        return partner, parsed, dict(entity)

    def partner_caller(self, partner_id: str, credentials: Credentials) -> tuple[Caller, Partner]:
        if self.is_operator(credentials):
            return OperatorCaller(), self.partners.get(partner_id)
        if credentials.api_key is not None:
            return self._by_api_key(partner_id, credentials.api_key)
        if credentials.bearer is not None:
            return self._by_token(partner_id, credentials.bearer)
        raise unauthenticated()

    def _by_api_key(self, partner_id: str, key: str) -> tuple[Caller, Partner]:
        found = self._live_key(key)
        if found is None:
            raise unauthenticated("The API key is unknown, revoked or expired.")
        partner, parsed, entity = found
        if partner.id != partner_id:
            raise not_found("No such partner.")
        caller = PartnerCaller(
            partner_id=partner.id,
            actor=Actor("apiKey", parsed.key_id, str(entity["name"])),
            scopes=frozenset(Scope(s) for s in json.loads(str(entity["scopes"]))),
            tenant_scope=scope_from_json(entity.get("tenantScope")),
        )
        return caller, partner

    def _by_token(self, partner_id: str, token: str) -> tuple[Caller, Partner]:
        try:
            claims = self.validator.validate(token)
        except InvalidTokenError as error:
            raise unauthenticated(f"The access token is not valid ({error}).") from None
        partner = self.partners.get(partner_id)
        if claims.issuer != expected_issuer(self.authority_host, partner.entra_tenant_id):
            raise not_found("No such partner.")  # a real token, of someone else's organisation
        person = self._access(partner).person_by_object_id(claims.object_id)
        if person is None:
            raise not_found("No such partner.")
        if person["status"] != PersonnelStatus.ACTIVE:
            raise ProblemError(
                403,
                "personnel-deactivated",
                "Access removed.",
                "This person has been deactivated by the partner.",
            )
        role = Role(person["role"])
        caller = PartnerCaller(
            partner_id=partner.id,
            actor=Actor("personnel", str(person["RowKey"])[2:], claims.name),
            scopes=ROLE_SCOPES[role],
            tenant_scope=scope_from_json(person.get("tenantScope")),
        )
        return caller, partner

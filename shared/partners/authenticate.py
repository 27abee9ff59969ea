"""Turns the credential on a request into a caller: the operator, or a person or API key of a partner.

Refusals follow one rule: a missing or invalid credential is 401; a valid credential of another
partner is 404, exactly as if the path did not exist, so nobody learns what other partners have.
A genuine token that is not enough (minted for another API, without the scope or role a route
needs) is 403, and so is the operator on a route that is not the operator's.
"""

from __future__ import annotations

import hmac
import json
import logging
from dataclasses import dataclass

from shared.access import api_keys
from shared.access.principals import (
    BREAK_GLASS,
    ROLE_SCOPES,
    Actor,
    Caller,
    OperatorCaller,
    PartnerCaller,
    Role,
    Scope,
)
from shared.access.tokens import (
    ACCESS_AS_USER,
    OPERATOR_ROLE,
    ForeignAudienceError,
    InvalidTokenError,
    TokenClaims,
    TokenValidator,
)
from shared.clock import Clock
from shared.errors import ProblemError, not_found, unauthenticated
from shared.keys import KeyRing
from shared.partners.access import AccessService, key_is_live, scope_from_json
from shared.partners.me import SignedIn
from shared.partners.models import PersonnelStatus
from shared.partners.service import Partner, PartnerService

security_log = logging.getLogger("tenantry.security")


@dataclass(frozen=True)
class Credentials:
    api_key: str | None
    bearer: str | None
    used_on: str = ""  # "METHOD /path" the credential was presented on, for the security log


def _one_credential(credentials: Credentials) -> None:
    # Both at once is ambiguous, and taking one would silently ignore a bad other.
    if credentials.api_key is not None and credentials.bearer is not None:
        raise unauthenticated("Send one credential: x-api-key or Authorization: Bearer, not both.")


def operator_only_refusal() -> ProblemError:
    return unauthenticated("This endpoint needs the operator's Entra ID token (or the break-glass key).")


def insufficient_scope(detail: str) -> ProblemError:
    return ProblemError(403, "insufficient-scope", "The token does not allow this.", detail)


def not_for_the_operator() -> ProblemError:
    return ProblemError(
        403,
        "forbidden",
        "Not for the operator.",
        "Only the partner's people and keys may do this: it reaches the partner's customers' data.",
    )


class Authenticator:
    def __init__(
        self,
        partners: PartnerService,
        validator: TokenValidator,
        clock: Clock,
        *,
        operator_key: str,
        ring: KeyRing,
        operator_tenant_id: str = "",
    ):
        self.partners = partners
        self.validator = validator
        self.clock = clock
        # Empty: the break-glass key is off, and no x-api-key value opens an operator route.
        self.operator_key = operator_key
        self.ring = ring
        self.operator_tenant_id = operator_tenant_id.lower()

    # --- tokens, for anyone who checks an Entra ID token (personnel, operator, device users) ---

    def token_claims(self, token: str, *, scope: str | None = ACCESS_AS_USER) -> TokenClaims:
        """A token's claims, for this API and (unless `scope` is None) carrying the delegated `scope`.

        ProblemError 401 for a forged, expired or malformed token; 403 for a genuine one minted for
        another API or without the scope. The issuer is the caller's to check (`validator.issued_by`).
        """
        claims = self._validated(token)
        if scope is not None and scope not in claims.scopes:
            raise insufficient_scope(f"The token lacks the delegated scope '{scope}' of this API.")
        return claims

    def _validated(self, token: str) -> TokenClaims:
        try:
            return self.validator.validate(token)
        except InvalidTokenError as error:
            raise unauthenticated(f"The access token is not valid ({error}).") from None
        except ForeignAudienceError:
            raise insufficient_scope(
                "The token was issued for another API (its audience is neither this API's app id URI "
                "nor its client id)."
            ) from None

    def _operator_of(self, claims: TokenClaims) -> OperatorCaller | None:
        if OPERATOR_ROLE not in claims.roles or not self.operator_tenant_id:
            return None
        if not self.validator.issued_by(claims, self.operator_tenant_id):
            return None
        return OperatorCaller(Actor("operator", claims.object_id, claims.display))

    def signed_in(self, credentials: Credentials) -> SignedIn:
        """Whoever a person's (or the operator's) own token names, for routes about the caller itself.

        Checked as on partner routes: signature, audience, expiry, the issuer of the token's own
        tenant and the delegated scope access_as_user (401 / 403 as there); the operator's token
        (app role, operator's tenant) needs no scope. An API key names no person: 401.
        """
        _one_credential(credentials)
        if credentials.bearer is None:
            raise unauthenticated("This needs a person's Entra ID token (Authorization: Bearer).")
        claims = self._validated(credentials.bearer)
        if self._operator_of(claims) is not None:
            return SignedIn(claims, operator=True)
        if ACCESS_AS_USER not in claims.scopes:
            raise insufficient_scope(f"The token lacks the delegated scope '{ACCESS_AS_USER}' of this API.")
        if not self.validator.issued_by(claims, claims.tenant_id):
            raise unauthenticated("The access token was not issued by its own tenant's Entra ID.")
        return SignedIn(claims, operator=False)

    # --- the operator ---------------------------------------------------------------------------

    def _is_break_glass(self, credentials: Credentials) -> bool:
        key = credentials.api_key
        if not self.operator_key or key is None:
            return False
        return hmac.compare_digest(key.encode(), self.operator_key.encode())

    def _break_glass(self, credentials: Credentials, *, allowed: bool) -> OperatorCaller:
        # Loud on purpose: the key names nobody, so every use must stand out in the logs.
        security_log.warning(
            "break-glass operator key used on %s: %s",
            credentials.used_on or "an unnamed route",
            "allowed" if allowed else "refused, the route is not the operator's",
        )
        if not allowed:
            raise not_for_the_operator()
        return OperatorCaller(BREAK_GLASS)

    def operator(self, credentials: Credentials) -> OperatorCaller:
        """Operator-only routes: the operator's token (app role, operator's tenant) or the break-glass key."""
        _one_credential(credentials)
        if credentials.api_key is not None:
            if self._is_break_glass(credentials):
                return self._break_glass(credentials, allowed=True)
            raise operator_only_refusal()
        if credentials.bearer is not None:
            claims = self._validated(credentials.bearer)
            caller = self._operator_of(claims)
            if caller is None:
                raise insufficient_scope(
                    f"This needs the app role '{OPERATOR_ROLE}' in a token of the operator's Entra tenant."
                )
            return caller
        raise operator_only_refusal()

    # --- a partner's people and keys (and the operator, where the route allows it) --------------

    def _access(self, partner: Partner) -> AccessService:
        return AccessService(self.partners.router.region(partner.region), partner.id, self.clock, self.ring)

    def _live_key(self, key: str) -> tuple[Partner, api_keys.ParsedKey, dict[str, object]] | None:
        parsed = api_keys.parse_key(key)
        if parsed is None:
            return None
        try:
            partner = self.partners.get(parsed.partner_id)
        except ProblemError:
            return None
        access = self._access(partner)
        entity = access.get_key(parsed.key_id)
        now = self.clock.now()
        if entity is None:
            return None
        check = api_keys.check_key_row(key, entity, access.key_hashes, now)
        if not check.ok:
            return None
        if not key_is_live(entity, now):
            return None
        if check.rehash is not None:
            access.rekey(entity, check.rehash)  # its secret is in hand only now
        return partner, parsed, dict(entity)

    def partner_caller(
        self, partner_id: str, credentials: Credentials, *, operator: bool = False
    ) -> tuple[Caller, Partner]:
        """Who calls about `partner_id`. The operator only where the route says so (`operator`)."""
        _one_credential(credentials)
        if credentials.api_key is not None:
            if self._is_break_glass(credentials):
                return self._break_glass(credentials, allowed=operator), self.partners.get(partner_id)
            return self._by_api_key(partner_id, credentials.api_key)
        if credentials.bearer is not None:
            claims = self._validated(credentials.bearer)
            caller = self._operator_of(claims)
            if caller is not None:
                if not operator:
                    raise not_for_the_operator()
                return caller, self.partners.get(partner_id)
            return self._by_token(partner_id, claims)
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

    def _by_token(self, partner_id: str, claims: TokenClaims) -> tuple[Caller, Partner]:
        if ACCESS_AS_USER not in claims.scopes:
            raise insufficient_scope(f"The token lacks the delegated scope '{ACCESS_AS_USER}' of this API.")
        partner = self.partners.get(partner_id)
        if not self.validator.issued_by(claims, partner.entra_tenant_id):
            raise not_found("No such partner.")  # a real token, of someone else's organisation
        person = self._access(partner).get_person_by_object_id(claims.object_id)
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

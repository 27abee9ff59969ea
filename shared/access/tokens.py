"""Validates Entra ID access tokens of partner personnel (PyJWT, keys from the issuer's JWKS)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jwt import PyJWKClient

# Small, as Entra's own guidance suggests: clocks drift, tokens live about an hour.
CLOCK_SKEW_SECONDS = 60


class InvalidTokenError(Exception):
    """Signature, expiry, audience or shape is wrong: the caller is not authenticated."""


@dataclass(frozen=True)
class TokenClaims:
    issuer: str
    tenant_id: str
    object_id: str
    name: str | None


class TokenValidator:
    """Checks signature (RS256 from the JWKS, cached, refreshed on an unknown `kid`), expiry and
    not-before with small skew, and audience. The issuer is returned for the caller to compare with
    the partner it claims to act for, so a foreign but valid token can be told from a forged one."""

    def __init__(self, jwks_url: str, audience: str):
        self.jwks_url = jwks_url
        self.audience = audience
        self._client: PyJWKClient | None = None
        self._lock = threading.Lock()

    def _jwks(self) -> PyJWKClient:
        with self._lock:
            if self._client is None:
                from jwt import PyJWKClient

                self._client = PyJWKClient(self.jwks_url, cache_jwk_set=True, lifespan=3600, timeout=5)
            return self._client

    def validate(self, token: str) -> TokenClaims:
        import jwt

        try:
            key = self._jwks().get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                audience=self.audience,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["exp", "nbf", "iss", "aud", "tid", "oid"]},
            )
        except jwt.PyJWTError as error:
            raise InvalidTokenError(type(error).__name__) from None
        return TokenClaims(
            issuer=str(claims["iss"]),
            tenant_id=str(claims["tid"]).lower(),
            object_id=str(claims["oid"]).lower(),
            name=claims.get("name"),
        )


def expected_issuer(authority_host: str, entra_tenant_id: str) -> str:
    return f"{authority_host.rstrip('/')}/{entra_tenant_id.lower()}/v2.0"

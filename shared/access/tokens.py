"""Validates Entra ID access tokens, v1 and v2 (PyJWT, keys from the issuer's JWKS)."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jwt import PyJWKClient

# Small, as Entra's own guidance suggests: clocks drift, tokens live about an hour.
CLOCK_SKEW_SECONDS = 60

# The one delegated scope Tenantry's API exposes: a person's token must carry it in `scp`.
ACCESS_AS_USER = "access_as_user"
# The app role of the platform operator's people (or automation), assigned in the operator's tenant.
OPERATOR_ROLE = "Tenantry.Operator"

V1_ISSUER_HOST = "https://sts.windows.net"


class InvalidTokenError(Exception):
    """Signature, expiry or shape is wrong: the caller is not authenticated (401)."""


class ForeignAudienceError(Exception):
    """A genuine, current token, minted for another API: authenticated, but not for us (403)."""

    def __init__(self, audience: str):
        super().__init__(audience)
        self.audience = audience


@dataclass(frozen=True)
class TokenClaims:
    issuer: str
    tenant_id: str
    object_id: str
    name: str | None
    version: str = "2.0"  # "1.0" (sts.windows.net) or "2.0" (login.microsoftonline.com/.../v2.0)
    scopes: frozenset[str] = frozenset()  # delegated scopes (`scp`, space-separated); none in app-only tokens
    roles: frozenset[str] = frozenset()  # app roles assigned to the user or the calling app
    app_id: str | None = None  # the client the token was requested by (`appid` in v1, `azp` in v2)

    @property
    def display(self) -> str:
        """How the audit log names whoever holds the token: the person, else the calling app."""
        if self.name:
            return self.name
        return f"app {self.app_id}" if self.app_id else self.object_id


class TokenValidator:
    """Checks signature (RS256 from the JWKS, cached, refreshed on an unknown `kid`), expiry and
    not-before with small skew, then the audience (the app id URI or the client id: v1 tokens
    usually carry the first, v2 tokens the second).

    The issuer is not checked here: Entra signs every tenant's tokens with the same keys, so only
    the caller knows which tenant it expects (`issued_by`), and can tell a foreign but genuine
    token from a forged one."""

    def __init__(
        self,
        jwks_url: str,
        *audiences: str,
        authority_host: str = "https://login.microsoftonline.com",
        v1_issuer_host: str = V1_ISSUER_HOST,
        refresh_cooldown_seconds: float = 30.0,
    ):
        self.jwks_url = jwks_url
        # An unknown kid fetches the key set again at most this often: made-up kids must not turn
        # every request into a call to the issuer (PyJWT's cooldown; 0 lets a test roll a key at once).
        self.refresh_cooldown_seconds = refresh_cooldown_seconds
        self.audiences = frozenset(a for a in audiences if a)
        if not self.audiences:
            raise ValueError("at least one audience is required")
        self.authority_host = authority_host.rstrip("/")
        self.v1_issuer_host = v1_issuer_host.rstrip("/")
        self._client: PyJWKClient | None = None
        self._lock = threading.Lock()

    def _jwks(self) -> PyJWKClient:
        with self._lock:
            if self._client is None:
                from jwt import PyJWKClient

                self._client = PyJWKClient(
                    self.jwks_url,
                    cache_jwk_set=True,
                    lifespan=3600,
                    timeout=5,
                    cooldown_duration=self.refresh_cooldown_seconds,
                )
            return self._client

    def validate(self, token: str) -> TokenClaims:
        """The token's claims; InvalidTokenError (401) or ForeignAudienceError (403) otherwise."""
        import jwt

        try:
            key = self._jwks().get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                leeway=CLOCK_SKEW_SECONDS,
                # The audience is checked below, after signature and lifetime, so that only a
                # genuine, current token can earn the 403 of "not for this API".
                options={"require": ["exp", "nbf", "iss", "aud", "tid", "oid"], "verify_aud": False},
            )
        except jwt.PyJWTError as error:
            raise InvalidTokenError(type(error).__name__) from None
        audience = claims["aud"]
        given = [audience] if isinstance(audience, str) else list(_list(audience))
        if not any(isinstance(a, str) and a in self.audiences for a in given):
            raise ForeignAudienceError(str(audience))
        issuer = str(claims["iss"])
        return TokenClaims(
            issuer=issuer,
            tenant_id=str(claims["tid"]).lower(),
            object_id=str(claims["oid"]).lower(),
            name=_text(claims.get("name")),
            version=_version(claims, issuer),
            scopes=_words(claims.get("scp")),
            roles=frozenset(r for r in _list(claims.get("roles")) if isinstance(r, str)),
            app_id=_text(claims.get("azp") or claims.get("appid")),
        )

    def issuers(self, tenant_id: str) -> tuple[str, str]:
        """The v2 and v1 issuers of a tenant's tokens."""
        return expected_issuer(self.authority_host, tenant_id), v1_issuer(self.v1_issuer_host, tenant_id)

    def issued_by(self, claims: TokenClaims, tenant_id: str) -> bool:
        """Whether the token was issued by `tenant_id`'s Entra ID, in either token version."""
        tenant = tenant_id.lower()
        return claims.tenant_id == tenant and claims.issuer in self.issuers(tenant)


def expected_issuer(authority_host: str, entra_tenant_id: str) -> str:
    return f"{authority_host.rstrip('/')}/{entra_tenant_id.lower()}/v2.0"


def v1_issuer(v1_issuer_host: str, entra_tenant_id: str) -> str:
    return f"{v1_issuer_host.rstrip('/')}/{entra_tenant_id.lower()}/"


def _text(value: object) -> str | None:
    return str(value) if isinstance(value, str) and value else None


def _list(value: object) -> Iterable[object]:
    return value if isinstance(value, list) else ()


def _words(value: object) -> frozenset[str]:
    return frozenset(value.split()) if isinstance(value, str) else frozenset()


def _version(claims: dict[str, Any], issuer: str) -> str:
    ver = claims.get("ver")
    if ver in ("1.0", "2.0"):
        return str(ver)
    return "2.0" if issuer.rstrip("/").endswith("/v2.0") else "1.0"

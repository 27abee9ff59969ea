"""The Microsoft identity platform as proof of tenant access: sign-in links, code redemption, ID tokens.

Proof that a customer's (or the partner's own) administrator agreed must come from the identity
platform itself, never from a query string: the admin-consent redirect's `?tenant=...&admin_consent=True`
can be typed by anyone. So the link is an OpenID Connect authorisation request (`prompt=consent`,
PKCE, a nonce), the callback redeems the code with the app's secret and the PKCE verifier, and
only an ID token whose signature verifies against the issuer's published keys counts.

The app-token probe asks the token endpoint directly (no credential cache): a revoked consent must
show at the next check, not when a cached token expires an hour later.
"""

from __future__ import annotations

import hmac
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from shared.adapters.graph import GRAPH_SCOPE, GraphSettings

if TYPE_CHECKING:
    import httpx

# Directory role templates whose holders may consent for the whole organisation.
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
PRIVILEGED_ROLE_ADMINISTRATOR = "e8611ab8-c189-46e8-94e1-60213ab1f814"
CONSENTING_ROLES = frozenset({GLOBAL_ADMINISTRATOR, PRIVILEGED_ROLE_ADMINISTRATOR})
SIGN_IN_SCOPE = "openid profile"
CLOCK_SKEW_SECONDS = 60
_JWKS_SECONDS = 3600


class IdentityError(Exception):
    """The identity platform refused (`code` is its error, `aadsts` the AADSTS number if given)."""

    def __init__(self, code: str, message: str, aadsts: int | None = None, *, transient: bool = False):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.aadsts = aadsts
        self.transient = transient


@dataclass(frozen=True)
class SignedInAdmin:
    """Who signed in, as the verified ID token says."""

    tenant_id: str
    object_id: str
    name: str | None
    username: str | None
    role_template_ids: frozenset[str]

    @property
    def may_consent_for_organisation(self) -> bool:
        return bool(self.role_template_ids & CONSENTING_ROLES)


@dataclass
class IdentityPlatform:
    """The app's side of the authorisation-code flow and the client-credentials probe."""

    settings: GraphSettings
    http_client: httpx.Client | None = None
    _jwks: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def _client(self) -> httpx.Client:
        with self._lock:
            if self.http_client is None:
                import httpx

                self.http_client = httpx.Client(
                    timeout=self.settings.timeout_seconds,
                    verify=self.settings.ssl_context(),
                    follow_redirects=False,
                )
            return self.http_client

    def _authority(self, tenant_id: str) -> str:
        return f"{self.settings.authority_host.rstrip('/')}/{tenant_id}"

    def issuer(self, tenant_id: str) -> str:
        return f"{self._authority(tenant_id)}/v2.0"

    # --- the link and the code ---

    def authorize_url(
        self, tenant_id: str, *, redirect_uri: str, state: str, nonce: str, code_challenge: str
    ) -> str:
        query = {
            "client_id": self.settings.client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "response_mode": "query",
            "scope": SIGN_IN_SCOPE,
            "state": state,
            "nonce": nonce,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
            "prompt": "consent",
        }
        return f"{self._authority(tenant_id)}/oauth2/v2.0/authorize?{urlencode(query)}"

    def redeem_code(self, tenant_id: str, *, code: str, redirect_uri: str, code_verifier: str) -> str:
        """The ID token the code stands for (the code works once)."""
        body = self._token_request(
            tenant_id,
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
                "scope": SIGN_IN_SCOPE,
            },
        )
        id_token = body.get("id_token")
        if not isinstance(id_token, str):
            raise IdentityError("no_id_token", "The token endpoint answered without an ID token.")
        return id_token

    def app_access(self, tenant_id: str) -> None:
        """Raises IdentityError unless the app can get a token for Graph in this tenant right now."""
        self._token_request(tenant_id, {"grant_type": "client_credentials", "scope": GRAPH_SCOPE})

    def _token_request(self, tenant_id: str, form: dict[str, str]) -> dict[str, Any]:
        import httpx

        form = {
            **form,
            "client_id": self.settings.client_id,
            "client_secret": self.settings.client_secret.get_secret_value(),
        }
        try:
            response = self._client().post(f"{self._authority(tenant_id)}/oauth2/v2.0/token", data=form)
        except httpx.TransportError as error:
            raise IdentityError("unreachable", type(error).__name__, transient=True) from None
        try:
            body: dict[str, Any] = response.json()
        except ValueError:
            body = {}
        if response.is_success:
            return body
        codes = body.get("error_codes") or [None]
        description = str(body.get("error_description") or response.reason_phrase)
        # Only the first line: Entra appends trace and correlation ids, which say nothing to a partner.
        raise IdentityError(
            str(body.get("error") or response.status_code),
            description.split(" Trace ID:", maxsplit=1)[0][:300],
            codes[0] if isinstance(codes[0], int) else None,
            transient=response.status_code >= 500 or response.status_code == 429,
        )

    # --- the ID token ---

    def _keys(self, tenant_id: str, *, refresh: bool = False) -> dict[str, Any]:
        import httpx

        now = time.monotonic()
        cached = self._jwks.get(tenant_id)
        if cached and not refresh and now - cached[0] < _JWKS_SECONDS:
            return cached[1]
        try:
            response = self._client().get(f"{self._authority(tenant_id)}/discovery/v2.0/keys")
            response.raise_for_status()
            keys: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise IdentityError("keys_unavailable", type(error).__name__, transient=True) from None
        self._jwks[tenant_id] = (now, keys)
        return keys

    def verify_id_token(self, token: str, *, tenant_id: str, nonce: str) -> SignedInAdmin:
        """Signature (the issuer's published keys), issuer, audience, lifetime, nonce; else IdentityError."""
        import jwt

        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            raise IdentityError("invalid_id_token", "The ID token is not a JWT.") from None
        key = None
        for refresh in (False, True):  # an unknown kid: the issuer may have rolled its keys
            for candidate in self._keys(tenant_id, refresh=refresh).get("keys", []):
                if candidate.get("kid") == kid:
                    key = jwt.PyJWK(candidate)
            if key is not None:
                break
        if key is None:
            raise IdentityError(
                "invalid_id_token", "The ID token is signed with a key the issuer does not publish."
            )
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                audience=self.settings.client_id,
                issuer=self.issuer(tenant_id),
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "tid", "oid", "nonce"]},
            )
        except jwt.PyJWTError as error:
            raise IdentityError("invalid_id_token", type(error).__name__) from None
        if not hmac.compare_digest(str(claims["nonce"]), nonce):
            raise IdentityError("invalid_id_token", "The ID token answers another sign-in (nonce).")
        return SignedInAdmin(
            tenant_id=str(claims["tid"]).lower(),
            object_id=str(claims["oid"]).lower(),
            name=claims.get("name"),
            username=claims.get("preferred_username"),
            role_template_ids=frozenset(str(w).lower() for w in claims.get("wids") or []),
        )

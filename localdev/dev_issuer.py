"""A development token issuer standing in for Entra ID: its own RSA key, a JWKS, and minted tokens.

The product validates these exactly as it validates Entra tokens; only the settings
(ENTRA_AUTHORITY_HOST, ENTRA_V1_ISSUER_HOST, ENTRA_JWKS_URL) point here instead of
login.microsoftonline.com and sts.windows.net. v2 tokens are issued as `<host>/<tid>/v2.0`, v1
tokens as `<host>/sts/<tid>/`, both signed with the same key, as Entra signs both with its keys.

`SignInSite` is Entra's v2 sign-in for a single-page app (authorisation code + PKCE: discovery,
an authorise page with a picker of the people in local storage, the token endpoint, JWKS,
logout), served over TLS on a port of its own (DEV_ISSUER_PORT) because MSAL refuses an
authority that is not https. The local host runs it beside the API (`serve_tls`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import hashlib
import html
import json
import os
import re
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from localdev.azurite import REPO

if TYPE_CHECKING:
    import uvicorn

    from localdev.graph_standin import Certificates

ROUTE_PREFIX = "/_dev/entra"
KID = "tenantry-dev-1"
# What Entra puts in tokens requested by the partner's portal: the delegated scope of Tenantry's API.
ACCESS_AS_USER = "access_as_user"
OPERATOR_ROLE = "Tenantry.Operator"
# The client that asked for the token (`azp`/`appid`): a made-up portal app.
DEV_CLIENT_APP = "5f0c6b1e-3d2a-4e8b-9c7d-1a2b3c4d5e6f"


def v1_issuer_host(authority_host: str) -> str:
    """Where this issuer's v1 tokens say they come from (Entra: https://sts.windows.net)."""
    return f"{authority_host.rstrip('/')}/sts"


def key_file() -> Path:
    return Path(os.environ.get("DEV_ISSUER_KEY_FILE", str(REPO / ".localdev" / "dev-issuer-key.pem")))


@cache
def signing_key() -> rsa.RSAPrivateKey:
    """Made once per checkout; every process (host, tests, the mint command) shares it."""
    path = key_file()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        temp = path.with_suffix(f".{os.getpid()}.tmp")
        temp.write_bytes(pem)
        # link() fails if another process got there first; then its (complete) key is used.
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)
        temp.unlink()
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(loaded, rsa.RSAPrivateKey)
    return loaded


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwks() -> dict[str, Any]:
    public = signing_key().public_key().public_numbers()
    return {
        "keys": [
            {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": KID, "n": _b64(public.n), "e": _b64(public.e)}
        ]
    }


def mint(
    *,
    tenant_id: str,
    object_id: str,
    audience: str,
    authority_host: str,
    name: str | None = None,
    lifetime_seconds: int = 3600,
    issued_at: float | None = None,
    key: rsa.RSAPrivateKey | None = None,
    version: str = "2.0",
    scopes: str | None = ACCESS_AS_USER,
    roles: Iterable[str] = (),
    app_id: str = DEV_CLIENT_APP,
    v1_host: str | None = None,
    preferred_username: str | None = None,
) -> str:
    """An access token shaped like Entra ID's, v2.0 or (`version="1.0"`) v1.0.

    `scopes` is the space-separated `scp` (None: an app-only token has none); `roles` the app roles
    assigned to the user or app; `v1_host` the v1 issuer host when not this issuer's own.
    """
    now = int(issued_at if issued_at is not None else time.time())
    tenant = tenant_id.lower()
    if version == "1.0":
        issuer = f"{(v1_host or v1_issuer_host(authority_host)).rstrip('/')}/{tenant}/"
    elif version == "2.0":
        issuer = f"{authority_host.rstrip('/')}/{tenant}/v2.0"
    else:
        raise ValueError(f"unknown token version {version!r}")
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "tid": tenant,
        "oid": object_id.lower(),
        "iat": now,
        "nbf": now,
        "exp": now + lifetime_seconds,
        "ver": version,
        # v1 names the requesting client `appid`, v2 `azp`.
        ("appid" if version == "1.0" else "azp"): app_id,
    }
    if scopes:
        claims["scp"] = scopes
    if roles:
        claims["roles"] = list(roles)
    if name:
        claims["name"] = name
    if preferred_username:
        claims["preferred_username"] = preferred_username
    return jwt.encode(claims, key or signing_key(), algorithm="RS256", headers={"kid": KID})


# --- the sign-in site: Entra's v2 endpoints for a single-page app, over TLS -----------------------

TLS_PORT_SETTING = "DEV_ISSUER_PORT"
CERT_DIR_SETTING = "DEV_ISSUER_CERT_DIR"
# The client ids the site serves besides DEV_CLIENT_APP: the portal's own app registration.
PORTAL_CLIENT_SETTING = "PORTAL_CLIENT_ID"
SESSION_COOKIE = "tenantry-dev-entra-session"
CODE_SECONDS = 120  # Entra's codes are short-lived and single-use
REFRESH_SECONDS = 24 * 3600  # a single-page app's refresh token lives 24 hours at Entra
SESSION_SECONDS = 24 * 3600
PENDING_SECONDS = 600  # how long the picker waits for a choice
ACCESS_SECONDS = 3600
OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
# Tenant segments that name no one tenant: discovery says `{tenantid}` in the issuer, as Entra does.
MULTI_TENANT = frozenset({"organizations", "common", "consumers"})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_TENANT_SEGMENT = re.compile(r"^[A-Za-z0-9.-]{1,100}$")
_SESSION_AUDIENCE = "tenantry-dev-entra-session"
_CLAIMS = (
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "nbf",
    "nonce",
    "name",
    "preferred_username",
    "oid",
    "tid",
    "ver",
)
_OPENID_CONFIGURATION = "/v2.0/.well-known/openid-configuration"
_MISSING = "The request body must contain the following parameter: '{}'."
_UNKNOWN_APP = "Application with identifier '{}' was not found in the directory."
_REFRESH_AUDIENCE = "tenantry-dev-entra-refresh"

ASGIReceive = Callable[[], Awaitable[dict[str, Any]]]
ASGISend = Callable[[dict[str, Any]], Awaitable[None]]


def local_settings(api_base: str, tls_port: int) -> dict[str, str]:
    """The app settings of a local stack whose host serves this issuer's sign-in site on `tls_port`."""
    authority = f"https://127.0.0.1:{tls_port}{ROUTE_PREFIX}"
    return {
        TLS_PORT_SETTING: str(tls_port),
        "ENTRA_AUTHORITY_HOST": authority,
        "ENTRA_V1_ISSUER_HOST": v1_issuer_host(authority),
        # The product fetches the keys itself: the plain listener serves them too, no CA to trust.
        "ENTRA_JWKS_URL": f"{api_base.rstrip('/')}{ROUTE_PREFIX}/discovery/v2.0/keys",
    }


def cert_dir() -> Path:
    return Path(os.environ.get(CERT_DIR_SETTING, str(REPO / ".localdev" / "dev-issuer-tls")))


def certificates() -> Certificates:
    """A local CA and its 127.0.0.1 certificate (the Graph stand-in's kind), made once per checkout;
    hosts starting side by side take turns under a lock, so none reads another's half-written file."""
    from localdev.graph_standin import ensure_certificates

    directory = cert_dir()
    directory.parent.mkdir(parents=True, exist_ok=True)
    with (directory.parent / f"{directory.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return ensure_certificates(directory)


def tls_server(port: int, site: SignInSite | None = None) -> tuple[uvicorn.Server, list[socket.socket]]:
    """The sign-in site's server and its socket, bound now (a port in use fails the caller at once)."""
    import uvicorn

    class Server(uvicorn.Server):
        # The host's own server takes SIGINT/SIGTERM and stops this one; two servers capturing
        # signals in one thread would each undo the other's handlers.
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    files = certificates()
    config = uvicorn.Config(
        site or SignInSite.from_environment(),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        ssl_certfile=str(files.certificate),
        ssl_keyfile=str(files.key),
    )
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("127.0.0.1", port))
        listener.listen(128)
    except OSError:
        listener.close()
        raise
    return Server(config), [listener]


@dataclass(frozen=True)
class Person:
    """Someone the picker offers: a person of a partner, or anyone typed in."""

    tenant_id: str
    object_id: str
    name: str
    email: str = ""
    partner: str = ""
    role: str = ""
    status: str = ""


def partners_people() -> list[Person]:
    """Every person of every partner in local storage, read through the product's services."""
    from functions import deps
    from shared.access.reach import TenantReach
    from shared.errors import ProblemError
    from shared.partners.access import AccessService

    config = deps.settings()
    router = deps.storage()
    partner_ids = list(deps.partners().directory.list_regions())

    def people_of(partner_id: str) -> list[Person]:
        try:
            partner = deps.partners().get(partner_id)
            account = router.region(partner.region)
        except ProblemError:
            return []
        access = AccessService(account, partner.id, deps.clock(), deps.key_ring(config))
        found: list[Person] = []
        continuation: str | None = None
        while True:
            page, continuation = access.list_personnel(100, continuation, TenantReach())
            found += [
                Person(
                    tenant_id=partner.entra_tenant_id.lower(),
                    object_id=str(p.object_id).lower(),
                    name=p.display_name or p.email,
                    email=p.email,
                    partner=partner.display_name,
                    role=p.role.value,
                    status=p.status.value,
                )
                for p in page
            ]
            if not continuation:
                return found

    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="dev-issuer") as pool:
        people = [person for found in pool.map(people_of, partner_ids) for person in found]
    return sorted(people, key=lambda p: (p.partner.lower(), p.name.lower(), p.email))


@dataclass(frozen=True)
class AuthorizeRequest:
    """What an authorise request asked for, kept with its code until the code is redeemed."""

    tenant: str
    client_id: str
    redirect_uri: str
    response_mode: str
    state: str
    nonce: str
    scope: str
    code_challenge: str


@dataclass(frozen=True)
class Grant:
    request: AuthorizeRequest
    person: Person
    expires: float


@dataclass
class Answer:
    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)


class RefusedError(Exception):
    """A request Entra would refuse: `error`, the AADSTS number and its text (to the redirect URI
    from the authorise endpoint, as JSON from the token endpoint)."""

    def __init__(self, error: str, code: int, text: str):
        super().__init__(text)
        self.error, self.code, self.text = error, code, text


def is_loopback_uri(uri: str) -> bool:
    """Locally every redirect URI on this machine counts as registered (the portal's among them)."""
    parts = urlsplit(uri)
    return parts.scheme in {"http", "https"} and (parts.hostname or "") in LOOPBACK_HOSTS


def client_info(person: Person) -> str:
    """What MSAL builds its account from: base64url JSON {uid: oid, utid: tid}, as Entra sends it."""
    raw = json.dumps({"uid": person.object_id, "utid": person.tenant_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def _aadsts(code: int, text: str) -> tuple[str, dict[str, Any]]:
    """Entra's error wording: `AADSTS<n>: text` with trace, correlation and time appended."""
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    moment = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    description = f"AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {moment}"
    return description, {"timestamp": moment, "trace_id": trace, "correlation_id": correlation}


class SignInSite:
    """Entra ID's v2 sign-in for single-page apps (authorisation code + PKCE), as an ASGI app.

    Codes and pending picks live in this process (the host's), as a sign-in lives at Entra; the
    session cookie and refresh tokens are signed with the issuer's key, so they outlive a restart.
    """

    def __init__(
        self,
        *,
        authority_host: str,
        audience: str,
        client_ids: Iterable[str],
        people: Callable[[], list[Person]] = partners_people,
        clock: Callable[[], float] = time.time,
    ):
        self.authority_host = authority_host.rstrip("/")
        self.audience = audience
        self.client_ids = frozenset(client_ids)
        self.people = people
        self.clock = clock
        self._pending: dict[str, tuple[float, AuthorizeRequest]] = {}
        self._codes: dict[str, Grant] = {}
        self._redeemed: dict[str, float] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_environment(cls) -> SignInSite:
        portal = os.environ.get(PORTAL_CLIENT_SETTING, "").strip()
        return cls(
            authority_host=os.environ["ENTRA_AUTHORITY_HOST"],
            audience=os.environ.get("ENTRA_AUDIENCE", ""),
            client_ids={DEV_CLIENT_APP, *([portal] if portal else [])},
        )

    # --- ASGI ---------------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: ASGIReceive, send: ASGISend) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        form = (
            dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            if headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
            else {}
        )
        answer = await asyncio.to_thread(
            self.handle, scope["method"].upper(), scope["path"], query, form, headers
        )
        await send(
            {
                "type": "http.response.start",
                "status": answer.status,
                "headers": [
                    (b"content-type", answer.content_type.encode()),
                    (b"cache-control", b"no-store"),
                    *[(k.encode(), v.encode()) for k, v in answer.headers],
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer.body})

    def handle(
        self, method: str, path: str, query: dict[str, str], form: dict[str, str], headers: dict[str, str]
    ) -> Answer:
        segments = path[len(ROUTE_PREFIX) + 1 :].split("/") if path.startswith(ROUTE_PREFIX + "/") else []
        if segments == ["discovery", "v2.0", "keys"]:
            return self._json(200, jwks(), cors="*")
        if not segments or not _TENANT_SEGMENT.match(segments[0]):
            return self._json(404, {"error": "not_found"})
        tenant, rest = segments[0], "/".join(segments[1:])
        origin = headers.get("origin", "")
        routes: dict[tuple[str, str], Callable[[], Answer]] = {
            ("GET", "v2.0/.well-known/openid-configuration"): lambda: self._json(
                200, self.discovery(tenant), cors="*"
            ),
            ("GET", "discovery/instance"): lambda: self._json(200, self.instance_discovery(tenant), cors="*"),
            ("GET", "discovery/v2.0/keys"): lambda: self._json(200, jwks(), cors="*"),
            ("GET", "oauth2/v2.0/authorize"): lambda: self.authorize(
                tenant, query, headers.get("cookie", "")
            ),
            ("POST", "oauth2/v2.0/authorize"): lambda: self.pick(tenant, form),
            ("OPTIONS", "oauth2/v2.0/token"): lambda: self.preflight(
                origin, headers.get("access-control-request-headers", "")
            ),
            ("POST", "oauth2/v2.0/token"): lambda: self.token(form, origin),
            ("GET", "oauth2/v2.0/logout"): lambda: self.logout(query),
            ("POST", "oauth2/v2.0/logout"): lambda: self.logout(form),
        }
        route = routes.get((method, rest))
        return route() if route else self._json(404, {"error": "not_found"})

    # --- discovery ------------------------------------------------------------------------------

    def discovery(self, tenant: str) -> dict[str, Any]:
        base = f"{self.authority_host}/{tenant}"
        issuer_tenant = "{tenantid}" if tenant.lower() in MULTI_TENANT else tenant.lower()
        return {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["none"],
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{self.authority_host}/{issuer_tenant}/v2.0",
            "request_uri_parameter_supported": False,
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "claims_supported": list(_CLAIMS),
            "tenant_region_scope": "EU",
            "cloud_instance_name": "127.0.0.1",
        }

    def instance_discovery(self, tenant: str) -> dict[str, Any]:
        host = urlsplit(self.authority_host).netloc
        return {
            "tenant_discovery_endpoint": f"{self.authority_host}/{tenant}{_OPENID_CONFIGURATION}",
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        }

    # --- authorise ------------------------------------------------------------------------------

    def authorize(self, tenant: str, query: dict[str, str], cookie: str) -> Answer:
        client_id, redirect_uri = query.get("client_id", ""), query.get("redirect_uri", "")
        mode = query.get("response_mode") or "query"
        # Without a known app and reply address Entra shows its own error page, never redirects.
        try:
            self._check_app(client_id, redirect_uri, mode)
        except RefusedError as refused:
            return self._error_page(refused.code, refused.text)
        request = AuthorizeRequest(
            tenant=tenant,
            client_id=client_id,
            redirect_uri=redirect_uri,
            response_mode=mode,
            state=query.get("state", ""),
            nonce=query.get("nonce", ""),
            scope=query.get("scope", ""),
            code_challenge=query.get("code_challenge", ""),
        )
        try:
            self._check_authorize(query)
            if query.get("prompt") == "none":
                person = self._session(cookie)
                if person is None:
                    raise RefusedError(
                        "login_required", 50058, "A silent sign-in request was sent but no user is signed in."
                    )
                return self._issue_code(request, person)
        except RefusedError as refused:
            return self._refuse(request, refused)
        pending = secrets.token_urlsafe(24)
        with self._lock:
            now = self.clock()
            self._pending = {k: v for k, v in self._pending.items() if v[0] > now}
            self._pending[pending] = (now + PENDING_SECONDS, request)
        return self._picker(tenant, pending)

    def _check_app(self, client_id: str, redirect_uri: str, mode: str) -> None:
        if client_id not in self.client_ids:
            raise RefusedError("unauthorized_client", 700016, _UNKNOWN_APP.format(client_id))
        if not redirect_uri:
            raise RefusedError("invalid_request", 900971, "No reply address provided.")
        if not is_loopback_uri(redirect_uri):
            raise RefusedError(
                "invalid_request",
                50011,
                f"The redirect URI '{redirect_uri}' specified in the request does not match the redirect "
                f"URIs configured for the application '{client_id}'.",
            )
        if mode not in {"query", "fragment"}:
            raise RefusedError(
                "invalid_request", 900352, f"Invalid response_mode '{mode}': query or fragment."
            )

    def _check_authorize(self, query: dict[str, str]) -> None:
        if query.get("response_type") != "code":
            raise RefusedError(
                "unsupported_response_type",
                70005,
                f"The response_type '{query.get('response_type', '')}' is not enabled for the application.",
            )
        if not query.get("code_challenge") or query.get("code_challenge_method") != "S256":
            raise RefusedError(
                "invalid_request",
                9002325,
                "Proof Key for Code Exchange is required for cross-origin authorization code redemption: "
                "send code_challenge with code_challenge_method S256.",
            )
        self._resource_scopes(query.get("scope", ""))

    def pick(self, tenant: str, form: dict[str, str]) -> Answer:
        """The picker's choice: a code to the app's redirect URI, and the person remembered."""
        with self._lock:
            held = self._pending.get(form.get("pending", ""))
        if held is None or held[0] <= self.clock():
            return self._error_page(50000, "This sign-in has expired or was already completed; start again.")
        request = held[1]
        try:
            tenant_id, object_id = str(uuid.UUID(form.get("tid", ""))), str(uuid.UUID(form.get("oid", "")))
        except ValueError:
            return self._picker(
                tenant, form.get("pending", ""), note="Tenant id and object id must be GUIDs."
            )
        with self._lock:
            self._pending.pop(form.get("pending", ""), None)
        name = form.get("name", "").strip() or "Someone Else"
        person = Person(tenant_id, object_id, name, form.get("email", "").strip())
        return self._issue_code(request, person)

    def _issue_code(self, request: AuthorizeRequest, person: Person) -> Answer:
        code = secrets.token_urlsafe(32)
        with self._lock:
            now = self.clock()
            self._codes = {k: v for k, v in self._codes.items() if v.expires > now}
            self._codes[code] = Grant(request, person, now + CODE_SECONDS)
        params = {"code": code, "client_info": client_info(person)}
        if request.state:
            params["state"] = request.state
        return self._redirect(self._compose(request, params), [("set-cookie", self._session_cookie(person))])

    def _refuse(self, request: AuthorizeRequest, refused: RefusedError) -> Answer:
        description, _ = _aadsts(refused.code, refused.text)
        params = {"error": refused.error, "error_description": description}
        if request.state:
            params["state"] = request.state
        return self._redirect(self._compose(request, params))

    @staticmethod
    def _compose(request: AuthorizeRequest, params: dict[str, str]) -> str:
        if request.response_mode == "fragment":
            return f"{request.redirect_uri.split('#', 1)[0]}#{urlencode(params)}"
        joiner = "&" if "?" in request.redirect_uri else "?"
        return f"{request.redirect_uri}{joiner}{urlencode(params)}"

    # --- the session cookie ----------------------------------------------------------------------

    def _session_cookie(self, person: Person) -> str:
        now = int(self.clock())
        claims = {
            "aud": _SESSION_AUDIENCE,
            "tid": person.tenant_id,
            "oid": person.object_id,
            "name": person.name,
            "email": person.email,
            "iat": now,
            "exp": now + SESSION_SECONDS,
        }
        value = jwt.encode(claims, signing_key(), algorithm="RS256", headers={"kid": KID})
        # SameSite=None: MSAL's silent sign-in runs in an iframe of the portal's (http) origin,
        # which is another site than this https origin.
        return (
            f"{SESSION_COOKIE}={value}; Path={ROUTE_PREFIX}; Max-Age={SESSION_SECONDS}; "
            "HttpOnly; Secure; SameSite=None"
        )

    def _session(self, cookie: str) -> Person | None:
        for part in cookie.split(";"):
            name, _, value = part.strip().partition("=")
            if name != SESSION_COOKIE:
                continue
            try:
                claims = jwt.decode(
                    value, signing_key().public_key(), algorithms=["RS256"], audience=_SESSION_AUDIENCE
                )
            except jwt.PyJWTError:
                return None
            return Person(claims["tid"], claims["oid"], claims["name"], claims.get("email", ""))
        return None

    def logout(self, params: dict[str, str]) -> Answer:
        cleared = [
            (
                "set-cookie",
                f"{SESSION_COOKIE}=; Path={ROUTE_PREFIX}; Max-Age=0; HttpOnly; Secure; SameSite=None",
            )
        ]
        target = params.get("post_logout_redirect_uri", "")
        if target and is_loopback_uri(target):
            if params.get("state"):
                target += ("&" if "?" in target else "?") + urlencode({"state": params["state"]})
            return self._redirect(target, cleared)
        return self._html(200, "Signed out", "<p>You have signed out of the development issuer.</p>", cleared)

    # --- token ----------------------------------------------------------------------------------

    def preflight(self, origin: str, requested_headers: str) -> Answer:
        headers = [
            ("access-control-allow-methods", "POST, OPTIONS"),
            ("access-control-allow-headers", requested_headers or "content-type"),
            ("access-control-max-age", "86400"),
        ]
        return Answer(204, headers=self._cors_headers(origin) + headers)

    def token(self, form: dict[str, str], origin: str) -> Answer:
        cors = self._cors_headers(origin)
        try:
            client_id = form.get("client_id", "")
            if not client_id:
                raise RefusedError("invalid_request", 900144, _MISSING.format("client_id"))
            if client_id not in self.client_ids:
                raise RefusedError("unauthorized_client", 700016, _UNKNOWN_APP.format(client_id))
            grant_type = form.get("grant_type", "")
            if grant_type == "authorization_code":
                tokens = self._redeem_code(form, client_id)
            elif grant_type == "refresh_token":
                tokens = self._redeem_refresh(form, client_id)
            elif not grant_type:
                raise RefusedError("invalid_request", 900144, _MISSING.format("grant_type"))
            else:
                raise RefusedError(
                    "unsupported_grant_type",
                    70003,
                    f"The app requested an unsupported grant type '{grant_type}'.",
                )
        except RefusedError as refused:
            return self._token_error(cors, refused)
        return self._json(200, tokens, headers=cors)

    def _redeem_code(self, form: dict[str, str], client_id: str) -> dict[str, Any]:
        code = form.get("code", "")
        if not code:
            raise RefusedError("invalid_request", 900144, _MISSING.format("code"))
        with self._lock:
            now = self.clock()
            # A code is spent by its first redemption, whether that succeeds or not.
            grant = self._codes.pop(code, None)
            redeemed = code in self._redeemed
            self._redeemed = {k: v for k, v in self._redeemed.items() if v > now}
            self._redeemed[code] = now + 3600
        if grant is None:
            if redeemed:
                raise RefusedError(
                    "invalid_grant",
                    54005,
                    "OAuth2 Authorization code was already redeemed, please retry with a new valid code "
                    "or use an existing refresh token.",
                )
            raise RefusedError(
                "invalid_grant", 70000, "The provided value for the 'code' parameter is not valid."
            )
        if grant.expires <= now:
            raise RefusedError(
                "invalid_grant",
                70008,
                "The provided authorization code or refresh token has expired due to inactivity. "
                "Send a new interactive authorization request for this user and resource.",
            )
        request = grant.request
        if request.client_id != client_id:
            raise RefusedError("invalid_grant", 70000, "The 'code' was issued to another application.")
        if form.get("redirect_uri", "") != request.redirect_uri:
            raise RefusedError(
                "invalid_grant",
                500112,
                f"The reply address '{form.get('redirect_uri', '')}' does not match the reply address "
                f"'{request.redirect_uri}' provided when requesting Authorization code.",
            )
        verifier = form.get("code_verifier", "")
        if not verifier:
            raise RefusedError("invalid_request", 900144, _MISSING.format("code_verifier"))
        if not secrets.compare_digest(s256(verifier), request.code_challenge):
            raise RefusedError(
                "invalid_grant",
                50148,
                "The code_verifier does not match the code_challenge supplied in the authorization request "
                "for PKCE.",
            )
        return self._tokens(
            grant.person, client_id, self._resource_scopes(form.get("scope") or request.scope), request.nonce
        )

    def _redeem_refresh(self, form: dict[str, str], client_id: str) -> dict[str, Any]:
        try:
            claims = jwt.decode(
                form.get("refresh_token", ""),
                signing_key().public_key(),
                algorithms=["RS256"],
                audience=_REFRESH_AUDIENCE,
            )
        except jwt.ExpiredSignatureError:
            raise RefusedError(
                "invalid_grant", 700082, "The refresh token has expired due to inactivity."
            ) from None
        except jwt.PyJWTError:
            raise RefusedError(
                "invalid_grant",
                9002313,
                "Invalid request. Request is malformed or invalid: the refresh token.",
            ) from None
        if claims.get("azp") != client_id:
            raise RefusedError(
                "invalid_grant", 70000, "The 'refresh_token' was issued to another application."
            )
        person = Person(claims["tid"], claims["oid"], claims.get("name", ""), claims.get("email", ""))
        resources = self._resource_scopes(form.get("scope") or str(claims.get("scope", "")))
        return self._tokens(person, client_id, resources, "")

    def _resource_scopes(self, scope: str) -> list[str]:
        """The API scopes asked for (ours when none is); only this API's are known here."""
        ours = {f"{self.audience}/{ACCESS_AS_USER}", f"{self.audience}/.default"}
        resources = [s for s in scope.split() if s not in OIDC_SCOPES]
        if any(s not in ours for s in resources):
            raise RefusedError(
                "invalid_scope",
                70011,
                f"The provided value for the input parameter 'scope' is not valid: only "
                f"{self.audience}/{ACCESS_AS_USER} and OpenID Connect scopes are known here.",
            )
        return resources or [f"{self.audience}/{ACCESS_AS_USER}"]

    def _tokens(self, person: Person, client_id: str, resources: list[str], nonce: str) -> dict[str, Any]:
        """Entra's token response: an access token for the API, an id token for the app, a refresh token."""
        now = int(self.clock())
        issuer = f"{self.authority_host}/{person.tenant_id}/v2.0"
        access = mint(
            tenant_id=person.tenant_id,
            object_id=person.object_id,
            audience=self.audience,
            authority_host=self.authority_host,
            name=person.name,
            lifetime_seconds=ACCESS_SECONDS,
            issued_at=now,
            app_id=client_id,
            preferred_username=person.email or None,
        )
        # `sub` is pairwise at Entra (per user and app): a hash of both stands in for it.
        subject = base64.urlsafe_b64encode(
            hashlib.sha256(f"{person.object_id}:{client_id}".encode()).digest()
        ).rstrip(b"=")
        id_claims: dict[str, Any] = {
            "aud": client_id,
            "iss": issuer,
            "iat": now,
            "nbf": now,
            "exp": now + ACCESS_SECONDS,
            "name": person.name,
            "oid": person.object_id,
            "preferred_username": person.email or person.name,
            "sub": subject.decode(),
            "tid": person.tenant_id,
            "ver": "2.0",
        }
        if nonce:
            id_claims["nonce"] = nonce
        refresh_claims = {
            "aud": _REFRESH_AUDIENCE,
            "azp": client_id,
            "tid": person.tenant_id,
            "oid": person.object_id,
            "name": person.name,
            "email": person.email,
            "scope": " ".join(resources),
            "iat": now,
            "exp": now + REFRESH_SECONDS,
        }
        key, headers = signing_key(), {"kid": KID}
        return {
            "token_type": "Bearer",
            "scope": " ".join(resources),
            "expires_in": ACCESS_SECONDS,
            "ext_expires_in": ACCESS_SECONDS,
            "access_token": access,
            "refresh_token": jwt.encode(refresh_claims, key, algorithm="RS256", headers=headers),
            "refresh_token_expires_in": REFRESH_SECONDS,
            "id_token": jwt.encode(id_claims, key, algorithm="RS256", headers=headers),
            "client_info": client_info(person),
        }

    # --- answers ----------------------------------------------------------------------------------

    @staticmethod
    def _cors_headers(origin: str) -> list[tuple[str, str]]:
        """Entra lets a single-page app's registered origin read the token endpoint's answers;
        here every origin on this machine is registered."""
        if origin and is_loopback_uri(origin):
            return [("access-control-allow-origin", origin), ("vary", "Origin")]
        return [("vary", "Origin")]

    def _token_error(self, cors: list[tuple[str, str]], refused: RefusedError) -> Answer:
        description, trace = _aadsts(refused.code, refused.text)
        body = {
            "error": refused.error,
            "error_description": description,
            "error_codes": [refused.code],
            **trace,
            "error_uri": f"{self.authority_host}/error?code={refused.code}",
        }
        return self._json(400, body, headers=cors)

    @staticmethod
    def _json(
        status: int, body: dict[str, Any], *, headers: list[tuple[str, str]] | None = None, cors: str = ""
    ) -> Answer:
        extra = list(headers or [])
        if cors:
            extra.append(("access-control-allow-origin", cors))
        return Answer(status, json.dumps(body).encode(), headers=extra)

    @staticmethod
    def _redirect(location: str, headers: list[tuple[str, str]] | None = None) -> Answer:
        return Answer(302, b"", "text/plain; charset=utf-8", [("location", location), *(headers or [])])

    @staticmethod
    def _html(status: int, title: str, content: str, headers: list[tuple[str, str]] | None = None) -> Answer:
        page = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
            f"<body><main><h1>{html.escape(title)}</h1>{content}</main></body></html>"
        )
        security = [
            # No script at all; a form's redirect to the app must stay allowed (no form-action).
            (
                "content-security-policy",
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
            ),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "no-referrer"),
        ]
        return Answer(status, page.encode(), "text/html; charset=utf-8", [*security, *(headers or [])])

    def _error_page(self, code: int, text: str) -> Answer:
        description, _ = _aadsts(code, text)
        return self._html(400, "Sign-in failed", f'<p class="error">{html.escape(description)}</p>')

    def _picker(self, tenant: str, pending: str, note: str = "") -> Answer:
        action = html.escape(f"{ROUTE_PREFIX}/{tenant}/oauth2/v2.0/authorize")
        hidden = f'<input type="hidden" name="pending" value="{html.escape(pending)}">'
        people = self.people()
        rows = []
        for person in people:
            fields = "".join(
                f'<input type="hidden" name="{name}" value="{html.escape(value)}">'
                for name, value in (
                    ("tid", person.tenant_id),
                    ("oid", person.object_id),
                    ("name", person.name),
                    ("email", person.email),
                )
            )
            label = (
                f'<span class="name">{html.escape(person.name)}</span>'
                f'<span class="email">{html.escape(person.email)}</span>'
                f'<span class="partner">{html.escape(person.partner)} · {html.escape(person.role)}'
                + (f" ({html.escape(person.status)})" if person.status and person.status != "active" else "")
                + "</span>"
            )
            rows.append(
                f'<li><form method="post" action="{action}">{hidden}{fields}'
                f'<button type="submit" class="person">{label}</button></form></li>'
            )
        listing = (
            f'<ul class="people">{"".join(rows)}</ul>'
            if rows
            else "<p>No partner has personnel in local storage yet.</p>"
        )
        someone = (
            f'<h2>Someone else</h2><form method="post" action="{action}" class="other">{hidden}'
            '<label>Tenant id <input name="tid" required></label>'
            '<label>Object id <input name="oid" required></label>'
            '<label>Name <input name="name"></label>'
            '<label>E-mail <input name="email"></label>'
            '<button type="submit">Sign in</button></form>'
        )
        warning = f'<p class="error">{html.escape(note)}</p>' if note else ""
        intro = "<p>Local development issuer: pick who signs in. Nobody is asked for a password.</p>"
        return self._html(200, "Pick an account", intro + warning + listing + someone)


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:0;background:#f5f5f5;color:#242424}"
    "main{max-width:40rem;margin:2rem auto;padding:1.5rem;background:#fff;border-radius:8px}"
    "ul.people{list-style:none;padding:0}ul.people li{margin:.25rem 0}"
    "button.person{display:flex;flex-direction:column;align-items:flex-start;width:100%;padding:.6rem;"
    "border:1px solid #d1d1d1;border-radius:4px;background:#fff;cursor:pointer;text-align:left}"
    "button.person:hover{background:#ebf3fc}.email,.partner{font-size:.85rem;color:#616161}"
    ".name{font-weight:600}form.other label{display:block;margin:.4rem 0}.error{color:#b10e1c}"
)

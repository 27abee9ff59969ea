"""A local Microsoft Graph v1.0 and Entra ID (tokens, sign-in, keys) over HTTPS, in their real wire formats.

Graph is not reachable from these machines, so the adapter, the real msgraph-sdk, azure-identity and
MSAL talk to this ASGI app instead (`python -m localdev.graph_standin`, or `serve_in_thread` from a
test). A tenant is generated deterministically from its id (`graph_tenant.generate_tenant`) with
SANDBOX_TENANT_USERS users the first time anything names it.

What it models of the identity platform:
- Per-tenant consent. Tenantry's app has a service principal only in the tenants in the consent set
  (`put_tenant` consents by default; `/_standin/tenants/{id}/consent` grants and revokes). A
  client-credentials request for any other tenant fails as Entra's does (400 `unauthorized_client`,
  AADSTS700016); a token already issued keeps working until it expires.
- The authorisation-code flow with OpenID Connect that an admin-consent link drives:
  `/{tenant}/oauth2/v2.0/authorize` signs in the user `login_hint` names (or shows a user picker),
  and a Global or Privileged Role Administrator with `prompt=consent` consents for the whole tenant.
  Codes are single use, live 10 minutes on the stand-in clock, are bound to client, redirect URI and
  PKCE (S256) challenge; redeeming one gives an RS256 ID token (`tid`, `oid`, `nonce`, `wids`, ...)
  whose key is published at `/{tenant}/discovery/v2.0/keys`. Failures carry Entra's AADSTS numbers.
- GDAP: per partner tenant, `delegatedAdminRelationship`s as Graph v1.0 shows them under
  `tenantRelationships` (filter on status and customer, paging; `expired` once endDateTime has
  passed on the stand-in clock), and the partner's `delegatedAdminCustomers`.

Why HTTPS: azure-identity and MSAL refuse any authority that is not `https://` (azure-identity's
`normalize_authority`, MSAL's `canonicalize`), so the token endpoint must be TLS. The stand-in makes
its own CA and server certificate; clients trust that CA through GRAPH_CA_BUNDLE (azure-core's
`connection_verify`, an httpx SSL context). MSAL's instance discovery asks login.microsoftonline.com
about unknown hosts, so the credential is built with `disable_instance_discovery=True` for a
non-Microsoft authority; MSAL then reads `/{tenant}/v2.0/.well-known/openid-configuration` from
the stand-in and posts the client-credentials grant to the token endpoint it names.

Control endpoints under `/_standin/` (no token needed) regenerate or mutate tenants, grant and
revoke consent, add and change GDAP relationships, inject faults (429 with Retry-After, 503, slow
pages, any status), expire delta tokens, move the stand-in's clock, and list the requests served,
so tests can check what a client really sent. Access and ID tokens keep real time (clients check
them against their own clock); codes, delta tokens and relationships age by the stand-in clock.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import html
import ipaddress
import json
import logging
import os
import re
import secrets
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from localdev.graph_tenant import (
    GLOBAL_ADMIN_TEMPLATE,
    GROUP_DEFAULT_SELECT,
    GROUP_PROPERTIES,
    ROLES,
    USER_DEFAULT_SELECT,
    USER_PROPERTIES,
    GeneratedTenant,
    generate_tenant,
    organization_name,
)

log = logging.getLogger("localdev.graph_standin")

ASGIReceive = Callable[[], Awaitable[dict[str, Any]]]
ASGISend = Callable[[dict[str, Any]], Awaitable[None]]

GRAPH_AUDIENCE = "https://graph.microsoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
DELTA_TOKEN_LIFETIME = timedelta(days=7)  # directory objects: Graph keeps sync state for 7 days
DEFAULT_DELTA_PAGE = 100  # what users/delta returns without a Prefer header
MAX_PAGE = 999
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_MAXPAGESIZE = re.compile(r"odata\.maxpagesize\s*=\s*(\d+)")
_JSON = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
_WRITABLE_USER = frozenset(
    {
        "accountEnabled",
        "usageLocation",
        "displayName",
        "givenName",
        "surname",
        "jobTitle",
        "department",
        "officeLocation",
        "mobilePhone",
        "businessPhones",
        "preferredLanguage",
        "companyName",
        "country",
        "city",
        "employeeId",
        "mail",
        "userPrincipalName",
    }
)
APP_ROLES = (
    "User.ReadWrite.All",
    "Group.Read.All",
    "GroupMember.ReadWrite.All",
    "Organization.Read.All",
    "Domain.Read.All",
    "RoleManagement.Read.Directory",
    "Policy.Read.All",
    "Policy.ReadWrite.ConditionalAccess",
    "LicenseAssignment.ReadWrite.All",
    "DelegatedAdminRelationship.Read.All",
    "AuditLog.Read.All",
    "SecurityEvents.Read.All",
    "User-PasswordProfile.ReadWrite.All",
)
# Graph's answer to a report or property that needs Entra ID P1/P2 in a tenant without it.
PREMIUM_REQUIRED = (
    403,
    "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
    "Neither tenant is B2C or tenant doesn't have premium license",
)
PREMIUM_PLANS = frozenset({"AAD_PREMIUM", "AAD_PREMIUM_P2"})

# --- identity platform ---
PRIVILEGED_ROLE_ADMIN_TEMPLATE = "e8611ab8-c189-46e8-94e1-60213ab1f814"
# Only these roles may grant an app's application permissions for the whole organisation.
CONSENTING_ROLES = frozenset({GLOBAL_ADMIN_TEMPLATE, PRIVILEGED_ROLE_ADMIN_TEMPLATE})
# Entra lists the "member user" role template in every member's `wids`, admin or not.
MEMBER_USER_TEMPLATE = "b79fbf4d-3ef9-4689-8143-76b194e85509"
AUTH_CODE_LIFETIME = timedelta(minutes=10)
ID_TOKEN_SECONDS = 3600
ACCESS_TOKEN_SECONDS = 3599
_MULTI_TENANT = frozenset({"common", "organizations"})
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})  # the only hosts Entra lets use http://
_S256_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_PROMPTS = frozenset({"login", "none", "consent", "select_account"})
_PICKER_LIMIT = 200

# --- GDAP (tenantRelationships) ---
GDAP_DEFAULT_ROLES = (
    "f2ef992c-3afb-46b9-b7cf-a126ee74c451",  # Global Reader
    "fe930be7-5e62-47db-91af-98c3a49a38b1",  # User Administrator
    "194ae4cb-b126-40b2-bd5b-6091b380977d",  # Security Administrator
)
# microsoft.graph.delegatedAdminRelationshipStatus in the v1.0 metadata, in its order.
GDAP_STATUSES = (
    "activating",
    "active",
    "approvalPending",
    "approved",
    "created",
    "expired",
    "expiring",
    "terminated",
    "terminating",
    "terminationRequested",
    "unknownFutureValue",
)
# Statuses of a relationship that has been activated (so has an activatedDateTime and an end).
_GDAP_ACTIVATED = frozenset(
    {"active", "expired", "expiring", "terminated", "terminating", "terminationRequested"}
)
GDAP_AUTO_EXTEND = ("PT0S", "P0D", "P180D")
GDAP_AUTO_EXTENSION = timedelta(days=180)
GDAP_READ_PERMISSIONS = frozenset(
    {"DelegatedAdminRelationship.Read.All", "DelegatedAdminRelationship.ReadWrite.All"}
)
GDAP_MAX_TOP = 300  # "$top supports up to 300 objects"
GDAP_DEFAULT_PAGE = 100


class GraphReplyError(Exception):
    """A response in Graph's error shape: {"error": {"code", "message", "innerError"}}."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def not_found(key: str) -> GraphReplyError:
    return GraphReplyError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{key}' does not exist or one of its queried reference-property objects are not present.",
    )


def bad_request(message: str, code: str = "Request_BadRequest") -> GraphReplyError:
    return GraphReplyError(400, code, message)


# --- tokens ----------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_jwt(claims: dict[str, Any], key: bytes) -> str:
    """An HS256 JWT: a stand-in need not be asymmetric, only able to tell its own tokens apart."""
    header = _b64(json.dumps({"typ": "JWT", "alg": "HS256"}, separators=(",", ":")).encode())
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def verify_jwt(token: str, key: bytes) -> dict[str, Any] | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    expected = hmac.new(key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(expected, _unb64(parts[2])):
            return None
        claims: dict[str, Any] = json.loads(_unb64(parts[1]))
    except ValueError:
        return None
    return claims


def _pack(state: dict[str, Any]) -> str:
    return _b64(json.dumps(state, separators=(",", ":")).encode())


def _unpack(token: str) -> dict[str, Any]:
    try:
        state: dict[str, Any] = json.loads(_unb64(token))
    except ValueError as error:
        raise bad_request("The specified token is invalid.", "BadRequest") from error
    return state


def _int_bytes(number: int) -> bytes:
    return number.to_bytes((number.bit_length() + 7) // 8, "big")


@dataclass(frozen=True)
class IdTokenKey:
    """The stand-in's RSA key for ID tokens, published as a JWK with a self-signed certificate (x5c)."""

    private_key: Any
    kid: str
    jwk: dict[str, Any]

    @classmethod
    def generate(cls) -> IdTokenKey:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenantry identity stand-in")])
        start = datetime.now(UTC) - timedelta(minutes=5)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(days=365))
            .sign(key, hashes.SHA256())
        )
        der = certificate.public_bytes(serialization.Encoding.DER)
        # Entra's kid is the certificate's x5t, a SHA-1 thumbprint by definition (RFC 7517 4.8).
        thumbprint = _b64(hashlib.sha1(der).digest())  # noqa: S324
        numbers = key.public_key().public_numbers()
        jwk = {
            "kty": "RSA",
            "use": "sig",
            "kid": thumbprint,
            "x5t": thumbprint,
            "n": _b64(_int_bytes(numbers.n)),
            "e": _b64(_int_bytes(numbers.e)),
            "x5c": [base64.b64encode(der).decode()],
        }
        return cls(key, thumbprint, jwk)

    def sign(self, claims: dict[str, Any]) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        header = {"typ": "JWT", "alg": "RS256", "kid": self.kid}
        signing_input = ".".join(
            _b64(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        signature = self.private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"


def _sts_description(number: int, description: str) -> tuple[str, str, str, str]:
    """Entra's error_description (message, trace, correlation id, timestamp) and its three ids."""
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    text = f"AADSTS{number}: {description} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {stamp}"
    return text, trace, correlation, stamp


def sts_error(status: int, code: str, number: int, description: str) -> tuple[int, dict[str, str], bytes]:
    """A token endpoint refusal in Entra's JSON shape."""
    text, trace, correlation, stamp = _sts_description(number, description)
    return _json(
        status,
        {
            "error": code,
            "error_description": text,
            "error_codes": [number],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
        },
    )


def app_not_found(client_id: str, tenant: str) -> tuple[int, dict[str, str], bytes]:
    return sts_error(
        400,
        "unauthorized_client",
        700016,
        f"Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can "
        "happen if the application has not been installed by the administrator of the tenant or consented "
        "to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
    )


def _iso(moment: float | None) -> str | None:
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _timestamp(value: Any) -> float:
    """A DateTimeOffset from a control request (ISO 8601; UTC when it names no offset)."""
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _guid(value: Any, name: str) -> str:
    text = str(value or "").strip().lower()
    if not _GUID.match(text):
        raise ValueError(f"{name} must be a GUID, not {value!r}")
    return text


@dataclass
class AuthorizationCode:
    """What a code stands for until it is redeemed: who signed in where, for which client and challenge."""

    tenant_id: str
    client_id: str
    redirect_uri: str
    user_id: str
    scopes: list[str]
    nonce: str | None
    code_challenge: str | None
    issued_at: float  # stand-in clock
    redeemed: bool = False


@dataclass
class Relationship:
    """One GDAP relationship between a partner tenant and a customer tenant."""

    id: str
    partner_tenant_id: str
    customer_tenant_id: str
    customer_display_name: str
    display_name: str
    roles: list[str]
    status: str
    days: int
    auto_extend: str
    created: float
    modified: float
    activated: float | None
    end: float | None

    def end_at(self, now: float) -> float | None:
        """endDateTime after the automatic extensions due by `now` (P180D; not with Global Administrator)."""
        end = self.end
        extends = self.auto_extend == "P180D" and GLOBAL_ADMIN_TEMPLATE not in self.roles
        if end is None or self.status != "active" or not extends:
            return end
        step = GDAP_AUTO_EXTENSION.total_seconds()
        while end <= now:
            end += step
        return end

    def status_at(self, now: float) -> str:
        end = self.end_at(now)
        if self.status in ("active", "expiring") and end is not None and end <= now:
            return "expired"
        return self.status

    def view(self, now: float) -> dict[str, Any]:
        """The relationship as Graph v1.0 shows it."""
        return {
            "id": self.id,
            "displayName": self.display_name,
            "duration": f"P{self.days}D",
            "customer": {"tenantId": self.customer_tenant_id, "displayName": self.customer_display_name},
            "accessDetails": {"unifiedRoles": [{"roleDefinitionId": role} for role in self.roles]},
            "status": self.status_at(now),
            "autoExtendDuration": self.auto_extend,
            "createdDateTime": _iso(self.created),
            "lastModifiedDateTime": _iso(self.modified),
            "activatedDateTime": _iso(self.activated),
            "endDateTime": _iso(self.end_at(now)),
        }

    def etag(self) -> str:
        return f'W/"{base64.b64encode(f"{self.id}:{self.modified}".encode()).decode()}"'


# --- tenant state ----------------------------------------------------------------------------


@dataclass
class TenantState:
    """A generated tenant plus what delta queries need: ordered ids and append-only change logs."""

    data: GeneratedTenant
    user_order: list[str]
    group_order: list[str]
    user_log: list[str] = field(default_factory=list)
    # (group id, None for a property change, or ("add"|"remove", member id))
    group_log: list[tuple[str, tuple[str, str] | None]] = field(default_factory=list)
    removed_reason: dict[str, str] = field(default_factory=dict)
    generation: int = 0  # bumped to expire every delta token issued so far
    ca_last_served: float = float("-inf")

    @classmethod
    def generate(cls, tenant_id: str, users: int) -> TenantState:
        data = generate_tenant(tenant_id, users)
        return cls(data, list(data.users), list(data.groups))

    def add_user(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        user = self.data.new_user(overrides)
        self.data.users[user["id"]] = user
        self.user_order.append(user["id"])
        self.user_log.append(user["id"])
        return user

    def change_user(self, user_id: str, changes: dict[str, Any]) -> None:
        self.data.users[user_id].update(changes)
        self.user_log.append(user_id)

    def remove_user(self, user_id: str, *, hard: bool = False) -> None:
        self.data.users.pop(user_id)
        # A soft delete moves the user to the recycle bin ("changed"); a permanent one is "deleted".
        self.removed_reason[user_id] = "deleted" if hard else "changed"
        self.user_log.append(user_id)
        for group_id, members in self.data.members.items():
            if user_id in members:
                del members[user_id]
                self.group_log.append((group_id, ("remove", user_id)))
        self.data.role_assignments = [a for a in self.data.role_assignments if a["principalId"] != user_id]

    def consumed(self, sku_id: str) -> int:
        return sum(
            1
            for user in self.data.users.values()
            for licence in user["assignedLicenses"]
            if licence["skuId"] == sku_id
        )


@dataclass
class Fault:
    """One injected misbehaviour, applied to the next `remaining` matching Graph requests."""

    kind: str  # throttle | unavailable | slow | status
    remaining: int = 1
    path: str = ""  # substring of the path after /v1.0/
    method: str | None = None
    tenant: str | None = None
    retry_after: int | None = None
    delay: float = 0.0
    status: int = 500
    code: str = "UnknownError"
    message: str = "Injected by the Graph stand-in."
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def matches(self, method: str, path: str, tenant: str) -> bool:
        return (
            self.remaining > 0
            and self.path in path
            and (self.method is None or self.method.upper() == method)
            and (self.tenant is None or self.tenant.lower() == tenant)
        )

    def response(self) -> GraphReplyError:
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}
        if self.kind == "throttle":
            return GraphReplyError(
                429,
                "TooManyRequests",
                "Too many requests. Retry after the interval given in the Retry-After header.",
                headers,
            )
        if self.kind == "unavailable":
            return GraphReplyError(
                503, "serviceNotAvailable", "The service is temporarily unavailable.", headers
            )
        return GraphReplyError(self.status, self.code, self.message, headers)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    base: str  # scheme://host of the request, for nextLink/deltaLink
    tenant: str = ""
    claims: dict[str, Any] = field(default_factory=dict)  # of the bearer token, once authenticated
    reply_headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError as error:
            raise bad_request("Unable to read JSON request payload.", "BadRequest") from error

    def select(self, allowed: frozenset[str], default: tuple[str, ...], kind: str) -> list[str]:
        raw = self.query.get("$select")
        if not raw:
            return list(default)
        names = [name.strip() for name in raw.split(",") if name.strip()]
        for name in names:
            if name not in allowed:
                raise bad_request(
                    f"Could not find a property named '{name}' on type 'microsoft.graph.{kind}'.",
                    "BadRequest",
                )
        return names if "id" in names else ["id", *names]

    def page_size(self, default: int, token_size: int | None = None) -> int:
        match = _MAXPAGESIZE.search(self.headers.get("prefer", ""))
        if match:
            return max(1, min(MAX_PAGE, int(match.group(1))))
        top = self.query.get("$top")
        if top and top.isdigit():
            return max(1, min(MAX_PAGE, int(top)))
        return token_size or default


# --- the app ---------------------------------------------------------------------------------


class GraphStandin:
    """The ASGI app. All state lives in memory and is touched only on the event loop's thread."""

    def __init__(
        self,
        *,
        users_per_tenant: int = 1000,
        client_id: str | None = None,
        client_secret: str | None = None,
        ca_min_interval: float = 1.0,
        redirect_uris: Collection[str] | None = None,
    ) -> None:
        self.users_per_tenant = users_per_tenant
        self.client_id = client_id
        self.client_secret = client_secret
        self.ca_min_interval = ca_min_interval
        # The app registration's redirect URIs; None accepts any https (or loopback http) URI.
        self.redirect_uris = frozenset(redirect_uris) if redirect_uris else None
        self.signing_key = secrets.token_bytes(32)
        self.id_token_key = IdTokenKey.generate()
        self.tenants: dict[str, TenantState] = {}
        self.consented: set[str] = set()  # tenants where the app has a service principal
        self.codes: dict[str, AuthorizationCode] = {}
        self.relationships: dict[str, Relationship] = {}  # insertion order is creation order
        self.faults: list[Fault] = []
        self.requests: deque[dict[str, Any]] = deque(maxlen=20_000)
        self.clock_offset = 0.0

    def now(self) -> float:
        """The clock delta tokens, codes and relationships age by; `/_standin/clock` moves it (access
        and ID tokens keep real time, as MSAL caches them and clients check them by real time)."""
        return time.time() + self.clock_offset

    def tenant(self, tenant_id: str) -> TenantState:
        key = tenant_id.lower()
        state = self.tenants.get(key)
        if state is None:
            state = self.tenants[key] = TenantState.generate(key, self.users_per_tenant)
        return state

    # --- ASGI ---

    async def __call__(self, scope: dict[str, Any], receive: ASGIReceive, send: ASGISend) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        raw_path = scope.get("raw_path") or scope["path"].encode()
        request = Request(
            method=scope["method"].upper(),
            path=unquote(raw_path.decode("latin-1")),
            query=dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)),
            headers=headers,
            body=body,
            base=f"{scope.get('scheme', 'http')}://{headers.get('host', '127.0.0.1')}",
        )
        status, response_headers, payload = await self.handle(request)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.lower().encode(), v.encode()) for k, v in response_headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def handle(self, request: Request) -> tuple[int, dict[str, str], bytes]:  # noqa: PLR0911 - one per endpoint
        path = request.path
        if path.startswith("/_standin/"):
            return self.control(request)
        if path.startswith("/v1.0/"):
            return await self.graph(request)
        token_route = re.fullmatch(r"/([^/]+)/oauth2/v2\.0/token", path)
        if token_route and request.method == "POST":
            return self.token(request, token_route.group(1))
        authorize = re.fullmatch(r"/([^/]+)/oauth2/v2\.0/authorize", path)
        if authorize and request.method == "GET":
            return self.authorize(request, authorize.group(1))
        discovery = re.fullmatch(r"/([^/]+)/v2\.0/\.well-known/openid-configuration", path)
        if discovery and request.method == "GET":
            return self.openid_configuration(request, discovery.group(1))
        keys = re.fullmatch(r"/([^/]+)/discovery/v2\.0/keys", path)
        if keys and request.method == "GET":
            return self.jwks(request, keys.group(1))
        return _json(404, {"error": "not_found", "error_description": f"The stand-in serves no {path}."})

    # --- Entra ID ---

    def openid_configuration(self, request: Request, tenant: str) -> tuple[int, dict[str, str], bytes]:
        base = f"{request.base}/{tenant}"
        # As Entra's: the multi-tenant endpoints name a template issuer, a tenant's its own.
        issuer_tenant = "{tenantid}" if tenant.lower() in _MULTI_TENANT else tenant.lower()
        return _json(
            200,
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"{request.base}/{issuer_tenant}/v2.0",
                "request_uri_parameter_supported": False,
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "claims_supported": [
                    "sub",
                    "iss",
                    "aud",
                    "exp",
                    "iat",
                    "nbf",
                    "nonce",
                    "name",
                    "oid",
                    "preferred_username",
                    "tid",
                    "ver",
                    "wids",
                ],
                "tenant_region_scope": "EU",
            },
        )

    def jwks(self, request: Request, tenant: str) -> tuple[int, dict[str, str], bytes]:
        issuer_tenant = "{tenantid}" if tenant.lower() in _MULTI_TENANT else tenant.lower()
        key = {**self.id_token_key.jwk, "issuer": f"{request.base}/{issuer_tenant}/v2.0"}
        return _json(200, {"keys": [key]})

    def token(  # noqa: PLR0911 - each refusal is Entra's own answer
        self, request: Request, tenant: str
    ) -> tuple[int, dict[str, str], bytes]:
        form = dict(parse_qsl(request.body.decode("latin-1")))
        tenant = tenant.lower()
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return self.redeem_code(request, tenant, form)
        if tenant == "common":
            return sts_error(
                400,
                "invalid_request",
                9001023,
                "The grant type isn't supported over the /common or /consumers endpoints. Please use the "
                "/organizations or tenant-specific endpoint.",
            )
        if not _GUID.match(tenant):
            return sts_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        if grant_type != "client_credentials":
            return sts_error(
                400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
            )
        client_id = form.get("client_id", "")
        # Entra looks the app up in the tenant before it checks the secret: no service principal, no token.
        if (self.client_id is not None and client_id != self.client_id) or tenant not in self.consented:
            return app_not_found(client_id, tenant)
        if self.client_secret is not None and form.get("client_secret") != self.client_secret:
            return sts_error(401, "invalid_client", 7000215, "Invalid client secret provided.")
        scope = form.get("scope", "")
        if not scope.endswith("/.default") or " " in scope.strip():
            return sts_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows must have a "
                "scope value with /.default suffixed to the resource identifier (application ID URI).",
            )
        now = int(time.time())
        claims = {
            "aud": scope.removesuffix("/.default"),
            "iss": f"https://sts.windows.net/{tenant}/",
            "iat": now,
            "nbf": now,
            "exp": now + ACCESS_TOKEN_SECONDS,
            "tid": tenant,
            "appid": client_id,
            "azp": client_id,
            "idtyp": "app",
            "roles": list(APP_ROLES),
            "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant}/{client_id}")),
            "ver": "1.0",
        }
        return _json(
            200,
            {
                "token_type": "Bearer",
                "expires_in": ACCESS_TOKEN_SECONDS,
                "ext_expires_in": ACCESS_TOKEN_SECONDS,
                "access_token": sign_jwt(claims, self.signing_key),
            },
        )

    def redeem_code(  # noqa: PLR0911, PLR0912 - each refusal is Entra's own answer, in its order
        self, request: Request, tenant: str, form: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        """grant_type=authorization_code: one code, once, by its client, redirect URI and PKCE verifier."""
        if tenant not in _MULTI_TENANT and not _GUID.match(tenant):
            return sts_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        client_id = form.get("client_id", "")
        if not client_id:
            return sts_error(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'client_id'.",
            )
        if self.client_id is not None and client_id != self.client_id:
            return app_not_found(client_id, tenant)
        if self.client_secret is not None:
            secret = form.get("client_secret")
            if not secret:
                return sts_error(
                    401,
                    "invalid_client",
                    7000218,
                    "The request body must contain the following parameter: 'client_assertion' or "
                    "'client_secret'.",
                )
            if secret != self.client_secret:
                return sts_error(401, "invalid_client", 7000215, "Invalid client secret provided.")
        code = form.get("code", "")
        if not code:
            return sts_error(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'code'.",
            )
        grant = self.codes.get(code)
        if grant is None:
            return sts_error(
                400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid."
            )
        if grant.redeemed:
            return sts_error(
                400,
                "invalid_grant",
                54005,
                "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use "
                "an existing refresh token.",
            )
        if self.now() - grant.issued_at > AUTH_CODE_LIFETIME.total_seconds():
            return sts_error(
                400,
                "invalid_grant",
                70008,
                "The provided authorization code or refresh token has expired due to inactivity. Send a new "
                "interactive authorization request for this user and resource.",
            )
        if tenant not in _MULTI_TENANT and tenant != grant.tenant_id:
            return sts_error(
                400,
                "invalid_grant",
                700005,
                "Provided Authorization Code is intended to use against other tenant, thus rejected.",
            )
        if client_id != grant.client_id:
            return sts_error(
                400,
                "invalid_grant",
                70000,
                "Provided grant is invalid or malformed: the authorization code was issued to another "
                "client.",
            )
        redirect_uri = form.get("redirect_uri", "")
        if redirect_uri != grant.redirect_uri:
            return sts_error(
                400,
                "invalid_grant",
                500112,
                f"The reply address '{redirect_uri}' does not match the reply address '{grant.redirect_uri}' "
                "provided when requesting Authorization code.",
            )
        if grant.code_challenge is not None:
            verifier = form.get("code_verifier", "")
            if _b64(hashlib.sha256(verifier.encode("ascii", "replace")).digest()) != grant.code_challenge:
                return sts_error(
                    400,
                    "invalid_grant",
                    501481,
                    "The Code_Verifier does not match the code_challenge supplied in the authorization "
                    "request.",
                )
        state = self.tenant(grant.tenant_id)
        user = state.data.users.get(grant.user_id)
        if user is None or not user.get("accountEnabled", True):
            return sts_error(400, "invalid_grant", 50057, "The user account is disabled or no longer exists.")
        grant.redeemed = True
        now = int(time.time())
        id_claims: dict[str, Any] = {
            "aud": client_id,
            "iss": f"{request.base}/{grant.tenant_id}/v2.0",
            "iat": now,
            "nbf": now,
            "exp": now + ID_TOKEN_SECONDS,
            "name": user.get("displayName"),
            "oid": user["id"],
            "preferred_username": user["userPrincipalName"],
            "sub": pairwise_subject(client_id, user["id"]),
            "tid": grant.tenant_id,
            "ver": "2.0",
            "wids": self.wids(state, user["id"]),
        }
        if grant.nonce is not None:
            id_claims["nonce"] = grant.nonce
        # Only the OpenID scopes were asked for, so the access token is Graph's default (User.Read),
        # as Entra issues; it reads nothing the stand-in serves (no /me).
        scopes = [s for s in grant.scopes if s != "offline_access"]
        scope = " ".join([*scopes, *(["User.Read"] if "User.Read" not in scopes else [])])
        access_claims = {
            "aud": GRAPH_APP_ID,
            "iss": f"https://sts.windows.net/{grant.tenant_id}/",
            "iat": now,
            "nbf": now,
            "exp": now + ACCESS_TOKEN_SECONDS,
            "tid": grant.tenant_id,
            "oid": user["id"],
            "upn": user["userPrincipalName"],
            "appid": client_id,
            "idtyp": "user",
            "scp": scope,
            "wids": id_claims["wids"],
            "ver": "1.0",
        }
        return _json(
            200,
            {
                "token_type": "Bearer",
                "scope": scope,
                "expires_in": ACCESS_TOKEN_SECONDS,
                "ext_expires_in": ACCESS_TOKEN_SECONDS,
                "access_token": sign_jwt(access_claims, self.signing_key),
                "id_token": self.id_token_key.sign(id_claims),
            },
        )

    @staticmethod
    def wids(state: TenantState, user_id: str) -> list[str]:
        """The directory role templates a user holds tenant-wide, as the `wids` claim lists them."""
        roles = [
            a["roleDefinitionId"]
            for a in state.data.role_assignments
            if a["principalId"] == user_id and a.get("directoryScopeId", "/") == "/"
        ]
        user = state.data.users.get(user_id) or {}
        member = [MEMBER_USER_TEMPLATE] if user.get("userType", "Member") == "Member" else []
        return list(dict.fromkeys([*roles, *member]))

    def authorize(  # noqa: PLR0911, PLR0912 - each refusal is Entra's own answer, in its order
        self, request: Request, tenant: str
    ) -> tuple[int, dict[str, str], bytes]:
        """The sign-in an admin-consent link starts: a user picker, or at once a code for `login_hint`."""
        query = request.query
        tenant = tenant.lower()
        if tenant not in _MULTI_TENANT and not _GUID.match(tenant):
            return _error_page(
                400,
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are "
                "signing into the correct cloud.",
            )
        client_id = query.get("client_id", "")
        if not client_id:
            return _error_page(
                400, 900144, "The request body must contain the following parameter: 'client_id'."
            )
        if self.client_id is not None and client_id != self.client_id:
            # An unknown app has no redirect URIs to trust, so Entra says so on its own page.
            return _error_page(
                400,
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant}'. "
                "This can happen if the application has not been installed by the administrator of the "
                "tenant or consented to by any user in the tenant. You may have sent your authentication "
                "request to the wrong tenant.",
            )
        redirect_uri = query.get("redirect_uri", "")
        if not redirect_uri:
            return _error_page(400, 900971, "No reply address provided.")
        if not self.redirect_allowed(redirect_uri):
            return _error_page(
                400,
                50011,
                f"The redirect URI '{redirect_uri}' specified in the request does not match the redirect "
                f"URIs configured for the application '{client_id}'. Make sure the redirect URI sent in the "
                "request matches one added to your application in the Azure portal.",
            )
        state = query.get("state")

        def refuse(error: str, number: int, description: str) -> tuple[int, dict[str, str], bytes]:
            text = _sts_description(number, description)[0]
            params = {"error": error, "error_description": text}
            return _redirect(_with_query(redirect_uri, {**params, **({"state": state} if state else {})}))

        response_type = query.get("response_type", "")
        if not response_type:
            return refuse(
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'response_type'.",
            )
        if response_type != "code":
            return refuse(
                "unsupported_response_type",
                70005,
                f"response_type '{response_type}' is not enabled for the application.",
            )
        if query.get("response_mode", "query") != "query":
            # Entra also posts forms and answers in fragments; the stand-in answers in the query only.
            return refuse("invalid_request", 70007, "The stand-in supports only response_mode=query.")
        scopes = query.get("scope", "").split()
        if not scopes:
            return refuse(
                "invalid_request", 900144, "The request body must contain the following parameter: 'scope'."
            )
        if "openid" not in scopes:
            return refuse(
                "invalid_scope",
                70011,
                f"The provided value for the input parameter 'scope' isn't valid. The scope "
                f"'{' '.join(scopes)}' does not include 'openid', which an OpenID Connect sign-in needs.",
            )
        challenge = query.get("code_challenge")
        method = query.get("code_challenge_method")
        if challenge is not None or method is not None:
            if method != "S256":
                return refuse("invalid_request", 50149, "Invalid Code_Challenge_method parameter.")
            if challenge is None or not _S256_CHALLENGE.match(challenge):
                return refuse("invalid_request", 501491, "Invalid size of Code_Challenge parameter.")
        prompt = query.get("prompt")
        if prompt is not None and prompt not in _PROMPTS:
            return refuse("invalid_request", 90023, f"Invalid value '{prompt}' for the parameter 'prompt'.")
        hint = query.get("login_hint", "").strip()
        if not hint:
            if prompt == "none":
                return refuse(
                    "login_required",
                    50058,
                    "A silent sign-in request was sent but no user is signed in.",
                )
            return self.sign_in_page(request, tenant)
        found = self.find_signing_in(tenant, hint)
        if found is None:
            notice = (
                f"AADSTS50034: The user account {hint} does not exist in the '{tenant}' directory. To sign "
                "into this application, the account must be added to the directory."
            )
            return self.sign_in_page(request, tenant, notice)
        home, user = found
        if not user.get("accountEnabled", True):
            return _error_page(400, 50057, "The user account is disabled.")
        if prompt == "consent" and set(self.wids(home, user["id"])) & CONSENTING_ROLES:
            # "Consent on behalf of your organization": the app's service principal appears in the tenant.
            self.consented.add(home.data.tenant_id)
        self.codes = {c: g for c, g in self.codes.items() if not g.redeemed and self.code_alive(g)}
        code = secrets.token_urlsafe(48)
        self.codes[code] = AuthorizationCode(
            tenant_id=home.data.tenant_id,
            client_id=client_id,
            redirect_uri=redirect_uri,
            user_id=user["id"],
            scopes=scopes,
            nonce=query.get("nonce"),
            code_challenge=challenge,
            issued_at=self.now(),
        )
        answer = {"code": code, **({"state": state} if state else {}), "session_state": str(uuid.uuid4())}
        return _redirect(_with_query(redirect_uri, answer))

    def code_alive(self, grant: AuthorizationCode) -> bool:
        return self.now() - grant.issued_at <= AUTH_CODE_LIFETIME.total_seconds()

    def redirect_allowed(self, uri: str) -> bool:
        if self.redirect_uris is not None:
            return uri in self.redirect_uris
        try:
            parts = urlsplit(uri)
        except ValueError:
            return False
        if parts.fragment or not parts.netloc:
            return False
        return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS)

    def find_signing_in(self, tenant: str, hint: str) -> tuple[TenantState, dict[str, Any]] | None:
        """The tenant and user a login_hint (UPN or object id) names; `organizations` looks everywhere."""
        candidates = list(self.tenants.values()) if tenant in _MULTI_TENANT else [self.tenant(tenant)]
        for state in candidates:
            try:
                return state, self.find_user(state, hint.lower() if "@" in hint else hint)
            except GraphReplyError:
                continue
        return None

    def sign_in_page(
        self, request: Request, tenant: str, notice: str | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """A user picker: each entry is this same request plus that user's login_hint."""
        params = {k: v for k, v in request.query.items() if k != "login_hint"}

        def link(hint: str) -> str:
            return f"{request.path}?{urlencode({**params, 'login_hint': hint})}"

        entries = []
        if tenant not in _MULTI_TENANT:
            state = self.tenant(tenant)
            names = dict(ROLES) | {PRIVILEGED_ROLE_ADMIN_TEMPLATE: "Privileged Role Administrator"}
            roles: dict[str, list[str]] = {}
            consenting: set[str] = set()
            for assignment in state.data.role_assignments:
                roles.setdefault(assignment["principalId"], []).append(
                    names.get(assignment["roleDefinitionId"], assignment["roleDefinitionId"])
                )
                if assignment["roleDefinitionId"] in CONSENTING_ROLES:
                    consenting.add(assignment["principalId"])
            enabled = [u for u in state.data.users.values() if u.get("accountEnabled", True)]
            # Those who may consent for the tenant first, then other administrators: the link is for them.
            enabled.sort(
                key=lambda u: (u["id"] not in consenting, u["id"] not in roles, u["userPrincipalName"])
            )
            for user in enabled[:_PICKER_LIMIT]:
                held = ", ".join(roles.get(user["id"], []))
                entries.append(
                    f'<li><a href="{html.escape(link(user["userPrincipalName"]))}">'
                    f"{html.escape(str(user.get('displayName') or ''))}</a> "
                    f"&lt;{html.escape(user['userPrincipalName'])}&gt;"
                    f"{' (' + html.escape(held) + ')' if held else ''}</li>"
                )
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in params.items()
        )
        body = (
            "<h1>Pick an account</h1>"
            + (f'<p role="alert">{html.escape(notice)}</p>' if notice else "")
            + (f"<ul>{''.join(entries)}</ul>" if entries else "")
            + f'<form method="get" action="{html.escape(request.path)}">{hidden}'
            '<label>Sign in as (user principal name) <input name="login_hint" type="email" required></label> '
            "<button>Sign in and accept</button></form>"
        )
        return _page(200, "Sign in to your account", body)

    def authenticate(self, request: Request) -> dict[str, Any]:
        """The bearer token's claims (`tid` is the tenant a call is for); 401 in Graph's shape otherwise."""
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if not token:
            raise GraphReplyError(401, "InvalidAuthenticationToken", "Access token is empty.", _challenge())
        claims = verify_jwt(token, self.signing_key)
        if claims is None or not _GUID.match(str(claims.get("tid", ""))):
            raise GraphReplyError(
                401, "InvalidAuthenticationToken", "Access token validation failure.", _challenge()
            )
        if str(claims.get("aud", "")).rstrip("/") not in (GRAPH_AUDIENCE, GRAPH_APP_ID):
            raise GraphReplyError(
                401,
                "InvalidAuthenticationToken",
                "Access token validation failure. Invalid audience.",
                _challenge(),
            )
        if float(claims.get("exp", 0)) < time.time():
            raise GraphReplyError(
                401,
                "InvalidAuthenticationToken",
                "Lifetime validation failed, the token is expired.",
                _challenge(),
            )
        return claims

    # --- Graph ---

    async def graph(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        request_id = str(uuid.uuid4())
        client_request_id = request.headers.get("client-request-id", str(uuid.uuid4()))
        route = _normalise(request.path[len("/v1.0/") :])
        started = time.monotonic()
        try:
            request.claims = self.authenticate(request)
            request.tenant = str(request.claims["tid"]).lower()
            if "roles" not in request.claims and not route.startswith("tenantRelationships/"):
                # A delegated token from the sign-in holds User.Read only, which covers nothing served here.
                raise GraphReplyError(
                    403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
                )
            for fault in self.faults:
                if fault.matches(request.method, route, request.tenant):
                    fault.remaining -= 1
                    if fault.kind == "slow":
                        await asyncio.sleep(fault.delay)
                        break
                    raise fault.response()
            try:
                status, body = self.route(request, route)
            except (KeyError, ValueError, TypeError) as error:
                # Malformed tokens or bodies: Graph answers those with 400, never a bare 500.
                raise bad_request(f"The request is malformed: {error!r}.", "BadRequest") from error
            extra = request.reply_headers
        except GraphReplyError as fault:
            status, extra = fault.status, dict(fault.headers)
            body = {
                "error": {
                    "code": fault.code,
                    "message": fault.message,
                    "innerError": {
                        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                        "request-id": request_id,
                        "client-request-id": client_request_id,
                    },
                }
            }
        self.requests.append(
            {
                "at": started,
                "method": request.method,
                "path": route,
                "rawPath": request.path,
                "query": request.query,
                "tenant": request.tenant,
                "status": status,
                "priority": request.headers.get("x-ms-throttle-priority"),
                "prefer": request.headers.get("prefer"),
                "retryAfter": extra.get("Retry-After"),
                # How long the answer took (a slow fault's delay included): a client that gave up
                # sooner and retried shows as a request starting before this one ended.
                "took": time.monotonic() - started,
            }
        )
        headers = {"request-id": request_id, "client-request-id": client_request_id, **extra}
        if body is None:
            return status, headers, b""
        headers["content-type"] = _JSON
        return status, headers, json.dumps(body, separators=(",", ":")).encode()

    def route(self, request: Request, route: str) -> tuple[int, Any]:
        state = self.tenant(request.tenant)
        parts = route.split("/")
        allowed = False
        for template, method, handler in self.ROUTES:
            params = _match(template, parts)
            if params is None:
                continue
            allowed = True
            if method == request.method:
                reply: tuple[int, Any] = handler(self, request, state, *params)
                return reply
        if allowed:
            raise bad_request(f"Unsupported HTTP method {request.method} on this resource.", "BadRequest")
        raise bad_request(f"Resource not found for the segment '{parts[-1]}'.", "BadRequest")

    def _entity(self, request: Request, kind: str, item: dict[str, Any]) -> dict[str, Any]:
        return {"@odata.context": f"{request.base}/v1.0/$metadata#{kind}/$entity", **item}

    def get_users(self, request: Request, state: TenantState) -> tuple[int, Any]:
        return 200, self.list_users(request, state)

    def get_users_delta(self, request: Request, state: TenantState) -> tuple[int, Any]:
        return 200, self.users_delta(request, state)

    def get_user(self, request: Request, state: TenantState, key: str) -> tuple[int, Any]:
        select = request.select(USER_PROPERTIES, USER_DEFAULT_SELECT, "user")
        return 200, self._entity(request, "users", _pick(self.find_user(state, key), select))

    def patch_user_route(self, request: Request, state: TenantState, key: str) -> tuple[int, Any]:
        self.patch_user(state, key, request.json())
        return 204, None

    def post_revoke_sessions(self, request: Request, state: TenantState, key: str) -> tuple[int, Any]:
        user = self.find_user(state, key)
        user["signInSessionsValidFromDateTime"] = _iso(self.now())
        return 200, {"@odata.context": f"{request.base}/v1.0/$metadata#Edm.Boolean", "value": True}

    def get_auth_methods(self, request: Request, state: TenantState, key: str) -> tuple[int, Any]:
        user = self.find_user(state, key)
        return 200, self.collection(request, f"users/{user['id']}/authentication/methods", auth_methods(user))

    def delete_auth_method(
        self, request: Request, state: TenantState, key: str, collection: str, method_id: str
    ) -> tuple[int, Any]:
        user = self.find_user(state, key)
        kept = [m for m in registration_details(user, False)["methodsRegistered"] if m in AUTH_METHODS]
        gone = [
            name
            for name in kept
            if AUTH_METHODS[name][1] == collection and _method_id(user, name) == method_id
        ]
        if not gone:
            raise not_found(method_id)
        user["methodsRegistered"] = [m for m in kept if m not in gone]
        user["isMfaRegistered"] = bool(user["methodsRegistered"])
        return 204, None

    def post_assign_license(self, request: Request, state: TenantState, key: str) -> tuple[int, Any]:
        user = self.assign_license(state, key, request.json())
        return 200, self._entity(request, "users", _pick(user, USER_DEFAULT_SELECT))

    def get_groups(self, request: Request, state: TenantState) -> tuple[int, Any]:
        select = request.select(GROUP_PROPERTIES - {"members"}, GROUP_DEFAULT_SELECT, "group")
        groups = [_pick(state.data.groups[g], select) for g in state.group_order if g in state.data.groups]
        return 200, self.collection(request, "groups", groups)

    def get_groups_delta(self, request: Request, state: TenantState) -> tuple[int, Any]:
        return 200, self.groups_delta(request, state)

    def get_group(self, request: Request, state: TenantState, group_id: str) -> tuple[int, Any]:
        group = state.data.groups.get(group_id)
        if group is None:
            raise not_found(group_id)
        select = request.select(GROUP_PROPERTIES - {"members"}, GROUP_DEFAULT_SELECT, "group")
        return 200, self._entity(request, "groups", _pick(group, select))

    def get_members(self, request: Request, state: TenantState, group_id: str) -> tuple[int, Any]:
        if group_id not in state.data.groups:
            raise not_found(group_id)
        members = [
            {"@odata.type": "#microsoft.graph.user", **_pick(state.data.users[m], ["id", "displayName"])}
            for m in state.data.members[group_id]
        ]
        return 200, self.collection(request, "directoryObjects", members)

    def post_member(self, request: Request, state: TenantState, group_id: str) -> tuple[int, Any]:
        self.add_member(state, group_id, request.json())
        return 204, None

    def delete_member(
        self, request: Request, state: TenantState, group_id: str, member: str
    ) -> tuple[int, Any]:
        self.remove_member(state, group_id, member)
        return 204, None

    def get_organization(self, request: Request, state: TenantState) -> tuple[int, Any]:
        return 200, self.collection(request, "organization", [state.data.organization])

    def get_skus(self, request: Request, state: TenantState) -> tuple[int, Any]:
        skus = [{**sku, "consumedUnits": state.consumed(sku["skuId"])} for sku in state.data.skus]
        return 200, self.collection(request, "subscribedSkus", skus)

    def get_domains(self, request: Request, state: TenantState) -> tuple[int, Any]:
        return 200, self.collection(request, "domains", state.data.domains)

    def get_role_assignments(self, request: Request, state: TenantState) -> tuple[int, Any]:
        assignments = [dict(a) for a in state.data.role_assignments]
        if "$filter" in request.query:
            # Graph filters role assignments on principalId or roleDefinitionId (eq only).
            fields = {name: (lambda a, n=name: a.get(n)) for name in ("principalId", "roleDefinitionId")}
            wanted = _parse_filter(request.query["$filter"], fields, "unifiedRoleAssignment")
            assignments = [a for a in assignments if all(a.get(k) == v for k, v in wanted)]
        return 200, self.collection(request, "roleManagement/directory/roleAssignments", assignments)

    def get_role_definitions(self, request: Request, state: TenantState) -> tuple[int, Any]:
        definitions = [
            {"id": rid, "templateId": rid, "displayName": name, "isBuiltIn": True, "isEnabled": True}
            for rid, name in ROLES
        ]
        return 200, self.collection(request, "roleManagement/directory/roleDefinitions", definitions)

    def get_registration_details(self, request: Request, state: TenantState) -> tuple[int, Any]:
        require_premium(state)
        admins = {a["principalId"] for a in state.data.role_assignments}
        details = [
            registration_details(u, u["id"] in admins)
            for u in (state.data.users[i] for i in state.user_order if i in state.data.users)
        ]
        return 200, self.collection(request, "reports/authenticationMethods/userRegistrationDetails", details)

    def get_secure_scores(self, request: Request, state: TenantState) -> tuple[int, Any]:
        top = request.query.get("$top", "")
        scores = secure_scores(state, self.now(), int(top) if top.isdigit() else 90)
        return 200, self.collection(request, "security/secureScores", scores)

    def get_ca_policies(self, request: Request, state: TenantState) -> tuple[int, Any]:
        # Conditional access allows one request per second per tenant and, unlike the rest of
        # Graph, sends no Retry-After: clients have to pace themselves.
        now = time.monotonic()
        if now - state.ca_last_served < self.ca_min_interval:
            raise GraphReplyError(429, "TooManyRequests", "Too many requests.")
        state.ca_last_served = now
        policies = [dict(p) for p in state.data.ca_policies]
        return 200, self.collection(request, "identity/conditionalAccess/policies", policies)

    def get_security_defaults(self, request: Request, state: TenantState) -> tuple[int, Any]:
        kind = "policies/identitySecurityDefaultsEnforcementPolicy"
        return 200, self._entity(request, kind, dict(state.data.security_defaults))

    def patch_security_defaults(self, request: Request, state: TenantState) -> tuple[int, Any]:
        body = request.json()
        if not isinstance(body, dict) or not isinstance(body.get("isEnabled"), bool):
            raise bad_request("Invalid value specified for property 'isEnabled'.", "BadRequest")
        state.data.security_defaults["isEnabled"] = body["isEnabled"]
        return 204, None

    # --- tenant policies the standards read and remediate (v1.0 shapes; PATCH merges, 204) ---

    @staticmethod
    def _merge(target: dict[str, Any], body: Any) -> None:
        if not isinstance(body, dict):
            raise bad_request("Unable to read JSON request payload.", "BadRequest")
        for key, value in body.items():
            if key.startswith("@odata"):
                continue
            if key not in target:
                raise bad_request(
                    f"Property '{key}' does not exist as a declared property or extension property.",
                    "Request_BadRequest",
                )
            if isinstance(value, dict) and isinstance(target[key], dict):
                # A typed client names each nested object's type; Graph keeps only the properties.
                kept = {k: v for k, v in value.items() if not k.startswith("@odata")}
                target[key] = {**target[key], **kept}
            else:
                target[key] = value

    def get_authorization_policy(self, request: Request, state: TenantState) -> tuple[int, Any]:
        return 200, self._entity(
            request, "policies/authorizationPolicy", dict(state.data.authorization_policy)
        )

    def patch_authorization_policy(self, request: Request, state: TenantState) -> tuple[int, Any]:
        body = request.json()
        allowed = ("none", "adminsAndGuestInviters", "adminsGuestInvitersAndAllMembers", "everyone")
        if isinstance(body, dict) and "allowInvitesFrom" in body and body["allowInvitesFrom"] not in allowed:
            raise bad_request("Invalid value specified for property 'allowInvitesFrom'.", "BadRequest")
        self._merge(state.data.authorization_policy, body)
        return 204, None

    def get_admin_consent_policy(self, request: Request, state: TenantState) -> tuple[int, Any]:
        kind = "policies/adminConsentRequestPolicy"
        return 200, self._entity(request, kind, dict(state.data.admin_consent_policy))

    def patch_admin_consent_policy(self, request: Request, state: TenantState) -> tuple[int, Any]:
        body = request.json()
        if isinstance(body, dict) and body.get("isEnabled") is True and not body.get("reviewers"):
            # Entra needs reviewers to route requests to before the workflow can be switched on.
            raise bad_request("At least one reviewer is required when the policy is enabled.", "BadRequest")
        policy = state.data.admin_consent_policy
        self._merge(policy, body)
        policy["version"] = int(policy.get("version") or 0) + 1
        return 204, None

    def get_auth_methods_policy(self, request: Request, state: TenantState) -> tuple[int, Any]:
        kind = "policies/authenticationMethodsPolicy"
        return 200, self._entity(request, kind, dict(state.data.authentication_methods_policy))

    def patch_auth_methods_policy(self, request: Request, state: TenantState) -> tuple[int, Any]:
        body = request.json()
        campaign = ((body or {}).get("registrationEnforcement") or {}).get(
            "authenticationMethodsRegistrationCampaign"
        )
        if isinstance(campaign, dict) and campaign.get("state") not in (
            None,
            "default",
            "enabled",
            "disabled",
        ):
            raise bad_request("Invalid value specified for property 'state'.", "BadRequest")
        policy = state.data.authentication_methods_policy
        if isinstance(campaign, dict):
            current = policy["registrationEnforcement"]["authenticationMethodsRegistrationCampaign"]
            policy["registrationEnforcement"]["authenticationMethodsRegistrationCampaign"] = {
                **current,
                **{k: v for k, v in campaign.items() if not k.startswith("@odata")},
            }
            body = {k: v for k, v in body.items() if k != "registrationEnforcement"}
        self._merge(policy, body)
        policy["lastModifiedDateTime"] = _iso(self.now())
        return 204, None

    def post_ca_policy(self, request: Request, state: TenantState) -> tuple[int, Any]:
        body = request.json()
        if not isinstance(body, dict) or not body.get("displayName") or not body.get("conditions"):
            raise bad_request(
                "Invalid value specified for property 'displayName' or 'conditions'.", "BadRequest"
            )
        states = ("enabled", "disabled", "enabledForReportingButNotEnforced")
        if body.get("state") not in states:
            raise bad_request("Invalid value specified for property 'state'.", "BadRequest")
        stamp = _iso(self.now())
        policy = {
            "id": str(uuid.uuid4()),
            "displayName": body["displayName"],
            "state": body["state"],
            "createdDateTime": stamp,
            "modifiedDateTime": None,
            "conditions": body["conditions"],
            "grantControls": body.get("grantControls"),
            "sessionControls": body.get("sessionControls"),
        }
        state.data.ca_policies.append(policy)
        kind = "identity/conditionalAccess/policies"
        return 201, self._entity(
            request, kind, {"@odata.type": "#microsoft.graph.conditionalAccessPolicy", **policy}
        )

    def patch_ca_policy(self, request: Request, state: TenantState, policy_id: str) -> tuple[int, Any]:
        policy = next((p for p in state.data.ca_policies if p["id"] == policy_id), None)
        if policy is None:
            raise not_found(policy_id)
        body = request.json()
        states = ("enabled", "disabled", "enabledForReportingButNotEnforced")
        if isinstance(body, dict) and "state" in body and body["state"] not in states:
            raise bad_request("Invalid value specified for property 'state'.", "BadRequest")
        self._merge(policy, body)
        policy["modifiedDateTime"] = _iso(self.now())
        return 204, None

    def patch_domain(self, request: Request, state: TenantState, domain_id: str) -> tuple[int, Any]:
        domain = next((d for d in state.data.domains if d["id"].lower() == domain_id.lower()), None)
        if domain is None:
            raise not_found(domain_id)
        body = request.json()
        days = (body or {}).get("passwordValidityPeriodInDays") if isinstance(body, dict) else None
        if days is not None and (not isinstance(days, int) or (not 14 <= days <= 730 and days != 2147483647)):
            raise bad_request(
                "Invalid value specified for property 'passwordValidityPeriodInDays'.", "BadRequest"
            )
        self._merge(domain, body)
        return 204, None

    # --- GDAP (tenantRelationships): the token's tenant is the partner ---

    @staticmethod
    def require_gdap_read(request: Request) -> None:
        granted = set(request.claims.get("roles") or []) | set(str(request.claims.get("scp", "")).split())
        if not granted & GDAP_READ_PERMISSIONS:
            raise GraphReplyError(
                403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
            )

    def partner_relationships(self, partner: str) -> list[Relationship]:
        return [r for r in self.relationships.values() if r.partner_tenant_id == partner]

    def get_relationships(self, request: Request, state: TenantState) -> tuple[int, Any]:
        self.require_gdap_read(request)
        now = self.now()
        items = [
            {
                "@odata.type": "#microsoft.graph.delegatedAdminRelationship",
                "@odata.etag": r.etag(),
                **r.view(now),
            }
            for r in self.partner_relationships(request.tenant)
        ]
        return 200, self.gdap_page(request, "delegatedAdminRelationships", items, _RELATIONSHIP_FILTERS)

    def get_relationship(self, request: Request, state: TenantState, relationship_id: str) -> tuple[int, Any]:
        self.require_gdap_read(request)
        relationship = self.relationships.get(relationship_id)
        if relationship is None or relationship.partner_tenant_id != request.tenant:
            raise not_found(relationship_id)
        item = {"@odata.etag": relationship.etag(), **relationship.view(self.now())}
        selected = _gdap_select(request, item, "delegatedAdminRelationship")
        context = f"{request.base}/v1.0/$metadata#tenantRelationships/delegatedAdminRelationships/$entity"
        return 200, {"@odata.context": context, **selected}

    def gdap_customers(self, partner: str) -> dict[str, dict[str, Any]]:
        """The partner's customers with at least one active relationship, by tenant id."""
        now = self.now()
        customers: dict[str, dict[str, Any]] = {}
        for relationship in self.partner_relationships(partner):
            if relationship.status_at(now) == "active":
                tenant_id = relationship.customer_tenant_id
                customers.setdefault(
                    tenant_id,
                    {
                        "id": tenant_id,
                        "tenantId": tenant_id,
                        "displayName": relationship.customer_display_name,
                    },
                )
        return customers

    def get_gdap_customers(self, request: Request, state: TenantState) -> tuple[int, Any]:
        self.require_gdap_read(request)
        items = [
            {"@odata.type": "#microsoft.graph.delegatedAdminCustomer", **c}
            for c in self.gdap_customers(request.tenant).values()
        ]
        return 200, self.gdap_page(request, "delegatedAdminCustomers", items, _CUSTOMER_FILTERS)

    def get_gdap_customer(self, request: Request, state: TenantState, customer_id: str) -> tuple[int, Any]:
        self.require_gdap_read(request)
        customer = self.gdap_customers(request.tenant).get(customer_id.lower())
        if customer is None:
            raise not_found(customer_id)
        context = f"{request.base}/v1.0/$metadata#tenantRelationships/delegatedAdminCustomers/$entity"
        return 200, {"@odata.context": context, **_gdap_select(request, customer, "delegatedAdminCustomer")}

    def gdap_page(
        self,
        request: Request,
        collection: str,
        items: list[dict[str, Any]],
        filters: Mapping[str, Callable[[dict[str, Any]], Any]],
    ) -> dict[str, Any]:
        """$filter, $select, $top and $skiptoken paging over one of tenantRelationships' collections."""
        kind = (
            "delegatedAdminRelationship"
            if collection == "delegatedAdminRelationships"
            else "delegatedAdminCustomer"
        )
        clauses = _parse_filter(request.query.get("$filter", ""), filters, kind)
        matching = [
            item
            for item in items
            if all(str(filters[name](item) or "").casefold() == value.casefold() for name, value in clauses)
        ]
        top = request.query.get("$top")
        size = GDAP_DEFAULT_PAGE
        if top is not None:
            if not top.isdigit() or int(top) < 1:
                raise bad_request(f"Invalid value '{top}' for $top query option.", "BadRequest")
            if int(top) > GDAP_MAX_TOP:
                raise bad_request(
                    f"The limit of '{GDAP_MAX_TOP}' for Top query has been exceeded. The value from the "
                    f"incoming request is '{top}'.",
                    "BadRequest",
                )
            size = int(top)
        offset = int(_unpack(request.query["$skiptoken"]).get("o", 0)) if "$skiptoken" in request.query else 0
        body: dict[str, Any] = {
            "@odata.context": f"{request.base}/v1.0/$metadata#tenantRelationships/{collection}",
            "value": [_gdap_select(request, item, kind) for item in matching[offset : offset + size]],
        }
        if offset + size < len(matching):
            # The next page repeats the query, so a filter holds across pages.
            kept = {k: v for k, v in request.query.items() if k in ("$filter", "$select", "$top")}
            query = urlencode(
                {**kept, "$skiptoken": _pack({"o": offset + size})}, safe="$'/,", quote_via=quote
            )
            body["@odata.nextLink"] = f"{request.base}/v1.0/tenantRelationships/{collection}?{query}"
        return body

    # --- user lifecycle: creation, memberships, roles, mailbox settings, OneDrive ---

    def post_user(self, request: Request, state: TenantState) -> tuple[int, Any]:
        """POST /users: Entra's required properties, a verified domain, a unique UPN, a complex password."""
        body = request.json()
        if not isinstance(body, dict):
            raise bad_request("Unable to read JSON request payload.", "BadRequest")
        for name in ("accountEnabled", "displayName", "mailNickname", "passwordProfile", "userPrincipalName"):
            if body.get(name) in (None, ""):
                raise bad_request(
                    f"Invalid value specified for property '{name}' of resource 'User'.", "Request_BadRequest"
                )
        upn = str(body["userPrincipalName"]).lower()
        domains = {d["id"].lower() for d in state.data.domains if d.get("isVerified")}
        if upn.count("@") != 1 or upn.split("@")[1] not in domains:
            raise bad_request("Property userPrincipalName is invalid.")
        if any(u["userPrincipalName"] == upn for u in state.data.users.values()):
            raise bad_request(
                "Another object with the same value for property userPrincipalName already exists."
            )
        probe: dict[str, Any] = {}
        self.set_password(probe, body["passwordProfile"])  # checked, never kept
        extra = {
            k: body[k]
            for k in ("givenName", "surname", "usageLocation", "jobTitle", "department")
            if k in body
        }
        user = state.add_user(
            {
                "displayName": body["displayName"],
                "givenName": None,
                "surname": None,
                "jobTitle": None,
                "department": None,
                "userPrincipalName": upn,
                "mail": None,
                "accountEnabled": bool(body["accountEnabled"]),
                "usageLocation": None,
                "assignedLicenses": [],
                "createdDateTime": _iso(self.now()),
                **extra,
                **probe,
            }
        )
        return 201, self._entity(request, "users", _pick(user, USER_DEFAULT_SELECT))

    def delete_user_route(self, request: Request, state: TenantState, key: str) -> tuple[int, Any]:
        user = self.find_user(state, key)
        state.remove_user(user["id"])  # soft: to the recycle bin
        return 204, None

    def get_member_of(self, request: Request, state: TenantState, key: str) -> tuple[int, Any]:
        user = self.find_user(state, key)
        items: list[dict[str, Any]] = [
            {"@odata.type": "#microsoft.graph.group", **_pick(group, GROUP_DEFAULT_SELECT)}
            for group_id, group in state.data.groups.items()
            if user["id"] in state.data.members.get(group_id, {})
        ]
        names = dict(ROLES)
        for assignment in state.data.role_assignments:
            if assignment["principalId"] == user["id"]:
                template = assignment["roleDefinitionId"]
                items.append(
                    {
                        "@odata.type": "#microsoft.graph.directoryRole",
                        "id": _guid_of(f"{state.data.tenant_id}:role:{template}"),
                        "displayName": names.get(template, template),
                        "roleTemplateId": template,
                    }
                )
        return 200, self.collection(request, f"users/{user['id']}/memberOf", items)

    def delete_role_assignment(
        self, request: Request, state: TenantState, assignment_id: str
    ) -> tuple[int, Any]:
        kept = [a for a in state.data.role_assignments if a["id"] != assignment_id]
        if len(kept) == len(state.data.role_assignments):
            raise not_found(assignment_id)
        state.data.role_assignments = kept
        return 204, None

    def _mailbox_of(self, state: TenantState, key: str) -> tuple[dict[str, Any], dict[str, Any]]:
        user = self.find_user(state, key)
        if not state.data.has_mailbox(user):
            raise GraphReplyError(
                404,
                "MailboxNotEnabledForRESTAPI",
                "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
            )
        settings = state.data.mailbox_settings.setdefault(user["id"], default_mailbox_settings(self.now()))
        return user, settings

    def get_mailbox_settings(self, request: Request, state: TenantState, key: str) -> tuple[int, Any]:
        user, settings = self._mailbox_of(state, key)
        context = f"{request.base}/v1.0/$metadata#users('{user['id']}')/mailboxSettings"
        return 200, {"@odata.context": context, **settings}

    def patch_mailbox_settings(self, request: Request, state: TenantState, key: str) -> tuple[int, Any]:
        user, settings = self._mailbox_of(state, key)
        body = request.json()
        if not isinstance(body, dict):
            raise bad_request("Unable to read JSON request payload.", "BadRequest")
        changes = {k: v for k, v in body.items() if not k.startswith("@odata.")}
        replies = changes.get("automaticRepliesSetting")
        if replies is not None:
            if not isinstance(replies, dict) or replies.get("status", "disabled") not in (
                "disabled",
                "alwaysEnabled",
                "scheduled",
            ):
                raise bad_request("The request is invalid: automaticRepliesSetting.", "ErrorInvalidRequest")
            settings["automaticRepliesSetting"] = {
                **settings["automaticRepliesSetting"],
                **{k: v for k, v in replies.items() if not k.startswith("@odata.")},
            }
        for name in ("timeZone", "dateFormat", "timeFormat"):
            if name in changes:
                settings[name] = changes[name]
        context = f"{request.base}/v1.0/$metadata#users('{user['id']}')/mailboxSettings"
        return 200, {"@odata.context": context, **{k: settings[k] for k in changes if k in settings}}

    def _drive_owner(self, state: TenantState, drive_id: str) -> dict[str, Any]:
        for user in state.data.users.values():
            if state.data.drive_id(user["id"]) == drive_id and state.data.has_mailbox(user):
                return user
        raise GraphReplyError(404, "itemNotFound", "The resource could not be found.")

    def get_user_drive(self, request: Request, state: TenantState, key: str) -> tuple[int, Any]:
        user = self.find_user(state, key)
        if not state.data.has_mailbox(user):
            raise GraphReplyError(404, "ResourceNotFound", "User's mysite not found.")
        slug = state.data.default_domain.split(".")[0]
        personal = user["userPrincipalName"].replace("@", "_").replace(".", "_")
        return 200, {
            "@odata.context": f"{request.base}/v1.0/$metadata#drives/$entity",
            "id": state.data.drive_id(user["id"]),
            "driveType": "business",
            "name": "OneDrive",
            "webUrl": f"https://{slug}-my.sharepoint.com/personal/{personal}/Documents",
            "owner": {"user": {"id": user["id"], "displayName": user["displayName"]}},
        }

    def post_drive_invite(
        self, request: Request, state: TenantState, drive_id: str, item: str
    ) -> tuple[int, Any]:
        owner = self._drive_owner(state, drive_id)
        if item != "root":
            raise GraphReplyError(404, "itemNotFound", "The resource could not be found.")
        body = request.json()
        recipients = body.get("recipients") if isinstance(body, dict) else None
        roles = body.get("roles") if isinstance(body, dict) else None
        if not recipients or not isinstance(roles, list) or not set(roles) <= {"read", "write"} or not roles:
            raise GraphReplyError(400, "invalidRequest", "Invalid request")
        if not body.get("requireSignIn") and not body.get("sendInvitation"):
            raise GraphReplyError(400, "invalidRequest", "requireSignIn or sendInvitation must be true")
        granted = state.data.drive_permissions.setdefault(owner["id"], [])
        answered = []
        for recipient in recipients:
            key = recipient.get("objectId") or recipient.get("email") if isinstance(recipient, dict) else None
            if not isinstance(key, str):
                raise GraphReplyError(400, "invalidRequest", "Invalid recipient")
            user = self.find_user(state, key)
            permission = next((p for p in granted if p["grantedToV2"]["user"]["id"] == user["id"]), None)
            if permission is None:
                permission = {
                    "id": _guid_of(f"{drive_id}:{user['id']}"),
                    "roles": sorted(roles),
                    "grantedToV2": {"user": {"id": user["id"], "displayName": user["displayName"]}},
                    "grantedTo": {"user": {"id": user["id"], "displayName": user["displayName"]}},
                }
                granted.append(permission)
            else:
                permission["roles"] = sorted(set(permission["roles"]) | set(roles))
            answered.append({"@odata.type": "#microsoft.graph.permission", **permission})
        return 200, {
            "@odata.context": f"{request.base}/v1.0/$metadata#Collection(permission)",
            "value": answered,
        }

    def get_drive_permissions(
        self, request: Request, state: TenantState, drive_id: str, item: str
    ) -> tuple[int, Any]:
        owner = self._drive_owner(state, drive_id)
        owned = {
            "id": "aTowIy5mfG1lbWJlcnNoaXB8",
            "roles": ["owner"],
            "grantedToV2": {"user": {"id": owner["id"], "displayName": owner["displayName"]}},
        }
        granted = [owned, *state.data.drive_permissions.get(owner["id"], [])]
        return 200, self.collection(request, f"drives/{drive_id}/items/{item}/permissions", granted)

    # Order matters where templates overlap: `users/delta` before `users/{id}`.
    ROUTES: tuple[tuple[str, str, Callable[..., tuple[int, Any]]], ...] = (
        ("users", "GET", get_users),
        ("users/delta", "GET", get_users_delta),
        ("users/{}", "GET", get_user),
        ("users/{}", "PATCH", patch_user_route),
        ("users/{}/assignLicense", "POST", post_assign_license),
        ("users/{}/revokeSignInSessions", "POST", post_revoke_sessions),
        ("users/{}/authentication/methods", "GET", get_auth_methods),
        ("users/{}/authentication/{}/{}", "DELETE", delete_auth_method),
        ("users", "POST", post_user),
        ("users/{}", "DELETE", delete_user_route),
        ("users/{}/memberOf", "GET", get_member_of),
        ("users/{}/mailboxSettings", "GET", get_mailbox_settings),
        ("users/{}/mailboxSettings", "PATCH", patch_mailbox_settings),
        ("users/{}/drive", "GET", get_user_drive),
        ("drives/{}/items/{}/invite", "POST", post_drive_invite),
        ("drives/{}/items/{}/permissions", "GET", get_drive_permissions),
        ("roleManagement/directory/roleAssignments/{}", "DELETE", delete_role_assignment),
        ("groups", "GET", get_groups),
        ("groups/delta", "GET", get_groups_delta),
        ("groups/{}", "GET", get_group),
        ("groups/{}/members", "GET", get_members),
        ("groups/{}/members/$ref", "POST", post_member),
        ("groups/{}/members/{}/$ref", "DELETE", delete_member),
        ("organization", "GET", get_organization),
        ("subscribedSkus", "GET", get_skus),
        ("domains", "GET", get_domains),
        ("roleManagement/directory/roleAssignments", "GET", get_role_assignments),
        ("roleManagement/directory/roleDefinitions", "GET", get_role_definitions),
        ("identity/conditionalAccess/policies", "GET", get_ca_policies),
        ("policies/identitySecurityDefaultsEnforcementPolicy", "GET", get_security_defaults),
        ("policies/identitySecurityDefaultsEnforcementPolicy", "PATCH", patch_security_defaults),
        ("identity/conditionalAccess/policies", "POST", post_ca_policy),
        ("identity/conditionalAccess/policies/{}", "PATCH", patch_ca_policy),
        ("policies/authorizationPolicy", "GET", get_authorization_policy),
        ("policies/authorizationPolicy", "PATCH", patch_authorization_policy),
        ("policies/adminConsentRequestPolicy", "GET", get_admin_consent_policy),
        ("policies/adminConsentRequestPolicy", "PATCH", patch_admin_consent_policy),
        ("policies/adminConsentRequestPolicy", "PUT", patch_admin_consent_policy),
        ("policies/authenticationMethodsPolicy", "GET", get_auth_methods_policy),
        ("policies/authenticationMethodsPolicy", "PATCH", patch_auth_methods_policy),
        ("domains/{}", "PATCH", patch_domain),
        ("reports/authenticationMethods/userRegistrationDetails", "GET", get_registration_details),
        ("security/secureScores", "GET", get_secure_scores),
        ("tenantRelationships/delegatedAdminRelationships", "GET", get_relationships),
        ("tenantRelationships/delegatedAdminRelationships/{}", "GET", get_relationship),
        ("tenantRelationships/delegatedAdminCustomers", "GET", get_gdap_customers),
        ("tenantRelationships/delegatedAdminCustomers/{}", "GET", get_gdap_customer),
    )

    # --- users ---

    @staticmethod
    def find_user(state: TenantState, key: str) -> dict[str, Any]:
        user = state.data.users.get(key)
        if user is None and "@" in key:
            user = next((u for u in state.data.users.values() if u["userPrincipalName"] == key.lower()), None)
        if user is None:
            raise not_found(key)
        return user

    def list_users(self, request: Request, state: TenantState) -> dict[str, Any]:
        select = request.select(USER_PROPERTIES | {"signInActivity"}, USER_DEFAULT_SELECT, "user")
        if "signInActivity" in select:
            require_premium(state)
        token = _unpack(request.query["$skiptoken"]) if "$skiptoken" in request.query else {}
        size = request.page_size(100, token.get("n"))
        offset = int(token.get("o", 0))
        page, offset = _take(state.user_order, offset, size, state.data.users)
        body: dict[str, Any] = {
            "@odata.context": f"{request.base}/v1.0/$metadata#users({','.join(select)})",
            "value": [_pick(with_sign_ins(u), select) for u in page],
        }
        if offset < len(state.user_order):
            skip = _pack({"o": offset, "n": size})
            body["@odata.nextLink"] = (
                f"{request.base}/v1.0/users?$select={','.join(select)}&$skiptoken={skip}"
            )
        return body

    def patch_user(self, state: TenantState, key: str, body: Any) -> None:
        user = self.find_user(state, key)
        if not isinstance(body, dict):
            raise bad_request("Unable to read JSON request payload.", "BadRequest")
        changes = {k: v for k, v in body.items() if not k.startswith("@odata.")}
        if "passwordProfile" in changes:
            self.set_password(user, changes.pop("passwordProfile"))
        for name, value in changes.items():
            if name not in USER_PROPERTIES:
                raise bad_request(
                    f"Property '{name}' does not exist on type 'microsoft.graph.user'.", "BadRequest"
                )
            if name not in _WRITABLE_USER:
                raise bad_request(f"Property '{name}' is read-only and cannot be set.")
            if name == "accountEnabled" and not isinstance(value, bool):
                raise bad_request("Invalid value specified for property 'accountEnabled' of resource 'User'.")
            if name == "usageLocation" and not (
                value is None or (isinstance(value, str) and len(value) == 2)
            ):
                raise bad_request("Invalid value specified for property 'usageLocation' of resource 'User'.")
            if name == "displayName" and not (isinstance(value, str) and value.strip()):
                raise bad_request("Invalid value specified for property 'displayName' of resource 'User'.")
        if changes:
            state.change_user(user["id"], changes)

    def set_password(self, user: dict[str, Any], profile: Any) -> None:
        """A password reset: Entra's complexity rule; the stand-in keeps when, never the password."""
        password = profile.get("password") if isinstance(profile, dict) else None
        if not isinstance(password, str):
            raise bad_request("Invalid value specified for property 'passwordProfile' of resource 'User'.")
        kinds = sum(
            any(test(c) for c in password)
            for test in (str.islower, str.isupper, str.isdigit, lambda c: not c.isalnum())
        )
        if not 8 <= len(password) <= 256 or kinds < 3:
            raise bad_request(
                "The specified password does not comply with password complexity requirements. "
                "Please provide a different password."
            )
        user["lastPasswordChangeDateTime"] = _iso(self.now())
        user["forceChangePasswordNextSignIn"] = bool(profile.get("forceChangePasswordNextSignIn", False))

    def assign_license(self, state: TenantState, key: str, body: Any) -> dict[str, Any]:
        user = self.find_user(state, key)
        if not isinstance(body, dict) or "addLicenses" not in body or "removeLicenses" not in body:
            raise bad_request("Both addLicenses and removeLicenses are required.", "BadRequest")
        add, remove = body["addLicenses"] or [], body["removeLicenses"] or []
        skus = {sku["skuId"]: sku for sku in state.data.skus}
        licences = {lic["skuId"]: lic for lic in user["assignedLicenses"]}
        for sku_id in remove:
            if sku_id not in licences:
                raise bad_request("User does not have a corresponding license.")
            del licences[sku_id]
        for item in add:
            sku_id = item.get("skuId") if isinstance(item, dict) else None
            if not isinstance(sku_id, str) or sku_id not in skus:
                raise bad_request(f"License {sku_id} does not correspond to a valid company License.")
            if not user.get("usageLocation"):
                raise bad_request("License assignment cannot be done for user with invalid usage location.")
            if sku_id not in licences and state.consumed(sku_id) >= skus[sku_id]["prepaidUnits"]["enabled"]:
                raise bad_request(f"Subscription {sku_id} does not have any available licenses.")
            licences[sku_id] = {"disabledPlans": list(item.get("disabledPlans") or []), "skuId": sku_id}
        state.change_user(user["id"], {"assignedLicenses": list(licences.values())})
        return user

    def users_delta(self, request: Request, state: TenantState) -> dict[str, Any]:
        token = self.delta_state(request, state, "users", len(state.user_log))
        select: list[str] = token.get("sel") or request.select(USER_PROPERTIES, USER_DEFAULT_SELECT, "user")
        size = request.page_size(DEFAULT_DELTA_PAGE, token.get("n"))
        request.reply_headers["Preference-Applied"] = f"odata.maxpagesize={size}"
        items: list[dict[str, Any]] = []
        if token["ph"] == "full":
            page, offset = _take(state.user_order, token["o"], size, state.data.users)
            items = [_pick(u, select) for u in page]
            done = offset >= len(state.user_order)
        else:
            changed = _latest_first_seen(state.user_log[token["from"] : token["to"]])
            offset = token["o"] + size
            for user_id in changed[token["o"] : offset]:
                user = state.data.users.get(user_id)
                if user is None:
                    items.append(
                        {"id": user_id, "@removed": {"reason": state.removed_reason.get(user_id, "changed")}}
                    )
                else:
                    items.append(_pick(user, select))
            done = offset >= len(changed)
        return self.delta_page(
            request,
            state=state,
            kind="users",
            token=token,
            select=select,
            size=size,
            items=items,
            offset=offset,
            done=done,
        )

    # --- groups ---

    def groups_delta(self, request: Request, state: TenantState) -> dict[str, Any]:
        token = self.delta_state(request, state, "groups", len(state.group_log))
        select: list[str] = token.get("sel") or request.select(
            GROUP_PROPERTIES, GROUP_DEFAULT_SELECT, "group"
        )
        size = request.page_size(DEFAULT_DELTA_PAGE, token.get("n"))
        request.reply_headers["Preference-Applied"] = f"odata.maxpagesize={size}"
        props = [name for name in select if name != "members"]
        items: list[dict[str, Any]] = []
        if token["ph"] == "full":
            page, offset = _take(state.group_order, token["o"], size, state.data.groups)
            for group in page:
                item = _pick(group, props)
                if "members" in select:
                    item["members@delta"] = [
                        {"@odata.type": "#microsoft.graph.user", "id": m}
                        for m in state.data.members[group["id"]]
                    ]
                items.append(item)
            done = offset >= len(state.group_order)
        else:
            window = state.group_log[token["from"] : token["to"]]
            changed = _latest_first_seen([group_id for group_id, _ in window])
            offset = token["o"] + size
            for group_id in changed[token["o"] : offset]:
                live = state.data.groups.get(group_id)
                if live is None:
                    items.append({"id": group_id, "@removed": {"reason": "changed"}})
                    continue
                item = _pick(live, props)
                if "members" in select:
                    net: dict[str, str] = {}
                    for logged_id, change in window:
                        if logged_id == group_id and change is not None:
                            net[change[1]] = change[0]
                    item["members@delta"] = [
                        {"@odata.type": "#microsoft.graph.user", "id": m}
                        | ({"@removed": {"reason": "deleted"}} if action == "remove" else {})
                        for m, action in net.items()
                    ]
                items.append(item)
            done = offset >= len(changed)
        return self.delta_page(
            request,
            state=state,
            kind="groups",
            token=token,
            select=select,
            size=size,
            items=items,
            offset=offset,
            done=done,
        )

    def add_member(self, state: TenantState, group_id: str, body: Any) -> None:
        if group_id not in state.data.groups:
            raise not_found(group_id)
        reference = body.get("@odata.id") if isinstance(body, dict) else None
        if not isinstance(reference, str) or "/" not in reference:
            raise bad_request("Invalid object identifier '@odata.id'.", "BadRequest")
        member_id = reference.rstrip("/").rsplit("/", 1)[-1]
        if member_id not in state.data.users:
            raise not_found(member_id)
        members = state.data.members[group_id]
        if member_id in members:
            raise bad_request(
                "One or more added object references already exist for the following modified properties: "
                "'members'."
            )
        members[member_id] = None
        state.group_log.append((group_id, ("add", member_id)))

    def remove_member(self, state: TenantState, group_id: str, member_id: str) -> None:
        if group_id not in state.data.groups:
            raise not_found(group_id)
        members = state.data.members[group_id]
        if member_id not in members:
            raise not_found(member_id)
        del members[member_id]
        state.group_log.append((group_id, ("remove", member_id)))

    # --- delta and paging helpers ---

    def delta_state(self, request: Request, state: TenantState, kind: str, log_length: int) -> dict[str, Any]:
        """Where a delta request stands: a fresh full sync, a page of one, or changes since a deltaLink."""
        tenant = state.data.tenant_id
        if "$skiptoken" in request.query:
            token = _unpack(request.query["$skiptoken"])
        elif "$deltatoken" in request.query:
            token = _unpack(request.query["$deltatoken"])
            token = {**token, "ph": "chg", "from": token.get("s"), "to": log_length, "o": 0}
        else:
            return {
                "k": kind,
                "tid": tenant,
                "ph": "full",
                "o": 0,
                "s": log_length,
                "g": state.generation,
                "t": self.now(),
            }
        # Tokens are bound to their tenant and resource, as Graph's are.
        if token.get("k") != kind or token.get("tid") != tenant:
            raise bad_request("The specified token is invalid.", "BadRequest")
        expired = token.get("g") != state.generation or self.now() - float(token.get("t", 0)) > (
            DELTA_TOKEN_LIFETIME.total_seconds()
        )
        if expired:
            raise GraphReplyError(
                410,
                "syncStateNotFound",
                "The sync state generation is not found. The delta token is expired and data must be "
                "synchronized again.",
            )
        return token

    def delta_page(
        self,
        request: Request,
        *,
        state: TenantState,
        kind: str,
        token: dict[str, Any],
        select: list[str],
        size: int,
        items: list[dict[str, Any]],
        offset: int,
        done: bool,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "@odata.context": f"{request.base}/v1.0/$metadata#{kind}({','.join(select)})/$delta",
            "value": items,
        }
        link = f"{request.base}/v1.0/{kind}/delta?"
        if not done:
            body["@odata.nextLink"] = (
                link + "$skiptoken=" + _pack({**token, "o": offset, "sel": select, "n": size})
            )
        else:
            # A full sync's deltaLink starts where the log stood when it began, so changes made while
            # it paged come again next time (Graph's "changes after the initial round" semantics).
            upto = token["s"] if token["ph"] == "full" else token["to"]
            body["@odata.deltaLink"] = (
                link
                + "$deltatoken="
                + _pack(
                    {
                        "k": kind,
                        "tid": state.data.tenant_id,
                        "s": upto,
                        "g": state.generation,
                        "t": self.now(),
                        "sel": select,
                    }
                )
            )
        return body

    def collection(self, request: Request, name: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        token = _unpack(request.query["$skiptoken"]) if "$skiptoken" in request.query else {}
        size = request.page_size(100, token.get("n"))
        offset = int(token.get("o", 0))
        body: dict[str, Any] = {
            "@odata.context": f"{request.base}/v1.0/$metadata#{name}",
            "value": items[offset : offset + size],
        }
        if offset + size < len(items):
            body["@odata.nextLink"] = (
                f"{request.base}/v1.0/{name}?$skiptoken={_pack({'o': offset + size, 'n': size})}"
            )
        return body

    # --- control ---

    def control(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        parts = request.path[len("/_standin/") :].strip("/").split("/")
        body = request.json() if request.body else {}
        for template, method, handler in self.CONTROL_ROUTES:
            params = _match(template, parts)
            if params is not None and method == request.method:
                try:
                    return _json(200, handler(self, request, body, *params))
                except ControlNotFoundError as missing:
                    return _json(404, {"error": str(missing)})
                except (KeyError, ValueError, TypeError) as error:
                    return _json(400, {"error": f"bad control request: {error!r}"})
        return _json(404, {"error": f"no control endpoint {request.method} {request.path}"})

    def _reset(self, request: Request, body: Any) -> Any:
        self.tenants.clear()
        self.consented.clear()
        self.codes.clear()
        self.relationships.clear()
        self.faults.clear()
        self.requests.clear()
        self.clock_offset = 0.0
        return {"reset": True}

    def _put_tenant(self, request: Request, body: Any, tenant_id: str) -> Any:
        users = int(body.get("users", self.users_per_tenant))
        consented = body.get("consented", True)
        if not isinstance(consented, bool):
            raise ValueError("consented must be true or false")
        self.tenants[tenant_id.lower()] = TenantState.generate(tenant_id.lower(), users)
        if body.get("premium", True) is False:
            # A tenant without Entra ID P1/P2: reports and signInActivity answer 403 for it.
            data = self.tenants[tenant_id.lower()].data
            data.skus = [
                k for k in data.skus if not {p["servicePlanName"] for p in k["servicePlans"]} & PREMIUM_PLANS
            ]
        # A tenant put without a word about consent is one whose admin has consented, as tests assume.
        (self.consented.add if consented else self.consented.discard)(tenant_id.lower())
        return self.summary(tenant_id)

    def _grant_consent(self, request: Request, body: Any, tenant_id: str) -> Any:
        self.consented.add(_guid(tenant_id, "tenant id"))
        return {"tenantId": tenant_id.lower(), "consented": True}

    def _revoke_consent(self, request: Request, body: Any, tenant_id: str) -> Any:
        # Tokens already issued stay valid until they expire, as Entra's do.
        self.consented.discard(_guid(tenant_id, "tenant id"))
        return {"tenantId": tenant_id.lower(), "consented": False}

    def _admin_of(self, request: Request, body: Any, tenant_id: str) -> Any:
        return _pick(self.admin_user(self.tenant(_guid(tenant_id, "tenant id"))), _PERSON)

    def _member_of(self, request: Request, body: Any, tenant_id: str) -> Any:
        return _pick(self.member_user(self.tenant(_guid(tenant_id, "tenant id"))), _PERSON)

    @staticmethod
    def admin_user(state: TenantState) -> dict[str, Any]:
        """An enabled Global Administrator of the tenant; one is made when the tenant has none."""
        for assignment in state.data.role_assignments:
            user = state.data.users.get(assignment["principalId"])
            if (
                user is not None
                and assignment["roleDefinitionId"] == GLOBAL_ADMIN_TEMPLATE
                and assignment.get("directoryScopeId", "/") == "/"
                and user.get("accountEnabled", True)
            ):
                return user
        user = state.add_user({"accountEnabled": True})
        state.data.role_assignments.append(
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{state.data.tenant_id}/admin/{user['id']}")),
                "principalId": user["id"],
                "roleDefinitionId": GLOBAL_ADMIN_TEMPLATE,
                "directoryScopeId": "/",
            }
        )
        return user

    @staticmethod
    def member_user(state: TenantState) -> dict[str, Any]:
        """An enabled member holding no directory role; one is made when the tenant has none."""
        holders = {a["principalId"] for a in state.data.role_assignments}
        for user_id in state.user_order:
            user = state.data.users.get(user_id)
            if (
                user is not None
                and user_id not in holders
                and user.get("accountEnabled", True)
                and user.get("userType", "Member") == "Member"
            ):
                return user
        return state.add_user({"accountEnabled": True})

    def _add_relationship(self, request: Request, body: Any) -> Any:
        if not isinstance(body, dict):
            raise TypeError("the body must be a JSON object")
        partner = _guid(body.get("partnerTenantId"), "partnerTenantId")
        customer = _guid(body.get("customerTenantId"), "customerTenantId")
        roles = _roles(body.get("roles", list(GDAP_DEFAULT_ROLES)))
        status = _status(body.get("status", "active"))
        days = int(body.get("days", 730))
        if not 1 <= days <= 730:
            raise ValueError("days must be between 1 and 730 (P1D to P2Y)")
        auto_extend = str(body.get("autoExtendDuration", "PT0S"))
        if auto_extend not in GDAP_AUTO_EXTEND:
            raise ValueError(f"autoExtendDuration must be one of {', '.join(GDAP_AUTO_EXTEND)}")
        known = self.tenants.get(customer)
        customer_name = str(
            body.get("customerDisplayName")
            or (known.data.organization["displayName"] if known else organization_name(customer))
        )
        display_name = str(body.get("displayName") or f"Tenantry {customer_name}")[:50]
        now = self.now()
        activated = now if status in _GDAP_ACTIVATED else None
        end = None
        if activated is not None:
            end = now if status in ("expired", "terminated") else now + timedelta(days=days).total_seconds()
        relationship = Relationship(
            id=f"{uuid.uuid4()}-{partner}",
            partner_tenant_id=partner,
            customer_tenant_id=customer,
            customer_display_name=customer_name,
            display_name=display_name,
            roles=roles,
            status=status,
            days=days,
            auto_extend=auto_extend,
            created=now,
            modified=now,
            activated=activated,
            end=end,
        )
        self.relationships[relationship.id] = relationship
        return relationship.view(now)

    def _relationship(self, relationship_id: str) -> Relationship:
        relationship = self.relationships.get(relationship_id)
        if relationship is None:
            raise ControlNotFoundError(f"no relationship {relationship_id}")
        return relationship

    def _update_relationship(self, request: Request, body: Any, relationship_id: str) -> Any:
        relationship = self._relationship(relationship_id)
        if not isinstance(body, dict):
            raise TypeError("the body must be a JSON object")
        unknown = set(body) - {"status", "endDateTime", "roles", "displayName", "autoExtendDuration"}
        if unknown:
            raise ValueError(f"cannot change {', '.join(sorted(unknown))}")
        now = self.now()
        # Validate everything before changing anything: a refused change leaves the relationship as it was.
        status = _status(body["status"]) if "status" in body else None
        end = relationship.end
        if "endDateTime" in body:
            end = None if body["endDateTime"] is None else _timestamp(body["endDateTime"])
        roles = _roles(body["roles"]) if "roles" in body else None
        auto_extend = body.get("autoExtendDuration")
        if auto_extend is not None and auto_extend not in GDAP_AUTO_EXTEND:
            raise ValueError(f"autoExtendDuration must be one of {', '.join(GDAP_AUTO_EXTEND)}")
        if status is not None:
            if status in _GDAP_ACTIVATED and relationship.activated is None:
                relationship.activated = now
                if "endDateTime" not in body:
                    end = now + timedelta(days=relationship.days).total_seconds()
            if (
                status in ("expired", "terminated")
                and (end is None or end > now)
                and "endDateTime" not in body
            ):
                end = now
            relationship.status = status
        relationship.end = end
        if roles is not None:
            relationship.roles = roles
        if "displayName" in body:
            relationship.display_name = str(body["displayName"])[:50]
        if auto_extend is not None:
            relationship.auto_extend = auto_extend
        relationship.modified = now
        return relationship.view(now)

    def _terminate_relationship(self, request: Request, body: Any, relationship_id: str) -> Any:
        relationship = self._relationship(relationship_id)
        now = self.now()
        # Graph goes terminationRequested -> terminating -> terminated; the stand-in gets there at once.
        end = relationship.end_at(now)
        relationship.status = "terminated"
        relationship.end = now if end is None or end > now else end
        relationship.modified = now
        return relationship.view(now)

    def _get_tenant(self, request: Request, body: Any, tenant_id: str) -> Any:
        return self.summary(tenant_id)

    def _user_state(self, request: Request, body: Any, tenant_id: str, user_id: str) -> Any:
        """Everything offboarding changes about one user, for tests to check (never a password)."""
        state = self.tenant(tenant_id)
        user = state.data.users.get(user_id)
        if user is None:
            raise ControlNotFoundError(f"no user {user_id}")
        return {
            "user": {k: v for k, v in user.items() if k in USER_PROPERTIES or k.endswith("DateTime")},
            "groups": [g for g, members in state.data.members.items() if user_id in members],
            "roleAssignments": [a for a in state.data.role_assignments if a["principalId"] == user_id],
            "mailboxSettings": state.data.mailbox_settings.get(user_id),
            "hasMailbox": state.data.has_mailbox(user),
            "drivePermissions": state.data.drive_permissions.get(user_id, []),
        }

    def _mutate(self, request: Request, body: Any, tenant_id: str) -> Any:
        return self.mutate(self.tenant(tenant_id), body)

    def _expire_delta(self, request: Request, body: Any, tenant_id: str) -> Any:
        self.tenant(tenant_id).generation += 1
        return self.summary(tenant_id)

    def _advance_clock(self, request: Request, body: Any) -> Any:
        self.clock_offset += float(body.get("advanceSeconds", 0))
        return {"offsetSeconds": self.clock_offset}

    def _add_fault(self, request: Request, body: Any) -> Any:
        fault = Fault(
            kind=str(body["kind"]),
            remaining=int(body.get("count", 1)),
            path=str(body.get("path", "")),
            method=body.get("method"),
            tenant=body.get("tenant"),
            retry_after=body.get("retryAfter"),
            delay=float(body.get("delaySeconds", 0.0)),
            status=int(body.get("status", 500)),
            code=str(body.get("code", "UnknownError")),
            message=str(body.get("message", "Injected by the Graph stand-in.")),
        )
        if fault.kind not in ("throttle", "unavailable", "slow", "status"):
            raise ValueError(f"unknown fault kind {fault.kind!r}")
        self.faults = [f for f in self.faults if f.remaining > 0] + [fault]
        return {"id": fault.id}

    def _clear_faults(self, request: Request, body: Any) -> Any:
        self.faults.clear()
        return {"cleared": True}

    def _list_requests(self, request: Request, body: Any) -> Any:
        tenant = request.query.get("tenant", "").lower()
        return {"value": [r for r in self.requests if not tenant or r["tenant"] == tenant]}

    def _clear_requests(self, request: Request, body: Any) -> Any:
        self.requests.clear()
        return {"cleared": True}

    CONTROL_ROUTES: tuple[tuple[str, str, Callable[..., Any]], ...] = (
        ("reset", "POST", _reset),
        ("tenants/{}", "PUT", _put_tenant),
        ("tenants/{}", "GET", _get_tenant),
        ("tenants/{}/consent", "POST", _grant_consent),
        ("tenants/{}/consent", "DELETE", _revoke_consent),
        ("tenants/{}/admin", "GET", _admin_of),
        ("tenants/{}/member", "GET", _member_of),
        ("relationships", "POST", _add_relationship),
        ("relationships/{}", "PATCH", _update_relationship),
        ("relationships/{}/terminate", "POST", _terminate_relationship),
        ("tenants/{}/mutations", "POST", _mutate),
        ("tenants/{}/users/{}", "GET", _user_state),
        ("tenants/{}/expire-delta", "POST", _expire_delta),
        ("clock", "POST", _advance_clock),
        ("faults", "POST", _add_fault),
        ("faults", "DELETE", _clear_faults),
        ("requests", "GET", _list_requests),
        ("requests", "DELETE", _clear_requests),
    )

    def summary(self, tenant_id: str) -> dict[str, Any]:
        state = self.tenant(tenant_id)
        return {
            "tenantId": state.data.tenant_id,
            "users": len(state.data.users),
            "groups": len(state.data.groups),
            "generation": state.generation,
            "consented": state.data.tenant_id in self.consented,
        }

    @staticmethod
    def mutate(state: TenantState, body: dict[str, Any]) -> dict[str, Any]:
        """Adds, changes and removes users the way an admin would between two syncs."""
        add = body.get("add", [])
        added = [
            state.add_user(dict(overrides)) for overrides in ([{}] * add if isinstance(add, int) else add)
        ]
        changed = []
        for user_id, changes in body.get("change", {}).items():
            if user_id not in state.data.users:
                raise ValueError(f"no user {user_id}")
            state.change_user(user_id, changes)
            changed.append(user_id)
        removed = []
        for user_id in body.get("remove", []):
            state.remove_user(user_id, hard=bool(body.get("hardDelete", False)))
            removed.append(user_id)
        return {"added": added, "changed": changed, "removed": removed}


class ControlNotFoundError(Exception):
    """A control request named something the stand-in does not hold (404)."""


_PERSON = ("id", "userPrincipalName", "displayName")


def _status(value: Any) -> str:
    for status in GDAP_STATUSES:
        if str(value).casefold() == status.casefold():
            return status
    raise ValueError(f"status must be one of {', '.join(GDAP_STATUSES)}, not {value!r}")


def _roles(value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise ValueError("roles must be a non-empty list of role definition ids")
    return list(dict.fromkeys(_guid(role, "roleDefinitionId") for role in value))


def _guid_of(text: str) -> str:
    return str(uuid.UUID(bytes=hashlib.sha256(text.encode()).digest()[:16], version=4))


def default_mailbox_settings(now: float) -> dict[str, Any]:
    """A new Exchange Online mailbox's settings as GET /users/{id}/mailboxSettings shows them."""
    day = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT00:00:00.0000000")
    return {
        "archiveFolder": "AAMkAGI2TGuLAAA=",
        "timeZone": "UTC",
        "delegateMeetingMessageDeliveryOptions": "sendToDelegateOrInformationOnly",
        "dateFormat": "dd/MM/yyyy",
        "timeFormat": "HH:mm",
        "userPurpose": "user",
        "automaticRepliesSetting": {
            "status": "disabled",
            "externalAudience": "all",
            "internalReplyMessage": "",
            "externalReplyMessage": "",
            "scheduledStartDateTime": {"dateTime": day, "timeZone": "UTC"},
            "scheduledEndDateTime": {"dateTime": day, "timeZone": "UTC"},
        },
        "language": {"locale": "en-GB", "displayName": "English (United Kingdom)"},
        "workingHours": {
            "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
            "startTime": "08:00:00.0000000",
            "endTime": "17:00:00.0000000",
            "timeZone": {"name": "UTC"},
        },
    }


def _match(template: str, parts: list[str]) -> list[str] | None:
    """The `{}` segments of `template` if `parts` fit it, else None."""
    expected = template.split("/")
    if len(expected) != len(parts):
        return None
    params = []
    for want, got in zip(expected, parts, strict=True):
        if want == "{}":
            params.append(got)
        elif want != got:
            return None
    return params


def _normalise(route: str) -> str:
    """Graph accepts `delta`, `delta()` and `microsoft.graph.delta()` alike (the SDK sends `delta()`)."""
    parts = []
    for raw in route.strip("/").split("/"):
        part = raw.removeprefix("microsoft.graph.")
        parts.append(part.removesuffix("()"))
    return "/".join(parts)


def require_premium(state: TenantState) -> None:
    plans = {p["servicePlanName"] for sku in state.data.skus for p in sku.get("servicePlans", [])}
    if not plans & PREMIUM_PLANS:
        raise GraphReplyError(*PREMIUM_REQUIRED)


def _user_digest(user: dict[str, Any], purpose: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{user['id']}:{purpose}".encode()).digest()[:4], "big")


def registration_details(user: dict[str, Any], is_admin: bool) -> dict[str, Any]:
    """A user's `userRegistrationDetails`, derived from the user (a mutation may set
    `isMfaRegistered` / `methodsRegistered` on the user to change it)."""
    registered = user.get("isMfaRegistered")
    if registered is None:
        registered = _user_digest(user, "mfa") % 10 < 7
    methods = user.get("methodsRegistered")
    if methods is None:
        methods = ["microsoftAuthenticatorPush", "softwareOneTimePasscode"] if registered else []
    return {
        "id": user["id"],
        "userPrincipalName": user["userPrincipalName"],
        "userDisplayName": user["displayName"],
        "userType": "guest" if user.get("userType") == "Guest" else "member",
        "isAdmin": is_admin,
        "isSsprRegistered": bool(registered),
        "isSsprEnabled": True,
        "isSsprCapable": bool(registered),
        "isMfaRegistered": bool(registered),
        "isMfaCapable": bool(registered) and bool(user.get("accountEnabled", True)),
        "isPasswordlessCapable": False,
        "methodsRegistered": list(methods),
        "isSystemPreferredAuthenticationMethodEnabled": False,
        "systemPreferredAuthenticationMethods": [],
        "userPreferredMethodForSecondaryAuthentication": "push" if registered else "none",
        "lastUpdatedDateTime": "2026-01-05T10:00:00Z",
    }


# methodsRegistered value -> (@odata.type, the collection under /authentication that deletes it)
AUTH_METHODS = {
    "microsoftAuthenticatorPush": (
        "microsoftAuthenticatorAuthenticationMethod",
        "microsoftAuthenticatorMethods",
    ),
    "softwareOneTimePasscode": ("softwareOathAuthenticationMethod", "softwareOathMethods"),
    "mobilePhone": ("phoneAuthenticationMethod", "phoneMethods"),
    "email": ("emailAuthenticationMethod", "emailMethods"),
}
PASSWORD_METHOD_ID = "28c10230-6103-485e-b985-444c60001490"  # noqa: S105 - an id, the same in every tenant


def _method_id(user: dict[str, Any], name: str) -> str:
    return str(uuid.uuid5(uuid.UUID(user["id"]), name))


def auth_methods(user: dict[str, Any]) -> list[dict[str, Any]]:
    """A user's authentication methods as `/authentication/methods` lists them: the password, and
    one per method their registration details name."""
    methods: list[dict[str, Any]] = [
        {
            "@odata.type": "#microsoft.graph.passwordAuthenticationMethod",
            "id": PASSWORD_METHOD_ID,
            "password": None,
            "createdDateTime": user.get("createdDateTime"),
        }
    ]
    for name in registration_details(user, False)["methodsRegistered"]:
        if name in AUTH_METHODS:
            kind = AUTH_METHODS[name][0]
            methods.append({"@odata.type": f"#microsoft.graph.{kind}", "id": _method_id(user, name)})
    return methods


def with_sign_ins(user: dict[str, Any]) -> dict[str, Any]:
    """The user with `signInActivity` (a mutation may set it on the user): most signed in within
    weeks, some months ago, a few never."""
    if "signInActivity" in user:
        return user
    roll = _user_digest(user, "sign-in")
    activity: dict[str, str | None]
    if roll % 20 == 0:
        activity = {
            "lastSignInDateTime": None,
            "lastSignInRequestId": None,
            "lastNonInteractiveSignInDateTime": None,
            "lastNonInteractiveSignInRequestId": None,
            "lastSuccessfulSignInDateTime": None,
            "lastSuccessfulSignInRequestId": None,
        }
    else:
        days = roll % 200 if roll % 5 == 0 else roll % 30
        # From the start of today: the same user reads the same all day, as Graph's does between sign-ins.
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        moment = (today - timedelta(days=days, minutes=roll % 1440)).strftime("%Y-%m-%dT%H:%M:%SZ")
        request_id = str(uuid.UUID(int=roll, version=4))
        activity = {
            "lastSignInDateTime": moment,
            "lastSignInRequestId": request_id,
            "lastNonInteractiveSignInDateTime": moment,
            "lastNonInteractiveSignInRequestId": request_id,
            "lastSuccessfulSignInDateTime": moment,
            "lastSuccessfulSignInRequestId": request_id,
        }
    return {**user, "signInActivity": activity}


def secure_scores(state: TenantState, now: float, top: int) -> list[dict[str, Any]]:
    """One `secureScore` a day, newest first, rising slowly."""
    seed = int(hashlib.sha256(state.data.tenant_id.encode()).hexdigest()[:8], 16)
    maximum = 250.0
    today = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    scores = []
    for day in range(min(max(top, 1), 90)):
        current = float(max(0, 60 + seed % 120 - day // 3))
        created = today - timedelta(days=day)
        scores.append(
            {
                "id": f"{state.data.tenant_id}_{created.strftime('%Y-%m-%d')}",
                "azureTenantId": state.data.tenant_id,
                "activeUserCount": len(state.data.users),
                "createdDateTime": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "currentScore": current,
                "maxScore": maximum,
                "enabledServices": ["HasExchange", "HasSharePoint"],
                "licensedUserCount": len(state.data.users),
                "averageComparativeScores": [{"basis": "AllTenants", "averageScore": 52.4}],
                "controlScores": [],
                "vendorInformation": {
                    "provider": "SecureScore",
                    "providerVersion": None,
                    "subProvider": None,
                    "vendor": "Microsoft",
                },
            }
        )
    return scores


def _pick(item: dict[str, Any], names: list[str] | tuple[str, ...]) -> dict[str, Any]:
    return {name: item.get(name) for name in names}


def _take(
    order: list[str], offset: int, size: int, live: dict[str, dict[str, Any]]
) -> tuple[list[dict[str, Any]], int]:
    """Up to `size` live items from `order[offset:]`; ids only ever append, so offsets stay valid."""
    page: list[dict[str, Any]] = []
    while offset < len(order) and len(page) < size:
        item = live.get(order[offset])
        offset += 1
        if item is not None:
            page.append(item)
    return page, offset


def _latest_first_seen(ids: list[str]) -> list[str]:
    """Each id once, ordered by its last change, as a delta round reports net changes."""
    return list(reversed(dict.fromkeys(reversed(ids))))


def _challenge() -> dict[str, str]:
    return {
        "WWW-Authenticate": 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/'
        f'oauth2/authorize", client_id="{GRAPH_APP_ID}"'
    }


def _json(status: int, body: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {"content-type": "application/json; charset=utf-8"}, json.dumps(body).encode()


def _page(status: int, title: str, body: str) -> tuple[int, dict[str, str], bytes]:
    document = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"</head><body>{body}</body></html>"
    )
    return (
        status,
        {"content-type": "text/html; charset=utf-8", "cache-control": "no-store"},
        document.encode(),
    )


def _error_page(status: int, number: int, description: str) -> tuple[int, dict[str, str], bytes]:
    """What Entra shows instead of redirecting, when the redirect URI itself cannot be trusted."""
    text = _sts_description(number, description)[0]
    body = f'<h1>Sorry, but we\'re having trouble signing you in.</h1><p role="alert">{html.escape(text)}</p>'
    return _page(status, "Sign in to your account", body)


def _redirect(location: str) -> tuple[int, dict[str, str], bytes]:
    return 302, {"location": location, "cache-control": "no-store"}, b""


def _with_query(uri: str, params: Mapping[str, str]) -> str:
    parts = urlsplit(uri)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))


def pairwise_subject(client_id: str, object_id: str) -> str:
    """The ID token's `sub`: the same user looks different to each app (Entra's pairwise identifier)."""
    return _b64(hashlib.sha256(f"{client_id.lower()}|{object_id}".encode()).digest())


# What $filter may name on tenantRelationships' collections (eq, joined by and), and where it reads.
_RELATIONSHIP_FILTERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "id": lambda r: r["id"],
    "displayName": lambda r: r["displayName"],
    "status": lambda r: r["status"],
    "customer/tenantId": lambda r: r["customer"]["tenantId"],
    "customer/displayName": lambda r: r["customer"]["displayName"],
}
_CUSTOMER_FILTERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "id": lambda c: c["id"],
    "tenantId": lambda c: c["tenantId"],
    "displayName": lambda c: c["displayName"],
}
_FILTER_CLAUSE = re.compile(r"\s*([A-Za-z]+(?:/[A-Za-z]+)?)\s+eq\s+'((?:[^']|'')*)'\s*")
_FILTER_AND = re.compile(r"and\b", re.IGNORECASE)


def _parse_filter(
    text: str, filters: Mapping[str, Callable[[dict[str, Any]], Any]], kind: str
) -> list[tuple[str, str]]:
    """(property, value) pairs of an `a eq 'x' and b eq 'y'` filter; 400 in Graph's shape otherwise."""
    if not text.strip():
        return []
    names = {name.lower(): name for name in filters}
    clauses: list[tuple[str, str]] = []
    position = 0
    while True:
        match = _FILTER_CLAUSE.match(text, position)
        if match is None:
            raise bad_request(
                f"Invalid filter clause: '{text}'. Only 'eq' comparisons of "
                f"{', '.join(filters)} joined by 'and' are supported on microsoft.graph.{kind}.",
                "BadRequest",
            )
        name = names.get(match.group(1).lower())
        if name is None:
            raise bad_request(
                f"Could not find a property named '{match.group(1)}' on type 'microsoft.graph.{kind}' "
                "that can be filtered on.",
                "BadRequest",
            )
        value = match.group(2).replace("''", "'")
        if name == "status" and value.casefold() not in {status.casefold() for status in GDAP_STATUSES}:
            raise bad_request(f"The string '{value}' is not a valid enumeration type constant.", "BadRequest")
        clauses.append((name, value))
        position = match.end()
        if position == len(text):
            return clauses
        joined = _FILTER_AND.match(text, position)
        if joined is None:
            raise bad_request(f"Invalid filter clause: '{text}'.", "BadRequest")
        position = joined.end()


def _gdap_select(request: Request, item: dict[str, Any], kind: str) -> dict[str, Any]:
    raw = request.query.get("$select")
    if not raw:
        return item
    names = [name.strip() for name in raw.split(",") if name.strip()]
    for name in names:
        if name not in item or name.startswith("@"):
            raise bad_request(
                f"Could not find a property named '{name}' on type 'microsoft.graph.{kind}'.", "BadRequest"
            )
    wanted = {"id", *names}
    return {k: v for k, v in item.items() if k.startswith("@") or k in wanted}


# --- TLS -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificates:
    ca: Path
    certificate: Path
    key: Path


def ensure_certificates(directory: Path) -> Certificates:
    """A private CA and a server certificate for 127.0.0.1/localhost, made once per directory.

    A CA plus a leaf (rather than one self-signed certificate) passes Python 3.13's default
    VERIFY_X509_STRICT checks, so the same files work on every interpreter the app supports.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    files = Certificates(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    if files.ca.exists() and files.certificate.exists() and files.key.exists():
        current = x509.load_pem_x509_certificate(files.certificate.read_bytes())
        if current.not_valid_after_utc > datetime.now(UTC) + timedelta(days=1):
            return files
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC) - timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenantry Graph stand-in CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=364))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.certificate.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    files.key.chmod(0o600)
    return files


# --- running it ------------------------------------------------------------------------------


@dataclass
class RunningStandin:
    """Where a started stand-in answers, and the settings that point Tenantry's Graph adapter at it."""

    app: GraphStandin
    base_url: str
    certificates: Certificates

    @property
    def graph_url(self) -> str:
        return f"{self.base_url}/v1.0"

    def settings(self) -> dict[str, str]:
        return {
            "GRAPH_AUTHORITY_HOST": self.base_url,
            "GRAPH_BASE_URL": self.graph_url,
            "GRAPH_CA_BUNDLE": str(self.certificates.ca),
            "GRAPH_CLIENT_ID": self.app.client_id or "00000000-0000-0000-0000-00000000c11e",
            "GRAPH_CLIENT_SECRET": self.app.client_secret or "stand-in-secret",
        }


def _config(app: GraphStandin, port: int, certificates: Certificates) -> Any:
    import uvicorn

    return uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        ssl_certfile=str(certificates.certificate),
        ssl_keyfile=str(certificates.key),
        timeout_keep_alive=30,
        # Clients (MSAL's session above all) keep connections open; shutting down should not wait on them.
        timeout_graceful_shutdown=1,
    )


@contextmanager
def serve_in_thread(
    app: GraphStandin | None = None, *, port: int | None = None, cert_dir: Path | None = None
) -> Iterator[RunningStandin]:
    """Serves the stand-in on a daemon thread (own event loop) until the block exits."""
    import uvicorn

    from localdev.azurite import free_port

    app = app or GraphStandin(users_per_tenant=int(os.environ.get("SANDBOX_TENANT_USERS", "1000")))
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="graph-standin-") as scratch:
        certificates = ensure_certificates(cert_dir or Path(scratch))
        server = uvicorn.Server(_config(app, port, certificates))
        thread = threading.Thread(target=server.run, name="graph-standin", daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the Graph stand-in did not start on port {port}")
            time.sleep(0.02)
        try:
            yield RunningStandin(app, f"https://127.0.0.1:{port}", certificates)
        finally:
            server.should_exit = True
            thread.join(timeout=10)


class StandinControl:
    """A client for the `/_standin/` endpoints, for tests and benchmarks."""

    def __init__(self, base_url: str, ca: Path):
        import httpx

        self._http = httpx.Client(base_url=f"{base_url}/_standin", verify=_ssl_context(ca), timeout=60)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = self._http.request(method, path, json=body)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self._call("POST", "/reset")

    def put_tenant(
        self, tenant_id: str, users: int, *, consented: bool = True, premium: bool = True
    ) -> dict[str, Any]:
        """(Re)generates the tenant; by default its admin has consented to the app there, and it
        holds Entra ID P1 (`premium=False`: reports needing it answer 403)."""
        body = {"users": users, "consented": consented, "premium": premium}
        result: dict[str, Any] = self._call("PUT", f"/tenants/{tenant_id}", body)
        return result

    def grant_consent(self, tenant_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/tenants/{tenant_id}/consent")
        return result

    def revoke_consent(self, tenant_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("DELETE", f"/tenants/{tenant_id}/consent")
        return result

    def admin_of(self, tenant_id: str) -> dict[str, Any]:
        """A Global Administrator of the tenant (id, userPrincipalName, displayName)."""
        result: dict[str, Any] = self._call("GET", f"/tenants/{tenant_id}/admin")
        return result

    def member_of(self, tenant_id: str) -> dict[str, Any]:
        """A user of the tenant holding no directory role."""
        result: dict[str, Any] = self._call("GET", f"/tenants/{tenant_id}/member")
        return result

    def authorize(self, url: str, login_hint: str) -> str:
        """Where the sign-in at `url` sends that user's browser (the redirect, not followed)."""
        parts = urlsplit(url)
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "login_hint"]
        response = self._http.get(
            urlunsplit(parts._replace(query=urlencode([*query, ("login_hint", login_hint)])))
        )
        if response.status_code != 302:
            raise RuntimeError(
                f"the sign-in did not redirect ({response.status_code}): {response.text[:500]}"
            )
        return response.headers["location"]

    def add_relationship(
        self,
        partner_tenant_id: str,
        customer_tenant_id: str,
        *,
        roles: list[str] | None = None,
        status: str = "active",
        days: int = 730,
        customer_display_name: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "partnerTenantId": partner_tenant_id,
            "customerTenantId": customer_tenant_id,
            "status": status,
            "days": days,
        }
        if roles is not None:
            body["roles"] = roles
        if customer_display_name is not None:
            body["customerDisplayName"] = customer_display_name
        result: dict[str, Any] = self._call("POST", "/relationships", body)
        return result

    def update_relationship(self, relationship_id: str, **fields: Any) -> dict[str, Any]:
        """Changes status, endDateTime (a datetime or ISO text; end_date_time works too) or roles."""
        body = {}
        for name, value in fields.items():
            key = {"end_date_time": "endDateTime", "display_name": "displayName"}.get(name, name)
            body[key] = value.isoformat() if isinstance(value, datetime) else value
        result: dict[str, Any] = self._call("PATCH", f"/relationships/{relationship_id}", body)
        return result

    def terminate_relationship(self, relationship_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/relationships/{relationship_id}/terminate")
        return result

    def tenant(self, tenant_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/tenants/{tenant_id}")
        return result

    def user_state(self, tenant_id: str, user_id: str) -> dict[str, Any]:
        """The user, their groups, role assignments, mailbox settings and OneDrive grants."""
        result: dict[str, Any] = self._call("GET", f"/tenants/{tenant_id}/users/{user_id}")
        return result

    def mutate(
        self,
        tenant_id: str,
        *,
        add: int | list[dict[str, Any]] = 0,
        change: dict[str, dict[str, Any]] | None = None,
        remove: list[str] | None = None,
        hard_delete: bool = False,
    ) -> dict[str, Any]:
        body = {"add": add, "change": change or {}, "remove": remove or [], "hardDelete": hard_delete}
        result: dict[str, Any] = self._call("POST", f"/tenants/{tenant_id}/mutations", body)
        return result

    def expire_delta_tokens(self, tenant_id: str) -> None:
        self._call("POST", f"/tenants/{tenant_id}/expire-delta")

    def advance_clock(self, seconds: float) -> None:
        self._call("POST", "/clock", {"advanceSeconds": seconds})

    def inject(self, kind: str, *, path: str = "", count: int = 1, **options: Any) -> str:
        result: dict[str, Any] = self._call(
            "POST", "/faults", {"kind": kind, "path": path, "count": count, **options}
        )
        return str(result["id"])

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def requests(self, tenant_id: str | None = None) -> list[dict[str, Any]]:
        suffix = f"?tenant={tenant_id}" if tenant_id else ""
        result: list[dict[str, Any]] = self._call("GET", f"/requests{suffix}")["value"]
        return result

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")


def _ssl_context(ca: Path) -> Any:
    import ssl

    return ssl.create_default_context(cafile=str(ca))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m localdev.graph_standin", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRAPH_STANDIN_PORT", "7080")))
    parser.add_argument(
        "--users",
        type=int,
        default=int(os.environ.get("SANDBOX_TENANT_USERS", "1000")),
        help="users in each generated tenant (SANDBOX_TENANT_USERS, default 1000)",
    )
    parser.add_argument("--cert-dir", type=Path, default=None, help="where the CA and server cert live")
    parser.add_argument("--client-id", default=None, help="accept only this client id (default: any)")
    parser.add_argument("--client-secret", default=None, help="accept only this secret (default: any)")
    parser.add_argument(
        "--ca-interval", type=float, default=1.0, help="conditional access: seconds per request"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import uvicorn

    cert_dir = args.cert_dir or Path(tempfile.mkdtemp(prefix="graph-standin-"))
    certificates = ensure_certificates(cert_dir)
    app = GraphStandin(
        users_per_tenant=args.users,
        client_id=args.client_id,
        client_secret=args.client_secret,
        ca_min_interval=args.ca_interval,
    )
    running = RunningStandin(app, f"https://127.0.0.1:{args.port}", certificates)
    print(json.dumps(running.settings()), flush=True)
    uvicorn.Server(_config(app, args.port, certificates)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

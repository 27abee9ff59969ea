"""A local Microsoft Graph v1.0 and Entra ID token endpoint over HTTPS, speaking their real wire formats.

Graph is not reachable from these machines, so the adapter, the real msgraph-sdk and the real
azure-identity credential talk to this ASGI app instead (`python -m localdev.graph_standin`, or
`serve_in_thread` from a test). Every tenant id a token names is served: the tenant is generated
deterministically from its id (`graph_tenant.generate_tenant`) with SANDBOX_TENANT_USERS users.

Why HTTPS: azure-identity and MSAL refuse any authority that is not `https://` (azure-identity's
`normalize_authority`, MSAL's `canonicalize`), so the token endpoint must be TLS. The stand-in makes
its own CA and server certificate; clients trust that CA through GRAPH_CA_BUNDLE (azure-core's
`connection_verify`, an httpx SSL context). MSAL's instance discovery asks login.microsoftonline.com
about unknown hosts, so the credential is built with `disable_instance_discovery=True` for a
non-Microsoft authority; MSAL then reads `/{tenant}/v2.0/.well-known/openid-configuration` from
the stand-in and posts the client-credentials grant to the token endpoint it names.

Control endpoints under `/_standin/` (no token needed) regenerate or mutate tenants, inject faults
(429 with Retry-After, 503, slow pages, any status), expire delta tokens, move the stand-in's clock,
and list the requests served, so tests can check what a client really sent.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
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
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

from localdev.graph_tenant import (
    GROUP_DEFAULT_SELECT,
    GROUP_PROPERTIES,
    ROLES,
    USER_DEFAULT_SELECT,
    USER_PROPERTIES,
    GeneratedTenant,
    generate_tenant,
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
)


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
    ) -> None:
        self.users_per_tenant = users_per_tenant
        self.client_id = client_id
        self.client_secret = client_secret
        self.ca_min_interval = ca_min_interval
        self.signing_key = secrets.token_bytes(32)
        self.tenants: dict[str, TenantState] = {}
        self.faults: list[Fault] = []
        self.requests: deque[dict[str, Any]] = deque(maxlen=20_000)
        self.clock_offset = 0.0

    def now(self) -> float:
        """The clock delta tokens age by; `/_standin/clock` moves it (access tokens keep real time,
        as MSAL caches them by real time)."""
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

    async def handle(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        path = request.path
        if path.startswith("/_standin/"):
            return self.control(request)
        if path.startswith("/v1.0/"):
            return await self.graph(request)
        token_route = re.fullmatch(r"/([^/]+)/oauth2/v2\.0/token", path)
        if token_route and request.method == "POST":
            return self.token(request, token_route.group(1))
        discovery = re.fullmatch(r"/([^/]+)/v2\.0/\.well-known/openid-configuration", path)
        if discovery and request.method == "GET":
            return self.openid_configuration(request, discovery.group(1))
        return _json(404, {"error": "not_found", "error_description": f"The stand-in serves no {path}."})

    # --- Entra ID ---

    def openid_configuration(self, request: Request, tenant: str) -> tuple[int, dict[str, str], bytes]:
        base = f"{request.base}/{tenant}"
        return _json(
            200,
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "issuer": f"{base}/v2.0",
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "tenant_region_scope": "EU",
            },
        )

    def token(self, request: Request, tenant: str) -> tuple[int, dict[str, str], bytes]:
        form = dict(parse_qsl(request.body.decode("latin-1")))

        def error(status: int, code: str, number: int, description: str) -> tuple[int, dict[str, str], bytes]:
            trace = str(uuid.uuid4())
            return _json(
                status,
                {
                    "error": code,
                    "error_description": f"AADSTS{number}: {description} Trace ID: {trace}",
                    "error_codes": [number],
                    "timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ"),
                    "trace_id": trace,
                    "correlation_id": str(uuid.uuid4()),
                },
            )

        if not _GUID.match(tenant):
            return error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        if form.get("grant_type") != "client_credentials":
            return error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
        client_id = form.get("client_id", "")
        if self.client_id is not None and client_id != self.client_id:
            return error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant}'.",
            )
        if self.client_secret is not None and form.get("client_secret") != self.client_secret:
            return error(401, "invalid_client", 7000215, "Invalid client secret provided.")
        scope = form.get("scope", "")
        if not scope.endswith("/.default") or " " in scope.strip():
            return error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows must have a "
                "scope value with /.default suffixed to the resource identifier (application ID URI).",
            )
        now = int(time.time())
        tenant = tenant.lower()
        claims = {
            "aud": scope.removesuffix("/.default"),
            "iss": f"https://sts.windows.net/{tenant}/",
            "iat": now,
            "nbf": now,
            "exp": now + 3599,
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
                "expires_in": 3599,
                "ext_expires_in": 3599,
                "access_token": sign_jwt(claims, self.signing_key),
            },
        )

    def authenticate(self, request: Request) -> str:
        """The tenant a Graph call is for, from the bearer token's `tid`; 401 in Graph's shape otherwise."""
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
        return str(claims["tid"]).lower()

    # --- Graph ---

    async def graph(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        request_id = str(uuid.uuid4())
        client_request_id = request.headers.get("client-request-id", str(uuid.uuid4()))
        route = _normalise(request.path[len("/v1.0/") :])
        started = time.monotonic()
        try:
            request.tenant = self.authenticate(request)
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
        return 200, self.collection(request, "roleManagement/directory/roleAssignments", assignments)

    def get_role_definitions(self, request: Request, state: TenantState) -> tuple[int, Any]:
        definitions = [
            {"id": rid, "templateId": rid, "displayName": name, "isBuiltIn": True, "isEnabled": True}
            for rid, name in ROLES
        ]
        return 200, self.collection(request, "roleManagement/directory/roleDefinitions", definitions)

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

    # Order matters where templates overlap: `users/delta` before `users/{id}`.
    ROUTES: tuple[tuple[str, str, Callable[..., tuple[int, Any]]], ...] = (
        ("users", "GET", get_users),
        ("users/delta", "GET", get_users_delta),
        ("users/{}", "GET", get_user),
        ("users/{}", "PATCH", patch_user_route),
        ("users/{}/assignLicense", "POST", post_assign_license),
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
        select = request.select(USER_PROPERTIES, USER_DEFAULT_SELECT, "user")
        token = _unpack(request.query["$skiptoken"]) if "$skiptoken" in request.query else {}
        size = request.page_size(100, token.get("n"))
        offset = int(token.get("o", 0))
        page, offset = _take(state.user_order, offset, size, state.data.users)
        body: dict[str, Any] = {
            "@odata.context": f"{request.base}/v1.0/$metadata#users({','.join(select)})",
            "value": [_pick(u, select) for u in page],
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
                except (KeyError, ValueError, TypeError) as error:
                    return _json(400, {"error": f"bad control request: {error!r}"})
        return _json(404, {"error": f"no control endpoint {request.method} {request.path}"})

    def _reset(self, request: Request, body: Any) -> Any:
        self.tenants.clear()
        self.faults.clear()
        self.requests.clear()
        self.clock_offset = 0.0
        return {"reset": True}

    def _put_tenant(self, request: Request, body: Any, tenant_id: str) -> Any:
        users = int(body.get("users", self.users_per_tenant))
        self.tenants[tenant_id.lower()] = TenantState.generate(tenant_id.lower(), users)
        return self.summary(tenant_id)

    def _get_tenant(self, request: Request, body: Any, tenant_id: str) -> Any:
        return self.summary(tenant_id)

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
        ("tenants/{}/mutations", "POST", _mutate),
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

    def put_tenant(self, tenant_id: str, users: int) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PUT", f"/tenants/{tenant_id}", {"users": users})
        return result

    def tenant(self, tenant_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/tenants/{tenant_id}")
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

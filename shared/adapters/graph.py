"""Microsoft Graph for one customer tenant: bulk reads into slim models, management writes via msgraph-sdk.

Reads (users and groups by delta query, tenant configuration) go through a thin httpx client and
are parsed straight from JSON into the pydantic models below. msgraph-sdk's generated models cost
milliseconds of CPU per user and its first request imports over a thousand modules, which a
100,000-user sync cannot afford; it also drops `PageIterator.delta_link`. Writes are few and go
through msgraph-sdk's typed client (`GraphWriter`). Both import their SDKs at first use, so
indexing the function app loads neither.

Authentication is app-only (client credentials) in the customer's tenant: one
`ClientSecretCredential` with `additionally_allowed_tenants=["*"]` serves every customer, and each
token is requested with `tenant_id=<customer>` (the multi-tenant/GDAP app model).
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic.alias_generators import to_camel

if TYPE_CHECKING:
    import ssl

    import httpx
    from azure.core.credentials import AccessToken, TokenCredential
    from azure.identity import ClientSecretCredential
    from msgraph.graph_service_client import GraphServiceClient

    from shared.adapters.graph_reports import SecureScore, UserRegistrationDetails, UserSignIns

log = logging.getLogger("tenantry.graph")

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"  # role template id, the same in every tenant
# Microsoft's own login hosts: MSAL validates these itself; any other authority (a private cloud,
# the local stand-in) needs instance discovery turned off, or MSAL asks login.microsoftonline.com.
MICROSOFT_LOGIN_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoft.com",
        "login.windows.net",
        "login.microsoftonline.us",
        "login.partner.microsoftonline.cn",
    }
)
RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
# Delta state gone: 410 Gone is the documented signal; directory objects have also answered 400
# with these codes, so both mean "start a full sync".
SYNC_RESET_CODES = frozenset({"syncStateNotFound", "resyncRequired", "syncStateInvalid"})
CONDITIONAL_ACCESS_INTERVAL = 1.0  # conditional access: 1 request/s per tenant, and no Retry-After


# --- settings and credentials ------------------------------------------------------------


@dataclass(frozen=True)
class GraphSettings:
    """What the Graph adapter needs from app settings; the composition root builds it."""

    client_id: str
    client_secret: SecretStr
    authority_host: str = "https://login.microsoftonline.com"
    base_url: str = "https://graph.microsoft.com/v1.0"
    ca_bundle: str | None = None  # local stand-in only: the CA its TLS certificate comes from
    home_tenant_id: str = "organizations"  # tokens always name the customer tenant explicitly
    timeout_seconds: float = 30.0
    max_attempts: int = 5
    max_retry_after_seconds: float = 120.0  # a longer Retry-After fails the call, to be rescheduled
    backoff_base_seconds: float = 1.0
    backoff_cap_seconds: float = 30.0
    page_size: int = 999  # users/groups delta: Graph's maximum

    @property
    def graph_origin(self) -> str:
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def disable_instance_discovery(self) -> bool:
        return (urlsplit(self.authority_host).hostname or "") not in MICROSOFT_LOGIN_HOSTS

    def ssl_context(self) -> ssl.SSLContext:
        import ssl

        if self.ca_bundle:
            return ssl.create_default_context(cafile=self.ca_bundle)
        return ssl.create_default_context()


def graph_credential(settings: GraphSettings) -> ClientSecretCredential:
    """One app-only credential for every customer tenant; pass `tenant_id=` with each token request."""
    from azure.identity import ClientSecretCredential

    options: dict[str, Any] = {}
    if settings.ca_bundle:
        options["connection_verify"] = settings.ca_bundle
    return ClientSecretCredential(
        settings.home_tenant_id,
        settings.client_id,
        settings.client_secret.get_secret_value(),
        authority=settings.authority_host,
        additionally_allowed_tenants=["*"],
        disable_instance_discovery=settings.disable_instance_discovery,
        **options,
    )


# --- errors ------------------------------------------------------------------------------


class GraphError(Exception):
    """A Graph call failed. `code` is Graph's error code (e.g. Request_ResourceNotFound)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.retry_after = retry_after


class GraphBadRequestError(GraphError):
    """400 and other client errors not covered below."""


class GraphUnauthorizedError(GraphError):
    """401: the token was refused (wrong tenant, consent missing, expired secret)."""


class GraphForbiddenError(GraphError):
    """403: the app lacks a permission in this tenant, or the tenant lacks a licence for the feature."""


class GraphNotFoundError(GraphError):
    """404: no such object."""


class GraphConflictError(GraphError):
    """409, or Graph's 400 for adding a reference that already exists (a retried member add)."""


class GraphThrottledError(GraphError):
    """429 after the retry budget, or a Retry-After too long to wait for; `retry_after` says when."""


class GraphUnavailableError(GraphError):
    """5xx or a transport failure after the retry budget."""


class DeltaTokenExpiredError(GraphError):
    """The stored deltaLink is no longer usable (410 Gone, syncStateNotFound): sync in full again."""


def graph_error(
    status: int,
    code: str,
    message: str,
    *,
    request_id: str | None = None,
    retry_after: float | None = None,
) -> GraphError:
    """The typed error for a Graph status and error code."""
    kind: type[GraphError]
    if status == 410 or code in SYNC_RESET_CODES:
        kind = DeltaTokenExpiredError
    elif status == 404:
        kind = GraphNotFoundError
    elif status == 403:
        kind = GraphForbiddenError
    elif status == 409 or (status == 400 and "already exist" in message):
        kind = GraphConflictError
    elif status == 429:
        kind = GraphThrottledError
    elif status == 401:
        kind = GraphUnauthorizedError
    elif status >= 500:
        kind = GraphUnavailableError
    elif status >= 400:
        kind = GraphBadRequestError
    else:
        kind = GraphError
    return kind(status, code, message, request_id=request_id, retry_after=retry_after)


class _ErrorDetail(BaseModel):
    code: str = "UnknownError"
    message: str = ""


class _ErrorBody(BaseModel):
    error: _ErrorDetail


def error_from_response(
    status: int, body: bytes, headers: Mapping[str, str], *, now: datetime | None = None
) -> GraphError:
    """Reads Graph's `{"error": {"code", "message", "innerError"}}`; tolerates any other body."""
    try:
        detail = _ErrorBody.model_validate_json(body).error
        code, message = detail.code, detail.message
    except ValidationError:
        code, message = "UnknownError", f"HTTP {status} without a Graph error body"
    return graph_error(
        status,
        code,
        message,
        request_id=headers.get("request-id"),
        retry_after=parse_retry_after(headers.get("Retry-After"), now=now),
    )


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: Graph sends delta-seconds; HTTP also allows a date."""
    if not value:
        return None
    import email.utils

    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, float((moment - (now or datetime.now(UTC))).total_seconds()))


def backoff_delay(attempt: int, settings: GraphSettings, rng: random.Random) -> float:
    """Exponential backoff with jitter for failures that name no Retry-After.

    Half the ceiling is fixed so the wait really grows; the random half keeps many instances
    retrying the same tenant from hitting Graph in lockstep.
    """
    ceiling = min(settings.backoff_cap_seconds, settings.backoff_base_seconds * 2.0 ** (attempt - 1))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


# --- pacing ------------------------------------------------------------------------------


class Pacer:
    """At most one request in flight per key, starting at least `interval` after the last one ended.

    Measured from the end of the previous response, not its start, so that however long a request
    took in transit, Graph never sees two within `interval`.
    """

    def __init__(
        self,
        interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._last_end: dict[str, float] = {}

    @contextmanager
    def slot(self, key: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            last = self._last_end.get(key)
            if last is not None:
                wait = last + self.interval - self._clock()
                if wait > 0:
                    self._sleep(wait)
            try:
                yield
            finally:
                self._last_end[key] = self._clock()


# Per process, shared by every reader of a tenant: the limit is Graph's, per (app, tenant).
CONDITIONAL_ACCESS_PACER = Pacer(CONDITIONAL_ACCESS_INTERVAL)


# --- slim models -------------------------------------------------------------------------


class GraphModel(BaseModel):
    """Graph's camelCase on the wire, snake_case in code; unknown properties are ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore")


class Removed(GraphModel):
    reason: str = "changed"  # "changed": soft-deleted (restorable); "deleted": gone for good


class AssignedLicense(GraphModel):
    sku_id: str
    disabled_plans: list[str] = Field(default_factory=list)


class GraphObject(GraphModel):
    """A directory object as a delta round reports it; `removed` is set when it is gone."""

    id: str
    removed: Removed | None = Field(default=None, alias="@removed", exclude=True)


class GraphUser(GraphObject):
    """The user properties Tenantry keeps, and nothing else ($select asks Graph for exactly these).

    A delta round may return a changed user with only some properties: `model_fields_set` says
    which ones were present, so a missing property is not mistaken for a cleared one.
    """

    display_name: str | None = None
    given_name: str | None = None
    surname: str | None = None
    user_principal_name: str | None = None
    mail: str | None = None
    account_enabled: bool | None = None
    usage_location: str | None = None
    job_title: str | None = None
    department: str | None = None
    user_type: str | None = None
    assigned_licenses: list[AssignedLicense] | None = None


class MemberChange(GraphModel):
    id: str
    odata_type: str | None = Field(default=None, alias="@odata.type")
    removed: Removed | None = Field(default=None, alias="@removed")


class GraphGroup(GraphObject):
    """A group and, in a delta round, its membership changes (`members@delta`).

    On a full sync `members@delta` lists every member; on later rounds only additions and
    removals. Graph may split a large group's members over several pages, so the same group id
    can appear more than once in one round: apply each occurrence.
    """

    display_name: str | None = None
    description: str | None = None
    mail: str | None = None
    mail_enabled: bool | None = None
    security_enabled: bool | None = None
    group_types: list[str] | None = None
    members_delta: list[MemberChange] | None = Field(default=None, alias="members@delta", exclude=True)

    @property
    def members_added(self) -> list[str]:
        return [m.id for m in self.members_delta or () if m.removed is None]

    @property
    def members_removed(self) -> list[str]:
        return [m.id for m in self.members_delta or () if m.removed is not None]


def _wire_names(model: type[GraphModel]) -> tuple[str, ...]:
    return tuple(
        f.alias or name
        for name, f in model.model_fields.items()
        if not (f.alias or "").startswith(("@", "members@"))
    )


USER_SELECT = _wire_names(GraphUser)
GROUP_SELECT = (*_wire_names(GraphGroup), "members")

ItemT = TypeVar("ItemT", bound=GraphModel)
ObjectT = TypeVar("ObjectT", bound=GraphObject)


class _Page(BaseModel, Generic[ItemT]):
    """One Graph collection page as it comes off the wire."""

    value: list[ItemT]
    next_link: str | None = Field(default=None, alias="@odata.nextLink")
    delta_link: str | None = Field(default=None, alias="@odata.deltaLink")


@dataclass(frozen=True)
class DeltaPage(Generic[ObjectT]):
    """One page of a delta round: objects created or changed, ids removed, and at the end the deltaLink.

    `delta_link` is set on the last page only: store it, and pass it to the next round. When
    `full_sync` is true, this round lists every object that exists, so anything stored and not
    seen by the end of the round was removed while Tenantry was not looking.
    """

    items: list[ObjectT]
    removed: list[str]
    delta_link: str | None
    full_sync: bool


def parse_page(body: bytes, model: type[ItemT]) -> _Page[ItemT]:
    """One collection page straight from JSON bytes into slim models (one pass, in pydantic-core)."""
    try:
        page: _Page[ItemT] = _Page[model].model_validate_json(body)  # type: ignore[valid-type]
    except ValidationError as error:
        raise GraphError(200, "MalformedResponse", f"Graph sent a page we cannot read: {error}") from error
    return page


def parse_delta_page(
    body: bytes, model: type[ObjectT], *, full_sync: bool
) -> tuple[DeltaPage[ObjectT], str | None]:
    """A delta page and the nextLink to follow (None on the last page)."""
    page = parse_page(body, model)
    items = [item for item in page.value if item.removed is None]
    removed = [item.id for item in page.value if item.removed is not None]
    if page.next_link is None and page.delta_link is None:
        raise GraphError(
            200, "MalformedDeltaPage", "A delta page had neither @odata.nextLink nor @odata.deltaLink."
        )
    return DeltaPage(items, removed, page.delta_link, full_sync), page.next_link


class UnifiedRole(GraphModel):
    role_definition_id: str


class DelegatedAdminAccessDetails(GraphModel):
    unified_roles: list[UnifiedRole] = Field(default_factory=list)


class DelegatedAdminCustomerRef(GraphModel):
    tenant_id: str
    display_name: str | None = None


class DelegatedAdminRelationship(GraphModel):
    """A GDAP relationship as the partner's own tenant sees it (tenantRelationships, v1.0)."""

    id: str
    display_name: str | None = None
    status: str
    customer: DelegatedAdminCustomerRef | None = None
    access_details: DelegatedAdminAccessDetails = Field(default_factory=DelegatedAdminAccessDetails)
    end_date_time: datetime | None = None

    @property
    def role_ids(self) -> frozenset[str]:
        return frozenset(r.role_definition_id.lower() for r in self.access_details.unified_roles)


class VerifiedDomain(GraphModel):
    name: str
    type: str | None = None
    is_default: bool | None = None
    is_initial: bool | None = None


class Organization(GraphModel):
    id: str
    display_name: str | None = None
    country_letter_code: str | None = None
    tenant_type: str | None = None
    created_date_time: datetime | None = None
    verified_domains: list[VerifiedDomain] = Field(default_factory=list)


ORGANIZATION_SELECT = "id,displayName,countryLetterCode,tenantType,createdDateTime,verifiedDomains"


class PrepaidUnits(GraphModel):
    enabled: int = 0
    suspended: int = 0
    warning: int = 0
    locked_out: int = 0


class SubscribedSku(GraphModel):
    """A licence subscription and its counts."""

    id: str
    sku_id: str
    sku_part_number: str | None = None
    capability_status: str | None = None
    applies_to: str | None = None
    consumed_units: int = 0
    prepaid_units: PrepaidUnits = Field(default_factory=PrepaidUnits)

    @property
    def available_units(self) -> int:
        return self.prepaid_units.enabled - self.consumed_units


class Domain(GraphModel):
    id: str
    authentication_type: str | None = None
    is_default: bool = False
    is_initial: bool = False
    is_verified: bool = False
    supported_services: list[str] = Field(default_factory=list)


class RoleDefinition(GraphModel):
    id: str
    display_name: str | None = None
    template_id: str | None = None
    is_built_in: bool | None = None


class RoleAssignment(GraphModel):
    """Who holds which directory role; `role_name`/`role_template_id` come from the role definitions."""

    id: str
    principal_id: str
    role_definition_id: str
    directory_scope_id: str | None = None
    role_name: str | None = None
    role_template_id: str | None = None


class ConditionalAccessPolicy(GraphModel):
    """Kept whole below the top level: conditions and controls are configuration, not personal data."""

    id: str
    display_name: str | None = None
    state: str | None = None
    created_date_time: datetime | None = None
    modified_date_time: datetime | None = None
    conditions: dict[str, Any] | None = None
    grant_controls: dict[str, Any] | None = None
    session_controls: dict[str, Any] | None = None


class SecurityDefaults(GraphModel):
    id: str
    is_enabled: bool


class TenantConfiguration(GraphModel):
    """What one run reads about a tenant besides its users and groups.

    `unavailable` names each section Graph refused (403: no consent or no licence for it, e.g.
    conditional access without Entra ID P1; 404) with Graph's error code, so one missing
    permission does not cost the rest.
    """

    tenant_id: str
    organization: Organization | None = None
    subscribed_skus: list[SubscribedSku] = Field(default_factory=list)
    domains: list[Domain] = Field(default_factory=list)
    role_assignments: list[RoleAssignment] = Field(default_factory=list)
    conditional_access_policies: list[ConditionalAccessPolicy] = Field(default_factory=list)
    security_defaults: SecurityDefaults | None = None
    unavailable: dict[str, str] = Field(default_factory=dict)

    def role_holders(self, template_id: str = GLOBAL_ADMINISTRATOR) -> list[str]:
        return [a.principal_id for a in self.role_assignments if a.role_template_id == template_id]


# --- reader ------------------------------------------------------------------------------


@dataclass
class _Token:
    value: str
    expires_on: float


@dataclass
class GraphReader:
    """Reads one customer tenant, as a background job: low throttle priority, bounded retries."""

    tenant_id: str
    credential: TokenCredential
    settings: GraphSettings
    http_client: httpx.Client | None = None
    priority: str | None = "low"  # x-ms-throttle-priority: background sync yields to interactive use
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    ca_pacer: Pacer = field(default_factory=lambda: CONDITIONAL_ACCESS_PACER)
    _token: _Token | None = field(default=None, init=False, repr=False)
    _owns_client: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.http_client is None:
            import httpx

            self.http_client = httpx.Client(
                timeout=self.settings.timeout_seconds,
                verify=self.settings.ssl_context(),
                headers={"Accept": "application/json", "User-Agent": "tenantry-graph/1"},
                follow_redirects=False,
            )
            self._owns_client = True

    def close(self) -> None:
        if self._owns_client and self.http_client is not None:
            self.http_client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- delta ---

    def users_delta(
        self, delta_link: str | None = None, *, resync_on_expiry: bool = False
    ) -> Iterator[DeltaPage[GraphUser]]:
        """Pages of a users delta round: everything (no `delta_link`) or the changes since it.

        An expired deltaLink raises DeltaTokenExpiredError; with `resync_on_expiry` the round starts
        again in full instead, and its pages say `full_sync`.
        """
        return self._delta("users", USER_SELECT, GraphUser, delta_link, resync_on_expiry)

    def groups_delta(
        self, delta_link: str | None = None, *, resync_on_expiry: bool = False
    ) -> Iterator[DeltaPage[GraphGroup]]:
        return self._delta("groups", GROUP_SELECT, GraphGroup, delta_link, resync_on_expiry)

    def _delta(
        self,
        resource: str,
        select: Sequence[str],
        model: type[ObjectT],
        delta_link: str | None,
        resync_on_expiry: bool,
    ) -> Iterator[DeltaPage[ObjectT]]:
        start = f"{self.settings.base_url}/{resource}/delta"
        full = delta_link is None
        url: str = delta_link or start
        params: dict[str, str] | None = {"$select": ",".join(select)} if full else None
        while True:
            try:
                if url == delta_link and not url.startswith(self.settings.graph_origin + "/"):
                    # A stored deltaLink from another endpoint (a moved stand-in, another cloud)
                    # cannot be replayed here, and must never receive this endpoint's token.
                    raise DeltaTokenExpiredError(
                        410, "deltaLinkElsewhere", "The stored deltaLink points at another endpoint."
                    )
                response = self._get(url, params=params, page_size=self.settings.page_size)
            except DeltaTokenExpiredError:
                if full or not resync_on_expiry:
                    raise
                log.warning("graph %s delta token expired for tenant %s: full sync", resource, self.tenant_id)
                full, url, params = True, start, {"$select": ",".join(select)}
                continue
            page, next_link = parse_delta_page(response.content, model, full_sync=full)
            yield page
            if next_link is None:
                return
            url, params = next_link, None

    # --- reports (shared/adapters/graph_reports.py holds their models) ---

    def list_registration_details(self) -> list[UserRegistrationDetails]:
        """Every user's MFA and SSPR registration (needs Entra ID P1: else 403, see graph_reports)."""
        from shared.adapters.graph_reports import REGISTRATION_PATH, UserRegistrationDetails

        return self._collect(REGISTRATION_PATH, UserRegistrationDetails)

    def list_sign_in_activity(self) -> list[UserSignIns]:
        """Every user with `signInActivity` (not in a delta round: Graph serves it on the list only)."""
        from shared.adapters.graph_reports import SIGN_IN_SELECT, UserSignIns

        return self._collect("users", UserSignIns, SIGN_IN_SELECT, page_size=self.settings.page_size)

    def list_secure_scores(self) -> list[SecureScore]:
        """The tenant's daily Secure Scores, newest first, for the trend."""
        from shared.adapters.graph_reports import (
            SECURE_SCORE_DAYS,
            SECURE_SCORE_SELECT,
            SECURE_SCORES_PATH,
            SecureScore,
        )

        return self._collect(
            SECURE_SCORES_PATH, SecureScore, SECURE_SCORE_SELECT, top=SECURE_SCORE_DAYS, first_page_only=True
        )

    # --- configuration ---

    def configuration(self) -> TenantConfiguration:
        """Organization, licences, domains, role holders, conditional access and security defaults."""
        unavailable: dict[str, str] = {}

        def section(name: str, read: Callable[[], Any], default: Any) -> Any:
            try:
                return read()
            except (GraphForbiddenError, GraphNotFoundError) as error:
                log.warning("graph %s unavailable for tenant %s: %s", name, self.tenant_id, error.code)
                unavailable[name] = error.code
                return default

        organizations = section(
            "organization", lambda: self._collect("organization", Organization, ORGANIZATION_SELECT), []
        )
        skus = section("subscribedSkus", lambda: self._collect("subscribedSkus", SubscribedSku), [])
        domains = section("domains", lambda: self._collect("domains", Domain), [])
        assignments = section("roleAssignments", self._role_assignments, [])
        policies = section(
            "conditionalAccessPolicies",
            lambda: self._collect("identity/conditionalAccess/policies", ConditionalAccessPolicy, paced=True),
            [],
        )
        defaults = section(
            "securityDefaults",
            lambda: SecurityDefaults.model_validate_json(
                self._get(
                    f"{self.settings.base_url}/policies/identitySecurityDefaultsEnforcementPolicy"
                ).content
            ),
            None,
        )
        return TenantConfiguration(
            tenant_id=self.tenant_id,
            organization=organizations[0] if organizations else None,
            subscribed_skus=skus,
            domains=domains,
            role_assignments=assignments,
            conditional_access_policies=policies,
            security_defaults=defaults,
            unavailable=unavailable,
        )

    def _role_assignments(self) -> list[RoleAssignment]:
        definitions = {
            d.id: d
            for d in self._collect(
                "roleManagement/directory/roleDefinitions",
                RoleDefinition,
                "id,displayName,templateId,isBuiltIn",
            )
        }
        assignments = []
        for assignment in self._collect(
            "roleManagement/directory/roleAssignments",
            RoleAssignment,
            "id,principalId,roleDefinitionId,directoryScopeId",
        ):
            definition = definitions.get(assignment.role_definition_id)
            assignments.append(
                assignment.model_copy(
                    update={
                        "role_name": definition.display_name if definition else None,
                        "role_template_id": (definition.template_id or definition.id)
                        if definition
                        else assignment.role_definition_id,
                    }
                )
            )
        return assignments

    def delegated_admin_relationships(self, customer_tenant_id: str) -> list[DelegatedAdminRelationship]:
        """This (partner) tenant's GDAP relationships with one customer, whatever their status."""
        return self._collect(
            "tenantRelationships/delegatedAdminRelationships",
            DelegatedAdminRelationship,
            odata_filter=f"customer/tenantId eq '{uuid.UUID(customer_tenant_id)}'",
        )

    def check_access(self) -> None:
        """Raises (ClientAuthenticationError) unless an app token for this tenant can be had now."""
        self._access_token(refresh=True)

    def _collect(
        self,
        path: str,
        model: type[ItemT],
        select: str | None = None,
        *,
        paced: bool = False,
        odata_filter: str | None = None,
        page_size: int | None = None,
        top: int | None = None,
        first_page_only: bool = False,
    ) -> list[ItemT]:
        url: str | None = f"{self.settings.base_url}/{path}"
        params = {"$select": select} if select else {}
        if odata_filter:
            params["$filter"] = odata_filter
        if top:
            params["$top"] = str(top)
        items: list[ItemT] = []
        while url:
            response = self._get(url, params=params or None, paced=paced, page_size=page_size)
            page = parse_page(response.content, model)
            items.extend(page.value)
            url, params = (None if first_page_only else page.next_link), {}
        return items

    # --- transport ---

    def _access_token(self, *, refresh: bool = False) -> str:
        token = self._token
        if refresh or token is None or token.expires_on - time.time() < 300:
            issued: AccessToken = self.credential.get_token(GRAPH_SCOPE, tenant_id=self.tenant_id)
            token = self._token = _Token(issued.token, float(issued.expires_on))
        return token.value

    def _get(
        self,
        url: str,
        *,
        params: dict[str, str] | None = None,
        page_size: int | None = None,
        paced: bool = False,
    ) -> httpx.Response:
        """GET with Graph's fault handling: Retry-After on 429/503, bounded retries with backoff."""
        if not url.startswith(self.settings.graph_origin + "/"):
            raise GraphError(0, "UnexpectedLink", "Graph returned a link to another host; not following it.")
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            response, failure = self._send(url, params, page_size, paced)
            if response is not None:
                if response.is_success:
                    return response
                failure = error_from_response(response.status_code, response.content, response.headers)
                if response.status_code == 401 and not refreshed:
                    # A cached token the tenant no longer accepts (consent changed): one fresh try.
                    refreshed = True
                    self._access_token(refresh=True)
                    continue
                if response.status_code not in RETRYABLE_STATUS:
                    raise failure
            assert failure is not None
            if attempt >= self.settings.max_attempts:
                raise failure
            delay = failure.retry_after
            if delay is None:
                delay = backoff_delay(attempt, self.settings, self.rng)
            elif delay > self.settings.max_retry_after_seconds:
                raise failure
            self._wait(delay, url, failure.code, attempt)

    def _send(
        self, url: str, params: dict[str, str] | None, page_size: int | None, paced: bool
    ) -> tuple[httpx.Response | None, GraphError | None]:
        import httpx

        assert self.http_client is not None
        headers = {"Authorization": f"Bearer {self._access_token()}", "client-request-id": str(uuid.uuid4())}
        if self.priority:
            headers["x-ms-throttle-priority"] = self.priority
        if page_size:
            headers["Prefer"] = f"odata.maxpagesize={page_size}"
        try:
            if paced:
                with self.ca_pacer.slot(self.tenant_id):
                    return self.http_client.get(url, params=params, headers=headers), None
            return self.http_client.get(url, params=params, headers=headers), None
        except httpx.TransportError as failure:
            return None, GraphUnavailableError(
                0, type(failure).__name__, str(failure) or type(failure).__name__
            )

    def _wait(self, delay: float, url: str, reason: str, attempt: int) -> None:
        # The path only: query strings carry skip/delta tokens, which have no place in logs.
        log.info(
            "graph retry %d for tenant %s on %s after %s: waiting %.2fs",
            attempt,
            self.tenant_id,
            urlsplit(url).path,
            reason,
            delay,
        )
        self.sleep(delay)


# --- writer ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LicenceChange:
    sku_id: str
    disabled_plans: tuple[str, ...] = ()


class GraphWriter:
    """Management writes to one tenant through msgraph-sdk's typed client (few calls, so its cost is fine).

    The SDK's own retry handler obeys Retry-After on 429/503/504. Graph errors come back as the
    typed errors above; a member add that already happened is GraphConflictError, which a caller
    retrying an add may treat as done.
    """

    def __init__(
        self,
        tenant_id: str,
        credential: TokenCredential,
        settings: GraphSettings,
        *,
        client: GraphServiceClient | None = None,
    ) -> None:
        self.tenant_id = tenant_id
        self.credential = credential
        self.settings = settings
        self._client = client
        self._http: httpx.AsyncClient | None = None

    def client(self) -> GraphServiceClient:
        if self._client is None:
            import httpx
            from kiota_authentication_azure.azure_identity_authentication_provider import (
                AzureIdentityAuthenticationProvider,
            )
            from msgraph.graph_request_adapter import GraphRequestAdapter
            from msgraph.graph_service_client import GraphServiceClient
            from msgraph_core import GraphClientFactory

            auth = AzureIdentityAuthenticationProvider(
                self.credential,
                options={"tenant_id": self.tenant_id},
                scopes=[GRAPH_SCOPE],
                # The token goes to the configured Graph host only, whatever URL a response names.
                allowed_hosts=[urlsplit(self.settings.base_url).hostname or ""],
            )
            self._http = httpx.AsyncClient(
                verify=self.settings.ssl_context(), timeout=self.settings.timeout_seconds
            )
            adapter = GraphRequestAdapter(
                auth, GraphClientFactory.create_with_default_middleware(client=self._http)
            )
            adapter.base_url = self.settings.base_url
            self._client = GraphServiceClient(request_adapter=adapter)
        return self._client

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def get_user(self, user_id: str) -> GraphUser:
        from kiota_abstractions.base_request_configuration import RequestConfiguration
        from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder

        query = UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(select=list(USER_SELECT))
        user = await self._call(
            self.client()
            .users.by_user_id(user_id)
            .get(request_configuration=RequestConfiguration(query_parameters=query))
        )
        licences = [
            AssignedLicense(sku_id=str(lic.sku_id), disabled_plans=[str(p) for p in lic.disabled_plans or []])
            for lic in user.assigned_licenses or []
            if lic.sku_id is not None
        ]
        return GraphUser(
            id=str(user.id),
            display_name=user.display_name,
            given_name=user.given_name,
            surname=user.surname,
            user_principal_name=user.user_principal_name,
            mail=user.mail,
            account_enabled=user.account_enabled,
            usage_location=user.usage_location,
            job_title=user.job_title,
            department=user.department,
            user_type=user.user_type,
            assigned_licenses=licences,
        )

    async def update_user(
        self,
        user_id: str,
        *,
        account_enabled: bool | None = None,
        usage_location: str | None = None,
        display_name: str | None = None,
    ) -> None:
        """Sets the given properties; None leaves a property as it is."""
        from msgraph.generated.models.user import User

        body = User(account_enabled=account_enabled, usage_location=usage_location, display_name=display_name)
        await self._call(self.client().users.by_user_id(user_id).patch(body))

    async def reset_password(self, user_id: str, password: str) -> None:
        """Sets a one-time password the user must change at next sign-in (never kept by us)."""
        from msgraph.generated.models.password_profile import PasswordProfile
        from msgraph.generated.models.user import User

        profile = PasswordProfile(password=password, force_change_password_next_sign_in=True)
        await self._call(self.client().users.by_user_id(user_id).patch(User(password_profile=profile)))

    async def revoke_sessions(self, user_id: str) -> bool:
        """Invalidates the user's refresh tokens and session cookies (revokeSignInSessions)."""
        answer = await self._call(self.client().users.by_user_id(user_id).revoke_sign_in_sessions.post())
        return bool(getattr(answer, "value", True))

    async def reset_mfa_methods(self, user_id: str) -> list[tuple[str, str]]:
        """Deletes every authentication method but the password; answers (id, @odata.type) of each.
        Run again, it finds nothing left to delete."""
        auth = self.client().users.by_user_id(user_id).authentication
        listed = await self._call(auth.methods.get())
        prefix = "#microsoft.graph."
        deleters: dict[str, Callable[[str], Any]] = {
            f"{prefix}microsoftAuthenticatorAuthenticationMethod": (
                auth.microsoft_authenticator_methods.by_microsoft_authenticator_authentication_method_id
            ),
            f"{prefix}softwareOathAuthenticationMethod": (
                auth.software_oath_methods.by_software_oath_authentication_method_id
            ),
            f"{prefix}phoneAuthenticationMethod": auth.phone_methods.by_phone_authentication_method_id,
            f"{prefix}emailAuthenticationMethod": auth.email_methods.by_email_authentication_method_id,
            f"{prefix}fido2AuthenticationMethod": auth.fido2_methods.by_fido2_authentication_method_id,
            f"{prefix}windowsHelloForBusinessAuthenticationMethod": (
                auth.windows_hello_for_business_methods.by_windows_hello_for_business_authentication_method_id
            ),
            f"{prefix}temporaryAccessPassAuthenticationMethod": (
                auth.temporary_access_pass_methods.by_temporary_access_pass_authentication_method_id
            ),
        }
        removed: list[tuple[str, str]] = []
        for method in getattr(listed, "value", None) or []:
            kind = str(getattr(method, "odata_type", "") or "")
            deleter = deleters.get(kind)
            if deleter is None or not method.id:
                continue  # the password method cannot be deleted, only reset
            await self._call(deleter(str(method.id)).delete())
            removed.append((str(method.id), kind))
        return removed

    async def assign_licences(
        self, user_id: str, *, add: Sequence[LicenceChange] = (), remove: Sequence[str] = ()
    ) -> None:
        from msgraph.generated.models.assigned_license import AssignedLicense as SdkLicense
        from msgraph.generated.users.item.assign_license.assign_license_post_request_body import (
            AssignLicensePostRequestBody,
        )

        body = AssignLicensePostRequestBody(
            add_licenses=[
                SdkLicense(
                    sku_id=uuid.UUID(a.sku_id), disabled_plans=[uuid.UUID(p) for p in a.disabled_plans]
                )
                for a in add
            ],
            remove_licenses=[uuid.UUID(sku) for sku in remove],
        )
        await self._call(self.client().users.by_user_id(user_id).assign_license.post(body))

    async def add_group_member(self, group_id: str, member_id: str) -> None:
        from msgraph.generated.models.reference_create import ReferenceCreate

        body = ReferenceCreate(odata_id=f"{self.settings.base_url}/directoryObjects/{member_id}")
        await self._call(self.client().groups.by_group_id(group_id).members.ref.post(body))

    async def remove_group_member(self, group_id: str, member_id: str) -> None:
        members = self.client().groups.by_group_id(group_id).members
        await self._call(members.by_directory_object_id(member_id).ref.delete())

    async def set_security_defaults(self, enabled: bool) -> None:
        from msgraph.generated.models.identity_security_defaults_enforcement_policy import (
            IdentitySecurityDefaultsEnforcementPolicy,
        )

        body = IdentitySecurityDefaultsEnforcementPolicy(is_enabled=enabled)
        await self._call(self.client().policies.identity_security_defaults_enforcement_policy.patch(body))

    async def _call(self, pending: Any) -> Any:
        from kiota_abstractions.api_error import APIError

        try:
            return await pending
        except APIError as failure:
            raise sdk_error(failure) from failure


def sdk_error(failure: Any) -> GraphError:
    """The typed error for msgraph-sdk's APIError/ODataError."""
    detail = getattr(failure, "error", None)
    code = str(getattr(detail, "code", None) or "UnknownError")
    message = str(getattr(detail, "message", None) or getattr(failure, "message", None) or "")
    headers = {k.lower(): v for k, v in (getattr(failure, "response_headers", None) or {}).items()}
    retry_after = headers.get("retry-after")
    return graph_error(
        int(getattr(failure, "response_status_code", None) or 0),
        code,
        message,
        request_id=_header_text(headers.get("request-id")),
        retry_after=parse_retry_after(_header_text(retry_after)),
    )


def _header_text(value: Any) -> str | None:
    # kiota hands headers over as str or as a list/set of str, depending on version.
    if value is None or isinstance(value, str):
        return value
    values = list(value)
    return str(values[0]) if values else None

"""Tenant endpoints (onboarding, sync, users, groups, configuration, baselines), the sync timer and queues."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import azure.functions as func
from pydantic import Field

from functions import deps
from functions.auth import PartnerContext, client_network, partner_access
from functions.http import Accepted, Call, Created, Guid, NoContent, RouteParams, Ulid, endpoint
from functions.queues import final_attempt, queue_function
from shared.access.principals import Role, Scope
from shared.errors import ProblemError, forbidden, not_found
from shared.models import PageQuery
from shared.settings import get_settings
from shared.tenants.models import (
    QUEUE,
    AdminConsentCallbackQuery,
    BaselineList,
    BaselineOut,
    BaselineSettings,
    BaselineSettingsIn,
    ConfigurationOut,
    EntraConnection,
    GroupList,
    GroupOut,
    LicenceChangeIn,
    MemberIn,
    MfaResetOut,
    PasswordResetOut,
    SecurityDefaultsIn,
    SecurityDefaultsOut,
    SessionsRevokedOut,
    SignInLink,
    SignInResult,
    SnapshotChanges,
    SnapshotChangesQuery,
    SnapshotList,
    SyncList,
    SyncMessage,
    SyncOut,
    TenantIn,
    TenantList,
    TenantOut,
    UserList,
    UserOut,
    UserPatch,
    UserQuery,
)

if TYPE_CHECKING:
    from shared.tenants.service import TenantService

log = logging.getLogger("tenantry.tenants")

bp = func.Blueprint()  # type: ignore[no-untyped-call]

_TENANT = "partners/{partnerId}/tenants/{tenantId}"


class TenantRoute(RouteParams):
    """`.../tenants/{tenantId}`: the customer's Entra tenant id, a GUID (as it was registered)."""

    missing = "No such tenant."
    tenant_id: Guid = Field(alias="tenantId")


class SyncRoute(TenantRoute):
    missing_by_name = {"syncId": "No such sync."}
    sync_id: Ulid = Field(alias="syncId")


class UserRoute(TenantRoute):
    missing_by_name = {"userId": "No such user in this tenant."}
    user_id: Guid = Field(alias="userId")


class GroupRoute(TenantRoute):
    missing_by_name = {"groupId": "No such group in this tenant."}
    group_id: Guid = Field(alias="groupId")


class MemberRoute(GroupRoute):
    missing_by_name = {**GroupRoute.missing_by_name, "userId": "No such user in this tenant."}
    user_id: Guid = Field(alias="userId")


def _visible(context: PartnerContext) -> Callable[[str], bool]:
    """A predicate: may this caller see the tenant? (People and keys may be limited to some tenants.)"""
    return context.reach.allows


def _service(context: PartnerContext, call: Call, *, tenant: bool = True) -> TenantService:
    """The partner's tenant service; a tenant outside the caller's scope answers 404, like a missing one."""
    if tenant:
        visible = _visible(context)
        if not visible(call.route.get("tenantId", "").lower()):
            raise not_found("No such tenant.")
    return deps.tenants(context.partner)


# --- tenants ---------------------------------------------------------------------------------


@endpoint(
    bp,
    "partners/{partnerId}/tenants",
    methods=["POST"],
    idempotent=True,
    summary="Add a customer tenant (within the subscription's tenant limit); its first sync starts.",
    tag="tenants",
    # A caller limited to some tenants cannot add one it would then not see.
    auth=partner_access(Scope.WRITE, every_tenant=True),
)
def create_tenant(call: Call, context: PartnerContext, body: TenantIn) -> Created[TenantOut]:
    service = _service(context, call, tenant=False)
    tenant = service.create(body, context.action, deps.usage(context.partner.region))
    return Created(tenant, f"/api/partners/{context.partner.id}/tenants/{tenant.id}")


@endpoint(
    bp,
    "partners/{partnerId}/tenants",
    methods=["GET"],
    summary="The partner's tenants (those the caller may see).",
    tag="tenants",
    auth=partner_access(Scope.READ),
)
def list_tenants(call: Call, context: PartnerContext, query: PageQuery) -> TenantList:
    visible = _visible(context)
    items, token = _service(context, call, tenant=False).list_tenants(
        query.top, query.continuation_token, visible
    )
    return TenantList(items=items, continuation_token=token)


@endpoint(
    bp,
    _TENANT,
    methods=["GET"],
    summary="One tenant: status, last sync, counts, last error.",
    tag="tenants",
    auth=partner_access(Scope.READ),
)
def get_tenant(call: Call, context: PartnerContext, route: TenantRoute) -> TenantOut:
    return _service(context, call).get(route.tenant_id)


@endpoint(
    bp,
    _TENANT,
    methods=["DELETE"],
    summary="Remove a tenant: its users, groups and snapshots are deleted; its audit events stay.",
    tag="tenants",
    auth=partner_access(Scope.WRITE, allowed_when_read_only=True),
)
def delete_tenant(call: Call, context: PartnerContext, route: TenantRoute) -> NoContent:
    # Not refused on a read-only subscription: deleting end-user data must always be possible.
    _service(context, call).delete(route.tenant_id, context.action)
    return NoContent()


# --- syncs -----------------------------------------------------------------------------------


@endpoint(
    bp,
    f"{_TENANT}/sync",
    methods=["POST"],
    summary="Sync the tenant now (or join the sync already queued or running).",
    tag="tenants",
    auth=partner_access(Scope.WRITE),
)
def start_sync(call: Call, context: PartnerContext, route: TenantRoute) -> Accepted[SyncOut]:
    sync = _service(context, call).request_sync(route.tenant_id, "manual", context.action)
    return Accepted(sync, f"/api/partners/{context.partner.id}/tenants/{sync.tenant_id}/syncs/{sync.id}")


@endpoint(
    bp,
    f"{_TENANT}/syncs",
    methods=["GET"],
    summary="The tenant's syncs, newest first.",
    tag="tenants",
    auth=partner_access(Scope.READ),
)
def list_syncs(call: Call, context: PartnerContext, query: PageQuery, route: TenantRoute) -> SyncList:
    items, token = _service(context, call).list_syncs(route.tenant_id, query.top, query.continuation_token)
    return SyncList(items=items, continuation_token=token)


@endpoint(
    bp,
    f"{_TENANT}/syncs/{{syncId}}",
    methods=["GET"],
    summary="A sync's status: state, counts, timings, error.",
    tag="tenants",
    auth=partner_access(Scope.READ),
)
def get_sync(call: Call, context: PartnerContext, route: SyncRoute) -> SyncOut:
    return _service(context, call).get_sync(route.tenant_id, route.sync_id)


# --- users and groups ------------------------------------------------------------------------


@endpoint(
    bp,
    f"{_TENANT}/users",
    methods=["GET"],
    summary="The tenant's users as last synced (filter by text, enabled, licence).",
    tag="tenant-users",
    auth=partner_access(Scope.READ),
)
def list_users(call: Call, context: PartnerContext, query: UserQuery, route: TenantRoute) -> UserList:
    items, token = _service(context, call).list_users(route.tenant_id, query)
    return UserList(items=items, continuation_token=token)


@endpoint(
    bp,
    f"{_TENANT}/users/{{userId}}",
    methods=["GET"],
    summary="One user as stored.",
    tag="tenant-users",
    auth=partner_access(Scope.READ),
)
def get_user(call: Call, context: PartnerContext, route: UserRoute) -> UserOut:
    return _service(context, call).get_user(route.tenant_id, route.user_id)


@endpoint(
    bp,
    f"{_TENANT}/users/{{userId}}",
    methods=["PATCH"],
    summary="Change a user in the tenant (enabled, usage location, display name); answers the stored copy.",
    tag="tenant-users",
    auth=partner_access(Scope.WRITE),
)
def update_user(call: Call, context: PartnerContext, body: UserPatch, route: UserRoute) -> UserOut:
    return _service(context, call).update_user(route.tenant_id, route.user_id, body, context.action)


@endpoint(
    bp,
    f"{_TENANT}/users/{{userId}}/licenses",
    methods=["POST"],
    summary="Assign and remove licences (refused when the SKU has no free seats).",
    tag="tenant-users",
    auth=partner_access(Scope.WRITE),
)
def change_licences(call: Call, context: PartnerContext, body: LicenceChangeIn, route: UserRoute) -> UserOut:
    return _service(context, call).change_licences(route.tenant_id, route.user_id, body, context.action)


@endpoint(
    bp,
    f"{_TENANT}/users/{{userId}}/reset-password",
    methods=["POST"],
    summary="Reset the user's password to a one-time password, answered once (kept nowhere; the user "
    "must change it at next sign-in).",
    tag="tenant-users",
    auth=partner_access(Scope.WRITE),
)
def reset_password(call: Call, context: PartnerContext, route: UserRoute) -> PasswordResetOut:
    return _service(context, call).reset_password(route.tenant_id, route.user_id, context.action)


@endpoint(
    bp,
    f"{_TENANT}/users/{{userId}}/revoke-sessions",
    methods=["POST"],
    summary="Revoke the user's sign-in sessions (refresh tokens and session cookies) in the tenant.",
    tag="tenant-users",
    auth=partner_access(Scope.WRITE),
)
def revoke_sessions(call: Call, context: PartnerContext, route: UserRoute) -> SessionsRevokedOut:
    return _service(context, call).revoke_sessions(route.tenant_id, route.user_id, context.action)


@endpoint(
    bp,
    f"{_TENANT}/users/{{userId}}/reset-mfa",
    methods=["POST"],
    summary="Delete the user's authentication methods but the password, so they register MFA afresh "
    "(idempotent: run again, it removes nothing).",
    tag="tenant-users",
    auth=partner_access(Scope.WRITE),
)
def reset_mfa(call: Call, context: PartnerContext, route: UserRoute) -> MfaResetOut:
    return _service(context, call).reset_mfa(route.tenant_id, route.user_id, context.action)


@endpoint(
    bp,
    f"{_TENANT}/groups",
    methods=["GET"],
    summary="The tenant's groups as last synced.",
    tag="tenant-groups-m365",
    auth=partner_access(Scope.READ),
)
def list_groups(call: Call, context: PartnerContext, query: PageQuery, route: TenantRoute) -> GroupList:
    items, token = _service(context, call).list_groups(route.tenant_id, query.top, query.continuation_token)
    return GroupList(items=items, continuation_token=token)


@endpoint(
    bp,
    f"{_TENANT}/groups/{{groupId}}",
    methods=["GET"],
    summary="One group with its member ids.",
    tag="tenant-groups-m365",
    auth=partner_access(Scope.READ),
)
def get_group(call: Call, context: PartnerContext, route: GroupRoute) -> GroupOut:
    return _service(context, call).get_group(route.tenant_id, route.group_id)


@endpoint(
    bp,
    f"{_TENANT}/groups/{{groupId}}/members",
    methods=["POST"],
    summary="Add a user to a group.",
    tag="tenant-groups-m365",
    auth=partner_access(Scope.WRITE),
)
def add_member(call: Call, context: PartnerContext, body: MemberIn, route: GroupRoute) -> GroupOut:
    return _service(context, call).change_member(
        route.tenant_id, route.group_id, body.user_id, add=True, context=context.action
    )


@endpoint(
    bp,
    f"{_TENANT}/groups/{{groupId}}/members/{{userId}}",
    methods=["DELETE"],
    summary="Remove a user from a group.",
    tag="tenant-groups-m365",
    auth=partner_access(Scope.WRITE),
)
def remove_member(call: Call, context: PartnerContext, route: MemberRoute) -> NoContent:
    _service(context, call).change_member(
        route.tenant_id,
        route.group_id,
        route.user_id,
        add=False,
        context=context.action,
    )
    return NoContent()


# --- configuration and baselines -------------------------------------------------------------


@endpoint(
    bp,
    f"{_TENANT}/configuration",
    methods=["GET"],
    summary="The latest configuration snapshot (licences, domains, roles, policies).",
    tag="tenants",
    auth=partner_access(Scope.READ),
)
def get_configuration(call: Call, context: PartnerContext, route: TenantRoute) -> ConfigurationOut:
    return _service(context, call).get_configuration(route.tenant_id)


@endpoint(
    bp,
    f"{_TENANT}/snapshots",
    methods=["GET"],
    summary="The configuration snapshots kept (the latest 10, and those drift events compare), newest first.",
    tag="tenants",
    auth=partner_access(Scope.READ),
)
def list_snapshots(call: Call, context: PartnerContext, route: TenantRoute) -> SnapshotList:
    return _service(context, call).list_snapshots(route.tenant_id)


@endpoint(
    bp,
    f"{_TENANT}/snapshots/{{syncId}}/changes",
    methods=["GET"],
    summary="What changed in the configuration up to this snapshot since an earlier one (default: the last).",
    tag="tenants",
    auth=partner_access(Scope.READ),
)
def list_snapshot_changes(
    call: Call, context: PartnerContext, query: SnapshotChangesQuery, route: SyncRoute
) -> SnapshotChanges:
    return _service(context, call).list_snapshot_changes(route.tenant_id, route.sync_id, query.since)


@endpoint(
    bp,
    f"{_TENANT}/security-defaults",
    methods=["PUT"],
    summary="Switch the tenant's security defaults on or off.",
    tag="tenants",
    auth=partner_access(Scope.WRITE),
)
def put_security_defaults(
    call: Call, context: PartnerContext, body: SecurityDefaultsIn, route: TenantRoute
) -> SecurityDefaultsOut:
    enabled = _service(context, call).update_security_defaults(route.tenant_id, body.enabled, context.action)
    return SecurityDefaultsOut(enabled=enabled)


@endpoint(
    bp,
    f"{_TENANT}/baseline",
    methods=["GET"],
    summary="The tenant's baseline checks as evaluated after its last sync.",
    tag="baselines",
    auth=partner_access(Scope.READ),
)
def get_baseline(call: Call, context: PartnerContext, route: TenantRoute) -> BaselineOut:
    return _service(context, call).get_baseline(route.tenant_id)


@endpoint(
    bp,
    "partners/{partnerId}/baseline",
    methods=["GET"],
    summary="Baseline results across the partner's tenants (those the caller may see).",
    tag="baselines",
    auth=partner_access(Scope.READ),
)
def list_baselines(call: Call, context: PartnerContext, query: PageQuery) -> BaselineList:
    visible = _visible(context)
    items, token = _service(context, call, tenant=False).list_baselines(
        query.top, query.continuation_token, visible
    )
    return BaselineList(items=items, continuation_token=token)


@endpoint(
    bp,
    "partners/{partnerId}/baseline/settings",
    methods=["GET"],
    summary="Which baseline checks run, and their bounds.",
    tag="baselines",
    auth=partner_access(Scope.READ),
)
def get_baseline_settings(call: Call, context: PartnerContext) -> BaselineSettings:
    return _service(context, call, tenant=False).get_baseline_settings()


@endpoint(
    bp,
    "partners/{partnerId}/baseline/settings",
    methods=["PUT"],
    summary="Switch baseline checks off and set bounds (applied from the next sync).",
    tag="baselines",
    auth=partner_access(Scope.WRITE, every_tenant=True),
)
def put_baseline_settings(call: Call, context: PartnerContext, body: BaselineSettingsIn) -> BaselineSettings:
    settings = BaselineSettings.model_validate(body.model_dump())
    return _service(context, call, tenant=False).update_baseline_settings(settings, context.action)


# --- proof: the partner's own tenant, GDAP and admin consent --------------------------------

CALLBACK_PATH = "/api/admin-consent/callback"


def _redirect_uri(call: Call) -> str:
    """Where the identity platform sends the administrator back (a redirect URI of the Graph app)."""
    origin = deps.settings().public_url.rstrip("/")
    if not origin:
        parts = urlsplit(call.request.url)
        origin = f"{parts.scheme}://{parts.netloc}"
    return origin + CALLBACK_PATH


@endpoint(
    bp,
    "partners/{partnerId}/entra-connection",
    methods=["GET"],
    summary="Whether the partner's own Entra tenant is connected (needed to prove tenants by GDAP).",
    tag="tenant-proof",
    auth=partner_access(Scope.READ),
)
def get_entra_connection(call: Call, context: PartnerContext) -> EntraConnection:
    return deps.tenant_proof(context.partner).connection()


@endpoint(
    bp,
    "partners/{partnerId}/entra-connection",
    methods=["POST"],
    summary="A link for an administrator of the partner's own Entra tenant to consent to Tenantry's app.",
    tag="tenant-proof",
    auth=partner_access(Scope.MANAGE_ACCESS, every_tenant=True),
)
def connect_entra_tenant(call: Call, context: PartnerContext) -> SignInLink:
    # What the partner's tenant grants reaches every customer by GDAP: an owner's decision.
    if context.access().grantor(context.caller, context.reach).role is not Role.OWNER:
        raise forbidden(Role.OWNER.value, "Only an owner connects the partner's Entra tenant.")
    return deps.tenant_proof(context.partner).connection_link(_redirect_uri(call), context.caller.actor)


@endpoint(
    bp,
    f"{_TENANT}/verify",
    methods=["POST"],
    summary="Check the tenant's GDAP relationship now, through the partner's own tenant; proves the tenant.",
    tag="tenant-proof",
    auth=partner_access(Scope.WRITE),
)
def verify_tenant(call: Call, context: PartnerContext, route: TenantRoute) -> TenantOut:
    return _service(context, call).verify(route.tenant_id, context.action)


@endpoint(
    bp,
    f"{_TENANT}/consent-link",
    methods=["POST"],
    summary="A link for the customer's administrator to consent for this partner (proves the tenant).",
    tag="tenant-proof",
    auth=partner_access(Scope.WRITE),
)
def create_consent_link(call: Call, context: PartnerContext, route: TenantRoute) -> SignInLink:
    _service(context, call)  # a tenant outside the caller's scope answers 404
    return deps.tenant_proof(context.partner).consent_link(
        route.tenant_id, _redirect_uri(call), context.caller.actor
    )


@endpoint(
    bp,
    "admin-consent/callback",
    methods=["GET"],
    summary="Where an administrator's sign-in returns; only a verified ID token of the right tenant counts.",
    tag="tenant-proof",
    auth=None,
)
def admin_consent_callback(call: Call, query: AdminConsentCallbackQuery) -> SignInResult:
    if query.error:
        detail = f"The sign-in ended with {query.error}: {query.error_description or ''}".strip()
        raise ProblemError(400, "sign-in-declined", "The administrator did not consent.", detail[:500])
    if not query.state or not query.code:
        raise ProblemError(
            400,
            "sign-in-invalid",
            "This sign-in proves nothing.",
            "The callback needs the code and state the identity platform sends; "
            "admin_consent=True in a query string is not proof.",
        )
    partner_id, sign_in_id = deps.sign_in_states().read(query.state)
    partner = deps.partners().get(partner_id)
    return deps.tenants(partner).complete_sign_in(
        sign_in_id,
        query.code,
        request_id=call.request_id,
        client_ip=client_network(call),
    )


# --- timer and queues ------------------------------------------------------------------------


@bp.timer_trigger(arg_name="timer", schedule="%TENANT_SYNC_SCHEDULE%", run_on_startup=False)
def tenant_sync_timer(timer: func.TimerRequest) -> None:
    """Queues one sync per active tenant, each in its region's own queue (ids only)."""
    from shared.tenants.schedule import queue_scheduled_syncs

    accounts = (deps.storage().region(region) for region in deps.settings().regions)
    queued = queue_scheduled_syncs(accounts, deps.partners().get, deps.tenants)
    log.info("tenant sync timer queued %d syncs", queued)


# Hourly, not daily: a day's figure is the highest count any run saw that day, so a missed or
# failed run costs little and a tenant managed for part of a day counts for that day.
@bp.timer_trigger(arg_name="timer", schedule="0 10 * * * *", run_on_startup=False)
def tenant_usage_timer(timer: func.TimerRequest) -> None:
    """Records each partner's tenants under management for today, from the tenant registry."""
    from shared.tenants.metering import record_daily_tenants

    taken = record_daily_tenants(deps.settings().regions, deps.storage().region, deps.usage)
    log.info("tenant usage timer recorded %d partners' tenant counts", taken)


def _sync_handler(region: str) -> None:
    def run(msg: func.QueueMessage) -> None:
        message = SyncMessage.model_validate_json(msg.get_body())
        partner = deps.partners().get(message.partner_id)
        # On the last attempt a sync is marked failed rather than left "running" as the message is poisoned.
        final = final_attempt(msg)
        synced = deps.tenants(partner).run_sync(message.tenant_id, message.sync_id, final_attempt=final)
        if synced.state == "succeeded":
            # Standards assigned `afterSync` check the tenant now (one run per assignment and sync).
            deps.standard_assignments(partner).after_sync(message.tenant_id, synced.id)

    queue_function(bp, f"tenant_sync_{region}", QUEUE, region)(run)


for _region in get_settings().regions:
    _sync_handler(_region)

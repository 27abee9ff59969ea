"""The partner's API call log and its people's and keys' session events (shared/audit/calls.py)."""

from __future__ import annotations

from typing import Annotated

import azure.functions as func
from pydantic import AwareDatetime, Field, StringConstraints

from functions import deps
from functions.auth import PartnerContext, partner_access
from functions.http import Call, endpoint
from shared.access.principals import Role, Scope
from shared.access.reach import ALL_TENANTS
from shared.audit.calls import CallFilter, CallLogReader
from shared.errors import ProblemError, forbidden
from shared.models import ApiModel, PageQuery

bp = func.Blueprint()  # type: ignore[no-untyped-call]


class ApiCallQuery(PageQuery):
    from_: AwareDatetime | None = Field(
        default=None, alias="from", description="The oldest call to list; the log holds the last 90 days."
    )
    to: AwareDatetime | None = Field(default=None, description="The newest call to list; now when absent.")
    status: Annotated[str, StringConstraints(pattern=r"^[1-5]xx$")] | None = Field(
        default=None, description="A status class: 2xx, 4xx, 5xx."
    )
    route: Annotated[str, StringConstraints(min_length=1, max_length=300)] | None = Field(
        default=None,
        description="A route template exactly as the log shows it, e.g. partners/{partnerId}/tenants.",
    )
    method: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3,7}$")] | None = None


class ApiCallCaller(ApiModel):
    type: str = Field(description="apiKey or personnel.")
    id: str = Field(description="The API key's id or the person's id (never the credential).")


class ApiCallOut(ApiModel):
    id: str = Field(description="The call's x-request-id.")
    at: str
    method: str
    route: str = Field(description="The route template (no ids, query or body).")
    status: int
    duration_ms: int
    problem_type: str | None = Field(default=None, description="The problem type of a failed call.")
    problem_title: str | None = None
    caller: ApiCallCaller
    client_ip: str | None = Field(default=None, description="The caller's network (IPv4 /24, IPv6 /48).")


class ApiCallList(ApiModel):
    items: list[ApiCallOut]
    continuation_token: str | None


class SessionQuery(PageQuery):
    from_: AwareDatetime | None = Field(default=None, alias="from")
    to: AwareDatetime | None = None


class SessionOut(ApiModel):
    kind: str = Field(
        description="signIn (a person's first call with a token) or keyUse (a key's first call of a day)."
    )
    at: str = Field(description="The first call of the session (or of the key's day).")
    last_at: str = Field(description="The last call of it seen so far.")
    actor: dict[str, str]
    method: str
    route: str = Field(description="The route template of the first call.")
    request_id: str
    client_ip: str | None = None


class SessionList(ApiModel):
    items: list[SessionOut]
    continuation_token: str | None


@endpoint(
    bp,
    "partners/{partnerId}/api-calls",
    methods=["GET"],
    summary="The partner's own API calls of the last 90 days, newest first (never bodies or credentials).",
    tag="audit",
    auth=partner_access(Scope.READ),
)
def list_api_calls(call: Call, context: PartnerContext, query: ApiCallQuery) -> ApiCallList:
    if not context.reach.unlimited:
        raise _needs_every_tenant("The API call log holds the calls about every tenant")
    filters = CallFilter(
        start=query.from_,
        end=query.to,
        status_class=int(query.status[0]) if query.status else None,
        route=query.route,
        method=query.method,
    )
    reader = CallLogReader(context.account, deps.clock())
    items, token = reader.list_calls(context.partner.id, filters, query.top, query.continuation_token)
    return ApiCallList(items=[ApiCallOut.model_validate(item) for item in items], continuation_token=token)


@endpoint(
    bp,
    "partners/{partnerId}/sessions",
    methods=["GET"],
    summary="Sign-ins of the partner's people and daily first uses of its API keys, newest first (owners).",
    tag="audit",
    auth=partner_access(Scope.MANAGE_ACCESS),
)
def list_sessions(call: Call, context: PartnerContext, query: SessionQuery) -> SessionList:
    if context.access().grantor(context.caller, context.reach).role is not Role.OWNER:
        raise ProblemError(
            403, "owner-only", "Owners only.", "Only an owner of the partner may read its session events."
        )
    reader = CallLogReader(context.account, deps.clock())
    items, token = reader.list_sessions(
        context.partner.id, query.from_, query.to, query.top, query.continuation_token
    )
    return SessionList(items=[SessionOut.model_validate(item) for item in items], continuation_token=token)


def _needs_every_tenant(what: str) -> ProblemError:
    return forbidden(ALL_TENANTS, f"{what}: it needs a caller with access to every tenant.")

"""Records the partner keeps of people who contact it: the complaint register (4-week answers) and
correspondence threads with contact persons. Thin: each calls one method of shared/privacy/."""

from __future__ import annotations

import azure.functions as func
from pydantic import Field

from functions import deps
from functions.auth import PartnerContext, partner_access
from functions.http import Call, Created, RouteParams, Ulid, endpoint
from shared.access.principals import Scope
from shared.privacy.complaints import (
    AnswerIn,
    CloseIn,
    ComplaintIn,
    ComplaintList,
    ComplaintOut,
    ComplaintQuery,
)
from shared.privacy.correspondence import MessageIn, ThreadIn, ThreadList, ThreadQuery, ThreadWithMessages

bp = func.Blueprint()  # type: ignore[no-untyped-call]

# Both registers are the partner's as a whole, not one customer tenant's: a person or key limited
# to some tenants neither reads nor writes them (403 before anything is read).
_READ = partner_access(Scope.READ, every_tenant=True)
_WRITE = partner_access(Scope.WRITE, every_tenant=True)
# Answering or closing a complaint keeps a promise made to the complainant, and concluding a
# thread starts its deletion: both stay possible while the subscription is read-only.
_CONCLUDE = partner_access(Scope.WRITE, every_tenant=True, allowed_when_read_only=True)

_COMPLAINTS = "partners/{partnerId}/complaints"
_COMPLAINT = _COMPLAINTS + "/{complaintId}"
_THREADS = "partners/{partnerId}/correspondence"
_THREAD = _THREADS + "/{threadId}"


class ComplaintRoute(RouteParams):
    missing = "No such complaint."
    complaint_id: Ulid = Field(alias="complaintId")


class ThreadRoute(RouteParams):
    missing = "No such correspondence thread."
    thread_id: Ulid = Field(alias="threadId")


# --- the complaint register ------------------------------------------------------------------


@endpoint(
    bp,
    _COMPLAINTS,
    methods=["POST"],
    idempotent=True,
    summary="Record a complaint about the partner's service; it is due for an answer 4 weeks after receipt.",
    tag="records",
    auth=_WRITE,
)
def create_complaint(call: Call, context: PartnerContext, body: ComplaintIn) -> Created[ComplaintOut]:
    created = deps.complaints(context.partner).create_complaint(body, context.action)
    return Created(created, f"/api/partners/{context.partner.id}/complaints/{created.id}")


@endpoint(
    bp,
    _COMPLAINTS,
    methods=["GET"],
    summary="The complaint register, oldest first; filter by status.",
    tag="records",
    auth=_READ,
)
def list_complaints(call: Call, context: PartnerContext, query: ComplaintQuery) -> ComplaintList:
    items, token = deps.complaints(context.partner).list_complaints(query)
    return ComplaintList(items=items, continuation_token=token)


@endpoint(
    bp,
    _COMPLAINT,
    methods=["GET"],
    summary="One complaint: its deadline, answer and status.",
    tag="records",
    auth=_READ,
)
def get_complaint(call: Call, context: PartnerContext, route: ComplaintRoute) -> ComplaintOut:
    return deps.complaints(context.partner).get_complaint(route.complaint_id)


@endpoint(
    bp,
    _COMPLAINT + "/answer",
    methods=["POST"],
    summary="Record the answer to an open complaint (open -> answered); met or missed against its deadline.",
    tag="records",
    auth=_CONCLUDE,
)
def answer_complaint(
    call: Call, context: PartnerContext, body: AnswerIn, route: ComplaintRoute
) -> ComplaintOut:
    return deps.complaints(context.partner).answer_complaint(route.complaint_id, body, context.action)


@endpoint(
    bp,
    _COMPLAINT + "/close",
    methods=["POST"],
    summary="Close a complaint: answered, or unanswered with a reason (withdrawn, duplicate).",
    tag="records",
    auth=_CONCLUDE,
)
def close_complaint(
    call: Call, context: PartnerContext, body: CloseIn, route: ComplaintRoute
) -> ComplaintOut:
    return deps.complaints(context.partner).close_complaint(route.complaint_id, body, context.action)


# --- correspondence with contact persons --------------------------------------------------------


@endpoint(
    bp,
    _THREADS,
    methods=["POST"],
    idempotent=True,
    summary="Start a correspondence thread with a contact person, optionally with its first message.",
    tag="records",
    auth=_WRITE,
)
def create_thread(call: Call, context: PartnerContext, body: ThreadIn) -> Created[ThreadWithMessages]:
    created = deps.correspondence(context.partner).create_thread(body, context.action)
    return Created(created, f"/api/partners/{context.partner.id}/correspondence/{created.id}")


@endpoint(
    bp,
    _THREADS,
    methods=["GET"],
    summary="Correspondence threads, oldest first, with when each is deleted; filter by state.",
    tag="records",
    auth=_READ,
)
def list_threads(call: Call, context: PartnerContext, query: ThreadQuery) -> ThreadList:
    items, token = deps.correspondence(context.partner).list_threads(query)
    return ThreadList(items=items, continuation_token=token)


@endpoint(
    bp,
    _THREAD,
    methods=["GET"],
    summary="One correspondence thread with its messages.",
    tag="records",
    auth=_READ,
)
def get_thread(call: Call, context: PartnerContext, route: ThreadRoute) -> ThreadWithMessages:
    return deps.correspondence(context.partner).get_thread(route.thread_id)


@endpoint(
    bp,
    _THREAD + "/messages",
    methods=["POST"],
    idempotent=True,
    summary="Add a message to an open thread (409 once it is concluded).",
    tag="records",
    auth=_WRITE,
)
def add_message(
    call: Call, context: PartnerContext, body: MessageIn, route: ThreadRoute
) -> ThreadWithMessages:
    return deps.correspondence(context.partner).add_message(route.thread_id, body, context.action)


@endpoint(
    bp,
    _THREAD + "/conclude",
    methods=["POST"],
    summary="Conclude a thread: it takes no more messages and is deleted 30 days later.",
    tag="records",
    auth=_CONCLUDE,
)
def conclude_thread(call: Call, context: PartnerContext, route: ThreadRoute) -> ThreadWithMessages:
    return deps.correspondence(context.partner).conclude_thread(route.thread_id, context.action)

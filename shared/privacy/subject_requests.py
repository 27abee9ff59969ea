"""Data-subject requests: filed by the partner's privacy officers, driven through verification and
approval, executed by a queue job through SubjectData, watched against their deadline.

Storage: table `privacyrequests` in the partner's region, PartitionKey = partner id, RowKey = the
request's ULID. Beside the requests, one `~open~<subjectHash>~<kind>` row per open request holds
which request is open for that subject and type: creating it is how a duplicate is detected, even
when two are filed at the same moment.

What the record keeps of the subject: the identifier as filed while the request is open (the job
needs it), and always `subjectHash`, an HMAC of the normalised identifier and scope under the
API-key pepper. The hash is what audit events, the duplicate index and logs name, so they never
hold the identifier. Once an erasure of the subject completes, every closed request about that
subject drops the identifier (and a rectification's new values) and keeps the hash: the record
stays as evidence of what was asked and done without naming whom.

Every transition is one conditional (ETag) write, so two concurrent approvals cannot both win, and
each carries its audit event in `pendingEvents` until appended: a crash between the write and the
append leaves the event to be appended by the next writer instead of losing it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import ConfigDict, Field, model_validator

from shared.access.principals import Actor
from shared.audit.context import ActionContext
from shared.audit.log import AuditLog, NewEvent
from shared.clock import Clock, isoformat, parse_iso
from shared.errors import FieldError, ProblemError, not_found, validation_failed
from shared.ids import new_id
from shared.keys import SUBJECT_REQUEST, KeyedHasher, KeyRing, dependency_report, lookup_hasher, pepper_ring
from shared.models import ApiInput, ApiModel, PageQuery, UtcDateTime, exactly_one_of
from shared.privacy import deadlines
from shared.privacy.retention import (
    Candidate,
    PartitionRows,
    RetentionRule,
    SweepScope,
    personnel_data_at,
)
from shared.privacy.subjects import (
    ErasureCertificate,
    ExportResult,
    RectificationResult,
    SubjectData,
    SubjectIdentifier,
    SubjectScope,
)
from shared.storage import tables
from shared.storage.queues import enqueue
from shared.usage import Unit, UsageMeter

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

TABLE = "privacyrequests"
QUEUE = "privacyjobs"
DUE_WITHIN = timedelta(days=30)  # Art. 12(3)
MAX_EXTENSION_DAYS = 60
NEARING = timedelta(days=7)
EXPORT_LINK_TTL = timedelta(minutes=15)
EXPORT_KEPT = timedelta(days=7)  # the `privacyexports` lifecycle rule deletes packages after this
_RECEIVED_AT_MOST = timedelta(days=90)
_CLOCK_SKEW = timedelta(minutes=5)
_STALE_EVENT = timedelta(seconds=60)
_OPEN_PREFIX = "~open~"
_JOB = Actor("system", "privacy-job")
_WATCH = Actor("system", "deadline-watch")
_GUID = re.compile(r"^\{?[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\}?$")


class RequestType(StrEnum):
    ACCESS = "access"
    PORTABILITY = "portability"
    ERASURE = "erasure"
    RECTIFICATION = "rectification"
    RESTRICTION = "restriction"
    OBJECTION = "objection"
    CONSENT_WITHDRAWAL = "consentWithdrawal"


class RequestState(StrEnum):
    RECEIVED = "received"
    AWAITING_APPROVAL = "awaitingApproval"
    APPROVED = "approved"
    IN_PROGRESS = "inProgress"
    COMPLETED = "completed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    FAILED = "failed"
    # A duplicate of an open request for the same subject and type: recorded (the subject did ask
    # again, on that day) and closed at once, pointing at the request that will answer both.
    LINKED = "linked"


OPEN_STATES = frozenset(
    {
        RequestState.RECEIVED,
        RequestState.AWAITING_APPROVAL,
        RequestState.APPROVED,
        RequestState.IN_PROGRESS,
        RequestState.FAILED,
    }
)
_DECIDABLE = frozenset(
    {RequestState.RECEIVED, RequestState.AWAITING_APPROVAL, RequestState.APPROVED, RequestState.FAILED}
)

# Which states each transition leaves from: the whole state machine.
TRANSITIONS: dict[str, tuple[frozenset[RequestState], RequestState | None]] = {
    "verify": (frozenset({RequestState.RECEIVED}), RequestState.AWAITING_APPROVAL),
    "approve": (frozenset({RequestState.AWAITING_APPROVAL}), RequestState.APPROVED),
    "reject": (_DECIDABLE, RequestState.REJECTED),
    "cancel": (_DECIDABLE, RequestState.CANCELLED),
    "execute": (frozenset({RequestState.APPROVED, RequestState.FAILED}), RequestState.IN_PROGRESS),
    "complete": (frozenset({RequestState.IN_PROGRESS}), RequestState.COMPLETED),
    "fail": (frozenset({RequestState.IN_PROGRESS}), RequestState.FAILED),
    "extend": (OPEN_STATES, None),  # the state stays
    # A controller request (Tenantry's own data): the operator carries it out by hand, then records it.
    "resolve": (frozenset({RequestState.APPROVED}), RequestState.COMPLETED),
}
# The audit action of each transition: `privacy.request.<action>`.
ACTIONS = {
    "verify": "verified",
    "approve": "approved",
    "reject": "rejected",
    "cancel": "cancelled",
    "execute": "executionStarted",
    "complete": "completed",
    "fail": "failed",
    "extend": "extended",
    "resolve": "resolved",
}


def next_state(current: RequestState, transition: str) -> RequestState:
    """The state `transition` leads to from `current`, or a 409 naming what is possible."""
    sources, target = TRANSITIONS[transition]
    if current not in sources:
        allowed = ", ".join(sorted(s.value for s in sources))
        raise ProblemError(
            409,
            "invalid-transition",
            "Not possible in this state.",
            f"Cannot {transition} a request that is {current.value}; it must be one of: {allowed}.",
            extra={"state": current.value},
        )
    return target or current


def due_at(received: datetime) -> datetime:
    return received + DUE_WITHIN


def extended_due(due: datetime, days: int, now: datetime, *, already: bool) -> datetime:
    """The one extension Art. 12(3) allows: up to 60 days, decided before the first period ends."""
    if already:
        raise ProblemError(
            409, "already-extended", "Already extended.", "A request's deadline can be extended once."
        )
    if not 1 <= days <= MAX_EXTENSION_DAYS:
        raise validation_failed([FieldError("days", f"between 1 and {MAX_EXTENSION_DAYS}")])
    if now > due:
        raise ProblemError(
            409,
            "deadline-passed",
            "The deadline has passed.",
            "An extension must be decided (and told to the subject) within the first period.",
        )
    return due + timedelta(days=days)


# --- the wire ------------------------------------------------------------------------------------


def _request_rules() -> dict[str, Any]:
    """The rules `RequestIn._consistent` enforces, as JSON Schema (each branch names wire fields)."""
    others = [t.value for t in RequestType if t is not RequestType.RECTIFICATION]
    restrictable = [RequestType.RESTRICTION.value, RequestType.OBJECTION.value]
    return {
        "allOf": [
            *exactly_one_of("tenantId", "orgId")["allOf"],
            # `changes` comes with a rectification, and only with it.
            {
                "oneOf": [
                    {
                        "required": ["type", "changes"],
                        "properties": {
                            "type": {"type": "string", "enum": [RequestType.RECTIFICATION.value]},
                            "changes": {"type": "object", "minProperties": 1},
                        },
                    },
                    {"properties": {"type": {"type": "string", "enum": others}, "changes": {"type": "null"}}},
                ]
            },
            # `lift` only for a restriction or an objection.
            {
                "anyOf": [
                    {"properties": {"type": {"type": "string", "enum": restrictable}}},
                    {"properties": {"lift": {"type": "boolean", "enum": [False]}}},
                ]
            },
            # A consent withdrawal names its subject by e-mail.
            {
                "anyOf": [
                    {
                        "properties": {
                            "type": {
                                "type": "string",
                                "enum": [
                                    t.value for t in RequestType if t is not RequestType.CONSENT_WITHDRAWAL
                                ],
                            }
                        }
                    },
                    {
                        "properties": {
                            "subject": {"required": ["email"], "properties": {"email": {"type": "string"}}}
                        }
                    },
                ]
            },
            # objectId is a tenant's end user; systemUserId a Dynamics user.
            {
                "anyOf": [
                    {"properties": {"orgId": {"type": "null"}}},
                    {"properties": {"subject": {"properties": {"objectId": {"type": "null"}}}}},
                ]
            },
            {
                "anyOf": [
                    {"properties": {"tenantId": {"type": "null"}}},
                    {"properties": {"subject": {"properties": {"systemUserId": {"type": "null"}}}}},
                ]
            },
        ]
    }


class RequestIn(ApiInput):
    model_config = ConfigDict(json_schema_extra=_request_rules())

    type: RequestType
    subject: SubjectIdentifier
    tenant_id: str | None = Field(
        default=None,
        description="The customer tenant (Entra tenant id).",
        json_schema_extra={"pattern": _GUID.pattern},
    )
    org_id: str | None = Field(
        default=None,
        description="The Dynamics 365 organisation id.",
        json_schema_extra={"pattern": _GUID.pattern},
    )
    changes: dict[str, str] | None = Field(
        default=None,
        description="Rectification only: field -> corrected value.",
        max_length=20,
        json_schema_extra={
            "propertyNames": {"minLength": 1, "maxLength": 64},
            "additionalProperties": {"type": "string", "maxLength": 1000},
        },
    )
    lift: bool = Field(
        default=False, description="Restriction/objection only: lift an earlier one instead of setting it."
    )
    reference: str | None = Field(
        default=None, max_length=200, description="The partner's own reference (ticket number)."
    )
    received_at: UtcDateTime | None = Field(
        default=None,
        description="When the controller received the request (default: now); the 30 days run from it.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> RequestIn:
        if (self.tenant_id is None) == (self.org_id is None):
            raise ValueError("give exactly one of tenantId or orgId")
        for name, value in (("tenantId", self.tenant_id), ("orgId", self.org_id)):
            if value is not None and not _GUID.match(value):
                raise ValueError(f"{name} must be a GUID")
        if self.type is RequestType.RECTIFICATION:
            if not self.changes:
                raise ValueError("a rectification names the changes requested in `changes`")
            for key, value in self.changes.items():
                if not 1 <= len(key) <= 64 or len(value) > 1000:
                    raise ValueError("changes: field names of 1-64 characters, values of at most 1000")
        elif self.changes is not None:
            raise ValueError("`changes` belongs to rectification requests only")
        if self.lift and self.type not in (RequestType.RESTRICTION, RequestType.OBJECTION):
            raise ValueError("`lift` belongs to restriction and objection requests only")
        if self.type is RequestType.CONSENT_WITHDRAWAL and self.subject.email is None:
            raise ValueError("a consent withdrawal names its subject by email (consent is kept per address)")
        if self.subject.object_id is not None and self.org_id is not None:
            raise ValueError("objectId names a tenant's end user: use systemUserId, email or phone in an org")
        if self.subject.system_user_id is not None and self.tenant_id is not None:
            raise ValueError("systemUserId names a Dynamics user: use objectId, email or phone in a tenant")
        return self


VerificationMethod = Literal[
    "controllerConfirmed",  # the customer (controller) confirmed the subject's identity
    "signedInAccount",  # the subject asked from their own signed-in account
    "emailChallenge",  # a code sent to the subject's address came back
    "identityDocument",  # an identity document was checked
    "other",
]


# Whose data Tenantry holds as controller: the partner's people and contact persons, and the contacts
# of Tenantry's own site (its consent ledger). Their requests are the operator's to handle.
ControllerCategory = Literal["partnerPersonnel", "partnerContact", "siteContact"]
CONTROLLER = "controller"
# The partition of controller requests in a region's table: partner ids are ULIDs, never this.
CONTROLLER_PARTITION = "operator"


class ControllerRequestIn(ApiInput):
    type: RequestType
    subject: SubjectIdentifier
    category: ControllerCategory = Field(description="Whose data: a partner's person, contact, or ours.")
    partner_id: str | None = Field(
        default=None,
        max_length=26,
        description="The partner the person works for or is the contact of (not for site contacts).",
    )
    changes: dict[str, str] | None = Field(default=None, max_length=20, description="Rectification only.")
    reference: str | None = Field(default=None, max_length=200, description="The operator's own reference.")
    received_at: UtcDateTime | None = Field(
        default=None,
        description="When Tenantry received the request (default: now); the 30 days run from it.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> ControllerRequestIn:
        if (self.category == "siteContact") != (self.partner_id is None):
            raise ValueError("partnerId names the partner of a partner's person or contact, and only then")
        if (self.type is RequestType.RECTIFICATION) != bool(self.changes):
            raise ValueError("`changes` comes with a rectification, and only with it")
        return self


class ResolveIn(ApiInput):
    note: str = Field(min_length=1, max_length=2000, description="What the operator did, in its words.")


class Controller(ApiModel):
    category: ControllerCategory
    partner_id: str | None


class VerifyIn(ApiInput):
    method: VerificationMethod
    note: str = Field(min_length=1, max_length=1000, description="How exactly, in the verifier's words.")


class ReasonIn(ApiInput):
    reason: str = Field(min_length=1, max_length=1000)


class CancelIn(ApiInput):
    reason: str | None = Field(default=None, max_length=1000)


class ExtendIn(ApiInput):
    days: int = Field(ge=1, le=MAX_EXTENSION_DAYS, description="Up to 60 more days (Art. 12(3)).")
    reason: str = Field(min_length=1, max_length=1000, description="Why: told to the subject.")


class Verification(ApiModel):
    method: str
    note: str
    verified_by: dict[str, Any]
    verified_at: UtcDateTime


class Extension(ApiModel):
    days: int
    reason: str
    previous_due_at: UtcDateTime
    extended_by: dict[str, Any]
    extended_at: UtcDateTime


class Failure(ApiModel):
    kind: str
    detail: str
    failed_at: UtcDateTime


class Forwarded(ApiModel):
    """A request that reached Tenantry directly: passed on to the partner, never answered by Tenantry."""

    by: dict[str, Any] = Field(description="Who at Tenantry forwarded it.")
    at: UtcDateTime
    to: str = Field(description="The partner it was forwarded to.")
    answered_by: Literal["partner"] = Field(
        default="partner",
        description="Who answers the subject: the partner (for its customer), never Tenantry.",
    )


class RequestOut(ApiModel):
    id: str
    type: RequestType
    state: RequestState
    subject: SubjectIdentifier | None = Field(
        description="As filed; null once an erasure of this subject completed (subjectHash stays)."
    )
    subject_hash: str = Field(description="Keyed hash of the normalised identifier and scope.")
    tenant_id: str | None
    org_id: str | None
    changes: dict[str, str] | None
    lift: bool
    reference: str | None
    received_at: UtcDateTime
    due_at: UtcDateTime
    deadline_state: str = Field(description="open | nearing | passed | met | missed | none")
    extension: Extension | None
    verification: Verification | None
    approved_by: dict[str, Any] | None
    approved_at: UtcDateTime | None
    duplicate_of: str | None
    reason: str | None = Field(description="Why it was rejected or cancelled.")
    failure: Failure | None
    attempts: int
    outcome: dict[str, Any] | None = Field(description="What the execution did (counts, never content).")
    closed_at: UtcDateTime | None
    updated_at: UtcDateTime
    forwarded: Forwarded | None = Field(
        default=None, description="Set when the subject asked Tenantry and Tenantry forwarded the request."
    )
    controller: Controller | None = Field(
        default=None,
        description="Set on a request about data Tenantry holds as controller (operator-handled).",
    )


class RequestList(ApiModel):
    items: list[RequestOut]
    continuation_token: str | None


class RequestQuery(PageQuery):
    state: RequestState | None = None
    type: RequestType | None = None


class ExportLink(ApiModel):
    url: str
    expires_at: UtcDateTime


class JobMessage(ApiModel):
    """The queue message: ids only."""

    partner_id: str
    request_id: str


class ConsentWithdrawer(Protocol):
    """What a consent withdrawal needs of the consent ledger (shared/privacy/consent.py)."""

    def withdraw_subject(self, partner_id: str, email: str, *, request_id: str) -> int: ...


@dataclass(frozen=True)
class Executors:
    """What executing a request reaches: made on first use, since filing and reading need neither."""

    subjects: Callable[[], SubjectData]
    consent: Callable[[], ConsentWithdrawer]


# --- identifiers ----------------------------------------------------------------------------------


def normalised(who: SubjectIdentifier) -> str:
    """`kind:value`, so two spellings of one identifier compare equal."""
    if who.email is not None:
        return "email:" + who.email.strip().casefold()
    if who.object_id is not None:
        return "objectId:" + who.object_id.strip().strip("{}").lower()
    if who.system_user_id is not None:
        return "systemUserId:" + who.system_user_id.strip().strip("{}").lower()
    phone = who.phone or ""
    return "phone:" + ("+" if phone.strip().startswith("+") else "") + re.sub(r"\D", "", phone)


def subject_text(tenant_id: str | None, org_id: str | None, who: SubjectIdentifier) -> str:
    """What a processor request's `subjectHash` is the keyed hash of: the scope and the identifier."""
    scope = f"tenant:{tenant_id.lower()}" if tenant_id else f"org:{(org_id or '').lower()}"
    return f"{scope}|{normalised(who)}"


def controller_text(partner_id: str | None, who: SubjectIdentifier) -> str:
    """The same for a controller request: whose data (a partner's, or the site's) and the identifier."""
    owner = f"partner:{partner_id.upper()}" if partner_id else "site"
    return f"{CONTROLLER}:{owner}|{normalised(who)}"


def subject_hash(key: KeyedHasher, tenant_id: str | None, org_id: str | None, who: SubjectIdentifier) -> str:
    return key.hash(subject_text(tenant_id, org_id, who))


def request_hasher(pepper: str, ring: KeyRing | None = None) -> KeyedHasher:
    """The keyed hash of request subjects (version 1 of the pepper only unless handed the ring)."""
    return lookup_hasher(ring or pepper_ring(pepper), SUBJECT_REQUEST)


def request_dependencies(
    account: AccountStorage, partner_id: str | None = None, *, limit: int = 100_000
) -> dict[str, int]:
    """How many data-subject requests and open-request slots of one region's account (or one
    partner's, `CONTROLLER_PARTITION` for the operator's) depend on
    each key id (`legacy`: version 1 of the pepper, before key ids). A request's hash moves to the
    current version when an erasure of its subject completes; a slot ends with its request. A scan
    of one column and the slots' keys, at most `limit` rows."""
    from itertools import islice

    query = tables.partition(partner_id) if partner_id is not None else "RowKey ne ''"
    rows = account.table(TABLE).query_entities(query, select=["RowKey", "subjectHash"], results_per_page=1000)
    return dependency_report(stored_subject_hash(row) for row in islice(rows, limit))


def stored_subject_hash(row: Any) -> str:
    """The subject hash a request row stores, or the one an open-request slot is keyed by."""
    key = str(row["RowKey"])
    if key.startswith(_OPEN_PREFIX):
        return key[len(_OPEN_PREFIX) :].split("~", 1)[0]
    return str(row.get("subjectHash") or "")


def _open_key(hashed: str, request_type: str, lift: bool) -> str:
    return f"{_OPEN_PREFIX}{hashed}~{request_type}{'~lift' if lift else ''}"


def _json(row: Any, name: str) -> Any:
    text = row.get(name)
    return json.loads(str(text)) if text else None


def _deadline_state(row: Any) -> str:
    watch = str(row.get("deadlineWatch") or "")
    if watch in (deadlines.OPEN, deadlines.NEARING, deadlines.PASSED):
        return watch
    return str(row.get("deadlineOutcome") or "none")


def request_out(row: Any) -> RequestOut:
    subject = _json(row, "subject")
    return RequestOut(
        id=str(row["RowKey"]),
        type=RequestType(str(row["type"])),
        state=RequestState(str(row["state"])),
        subject=SubjectIdentifier.model_validate(subject) if subject else None,
        subject_hash=str(row["subjectHash"]),
        tenant_id=row.get("tenantId") or None,
        org_id=row.get("orgId") or None,
        changes=_json(row, "changes"),
        lift=bool(row.get("lift", False)),
        reference=row.get("reference") or None,
        received_at=parse_iso(row["receivedAt"]),
        due_at=parse_iso(row["dueAt"]),
        deadline_state=_deadline_state(row),
        extension=_json(row, "extension"),
        verification=_json(row, "verification"),
        approved_by=_json(row, "approvedBy"),
        approved_at=parse_iso(row["approvedAt"]) if row.get("approvedAt") else None,
        duplicate_of=row.get("duplicateOf") or None,
        reason=row.get("reason") or None,
        failure=_json(row, "failure"),
        attempts=int(row.get("attempts", 0)),
        outcome=_json(row, "outcome"),
        closed_at=parse_iso(row["closedAt"]) if row.get("closedAt") else None,
        updated_at=parse_iso(row["updatedAt"]),
        forwarded=_json(row, "forwarded"),
        controller=_json(row, "controller"),
    )


def operator_is_processor() -> ProblemError:
    """The operator is the partner's (sub-)processor for its customers' end users: the controller's
    side (the customer, through the partner) verifies, approves and executes; the operator never does."""
    return ProblemError(
        403,
        "operator-is-processor",
        "Not for the operator.",
        "Tenantry is a processor for this data: only the partner, for its customer (the controller), "
        "may verify, approve, execute or otherwise decide a data-subject request about it. A request "
        "that reaches Tenantry is forwarded to the partner (POST .../privacy/inbound-requests).",
    )


def _processor_guard(context: ActionContext, row: Any = None) -> None:
    if context.actor.type == "operator" and not (row is not None and _is_controller(row)):
        raise operator_is_processor()


def _is_controller(row: Any) -> bool:
    return bool(row.get("controller"))


def _manual(row: Any, transition: str) -> None:
    """A controller request is executed by the operator's hand (`resolve`); a processor one by the job."""
    if transition == "resolve" and not _is_controller(row):
        raise ProblemError(
            409, "not-a-controller-request", "Not resolvable.", "Execute it instead: the job carries it out."
        )
    if transition == "execute" and _is_controller(row):
        raise ProblemError(
            409,
            "manual-execution",
            "Carried out by hand.",
            "The operator carries out a controller request itself, then resolves it with what was done.",
        )


# --- the service --------------------------------------------------------------------------------


class PrivacyRequestService:
    """One partner's data-subject requests in its region."""

    def __init__(
        self,
        account: AccountStorage,
        partner_id: str,
        region: str,
        clock: Clock,
        pepper: str,
        *,
        scope_exists: Callable[[str | None, str | None], bool] | None = None,
        executors: Executors | None = None,
        dispatch: Callable[[JobMessage], None] | None = None,
        ring: KeyRing | None = None,
    ):
        self.account = account
        self.partner_id = partner_id
        self.region = region
        self.clock = clock
        # Duplicates and erased subjects are found by it: written under the pepper's current
        # version, looked up under every form a request may have been stored with.
        self.hash_key = request_hasher(pepper, ring)
        self.scope_exists = scope_exists  # (tenant_id, org_id) -> may this caller file for it?
        self.executors = executors
        self.dispatch = dispatch or self._enqueue
        self.audit = AuditLog(account, clock)

    def _enqueue(self, message: JobMessage) -> None:
        enqueue(self.account.queue(QUEUE), message)

    @property
    def table(self) -> Any:
        return self.account.table(TABLE)

    def _row(self, request_id: str) -> tables.Row:
        if not request_id or request_id.startswith("~"):
            raise not_found("No such data-subject request.")
        row = tables.get(self.table, self.partner_id, request_id)
        if row is None:
            raise not_found("No such data-subject request.")
        return row

    # --- filing and reading ------------------------------------------------------------------

    def create(
        self,
        body: RequestIn,
        context: ActionContext,
        *,
        org_tenant_id: str | None = None,
        forwarded: bool = False,
    ) -> RequestOut:
        """`org_tenant_id`: for a request about an org, the customer tenant the org belongs to (its
        events name that tenant, so people limited to it see them). `forwarded`: the subject asked
        Tenantry, whose operator passes the request on (`forward`); no one else files as the operator."""
        if not forwarded:
            _processor_guard(context)
        if self.scope_exists is None or not self.scope_exists(body.tenant_id, body.org_id):
            field = "tenantId" if body.tenant_id else "orgId"
            what = "tenant" if body.tenant_id else "Dynamics organisation"
            raise validation_failed([FieldError(field, f"no such {what} of this partner")])
        now = self.clock.now()
        received = body.received_at or now
        if received > now + _CLOCK_SKEW or received < now - _RECEIVED_AT_MOST:
            raise validation_failed([FieldError("receivedAt", "must be within the last 90 days, not ahead")])
        request_id = new_id()
        text = subject_text(body.tenant_id, body.org_id, body.subject)
        hashed = self.hash_key.hash(text)
        duplicate_of = self._open_before(text, body.type.value, body.lift) or self._claim_open(
            _open_key(hashed, body.type.value, body.lift), request_id
        )
        state = RequestState.LINKED if duplicate_of else RequestState.RECEIVED
        row: dict[str, Any] = {
            "PartitionKey": self.partner_id,
            "RowKey": request_id,
            "type": body.type.value,
            "state": state.value,
            "subject": json.dumps(body.subject.model_dump(by_alias=True, exclude_none=True)),
            "subjectHash": hashed,
            "tenantId": body.tenant_id.lower() if body.tenant_id else "",
            "orgId": body.org_id.lower() if body.org_id else "",
            "orgTenantId": org_tenant_id.lower() if body.org_id and org_tenant_id else "",
            "changes": json.dumps(body.changes) if body.changes else "",
            "lift": body.lift,
            "reference": body.reference or "",
            "receivedAt": isoformat(received),
            "dueAt": isoformat(due_at(received)),
            "deadlineWatch": deadlines.OPEN if not duplicate_of else "",
            "duplicateOf": duplicate_of or "",
            "attempts": 0,
            "createdAt": isoformat(now),
            "updatedAt": isoformat(now),
            "closedAt": isoformat(now) if duplicate_of else "",
        }
        if forwarded:
            record = Forwarded(by=_actor(context), at=now, to=self.partner_id)
            row["forwarded"] = record.model_dump_json(by_alias=True)
        received_action = "privacy.request.forwarded" if forwarded else "privacy.request.received"
        event = self._event(
            context,
            "privacy.request.linked" if duplicate_of else received_action,
            row,
            {"duplicateOf": duplicate_of} if duplicate_of else {},
        )
        row["pendingEvents"] = json.dumps([event])
        self.table.create_entity(row)
        self._append_pending(row, [event])
        return request_out(self._row(request_id))

    def create_controller(self, body: ControllerRequestIn, context: ActionContext) -> RequestOut:
        """A request about data Tenantry holds as controller: filed, verified, approved and resolved
        by the operator, on the same 30-day clock and deadline watch as a partner's requests (this
        service over the region's `operator` partition)."""
        if self.partner_id != CONTROLLER_PARTITION:
            raise RuntimeError("controller requests live in the operator's partition")
        now = self.clock.now()
        received = body.received_at or now
        if received > now + _CLOCK_SKEW or received < now - _RECEIVED_AT_MOST:
            raise validation_failed([FieldError("receivedAt", "must be within the last 90 days, not ahead")])
        request_id = new_id()
        text = controller_text(body.partner_id, body.subject)
        hashed = self.hash_key.hash(text)
        duplicate_of = self._open_before(text, body.type.value, False) or self._claim_open(
            _open_key(hashed, body.type.value, False), request_id
        )
        state = RequestState.LINKED if duplicate_of else RequestState.RECEIVED
        scope = Controller(category=body.category, partner_id=body.partner_id)
        row: dict[str, Any] = {
            "PartitionKey": self.partner_id,
            "RowKey": request_id,
            "type": body.type.value,
            "state": state.value,
            "subject": json.dumps(body.subject.model_dump(by_alias=True, exclude_none=True)),
            "subjectHash": hashed,
            "tenantId": "",
            "orgId": "",
            "controller": scope.model_dump_json(by_alias=True),
            "changes": json.dumps(body.changes) if body.changes else "",
            "lift": False,
            "reference": body.reference or "",
            "receivedAt": isoformat(received),
            "dueAt": isoformat(due_at(received)),
            "deadlineWatch": deadlines.OPEN if not duplicate_of else "",
            "duplicateOf": duplicate_of or "",
            "attempts": 0,
            "createdAt": isoformat(now),
            "updatedAt": isoformat(now),
            "closedAt": isoformat(now) if duplicate_of else "",
        }
        action = "privacy.request.linked" if duplicate_of else "privacy.request.received"
        event = self._event(context, action, row, {"controller": body.category})
        row["pendingEvents"] = json.dumps([event])
        self.table.create_entity(row)
        self._append_pending(row, [event])
        return request_out(self._row(request_id))

    def resolve(self, request_id: str, body: ResolveIn, context: ActionContext) -> RequestOut:
        """Approved -> completed for a controller request, with what the operator did.

        An approved erasure of a partner's person also takes them out of the partner's API call log
        and session events here (shared/audit/calls.py): those rows are written by every instance's
        call recorder, not by anything an operator could reach by hand."""
        row = self._row(request_id)
        erased: dict[str, int] = {}
        if row["type"] == RequestType.ERASURE.value and row["state"] == RequestState.APPROVED.value:
            erased = self._erase_person_logs(row)
        outcome = {"note": body.note, **({"callLog": erased} if erased else {})}
        return self.transition(request_id, "resolve", context, lambda row: {"outcome": json.dumps(outcome)})

    def _erase_person_logs(self, row: Any) -> dict[str, int]:
        """The partner's people the request names (by object id or e-mail), out of its call log."""
        from shared.audit.calls import erase_caller
        from shared.partners.access import PERSONNEL

        controller = _json(row, "controller") or {}
        subject = _json(row, "subject") or {}
        partner_id = str(controller.get("partnerId") or "").upper()
        if controller.get("category") != "partnerPersonnel" or not partner_id:
            return {}
        object_id, email = str(subject.get("objectId") or "").lower(), str(subject.get("email") or "").lower()
        people = tables.query_json(self.account.table(PERSONNEL), tables.partition(partner_id))
        totals: dict[str, int] = {}
        for person in people:
            if not str(person["RowKey"]).startswith("p-"):
                continue
            named = (object_id and str(person.get("objectId") or "").lower() == object_id) or (
                email and str(person.get("email") or "").lower() == email
            )
            if named:
                for name, count in erase_caller(self.account, partner_id, str(person["RowKey"])[2:]).items():
                    totals[name] = totals.get(name, 0) + count
        return totals

    def forward(
        self, body: RequestIn, context: ActionContext, *, org_tenant_id: str | None = None
    ) -> RequestOut:
        """A request the subject sent to Tenantry: filed for the partner, which answers it (the
        event `privacy.request.forwarded` reaches its log and alert subscriptions). Tenantry keeps
        who forwarded it, to whom and when, and never answers the subject itself."""
        return self.create(body, context, org_tenant_id=org_tenant_id, forwarded=True)

    def _open_before(self, text: str, request_type: str, lift: bool) -> str | None:
        """An open request about the subject whose slot is under an older form of its hash (filed
        before the pepper's current version): a point read per older form. Such a slot is not
        moved; it ends with its request, which releases it under the hash it stores."""
        for form in self.hash_key.lookups(text)[1:]:
            held = tables.get(self.table, self.partner_id, _open_key(form, request_type, lift))
            if held is None:
                continue
            holder = tables.get(self.table, self.partner_id, str(held["requestId"]))
            if holder is not None and RequestState(str(holder["state"])) in OPEN_STATES:
                return str(held["requestId"])
        return None

    def _claim_open(self, open_key: str, request_id: str) -> str | None:
        """Takes the subject+type's open slot for `request_id`; else the open request holding it."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError, ResourceExistsError
        from azure.data.tables import UpdateMode

        now = self.clock.now()
        slot = {
            "PartitionKey": self.partner_id,
            "RowKey": open_key,
            "requestId": request_id,
            "claimedAt": isoformat(now),
        }
        for _ in range(5):
            try:
                self.table.create_entity(slot)
                return None
            except ResourceExistsError:
                pass
            held = tables.get(self.table, self.partner_id, open_key)
            if held is None:
                continue
            holder = str(held["requestId"])
            try:
                if RequestState(str(self._row(holder)["state"])) in OPEN_STATES:
                    return holder
            except ProblemError:
                # Not written yet: its filer is between the two writes, or crashed there. Only a
                # slot older than any live filer is taken over.
                if now - parse_iso(held.get("claimedAt") or "1970-01-01T00:00:00Z") <= _STALE_EVENT:
                    return holder
            try:  # a stale slot, left by a crash: take it over
                self.table.update_entity(
                    slot,
                    mode=UpdateMode.REPLACE,
                    etag=held.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
                return None
            except HttpResponseError:
                continue
        raise _busy()

    def _release_open(self, row: Any) -> None:
        from azure.core.exceptions import HttpResponseError

        key = _open_key(str(row["subjectHash"]), str(row["type"]), bool(row.get("lift", False)))
        try:
            held = tables.get(self.table, self.partner_id, key)
            if held is not None and str(held["requestId"]) == str(row["RowKey"]):
                tables.delete(self.table, self.partner_id, key, etag=held.etag)
        except HttpResponseError:
            pass  # gone or taken: a later create treats a slot of a closed request as free anyway

    def get(self, request_id: str) -> RequestOut:
        row = self._row(request_id)
        self._flush_stale(row)
        return request_out(row)

    def visible(self, request_id: str, may_see: Callable[[RequestOut], bool]) -> RequestOut:
        found = self.get(request_id)
        if not may_see(found):
            raise not_found("No such data-subject request.")
        return found

    def list_requests(self, query: RequestQuery) -> tuple[list[RequestOut], str | None]:
        odata = f"{tables.partition(self.partner_id)} and RowKey lt '~'"
        if query.state is not None:
            odata += f" and state eq '{query.state.value}'"
        if query.type is not None:
            odata += f" and type eq '{query.type.value}'"
        rows, token = tables.page(self.table, odata, query.top, query.continuation_token)
        return [request_out(r) for r in rows], token

    # --- transitions -------------------------------------------------------------------------

    def _event(
        self, context: ActionContext, action: str, row: Any, details: dict[str, Any]
    ) -> dict[str, Any]:
        actor: dict[str, Any] = {"type": context.actor.type, "id": context.actor.id}
        if context.actor.display:
            actor["display"] = context.actor.display
        scope = {"tenantId": row["tenantId"]} if row.get("tenantId") else {"orgId": row.get("orgId")}
        return {
            "key": new_id(),
            "at": isoformat(self.clock.now()),
            "action": action,
            "actor": actor,
            "target": {"type": "privacyRequest", "id": str(row["RowKey"])},
            "tenantId": _event_tenant(row),
            "requestId": context.request_id,
            "clientIp": context.client_ip,
            # The keyed hash, never the identifier: the event outlives an erasure of the subject.
            "details": {"type": row["type"], "subjectHash": row["subjectHash"], **scope, **details},
        }

    def _append(self, event: dict[str, Any]) -> None:
        self.audit.append(
            self.partner_id,
            NewEvent(
                action=event["action"],
                actor=event["actor"],
                target=event["target"],
                request_id=event.get("requestId"),
                client_ip=event.get("clientIp"),
                details=event["details"],
                tenant_id=event.get("tenantId"),
            ),
        )

    def _append_pending(self, row: Any, mine: list[dict[str, Any]]) -> None:
        """Appends `mine` to the audit log, then takes them off the row's pending list."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError
        from azure.data.tables import UpdateMode

        for event in mine:
            self._append(event)
        keys = {e["key"] for e in mine}
        for _ in range(5):
            current = tables.get(self.table, self.partner_id, str(row["RowKey"]))
            if current is None:
                return
            pending = _json(current, "pendingEvents") or []
            left = [e for e in pending if e["key"] not in keys]
            if len(left) == len(pending):
                return
            try:
                self.table.update_entity(
                    {
                        "PartitionKey": self.partner_id,
                        "RowKey": current["RowKey"],
                        "pendingEvents": json.dumps(left),
                    },
                    mode=UpdateMode.MERGE,
                    etag=current.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
                return
            except HttpResponseError:
                continue

    def _stale(self, row: Any) -> list[dict[str, Any]]:
        now = self.clock.now()
        return [e for e in _json(row, "pendingEvents") or [] if now - parse_iso(e["at"]) > _STALE_EVENT]

    def _flush_stale(self, row: Any) -> None:
        """Events whose writer crashed before appending them: appended now, by whoever comes next."""
        stale = self._stale(row)
        if stale:
            self._append_pending(row, stale)

    def transition(
        self,
        request_id: str,
        name: str,
        context: ActionContext,
        change: Callable[[Any], dict[str, Any]] | None = None,
        details: Callable[[Any], dict[str, Any]] | None = None,
    ) -> RequestOut:
        """Moves one request along `name`, guarded by its ETag: of two concurrent callers one wins,
        the other re-reads and gets the 409 the new state calls for."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError
        from azure.data.tables import UpdateMode

        for _ in range(5):
            row = self._row(request_id)
            if context.actor.type != "system":
                _processor_guard(context, row)
            _manual(row, name)
            current = RequestState(str(row["state"]))
            target = next_state(current, name)
            updates = change(row) if change else {}
            now = self.clock.now()
            updates.update(state=target.value, updatedAt=isoformat(now))
            closing = target not in OPEN_STATES
            erasing = target is RequestState.COMPLETED and row["type"] == RequestType.ERASURE
            if closing and (erasing or self._erased(row)):
                # In the same write: nobody may read the request closed with the identifier still on it.
                updates.update(subject="", changes="")
            if closing:
                updates["closedAt"] = isoformat(now)
                updates["deadlineWatch"] = ""
                updates["deadlineOutcome"] = "met" if now <= parse_iso(row["dueAt"]) else "missed"
            action = f"privacy.request.{ACTIONS[name]}"
            merged = {**row, **updates}
            extra = {"from": current.value, "to": target.value, **(details(merged) if details else {})}
            event = self._event(context, action, merged, extra)
            stale = self._stale(row)
            fresh = [e for e in _json(row, "pendingEvents") or [] if e not in stale]
            updates["pendingEvents"] = json.dumps([*fresh, event])
            if target is RequestState.COMPLETED and not _is_controller(row):  # billed first; keyed, so once
                meter = UsageMeter(self.account, self.clock)
                meter.record(self.partner_id, Unit.SUBJECT_REQUESTS_HANDLED, key=request_id)
            try:
                self.table.update_entity(
                    {"PartitionKey": self.partner_id, "RowKey": request_id, **updates},
                    mode=UpdateMode.MERGE,
                    etag=row.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
            except HttpResponseError as error:
                if error.status_code == 412:
                    continue
                raise
            self._append_pending(row, [*stale, event])
            if closing:
                self._release_open(merged)
            if erasing:
                self._forget_closed(row)
            return request_out(self._row(request_id))
        raise _busy()

    def verify(self, request_id: str, body: VerifyIn, context: ActionContext) -> RequestOut:
        def change(row: Any) -> dict[str, Any]:
            record = Verification(
                method=body.method,
                note=body.note,
                verified_by=_actor(context),
                verified_at=self.clock.now(),
            )
            return {"verification": record.model_dump_json(by_alias=True)}

        return self.transition(request_id, "verify", context, change, lambda row: {"method": body.method})

    def approve(self, request_id: str, context: ActionContext) -> RequestOut:
        def change(row: Any) -> dict[str, Any]:
            if not row.get("verification"):  # the state machine already holds this; belt and braces
                raise ProblemError(
                    409, "not-verified", "Not verified.", "Record who verified the subject first."
                )
            return {"approvedBy": json.dumps(_actor(context)), "approvedAt": isoformat(self.clock.now())}

        return self.transition(request_id, "approve", context, change)

    def reject(self, request_id: str, body: ReasonIn, context: ActionContext) -> RequestOut:
        return self.transition(request_id, "reject", context, lambda row: {"reason": body.reason})

    def cancel(self, request_id: str, body: CancelIn, context: ActionContext) -> RequestOut:
        return self.transition(request_id, "cancel", context, lambda row: {"reason": body.reason or ""})

    def extend(self, request_id: str, body: ExtendIn, context: ActionContext) -> RequestOut:
        def change(row: Any) -> dict[str, Any]:
            due = parse_iso(row["dueAt"])
            now = self.clock.now()
            new_due = extended_due(due, body.days, now, already=bool(row.get("extension")))
            record = Extension(
                days=body.days,
                reason=body.reason,
                previous_due_at=due,
                extended_by=_actor(context),
                extended_at=now,
            )
            return {
                "dueAt": isoformat(new_due),
                "extension": record.model_dump_json(by_alias=True),
                # The watch judges the new date afresh: nearing is raised again for it.
                "deadlineWatch": deadlines.next_state(deadlines.OPEN, new_due, now, NEARING),
            }

        return self.transition(
            request_id, "extend", context, change, lambda row: {"days": body.days, "dueAt": row["dueAt"]}
        )

    def execute(self, request_id: str, context: ActionContext) -> RequestOut:
        """Approved (or failed) -> inProgress, and the job queued. Asking again while it is in progress
        queues it again (a message lost to a crash must not strand it); the job is idempotent."""
        row = self._row(request_id)
        _processor_guard(context, row)
        _manual(row, "execute")
        if RequestState(str(row["state"])) is RequestState.IN_PROGRESS:
            self.dispatch(JobMessage(partner_id=self.partner_id, request_id=request_id))
            return request_out(row)
        moved = self.transition(
            request_id, "execute", context, lambda row: {"attempts": int(row.get("attempts", 0)) + 1}
        )
        self.dispatch(JobMessage(partner_id=self.partner_id, request_id=request_id))
        return moved

    # --- the job -----------------------------------------------------------------------------

    def run(self, request_id: str, *, final_attempt: bool = False) -> RequestOut:
        """Executes an inProgress request. Idempotent: every SubjectData method is, and completion
        is one conditional write, so a job retried after a crash ends completed once."""
        row = self._row(request_id)
        self._flush_stale(row)
        if RequestState(str(row["state"])) is not RequestState.IN_PROGRESS:
            return request_out(row)
        system = ActionContext(_JOB)
        try:
            outcome, fields = self._execute(row)
        except ProblemError as refusal:
            return self._fail(request_id, system, refusal.kind, refusal.detail or refusal.title)
        except Exception:
            if not final_attempt:
                raise
            return self._fail(request_id, system, "internal-error", "Execution failed; it can be retried.")
        try:
            return self.transition(
                request_id,
                "complete",
                system,
                lambda row: {"outcome": json.dumps(outcome), **fields, "failure": ""},
            )
        except ProblemError as error:
            if error.kind != "invalid-transition":
                raise
            return self.get(request_id)  # a twin job completed it first

    def _fail(self, request_id: str, context: ActionContext, kind: str, detail: str) -> RequestOut:
        failure = Failure(kind=kind, detail=detail, failed_at=self.clock.now())
        return self.transition(
            request_id,
            "fail",
            context,
            lambda row: {"failure": failure.model_dump_json(by_alias=True)},
            lambda row: {"failure": kind},
        )

    def _scope(self, row: Any) -> SubjectScope:
        return SubjectScope(
            partner_id=self.partner_id,
            region=self.region,
            tenant_id=row.get("tenantId") or None,
            org_id=row.get("orgId") or None,
        )

    def _execute(self, row: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        if self.executors is None:
            raise RuntimeError("PrivacyRequestService was built without executors")
        subject = _json(row, "subject")
        if not subject:
            raise ProblemError(409, "subject-erased", "The subject was erased.", "Nothing left to act on.")
        who = SubjectIdentifier.model_validate(subject)
        scope = self._scope(row)
        request_id = str(row["RowKey"])
        kind = RequestType(str(row["type"]))
        if kind in (RequestType.ACCESS, RequestType.PORTABILITY):
            exported: ExportResult = self.executors.subjects().export(scope, who, request_id=request_id)
            summary = exported.model_dump(mode="json", by_alias=True, exclude={"blob_name"})
            return {"export": summary}, {"exportBlob": exported.blob_name}
        if kind is RequestType.ERASURE:
            certificate: ErasureCertificate = self.executors.subjects().erase(
                scope, who, request_id=request_id
            )
            return {"erased": True}, {"certificate": certificate.model_dump_json(by_alias=True)}
        if kind is RequestType.RECTIFICATION:
            changes = _json(row, "changes") or {}
            result: RectificationResult = self.executors.subjects().rectify(
                scope, who, changes, request_id=request_id
            )
            return {
                "rectifiedFields": sorted(result.rectified),
                "rectifiedAt": isoformat(result.rectified_at),
            }, {}
        if kind in (RequestType.RESTRICTION, RequestType.OBJECTION):
            restricted = not bool(row.get("lift", False))
            self.executors.subjects().set_restriction(
                scope,
                who,
                restricted=restricted,
                kind="restriction" if kind is RequestType.RESTRICTION else "objection",
                request_id=request_id,
            )
            return {"restricted": restricted}, {}
        withdrawn = self.executors.consent().withdraw_subject(
            self.partner_id, who.email or "", request_id=request_id
        )
        return {"consentsWithdrawn": withdrawn}, {}

    # --- results -----------------------------------------------------------------------------

    def export_link(self, request_id: str, context: ActionContext) -> ExportLink:
        _processor_guard(context)
        row = self._row(request_id)
        kind = RequestType(str(row["type"]))
        if (
            kind not in (RequestType.ACCESS, RequestType.PORTABILITY)
            or row["state"] != RequestState.COMPLETED
        ):
            raise ProblemError(
                409,
                "no-export",
                "No export package.",
                "Only a completed access or portability request has an export package.",
            )
        created = parse_iso(
            (_json(row, "outcome") or {}).get("export", {}).get("createdAt") or row["closedAt"]
        )
        now = self.clock.now()
        if now >= created + EXPORT_KEPT:
            raise ProblemError(
                410,
                "export-expired",
                "The export package is gone.",
                "Packages are kept 7 days; execute a new request.",
            )
        if self.executors is None:
            raise RuntimeError("PrivacyRequestService was built without executors")
        url = self.executors.subjects().export_link(
            self._scope(row), str(row["exportBlob"]), ttl=EXPORT_LINK_TTL
        )
        # Handing out the subject's data is itself an act the partner must be able to account for.
        context.record(
            self.audit,
            self.partner_id,
            "privacy.request.exportLinkIssued",
            {"type": "privacyRequest", "id": request_id},
            details={
                "subjectHash": row["subjectHash"],
                "expiresInSeconds": int(EXPORT_LINK_TTL.total_seconds()),
            },
            tenant_id=_event_tenant(row),
        )
        return ExportLink(url=url, expires_at=now + EXPORT_LINK_TTL)

    def certificate(self, request_id: str) -> ErasureCertificate:
        row = self._row(request_id)
        if row["type"] != RequestType.ERASURE or not row.get("certificate"):
            raise ProblemError(
                409,
                "no-certificate",
                "No erasure certificate.",
                "Only a completed erasure request has a certificate.",
            )
        return ErasureCertificate.model_validate_json(str(row["certificate"]))

    def _hash_forms(self, row: Any) -> list[str]:
        """Every form the subject of `row` may be stored under (the current one first), while the
        row still holds the identifier; only the hash it stores once it does not."""
        stored = str(row["subjectHash"])
        if not row.get("subject"):
            return [stored]
        who = SubjectIdentifier.model_validate_json(str(row["subject"]))
        if _is_controller(row):
            text = controller_text(Controller.model_validate_json(str(row["controller"])).partner_id, who)
        else:
            text = subject_text(row.get("tenantId") or None, row.get("orgId") or None, who)
        forms = self.hash_key.lookups(text)
        return forms if stored in forms else [*forms, stored]

    def _subject_query(self, forms: list[str]) -> str:
        matches = " or ".join(tables.eq("subjectHash", form) for form in forms)
        return f"{tables.partition(self.partner_id)} and RowKey lt '~' and ({matches})"

    def _erased(self, row: Any) -> bool:
        """Has an erasure of this subject completed? Then what closes keeps only the hash."""
        query = f"{self._subject_query(self._hash_forms(row))} and type eq 'erasure' and state eq 'completed'"
        return next(iter(self.table.query_entities(query, select=["RowKey"])), None) is not None

    def _forget_closed(self, row: Any) -> None:
        """Once an erasure of the subject completed, closed requests about it keep only the hash,
        under the pepper's current version (an open one keeps its own: it releases its slot by it)."""
        from azure.data.tables import UpdateMode

        forms = self._hash_forms(row)
        for other in self.table.query_entities(
            self._subject_query(forms), select=["RowKey", "state", "subject", "subjectHash"]
        ):
            if RequestState(str(other["state"])) in OPEN_STATES:
                continue
            updates: dict[str, Any] = {"subject": "", "changes": ""} if other.get("subject") else {}
            if other.get("subjectHash") != forms[0]:
                updates["subjectHash"] = forms[0]  # found under an older form: moves to the current one
            if not updates:
                continue
            self.table.update_entity(
                {"PartitionKey": self.partner_id, "RowKey": other["RowKey"], **updates},
                mode=UpdateMode.MERGE,
            )


# --- the deadline watch --------------------------------------------------------------------------


def _actor(context: ActionContext) -> dict[str, Any]:
    actor: dict[str, Any] = {"type": context.actor.type, "id": context.actor.id}
    if context.actor.display:
        actor["display"] = context.actor.display
    return actor


def _busy() -> ProblemError:
    return ProblemError(
        409, "concurrent-change", "Changed by someone else.", "The request kept changing meanwhile; retry."
    )


def watch(account: AccountStorage, clock: Clock) -> list[tuple[str, str, str]]:
    """Raises one event per open request as its due date nears (7 days left) and once it passes,
    in the partner's audit log. Yields (partner id, request id, action)."""
    table = account.table(TABLE)
    log = AuditLog(account, clock)
    now = clock.now()
    raised = []
    moves = deadlines.claimed_moves(
        table, "RowKey lt '~'", "deadlineWatch", lambda row: parse_iso(row["dueAt"]), now=now, nearing=NEARING
    )
    for row, new_state in moves:
        action = (
            "privacy.request.deadlinePassed"
            if new_state == deadlines.PASSED
            else "privacy.request.deadlineNearing"
        )
        partner_id = str(row["PartitionKey"])
        log.append(
            partner_id,
            NewEvent(
                action=action,
                actor={"type": _WATCH.type, "id": _WATCH.id},
                target={"type": "privacyRequest", "id": str(row["RowKey"])},
                details={"type": row["type"], "dueAt": row["dueAt"], "state": row["state"]},
                tenant_id=_event_tenant(row),
            ),
        )
        raised.append((partner_id, str(row["RowKey"]), action))
    return raised


def _event_tenant(row: Any) -> str | None:
    """The customer tenant a request's events are about: its tenant, or its org's tenant."""
    return str(row.get("tenantId") or row.get("orgTenantId") or "") or None


class ClosedControllerRequests:
    """Requests about Tenantry's own (controller) data: closed ones go 24 months after they closed,
    as long as the event log that records them. They belong to no partner, so no partner's end
    takes them; an open one is never due."""

    name = "privacyrequests.controller"
    covers = (TABLE,)
    tested_by = (
        "tests/integration/test_controller_requests.py::"
        "test_controller_requests_run_on_the_30_day_clock_and_go_24_months_after_they_close"
    )

    def candidates(self, scope: SweepScope, after: str | None) -> Iterator[Candidate]:
        from shared.partners.subscription import add_months
        from shared.privacy.retention import EVENT_LOG_MONTHS

        rows = scope.account.table(TABLE).query_entities(
            f"{tables.partition(CONTROLLER_PARTITION)} and RowKey lt '~'", select=["RowKey", "closedAt"]
        )
        for row in rows:  # RowKey order
            closed = row.get("closedAt")
            key = str(row["RowKey"])
            due = closed and add_months(parse_iso(str(closed)), EVENT_LOG_MONTHS) <= scope.as_of
            if due and (after is None or key > after):
                yield Candidate(key, "data-subject requests", key)

    def delete(self, scope: SweepScope, candidate: Candidate) -> bool:
        from shared.privacy.retention import delete_row

        return delete_row(scope.account.table(TABLE), CONTROLLER_PARTITION, str(candidate.ref))


def request_rules() -> list[RetentionRule]:
    """A terminated partner's requests go with its personnel data, 24 months after the end: as long
    as the event log that records their transitions, and before its partner row goes."""
    from shared.privacy.flags import FLAGS
    from shared.privacy.subjects import erasure_journals

    return [
        ClosedControllerRequests(),
        PartitionRows(
            "privacyrequests.rows",
            TABLE,
            "data-subject requests",
            personnel_data_at,
            tested_by="tests/integration/test_privacy_requests_lifecycle.py::"
            "test_a_terminated_partners_requests_go_24_months_after_the_end",
        ),
        # An erasure's journal (counts, certificate) is evidence of its request: it goes with it.
        PartitionRows(
            "subjectflags.erasure-journals",
            FLAGS,
            "data-subject requests",
            personnel_data_at,
            tested_by="tests/integration/test_retention_rules.py::"
            "test_a_terminated_partners_contacts_breaches_and_requests_go_even_after_missed_sweeps",
            partition=erasure_journals,
        ),
    ]

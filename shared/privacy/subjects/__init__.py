"""What we hold on one data subject: locate, export, erase (with crypto-shredding), rectify, restrict.

The seam between the data-subject-request workflow (shared/privacy/subject_requests.py) and the data:
`SubjectData` is built once in functions/deps.py, with the areas holding subjects (tenants' end
users, organisations' system users) as `SubjectHolders`: privacy asks them, never their tables.
Every method is idempotent (a queue job may run twice after a crash) and raises
`shared.errors.ProblemError` for domain refusals.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import ConfigDict, Field, model_validator

from shared.errors import FieldError, ProblemError, not_found, validation_failed
from shared.models import ApiInput, ApiModel, UtcDateTime, exactly_one_of
from shared.privacy.flags import FLAGS, org_partition, restricted_in_org, restriction_of

if TYPE_CHECKING:
    from shared.clock import Clock
    from shared.keys import KeyRing, MasterKey
    from shared.privacy.subjects.holdings import Holdings, SubjectHolders
    from shared.storage.router import AccountStorage, StorageRouter

# The categories a subject's data falls into, as they appear in results and certificates.
Category = Literal[
    "tenantUser",  # the end user's row synced from Microsoft 365 (tenantusers)
    "tenantGroupMemberships",  # groups listing the end user as a member (tenantdirgroups)
    "tenantConfigurationSnapshots",  # snapshots naming the end user as a role holder (tenantsnapshots)
    "tenantBaselineMentions",  # baseline check results naming the end user in a sample (tenantbaselines)
    "orgUser",  # the Dynamics system user (orgusers)
    "devices",  # push devices registered by the system user (devices)
    "notificationDeliveries",  # per-device delivery metadata (notifydeliveries)
    "notificationRecipients",  # notifications addressed to the system user by id (notifications)
    "consents",  # marketing consent records (consent ledger)
    "auditEvents",  # audit events naming the subject (events<yyyymm>)
    "restriction",  # the restriction/objection flag itself (subjectflags)
    "alertRecipients",  # the partner's alert e-mail subscriptions writing to the address (alertsubscriptions)
    "complaints",  # complaints the person made to the partner (complaints), found by address
    "correspondence",  # threads the partner held with the person, with messages (correspondence)
    "reportRows",  # the end user's rows in reports and the end-user search (reportrows)
    "offboardingOperations",  # operations offboarding the end user (tenantlifecycle)
    "offboardingHandovers",  # operations handing a leaver's OneDrive to the end user (tenantlifecycle)
]

RestrictionKind = Literal["restriction", "objection"]


class SubjectIdentifier(ApiInput):
    """How a request names its subject: exactly one of the four identifiers."""

    model_config = ConfigDict(json_schema_extra=exactly_one_of("email", "objectId", "systemUserId", "phone"))

    email: str | None = Field(
        default=None,
        min_length=3,
        max_length=320,
        pattern=r"^[^@\s]+@[^@\s]+$",
        description="Email address or UPN, compared case-insensitively.",
    )
    object_id: str | None = Field(
        default=None, min_length=1, max_length=64, description="Entra object id (tenant end users)."
    )
    system_user_id: str | None = Field(
        default=None, min_length=1, max_length=64, description="Dynamics system-user id (org users)."
    )
    phone: str | None = Field(
        default=None, min_length=3, max_length=32, description="Phone number as stored (org users)."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> SubjectIdentifier:
        given = [v for v in (self.email, self.object_id, self.system_user_id, self.phone) if v]
        if len(given) != 1:
            raise ValueError("exactly one of email, objectId, systemUserId, phone must be given")
        return self


@dataclass(frozen=True)
class SubjectScope:
    """Where the subject is: one tenant or one Dynamics organisation of one partner."""

    partner_id: str
    region: str
    tenant_id: str | None = None  # exactly one of tenant_id / org_id
    org_id: str | None = None

    def __post_init__(self) -> None:
        if (self.tenant_id is None) == (self.org_id is None):
            raise ValueError("a subject scope names exactly one of tenant_id or org_id")


class SubjectMatch(ApiModel):
    """Which records exist for the subject (no side effects)."""

    found: bool
    subject_key: str | None = Field(
        default=None,
        description="The subject's stable id in the scope: Entra object id or system-user id.",
    )
    counts: dict[str, int] = Field(default_factory=dict, description="Records per category.")
    restricted: RestrictionKind | None = None
    rows_read: int = 0


class ExportResult(ApiModel):
    blob_name: str
    rows_read: int
    counts: dict[str, int]
    bytes: int
    created_at: UtcDateTime


class KeptRecord(ApiModel):
    category: str
    count: int
    why: str
    until: UtcDateTime | None = None


class ErasureCertificate(ApiModel):
    request_id: str
    subject_key: str | None = Field(
        description=(
            "A keyed one-way hash of the subject's id in its scope (for a tenant end user, the "
            "erasure marker kept so sync does not import them again): the certificate names no one."
        )
    )
    deleted: dict[str, int]
    kept: list[KeptRecord]
    crypto_shredded: dict[str, int]
    issued_at: UtcDateTime


class RectificationResult(ApiModel):
    request_id: str
    subject_key: str
    rectified: dict[str, str] = Field(description="Field -> new value, as stored now.")
    rectified_at: UtcDateTime


class ConsentSource(Protocol):
    """The consent ledger (shared/privacy/consent.py), as exports and erasure use it."""

    def records_for(self, partner_id: str, email: str) -> Any: ...

    def withdraw_subject(self, partner_id: str, email: str, *, request_id: str) -> int: ...


class ContactSource(Protocol):
    """The complaint register and correspondence (shared/privacy/contact_records.py), by address."""

    def records_for(self, partner_id: str, email: str) -> dict[str, list[dict[str, Any]]]: ...

    def erase_subject(self, partner_id: str, email: str) -> dict[str, int]: ...


EVENT_RETENTION_MONTHS = 24
_ERASURES = "erasures~"  # subjectflags partition prefix of erasure journals (one row per request)


class SubjectData:
    """The subject-level operations over one storage router (every region)."""

    def __init__(
        self,
        storage: StorageRouter,
        clock: Clock,
        master_key: str | MasterKey,
        consents: Callable[[str], ConsentSource] | None = None,
        *,
        pepper: str,
        holders: SubjectHolders,
        contacts: Callable[[str], ContactSource] | None = None,
        ring: KeyRing | None = None,
    ) -> None:
        from shared.keys import pepper_ring
        from shared.privacy.subjects import index

        self.storage = storage
        self.holders = holders
        self.clock = clock
        self._master_key = master_key
        # The subject index under the pepper's versions (version 1 only unless handed the ring).
        self._index_key = index.index_key(ring or pepper_ring(pepper))
        self._consents = consents  # region -> the ledger there
        self._contacts = contacts  # region -> its complaint register and correspondence

    # --- reading ------------------------------------------------------------------------------

    def _gather(self, scope: SubjectScope, who: SubjectIdentifier, *, with_events: bool = True) -> Holdings:
        from shared.audit.seal import SubjectKeyStore
        from shared.privacy.subjects.holdings import Gatherer

        account = self.storage.region(scope.region)
        keys = SubjectKeyStore(account, self._master_key)
        holder = self.holders.of(scope)
        return Gatherer(account, keys, scope, self._index_key, holder).gather(who, with_events=with_events)

    def _consent_records(self, scope: SubjectScope, found: Holdings, who: SubjectIdentifier) -> None:
        if self._consents is None:
            return
        addresses = set(found.addresses)
        if who.email:
            addresses.add(who.email.strip().lower())
        ledger = self._consents(scope.region)
        for address in sorted(addresses):
            records = ledger.records_for(scope.partner_id, address)
            dumped = (
                records.model_dump(mode="json", by_alias=True) if hasattr(records, "model_dump") else records
            )
            contacts = dumped.get("contacts", []) if isinstance(dumped, dict) else []
            ledger_rows = dumped.get("ledger", []) if isinstance(dumped, dict) else []
            found.rows_read += len(contacts) + len(ledger_rows)
            if contacts or ledger_rows:
                found.data.setdefault("consents", []).append({"address": address, **dumped})

    @staticmethod
    def _addresses(found: Holdings, who: SubjectIdentifier) -> list[str]:
        addresses = set(found.addresses) | ({who.email.strip().lower()} if who.email else set())
        return sorted(addresses)

    def _contact_records(self, scope: SubjectScope, found: Holdings, who: SubjectIdentifier) -> None:
        """Complaints and correspondence the partner holds about any of the subject's addresses."""
        if self._contacts is None:
            return
        source = self._contacts(scope.region)
        for address in self._addresses(found, who):
            for category, records in source.records_for(scope.partner_id, address).items():
                found.rows_read += len(records)
                found.data.setdefault(category, []).extend(records)

    def locate(self, scope: SubjectScope, who: SubjectIdentifier) -> SubjectMatch:
        found = self._gather(scope, who)
        self._consent_records(scope, found, who)
        self._contact_records(scope, found, who)
        return SubjectMatch(
            found=bool(found.counts()),
            subject_key=found.subject_key,
            counts=found.counts(),
            restricted=(found.flag or {}).get("kind"),
            rows_read=found.rows_read,
        )

    def export(self, scope: SubjectScope, who: SubjectIdentifier, *, request_id: str) -> ExportResult:
        """Writes the package (same name for the same request: a rerun replaces it)."""
        from shared.clock import isoformat
        from shared.privacy.subjects.holdings import dumps

        found = self._gather(scope, who)
        self._consent_records(scope, found, who)
        self._contact_records(scope, found, who)
        now = self.clock.now()
        package = {
            "format": "tenantry.subject-export/1",
            "requestId": request_id,
            "generatedAt": isoformat(now),
            "controller": {"partnerId": scope.partner_id, "tenantId": scope.tenant_id, "orgId": scope.org_id},
            "subject": {"key": found.subject_key, "restriction": (found.flag or {}).get("kind")},
            "counts": found.counts(),
            "categories": dict(sorted(found.data.items())),
        }
        body = dumps(package)
        blob_name = export_blob_name(scope, request_id)
        account = self.storage.region(scope.region)
        from azure.storage.blob import ContentSettings

        account.container(EXPORTS).upload_blob(
            blob_name,
            body,
            overwrite=True,
            content_settings=ContentSettings(content_type="application/json"),
        )
        return ExportResult(
            blob_name=blob_name,
            rows_read=found.rows_read,
            counts=found.counts(),
            bytes=len(body),
            created_at=now,
        )

    def export_link(self, scope: SubjectScope, blob_name: str, *, ttl: timedelta) -> str:
        from shared.privacy.subjects.links import signed_link

        if not blob_name.startswith(f"{scope.partner_id}/"):
            raise not_found("No such export package.")
        account = self.storage.region(scope.region)
        return signed_link(account, EXPORTS, blob_name, now=self.clock.now(), ttl=ttl)

    # --- erasure ------------------------------------------------------------------------------

    def _journal(self, scope: SubjectScope, request_id: str) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self._flags(scope).get_entity(_ERASURES + scope.partner_id, request_id)
        except ResourceNotFoundError:
            return None

    def _flags(self, scope: SubjectScope) -> Any:
        return self.storage.region(scope.region).table(FLAGS)

    def erase(self, scope: SubjectScope, who: SubjectIdentifier, *, request_id: str) -> ErasureCertificate:
        """Deletes what may go, destroys the key of what must stay; the same certificate every time.

        A journal row (per request) records the counts planned before anything is deleted, so a
        run cut off half-way finishes on the retry with the first run's counts, and a completed
        run answers its stored certificate.
        """
        from azure.data.tables import UpdateMode

        journal = self._journal(scope, request_id)
        if journal is not None and journal.get("certificate"):
            return ErasureCertificate.model_validate_json(str(journal["certificate"]))
        account = self.storage.region(scope.region)
        found = self._gather(scope, who)
        # Planned with the rest, so the certificate counts them however often the job reruns.
        self._contact_records(scope, found, who)
        planned: dict[str, int] = json.loads(str(journal["planned"])) if journal is not None else {}
        if journal is None:
            planned = found.counts()
            self._flags(scope).upsert_entity(
                {
                    "PartitionKey": _ERASURES + scope.partner_id,
                    "RowKey": request_id,
                    "planned": json.dumps(planned),
                    "subjectKey": found.subject_key or "",
                    "months": json.dumps(found.event_months),
                },
                mode=UpdateMode.REPLACE,
            )
            months = found.event_months
        else:
            months = json.loads(str(journal.get("months") or "[]"))
            found.subject_key = found.subject_key or str(journal.get("subjectKey") or "") or None
        withdrawn = self._remove(account, scope, who, found, request_id)
        if withdrawn and "consents" not in planned:
            planned["consents"] = withdrawn
        shredded = planned.pop("auditEvents", 0)
        kept = self._kept(planned, shredded, months)
        if scope.tenant_id is not None and found.subject_key is not None:
            kept.append(
                KeptRecord(
                    category="erasureMarker",
                    count=1,
                    why=(
                        "A keyed one-way hash of the object id, so the tenant sync does not import the user "
                        "again while they exist in the customer's Entra ID (erase them there too)."
                    ),
                    until=None,
                )
            )
        certificate = ErasureCertificate(
            request_id=request_id,
            subject_key=self._subject_ref(scope, found.subject_key),
            deleted={k: v for k, v in sorted(planned.items()) if v},
            kept=kept,
            crypto_shredded={"auditEvents": shredded} if shredded else {},
            issued_at=self.clock.now(),
        )
        stored = certificate.model_dump_json(by_alias=True)
        # What a rerun answers is what was stored (whole seconds), so the first answer is that too.
        certificate = ErasureCertificate.model_validate_json(stored)
        self._flags(scope).update_entity(
            # The journal needed the id to finish a cut-off run; what stays names no one.
            {
                "PartitionKey": _ERASURES + scope.partner_id,
                "RowKey": request_id,
                "certificate": stored,
                "subjectKey": "",
            },
            mode=UpdateMode.MERGE,
        )
        self._record(
            scope,
            "privacy.subject.erased",
            request_id,
            details={"deleted": certificate.deleted, "cryptoShredded": certificate.crypto_shredded},
        )
        return certificate

    def _remove(
        self,
        account: AccountStorage,
        scope: SubjectScope,
        who: SubjectIdentifier,
        found: Holdings,
        request_id: str,
    ) -> int:
        """Deletes what was found, marks a tenant user erased, destroys the key; returns withdrawals."""
        from shared.audit.seal import SubjectKeyStore
        from shared.privacy.subjects.holdings import seal_scope

        # Records that are not the subject's alone (a group's member list) are the area's to change.
        self.holders.of(scope).release(account, scope, found)
        for category, rows in found.rows.items():
            if category == "auditEvents":
                continue
            for table, partition, row_key in rows:
                _delete(account, table, partition, row_key)
        for table, partition, row_key in found.index_rows:
            _delete(account, table, partition, row_key)
        withdrawn = 0
        if self._consents is not None:
            ledger = self._consents(scope.region)
            addresses = set(found.addresses) | ({who.email.strip().lower()} if who.email else set())
            for address in sorted(addresses):
                withdrawn += ledger.withdraw_subject(scope.partner_id, address, request_id=request_id)
        if self._contacts is not None:
            source = self._contacts(scope.region)
            for address in self._addresses(found, who):
                source.erase_subject(scope.partner_id, address)
        if found.subject_key is not None and scope.tenant_id is not None:
            from shared.privacy.subjects import index

            # The user may still be in the customer's directory: sync must not bring them back.
            marker = index.erased_key(self._index_key, scope.partner_id, scope.tenant_id, found.subject_key)
            account.table(index.TABLE).upsert_entity(
                {"PartitionKey": index.erased_partition(scope.partner_id, scope.tenant_id), "RowKey": marker}
            )
        if found.subject_key is not None:
            SubjectKeyStore(account, self._master_key).delete(
                scope.partner_id, seal_scope(scope), found.subject_key
            )
        return withdrawn

    def _subject_ref(self, scope: SubjectScope, subject_key: str | None) -> str | None:
        from shared.privacy.subjects import index

        if subject_key is None:
            return None
        return index.subject_ref(
            self._index_key, scope.partner_id, subject_key, tenant_id=scope.tenant_id, org_id=scope.org_id
        )

    def _kept(self, planned: dict[str, int], shredded: int, months: list[str]) -> list[KeptRecord]:
        kept: list[KeptRecord] = []
        if shredded:
            last = max(months) if months else f"events{self.clock.now():%Y%m}"
            kept.append(
                KeptRecord(
                    category="auditEvents",
                    count=shredded,
                    why=(
                        "The audit log is kept for accountability (Art. 5(2), 30 and 32 GDPR) and is "
                        "tamper-evident; the subject's fields in it were crypto-shredded (their key is "
                        'destroyed), so they read as "[erased]" and the chain still verifies.'
                    ),
                    until=_months_after(last, EVENT_RETENTION_MONTHS),
                )
            )
        if "complaints" in planned:
            kept.append(
                KeptRecord(
                    category="complaints",
                    count=planned["complaints"],
                    why=(
                        "The complaint register keeps each complaint's dates, channel and outcome as "
                        "evidence that it was handled; the person's name, address, phone and the text "
                        "about them were erased."
                    ),
                    until=None,
                )
            )
        if "consents" in planned:
            kept.append(
                KeptRecord(
                    category="consentRevocations",
                    count=planned["consents"],
                    why="Proof that consent was withdrawn (Art. 7(1) GDPR), kept by the consent ledger.",
                    until=None,
                )
            )
        return kept

    def _record(
        self,
        scope: SubjectScope,
        action: str,
        request_id: str,
        *,
        details: dict[str, Any] | None = None,
        changes: dict[str, dict[str, Any]] | None = None,
        subject_key: str | None = None,
    ) -> None:
        from shared.audit.log import AuditLog, NewEvent
        from shared.audit.seal import EventSubject
        from shared.privacy.subjects.holdings import seal_scope

        target: dict[str, Any] = {"type": "dataSubject", "id": subject_key or request_id}
        if scope.tenant_id is not None:
            target["tenantId"] = scope.tenant_id
        else:
            target["orgId"] = scope.org_id
        AuditLog(self.storage.region(scope.region), self.clock, master_key=self._master_key).append(
            scope.partner_id,
            NewEvent(
                action=action,
                actor={"type": "system", "id": "privacy"},
                target=target,
                changes=changes or {},
                details={"privacyRequestId": request_id, **(details or {})},
                subject=EventSubject(seal_scope(scope), subject_key) if subject_key else None,
            ),
        )

    # --- rectification, restriction -----------------------------------------------------------

    def rectify(
        self, scope: SubjectScope, who: SubjectIdentifier, changes: dict[str, str], *, request_id: str
    ) -> RectificationResult:
        """Org users: fullName, email, mobilePhone, as pushed by the organisation. Tenant users: 409.

        A tenant's end users are a copy of the customer's Entra ID that every sync overwrites, so
        they are rectified at the source (the tenant user PATCH writes through Graph).
        """
        if scope.tenant_id is not None:
            raise ProblemError(
                409,
                "rectify-at-source",
                "End users are rectified in the customer's directory.",
                "A tenant's end users are synced from Microsoft Entra ID and the next sync would undo a "
                "change here. Correct them in Entra ID, or through PATCH "
                f"/api/partners/{scope.partner_id}/tenants/{scope.tenant_id}/users/{{userId}} "
                "(displayName, usageLocation, accountEnabled), which writes to Entra ID through Graph.",
            )
        unknown = sorted(set(changes) - set(RECTIFIABLE_ORG_FIELDS))
        if unknown or not changes:
            raise validation_failed(
                [
                    FieldError(
                        f"changes.{name}", f"not rectifiable; one of {', '.join(RECTIFIABLE_ORG_FIELDS)}"
                    )
                    for name in unknown
                ]
                or [FieldError("changes", "at least one field")]
            )
        found = self._gather(scope, who, with_events=False)
        if "orgUser" not in found.data or found.subject_key is None:
            raise not_found("No such subject in this organisation.")
        account = self.storage.region(scope.region)
        row = self.holders.org_users.rectify(account, scope, found.subject_key, changes, self._index_key)
        before = {name: row.get(name) for name in changes}
        diff = {k: {"before": before[k], "after": v} for k, v in changes.items() if before[k] != v}
        if diff:
            self._record(
                scope, "privacy.subject.rectified", request_id, changes=diff, subject_key=found.subject_key
            )
        return RectificationResult(
            request_id=request_id,
            subject_key=found.subject_key,
            rectified=dict(changes),
            rectified_at=self.clock.now(),
        )

    def set_restriction(
        self,
        scope: SubjectScope,
        who: SubjectIdentifier,
        *,
        restricted: bool,
        kind: RestrictionKind,
        request_id: str,
    ) -> None:
        """Flags (or lifts) the subject: sync keeps its data, fan-out and third-party exports skip it."""
        from azure.core.exceptions import ResourceNotFoundError
        from azure.data.tables import UpdateMode

        from shared.clock import isoformat
        from shared.privacy.subjects.holdings import flag_partition

        found = self._gather(scope, who, with_events=False)
        if found.subject_key is None:
            raise not_found("No such subject in this scope.")
        table = self._flags(scope)
        partition = flag_partition(scope)
        current = (found.flag or {}).get("kind")
        if restricted:
            if current == kind:
                return
            table.upsert_entity(
                {
                    "PartitionKey": partition,
                    "RowKey": found.subject_key,
                    "kind": kind,
                    "since": isoformat(self.clock.now()),
                    "requestId": request_id,
                },
                mode=UpdateMode.REPLACE,
            )
        else:
            if current is None:
                return
            with contextlib.suppress(ResourceNotFoundError):
                table.delete_entity(partition, found.subject_key)
        self._record(
            scope,
            f"privacy.subject.{kind}-{'set' if restricted else 'lifted'}",
            request_id,
            subject_key=found.subject_key,
        )

    def is_restricted(self, scope: SubjectScope, who_key: str) -> bool:
        """`who_key` is the subject's stable id in the scope (SubjectMatch.subject_key)."""
        from shared.privacy.subjects.holdings import flag_partition

        return restriction_of(self.storage.region(scope.region), flag_partition(scope), who_key) is not None

    def restricted_in_org(self, region: str, org_id: str) -> frozenset[str]:
        """System users of an organisation who restricted or objected (the fan-out skips their devices)."""
        return restricted_in_org(self.storage.region(region), org_id)


RECTIFIABLE_ORG_FIELDS = ("fullName", "email", "mobilePhone")
EXPORTS = "privacyexports"


def export_blob_name(scope: SubjectScope, request_id: str) -> str:
    return f"{scope.partner_id}/{request_id}.json"


def erasure_journals(partner_id: str) -> str:
    """The `subjectflags` partition of a partner's erasure journals."""
    return _ERASURES + partner_id


def forget_org_subjects(account: AccountStorage, org_id: str) -> None:
    """The org-delete cascade: its subject index entries and restriction flags."""
    from shared.privacy.subjects import index
    from shared.storage.tables import delete_partition

    for partition in (index.org_people_partition(org_id), index.org_devices_partition(org_id)):
        delete_partition(account.table(index.TABLE), partition)
    delete_partition(account.table(FLAGS), org_partition(org_id))


def _delete(account: AccountStorage, table: str, partition: str, row_key: str) -> None:
    from azure.core.exceptions import ResourceNotFoundError

    from shared.privacy.subjects.holdings import table_of

    with contextlib.suppress(ResourceNotFoundError):
        table_of(account, table).delete_entity(partition, row_key)


def _months_after(bucket: str, months: int) -> datetime:
    year, month = int(bucket[-6:-2]), int(bucket[-2:])
    total = year * 12 + (month - 1) + months + 1  # the end of the bucket's month, plus `months`
    return datetime(total // 12, total % 12 + 1, 1, tzinfo=UTC)

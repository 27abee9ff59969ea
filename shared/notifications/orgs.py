"""Dynamics 365 organisations of a partner, their system users and their notification rules.

An organisation is found two ways: under its partner (`orgs`, PartitionKey = partner id) for the
partner API, and by its id alone for Dataverse and devices, through the control account (org id
-> partner id, region; nothing personal), like the partner directory.

Nobody can squat an org id: registering one only records a *pending* registration
(`orgpending`, PartitionKey = org id, RowKey = partner id; several partners may hold one). The id
is claimed (`orgdirectory`, one row per org id, one atomic insert) by the first webhook delivery
that authenticates with a registration's key and carries that same `OrganizationId`: only the
organisation's own Dataverse can send that. Rows of `orgdirectory` written before claims existed
were written at registration by the only partner that held the id, so they read as claims and
their orgs as proven (migration by reading: an org row without `accessState` is proven).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from shared.audit.context import ActionContext, diff
from shared.audit.log import AuditLog
from shared.clock import Clock, isoformat, parse_iso
from shared.errors import FieldError, ProblemError, not_found, validation_failed
from shared.ids import new_id
from shared.keys import (
    DEVICE_KEY,
    WEBHOOK_KEY,
    KeyedHasher,
    KeyRing,
    Verified,
    dependency_report,
    legacy_hmac,
    pepper_ring,
    verify_with_overlap,
)
from shared.notifications import templates
from shared.notifications.models import (
    Administrator,
    Business,
    OrgAccess,
    OrgCreated,
    OrgIn,
    OrgOut,
    OrgPatch,
    OrgSecretOut,
    Recipients,
    RuleIn,
    RuleOut,
    SystemUserIn,
    SystemUserOut,
    WebhookAuth,
)
from shared.notifications.secrets import new_device_key, new_webhook_key
from shared.privacy.subjects.index import index_key, index_org_users
from shared.storage import tables

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage, StorageRouter

DIRECTORY = "orgdirectory"  # the claims: org id -> the partner that proved it
PENDING = "orgpending"  # registrations not proven yet: (org id, partner id) -> region
ORGS = "orgs"
USERS = "orgusers"
RULES = "orgrules"

PENDING_PROOF = "pendingProof"
PROVEN = "proven"
_WAITING = "Waiting for the first webhook delivery, authenticated with this organisation's webhook key, "
_WAITING += "that carries this OrganizationId."


V = TypeVar("V")


def bounded(entries: dict[str, tuple[float, V]], now: float, most: int) -> dict[str, tuple[float, V]]:
    """A cache of (expiry, value) entries cut to at most `most`: the expired go, then the oldest."""
    kept = {key: entry for key, entry in entries.items() if entry[0] > now}
    return dict(list(kept.items())[-most:])


@dataclass(frozen=True)
class OrgLocation:
    org_id: str
    partner_id: str
    region: str


class OrgDirectory:
    """The org id claims and pending registrations in the control account.

    A claim never moves while it stands, but an org can be deleted and registered again under
    another partner (in another region) through another instance. So a claim is remembered for
    `LOCATION_CACHE_SECONDS` at most, and callers validate on a miss or mismatch: a release here
    is seen at once by this process and, elsewhere, the regional row is gone too (which every
    caller reads next; a caller whose org or key does not fit asks again with `fresh=True`). No
    instance keeps a location longer than the bound, whatever path reads it.

    It also remembers, per process, the orgs that webhooks and devices authenticate against
    (their key hashes included) for `ORG_CACHE_SECONDS`: a Dataverse burst then costs no org read
    per call. Rotating a key, changing the webhook authentication or deleting the org forgets it
    here at once, so this instance refuses the old key from the next request; other instances
    refuse it within `ORG_CACHE_SECONDS` (their entry expires and the row is read again).
    """

    ORG_CACHE_SECONDS = 5.0
    # How long a claim's location is trusted without reading it again: long enough that a
    # Dataverse burst reads the control account once per instance, short enough that an org that
    # moved partner is found where it lives even by a path that does not validate.
    LOCATION_CACHE_SECONDS = 30.0
    # Orgs remembered at most: a long-lived instance meets every org of its region in time, and
    # only those of the last few seconds are worth keeping (past the bound, the expired go first).
    MAX_REMEMBERED = 4096

    def __init__(self, router: StorageRouter, *, monotonic: Callable[[], float] = time.monotonic):
        self.router = router
        self._cache: dict[str, tuple[float, OrgLocation]] = {}
        self._lock = threading.Lock()
        self._monotonic = monotonic
        self._orgs: dict[str, tuple[float, Org]] = {}
        # Bumped by every forget: a read that started before a rotation cannot put the old key back.
        self._generation: dict[str, int] = {}

    def remembered(self, org_id: str) -> tuple[Org | None, int]:
        """(the org if remembered and fresh, the generation to hand back to `remember`)."""
        with self._lock:
            entry = self._orgs.get(org_id)
            generation = self._generation.get(org_id, 0)
        if entry is not None and entry[0] > self._monotonic():
            return entry[1], generation
        return None, generation

    def remember(self, org: Org, generation: int) -> None:
        with self._lock:
            if self._generation.get(org.id, 0) == generation:
                now = self._monotonic()
                self._orgs[org.id] = (now + self.ORG_CACHE_SECONDS, org)
                if len(self._orgs) > self.MAX_REMEMBERED:
                    self._orgs = bounded(self._orgs, now, self.MAX_REMEMBERED)

    def forget(self, org_id: str) -> None:
        with self._lock:
            self._orgs.pop(org_id, None)
            self._generation[org_id] = self._generation.get(org_id, 0) + 1

    # --- claims ----------------------------------------------------------------------------

    def claim(self, org_id: str, partner_id: str, region: str) -> tuple[OrgLocation | None, bool]:
        """Claims the org id for this partner with one insert: (the holder afterwards, whether this
        insert made the claim). The holder is this partner when it won now or held it already,
        another when that one was first, None if a claim vanished meanwhile."""
        from azure.core.exceptions import ResourceExistsError

        try:
            self.router.control.table(DIRECTORY).create_entity(
                {"PartitionKey": org_id, "RowKey": "org", "partnerId": partner_id, "region": region}
            )
        except ResourceExistsError:
            return self.locate(org_id, fresh=True), False
        found = OrgLocation(org_id, partner_id, region)
        self._keep(found)
        return found, True

    def release(self, org_id: str, partner_id: str) -> None:
        """Drops the claim if this partner holds it (another partner's claim is never touched)."""
        from azure.core.exceptions import HttpResponseError

        with self._lock:
            self._cache.pop(org_id, None)
        self.forget(org_id)
        table = self.router.control.table(DIRECTORY)
        row = tables.get(table, org_id, "org")
        if row is None or str(row.get("partnerId")) != partner_id:
            return
        with contextlib.suppress(HttpResponseError):
            tables.delete(table, org_id, "org", etag=row.etag)

    def locate(self, org_id: str, *, fresh: bool = False) -> OrgLocation | None:
        """The claim on an org id (who proved it), or None while nobody has."""
        if not fresh:
            with self._lock:
                cached = self._cache.get(org_id)
            if cached is not None and cached[0] > self._monotonic():
                return cached[1]
        from azure.core.exceptions import ResourceNotFoundError

        try:
            row = self.router.control.table(DIRECTORY).get_entity(org_id, "org")
        except ResourceNotFoundError:
            with self._lock:
                self._cache.pop(org_id, None)
            return None
        found = OrgLocation(org_id, str(row["partnerId"]), str(row["region"]))
        if found.region not in self.router.regions:
            return None
        self._keep(found)
        return found

    def resolve(self, org_id: str, use: Callable[[OrgLocation], V]) -> V | None:
        """`use` at the claim's location, None while nobody claims the org. A refusal (ProblemError)
        at a remembered location reads the claim again and, if the org moved, uses it where it lives
        now: a credential of the org's new partner works on an instance that knew the old one."""
        held = self.locate(org_id)
        if held is None:
            return None
        try:
            return use(held)
        except ProblemError:
            fresh = self.locate(org_id, fresh=True)
            if fresh is None or fresh == held:
                raise
            return use(fresh)

    def _keep(self, found: OrgLocation) -> None:
        with self._lock:
            now = self._monotonic()
            self._cache[found.org_id] = (now + self.LOCATION_CACHE_SECONDS, found)
            if len(self._cache) > self.MAX_REMEMBERED:
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}

    # --- pending registrations -------------------------------------------------------------

    def pend(self, org_id: str, partner_id: str, region: str, at: str) -> None:
        from azure.data.tables import UpdateMode

        self.router.control.table(PENDING).upsert_entity(
            {"PartitionKey": org_id, "RowKey": partner_id, "region": region, "registeredAt": at},
            mode=UpdateMode.REPLACE,
        )

    def unpend(self, org_id: str, partner_id: str) -> None:
        self.router.control.table(PENDING).delete_entity(org_id, partner_id)  # no error when absent

    def pending(self, org_id: str, partner_id: str) -> OrgLocation | None:
        """This partner's pending registration of the org id (a point read)."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            row = self.router.control.table(PENDING).get_entity(org_id, partner_id)
        except ResourceNotFoundError:
            return None
        region = str(row["region"])
        return OrgLocation(org_id, partner_id, region) if region in self.router.regions else None

    def list_pending_registrations(self, org_id: str) -> list[OrgLocation]:
        """Every pending registration of the org id (one small partition: a partner or two)."""
        rows = self.router.control.table(PENDING).query_entities(
            "PartitionKey eq @pk", parameters={"pk": org_id}, select=["RowKey", "region"]
        )
        return [
            OrgLocation(org_id, str(r["RowKey"]), str(r["region"]))
            for r in rows
            if str(r["region"]) in self.router.regions
        ]


@dataclass
class Org:
    """The stored organisation (hashes of its secrets included; never sent out as is)."""

    id: str
    partner_id: str
    unique_name: str
    name: str
    language_code: int
    business: dict[str, Any]
    administrators: list[dict[str, Any]]
    webhook_auth_type: str
    webhook_header_name: str | None
    webhook_key_hash: str
    device_key_hash: str
    created_at: str
    updated_at: str | None = None
    tenant_id: str | None = None
    access_state: str = PROVEN
    access_since: str | None = None
    # The webhook key a rotation replaced, and until when it still authenticates (grace window).
    previous_webhook_key_hash: str | None = None
    previous_webhook_key_until: str | None = None

    @property
    def proven(self) -> bool:
        return self.access_state == PROVEN

    def check_webhook_key(self, given: str, hashes: KeyedHasher, now: datetime) -> Verified:
        """The current webhook key, or the replaced one until its grace window ends: deliveries
        Dataverse sent (or retries) while the partner updates its service endpoint still count.
        `rehash` is set when the current key's hash is under an older pepper version."""
        until = self.previous_webhook_key_until
        return verify_with_overlap(
            hashes,
            given,
            self.webhook_key_hash,
            self.previous_webhook_key_hash,
            in_overlap=until is not None and now < parse_iso(until),
        )

    def to_entity(self) -> dict[str, Any]:
        entity: dict[str, Any] = {
            "PartitionKey": self.partner_id,
            "RowKey": self.id,
            "uniqueName": self.unique_name,
            "name": self.name,
            "languageCode": self.language_code,
            "business": json.dumps(self.business),
            "administrators": json.dumps(self.administrators),
            "webhookAuthType": self.webhook_auth_type,
            "webhookHeaderName": self.webhook_header_name,
            "webhookKeyHash": self.webhook_key_hash,
            "deviceKeyHash": self.device_key_hash,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "tenantId": self.tenant_id,
            "accessState": self.access_state,
            "accessSince": self.access_since,
            "previousWebhookKeyHash": self.previous_webhook_key_hash,
            "previousWebhookKeyUntil": self.previous_webhook_key_until,
        }
        return {k: v for k, v in entity.items() if v is not None}

    @classmethod
    def from_entity(cls, row: Any) -> Org:
        return cls(
            id=str(row["RowKey"]),
            partner_id=str(row["PartitionKey"]),
            unique_name=str(row["uniqueName"]),
            name=str(row["name"]),
            language_code=int(row["languageCode"]),
            business=json.loads(row["business"]),
            administrators=json.loads(row["administrators"]),
            webhook_auth_type=str(row["webhookAuthType"]),
            webhook_header_name=row.get("webhookHeaderName"),
            webhook_key_hash=str(row["webhookKeyHash"]),
            device_key_hash=str(row["deviceKeyHash"]),
            created_at=str(row["createdAt"]),
            updated_at=row.get("updatedAt"),
            tenant_id=row.get("tenantId"),
            # Rows from before claims have no state: they were claimed at registration (proven).
            access_state=str(row.get("accessState") or PROVEN),
            access_since=row.get("accessSince") or str(row["createdAt"]),
            previous_webhook_key_hash=row.get("previousWebhookKeyHash"),
            previous_webhook_key_until=row.get("previousWebhookKeyUntil"),
        )

    def auth(self) -> WebhookAuth:
        return WebhookAuth.model_validate(
            {"type": self.webhook_auth_type, "headerName": self.webhook_header_name}
        )

    def view(self, base_url: str) -> OrgOut:
        return OrgOut(
            id=self.id,
            unique_name=self.unique_name,
            name=self.name,
            language_code=self.language_code,
            business=Business.model_validate(self.business),
            administrators=[Administrator.model_validate(a) for a in self.administrators],
            webhook_auth=self.auth(),
            webhook_url=webhook_url(base_url, self.id),
            tenant_id=self.tenant_id,
            access=OrgAccess(
                state="proven" if self.proven else "pendingProof",
                since=self.access_since or self.created_at,  # type: ignore[arg-type]
                reason=None if self.proven else _WAITING,
            ),
            created_at=self.created_at,  # type: ignore[arg-type]
            updated_at=self.updated_at,  # type: ignore[arg-type]
            previous_webhook_key_valid_until=self.previous_webhook_key_until,  # type: ignore[arg-type]
        )

    def audit_view(self) -> dict[str, Any]:
        """What the audit log keeps of a change: names and settings, never hashes."""
        return {
            "uniqueName": self.unique_name,
            "name": self.name,
            "languageCode": self.language_code,
            "webhookAuthType": self.webhook_auth_type,
            "webhookHeaderName": self.webhook_header_name,
            "tenantId": self.tenant_id,
            "business": self.business,
            "administrators": len(self.administrators),
        }


def webhook_url(base_url: str, org_id: str) -> str:
    return f"{base_url.rstrip('/')}/api/dynamics/{org_id}/webhook"


def rows_of(table: Any, partition: str, select: list[str] | None = None) -> Iterator[Any]:
    yield from table.query_entities(
        "PartitionKey eq @pk", parameters={"pk": partition}, select=select, results_per_page=1000
    )


# Kept for the areas that imported it from here; the toolkit's is the one.
delete_partition = tables.delete_partition


class OrgService:
    """One partner's organisations, in its region's account."""

    RULE_CACHE_SECONDS = 5.0
    _rule_cache: dict[str, tuple[float, list[RuleOut]]] = {}
    _rule_lock = threading.Lock()

    def __init__(  # noqa: PLR0917 - storage, identity and adapters of one partner's orgs
        self,
        account: AccountStorage,
        partner_id: str,
        region: str,
        directory: OrgDirectory,
        clock: Clock,
        pepper: str,
        *,
        cascade: Callable[[str], None] | None = None,
        ring: KeyRing | None = None,
    ):
        self.account = account
        self.partner_id = partner_id
        self.region = region
        self.directory = directory
        self.clock = clock
        self.pepper = pepper
        self._cascade = cascade
        # Webhook and device key hashes under the pepper's current version (version 1 only unless
        # handed the configured ring); hashes stored before key ids are `legacy_hmac`'s.
        ring = self.ring = ring or pepper_ring(pepper)
        self.webhook_hashes = ring.hasher(WEBHOOK_KEY, legacy_hmac)
        self.device_key_hashes = ring.hasher(DEVICE_KEY, legacy_hmac)

    def audit(self) -> AuditLog:
        return AuditLog(self.account, self.clock)

    # --- organisations -----------------------------------------------------------------------

    def register(self, body: OrgIn, base_url: str, action: ActionContext) -> OrgCreated:
        """Stores the org pending proof; an org id another partner has proven is refused (409)."""
        org_id = str(body.organization_id).lower()
        holder = self.directory.locate(org_id, fresh=True)
        if holder is not None and holder.partner_id != self.partner_id:
            raise org_claimed()
        webhook_key, device_key = new_webhook_key(self.partner_id), new_device_key()
        now = isoformat(self.clock.now())
        org = Org(
            id=org_id,
            partner_id=self.partner_id,
            unique_name=body.unique_name,
            name=body.name,
            language_code=body.language_code,
            business=body.business.model_dump(mode="json", by_alias=True, exclude_none=True),
            administrators=[
                a.model_dump(mode="json", by_alias=True, exclude_none=True) for a in body.administrators
            ],
            webhook_auth_type=body.webhook_auth.type,
            webhook_header_name=body.webhook_auth.header_name,
            webhook_key_hash=self.webhook_hashes.hash(webhook_key),
            device_key_hash=self.device_key_hashes.hash(device_key),
            created_at=now,
            tenant_id=str(body.tenant_id).lower() if body.tenant_id else None,
            # Only a claim left behind by this partner's own earlier registration makes it proven.
            access_state=PROVEN if holder is not None else PENDING_PROOF,
            access_since=now,
        )
        from azure.core.exceptions import ResourceExistsError

        try:
            self.account.table(ORGS).create_entity(org.to_entity())
        except ResourceExistsError:
            raise _already_registered() from None
        # The regional row first: a pending registration never names an org row that does not exist.
        if holder is None:
            self.directory.pend(org_id, self.partner_id, self.region, now)
        action.record(
            self.audit(),
            self.partner_id,
            "org.registered",
            {"type": "org", "id": org_id},
            details={"uniqueName": org.unique_name, "webhookAuthType": org.webhook_auth_type},
            tenant_id=org.tenant_id,
        )
        view = org.view(base_url)
        return OrgCreated(**view.model_dump(), webhook_key=webhook_key, device_key=device_key)

    def get(self, org_id: str) -> Org:
        return Org.from_entity(self._row(org_id))

    def _row(self, org_id: str) -> tables.Row:
        row = tables.get(self.account.table(ORGS), self.partner_id, org_id.lower())
        if row is None:
            raise not_found("No such organisation.")
        return row

    def settled(self, org: Org) -> Org:
        """The org with its proof as the claims say: a proof that stopped between the claim and
        this row's update (a crash) is finished here. Costs a read only for a pending org."""
        if org.proven:
            return org
        holder = self.directory.locate(org.id, fresh=True)
        if holder is None or holder.partner_id != self.partner_id:
            return org
        return self._mark_proven(org)

    def require_proven(self, org: Org) -> Org:
        """Sending and devices need the org proven: 409 `org-not-proven` before that."""
        org = self.settled(org)
        if not org.proven:
            raise org_not_proven()
        return org

    def prove(self, org: Org, organization_id: str | None, action: ActionContext) -> Org:
        """A delivery authenticated with this pending org's key: its `OrganizationId` must be the
        org's own (403 otherwise, nothing stored); then the first such delivery of any partner
        claims the id (409 `org-claimed` for the others)."""
        if (organization_id or "").lower() != org.id:
            raise ProblemError(
                403,
                "organization-mismatch",
                "Not this organisation's delivery.",
                "This organisation is pending proof: a delivery must carry its own OrganizationId "
                "to prove it, and this one carries another (or none). Nothing was stored.",
            )
        holder, won = self.directory.claim(org.id, self.partner_id, self.region)
        if holder is None or holder.partner_id != self.partner_id:
            raise org_claimed()
        if org.proven:
            return org
        from azure.core.exceptions import ResourceNotFoundError

        try:
            proven = self._mark_proven(org)
        except ResourceNotFoundError:
            # Deleted while this delivery proved it: the claim must not outlive the org.
            self.directory.release(org.id, self.partner_id)
            raise not_found("No such organisation.") from None
        if won:  # once, though the org's first deliveries may arrive together
            target = {"type": "org", "id": org.id}
            action.record(self.audit(), self.partner_id, "org.proven", target, tenant_id=org.tenant_id)
        return proven

    def _mark_proven(self, org: Org) -> Org:
        from azure.data.tables import UpdateMode

        now = isoformat(self.clock.now())
        self.account.table(ORGS).update_entity(
            {"PartitionKey": self.partner_id, "RowKey": org.id, "accessState": PROVEN, "accessSince": now},
            mode=UpdateMode.MERGE,
        )
        self.directory.forget(org.id)
        self.directory.unpend(org.id, self.partner_id)
        return replace(org, access_state=PROVEN, access_since=now)

    def authenticating(self, org_id: str) -> Org:
        """The org a webhook or device key is checked against, remembered a few seconds per process
        (see OrgDirectory: changes made here are seen at once, elsewhere within its TTL)."""
        org_id = org_id.lower()
        org, generation = self.directory.remembered(org_id)
        if org is not None and org.partner_id == self.partner_id:
            return org
        org = self.get(org_id)
        self.directory.remember(org, generation)
        return org

    def rekey(self, org: Org, which: str, new_hash: str) -> Org:
        """Stores a presented webhook key's or device key's hash again under the pepper's current
        version (its secret is in hand only now). Costs a read and a write once per key and
        version, never per delivery. Under the row's ETag and only while the row still holds the
        hash that was checked: a rotation meanwhile wins and this is dropped, as is a storage
        error (the key is re-keyed at its next use; the caller's check already passed)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import AzureError
        from azure.data.tables import UpdateMode

        column, before = (
            ("webhookKeyHash", org.webhook_key_hash)
            if which == "webhook"
            else ("deviceKeyHash", org.device_key_hash)
        )
        try:
            row = tables.get(self.account.table(ORGS), self.partner_id, org.id)
            if row is None or row.get(column) != before:
                return org
            self.account.table(ORGS).update_entity(
                {"PartitionKey": self.partner_id, "RowKey": org.id, column: new_hash},
                mode=UpdateMode.MERGE,
                etag=row.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except AzureError:
            return org
        self.directory.forget(org.id)
        if which == "webhook":
            return replace(org, webhook_key_hash=new_hash)
        return replace(org, device_key_hash=new_hash)

    def list_orgs(self, top: int, continuation: str | None) -> tuple[list[Org], str | None]:
        rows, token = tables.page(
            self.account.table(ORGS), tables.partition(self.partner_id), top, continuation
        )
        return [Org.from_entity(r) for r in rows], token

    def update(self, org_id: str, patch: OrgPatch, action: ActionContext) -> Org:
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError
        from azure.data.tables import UpdateMode

        from shared.storage.tables import raise_if_conflict

        row = self._row(org_id)
        org = Org.from_entity(row)
        before = org.audit_view()
        given = patch.model_dump(exclude_unset=True)
        if "name" in given and patch.name is not None:
            org.name = patch.name
        if "unique_name" in given and patch.unique_name is not None:
            org.unique_name = patch.unique_name
        if "language_code" in given and patch.language_code is not None:
            org.language_code = patch.language_code
        if patch.business is not None:
            org.business = patch.business.model_dump(mode="json", by_alias=True, exclude_none=True)
        if patch.administrators is not None:
            org.administrators = [
                a.model_dump(mode="json", by_alias=True, exclude_none=True) for a in patch.administrators
            ]
        if patch.webhook_auth is not None:
            org.webhook_auth_type = patch.webhook_auth.type
            org.webhook_header_name = patch.webhook_auth.header_name
        if "tenant_id" in given:
            org.tenant_id = str(patch.tenant_id).lower() if patch.tenant_id else None
        org.updated_at = isoformat(self.clock.now())
        entity = org.to_entity()
        for name, value in (("webhookHeaderName", org.webhook_header_name), ("tenantId", org.tenant_id)):
            if value is None:
                entity[name] = None
        try:
            self.account.table(ORGS).update_entity(
                entity,
                mode=UpdateMode.REPLACE,
                etag=row.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except HttpResponseError as error:
            raise_if_conflict(error)
            raise
        self.directory.forget(org.id)
        action.record(
            self.audit(),
            self.partner_id,
            "org.updated",
            {"type": "org", "id": org.id},
            changes=diff(before, org.audit_view()),
            tenant_id=org.tenant_id,
        )
        return org

    def rotate(
        self, org_id: str, which: str, action: ActionContext, grace: timedelta = timedelta(0)
    ) -> OrgSecretOut:
        """A new webhook key or device key. The replaced webhook key keeps authenticating for
        `grace` (deliveries in flight while the partner updates Dataverse are not lost; a key
        replaced earlier and still in its window stops now: at most two keys are live); the
        replaced device key, which is publishable, stops at once."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError
        from azure.data.tables import UpdateMode

        from shared.storage.tables import raise_if_conflict

        row = self._row(org_id)
        org = Org.from_entity(row)
        now = self.clock.now()
        secret = new_webhook_key(self.partner_id) if which == "webhook" else new_device_key()
        # The whole row under its ETag: two rotations at once cannot both keep their key.
        entity = dict(row)
        entity["updatedAt"] = isoformat(now)
        until: str | None = None
        if which == "webhook":
            entity["webhookKeyHash"] = self.webhook_hashes.hash(secret)
            entity.pop("previousWebhookKeyHash", None)
            entity.pop("previousWebhookKeyUntil", None)
            if grace > timedelta(0):
                until = isoformat(now + grace)
                entity["previousWebhookKeyHash"] = org.webhook_key_hash
                entity["previousWebhookKeyUntil"] = until
        else:
            entity["deviceKeyHash"] = self.device_key_hashes.hash(secret)
        try:
            self.account.table(ORGS).update_entity(
                entity, mode=UpdateMode.REPLACE, etag=row.etag, match_condition=MatchConditions.IfNotModified
            )
        except HttpResponseError as error:
            raise_if_conflict(error)
            raise
        self.directory.forget(org.id)
        action.record(
            self.audit(),
            self.partner_id,
            f"org.{which}-key-rotated",
            {"type": "org", "id": org.id},
            details={"graceHours": int(grace.total_seconds() // 3600)} if which == "webhook" else None,
            tenant_id=org.tenant_id,
        )
        if which == "webhook":
            return OrgSecretOut(id=org.id, webhook_key=secret, previous_valid_until=until)  # type: ignore[arg-type]
        return OrgSecretOut(id=org.id, device_key=secret)

    def delete(self, org_id: str, action: ActionContext) -> None:
        """Cascades to its users, rules, devices and notification metadata (and payloads)."""
        org = self.get(org_id)
        # The claim and pending registration first: from here on no webhook, device or
        # acknowledgement reaches the org. Another partner's claim on the same id stays.
        self.directory.release(org.id, self.partner_id)
        self.directory.unpend(org.id, self.partner_id)
        counts = {
            "users": delete_partition(self.account.table(USERS), org.id),
            "rules": delete_partition(self.account.table(RULES), org.id),
        }
        if self._cascade is not None:
            self._cascade(org.id)
        self.account.table(ORGS).delete_entity(self.partner_id, org.id)
        with self._rule_lock:
            self._rule_cache.pop(org.id, None)
        action.record(
            self.audit(),
            self.partner_id,
            "org.deleted",
            {"type": "org", "id": org.id},
            details={"uniqueName": org.unique_name, **counts},
            tenant_id=org.tenant_id,
        )

    # --- system users ------------------------------------------------------------------------

    def upsert_users(self, org_id: str, users: list[SystemUserIn], action: ActionContext) -> int:

        org = self.get(org_id)
        table = self.account.table(USERS)
        latest: dict[str, SystemUserIn] = {str(u.system_user_id).lower(): u for u in users}
        entities = []
        for user_id, user in latest.items():
            fields = user.model_dump(mode="json", by_alias=True, exclude={"system_user_id"})
            entity = {"PartitionKey": org.id, "RowKey": user_id, **fields}
            entities.append({k: v for k, v in entity.items() if v is not None})
        tables.write(table, [("replace", e) for e in entities])
        index_org_users(self.account, index_key(self.ring), org.id, entities)
        action.record(
            self.audit(),
            self.partner_id,
            "org.users-upserted",
            {"type": "org", "id": org.id},
            details={"count": len(entities)},
            tenant_id=org.tenant_id,
        )
        return len(entities)

    def list_users(
        self, org_id: str, top: int, continuation: str | None
    ) -> tuple[list[SystemUserOut], str | None]:
        org = self.get(org_id)
        rows, token = tables.page(self.account.table(USERS), tables.partition(org.id), top, continuation)
        items = [
            SystemUserOut(
                system_user_id=str(r["RowKey"]),
                **{k: r.get(k) for k in _USER_FIELDS},
            )
            for r in rows
        ]
        return items, token

    # --- rules ---------------------------------------------------------------------------------

    def _check_rule(self, body: RuleIn) -> None:
        errors = templates.check({"title": body.title, "body": body.body, "link": body.link})
        if body.link is not None and not body.link.startswith("https://"):
            errors.append(FieldError("link", "must be an https URL"))
        if errors:
            raise validation_failed(errors)

    @staticmethod
    def _rule_entity(
        org_id: str, rule_id: str, body: RuleIn, created: str, updated: str | None
    ) -> dict[str, Any]:
        entity: dict[str, Any] = {
            "PartitionKey": org_id,
            "RowKey": rule_id,
            "entity": body.entity,
            "message": body.message,
            "filteringAttributes": json.dumps(body.filtering_attributes)
            if body.filtering_attributes is not None
            else None,
            "title": body.title,
            "body": body.body,
            "link": body.link,
            "recipients": body.recipients.model_dump_json(by_alias=True, exclude_none=True),
            "enabled": body.enabled,
            "createdAt": created,
            "updatedAt": updated,
        }
        return {k: v for k, v in entity.items() if v is not None}

    @staticmethod
    def _rule_out(row: Any) -> RuleOut:
        attributes = row.get("filteringAttributes")
        return RuleOut(
            id=str(row["RowKey"]),
            entity=str(row["entity"]),
            message=str(row["message"]),
            filtering_attributes=json.loads(attributes) if attributes else None,
            title=str(row["title"]),
            body=str(row["body"]),
            link=row.get("link"),
            recipients=Recipients.model_validate_json(row["recipients"]),
            enabled=bool(row.get("enabled", True)),
            created_at=row["createdAt"],
            updated_at=row.get("updatedAt"),
        )

    def create_rule(self, org_id: str, body: RuleIn, action: ActionContext) -> RuleOut:
        org = self.get(org_id)
        self._check_rule(body)
        rule_id = new_id()
        entity = self._rule_entity(org.id, rule_id, body, isoformat(self.clock.now()), None)
        self.account.table(RULES).create_entity(entity)
        self._forget_rules(org.id)
        action.record(
            self.audit(),
            self.partner_id,
            "org.rule-created",
            {"type": "rule", "id": rule_id, "orgId": org.id},
            details={"entity": body.entity, "message": body.message},
            tenant_id=org.tenant_id,
        )
        return self._rule_out(entity)

    def get_rule(self, org_id: str, rule_id: str) -> RuleOut:
        from azure.core.exceptions import ResourceNotFoundError

        org = self.get(org_id)
        try:
            return self._rule_out(self.account.table(RULES).get_entity(org.id, rule_id))
        except ResourceNotFoundError:
            raise not_found("No such rule.") from None

    def list_rules(self, org_id: str, top: int, continuation: str | None) -> tuple[list[RuleOut], str | None]:
        org = self.get(org_id)
        rows, token = tables.page(self.account.table(RULES), tables.partition(org.id), top, continuation)
        return [self._rule_out(r) for r in rows], token

    def update_rule(self, org_id: str, rule_id: str, body: RuleIn, action: ActionContext) -> RuleOut:
        from azure.data.tables import UpdateMode

        org = self.get(org_id)
        before = self.get_rule(org_id, rule_id)
        self._check_rule(body)
        created, now = isoformat(before.created_at), isoformat(self.clock.now())
        entity = self._rule_entity(org_id.lower(), rule_id, body, created, now)
        self.account.table(RULES).update_entity(entity, mode=UpdateMode.REPLACE)
        self._forget_rules(org_id.lower())
        after = self._rule_out(entity)
        action.record(
            self.audit(),
            self.partner_id,
            "org.rule-updated",
            {"type": "rule", "id": rule_id, "orgId": org_id.lower()},
            tenant_id=org.tenant_id,
            changes=diff(
                before.model_dump(mode="json", exclude={"updated_at"}),
                after.model_dump(mode="json", exclude={"updated_at"}),
            ),
        )
        return after

    def delete_rule(self, org_id: str, rule_id: str, action: ActionContext) -> None:
        org = self.get(org_id)
        rule = self.get_rule(org_id, rule_id)
        self.account.table(RULES).delete_entity(org_id.lower(), rule.id)
        self._forget_rules(org_id.lower())
        action.record(
            self.audit(),
            self.partner_id,
            "org.rule-deleted",
            {"type": "rule", "id": rule.id, "orgId": org_id.lower()},
            tenant_id=org.tenant_id,
        )

    def _forget_rules(self, org_id: str) -> None:
        with self._rule_lock:
            self._rule_cache.pop(org_id, None)

    def list_active_rules(self, org_id: str) -> list[RuleOut]:
        """The org's enabled rules, cached a few seconds per process (the webhook's hot path)."""
        now = time.monotonic()
        with self._rule_lock:
            cached = self._rule_cache.get(org_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        rules = [self._rule_out(r) for r in rows_of(self.account.table(RULES), org_id)]
        rules = [r for r in rules if r.enabled]
        with self._rule_lock:
            self._rule_cache[org_id] = (now + self.RULE_CACHE_SECONDS, rules)
            if len(self._rule_cache) > OrgDirectory.MAX_REMEMBERED:
                OrgService._rule_cache = bounded(self._rule_cache, now, OrgDirectory.MAX_REMEMBERED)
        return rules


_USER_FIELDS = (
    "domainName",
    "fullName",
    "email",
    "windowsLiveId",
    "mobilePhone",
    "azureActiveDirectoryObjectId",
)


def org_claimed() -> ProblemError:
    # No hint of who holds it: an org id's holder is nobody else's business.
    return ProblemError(
        409,
        "org-claimed",
        "Organisation claimed.",
        "This organization id is registered and proven by another account.",
    )


def org_not_proven() -> ProblemError:
    return ProblemError(
        409,
        "org-not-proven",
        "Organisation not proven yet.",
        "The organisation is pending proof: configure its Dataverse webhook with this registration's "
        "key; the first delivery carrying its OrganizationId proves it.",
    )


def _already_registered() -> ProblemError:
    return ProblemError(
        409, "already-registered", "Organisation already registered.", "This organization id is registered."
    )


def org_key_dependencies(account: AccountStorage, partner_id: str | None = None) -> dict[str, int]:
    """How many webhook-key and device-key hashes of one region's account (or one partner's)
    depend on each key id (`legacy`: stored before key ids, version 1 of the pepper), replaced
    webhook keys in their grace window included: a pepper version may be dropped when no region
    counts it. One scan, three columns."""
    columns = ["webhookKeyHash", "previousWebhookKeyHash", "deviceKeyHash"]
    query, parameters = "RowKey ne ''", {}
    if partner_id is not None:
        query, parameters = "PartitionKey eq @pk", {"pk": partner_id}
    rows = account.table(ORGS).query_entities(query, parameters=parameters, select=columns)
    return dependency_report(str(row[c]) for row in rows for c in columns if row.get(c))

"""Dynamics 365 organisations of a partner, their system users and their notification rules.

An organisation is found two ways: under its partner (`orgs`, PartitionKey = partner id) for the
partner API, and by its id alone for Dataverse and devices, through the org directory in the
control account (org id -> partner id, region; nothing personal), like the partner directory.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.audit.context import ActionContext, diff
from shared.audit.log import AuditLog
from shared.clock import Clock, isoformat
from shared.errors import FieldError, ProblemError, not_found, validation_failed
from shared.ids import new_id
from shared.notifications import templates
from shared.notifications.models import (
    Administrator,
    Business,
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
from shared.notifications.secrets import hash_key, new_device_key, new_webhook_key
from shared.privacy.subjects.index import index_key, index_org_users
from shared.storage.entities import page

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage, StorageRouter

DIRECTORY = "orgdirectory"
ORGS = "orgs"
USERS = "orgusers"
RULES = "orgrules"


@dataclass(frozen=True)
class OrgLocation:
    org_id: str
    partner_id: str
    region: str


class OrgDirectory:
    """org id -> (partner id, region) in the control account. An org never moves, so lookups are
    cached for the process; a removal here is seen at once by this process and, elsewhere, the
    regional row is gone too (which every caller reads next).

    It also remembers, per process, the orgs that webhooks and devices authenticate against
    (their key hashes included) for `ORG_CACHE_SECONDS`: a Dataverse burst then costs no org read
    per call. Rotating a key, changing the webhook authentication or deleting the org forgets it
    here at once, so this instance refuses the old key from the next request; other instances
    refuse it within `ORG_CACHE_SECONDS` (their entry expires and the row is read again).
    """

    ORG_CACHE_SECONDS = 5.0

    def __init__(self, router: StorageRouter, *, monotonic: Callable[[], float] = time.monotonic):
        self.router = router
        self._cache: dict[str, OrgLocation] = {}
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
                self._orgs[org.id] = (self._monotonic() + self.ORG_CACHE_SECONDS, org)

    def forget(self, org_id: str) -> None:
        with self._lock:
            self._orgs.pop(org_id, None)
            self._generation[org_id] = self._generation.get(org_id, 0) + 1

    def claim(self, org_id: str, partner_id: str, region: str) -> bool:
        from azure.core.exceptions import ResourceExistsError

        try:
            self.router.control.table(DIRECTORY).create_entity(
                {"PartitionKey": org_id, "RowKey": "org", "partnerId": partner_id, "region": region}
            )
        except ResourceExistsError:
            return False
        return True

    def remove(self, org_id: str) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        with self._lock:
            self._cache.pop(org_id, None)
        self.forget(org_id)
        with contextlib.suppress(ResourceNotFoundError):
            self.router.control.table(DIRECTORY).delete_entity(org_id, "org")

    def locate(self, org_id: str) -> OrgLocation | None:
        with self._lock:
            cached = self._cache.get(org_id)
        if cached is not None:
            return cached
        from azure.core.exceptions import ResourceNotFoundError

        try:
            row = self.router.control.table(DIRECTORY).get_entity(org_id, "org")
        except ResourceNotFoundError:
            return None
        found = OrgLocation(org_id, str(row["partnerId"]), str(row["region"]))
        if found.region not in self.router.regions:
            return None
        with self._lock:
            self._cache[org_id] = found
        return found


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
            created_at=self.created_at,  # type: ignore[arg-type]
            updated_at=self.updated_at,  # type: ignore[arg-type]
        )

    def audit_view(self) -> dict[str, Any]:
        """What the audit log keeps of a change: names and settings, never hashes."""
        return {
            "uniqueName": self.unique_name,
            "name": self.name,
            "languageCode": self.language_code,
            "webhookAuthType": self.webhook_auth_type,
            "webhookHeaderName": self.webhook_header_name,
            "business": self.business,
            "administrators": len(self.administrators),
        }


def webhook_url(base_url: str, org_id: str) -> str:
    return f"{base_url.rstrip('/')}/api/dynamics/{org_id}/webhook"


def _quote(value: str) -> str:
    return value.replace("'", "''")


def rows_of(table: Any, partition: str, select: list[str] | None = None) -> Iterator[Any]:
    yield from table.query_entities(
        "PartitionKey eq @pk", parameters={"pk": partition}, select=select, results_per_page=1000
    )


def delete_partition(table: Any, partition: str) -> int:
    """Deletes every row of a partition in transactions of 100; returns how many went."""
    from azure.data.tables import TableTransactionError

    deleted = 0
    batch: list[Any] = []

    def flush() -> None:
        nonlocal deleted
        if not batch:
            return
        try:
            table.submit_transaction([("delete", row) for row in batch])
        except TableTransactionError:
            for row in batch:  # someone removed one meanwhile: one by one, missing ones are fine
                table.delete_entity(row["PartitionKey"], row["RowKey"])
        deleted += len(batch)
        batch.clear()

    for row in rows_of(table, partition, ["PartitionKey", "RowKey"]):
        batch.append({"PartitionKey": row["PartitionKey"], "RowKey": row["RowKey"]})
        if len(batch) == 100:
            flush()
    flush()
    return deleted


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
    ):
        self.account = account
        self.partner_id = partner_id
        self.region = region
        self.directory = directory
        self.clock = clock
        self.pepper = pepper
        self._cascade = cascade

    def audit(self) -> AuditLog:
        return AuditLog(self.account, self.clock)

    # --- organisations -----------------------------------------------------------------------

    def register(self, body: OrgIn, base_url: str, action: ActionContext) -> OrgCreated:
        org_id = str(body.organization_id).lower()
        webhook_key, device_key = new_webhook_key(), new_device_key()
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
            webhook_key_hash=hash_key(webhook_key, self.pepper),
            device_key_hash=hash_key(device_key, self.pepper),
            created_at=now,
        )
        table = self.account.table(ORGS)
        from azure.core.exceptions import ResourceExistsError

        try:
            table.create_entity(org.to_entity())
        except ResourceExistsError:
            raise _already_registered() from None
        # The regional row first: the directory never names an org whose row does not exist.
        if not self.directory.claim(org_id, self.partner_id, self.region):
            table.delete_entity(self.partner_id, org_id)
            raise _already_registered()
        action.record(
            self.audit(),
            self.partner_id,
            "org.registered",
            {"type": "org", "id": org_id},
            details={"uniqueName": org.unique_name, "webhookAuthType": org.webhook_auth_type},
        )
        view = org.view(base_url)
        return OrgCreated(**view.model_dump(), webhook_key=webhook_key, device_key=device_key)

    def get(self, org_id: str) -> Org:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return Org.from_entity(self.account.table(ORGS).get_entity(self.partner_id, org_id.lower()))
        except ResourceNotFoundError:
            raise not_found("No such organisation.") from None

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

    def list_orgs(self, top: int, continuation: str | None) -> tuple[list[Org], str | None]:
        rows, token = page(
            self.account.table(ORGS), f"PartitionKey eq '{_quote(self.partner_id)}'", top, continuation
        )
        return [Org.from_entity(r) for r in rows], token

    def update(self, org_id: str, patch: OrgPatch, action: ActionContext) -> Org:
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError
        from azure.data.tables import UpdateMode

        from shared.storage.entities import raise_if_conflict

        row = self.account.table(ORGS).get_entity(self.partner_id, self.get(org_id).id)
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
        org.updated_at = isoformat(self.clock.now())
        entity = org.to_entity()
        if org.webhook_header_name is None:
            entity["webhookHeaderName"] = None
        try:
            self.account.table(ORGS).update_entity(
                entity,
                mode=UpdateMode.REPLACE,
                etag=row.metadata["etag"],
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
        )
        return org

    def rotate(self, org_id: str, which: str, action: ActionContext) -> OrgSecretOut:
        """A new webhook key or device key; the old one stops working at once."""
        org = self.get(org_id)
        secret = new_webhook_key() if which == "webhook" else new_device_key()
        field = "webhookKeyHash" if which == "webhook" else "deviceKeyHash"
        from azure.data.tables import UpdateMode

        self.account.table(ORGS).update_entity(
            {
                "PartitionKey": self.partner_id,
                "RowKey": org.id,
                field: hash_key(secret, self.pepper),
                "updatedAt": isoformat(self.clock.now()),
            },
            mode=UpdateMode.MERGE,
        )
        self.directory.forget(org.id)
        action.record(
            self.audit(), self.partner_id, f"org.{which}-key-rotated", {"type": "org", "id": org.id}
        )
        if which == "webhook":
            return OrgSecretOut(id=org.id, webhook_key=secret)
        return OrgSecretOut(id=org.id, device_key=secret)

    def delete(self, org_id: str, action: ActionContext) -> None:
        """Cascades to its users, rules, devices and notification metadata (and payloads)."""
        org = self.get(org_id)
        # The directory first: from here on no webhook, device or acknowledgement reaches the org.
        self.directory.remove(org.id)
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
        )

    # --- system users ------------------------------------------------------------------------

    def upsert_users(self, org_id: str, users: list[SystemUserIn], action: ActionContext) -> int:
        from azure.data.tables import UpdateMode

        org = self.get(org_id)
        table = self.account.table(USERS)
        latest: dict[str, SystemUserIn] = {str(u.system_user_id).lower(): u for u in users}
        entities = []
        for user_id, user in latest.items():
            fields = user.model_dump(mode="json", by_alias=True, exclude={"system_user_id"})
            entity = {"PartitionKey": org.id, "RowKey": user_id, **fields}
            entities.append({k: v for k, v in entity.items() if v is not None})
        for start in range(0, len(entities), 100):
            table.submit_transaction(
                [("upsert", e, {"mode": UpdateMode.REPLACE}) for e in entities[start : start + 100]]
            )
        index_org_users(self.account, index_key(self.pepper), org.id, entities)
        action.record(
            self.audit(),
            self.partner_id,
            "org.users-upserted",
            {"type": "org", "id": org.id},
            details={"count": len(entities)},
        )
        return len(entities)

    def list_users(
        self, org_id: str, top: int, continuation: str | None
    ) -> tuple[list[SystemUserOut], str | None]:
        org = self.get(org_id)
        rows, token = page(
            self.account.table(USERS), f"PartitionKey eq '{_quote(org.id)}'", top, continuation
        )
        items = [
            SystemUserOut(
                system_user_id=str(r["RowKey"]),
                **{k: r.get(k) for k in ("domainName", "fullName", "email", "windowsLiveId", "mobilePhone")},
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
        rows, token = page(
            self.account.table(RULES), f"PartitionKey eq '{_quote(org.id)}'", top, continuation
        )
        return [self._rule_out(r) for r in rows], token

    def replace_rule(self, org_id: str, rule_id: str, body: RuleIn, action: ActionContext) -> RuleOut:
        from azure.data.tables import UpdateMode

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
            changes=diff(
                before.model_dump(mode="json", exclude={"updated_at"}),
                after.model_dump(mode="json", exclude={"updated_at"}),
            ),
        )
        return after

    def delete_rule(self, org_id: str, rule_id: str, action: ActionContext) -> None:
        rule = self.get_rule(org_id, rule_id)
        self.account.table(RULES).delete_entity(org_id.lower(), rule.id)
        self._forget_rules(org_id.lower())
        action.record(
            self.audit(),
            self.partner_id,
            "org.rule-deleted",
            {"type": "rule", "id": rule.id, "orgId": org_id.lower()},
        )

    def _forget_rules(self, org_id: str) -> None:
        with self._rule_lock:
            self._rule_cache.pop(org_id, None)

    def active_rules(self, org_id: str) -> list[RuleOut]:
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
        return rules


def _already_registered() -> ProblemError:
    return ProblemError(
        409, "already-registered", "Organisation already registered.", "This organization id is registered."
    )

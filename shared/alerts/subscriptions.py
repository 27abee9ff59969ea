"""A partner's alert subscriptions: create, read, change, delete, rotate the signing secret.

One row per subscription in `alertsubscriptions` (partition: the partner). A webhook's signing
secrets are sealed (AES-GCM, bound to partner and subscription) because we must sign with them;
the API shows a secret once. Teams URLs carry their own signature in the query string, so the URL
is sealed as well and shown without its query.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from shared.access.reach import TenantReach
from shared.alerts.destinations import DestinationRefusedError, OutboundPolicy
from shared.alerts.models import (
    Channel,
    SecretRotated,
    SecretRotateIn,
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPatch,
    SubscriptionState,
)
from shared.alerts.rules import DEFAULT_UNASSIGNED_THRESHOLD, Severity
from shared.alerts.signing import new_secret
from shared.audit.context import ActionContext
from shared.audit.log import AuditLog
from shared.clock import Clock, isoformat, parse_iso
from shared.errors import ProblemError, forbidden, not_found
from shared.ids import new_id
from shared.partners.access import scope_from_json, scope_of, scope_out, scope_to_json
from shared.storage import tables

if TYPE_CHECKING:
    from shared.access.principals import TenantScope
    from shared.notifications.secrets import TokenCipher
    from shared.storage.router import AccountStorage

TABLE = "alertsubscriptions"
MAX_SUBSCRIPTIONS = 100


def destination_refused(error: DestinationRefusedError) -> ProblemError:
    return ProblemError(422, "destination-not-allowed", "The receiver's URL is not allowed.", str(error))


@dataclass(frozen=True)
class Subscription:
    """A subscription as delivery needs it, secrets opened."""

    id: str
    partner_id: str
    channel: Channel
    url: str | None
    recipients: list[str]
    event_types: list[str]
    scope: TenantScope | None
    min_severity: Severity
    digest: bool
    state: SubscriptionState
    secrets: list[str]  # signing secrets valid now, newest first
    failing: bool
    unassigned_licences_threshold: int = DEFAULT_UNASSIGNED_THRESHOLD


class SubscriptionStore:
    """The rows of one partner's subscriptions."""

    def __init__(self, account: AccountStorage, partner_id: str, clock: Clock, cipher: TokenCipher):
        self.account = account
        self.partner_id = partner_id
        self.clock = clock
        self.cipher = cipher

    @property
    def table(self) -> Any:
        return self.account.table(TABLE)

    def _context(self, subscription_id: str) -> str:
        return f"alerts:{self.partner_id}:{subscription_id}"

    def get_row(self, subscription_id: str) -> tables.Row | None:
        return tables.get(self.table, self.partner_id, subscription_id)

    def list_rows(self) -> list[tables.Row]:
        return list(tables.query(self.table, tables.partition(self.partner_id)))

    def open(self, row: Any) -> Subscription:
        sid = str(row["RowKey"])
        now = self.clock.now()
        secrets = [
            self.cipher.open(entry["s"], self._context(sid))
            for entry in json.loads(row.get("secrets") or "[]")
            if entry.get("until") is None or parse_iso(entry["until"]) > now
        ]
        url = self.cipher.open(str(row["url"]), self._context(sid)) if row.get("url") else None
        return Subscription(
            id=sid,
            partner_id=self.partner_id,
            channel=Channel(row["channel"]),
            url=url,
            recipients=json.loads(row.get("recipients") or "[]"),
            event_types=json.loads(row["eventTypes"]),
            scope=scope_from_json(row.get("tenantScope")),
            min_severity=Severity(row["minSeverity"]),
            digest=bool(row.get("digest")),
            state=SubscriptionState(row["state"]),
            secrets=secrets,
            failing=bool(row.get("failing")),
            unassigned_licences_threshold=_threshold(row),
        )

    def seal_secret(self, subscription_id: str, secret: str) -> str:
        return self.cipher.seal(secret, self._context(subscription_id))

    def seal_url(self, subscription_id: str, url: str) -> str:
        return self.cipher.seal(url, self._context(subscription_id))

    def update(self, subscription_id: str, changes: dict[str, Any]) -> None:
        from azure.data.tables import UpdateMode

        entity = {"PartitionKey": self.partner_id, "RowKey": subscription_id, **changes}
        self.table.update_entity(entity, mode=UpdateMode.MERGE)


def _threshold(row: Any) -> int:
    # Rows written before the setting existed take the default.
    value = row.get("unassignedLicencesThreshold")
    return DEFAULT_UNASSIGNED_THRESHOLD if value is None else int(value)


def shown_url(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def subscription_out(row: Any, url: str | None) -> SubscriptionOut:
    rotated = row.get("secretRotatedAt")
    return SubscriptionOut(
        id=str(row["RowKey"]),
        channel=Channel(row["channel"]),
        url=shown_url(url),
        recipients=json.loads(row.get("recipients") or "[]"),
        event_types=json.loads(row["eventTypes"]),
        tenant_scope=scope_out(row.get("tenantScope")),
        min_severity=Severity(row["minSeverity"]),
        digest=bool(row.get("digest")),
        description=row.get("description"),
        unassigned_licences_threshold=_threshold(row),
        state=SubscriptionState(row["state"]),
        disabled_reason=row.get("disabledReason"),
        created_at=parse_iso(row["createdAt"]),
        secret_rotated_at=parse_iso(rotated) if rotated else None,
    )


class AlertSubscriptions:
    """The subscriptions use case: the same role and reach rules as the rest of the API (a caller
    limited to some tenants subscribes only to those, and sees only such subscriptions)."""

    def __init__(self, store: SubscriptionStore, policy: OutboundPolicy, audit: AuditLog):
        self.store = store
        self.policy = policy
        self.audit = audit

    @property
    def partner_id(self) -> str:
        return self.store.partner_id

    def _visible_row(self, subscription_id: str, reach: TenantReach) -> tables.Row:
        row = self.store.get_row(subscription_id)
        if row is None or not reach.covers(scope_from_json(row.get("tenantScope"))):
            raise not_found("No such alert subscription.")
        return row

    def _out(self, row: Any) -> SubscriptionOut:
        return subscription_out(row, self.store.open(row).url)

    def create_subscription(
        self, request: SubscriptionIn, context: ActionContext, reach: TenantReach
    ) -> SubscriptionCreated:
        scope = scope_of(request.tenant_scope)
        refusal = reach.grant_refusal(scope)
        if refusal is not None:
            raise forbidden(refusal, "A subscription can only reach tenants within your own reach.")
        url = str(request.url) if request.url is not None else None
        if url is not None:
            try:
                self.policy.check(url)
            except DestinationRefusedError as error:
                raise destination_refused(error) from error
        if len(self.store.list_rows()) >= MAX_SUBSCRIPTIONS:
            raise ProblemError(
                409, "subscription-limit-reached", "Too many subscriptions.", f"At most {MAX_SUBSCRIPTIONS}."
            )
        sid = new_id()
        now = self.store.clock.now()
        secret = new_secret() if request.channel is Channel.WEBHOOK else None
        row: dict[str, Any] = {
            "PartitionKey": self.partner_id,
            "RowKey": sid,
            "channel": request.channel.value,
            "url": self.store.seal_url(sid, url) if url else None,
            "recipients": json.dumps(request.recipients),
            "eventTypes": json.dumps(request.event_types),
            "tenantScope": scope_to_json(request.tenant_scope),
            "minSeverity": request.min_severity.value,
            "digest": request.digest,
            "description": request.description,
            "unassignedLicencesThreshold": request.unassigned_licences_threshold,
            "state": SubscriptionState.ACTIVE.value,
            "createdAt": isoformat(now),
            "createdBy": context.actor.id,
            "secrets": json.dumps(
                [{"s": self.store.seal_secret(sid, secret), "until": None}] if secret else []
            ),
            "failing": False,
        }
        tables.write(self.store.table, [("create", {k: v for k, v in row.items() if v is not None})])
        context.record(
            self.audit,
            self.partner_id,
            "alert.subscription.created",
            {"type": "alertSubscription", "id": sid},
            details={"channel": request.channel.value, "eventTypes": request.event_types},
        )
        created = subscription_out(row, url)
        return SubscriptionCreated(**created.model_dump(), secret=secret)

    def list_subscriptions(self, reach: TenantReach) -> list[SubscriptionOut]:
        rows = [r for r in self.store.list_rows() if reach.covers(scope_from_json(r.get("tenantScope")))]
        return [self._out(r) for r in rows]

    def get_subscription(self, subscription_id: str, reach: TenantReach) -> SubscriptionOut:
        return self._out(self._visible_row(subscription_id, reach))

    def update_subscription(
        self, subscription_id: str, patch: SubscriptionPatch, context: ActionContext, reach: TenantReach
    ) -> SubscriptionOut:
        row = self._visible_row(subscription_id, reach)
        changes: dict[str, Any] = {}
        if patch.event_types is not None:
            changes["eventTypes"] = json.dumps(patch.event_types)
        if patch.min_severity is not None:
            changes["minSeverity"] = patch.min_severity.value
        if patch.digest is not None:
            changes["digest"] = patch.digest
        if patch.description is not None:
            changes["description"] = patch.description
        if patch.unassigned_licences_threshold is not None:
            changes["unassignedLicencesThreshold"] = patch.unassigned_licences_threshold
        if (
            patch.state is SubscriptionState.ACTIVE
            and row["channel"] == Channel.EMAIL.value
            and not json.loads(row.get("recipients") or "[]")
        ):
            # Its recipients were erased on a data-subject request (shared/alerts/subjects.py).
            raise ProblemError(
                409,
                "no-recipients",
                "The subscription has no recipient.",
                "Create a new one with recipients.",
            )
        if patch.state is not None and patch.state.value != row["state"]:
            changes["state"] = patch.state.value
            changes["disabledReason"] = (
                "turned off by the partner" if patch.state is SubscriptionState.DISABLED else ""
            )
            changes["failing"] = False
        if changes:
            self.store.update(subscription_id, changes)
            context.record(
                self.audit,
                self.partner_id,
                "alert.subscription.updated",
                {"type": "alertSubscription", "id": subscription_id},
                details={"fields": sorted(changes)},
            )
        return self._out(self._visible_row(subscription_id, reach))

    def delete_subscription(self, subscription_id: str, context: ActionContext, reach: TenantReach) -> None:
        self._visible_row(subscription_id, reach)
        tables.delete(self.store.table, self.partner_id, subscription_id)
        context.record(
            self.audit,
            self.partner_id,
            "alert.subscription.deleted",
            {"type": "alertSubscription", "id": subscription_id},
        )

    def rotate_secret(
        self, subscription_id: str, request: SecretRotateIn, context: ActionContext, reach: TenantReach
    ) -> SecretRotated:
        """A new secret signs from now on; the previous one signs too until the overlap ends, so
        receivers can switch without losing a delivery (Standard Webhooks sends both signatures)."""
        row = self._visible_row(subscription_id, reach)
        if row["channel"] != Channel.WEBHOOK.value:
            raise ProblemError(409, "no-signing-secret", "Nothing to rotate.", "Only webhooks are signed.")
        now = self.store.clock.now()
        until = now + timedelta(hours=request.overlap_hours)
        previous = [
            {**entry, "until": entry.get("until") or isoformat(until)}
            for entry in json.loads(row.get("secrets") or "[]")
            if entry.get("until") is None or parse_iso(entry["until"]) > now
        ][:1]
        secret = new_secret()
        entries = [{"s": self.store.seal_secret(subscription_id, secret), "until": None}, *previous]
        self.store.update(
            subscription_id, {"secrets": json.dumps(entries), "secretRotatedAt": isoformat(now)}
        )
        context.record(
            self.audit,
            self.partner_id,
            "alert.subscription.secretRotated",
            {"type": "alertSubscription", "id": subscription_id},
            details={"overlapHours": request.overlap_hours},
        )
        return SecretRotated(secret=secret, previous_valid_until=_whole_seconds(until))


def _whole_seconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


class SubscriptionSecretRekey:
    """A subscription's sealed URL and signing secrets as the background re-keying sees them
    (`shared/storage/rekeying.py`): sealed again under the first DEVICE_TOKEN_KEY."""

    master = "tokencipher"
    table = TABLE
    columns: tuple[str, ...] = ("url", "secrets")
    where = "RowKey ne ''"

    def __init__(self, cipher: TokenCipher):
        self.cipher = cipher

    def key_ids(self, row: Any) -> list[str]:
        sealed = [str(row["url"])] if row.get("url") else []
        sealed += [str(entry["s"]) for entry in json.loads(row.get("secrets") or "[]") if entry.get("s")]
        return [self.cipher.key_id_of(value) for value in sealed]

    def rekey(self, row: Any) -> dict[str, Any] | None:
        context = f"alerts:{row['PartitionKey']}:{row['RowKey']}"
        changes: dict[str, Any] = {}
        if row.get("url") and (url := self.cipher.reseal(str(row["url"]), context)) is not None:
            changes["url"] = url
        entries = json.loads(row.get("secrets") or "[]")
        resealed = [
            {**entry, "s": self.cipher.reseal(str(entry["s"]), context) or entry["s"]}
            if entry.get("s")
            else entry
            for entry in entries
        ]
        if resealed != entries:
            changes["secrets"] = json.dumps(resealed)
        return changes or None

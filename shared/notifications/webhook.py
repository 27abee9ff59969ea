"""The Dataverse webhook: authenticate the org, read the context, make one notification per rule.

Dataverse waits at most 60 s and retries once, only on 502/503/504; so the work here is small
and bounded (the org and its rules, both remembered a few seconds; then per matching rule one
insert, which is also the idempotency check, and one queue message) and storage trouble answers
503 (retried), bad input 4xx (not).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ulid import ULID

from shared.errors import FieldError, ProblemError, unauthenticated, validation_failed
from shared.jsonbody import parse_json
from shared.keys import KeyedHasher, Verified
from shared.notifications import templates
from shared.notifications.dataverse import ExecutionContext
from shared.notifications.models import RuleOut
from shared.notifications.orgs import Org, OrgDirectory, OrgLocation, org_claimed
from shared.notifications.payload import NewNotification, Payload
from shared.notifications.secrets import idempotency_hash, webhook_key_partner

if TYPE_CHECKING:
    from shared.notifications.orgs import OrgService

log = logging.getLogger("tenantry.webhook")

SIZE_EXCEEDED_HEADER = "x-ms-dynamics-msg-size-exceeded"


def webhook_key_check(
    org: Org,
    code: str | None,
    headers: Mapping[str, str],
    hashes: KeyedHasher,
    *,
    now: datetime | None = None,
) -> Verified:
    """Constant-time check of the WebhookKey `code` or the configured header: the org's key, or
    the key its last rotation replaced until that key's grace window ends (at `now`); `rehash`
    when the key's hash should be stored again under the pepper's current version."""
    if org.webhook_auth_type == "HttpHeader":
        given = headers.get((org.webhook_header_name or "").lower())
    else:
        given = code
    return org.check_webhook_key(given or "", hashes, now or datetime.now(UTC))


def webhook_secret_matches(
    org: Org,
    code: str | None,
    headers: Mapping[str, str],
    hashes: KeyedHasher,
    *,
    now: datetime | None = None,
) -> bool:
    return webhook_key_check(org, code, headers, hashes, now=now).ok


def check_webhook_secret(
    org: Org,
    code: str | None,
    headers: Mapping[str, str],
    hashes: KeyedHasher,
    *,
    now: datetime | None = None,
) -> None:
    """`webhook_secret_matches`, or 401."""
    if not webhook_secret_matches(org, code, headers, hashes, now=now):
        raise unauthenticated("The webhook key is missing or wrong.")


def authenticate_delivery(
    directory: OrgDirectory,
    orgs: Callable[[str, str], OrgService],
    org_id: str,
    *,
    code: str | None,
    headers: Mapping[str, str],
) -> tuple[OrgLocation, Org]:
    """The registration a delivery's key belongs to: 401 when none, 409 `org-claimed` when it is
    a pending registration of an org id another partner has proven.

    A claimed org costs what it always did (the claim and the org are remembered); a key that does
    not fit the claim's holder reads the claim again (this process may remember one that was
    released since), then the pending registration of the partner the key names. A key whose
    hash is under an older pepper version is stored again under the current one (once per key
    and version: the org row is then remembered with the new hash).
    """

    def fits(location: OrgLocation) -> Org | None:
        try:
            service = orgs(location.partner_id, location.region)
            org = service.authenticating(org_id)
        except ProblemError:
            return None
        check = webhook_key_check(org, code, headers, service.webhook_hashes, now=service.clock.now())
        if not check.ok:
            return None
        return org if check.rehash is None else service.rekey(org, "webhook", check.rehash)

    holder = directory.locate(org_id)
    if holder is not None:
        org = fits(holder)
        if org is not None:
            return holder, org
        fresh = directory.locate(org_id, fresh=True)
        if fresh is not None and fresh != holder:
            org = fits(fresh)
            if org is not None:
                return fresh, org
        holder = fresh
    named = {webhook_key_partner(value) for value in (code, *headers.values()) if value}
    for partner_id in sorted(p for p in named if p):
        if holder is not None and partner_id == holder.partner_id:
            continue
        location = directory.pending(org_id, partner_id)
        org = fits(location) if location is not None else None
        if location is None or org is None:
            continue
        if holder is not None:
            raise org_claimed()
        return location, org
    raise unauthenticated("Unknown organisation or wrong credential.")


def read_body(raw: bytes) -> Any:
    return parse_json(raw)


def matches(rule: RuleOut, context: ExecutionContext) -> bool:
    if context.entity != rule.entity or (context.message or "").lower() != rule.message.lower():
        return False
    if rule.filtering_attributes and context.target is not None:
        return bool(set(rule.filtering_attributes) & context.changed())
    return True


def notification_id_for(context: ExecutionContext, key: str) -> str:
    """A ULID naming the notification of one delivery and rule: the same on every retry.

    Its time part is the event's OperationCreatedOn (Dataverse repeats it in a retry; 0 when
    absent), so notifications still list in the order things happened; its random part is the
    delivery key's hash (80 bits).
    """
    moment = context.operation_created_on
    millis = min(max(0, int(moment.timestamp() * 1000)), 2**48 - 1) if moment else 0
    digest = hashlib.sha256(key.encode()).digest()
    return str(ULID.from_bytes(millis.to_bytes(6, "big") + digest[:10]))


def plan(
    location: OrgLocation, rules: list[RuleOut], context: ExecutionContext, raw: bytes
) -> list[NewNotification]:
    """One notification per matching rule, its id derived from the Dataverse delivery."""
    if context.organization_id and context.organization_id != location.org_id:
        raise validation_failed([FieldError("OrganizationId", "is not this webhook's organisation")])
    delivery = [context.correlation_id, context.operation_id, context.request_id, context.step_id]
    if any(delivery):
        key_parts = [part or "" for part in delivery] + [str(context.stage or "")]
    else:
        key_parts = [idempotency_hash(raw.decode("utf-8", "replace"))]
    made = []
    for rule in rules:
        if not matches(rule, context):
            continue
        recipients, needs_record = _recipients(rule, context)
        link = templates.render(rule.link, context) if rule.link else None
        payload = Payload(
            title=templates.render(rule.title, context)[:500],
            body=templates.render(rule.body, context)[:4000],
            data={
                k: v
                for k, v in {
                    "entity": context.entity,
                    "recordId": context.record_id,
                    "ruleId": rule.id,
                }.items()
                if v
            },
            link=link if link and link.startswith("https://") else None,
        )
        made.append(
            NewNotification(
                org_id=location.org_id,
                source="webhook",
                recipients=recipients,
                payload=payload,
                rule_id=rule.id,
                entity=context.entity,
                message=context.message,
                record_id=context.record_id,
                needs_record=needs_record,
                notification_id=notification_id_for(context, idempotency_hash(*key_parts, rule.id)),
            )
        )
    return made


def _recipients(rule: RuleOut, context: ExecutionContext) -> tuple[list[str] | None, bool]:
    kind = rule.recipients.type
    if kind == "everyone":
        return None, False
    if kind == "users":
        return [str(u).lower() for u in rule.recipients.users or []], False
    if kind == "initiatingUser":
        user = context.initiating_user_id or context.user_id
        return ([user] if user else []), user is None
    owner = context.owner_id()
    # Without images (size exceeded, or the step registered none) the owner is not in the context:
    # the notification is kept, marked as needing the record, and reaches nobody.
    return ([owner] if owner else []), owner is None

"""Alert subscriptions' e-mail recipients as data subjects: found by address, taken out on erasure.

A recipient is anyone a partner asked alert e-mails to go to (its staff, a customer's contact), so a
data-subject request naming an e-mail address, in any tenant or organisation of the partner, also
finds the partner's e-mail subscriptions writing to it. The holder wraps the scope's own holder
(`shared/privacy/subjects/holdings.py`: a tenant's end users, an organisation's system users) and
adds category `alertRecipients`. Reading is one partition: the partner's subscriptions (at most
`MAX_SUBSCRIPTIONS`), never a scan growing with anything else.

Erasure takes the address out of each subscription; an e-mail subscription left with no recipient
is disabled (not deleted: the partner's own settings and delivery log stay theirs) and cannot be
turned on again without a recipient (recipients are set when a subscription is created).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from shared.access.principals import Actor
from shared.alerts.models import Channel, SubscriptionState
from shared.alerts.subscriptions import TABLE
from shared.audit.context import ActionContext
from shared.audit.log import AuditLog
from shared.privacy.subjects.holdings import read_row
from shared.storage import tables

if TYPE_CHECKING:
    from shared.clock import Clock
    from shared.keys import KeyedHasher
    from shared.privacy.subjects import SubjectIdentifier, SubjectScope
    from shared.privacy.subjects.holdings import Gatherer, Holdings, RectifyingHolder, SubjectHolder
    from shared.storage.router import AccountStorage

CATEGORY = "alertRecipients"
ERASED_REASON = "its only e-mail recipient was erased on a data-subject request"
_PRIVACY = Actor("system", "privacy")


def _addresses(row: Any) -> list[str]:
    return [str(a) for a in json.loads(row.get("recipients") or "[]")]


class AlertRecipients:
    """A `SubjectHolder`: the scope's own holder, plus the partner's alert e-mail recipients."""

    def __init__(self, inner: SubjectHolder, clock: Clock):
        self.inner = inner
        self.clock = clock

    def find(self, gatherer: Gatherer, who: SubjectIdentifier, found: Holdings) -> None:
        self.inner.find(gatherer, who, found)
        if not who.email:
            return  # subscriptions know addresses only
        address = who.email.strip().lower()
        partner = gatherer.scope.partner_id
        rows = list(
            tables.query(
                gatherer.account.table(TABLE),
                f"{tables.partition(partner)} and {tables.eq('channel', Channel.EMAIL.value)}",
                select=["RowKey", "recipients", "eventTypes", "state", "createdAt"],
            )
        )
        found.rows_read += len(rows)
        for row in rows:
            if address not in (a.lower() for a in _addresses(row)):
                continue
            # Only the subject's own address: the subscription's other recipients are other people.
            found.add(
                CATEGORY,
                {
                    "subscriptionId": str(row["RowKey"]),
                    "channel": Channel.EMAIL.value,
                    "address": address,
                    "eventTypes": json.loads(str(row["eventTypes"])),
                    "state": row.get("state"),
                    "createdAt": row.get("createdAt"),
                },
                None,  # the subscription is the partner's: release() takes the address out instead
            )

    def release(self, account: AccountStorage, scope: SubjectScope, found: Holdings) -> None:
        from azure.data.tables import UpdateMode

        self.inner.release(account, scope, found)
        table = account.table(TABLE)
        audit = AuditLog(account, self.clock)
        for record in found.data.get(CATEGORY, []):
            sid, address = str(record["subscriptionId"]), str(record["address"])
            row = read_row(account, TABLE, scope.partner_id, sid)
            if row is None:
                continue  # deleted meanwhile
            before = _addresses(row)
            kept = [a for a in before if a.lower() != address]
            if kept == before:
                continue  # a rerun: taken out already
            changes: dict[str, Any] = {"recipients": json.dumps(kept)}
            if not kept:
                changes.update(
                    state=SubscriptionState.DISABLED.value, disabledReason=ERASED_REASON, failing=False
                )
            table.update_entity(
                {"PartitionKey": scope.partner_id, "RowKey": sid, **changes}, mode=UpdateMode.MERGE
            )
            # Tells the partner why its subscription changed, naming no one.
            ActionContext(_PRIVACY).record(
                audit,
                scope.partner_id,
                "alert.subscription.updated",
                {"type": "alertSubscription", "id": sid},
                details={"fields": sorted(changes), "reason": "a recipient's data-subject erasure"},
            )


class RectifyingAlertRecipients(AlertRecipients):
    """The same, around a holder whose subjects are rectified (an organisation's system users)."""

    def __init__(self, inner: RectifyingHolder, clock: Clock):
        super().__init__(inner, clock)
        self.rectifying = inner

    def rectify(
        self,
        account: AccountStorage,
        scope: SubjectScope,
        subject_key: str,
        changes: dict[str, str],
        index_key: KeyedHasher,
    ) -> dict[str, Any]:
        return self.rectifying.rectify(account, scope, subject_key, changes, index_key)

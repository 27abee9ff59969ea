"""An organisation's system users as data subjects: what privacy asks of the notification area."""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any

from shared.errors import ProblemError
from shared.notifications.devices import DEVICE_PREFIX, INDEX_PREFIX, user_counter_key
from shared.notifications.devices import TABLE as DEVICES
from shared.notifications.orgs import USERS
from shared.notifications.records import DELIVERIES, NOTIFICATIONS
from shared.privacy.subjects import index
from shared.privacy.subjects.holdings import not_applicable, parallel, read_row

if TYPE_CHECKING:
    from shared.keys import KeyedHasher
    from shared.privacy.subjects import SubjectIdentifier, SubjectScope
    from shared.privacy.subjects.holdings import Gatherer, Holdings
    from shared.storage.router import AccountStorage

# Never the token, installation id, footprint or secret: only what describes the device.
_DEVICE_PRIVATE = {"target", "targetHash", "footprint", "secretHash", "PartitionKey", "RowKey"}
_DELIVERY_FIELDS = ("state", "sentAt", "deliveredAt", "errorCode", "reason", "attempts")
RECIPIENT_LISTS = "notificationRecipients"
ERASED = "[erased]"


def _recipients(notification: Any) -> set[str]:
    """The system users a notification was addressed to by id (none when it went to everyone)."""
    listed = notification.get("recipients")
    if not listed or listed == "everyone":
        return set()
    return {str(r).lower() for r in json.loads(str(listed))}


class OrgSubjects:
    """The `RectifyingHolder` of Dynamics organisations' system users (shared/privacy/subjects/holdings.py).

    A system user's deliveries read the organisation's notification list (one partition;
    notifications, not their deliveries) to point-read each (notification, device) pair.
    """

    def find(self, gatherer: Gatherer, who: SubjectIdentifier, found: Holdings) -> None:
        account = gatherer.account
        org = str(gatherer.scope.org_id).lower()
        if who.object_id:
            raise not_applicable("An organisation's users are identified by system-user id, email or phone.")
        if who.system_user_id:
            found.subject_key = who.system_user_id.lower()
        else:
            found.subject_key = self._by_value(gatherer, org, who, found)
        if found.subject_key is None:
            return
        key = found.subject_key
        row = read_row(account, USERS, org, key)
        if row is not None:
            found.rows_read += 1
            record = {k: v for k, v in dict(row).items() if k not in ("PartitionKey", "RowKey")}
            found.add("orgUser", {"systemUserId": key, **record}, (USERS, org, key))
            found.addresses = {v for v in index.org_user_values(row) if "@" in v}
            values = index.org_user_values(row)
            for entry in index.org_user_entries(gatherer.index_key, org, key, values, every_form=True):
                found.index_rows.append((index.TABLE, entry["PartitionKey"], entry["RowKey"]))
        self._devices(gatherer, org, key, found)

    @staticmethod
    def _by_value(gatherer: Gatherer, org: str, who: SubjectIdentifier, found: Holdings) -> str | None:
        account = gatherer.account
        value = index.address_of(who.email) if who.email else index.phone_of(who.phone)
        if value is None:
            raise not_applicable("That phone number has too few digits.")
        partition = index.org_people_partition(org)
        entries = index.value_entries(account, gatherer.index_key, value, lambda _: partition)
        found.rows_read += len(entries)
        matches = set()
        for _, entry in entries:
            row = read_row(account, USERS, org, str(entry["subject"]))
            if row is not None:
                found.rows_read += 1
            if row is None or value not in index.org_user_values(row):
                gatherer.drop_stale(partition, str(entry["RowKey"]))
            else:
                matches.add(str(entry["subject"]))
        if len(matches) > 1:
            raise ProblemError(
                409,
                "ambiguous-subject",
                "More than one system user has that email or phone.",
                "Identify the subject by its system-user id instead.",
            )
        return next(iter(matches), None)

    @staticmethod
    def _devices(gatherer: Gatherer, org: str, key: str, found: Holdings) -> None:
        account = gatherer.account
        # The user's device counter is keyed by their id: it goes with them (nothing to export).
        found.index_rows.append((DEVICES, org, user_counter_key(key)))
        partition = index.org_devices_partition(org)
        entries = index.value_entries(account, gatherer.index_key, key, lambda _: partition)
        found.rows_read += len(entries)
        device_ids: list[str] = []
        for _, entry in entries:
            device_id = str(entry["deviceId"])
            row = read_row(account, DEVICES, org, DEVICE_PREFIX + device_id)
            if row is not None:
                found.rows_read += 1
            if row is None or str(row.get("systemUserId") or "").lower() != key:
                gatherer.drop_stale(partition, str(entry["RowKey"]))
                continue
            found.index_rows.append((index.TABLE, partition, str(entry["RowKey"])))
            device_ids.append(device_id)
            record = {k: v for k, v in dict(row).items() if k not in _DEVICE_PRIVATE}
            found.add("devices", {"deviceId": device_id, **record}, (DEVICES, org, DEVICE_PREFIX + device_id))
            if row.get("targetHash"):
                found.index_rows.append((DEVICES, org, INDEX_PREFIX + str(row["targetHash"])))
        notifications = list(
            account.table(NOTIFICATIONS).query_entities(
                "PartitionKey eq @pk",
                parameters={"pk": org},
                select=["RowKey", "recipients"],
            )
        )
        found.rows_read += len(notifications)
        for notification in notifications:
            if key in _recipients(notification):
                # The notification is the org's: the subject only leaves its recipient list (`release`).
                found.add(RECIPIENT_LISTS, {"notificationId": str(notification["RowKey"])}, None)
        if not device_ids:
            return
        pairs = [(str(n["RowKey"]), d) for n in notifications for d in device_ids]
        rows = parallel(lambda p: read_row(account, DELIVERIES, p[0], p[1]), pairs)
        for (notification_id, device_id), row in zip(pairs, rows, strict=True):
            if row is None:
                continue
            found.rows_read += 1
            record = {k: row.get(k) for k in _DELIVERY_FIELDS if row.get(k) is not None}
            found.add(
                "notificationDeliveries",
                {"notificationId": notification_id, "deviceId": device_id, **record},
                (DELIVERIES, notification_id, device_id),
            )

    @staticmethod
    def indexed_by(account: AccountStorage, org: str, user_id: str) -> set[str] | None:
        """What a stored system user is found by now, or None when there is no row (the subject
        index's background re-keying, shared/privacy/subjects/reindex.py)."""
        row = read_row(account, USERS, org.lower(), user_id.lower())
        return None if row is None else index.org_user_values(row)

    @staticmethod
    def device_user(account: AccountStorage, org: str, device_id: str) -> str | None:
        """The system user a stored device is registered to, or None when there is no device row."""
        row = read_row(account, DEVICES, org.lower(), DEVICE_PREFIX + device_id)
        return None if row is None else str(row.get("systemUserId") or "").lower() or None

    def release(self, account: AccountStorage, scope: SubjectScope, found: Holdings) -> None:
        """Takes the system user out of the recipient lists of the org's notifications (idempotent);
        every other row found is theirs alone (and goes)."""
        from azure.data.tables import UpdateMode

        org, key = str(scope.org_id).lower(), str(found.subject_key)
        for listed in found.data.get(RECIPIENT_LISTS, []):
            row = read_row(account, NOTIFICATIONS, org, str(listed["notificationId"]))
            if row is None or key not in _recipients(row):
                continue
            kept = [ERASED if str(r).lower() == key else r for r in json.loads(str(row["recipients"]))]
            account.table(NOTIFICATIONS).update_entity(
                {"PartitionKey": org, "RowKey": row["RowKey"], "recipients": json.dumps(kept)},
                mode=UpdateMode.MERGE,
            )

    def rectify(
        self,
        account: AccountStorage,
        scope: SubjectScope,
        subject_key: str,
        changes: dict[str, str],
        index_key: KeyedHasher,
    ) -> dict[str, Any]:
        from azure.core.exceptions import ResourceNotFoundError
        from azure.data.tables import UpdateMode

        org = str(scope.org_id).lower()
        row = dict(read_row(account, USERS, org, subject_key) or {})
        account.table(USERS).update_entity(
            {"PartitionKey": org, "RowKey": subject_key, **changes}, mode=UpdateMode.MERGE
        )
        after_row = {**row, **changes}
        index.index_org_users(account, index_key, org, [after_row])
        gone = index.org_user_values(row) - index.org_user_values(after_row)
        for entry in index.org_user_entries(index_key, org, subject_key, gone, every_form=True):
            with contextlib.suppress(ResourceNotFoundError):
                account.table(index.TABLE).delete_entity(entry["PartitionKey"], entry["RowKey"])
        return row

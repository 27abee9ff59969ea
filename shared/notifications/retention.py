"""Retention of the Dynamics data: device tombstones, notification history, a terminated partner's orgs.

Unsubscribing already wipes the token, installation id, footprint and secret at once
(`DeviceRegistry.unsubscribe`); the sweep removes what is left (device id, system user, dates) at
its next run, well inside the 30 days the design promises. Notification metadata and delivery
outcomes go after the partner's days (privacy settings, 90 by default); a terminated partner's
organisations go whole at its end-user date.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from shared.clock import isoformat
from shared.notifications.devices import TABLE, UNSUBSCRIBED
from shared.notifications.orgs import ORGS, RULES, USERS, OrgDirectory
from shared.notifications.records import DELIVERIES, NOTIFICATIONS, PAYLOADS
from shared.privacy.retention import (
    SETTINGS_TABLE,
    Candidate,
    PartnerDataRule,
    PartnerRecord,
    SweepScope,
    delete_row,
    end_user_data_at,
    partners_of,
)
from shared.privacy.settings import notification_days_of
from shared.storage import tables

CATEGORY = "push device ids (Firebase instance ID + browser footprint)"
NOTIFICATION_METADATA = "notification metadata"
DYNAMICS_DATA = "end-user data (Dynamics organisations)"
_TESTS = "tests/integration/test_retention_rules.py::"


class UnsubscribedDevices:
    name = "notifications.unsubscribed-devices"
    covers = (TABLE,)
    tested_by = "tests/integration/test_notify_fanout.py::" + (
        "test_the_privacy_sweep_removes_unsubscribed_device_tombstones"
    )

    def candidates(self, scope: SweepScope, after: str | None) -> Iterator[Candidate]:
        rows = scope.account.table(TABLE).query_entities(
            f"status eq '{UNSUBSCRIBED}'", select=["PartitionKey", "RowKey"], results_per_page=1000
        )
        for row in rows:
            key = f"{row['PartitionKey']}|{row['RowKey']}"
            if after is None or key > after:
                yield Candidate(key, CATEGORY, (str(row["PartitionKey"]), str(row["RowKey"])))

    def delete(self, scope: SweepScope, candidate: Candidate) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        partition, row = candidate.ref
        table = scope.account.table(TABLE)
        try:
            current = table.get_entity(partition, row, select=["status"])
        except ResourceNotFoundError:
            return False  # already gone
        if current.get("status") != UNSUBSCRIBED:
            return False  # registered again meanwhile
        return delete_row(table, partition, row)


def _org_ids(scope: SweepScope, partner_id: str) -> Iterator[str]:
    rows = scope.account.table(ORGS).query_entities(tables.partition(partner_id), select=["RowKey"])
    return (str(row["RowKey"]) for row in rows)  # a partition comes back in RowKey order


def _delete_notification(scope: SweepScope, org_id: str, notification_id: str) -> bool:
    """Its delivery outcomes and any payload left first, the metadata row last (what finds it again)."""
    from azure.core.exceptions import ResourceNotFoundError

    table = scope.account.table(NOTIFICATIONS)
    if tables.get(table, org_id, notification_id, select=["RowKey"]) is None:
        return False
    tables.delete_partition(scope.account.table(DELIVERIES), notification_id)
    with contextlib.suppress(ResourceNotFoundError):
        scope.account.container(PAYLOADS).delete_blob(notification_id)
    return delete_row(table, org_id, notification_id)


class NotificationHistory:
    """Notification metadata and delivery outcomes go the partner's days (30 to 365, 90 unless it
    chose) after the notification was accepted; the organisations stay."""

    name = "notifications.history"
    covers = (NOTIFICATIONS, DELIVERIES)
    tested_by = _TESTS + "test_notification_history_goes_after_the_partners_days"

    def candidates(self, scope: SweepScope, after: str | None) -> Iterator[Candidate]:
        for partner in partners_of(scope):
            settings = tables.get(scope.account.table(SETTINGS_TABLE), partner.id, "settings")
            cutoff = isoformat(scope.as_of - timedelta(days=notification_days_of(settings)))
            for org_id in _org_ids(scope, partner.id):
                prefix = f"{partner.id}/{org_id}/"
                if after is not None and after > prefix + "~":
                    continue  # done before the invocation that saved the cursor stopped
                rows = scope.account.table(NOTIFICATIONS).query_entities(
                    "PartitionKey eq @pk and createdAt lt @cutoff",
                    parameters={"pk": org_id, "cutoff": cutoff},
                    select=["RowKey"],
                )
                for row in rows:
                    key = prefix + str(row["RowKey"])
                    if after is None or key > after:
                        yield Candidate(key, NOTIFICATION_METADATA, (org_id, str(row["RowKey"])))

    def delete(self, scope: SweepScope, candidate: Candidate) -> bool:
        org_id, notification_id = candidate.ref
        return _delete_notification(scope, org_id, notification_id)


class DynamicsDataAtSubscriptionEnd(PartnerDataRule):
    """A terminated partner's organisations at its end-user date, each with all an org's deletion
    takes (`OrgService.delete`): its claim and pending registration, system users, rules, devices,
    notifications with their outcomes and payloads, subject index entries and restriction flags.
    The org row goes last, so a sweep cut off half-way finds the org again and finishes it."""

    name = "notifications.terminated-partner"
    covers = (ORGS, USERS, RULES, TABLE, NOTIFICATIONS, DELIVERIES, "orgdirectory", "orgpending")
    tested_by = _TESTS + "test_a_terminated_partners_dynamics_data_goes_at_end_user_data_at"

    def due(self, scope: SweepScope, partner: PartnerRecord) -> datetime | None:
        return end_user_data_at(partner.subscription)

    def items(self, scope: SweepScope, partner_id: str) -> Iterator[tuple[str, str, Any]]:
        for org_id in _org_ids(scope, partner_id):
            yield org_id, DYNAMICS_DATA, org_id

    def remove(self, scope: SweepScope, partner_id: str, ref: Any) -> bool:
        from shared.notifications.cascade import org_cascade
        from shared.privacy.subjects import forget_org_subjects

        org_id = str(ref)
        directory = OrgDirectory(scope.router)
        directory.release(org_id, partner_id)
        directory.unpend(org_id, partner_id)
        for table in (USERS, RULES):
            tables.delete_partition(scope.account.table(table), org_id)
        org_cascade(scope.account, forget_org_subjects)(org_id)
        return delete_row(scope.account.table(ORGS), partner_id, org_id)

"""A partner's privacy settings: how long its administration records and notification history are kept."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from shared.audit.context import ActionContext
from shared.audit.log import AuditLog
from shared.clock import Clock, isoformat
from shared.models import ApiInput, ApiModel
from shared.privacy.retention import ADMIN_RECORD_YEARS, SETTINGS_TABLE

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage


# Notification metadata and delivery outcomes of a partner's organisations: days kept after a
# notification was accepted, the partner's choice within the bounds (record of processing).
NOTIFICATION_DAYS = 90
NOTIFICATION_DAYS_MIN = 30
NOTIFICATION_DAYS_MAX = 365


def notification_days_of(row: Any | None) -> int:
    """The days a settings row keeps notification history (the default for none, or a bad value)."""
    days = int((row or {}).get("notificationRetentionDays") or NOTIFICATION_DAYS)
    return days if NOTIFICATION_DAYS_MIN <= days <= NOTIFICATION_DAYS_MAX else NOTIFICATION_DAYS


class PrivacySettingsIn(ApiInput):
    administration_retention_years: Literal[7, 10]
    notification_retention_days: int | None = Field(
        default=None,
        ge=NOTIFICATION_DAYS_MIN,
        le=NOTIFICATION_DAYS_MAX,
        description="Days notification metadata and delivery outcomes are kept (default 90; "
        "unchanged if left out).",
    )


class PrivacySettings(ApiModel):
    partner_id: str
    administration_retention_years: int
    notification_retention_days: int = NOTIFICATION_DAYS
    updated_at: str | None


class PrivacySettingsService:
    def __init__(self, account: AccountStorage, clock: Clock):
        self.account = account
        self.clock = clock

    def get(self, partner_id: str) -> PrivacySettings:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            row = self.account.table(SETTINGS_TABLE).get_entity(partner_id, "settings")
        except ResourceNotFoundError:
            return PrivacySettings(
                partner_id=partner_id, administration_retention_years=ADMIN_RECORD_YEARS, updated_at=None
            )
        return PrivacySettings(
            partner_id=partner_id,
            administration_retention_years=int(row["administrationRetentionYears"]),
            notification_retention_days=notification_days_of(row),
            updated_at=str(row["updatedAt"]),
        )

    def update(self, partner_id: str, change: PrivacySettingsIn, context: ActionContext) -> PrivacySettings:
        before = self.get(partner_id)
        days = change.notification_retention_days or before.notification_retention_days
        self.account.table(SETTINGS_TABLE).upsert_entity(
            {
                "PartitionKey": partner_id,
                "RowKey": "settings",
                "administrationRetentionYears": change.administration_retention_years,
                "notificationRetentionDays": days,
                "updatedAt": isoformat(self.clock.now()),
            }
        )
        context.record(
            AuditLog(self.account, self.clock),
            partner_id,
            "privacy.settings.changed",
            {"type": "privacySettings", "id": partner_id},
            changes={
                "administrationRetentionYears": {
                    "before": before.administration_retention_years,
                    "after": change.administration_retention_years,
                },
                "notificationRetentionDays": {"before": before.notification_retention_days, "after": days},
            },
        )
        return self.get(partner_id)

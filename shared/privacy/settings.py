"""A partner's privacy settings: for now, how long its administration records are kept."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from shared.audit.context import ActionContext
from shared.audit.log import AuditLog
from shared.clock import Clock, isoformat
from shared.models import ApiInput, ApiModel
from shared.privacy.retention import ADMIN_RECORD_YEARS, SETTINGS_TABLE

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage


class PrivacySettingsIn(ApiInput):
    administration_retention_years: Literal[7, 10]


class PrivacySettings(ApiModel):
    partner_id: str
    administration_retention_years: int
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
            updated_at=str(row["updatedAt"]),
        )

    def update(self, partner_id: str, change: PrivacySettingsIn, context: ActionContext) -> PrivacySettings:
        before = self.get(partner_id)
        self.account.table(SETTINGS_TABLE).upsert_entity(
            {
                "PartitionKey": partner_id,
                "RowKey": "settings",
                "administrationRetentionYears": change.administration_retention_years,
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
                }
            },
        )
        return self.get(partner_id)

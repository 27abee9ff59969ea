"""CKV_TNT_6: blob services keep soft delete for blobs and containers, and no versions."""

from __future__ import annotations

from typing import Any

from checkov.bicep.checks.resource.base_resource_check import BaseResourceCheck
from checkov.common.models.enums import CheckCategories, CheckResult
from tenantry_support import body, dig

# Long enough to undo a mistake, short enough that erased personal data is really gone.
MAX_DAYS = 30


def retention_ok(policy: Any) -> bool:
    days = dig(policy, "days")
    return dig(policy, "enabled") is True and isinstance(days, int) and 1 <= days <= MAX_DAYS


class BlobSoftDelete(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Blob service: soft delete for blobs and containers (at most 30 days), no versioning",
            id="CKV_TNT_6",
            categories=(CheckCategories.BACKUP_AND_RECOVERY,),
            supported_resources=("Microsoft.Storage/storageAccounts/blobServices",),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        properties = body(conf).get("properties") or {}
        self.evaluated_keys = [
            "properties/deleteRetentionPolicy",
            "properties/containerDeleteRetentionPolicy",
            "properties/isVersioningEnabled",
        ]
        if not retention_ok(properties.get("deleteRetentionPolicy")):
            return CheckResult.FAILED
        if not retention_ok(properties.get("containerDeleteRetentionPolicy")):
            return CheckResult.FAILED
        if properties.get("isVersioningEnabled") is True:
            return CheckResult.FAILED  # versions would outlive an erasure
        return CheckResult.PASSED


check = BlobSoftDelete()

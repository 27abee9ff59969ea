"""CKV_TNT_9: container immutability (the audit anchors' WORM) is time-based, long enough, appends only."""

from __future__ import annotations

from typing import Any

from checkov.bicep.checks.resource.base_resource_check import BaseResourceCheck
from checkov.common.models.enums import CheckCategories, CheckResult
from tenantry_support import body

# The audit log is kept 24 months; its anchors must not be changeable for at least as long.
MIN_DAYS = 730


class AuditAnchorWorm(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Container immutability: time-based for 24 months or more, protected append writes only",
            id="CKV_TNT_9",
            categories=(CheckCategories.BACKUP_AND_RECOVERY,),
            supported_resources=(
                "Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies",
            ),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        properties = body(conf).get("properties") or {}
        self.evaluated_keys = [
            "properties/immutabilityPeriodSinceCreationInDays",
            "properties/allowProtectedAppendWrites",
            "properties/allowProtectedAppendWritesAll",
        ]
        days = properties.get("immutabilityPeriodSinceCreationInDays")
        if isinstance(days, str) and days.isdigit():
            days = int(days)
        if not isinstance(days, int):
            days = self._variable(conf, days)
        if not isinstance(days, int) or days < MIN_DAYS:
            return CheckResult.FAILED
        if properties.get("allowProtectedAppendWrites") is not True:
            return CheckResult.FAILED  # without it the timer could not append to today's blob
        if properties.get("allowProtectedAppendWritesAll") is True:
            return CheckResult.FAILED  # that would let block blobs be added beside the append blobs
        return CheckResult.PASSED

    def _variable(self, conf: dict[str, Any], value: Any) -> Any:
        """The value of a `var` the property names (the parser hands a reference over by its name)."""
        from tenantry_support import parsed_file

        if not isinstance(value, str):
            return None
        variable = parsed_file(self.entity_path).get("variables", {}).get(value)
        found = variable.get("value") if isinstance(variable, dict) else None
        return found if isinstance(found, int) else None


check = AuditAnchorWorm()

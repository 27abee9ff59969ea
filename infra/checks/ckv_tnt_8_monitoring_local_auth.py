"""CKV_TNT_8: Log Analytics and Application Insights refuse local auth; logs kept at most 24 months."""

from __future__ import annotations

from typing import Any

from checkov.bicep.checks.resource.base_resource_check import BaseResourceCheck
from checkov.common.models.enums import CheckCategories, CheckResult
from tenantry_support import body, dig, max_value_of_parameter, parsed_file

# The longest retention the audit promises need: 24 months.
MAX_RETENTION_DAYS = 730


class MonitoringLocalAuth(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Monitoring: local auth off, workspace-based App Insights, retention at most 730 days",
            id="CKV_TNT_8",
            categories=(CheckCategories.LOGGING,),
            supported_resources=("Microsoft.Insights/components", "Microsoft.OperationalInsights/workspaces"),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        properties = body(conf).get("properties") or {}
        if self.entity_type == "Microsoft.Insights/components":
            self.evaluated_keys = ["properties/DisableLocalAuth", "properties/WorkspaceResourceId"]
            if properties.get("DisableLocalAuth") is not True or not properties.get("WorkspaceResourceId"):
                return CheckResult.FAILED
            if properties.get("DisableIpMasking") is True:
                return CheckResult.FAILED  # full client IPs would be stored
            return CheckResult.PASSED

        self.evaluated_keys = ["properties/features/disableLocalAuth", "properties/retentionInDays"]
        if dig(properties, "features", "disableLocalAuth") is not True:
            return CheckResult.FAILED
        retention = properties.get("retentionInDays")
        if isinstance(retention, str):  # a parameter: its @maxValue() must keep the promise
            retention = max_value_of_parameter(parsed_file(self.entity_path), retention)
        if not isinstance(retention, int) or retention > MAX_RETENTION_DAYS:
            return CheckResult.FAILED
        return CheckResult.PASSED


check = MonitoringLocalAuth()

"""CKV_TNT_1: a function app is on Flex Consumption and fetches its package with a managed identity."""

from __future__ import annotations

from typing import Any

from checkov.bicep.checks.resource.base_resource_check import BaseResourceCheck
from checkov.common.models.enums import CheckCategories, CheckResult
from tenantry_support import body, dig

IDENTITY_TYPES = {"UserAssignedIdentity", "SystemAssignedIdentity"}


class FlexDeploymentIdentity(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Function app is on Flex Consumption and reads its package with a managed identity",
            id="CKV_TNT_1",
            categories=(CheckCategories.IAM,),
            supported_resources=("Microsoft.Web/sites",),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        site = body(conf)
        if "functionapp" not in str(site.get("kind", "")):
            return CheckResult.UNKNOWN
        self.evaluated_keys = ["properties/functionAppConfig/deployment/storage"]
        storage = dig(site, "properties", "functionAppConfig", "deployment", "storage")
        if not isinstance(storage, dict) or storage.get("type") != "blobContainer":
            return CheckResult.FAILED  # not a Flex Consumption app, or no deployment container
        authentication = storage.get("authentication")
        if not isinstance(authentication, dict) or authentication.get("type") not in IDENTITY_TYPES:
            return CheckResult.FAILED  # StorageAccountConnectionString: a key in an app setting
        if authentication.get("storageAccountConnectionStringName"):
            return CheckResult.FAILED
        if authentication["type"] == "UserAssignedIdentity" and not authentication.get(
            "userAssignedIdentityResourceId"
        ):
            return CheckResult.FAILED
        return CheckResult.PASSED


check = FlexDeploymentIdentity()

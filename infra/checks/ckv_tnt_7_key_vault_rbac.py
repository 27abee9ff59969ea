"""CKV_TNT_7: a Key Vault uses RBAC only, soft delete and purge protection."""

from __future__ import annotations

from typing import Any

from checkov.bicep.checks.resource.base_resource_check import BaseResourceCheck
from checkov.common.models.enums import CheckCategories, CheckResult
from tenantry_support import body


class KeyVaultRbac(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Key Vault: RBAC authorisation (no access policies), soft delete, purge protection",
            id="CKV_TNT_7",
            categories=(CheckCategories.IAM,),
            supported_resources=("Microsoft.KeyVault/vaults",),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        properties = body(conf).get("properties") or {}
        self.evaluated_keys = [
            "properties/enableRbacAuthorization",
            "properties/accessPolicies",
            "properties/enableSoftDelete",
            "properties/enablePurgeProtection",
        ]
        if properties.get("enableRbacAuthorization") is not True or properties.get("accessPolicies"):
            return CheckResult.FAILED
        if properties.get("enableSoftDelete") is False or properties.get("enablePurgeProtection") is not True:
            return CheckResult.FAILED
        return CheckResult.PASSED


check = KeyVaultRbac()

"""CKV_TNT_5: a storage account is reached with Entra ID only, never publicly, and double-encrypted."""

from __future__ import annotations

from typing import Any

from checkov.bicep.checks.resource.base_resource_check import BaseResourceCheck
from checkov.common.models.enums import CheckCategories, CheckResult
from tenantry_support import body, dig

EXPECTED = {
    ("supportsHttpsTrafficOnly",): True,
    ("minimumTlsVersion",): "TLS1_2",
    ("allowBlobPublicAccess",): False,
    ("allowSharedKeyAccess",): False,  # no account keys and no SAS signed with them
    ("isLocalUserEnabled",): False,
    ("encryption", "requireInfrastructureEncryption"): True,
}


class StorageIdentityOnly(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Storage account: HTTPS/TLS 1.2, no public blobs, no shared keys, infrastructure encryption",
            id="CKV_TNT_5",
            categories=(CheckCategories.ENCRYPTION,),
            supported_resources=("Microsoft.Storage/storageAccounts",),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        properties = body(conf).get("properties") or {}
        wrong = [path for path, value in EXPECTED.items() if dig(properties, *path) != value]
        self.evaluated_keys = ["properties/" + "/".join(path) for path in wrong or EXPECTED]
        return CheckResult.FAILED if wrong else CheckResult.PASSED


check = StorageIdentityOnly()

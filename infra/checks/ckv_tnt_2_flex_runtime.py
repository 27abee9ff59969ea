"""CKV_TNT_2: the function app runs Python 3.11 on Flex Consumption, HTTPS only, TLS 1.2, no FTP."""

from __future__ import annotations

from typing import Any

from checkov.bicep.checks.resource.base_resource_check import BaseResourceCheck
from checkov.common.models.enums import CheckCategories, CheckResult
from tenantry_support import body, dig

RUNTIME = {"name": "python", "version": "3.11"}


class FlexRuntime(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Function app runs Python 3.11 on Flex Consumption, HTTPS only, TLS 1.2, FTP disabled",
            id="CKV_TNT_2",
            categories=(CheckCategories.GENERAL_SECURITY,),
            supported_resources=("Microsoft.Web/sites",),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        site = body(conf)
        if "functionapp" not in str(site.get("kind", "")):
            return CheckResult.UNKNOWN
        properties = site.get("properties") or {}
        self.evaluated_keys = [
            "properties/functionAppConfig/runtime",
            "properties/httpsOnly",
            "properties/siteConfig/minTlsVersion",
            "properties/siteConfig/ftpsState",
        ]
        if dig(properties, "functionAppConfig", "runtime") != RUNTIME:
            return CheckResult.FAILED
        if properties.get("httpsOnly") is not True:
            return CheckResult.FAILED
        if dig(properties, "siteConfig", "minTlsVersion") != "1.2":
            return CheckResult.FAILED
        if dig(properties, "siteConfig", "ftpsState") != "Disabled":
            return CheckResult.FAILED
        return CheckResult.PASSED


check = FlexRuntime()

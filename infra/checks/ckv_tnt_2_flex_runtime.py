"""CKV_TNT_2: the function app runs Python 3.11 on Flex Consumption, HTTPS only, TLS 1.2, and sets no
site property Flex Consumption refuses (`ftpsState` first: ARM error 51021)."""

from __future__ import annotations

from typing import Any

from checkov.bicep.checks.resource.base_resource_check import BaseResourceCheck
from checkov.common.models.enums import CheckCategories, CheckResult
from tenantry_support import body, dig

RUNTIME = {"name": "python", "version": "3.11"}

# Microsoft's "Flex Consumption plan deprecations" (functions-app-settings): site properties that
# must not be sent for a Flex Consumption app; each has a Flex form in functionAppConfig, or none.
FLEX_REFUSED_SITE_CONFIG = (
    "ftpsState",
    "alwaysOn",
    "linuxFxVersion",
    "windowsFxVersion",
    "javaVersion",
    "netFrameworkVersion",
    "powerShellVersion",
    "use32BitWorkerProcess",
    "functionAppScaleLimit",
    "preWarmedInstanceCount",
    "vnetRouteAllEnabled",
    "vnetContentShareEnabled",
    "vnetImagePullEnabled",
    "vnetBackupRestoreEnabled",
)
FLEX_REFUSED_SITE = (
    "containerSize",
    "dnsConfiguration",
    "isXenon",
    "reserved",
    "isReserved",
    "vnetRouteAllEnabled",
)


class FlexRuntime(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Function app: Python 3.11 on Flex Consumption, HTTPS, TLS 1.2, no property Flex refuses",
            id="CKV_TNT_2",
            categories=(CheckCategories.GENERAL_SECURITY,),
            supported_resources=("Microsoft.Web/sites",),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        site = body(conf)
        if "functionapp" not in str(site.get("kind", "")):
            return CheckResult.UNKNOWN
        properties = site.get("properties") or {}
        site_config = properties.get("siteConfig") or {}
        refused = [f"siteConfig/{name}" for name in FLEX_REFUSED_SITE_CONFIG if name in site_config]
        refused += [name for name in FLEX_REFUSED_SITE if name in properties]
        self.evaluated_keys = [
            "properties/functionAppConfig/runtime",
            "properties/httpsOnly",
            "properties/siteConfig/minTlsVersion",
            *(f"properties/{name}" for name in refused),
        ]
        if refused:
            self.details = [f"not supported on Flex Consumption: {', '.join(refused)}"]
            return CheckResult.FAILED
        if dig(properties, "functionAppConfig", "runtime") != RUNTIME:
            return CheckResult.FAILED
        if properties.get("httpsOnly") is not True:
            return CheckResult.FAILED
        if dig(properties, "siteConfig", "minTlsVersion") != "1.2":
            return CheckResult.FAILED
        return CheckResult.PASSED


check = FlexRuntime()

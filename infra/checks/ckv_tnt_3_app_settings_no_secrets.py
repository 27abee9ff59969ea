"""CKV_TNT_3: no app setting holds a literal secret, an account key or a connection string with a key.

A setting whose name says it is a secret must be a Key Vault reference
(`@Microsoft.KeyVault(VaultName=...;SecretName=...)`), not a literal, not a parameter (a secure
parameter still ends up in plain text in the app settings). No setting may carry an account key,
a shared access signature, a password or a private key, or call `listKeys()` and its kin.
"""

from __future__ import annotations

import re
from typing import Any

from checkov.bicep.checks.resource.base_resource_check import BaseResourceCheck
from checkov.common.models.enums import CheckCategories, CheckResult
from tenantry_support import body, dig, text

KEY_VAULT_REFERENCE = re.compile(
    r"^@Microsoft\.KeyVault\("
    r"(VaultName=[^;()]+;SecretName=[A-Za-z0-9-]+(;SecretVersion=[A-Za-z0-9]*)?"
    r"|SecretUri=https://[^()]+)"
    r"\)$"
)
SECRET_NAME = re.compile(
    r"KEY|SECRET|PASSWORD|PASSWD|PEPPER|TOKEN|CREDENTIAL|CONNECTION_?STRING|CERT|PRIVATE|SAS\b",
    re.IGNORECASE,
)
# What a key or credential looks like inside a value, whatever the setting is called.
FORBIDDEN = re.compile(
    r"AccountKey=|SharedAccessKey=|SharedAccessSignature=|[?&;]sig=|Password=|Pwd=|"
    r"-----BEGIN|private_key|client_secret|"
    r"\blist[A-Z]\w*\(|\"func_name\": \"list|list_func",
    re.IGNORECASE,
)
# A long run of key-like characters with letters and digits: a pasted key, token or password.
KEY_LIKE = re.compile(r"(?=[A-Za-z0-9+/=_-]{24,})(?=\S*\d)(?=\S*[A-Za-z])[A-Za-z0-9+/=_-]{24,}")

# Settings whose names look secret but whose values are not, when they have these values.
NOT_SECRET = {
    # The managed identity to use, by client id (an identifier), for a connection prefix.
    "__clientId": lambda value: True,
    "__credential": lambda value: value == "managedidentity",
    # Names the Application Insights component; ingestion needs the identity token.
    "APPLICATIONINSIGHTS_CONNECTION_STRING": lambda value: True,
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": lambda value: (
        isinstance(value, str) and value.endswith(("Authorization=AAD", "Authorization=AAD;"))
    ),
}


def setting_is_safe(name: str, value: Any) -> bool:
    if isinstance(value, str) and value.startswith("@Microsoft.KeyVault"):
        return bool(KEY_VAULT_REFERENCE.match(value))
    rendered = text(value)
    if FORBIDDEN.search(rendered):
        return False
    literal = rendered if isinstance(value, str) else ""
    # Interpolations are references (`${...}`); what is left of the string is literal text.
    if KEY_LIKE.search(re.sub(r"\$\{[^}]*\}", " ", literal)):
        return False
    if SECRET_NAME.search(name):
        for suffix, allowed in NOT_SECRET.items():
            if name.endswith(suffix):
                return bool(allowed(value))
        return False  # a secret by name, but not a Key Vault reference
    return True


def settings_of(resource_type: str, resource: dict[str, Any]) -> dict[str, Any] | None:
    """The app settings a resource sets, as name -> value, or None when it sets none."""
    if resource_type == "Microsoft.Web/sites/config":
        if str(resource.get("name", "")).rsplit("/", 1)[-1] != "appsettings":
            return None
        properties = resource.get("properties")
        if not isinstance(properties, dict):
            return {"<properties>": properties}
        # An interpolated key keeps its quotes in the parse: 'TENANTRY_STORAGE_${toUpper(region)}__x'
        return {str(name).strip("'"): value for name, value in properties.items()}
    entries = dig(resource, "properties", "siteConfig", "appSettings")
    if entries is None:
        return None
    if not isinstance(entries, list):
        return {"<appSettings>": entries}
    settings = {}
    for entry in entries:
        if isinstance(entry, dict):
            settings[str(entry.get("name"))] = entry.get("value")
    return settings


class AppSettingsNoSecrets(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="App settings hold no literal secret or key; secrets are Key Vault references",
            id="CKV_TNT_3",
            categories=(CheckCategories.SECRETS,),
            supported_resources=("Microsoft.Web/sites", "Microsoft.Web/sites/config"),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        resource = body(conf)
        if self.entity_type == "Microsoft.Web/sites" and dig(
            resource, "properties", "siteConfig", "connectionStrings"
        ):
            self.evaluated_keys = ["properties/siteConfig/connectionStrings"]
            return CheckResult.FAILED  # connection strings carry keys; use identity connections
        settings = settings_of(self.entity_type, resource)
        if settings is None:
            return CheckResult.UNKNOWN
        unsafe = [name for name, value in settings.items() if not setting_is_safe(name, value)]
        self.evaluated_keys = [f"properties/{name}" for name in unsafe] or ["properties"]
        if unsafe:
            self.details = [f"unsafe app settings: {', '.join(sorted(unsafe))}"]
            return CheckResult.FAILED
        return CheckResult.PASSED


check = AppSettingsNoSecrets()

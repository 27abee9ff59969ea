"""The app settings in infra/ against the settings the code reads (shared/settings.py).

Read dynamically, so that a setting added to `Settings` (or a required name added to
`required_setting_names`) and not to the Bicep fails the build, and so does a Bicep setting that
nothing reads any more. Per stamp (infra/regions/<region>.bicepparam) the Bicep is evaluated for
that region: its interpolated names (`TENANTRY_STORAGE_${toUpper(region)}__...`) are expanded.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from shared.settings import CONTROL_STORAGE_SETTING, Settings, region_storage_setting, required_setting_names

FUNCTION_APP = "modules/function-app.bicep"

# Settings that the platform or an SDK reads, not our code. Keep this list short and explicit.
PLATFORM_SETTINGS = {
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "Functions host: the Application Insights component",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "Functions host: send telemetry with an Entra ID token",
    "AZURE_CLIENT_ID": "azure-identity: which managed identity DefaultAzureCredential uses",
    "PYTHON_THREADPOOL_THREAD_COUNT": "Python worker: threads for sync functions (see infra/README.md)",
}
# Connection prefixes the host reads, not our code: `<prefix>__accountName` etc.
PLATFORM_PREFIXES = {
    "AzureWebJobsStorage": "Functions host: leases, timer schedules and keys, in the stamp's own account",
}

KEY_VAULT_REFERENCE = re.compile(
    r"^@Microsoft\.KeyVault\(VaultName=\$\{keyVaultName\};SecretName=[a-z0-9-]+\)$"
)


def _env_name(name: str, field: Any) -> str:
    return field.alias or name.upper()


def _is_secret(field: Any) -> bool:
    annotation = field.annotation
    return annotation is SecretStr or SecretStr in typing.get_args(annotation)


def code_settings() -> dict[str, Any]:
    """Env name -> pydantic field, for every field of Settings (required and optional)."""
    return {_env_name(name, field): field for name, field in Settings.model_fields.items()}


def storage_prefixes(region: str) -> set[str]:
    """Connection-setting prefixes a stamp of `region` needs (control account + its own region)."""
    return {CONTROL_STORAGE_SETTING, region_storage_setting(region)}


def app_settings(bicep: Any) -> dict[str, Any]:
    resources = [
        resource
        for resource in bicep.resources(FUNCTION_APP, "Microsoft.Web/sites/config").values()
        if resource["config"].get("name") == "appsettings"
    ]
    assert len(resources) == 1, f"infra/{FUNCTION_APP} must set app settings in one `appsettings` resource"
    properties = resources[0]["config"]["properties"]
    assert isinstance(properties, dict), "the app settings must be a literal object, one setting per line"
    return properties


def stamp_settings(bicep: Any, region: str) -> dict[str, Any]:
    """The app settings of the stamp of `region`, with interpolated names expanded."""
    expanded = {}
    for raw_name, value in app_settings(bicep).items():
        name = raw_name.strip("'")
        name = name.replace("${toUpper(region)}", region.upper()).replace("${region}", region)
        assert "${" not in name, f"setting name {raw_name} uses an interpolation this test cannot evaluate"
        expanded[name] = value
    return expanded


def satisfied(name: str, deployed: set[str]) -> bool:
    """A setting is there as itself, or, for a connection prefix, as `<prefix>__<property>` settings."""
    return name in deployed or any(key.startswith(f"{name}__") for key in deployed)


@pytest.fixture(scope="module")
def stamps(region_param_files: dict[str, Any], bicep: Any) -> dict[str, dict[str, Any]]:
    return {region: stamp_settings(bicep, region) for region in region_param_files}


def test_every_required_setting_is_deployed(stamps: dict[str, dict[str, Any]]) -> None:
    for region, settings in stamps.items():
        deployed = set(settings)
        required = {name for name, field in code_settings().items() if field.is_required()}
        required |= storage_prefixes(region)
        required |= set(required_setting_names((region,)))
        missing = sorted(name for name in required if not satisfied(name, deployed))
        assert not missing, (
            f"stamp {region}: the code needs {missing}, which infra/{FUNCTION_APP} does not set "
            "(secrets: add a Key Vault reference line in the Secrets block)"
        )


def test_no_stale_settings(stamps: dict[str, dict[str, Any]]) -> None:
    for region, settings in stamps.items():
        read = set(code_settings()) | set(PLATFORM_SETTINGS)
        prefixes = storage_prefixes(region) | set(PLATFORM_PREFIXES)
        stale = sorted(
            name
            for name in settings
            if name not in read and name not in prefixes and name.split("__", 1)[0] not in prefixes
        )
        assert not stale, (
            f"stamp {region}: infra/{FUNCTION_APP} sets {stale}, which no code reads "
            "(remove them, or add them to Settings / PLATFORM_SETTINGS with the reason)"
        )


def test_secrets_are_key_vault_references_and_only_secrets_are(stamps: dict[str, dict[str, Any]]) -> None:
    secret_names = {name for name, field in code_settings().items() if _is_secret(field)}
    for region, settings in stamps.items():
        for name, value in settings.items():
            reference = isinstance(value, str) and value.startswith("@Microsoft.KeyVault")
            if name in secret_names:
                assert reference and KEY_VAULT_REFERENCE.match(value), (
                    f"stamp {region}: {name} is a secret (SecretStr) and must be "
                    f"'@Microsoft.KeyVault(VaultName=${{keyVaultName}};SecretName=<name>)', not {value!r}"
                )
            else:
                assert not reference, f"stamp {region}: {name} is a Key Vault reference; make it SecretStr"


def test_a_stamp_serves_only_its_own_region(stamps: dict[str, dict[str, Any]], bicep: Any) -> None:
    # TENANTRY_REGIONS is the stamp's `region` parameter itself, so the code asks for no other
    # region's storage setting, and the stamp is given none.
    assert app_settings(bicep).get("TENANTRY_REGIONS") == "region", (
        f"infra/{FUNCTION_APP}: TENANTRY_REGIONS must be the stamp's own `region`"
    )
    for region, settings in stamps.items():
        other_regions = {region_storage_setting(other) for other in stamps if other != region}
        given = sorted(name for name in settings if name.split("__", 1)[0] in other_regions)
        assert not given, f"stamp {region} is given another region's storage: {given}"


def test_storage_connections_use_the_identity(stamps: dict[str, dict[str, Any]]) -> None:
    for region, settings in stamps.items():
        for prefix in storage_prefixes(region):
            assert prefix not in settings, f"stamp {region}: {prefix} must be an identity-based connection"
            assert settings.get(f"{prefix}__credential") == "managedidentity", (
                f"stamp {region}: {prefix}__credential must be managedidentity"
            )
            assert f"{prefix}__clientId" in settings, f"stamp {region}: {prefix}__clientId names the identity"
            assert f"{prefix}__accountName" in settings, (
                f"stamp {region}: shared/settings.py reads {prefix}__accountName"
            )


def test_queue_trigger_connections_name_their_queue_service(stamps: dict[str, dict[str, Any]]) -> None:
    # The queue triggers use the region's connection (functions/*: connection=region_storage_setting);
    # for a connection other than AzureWebJobsStorage, the host documents `__queueServiceUri`.
    for region, settings in stamps.items():
        name = f"{region_storage_setting(region)}__queueServiceUri"
        assert name in settings, f"stamp {region}: the queue triggers need {name}"


def _readme_settings_rows() -> str:
    """The rows of the settings table in README.md (`## Configuring regions and secrets for Azure`)."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = text.split("## Configuring regions and secrets for Azure", 1)[-1].split("\n## ", 1)[0]
    return "\n".join(line for line in section.splitlines() if line.startswith("| `"))


def test_every_setting_is_documented(stamps: dict[str, dict[str, Any]]) -> None:
    # An operator reads the settings table to know what a stamp runs with: every setting the code
    # reads, and every one the Bicep deploys (per-region names as `<REGION>`).
    rows = _readme_settings_rows()
    documented = set(re.findall(r"`([A-Za-z0-9_.<>]+?)(?:__\w+)?`", rows))
    undocumented = sorted(name for name in code_settings() if name not in documented)
    assert not undocumented, f"README.md's settings table lacks {undocumented}"
    for region, settings in stamps.items():
        deployed = {name.split("__", 1)[0].replace(f"_{region.upper()}", "_<REGION>") for name in settings}
        missing = sorted(deployed - documented - set(PLATFORM_SETTINGS) - set(PLATFORM_PREFIXES))
        assert not missing, f"stamp {region} deploys {missing}, which README.md's settings table lacks"

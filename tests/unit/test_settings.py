"""Settings: regions are validated, storage is found the way the Functions host finds it."""

import pytest
from pydantic import ValidationError

from shared.settings import Settings, required_setting_names, storage_target


def make(regions: str) -> Settings:
    return Settings(TENANTRY_REGIONS=regions, OPERATOR_API_KEY="k")


def test_regions_from_a_comma_separated_list() -> None:
    assert make("eu, us,uk").regions == ("eu", "us", "uk")


@pytest.mark.parametrize("regions", ["", "EU", "eu,eu", "e-u"])
def test_bad_regions_are_refused(regions: str) -> None:
    with pytest.raises(ValidationError):
        make(regions)


def test_unresolved_key_vault_reference_is_refused() -> None:
    with pytest.raises(ValidationError, match="OPERATOR_API_KEY is an unresolved Key Vault reference"):
        Settings(TENANTRY_REGIONS="eu", OPERATOR_API_KEY="@Microsoft.KeyVault(VaultName=v;SecretName=s)")


def test_storage_by_connection_string_or_identity() -> None:
    local = storage_target(
        "S", {"S": "DefaultEndpointsProtocol=http;AccountName=tenantryeu;AccountKey=secret;"}
    )
    assert local is not None and not local.uses_identity and local.describe() == "tenantryeu"
    azure = storage_target("S", {"S__accountName": "tenantryprodeu"})
    assert azure is not None and azure.uses_identity and azure.account_name == "tenantryprodeu"
    assert storage_target("S", {}) is None


def test_required_names_cover_every_region() -> None:
    names = required_setting_names(("eu", "us"))
    assert {"TENANTRY_REGIONS", "API_KEY_PEPPER", "ENTRA_AUDIENCE", "TENANTRY_STORAGE_CONTROL"} <= set(names)
    assert {"TENANTRY_STORAGE_EU", "TENANTRY_STORAGE_US"} <= set(names)


def test_the_break_glass_key_is_off_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    # The operator signs in with Entra ID; OPERATOR_API_KEY is only break-glass.
    assert "OPERATOR_API_KEY" not in required_setting_names(("eu",))
    monkeypatch.delenv("OPERATOR_API_KEY", raising=False)
    assert Settings(TENANTRY_REGIONS="eu").operator_api_key.get_secret_value() == ""


def test_the_pepper_may_be_emptied_only_once_a_later_version_is_configured() -> None:
    with pytest.raises(ValidationError, match="API_KEY_PEPPER may be empty only when"):
        Settings(TENANTRY_REGIONS="eu", API_KEY_PEPPER="", API_KEY_PEPPER_VERSIONS="")
    with pytest.raises(ValidationError, match="API_KEY_PEPPER may be empty only when"):
        Settings(TENANTRY_REGIONS="eu", API_KEY_PEPPER="", API_KEY_PEPPER_VERSIONS='{"2": ""}')
    dropped = Settings(TENANTRY_REGIONS="eu", API_KEY_PEPPER="", API_KEY_PEPPER_VERSIONS='{"2": "second"}')
    assert dropped.api_key_pepper.get_secret_value() == ""

"""Regions and parameter files: one stamp per region the app runs, each parameter file complete.

The Bicep CLI would check a .bicepparam file against its template at deploy time; it cannot run
here, so these tests do the part that matters offline: the regions match the app's (the local
settings example), every region key is one the app accepts, every parameter a template requires
is given, and nothing is given that the template does not declare.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from shared.settings import Settings

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
LOCAL_SETTINGS = REPO / "local.settings.example.json"


def app_regions() -> set[str]:
    """The regions the app runs locally (local.settings.example.json), parsed the way Settings does."""
    values = json.loads(LOCAL_SETTINGS.read_text(encoding="utf-8"))["Values"]
    raw = values["TENANTRY_REGIONS"]
    return {part.strip() for part in raw.split(",") if part.strip()}


def region_errors(region: str) -> list[Any]:
    try:
        Settings.model_validate({"TENANTRY_REGIONS": region})
    except ValidationError as error:
        return [e for e in error.errors() if e["loc"] and e["loc"][0] == "TENANTRY_REGIONS"]
    return []


def test_one_stamp_per_app_region(region_param_files: dict[str, Any]) -> None:
    assert set(region_param_files) == app_regions(), (
        f"infra/regions/ has {sorted(region_param_files)}, the app's regions are {sorted(app_regions())}"
    )


def test_each_stamp_is_for_the_region_in_its_file_name(region_param_files: dict[str, Any]) -> None:
    for stem, param_file in region_param_files.items():
        assert param_file.template == INFRA / "main.bicep", f"{param_file.path}: must use '../main.bicep'"
        assert param_file.params.get("region") == stem, f"{param_file.path}: param region must be '{stem}'"
        assert not region_errors(stem), f"{stem} is not a region key the app accepts: {region_errors(stem)}"
        location = param_file.params.get("location")
        assert isinstance(location, str) and location.isalnum(), f"{param_file.path}: set an Azure location"


def _check_against_template(param_file: Any, bicep: Any) -> None:
    relative = param_file.template.relative_to(INFRA).as_posix()
    declared = bicep.doc(relative).get("parameters", {})
    unknown = set(param_file.params) - set(declared)
    assert not unknown, f"{param_file.path}: {sorted(unknown)} are not parameters of {relative}"
    required = {name for name, parameter in declared.items() if parameter.get("default") is None}
    missing = required - set(param_file.params)
    assert not missing, f"{param_file.path}: required parameters {sorted(missing)} of {relative} are not set"


def test_region_param_files_match_main(region_param_files: dict[str, Any], bicep: Any) -> None:
    for param_file in region_param_files.values():
        _check_against_template(param_file, bicep)


def test_global_param_file_matches_global(global_param_file: Any, bicep: Any) -> None:
    assert global_param_file.template == INFRA / "global.bicep"
    _check_against_template(global_param_file, bicep)


def test_stamps_look_for_the_control_account_where_global_puts_it(bicep: Any) -> None:
    assert bicep.parameter_default("main.bicep", "controlResourceGroupName") == bicep.parameter_default(
        "global.bicep", "resourceGroupName"
    ), "main.bicep controlResourceGroupName and global.bicep resourceGroupName must have the same default"


def test_log_retention_keeps_within_the_audit_promise(bicep: Any) -> None:
    for relative in ("main.bicep", "global.bicep", "modules/monitoring.bicep", "modules/global-logs.bicep"):
        for name, parameter in bicep.doc(relative).get("parameters", {}).items():
            if "retention" not in name.lower():
                continue
            bounds = {d["type"]: d.get("argument") for d in parameter.get("decorators", [])}
            assert bounds.get("max_value") is not None and bounds["max_value"] <= 730, (
                f"infra/{relative} param {name}: @maxValue(730) at most (24 months)"
            )
            default = parameter.get("default")
            assert default is None or default <= 730

"""The region router's rules that hold before any storage call: which accounts exist, an unknown
region's problem, a missing setting, and data refused in the wrong account."""

from __future__ import annotations

import pytest

from shared.errors import ProblemError
from shared.settings import get_settings
from shared.storage.router import StorageNotConfiguredError, StorageRouter

ACCOUNT = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;TableEndpoint=http://127.0.0.1:1/devstoreaccount1;"


def environ(*missing: str) -> dict[str, str]:
    made = {"TENANTRY_STORAGE_CONTROL": ACCOUNT}
    made.update({f"TENANTRY_STORAGE_{region.upper()}": ACCOUNT for region in get_settings().regions})
    return {name: value for name, value in made.items() if name not in missing}


def test_one_account_per_region_after_the_control_account() -> None:
    router = StorageRouter(get_settings(), environ())
    regions = get_settings().regions
    assert [account.label for account in router.accounts()] == ["control", *regions]
    assert all(router.region(region).label == region for region in regions)
    assert router.regions == regions


def test_an_unknown_region_is_a_clear_422() -> None:
    with pytest.raises(ProblemError) as unknown:
        StorageRouter(get_settings(), environ()).region("mars")
    problem = unknown.value
    assert (problem.status, problem.kind, problem.title) == (422, "unknown-region", "Unknown region.")
    assert (
        problem.detail
        == f"Region 'mars' is not one of the configured regions: {', '.join(get_settings().regions)}."
    )


@pytest.mark.parametrize("missing", ["TENANTRY_STORAGE_CONTROL", "TENANTRY_STORAGE_EU"])
def test_a_missing_storage_setting_is_named(missing: str) -> None:
    with pytest.raises(StorageNotConfiguredError, match=f"^{missing} is not set$"):
        StorageRouter(get_settings(), environ(missing))


def test_data_is_refused_in_the_wrong_account_before_any_call() -> None:
    router = StorageRouter(get_settings(), environ())
    with pytest.raises(
        ValueError, match="table 'partnerdirectory' belongs in the control account, not in eu"
    ):
        router.region("eu").table("partnerdirectory")
    with pytest.raises(ValueError, match="belongs in the regional account, not in control"):
        router.control.queue("notifyfanout")

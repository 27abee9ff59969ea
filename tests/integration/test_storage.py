"""Against real Azurite: per-region accounts stay apart, the catalogue is enforced, health tells the truth,
and a stamp granted only the rows of the control tables (as in Azure) works and reports healthy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import HttpResponseError
from azure.data.tables import TableSasPermissions, TableServiceClient, generate_table_sas

from localdev.azurite import connection_string
from shared.health import check_storage
from shared.ids import new_id
from shared.settings import Settings
from shared.storage import catalogue
from shared.storage.catalogue import Placement, StorageKind, StoredData, UndeclaredStorageError
from shared.storage.router import StorageRouter

PROBE_TABLE = StoredData("isolationprobe", StorageKind.TABLE, Placement.REGIONAL, ("test",), "p", "b", "r")


@pytest.fixture
def probe_declared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalogue, "CATALOGUE", (*catalogue.CATALOGUE, PROBE_TABLE))


def test_a_partners_rows_exist_only_in_its_region(router: StorageRouter, stack_env, probe_declared) -> None:  # type: ignore[no-untyped-def]
    partner = new_id()
    router.region("eu").table("isolationprobe").create_entity({"PartitionKey": partner, "RowKey": "r1"})

    def rows(setting: str) -> list[dict]:  # type: ignore[type-arg]
        service = TableServiceClient.from_connection_string(stack_env[setting])
        found = []
        for table in service.list_tables():
            found += list(service.get_table_client(table.name).query_entities(f"PartitionKey eq '{partner}'"))
        return found

    assert len(rows("TENANTRY_STORAGE_EU")) == 1
    assert rows("TENANTRY_STORAGE_US") == []
    assert rows("TENANTRY_STORAGE_CONTROL") == []


def test_undeclared_storage_is_refused(router: StorageRouter) -> None:
    with pytest.raises(UndeclaredStorageError):
        router.region("eu").table("scratchpad")


def test_declared_storage_only_in_its_placement(router: StorageRouter) -> None:
    with pytest.raises(ValueError, match="control account"):
        router.region("eu").table("partnerdirectory")
    assert router.control.table("partnerdirectory").table_name == "partnerdirectory"


def test_unknown_region_is_a_problem_naming_the_allowed_list(router: StorageRouter) -> None:
    with pytest.raises(Exception) as raised:
        router.region("mars")
    assert "eu, us" in str(raised.value)


def test_health_names_the_unreachable_region(stack_env: dict[str, str]) -> None:
    # The us account now points at a port nothing listens on.
    dead = connection_string("tenantryus", "a2V5", {"blob": 9, "queue": 9, "table": 9})
    env = {**stack_env, "TENANTRY_STORAGE_US": dead}
    settings = Settings(TENANTRY_REGIONS="eu,us", OPERATOR_API_KEY="k", TENANTRY_STORAGE_TIMEOUT_SECONDS=2)
    report = check_storage(StorageRouter(settings, env))
    assert report.status == "degraded"
    assert report.unreachable == ["us"]
    assert report.regions["eu"].reachable


def _rows_only(connection: str, table: str) -> str:
    """A connection to one table's rows and nothing else: what a stamp's grant on a control table
    (Storage Table Data Contributor scoped to that table) allows, as a table SAS."""
    fields = dict(part.split("=", 1) for part in connection.split(";") if part)
    sas = generate_table_sas(
        AzureNamedKeyCredential(fields["AccountName"], fields["AccountKey"]),
        table,
        permission=TableSasPermissions(read=True, add=True, update=True, delete=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    return f"TableEndpoint={fields['TableEndpoint']};SharedAccessSignature={sas}"


def test_a_stamp_granted_only_control_rows_uses_them_and_is_healthy(stack_env: dict[str, str]) -> None:
    control = _rows_only(stack_env["TENANTRY_STORAGE_CONTROL"], "partnerdirectory")
    # The grant refuses the account-level calls health and the router used to make.
    with pytest.raises(HttpResponseError) as refused:
        next(iter(TableServiceClient.from_connection_string(control).list_tables()))
    assert refused.value.status_code == 403
    env = {**stack_env, "TENANTRY_STORAGE_CONTROL": control}
    settings = Settings(TENANTRY_REGIONS="eu,us", OPERATOR_API_KEY="k", TENANTRY_STORAGE_TIMEOUT_SECONDS=2)
    router = StorageRouter(settings, env)

    report = check_storage(router)
    assert report.status == "ok", report
    # The app reaches the rows without creating the table (the Bicep made it; locally, localdev).
    partner = new_id()
    directory = router.control.table("partnerdirectory")
    directory.upsert_entity({"PartitionKey": partner, "RowKey": "region", "region": "eu"})
    assert directory.get_entity(partner, "region")["region"] == "eu"


def test_health_calls_a_control_account_refusing_its_rows_unreachable(stack_env: dict[str, str]) -> None:
    # A grant on another table only: the health point read is refused, and health says so.
    env = {
        **stack_env,
        "TENANTRY_STORAGE_CONTROL": _rows_only(stack_env["TENANTRY_STORAGE_CONTROL"], "orgpending"),
    }
    settings = Settings(TENANTRY_REGIONS="eu,us", OPERATOR_API_KEY="k", TENANTRY_STORAGE_TIMEOUT_SECONDS=2)
    report = check_storage(StorageRouter(settings, env))
    assert report.unreachable == ["control"]

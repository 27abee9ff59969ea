"""Against real Azurite: per-region accounts stay apart, the catalogue is enforced, health tells the truth,
and a stamp granted only the rows of the control tables (as in Azure) works and reports healthy."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.exceptions import HttpResponseError
from azure.data.tables import TableClient, TableSasPermissions, TableServiceClient, generate_table_sas

from localdev.azurite import connection_string
from shared.health import check_storage
from shared.ids import new_id
from shared.settings import Settings
from shared.storage import catalogue, tables
from shared.storage.catalogue import Placement, StorageKind, StoredData, UndeclaredStorageError
from shared.storage.router import StorageRouter

PROBE_TABLE = StoredData("isolationprobe", StorageKind.TABLE, Placement.REGIONAL, ("test",), "p", "b", "r")


@pytest.fixture
def probe_declared(monkeypatch: pytest.MonkeyPatch, router: StorageRouter) -> Iterator[None]:
    monkeypatch.setattr(catalogue, "CATALOGUE", (*catalogue.CATALOGUE, PROBE_TABLE))
    yield
    # The stack is the worker's: a later module walks every table against the real catalogue.
    router.region("eu").table_service().delete_table(PROBE_TABLE.name)


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


# --- the table toolkit (shared.storage.tables) against the real service ---


@pytest.fixture
def scratch(stack_env: dict[str, str]) -> Iterator[TableClient]:
    service = TableServiceClient.from_connection_string(stack_env["TENANTRY_STORAGE_EU"])
    table = service.create_table(f"toolkit{new_id()[:12]}")
    yield table
    service.delete_table(table.table_name)


def test_the_toolkit_writes_reads_pages_and_deletes_awkward_keys(scratch: TableClient) -> None:
    awkward = "o'brien & (x)=é+%;,"
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    writes = [
        ("merge", {"PartitionKey": awkward, "RowKey": f"{i:03}", "n": i, "at": moment}) for i in range(230)
    ]
    writes += [("create", {"PartitionKey": "plain", "RowKey": "it's", "s": "x"})]
    tables.write(scratch, writes)

    assert len(list(tables.query_json(scratch, tables.partition(awkward), ["RowKey"]))) == 230
    assert [r["RowKey"] for r in tables.query(scratch, tables.prefix("RowKey", "22"))] == [
        f"22{i}" for i in range(10)
    ]
    typed = tables.get(scratch, awkward, "007")
    plain = tables.get_json(scratch, awkward, "007")
    assert typed is not None and plain is not None
    assert (typed["n"], typed["at"], plain["n"]) == (7, moment, 7)
    assert typed.etag and typed.etag == plain.etag
    assert tables.get(scratch, awkward, "nothing") is None and tables.get_json(scratch, "x", "y") is None

    seen: list[str] = []
    token: str | None = None
    while True:
        rows, token = tables.page(scratch, tables.partition(awkward), 100, token)
        seen += [r["RowKey"] for r in rows]
        if token is None:
            break
    assert seen == [f"{i:03}" for i in range(230)]

    # The ETag a read gave is the one a conditional write needs; once the row moved on it is stale,
    # and only that operation of the transaction is left out.
    assert tables.write_each(
        scratch, [("update", {"PartitionKey": awkward, "RowKey": "007", "n": 70}, typed.etag)]
    ) == [True]
    other = tables.get(scratch, awkward, "008")
    assert other is not None
    applied = tables.write_each(
        scratch,
        [
            ("update", {"PartitionKey": awkward, "RowKey": "007", "n": 700}, typed.etag),
            ("update", {"PartitionKey": awkward, "RowKey": "008", "n": 80}, other.etag),
        ],
    )
    assert applied == [False, True]
    assert [r["n"] for r in tables.query_json(scratch, tables.prefix("RowKey", "00"))][7:9] == [70, 80]

    tables.delete(scratch, "plain", "it's")
    tables.delete(scratch, "plain", "it's")  # a missing row counts as deleted
    assert tables.delete_partition(scratch, awkward) == 230
    assert list(tables.query_json(scratch, "PartitionKey ne ''")) == []

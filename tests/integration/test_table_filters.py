"""OData literals and continuation tokens against real Azurite: a quoted value finds exactly its row,
and a page token never reaches past the partition its query names."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from azure.data.tables import TableClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.errors import ProblemError
from shared.storage import tables
from shared.storage.router import StorageRouter

# Each example is a round trip to Azurite: few, but enough to meet quotes, unicode and filter syntax.
ROUND_TRIPS = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))

# What a partner can put into a value we filter on (names, e-mails, ids), and what tries to break out.
VALUES = st.one_of(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc")),
        max_size=30,
    ),
    st.sampled_from(
        ["'", "''", "' or 'a' eq 'a", "x' or PartitionKey ne '", "O'Brien", "a eq b", "%27", "\\'"]
    ),
)


@pytest.fixture(scope="module")
def probe(router: StorageRouter) -> Iterator[TableClient]:
    """A throwaway table (not in the catalogue: it is dropped before anything else could see it)."""
    service = router.region("eu").table_service()
    table = service.create_table(f"filterprobe{uuid.uuid4().hex[:12]}")
    yield table
    service.delete_table(table.table_name)


@ROUND_TRIPS
@given(value=VALUES)
def test_a_quoted_value_finds_exactly_its_row(probe: TableClient, value: str) -> None:
    partition = uuid.uuid4().hex
    probe.create_entity({"PartitionKey": partition, "RowKey": "mine", "value": value})
    probe.create_entity({"PartitionKey": partition, "RowKey": "other", "value": value + "x"})
    found = list(tables.query(probe, f"{tables.partition(partition)} and {tables.eq('value', value)}"))
    assert [(row["RowKey"], row["value"]) for row in found] == [("mine", value)]


@pytest.fixture(scope="module")
def two_partitions(probe: TableClient) -> tuple[str, str]:
    """Two partitions of five rows each, named so that either order of the two is met."""
    first, second = f"a{uuid.uuid4().hex}", f"b{uuid.uuid4().hex}"
    for partition in (first, second):
        for n in range(5):
            probe.create_entity({"PartitionKey": partition, "RowKey": f"r{n}"})
    return first, second


def _all_pages(probe: TableClient, partition: str, token: str | None) -> list[str]:
    keys: list[str] = []
    while True:
        rows, token = tables.page(probe, tables.partition(partition), 2, token)
        keys += [f"{row['PartitionKey']}/{row['RowKey']}" for row in rows]
        if not token:
            return keys


def test_a_token_round_trips_to_the_next_page_and_the_pages_cover_the_partition_once(
    probe: TableClient, two_partitions: tuple[str, str]
) -> None:
    first, _ = two_partitions
    assert _all_pages(probe, first, None) == [f"{first}/r{n}" for n in range(5)]


@pytest.mark.parametrize("direction", ["earlier-to-later", "later-to-earlier"])
def test_a_token_of_another_partition_is_a_400_naming_it(
    probe: TableClient, two_partitions: tuple[str, str], direction: str
) -> None:
    issuer, used_on = two_partitions if direction == "earlier-to-later" else reversed(two_partitions)
    _, foreign = tables.page(probe, tables.partition(issuer), 2, None)
    assert foreign
    with pytest.raises(ProblemError) as refused:
        tables.page(probe, tables.partition(used_on), 2, foreign)
    assert (refused.value.status, refused.value.kind) == (400, "malformed-request")
    assert "another list" in (refused.value.detail or "")
    assert _all_pages(probe, used_on, None) == [f"{used_on}/r{n}" for n in range(5)]


def test_a_tampered_token_is_a_400_before_storage_is_asked(
    probe: TableClient, two_partitions: tuple[str, str]
) -> None:
    first, _ = two_partitions
    _, token = tables.page(probe, tables.partition(first), 2, None)
    assert token
    for tampered in (token[:-3], "x" + token, "bm90IGpzb24=", "WyJhIl0="):
        with pytest.raises(ProblemError) as refused:
            tables.page(probe, tables.partition(first), 2, tampered)
        assert (refused.value.status, refused.value.kind) == (400, "malformed-request")

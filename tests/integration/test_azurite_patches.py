"""Azurite with localdev/azurite_patches.cjs answers table queries exactly as the service does.

The patch starts a query filtered on one partition from Azurite's PartitionKey index (issue 22:
queries slowed down as other partitions grew) and walks a large partition in row-key order; these
are the filters it must not get wrong.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable

from azure.data.tables import TableServiceClient

from tests.stack import STACK_ENV


def test_partition_queries_answer_the_rows_of_the_filter_across_pages() -> None:
    service = TableServiceClient.from_connection_string(STACK_ENV["TENANTRY_STORAGE_EU"])
    table = service.create_table(f"patched{uuid.uuid4().hex[:12]}")
    try:
        for partition, count in (("a", 1010), ("b", 20), ("o'k", 10)):
            rows = [
                ("upsert", {"PartitionKey": partition, "RowKey": f"r{i:05d}", "n": i}) for i in range(count)
            ]
            for start in range(0, len(rows), 100):
                table.submit_transaction(rows[start : start + 100])

        def keys(query: str) -> list[tuple[str, str]]:
            return [(e["PartitionKey"], e["RowKey"]) for e in table.query_entities(query)]

        # More than a page (1,000): the continuation stays within the partition.
        assert keys("PartitionKey eq 'a'") == [("a", f"r{i:05d}") for i in range(1010)]
        assert keys("PartitionKey eq 'b' and RowKey ge 'r00017'") == [
            ("b", f"r{i:05d}") for i in range(17, 20)
        ]
        assert keys("(PartitionKey eq 'b') and (RowKey lt 'r00002')") == [("b", "r00000"), ("b", "r00001")]
        assert keys("PartitionKey eq 'o''k' and n ge 8") == [("o'k", "r00008"), ("o'k", "r00009")]
        # `or` reaches other partitions: the filter is evaluated as written.
        assert len(keys("PartitionKey eq 'a' and n lt 5 or PartitionKey eq 'b' and n lt 3")) == 8
        assert keys("n eq 7") == [("a", "r00007"), ("b", "r00007"), ("o'k", "r00007")]
    finally:
        service.delete_table(table.table_name)


def test_a_large_partition_walked_in_row_key_order_answers_as_a_full_scan_would() -> None:
    """Over 2,000 rows: the patch walks the RowKey index between the filter's bounds and stops at a
    full page. Compared with the rows the filter names, computed here, across pages of 1,000."""
    rng = random.Random(7)  # noqa: S311 - row keys, replayable
    service = TableServiceClient.from_connection_string(STACK_ENV["TENANTRY_STORAGE_EU"])
    table = service.create_table(f"walked{uuid.uuid4().hex[:12]}")
    words = ["ada", "adb", "bob", "ad'a", "zed", "Ada", "éclair"]
    stored: list[dict[str, object]] = []
    for partition, count in (("big", 2600), ("other", 700)):
        for i in range(count):
            stored.append({"PartitionKey": partition, "RowKey": f"{rng.choice(words)}-{i:05d}", "n": i % 10})
    try:
        for partition in ("big", "other"):
            rows = [("upsert", r) for r in stored if r["PartitionKey"] == partition]
            for start in range(0, len(rows), 100):
                table.submit_transaction(rows[start : start + 100])

        def keys(query: str) -> list[str]:
            return [str(e["RowKey"]) for e in table.query_entities(query)]

        def expected(keep: Callable[[dict[str, object]], bool]) -> list[str]:
            return sorted(str(r["RowKey"]) for r in stored if r["PartitionKey"] == "big" and keep(r))

        assert keys("PartitionKey eq 'big'") == expected(lambda r: True)
        assert keys("PartitionKey eq 'big' and RowKey ge 'ada' and RowKey lt 'adb'") == expected(
            lambda r: "ada" <= str(r["RowKey"]) < "adb"
        )
        assert keys("PartitionKey eq 'big' and RowKey gt 'ad''a-00100' and RowKey le 'bob-01000'") == (
            expected(lambda r: "ad'a-00100" < str(r["RowKey"]) <= "bob-01000")
        )
        assert keys("PartitionKey eq 'big' and n eq 3 and RowKey ge 'b'") == expected(
            lambda r: r["n"] == 3 and str(r["RowKey"]) >= "b"
        )
        assert keys("PartitionKey eq 'big' and not (n eq 3)") == expected(lambda r: r["n"] != 3)
        page = next(
            table.query_entities("PartitionKey eq 'big' and RowKey ge 'zed'", results_per_page=5).by_page()
        )
        assert [str(e["RowKey"]) for e in page] == expected(lambda r: str(r["RowKey"]) >= "zed")[:5]
    finally:
        service.delete_table(table.table_name)

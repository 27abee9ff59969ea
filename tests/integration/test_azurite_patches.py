"""Azurite with localdev/azurite_patches.cjs answers table queries exactly as the service does.

The patch starts a query filtered on one partition from Azurite's PartitionKey index (issue 22:
queries slowed down as other partitions grew); these are the filters it must not get wrong.
"""

from __future__ import annotations

import uuid

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

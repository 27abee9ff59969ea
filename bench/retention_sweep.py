"""Retention sweep of 24 months of event logs: dropping whole monthly tables vs deleting row by row.

Starts a private Azurite, writes the same events twice (`--events` per copy) over 24 monthly
bucket tables and `--partners` partitions: one copy is removed by the retention sweep (EventBuckets:
one delete-table call per month), the other, in a second account, row by row (query each month,
delete each entity, `--threads` in parallel: generous to the row-by-row side). Both in one run.
`--events 24000` runs it small.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from localdev.stack import start_test_azurite


def months(first_year: int) -> list[str]:
    return [f"events{first_year + m // 12}{m % 12 + 1:02d}" for m in range(24)]


def write_copy(account: Any, buckets: list[str], events: int, partners: int, threads: int) -> None:
    per_bucket = events // len(buckets)
    jobs = []
    for bucket in buckets:
        table = account.table(bucket)
        for p in range(partners):
            count = per_bucket // partners + (1 if p < per_bucket % partners else 0)
            for start in range(0, count, 100):
                jobs.append((table, f"P{p:04d}", start, min(100, count - start)))

    def write(job: tuple[Any, str, int, int]) -> None:
        table, partition, start, size = job
        table.submit_transaction(
            [
                (
                    "create",
                    {
                        "PartitionKey": partition,
                        "RowKey": f"{start + i:08d}",
                        "action": "thing.changed",
                        "actor": '{"type":"personnel","id":"x"}',
                        "details": "{}",
                    },
                )
                for i in range(size)
            ]
        )

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(write, jobs))


def delete_row_by_row(account: Any, buckets: list[str], threads: int) -> int:
    deleted = 0
    for bucket in buckets:
        table = account.table(bucket)
        keys = [
            (r["PartitionKey"], r["RowKey"])
            for r in table.query_entities("", select=["PartitionKey", "RowKey"])
        ]
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda key: table.delete_entity(*key), keys))  # noqa: B023 - used at once
        deleted += len(keys)
        account.table_service().delete_table(bucket)
    return deleted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000, help="events per copy (24 months)")
    parser.add_argument("--partners", type=int, default=20, help="partitions per month")
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()

    azurite, env = start_test_azurite()
    try:
        import os

        os.environ.update(env)
        from shared.privacy.retention import EventBuckets, RetentionRegistry, RetentionSweeper
        from shared.settings import get_settings
        from shared.storage.router import StorageRouter

        router = StorageRouter(get_settings())
        # Two regions (two Azurite accounts), so the sweep sees only its own copy.
        account, other = router.region("eu"), router.region("us")
        dropped, by_row = months(1990), months(1990)
        started = time.perf_counter()
        write_copy(account, dropped, args.events, args.partners, args.threads)
        write_copy(other, by_row, args.events, args.partners, args.threads)
        print(f"wrote 2 x {args.events} events in {time.perf_counter() - started:.1f} s")

        class At:
            def now(self) -> datetime:
                return datetime(1994, 1, 1, tzinfo=UTC)

        sweeper = RetentionSweeper(RetentionRegistry([EventBuckets()]), router, At(), budget_seconds=600)
        started = time.perf_counter()
        report = sweeper.sweep("eu")
        drop_seconds = time.perf_counter() - started
        assert report.complete and report.per_rule.get("events.buckets", 0) >= 24, report

        started = time.perf_counter()
        deleted = delete_row_by_row(other, by_row, args.threads)
        row_seconds = time.perf_counter() - started
        remaining = [
            t.name
            for a in (account, other)
            for t in a.table_service().list_tables()
            if t.name.startswith("events1990") or t.name.startswith("events1991")
        ]
        print(f"bucket drop (the retention sweep, 24 tables): {drop_seconds:.2f} s")
        print(f"row by row ({deleted} deletes, {args.threads} threads): {row_seconds:.2f} s")
        print(f"tables left from the test data: {remaining}")
        print(f"speed-up: {row_seconds / drop_seconds:.0f}x")
        print(
            f"retention_sweep_24_months_{args.events}_events_drop_vs_rows_seconds: "
            f"{drop_seconds:.2f} vs {row_seconds:.2f}"
        )
    finally:
        azurite.stop()


if __name__ == "__main__":
    main()

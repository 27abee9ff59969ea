"""What durable metering costs on the hot paths, against a private Azurite.

An API call now stores its usage row before it is served (`UsageMeter.record`, group-committed per
partner-month) and a fan-out chunk stores its sent devices in one transaction (`record_many`).
Prints the sequential latency of one `record`, records/s with N threads of one partner (the group
commit's case), and the cost of one chunk's `record_many`; the last line is `usage_records_per_s`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from localdev.stack import start_test_azurite


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=2000, help="records in the concurrent run")
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--sequential", type=int, default=300, help="records timed one by one")
    parser.add_argument("--chunk", type=int, default=100, help="devices in one fan-out chunk")
    args = parser.parse_args()

    azurite, env = start_test_azurite()
    import os

    os.environ.update(env)
    try:
        from shared.clock import SystemClock
        from shared.ids import new_id
        from shared.settings import get_settings
        from shared.storage.router import StorageRouter
        from shared.usage import Unit, UsageMeter

        router = StorageRouter(get_settings())
        account = router.region(get_settings().regions[0])
        meter, partner = UsageMeter(account, SystemClock()), new_id()

        one = []
        for _ in range(args.sequential):
            started = time.perf_counter()
            meter.record(partner, Unit.API_CALLS, key=new_id())
            one.append((time.perf_counter() - started) * 1000)
        print(f"record, one at a time: p50 {statistics.median(one):.2f} ms, max {max(one):.2f} ms")

        started = time.perf_counter()
        with ThreadPoolExecutor(args.threads) as pool:
            list(pool.map(lambda _: meter.record(partner, Unit.API_CALLS, key=new_id()), range(args.records)))
        rate = args.records / (time.perf_counter() - started)
        print(f"{args.threads} threads of one partner: {rate:.0f} records/s (group commit)")

        chunks = []
        for _ in range(20):
            keys = [f"{new_id()}.{device}" for device in range(args.chunk)]
            started = time.perf_counter()
            meter.record_many(partner, Unit.NOTIFICATIONS_SENT, keys)
            chunks.append((time.perf_counter() - started) * 1000)
        print(f"record_many of a {args.chunk}-device chunk: p50 {statistics.median(chunks):.2f} ms")

        expected = args.sequential + args.records
        counted = meter.month(partner, f"{SystemClock().now():%Y-%m}")["apiCalls"]
        verdict = "equal" if counted == expected else "DIFFERENT"
        print(f"apiCalls counted {counted} of {expected} recorded: {verdict}")
        print(f"usage_records_per_s: {rate:.0f}")
    finally:
        azurite.stop()


if __name__ == "__main__":
    main()

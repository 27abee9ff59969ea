"""Cold start: median milliseconds, over fresh processes, to import function_app and index it."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from localdev.settings import load_local_settings  # noqa: E402

# What the Functions worker does at cold start: import the script, index its functions.
_PROBE = """
import time
started = time.perf_counter()
import function_app
functions = function_app.app.get_functions()
elapsed = (time.perf_counter() - started) * 1000
import json, sys
print(json.dumps({"ms": elapsed, "functions": len(functions), "modules": len(sys.modules)}))
"""


def measure(runs: int) -> list[dict[str, float]]:
    # App settings are in the environment before the worker imports the app, as in Azure.
    env = {**load_local_settings(REPO), **os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "0"}
    results = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", _PROBE], cwd=REPO, env=env, capture_output=True, text=True, check=True
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15, help="fresh processes to measure (default 15)")
    args = parser.parse_args()
    measure(1)  # warm the bytecode cache, as a deployed package ships compiled files
    results = measure(args.runs)
    times = sorted(r["ms"] for r in results)
    print(f"runs: {len(times)}  functions indexed: {int(results[0]['functions'])}")
    print(f"min {times[0]:.0f} ms  median {statistics.median(times):.0f} ms  max {times[-1]:.0f} ms")
    print(f"modules loaded: {int(results[0]['modules'])}")
    print(f"cold_start_ms: {statistics.median(times):.0f}")


if __name__ == "__main__":
    main()

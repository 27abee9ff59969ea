"""Faults survived, counted: runs tests/faults/ at the issue's sizes and prints one line per fault.

Each fault test appends a JSON line per checked run to the file named by FAULTS_REPORT (see
tests/faults/report.py): the fault, how many times it was injected, whether the end state was
right. This runs pytest on tests/faults/ in a subprocess with FAULTS_SCALE=full (`--small` keeps
the sizes of `make test`; `-k` selects tests as pytest's does), then prints per fault its runs,
runs survived and faults injected, and last `faults_survived: N/M` (N runs with the right end
state of M runs). A test that failed before recording counts as a run not survived.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Tally:
    runs: int = 0
    survived: int = 0
    injected: int = 0


def tally(lines: list[str], failed_tests: list[str]) -> dict[str, Tally]:
    """Per fault, from the report's lines; a failed test that recorded nothing is a run lost."""
    found: dict[str, Tally] = defaultdict(Tally)
    recorded: set[str] = set()
    for line in lines:
        if not line.strip():
            continue
        entry = json.loads(line)
        item = found[str(entry["fault"])]
        item.runs += 1
        item.survived += 1 if entry["survived"] else 0
        item.injected += int(entry["injected"])
        recorded.add(str(entry.get("test", "")))
    for test in failed_tests:
        if test not in recorded:
            found[f"{test} (failed before recording)"].runs += 1
    return dict(found)


def failed_in(junit: Path) -> list[str]:
    """Node ids (`tests/faults/x.py::test_y`) of the tests that failed or errored."""
    if not junit.exists():
        return []
    failed = []
    for case in ElementTree.parse(junit).iter("testcase"):  # noqa: S314 - our own pytest wrote it
        if case.find("failure") is not None or case.find("error") is not None:
            path = str(case.get("classname", "")).replace(".", "/") + ".py"
            failed.append(f"{path}::{case.get('name')}")
    return failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--small", action="store_true", help="the sizes of make test, not the issue's")
    parser.add_argument("-k", dest="keyword", help="only tests matching this pytest -k expression")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds for the whole run")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="faults-") as folder:
        report = Path(folder) / "faults.jsonl"
        report.touch()
        env = {**os.environ, "FAULTS_REPORT": str(report)}
        if args.small:
            env.pop("FAULTS_SCALE", None)
        else:
            env["FAULTS_SCALE"] = "full"
        junit = Path(folder) / "junit.xml"
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}"]
        command.append("tests/faults")
        if args.keyword:
            command += ["-k", args.keyword]
        # Failed tests are counted below (as runs not survived); pytest's own summary shows why.
        outcome = subprocess.run(command, cwd=REPO, env=env, timeout=args.timeout, check=False)
        tallies = tally(report.read_text(encoding="utf-8").splitlines(), failed_in(junit))

    for fault, item in sorted(tallies.items()):
        print(f"{fault}: {item.survived}/{item.runs} runs survived, {item.injected} injected")
    runs = sum(item.runs for item in tallies.values())
    survived = sum(item.survived for item in tallies.values())
    injected = sum(item.injected for item in tallies.values())
    print(f"faults injected: {injected}; pytest exit status {outcome.returncode}")
    print(f"faults_survived: {survived}/{runs}")
    return 0 if outcome.returncode == 0 and survived == runs else 1


if __name__ == "__main__":
    sys.exit(main())

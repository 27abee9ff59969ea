"""What the fault tests injected and whether the run ended right, for `bench/faults.py` to count.

Each fault test calls `record` once per run it checked. When `FAULTS_REPORT` names a file, a JSON
line is appended there; otherwise nothing is written (the test's assertions are what `make test`
judges). `scale` picks a test's size: small in `make test`, the issue's size when the bench sets
`FAULTS_SCALE=full`.
"""

from __future__ import annotations

import json
import os


def record(fault: str, *, injected: int, survived: bool) -> None:
    """`fault`: a short name (e.g. `host-killed-during-fanout`); `injected`: how many times it was
    injected in this run; `survived`: whether the end state was right."""
    path = os.environ.get("FAULTS_REPORT")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as out:
        # The test's node id (pytest sets it), so a test that fails before recording is found too.
        test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]
        entry = {"fault": fault, "injected": injected, "survived": survived, "test": test}
        out.write(json.dumps(entry) + "\n")


def scale(small: int, full: int) -> int:
    return full if os.environ.get("FAULTS_SCALE") == "full" else small

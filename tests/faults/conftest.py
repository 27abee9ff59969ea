"""Fixtures of the fault tests: a stack of the module's own whose host and storage a test may take away.

The `faults` marker (pyproject.toml, and tests/conftest.py's per-directory markers) selects this
directory: `pytest -m faults`. Modules that need no private stack use the session's `api` instead.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.rig import FaultStack


@pytest.fixture(scope="module")
def fault_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FaultStack]:
    """A private Azurite on disk and a local host on it, with leases short enough to recover in a
    test; a module's `FAULT_SETTINGS` (a dict) adds app settings of its own."""
    settings: dict[str, str] = getattr(request.module, "FAULT_SETTINGS", {})
    stack = FaultStack(tmp_path_factory.mktemp("faults"), **settings)
    try:
        stack.start_host()
        yield stack
    finally:
        stack.close()

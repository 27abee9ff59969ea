"""Shared fixtures and markers; the stack (Azurite, stand-ins) starts only when a test needs it.

Each directory is a marker (`-m unit`, `-m integration`, `-m e2e`, `-m infra`, `-m faults`,
`-m browser`). Unit tests never import tests.stack, so they run without Node, Azurite or stand-ins;
the first integration, e2e, faults or browser test module (or fixture) that imports it starts one
stack for the whole session.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from localdev.graph_standin import StandinControl

_TESTS = Path(__file__).resolve().parent
_MARKERS = ("unit", "integration", "e2e", "infra", "faults", "browser")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """A directory whose marker the -m expression cannot select is not even imported: `-m unit`
    from the root then starts no Azurite (integration and e2e modules start the stack at import)."""
    expression = config.option.markexpr
    if not expression or collection_path.parent != _TESTS or collection_path.name not in _MARKERS:
        return None
    from _pytest.mark.expression import Expression

    selected = Expression.compile(expression).evaluate(lambda name, **_: name == collection_path.name)
    return True if not selected else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.path)).resolve().relative_to(_TESTS).parts
        if parts and parts[0] in _MARKERS:
            item.add_marker(getattr(pytest.mark, parts[0]))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    stack = sys.modules.get("tests.stack")
    if stack is not None:
        stack.stop()


@pytest.fixture(scope="session")
def stack_env() -> dict[str, str]:
    from tests.stack import STACK_ENV

    return dict(STACK_ENV)


@pytest.fixture(scope="session")
def router(stack_env: dict[str, str]):  # type: ignore[no-untyped-def]
    from functions import deps

    return deps.storage()


@pytest.fixture(scope="module")
def control(stack_env: dict[str, str]) -> Iterator[StandinControl]:
    """The session's Graph stand-in, steered (tenants, consents, GDAP relationships, faults)."""
    from localdev.graph_standin import StandinControl
    from tests.stack import GRAPH

    client = StandinControl(GRAPH.base_url, GRAPH.certificates.ca)
    yield client
    client.clear_faults()
    client.close()


@pytest.fixture(scope="module")
def api(stack_env: dict[str, str]) -> Iterator[str]:
    """Base URL of the product app served by the local host against the test Azurite.

    One per module: a host outliving its module would go on syncing, sweeping and taking queue
    messages in the stack the next module uses (with xdist, an integration module of the same
    worker, whose tests drive that work themselves)."""
    from localdev.stack import local_host

    with local_host(stack_env) as base:
        yield base

"""Shared fixtures: one private Azurite per test session, and the product app on a local host."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from localdev.fcm_local import start_fcm_standin
from localdev.graph_standin import GraphStandin, StandinControl, serve_in_thread
from localdev.stack import local_host, start_test_azurite

# Settings are read from the environment once per process, so the test Azurite's addresses go
# there before anything reads them.
_AZURITE, STACK_ENV = start_test_azurite()
# One Graph stand-in for the session, with small generated tenants (tests that need a size set it
# per tenant through StandinControl); its settings reach every host started below.
_GRAPH = serve_in_thread(GraphStandin(users_per_tenant=int(os.environ.get("TEST_TENANT_USERS", "40"))))
GRAPH = _GRAPH.__enter__()
STACK_ENV.update(GRAPH.settings())
# One FCM stand-in for the session (real firebase-admin, OAuth included, talks to it).
FCM, _FCM_SETTINGS = start_fcm_standin()
STACK_ENV.update(_FCM_SETTINGS)
os.environ.update(STACK_ENV)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _GRAPH.__exit__(None, None, None)
    FCM.stop()
    _AZURITE.stop()


@pytest.fixture(scope="session")
def stack_env() -> dict[str, str]:
    return dict(STACK_ENV)


@pytest.fixture(scope="session")
def router():  # type: ignore[no-untyped-def]
    from functions import deps

    return deps.storage()


@pytest.fixture(scope="module")
def control() -> Iterator[StandinControl]:
    """The session's Graph stand-in, steered (tenants, consents, GDAP relationships, faults)."""
    client = StandinControl(GRAPH.base_url, GRAPH.certificates.ca)
    yield client
    client.clear_faults()
    client.close()


@pytest.fixture(scope="session")
def api(stack_env: dict[str, str]) -> Iterator[str]:
    """Base URL of the product app served by the local host against the test Azurite."""
    with local_host(stack_env) as base:
        yield base

"""Schemathesis against the local host: no 5xx, and every response conforms to the OpenAPI document."""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from localdev.stack import local_host
from tests.conftest import STACK_ENV

# One local host for the whole module; schemathesis needs the schema at collection time.
_HOST = local_host(STACK_ENV)
BASE = _HOST.__enter__()
schema = schemathesis.openapi.from_url(f"{BASE}/api/openapi.json")
schema.config.base_url = BASE


@pytest.fixture(scope="module", autouse=True)
def _stop_host():  # type: ignore[no-untyped-def]
    yield
    _HOST.__exit__(None, None, None)


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("SCHEMATHESIS_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms(case: schemathesis.Case) -> None:
    # Every default check except positive_data_acceptance: a schema cannot express every domain
    # rule (a region must be one configured here, an expiry must lie in the future), and those
    # refusals are correct 4xx answers, not spec violations.
    case.call_and_validate(
        headers={"x-api-key": STACK_ENV["OPERATOR_API_KEY"]},
        excluded_checks=[checks.positive_data_acceptance],
    )

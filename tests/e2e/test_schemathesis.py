"""Schemathesis against the local host: no 5xx, and every response conforms to the OpenAPI document."""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from localdev.stack import local_host
from tests.conftest import STACK_ENV
from tests.e2e.actors import make_partner

# One local host for the whole module; schemathesis needs the schema at collection time.
_HOST = local_host(STACK_ENV)
BASE = _HOST.__enter__()
schema = schemathesis.openapi.from_url(f"{BASE}/api/openapi.json")
schema.config.base_url = BASE


@pytest.fixture(scope="module", autouse=True)
def _stop_host():  # type: ignore[no-untyped-def]
    yield
    _HOST.__exit__(None, None, None)


# A real partner, so that partner routes are reached with its key and its own id (a random
# partner id would only ever meet 404); operator-only routes get the break-glass key. Both ride
# in x-api-key, the scheme the auth check's probes know how to take away.
_PARTNER = make_partner(BASE, "eu")
_PARTNER_KEY = {"x-api-key": _PARTNER.key}
_OPERATOR = {"x-api-key": STACK_ENV["OPERATOR_API_KEY"]}


def _credentials(case: schemathesis.Case) -> dict[str, str]:
    schemes = {
        name for requirement in case.operation.definition.raw.get("security", []) for name in requirement
    }
    if "bearer" in schemes:
        if "partnerId" in (case.path_parameters or {}):
            case.path_parameters["partnerId"] = _PARTNER.id
        return _PARTNER_KEY
    return _OPERATOR


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
    case.call_and_validate(headers=_credentials(case), excluded_checks=[checks.positive_data_acceptance])

"""Every role against every scope, and every registered route against the permission it needs.

Tables written by hand (tests/access_table.py) are the expectation: which scopes each role of a
partner's people grants (and a key may hold), and what each route of the app requires. The routes
are read from the app as the host indexes it, so a route added without a row there, a role that
quietly gains a scope (say `privacy`), or a route that loses or changes its permission, fails
here. `tests/e2e/test_role_routes.py` calls the running app with each role's token to hold the
same tables as behaviour.
"""

from __future__ import annotations

import re

import pytest

from functions.auth import OPERATOR_SECURITY, Declared
from functions.meta import registered_endpoints
from shared.access.principals import API_KEY_SCOPES, ROLE_SCOPES, Role, Scope
from tests.access_table import EXPECTED_KEY_SCOPES, EXPECTED_ROLE_SCOPES, EXPECTED_ROUTES


def requirement(declared: Declared | None, security: tuple[str, ...]) -> str:
    if declared is not None and declared.scope is not None:
        return declared.scope.value + ("+operator" if set(OPERATOR_SECURITY) <= set(security) else "")
    if not security:
        return "public"
    if security == OPERATOR_SECURITY:
        return "operator"
    return "|".join(security)


def actual_routes() -> dict[str, str]:
    """METHOD route -> requirement, as the app registered them (route constraints such as :guid dropped)."""
    from function_app import app

    authenticators = {
        f.get_function_name(): getattr(f.get_user_function(), "__tenantry_auth__", None)
        for f in app.get_functions()
    }
    found: dict[str, str] = {}
    for name, spec in registered_endpoints():
        route = re.sub(r":[a-z]+}", "}", spec.route)
        for method in spec.methods:
            found[f"{method} {route}"] = requirement(authenticators[name], spec.security)
    return found


def test_each_role_grants_exactly_its_scopes() -> None:
    assert {
        role.value: {s.value for s in scopes} for role, scopes in ROLE_SCOPES.items()
    } == EXPECTED_ROLE_SCOPES
    assert {s.value for s in API_KEY_SCOPES} == EXPECTED_KEY_SCOPES
    assert {r.value for r in Role} == set(EXPECTED_ROLE_SCOPES)


def test_every_registered_route_requires_what_the_table_says() -> None:
    actual = actual_routes()
    missing = sorted(set(actual) - set(EXPECTED_ROUTES))
    assert not missing, (
        f"routes without a row in EXPECTED_ROUTES (add one, with the permission it needs): {missing}"
    )
    assert sorted(set(EXPECTED_ROUTES) - set(actual)) == [], "rows for routes the app no longer registers"
    changed = {
        route: (EXPECTED_ROUTES[route], need)
        for route, need in actual.items()
        if EXPECTED_ROUTES[route] != need
    }
    assert changed == {}, f"route -> (expected, registered): {changed}"


def test_every_scope_of_the_table_is_a_scope_the_product_knows() -> None:
    known = {s.value for s in Scope}
    assert set().union(*EXPECTED_ROLE_SCOPES.values()) == known
    assert known >= EXPECTED_KEY_SCOPES


@pytest.mark.parametrize("role", list(Role), ids=str)
def test_each_role_reaches_exactly_the_routes_the_tables_give_it(role: Role) -> None:
    """The role x route matrix: a pair allowed by the product must be allowed by the tables, and back."""
    actual = actual_routes()
    scoped = {
        route: need.split("+")[0]
        for route, need in actual.items()
        if need.split("+")[0] in {s.value for s in Scope}
    }
    reached = {route for route, scope in scoped.items() if Scope(scope) in ROLE_SCOPES[role]}
    expected = {
        route
        for route, need in EXPECTED_ROUTES.items()
        if need.split("+")[0] in EXPECTED_ROLE_SCOPES[role.value]
    }
    assert sorted(reached - expected) == [], f"{role.value} reaches routes the tables do not give it"
    assert sorted(expected - reached) == [], f"{role.value} is refused routes the tables give it"

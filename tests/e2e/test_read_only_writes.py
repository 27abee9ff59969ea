"""While a subscription is read-only, writes are refused except those named safe: removals."""

from __future__ import annotations

from functions.http import endpoint_spec
from tests.e2e.actors import OPERATOR, make_partner
from tests.web import web


def test_the_routes_a_read_only_partner_may_still_write_are_named(api: str) -> None:
    import function_app

    allowed, writes = set(), set()
    for function in function_app.app.get_functions():
        user_function = function.get_user_function()
        spec = endpoint_spec(user_function)
        auth = getattr(user_function, "__tenantry_auth__", None)
        if spec is None:
            continue
        changes = {(m, spec.route) for m in spec.methods if m != "GET"}
        writes |= changes
        if getattr(auth, "allowed_when_read_only", False):
            allowed |= changes
    requests = "partners/{partnerId}/privacy/requests"
    # Removing what the partner holds or can do: a partner must be able to, whatever it owes.
    assert {(m, r) for m, r in allowed if not r.startswith(requests)} == {
        ("DELETE", "partners/{partnerId}/tenants/{tenantId}"),
        ("DELETE", "partners/{partnerId}/orgs/{orgId:guid}"),
        ("DELETE", "partners/{partnerId}/orgs/{orgId:guid}/rules/{ruleId}"),
        ("DELETE", "partners/{partnerId}/personnel/{personnelId}"),
        ("DELETE", "partners/{partnerId}/api-keys/{keyId}"),
        ("DELETE", "partners/{partnerId}/consent/outbox/{itemId}"),
        ("DELETE", "partners/{partnerId}/alert-subscriptions/{subscriptionId}"),
        ("DELETE", "partners/{partnerId}/standards/{standardId}"),
        ("DELETE", "partners/{partnerId}/standard-assignments/{assignmentId}"),
        ("POST", "partners/{partnerId}/subscription/unsubscribe"),  # ending it shrinks everything
        # Not removals, and named for it: an unpaid invoice still needs the right address on it,
        # and a partner takes its data away (a data-return package) whatever it owes.
        ("PATCH", "partners/{partnerId}/administration"),
        ("POST", "partners/{partnerId}/data-returns"),
        # A complaint's answer is owed and a concluded thread starts its deletion, whatever is owed.
        ("POST", "partners/{partnerId}/complaints/{complaintId}/answer"),
        ("POST", "partners/{partnerId}/complaints/{complaintId}/close"),
        ("POST", "partners/{partnerId}/correspondence/{threadId}/conclude"),
    }
    # Data-subject requests keep the law's deadlines, not the subscription's: every one of them.
    privacy = {(m, r) for m, r in allowed if r.startswith(requests)}
    assert privacy == {(m, r) for m, r in writes if r.startswith(requests)}
    assert ("POST", requests) in privacy


def test_a_read_only_partner_removes_but_does_not_add(api: str) -> None:
    p = make_partner(api)
    created = web.post(f"{p.url}/api-keys", json={"name": "old", "scopes": ["read"]}, headers=p.bearer())
    assert created.status_code == 201
    state = web.put(f"{p.url}/subscription/state", json={"state": "past_due"}, headers=OPERATOR)
    assert state.status_code == 200
    added = web.post(f"{p.url}/api-keys", json={"name": "x", "scopes": ["read"]}, headers=p.bearer())
    assert added.status_code == 402
    org = web.post(f"{p.url}/orgs", json={"uniqueName": "contoso"}, headers=p.bearer())
    assert org.status_code == 402
    revoked = web.delete(f"{p.url}/api-keys/{created.json()['id']}", headers=p.bearer())
    assert revoked.status_code == 204

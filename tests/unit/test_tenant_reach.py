"""TenantReach: who reaches which tenants, and what a scoped caller may hand on."""

from shared.access.principals import Actor, OperatorCaller, PartnerCaller, Scope, TenantScope
from shared.access.reach import ALL_TENANTS, TenantReach

A, B, C = "aaaaaaaa-0000-0000-0000-000000000001", "bbbbbbbb-0000-0000-0000-000000000002", "cccc"
GROUPS = {"only-a": frozenset({A}), "a-and-b": frozenset({A, B}), "empty": frozenset()}


def caller(scope: TenantScope | None) -> PartnerCaller:
    return PartnerCaller("p", Actor("personnel", "me"), frozenset(Scope), scope)


def unread() -> dict[str, frozenset[str]]:
    raise AssertionError("an unscoped caller's reach needs no group read")


def test_unscoped_callers_reach_everything_without_reading_groups() -> None:
    for who in (caller(None), OperatorCaller(Actor("operator", "o"))):
        reach = TenantReach.of(who, unread)
        assert reach.unlimited and reach.allows(B) and reach.allows(None)
        assert reach.grant_refusal(None) is None and reach.sees_group("anything")


def test_a_scoped_reach_is_its_tenants_and_its_groups_members() -> None:
    reach = TenantReach.of(caller(TenantScope(frozenset({C}), frozenset({"only-a"}))), lambda: GROUPS)
    assert reach.tenant_ids == {A, C}
    assert reach.allows(A.upper()) and not reach.allows(B)
    assert not reach.allows(None)  # things of no tenant are for unscoped callers
    assert reach.sees_group("only-a") and reach.sees_group("empty")
    assert not reach.sees_group("a-and-b") and not reach.sees_group("missing")


def test_a_scoped_caller_hands_on_only_what_it_reaches() -> None:
    reach = TenantReach.of(caller(TenantScope(frozenset({A}))), lambda: GROUPS)
    assert reach.grant_refusal(None) == ALL_TENANTS
    assert reach.grant_refusal(TenantScope(frozenset({A}))) is None
    assert reach.grant_refusal(TenantScope(frozenset({A, B}))) == f"tenant:{B}"
    assert reach.grant_refusal(TenantScope(groups=frozenset({"only-a"}))) is None
    assert reach.grant_refusal(TenantScope(groups=frozenset({"a-and-b"}))) == "tenantGroup:a-and-b"
    # A group that does not exist yet could be filled later: not a scoped caller's to name.
    assert reach.grant_refusal(TenantScope(groups=frozenset({"later"}))) == "tenantGroup:later"
    # Seeing someone whose scope names such a group widens nothing, though.
    assert reach.covers(TenantScope(groups=frozenset({"later"})))
    assert not reach.covers(None)

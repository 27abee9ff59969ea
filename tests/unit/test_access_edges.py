"""Edges of access checks the mutation score found unguarded: issuers given with a trailing slash,
API-key secrets, and reach through a group that is gone or only partly within reach."""

from __future__ import annotations

import pytest

from shared.access import api_keys
from shared.access.principals import Actor, PartnerCaller, Scope, TenantScope
from shared.access.reach import TenantReach
from shared.access.tokens import TokenValidator

TENANT = "6F1C2B7E-0A4D-4C8E-9D3B-2A1F5E7C9B10"
AUDIENCE = "api://tenantry"


def test_issuers_are_the_same_with_or_without_a_trailing_slash() -> None:
    assert TokenValidator("data:,", AUDIENCE).issuers(TENANT) == (
        f"https://login.microsoftonline.com/{TENANT.lower()}/v2.0",
        f"https://sts.windows.net/{TENANT.lower()}/",
    )
    slashed = TokenValidator(
        "data:,", AUDIENCE, authority_host="https://issuer.example/", v1_issuer_host="https://sts.example/"
    )
    assert slashed.issuers("T") == ("https://issuer.example/t/v2.0", "https://sts.example/t/")
    with pytest.raises(ValueError, match="at least one audience"):
        TokenValidator("data:,", "")


def test_a_parsed_key_carries_its_secret() -> None:
    partner, key_id = "01M88V66J4VP2QB77MXNCH6HS8", "01M88V66W52CQRHYMVBKPXNNRM"
    key = api_keys.make_key(partner, key_id)
    parsed = api_keys.parse_key(key)
    assert (
        parsed is not None
        and parsed.secret == key.removeprefix(f"tk_{partner}_{key_id}_")
        and len(parsed.secret) == 43
    )


def test_a_group_that_is_gone_reaches_nobody() -> None:
    scope = TenantScope(tenant_ids=frozenset({"t1"}), groups=frozenset({"gone", "kept"}))
    assert not scope.allows("t2", {})
    assert scope.allows("T3", {"kept": frozenset({"t3"})})
    caller = PartnerCaller("P", Actor("apiKey", "K"), frozenset({Scope.READ}), scope)
    reach = TenantReach.of(caller, lambda: {"kept": frozenset({"T3"})})
    assert reach.tenant_ids == frozenset({"t1", "t3"})


def test_a_group_is_shown_only_to_those_who_see_it_whole() -> None:
    groups = {"mine": frozenset({"t1"}), "mixed": frozenset({"t1", "t9"})}
    scoped = TenantReach(frozenset({"t1"}), groups)
    assert scoped.group_view("mine") == frozenset({"t1"})
    assert scoped.group_view("mixed") is None
    assert scoped.group_view("gone") is None
    unlimited = TenantReach(None, groups)
    assert unlimited.group_view("mixed") == frozenset({"t1", "t9"})
    assert unlimited.group_view("gone") == frozenset()
    assert scoped.covers(TenantScope(groups=frozenset({"mine"})))
    assert not scoped.covers(TenantScope(groups=frozenset({"mixed"})))
    assert not scoped.covers(None)

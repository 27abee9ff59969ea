"""Report and search row keys: prefixes stay prefixes, forbidden characters never reach a key."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shared.reports import rows


@given(st.text(min_size=1, max_size=40), st.text(max_size=20))
def test_a_prefix_of_a_value_is_a_prefix_of_its_key(start: str, rest: str) -> None:
    value = rows.search_value(start + rest)
    prefix = rows.search_value(start)
    if prefix and " " not in (start + rest) and len(start + rest) <= 200:
        assert value.startswith(prefix)
    assert not set(value) & set("/\\#?~") and all(ord(c) >= 32 for c in value)


def test_search_keys_of_a_user_are_case_folded_and_skip_a_mail_equal_to_the_upn() -> None:
    user = {
        "userPrincipalName": "Ana.Li@Contoso.example",
        "mail": "ana.li@contoso.example",
        "displayName": "Ana Li",
    }
    keys = rows.search_keys("T1", "u1", user)
    assert keys == {"ana.li@contoso.example~t1~u1~userPrincipalName", "ana li~t1~u1~displayName"}


def test_a_tenants_row_keys_are_one_range_in_a_report_partition() -> None:
    low, high = rows.tenant_range("ABC")
    inside = rows.item_key("abc", "00000000-0000-0000-0000-000000000001")
    assert low <= inside < high
    assert not (low <= rows.item_key("abd", "x") < high)
    assert low <= rows.item_key("abc", rows.TENANT_ITEM) < high

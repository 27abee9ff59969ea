"""Property tests of continuation tokens: round trip, tamper, and a token of another list refused."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from shared.errors import ProblemError
from shared.storage.tables import decode_token, encode_token, partition, table_scope

EXAMPLES = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

POSITIONS = st.dictionaries(
    st.text(min_size=1, max_size=20),
    st.none() | st.text(max_size=40) | st.dictionaries(st.text(max_size=5), st.text(max_size=10), max_size=3),
    min_size=1,
    max_size=4,
)
SCOPES = st.text(max_size=60)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


def _refused(text: str, scope: str) -> ProblemError:
    with pytest.raises(ProblemError) as raised:
        decode_token(text, scope=scope)
    assert (raised.value.status, raised.value.kind) == (400, "malformed-request")
    assert "continuationToken" in (raised.value.detail or "")
    return raised.value


@EXAMPLES
@given(position=POSITIONS, scope=SCOPES)
def test_a_token_round_trips_its_position_in_its_own_list_and_is_url_safe(
    position: dict[str, Any], scope: str
) -> None:
    token = encode_token(position, scope=scope)
    assert token is not None and re.fullmatch(r"[A-Za-z0-9_=-]+", token)
    assert decode_token(token, scope=scope) == position


def test_no_position_is_no_token() -> None:
    assert encode_token(None, scope="s") is None and encode_token({}, scope="s") is None
    assert decode_token(None, scope="s") is None and decode_token("", scope="s") is None


@EXAMPLES
@given(position=POSITIONS, scope=SCOPES, other=SCOPES)
def test_a_token_of_another_list_is_a_400_that_says_so(
    position: dict[str, Any], scope: str, other: str
) -> None:
    assume(scope != other)
    token = encode_token(position, scope=scope)
    assert token is not None
    assert "another list" in (_refused(token, other).detail or "")


@EXAMPLES
@given(
    position=POSITIONS,
    mine=st.uuids().map(str),
    theirs=st.uuids().map(str),
    table=st.sampled_from(["tenants", "orgs", "personnel", "apikeys"]),
)
def test_a_page_token_of_another_partners_partition_is_refused(
    position: dict[str, Any], mine: str, theirs: str, table: str
) -> None:
    """What `tables.page` binds: the same table and filter but another partition is another list."""
    assume(mine != theirs)
    token = encode_token(position, scope=table_scope(table, partition(theirs)))
    assert token is not None
    assert "another list" in (_refused(token, table_scope(table, partition(mine))).detail or "")
    assert decode_token(token, scope=table_scope(table, partition(theirs))) == position


@EXAMPLES
@given(
    position=POSITIONS, scope=SCOPES, at=st.integers(min_value=0), replacement=st.characters(codec="ascii")
)
def test_a_tampered_token_is_a_400_unless_it_still_reads_as_the_same_position(
    position: dict[str, Any], scope: str, at: int, replacement: str
) -> None:
    token = encode_token(position, scope=scope)
    assert token is not None
    index = at % len(token)
    assume(token[index] != replacement)
    tampered = token[:index] + replacement + token[index + 1 :]
    try:
        decoded = decode_token(tampered, scope=scope)
    except ProblemError as error:
        assert (error.status, error.kind) == (400, "malformed-request")
        assert "continuationToken" in (error.detail or "")
        return
    # Only an edit base64 ignores (padding bits, a trailing character) survives: same position.
    assert decoded == position


@EXAMPLES
@given(position=POSITIONS, scope=SCOPES, other=POSITIONS)
def test_a_token_whose_position_was_swapped_is_not_one_we_issued(
    position: dict[str, Any], scope: str, other: dict[str, Any]
) -> None:
    assume(json.dumps(position, sort_keys=True) != json.dumps(other, sort_keys=True))
    token = encode_token(position, scope=scope)
    assert token is not None
    sealed = json.loads(base64.urlsafe_b64decode(token))
    sealed["p"] = other
    edited = base64.urlsafe_b64encode(json.dumps(sealed).encode()).decode()
    assert "not one we issued" in (_refused(edited, scope).detail or "")


@EXAMPLES
@given(value=JSON, scope=SCOPES)
def test_a_bare_position_or_any_json_we_did_not_seal_is_a_400(value: Any, scope: str) -> None:
    # What tokens were before they were bound (base64 of the position alone) is refused too.
    text = base64.urlsafe_b64encode(json.dumps(value).encode()).decode()
    assume(text)
    _refused(text, scope)


@EXAMPLES
@given(text=st.text(max_size=60).filter(bool), scope=SCOPES)
def test_arbitrary_text_as_a_token_is_a_400(text: str, scope: str) -> None:
    _refused(text, scope)

"""The one JSON body rule: what every entry point accepts and how it refuses the rest."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import ProblemError
from shared.jsonbody import MAX_BODY_BYTES, MAX_DEPTH, parse_json

pytestmark = pytest.mark.unit


def refusal(raw: bytes) -> ProblemError:
    with pytest.raises(ProblemError) as caught:
        parse_json(raw)
    return caught.value


@pytest.mark.parametrize(
    ("raw", "status", "says"),
    [
        (b"[" * 2000 + b"]" * 2000, 400, "nests deeper"),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), 400, "nests deeper"),
        (b'{"a": {"a": 1, "a": 2}}', 400, "'a' appears twice"),
        ('{"a": "b"}'.encode("utf-16"), 400, "not UTF-8"),
        (b'{"a": "\xff"}', 400, "not UTF-8"),
        (b'{"a": 1e400}', 400, "too large"),
        (b'{"a": NaN}', 400, "NaN is not a JSON number"),
        (b'{"a": -Infinity}', 400, "-Infinity is not a JSON number"),
        (b'{"a": ' + b"9" * 5000 + b"}", 400, "not valid JSON"),
        (b'{"a": 1', 400, "not valid JSON"),
        (b"", 400, "not valid JSON"),
        (b" " * (MAX_BODY_BYTES + 1), 413, "At most 1 MiB"),
    ],
)
def test_hostile_bodies_are_refused_with_what_is_wrong(raw: bytes, status: int, says: str) -> None:
    problem = refusal(raw)
    assert problem.status == status
    assert says in str(problem.detail)


def test_what_a_partner_or_dataverse_sends_is_read() -> None:
    nested = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert parse_json(nested) is not None
    assert parse_json(b'\xef\xbb\xbf{"bom": "ignored"}') == {"bom": "ignored"}
    assert parse_json('{"name": "Zoë \\u0000 ünïcode"}'.encode()) == {"name": "Zoë \x00 ünïcode"}
    assert parse_json(b'{"a": 1.5, "b": -0, "c": 12345678901234567890}') == {
        "a": 1.5,
        "b": 0,
        "c": 12345678901234567890,
    }


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=30,
    )
)
def test_any_json_value_round_trips(value: object) -> None:
    assert parse_json(json.dumps(value).encode()) == value

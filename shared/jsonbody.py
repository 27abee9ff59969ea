"""The one way a request body becomes JSON: the API, the Dataverse webhook and the consent links.

One decoding rule everywhere, so that a body one entry point refuses is not accepted by another:
UTF-8 (a leading byte-order mark is ignored, as RFC 8259 allows; UTF-16 and invalid UTF-8 are
refused), at most `MAX_BODY_BYTES`, no duplicate member names (which member wins differs between
parsers, so a duplicate can mean one thing to a proxy and another to us), finite numbers only, and
nesting no deeper than `MAX_DEPTH`. Every refusal is a 4xx problem, never a 500.
"""

from __future__ import annotations

import json
import math
from typing import Any

from shared.errors import ProblemError, bad_request

MAX_BODY_BYTES = 1024 * 1024
# Deep enough for any body we take (Dataverse's contexts nest about 8 levels); far below where
# Python's decoder or pydantic would recurse into trouble.
MAX_DEPTH = 64
_BOM = b"\xef\xbb\xbf"


def too_large(limit: int = MAX_BODY_BYTES) -> ProblemError:
    return ProblemError(413, "body-too-large", "The body is too large.", f"At most {_size(limit)}.")


def parse_json(raw: bytes, *, limit: int = MAX_BODY_BYTES) -> Any:
    """The JSON value of a body, or a 4xx ProblemError saying what is wrong with it."""
    if len(raw) > limit:
        raise too_large(limit)
    if raw.startswith(_BOM):
        raw = raw[len(_BOM) :]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise bad_request(f"The body is not UTF-8 (invalid byte at position {error.start}).") from None
    try:
        value = json.loads(
            text, object_pairs_hook=_no_duplicates, parse_float=_finite, parse_constant=_no_constant
        )
    except RecursionError:
        raise bad_request(f"The body nests deeper than {MAX_DEPTH} levels.") from None
    except ValueError as error:
        raise bad_request(f"The body is not valid JSON: {error}.") from None
    if _deeper_than(value, MAX_DEPTH):
        raise bad_request(f"The body nests deeper than {MAX_DEPTH} levels.")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise ValueError(f"the member name {name!r} appears twice in one object")
            seen.add(name)
    return result


def _finite(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"the number {text[:20]} is too large")
    return number


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether containers nest more than `limit` deep; iterative, and cheap for flat bodies."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit % (1024 * 1024) == 0 else f"{limit} bytes"

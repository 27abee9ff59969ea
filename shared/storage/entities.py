"""Small helpers for table entities: JSON fields, conflicts, paging tokens."""

from __future__ import annotations

import base64
import json
from typing import Any

from shared.errors import ProblemError, bad_request


def raise_if_conflict(error: Any) -> None:
    """A failed ETag or existence precondition means someone else changed it first: 409, not 500."""
    if getattr(error, "status_code", None) in (409, 412):
        raise ProblemError(
            409,
            "concurrent-change",
            "Changed by someone else.",
            "The resource changed meanwhile; read it and retry.",
        ) from error


def encode_token(token: Any) -> str | None:
    if not token:
        return None
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode()


def decode_token(text: str | None) -> Any:
    if not text:
        return None
    try:
        token = json.loads(base64.urlsafe_b64decode(text.encode()))
    except ValueError:
        token = None
    if not isinstance(token, dict) or not all(
        isinstance(k, str) and isinstance(v, (str, type(None), dict)) for k, v in token.items()
    ):
        raise bad_request("continuationToken is not one we issued.")
    return token


def page(table: Any, query: str, top: int, continuation: str | None) -> tuple[list[Any], str | None]:
    """One page of a query, with the table's continuation wrapped as our opaque token."""
    pages = table.query_entities(query, results_per_page=top).by_page(
        continuation_token=decode_token(continuation)
    )
    items = list(next(pages, []))
    return items, encode_token(pages.continuation_token)

"""Identifiers: sortable ULIDs for what we create; Microsoft ids are kept as Microsoft gives them."""

from __future__ import annotations

from ulid import ULID


def new_id() -> str:
    return str(ULID())

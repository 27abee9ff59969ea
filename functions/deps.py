"""The composition root: builds settings and adapters once per process and hands them to services."""

from __future__ import annotations

from functools import cache

from shared.settings import Settings, get_settings
from shared.storage.router import StorageRouter


def settings() -> Settings:
    return get_settings()


@cache
def storage() -> StorageRouter:
    return StorageRouter(settings())

"""The composition root: builds settings and adapters once per process and hands them to services."""

from __future__ import annotations

from functools import cache

from shared.access.authenticate import Authenticator
from shared.access.tokens import TokenValidator
from shared.clock import Clock, SystemClock
from shared.partners.directory import PartnerDirectory
from shared.partners.service import PartnerService
from shared.settings import Settings, get_settings
from shared.storage.router import StorageRouter
from shared.usage import BufferedUsage, UsageMeter


def settings() -> Settings:
    return get_settings()


@cache
def clock() -> Clock:
    return SystemClock()


@cache
def storage() -> StorageRouter:
    return StorageRouter(settings())


@cache
def partners() -> PartnerService:
    return PartnerService(
        storage(), PartnerDirectory(storage()), clock(), settings().api_key_pepper.get_secret_value()
    )


@cache
def authenticator() -> Authenticator:
    config = settings()
    return Authenticator(
        partners(),
        TokenValidator(config.entra_jwks_url, config.entra_audience),
        clock(),
        operator_key=config.operator_api_key.get_secret_value(),
        pepper=config.api_key_pepper.get_secret_value(),
        authority_host=config.entra_authority_host,
    )


@cache
def usage(region: str) -> UsageMeter:
    return UsageMeter(storage().region(region), clock())


@cache
def api_call_counter() -> BufferedUsage:
    return BufferedUsage()

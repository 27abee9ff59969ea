"""Fixtures for integration tests that need storage of their own or a real FCM sender."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from functions import deps
from localdev.stack import start_test_azurite
from shared.adapters.fcm import FcmSender, FcmSettings
from shared.storage.router import AccountStorage, StorageRouter
from tests.stack import STACK_ENV


@pytest.fixture(scope="module")
def private_stack() -> Iterator[dict[str, str]]:
    """An Azurite of this test module's own (its rows and queues meet no other module's);
    yields the stack's settings pointing at it."""
    azurite, env = start_test_azurite()
    try:
        yield {**STACK_ENV, **{k: v for k, v in env.items() if k.startswith("TENANTRY_STORAGE")}}
    finally:
        azurite.stop()


@pytest.fixture(scope="module")
def private_router(private_stack: dict[str, str]) -> StorageRouter:
    return StorageRouter(deps.settings(), private_stack)


@pytest.fixture(scope="module")
def account(private_router: StorageRouter) -> AccountStorage:
    return private_router.region("eu")


@pytest.fixture(scope="module")
def sender() -> Iterator[FcmSender]:
    """The real firebase-admin sender, pointed at the session's FCM stand-in."""
    made = FcmSender(
        FcmSettings(
            project_id=STACK_ENV["FIREBASE_PROJECT_ID"],
            service_account=STACK_ENV["FIREBASE_SERVICE_ACCOUNT"],
            fcm_url=STACK_ENV["FIREBASE_FCM_URL"],
        )
    )
    yield made
    made.close()

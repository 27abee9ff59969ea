"""Fixtures of the stand-in fault tests: storage of their own, the real FCM sender, stand-in records.

A module that uses them imports them by name (pytest finds fixtures in a module's globals).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from functions import deps
from localdev.stack import start_test_azurite
from shared.adapters.fcm import FcmSender, FcmSettings
from shared.storage.router import AccountStorage, StorageRouter
from tests.stack import FCM, STACK_ENV


@pytest.fixture(scope="module")
def own_account() -> Iterator[AccountStorage]:
    """The eu account of an Azurite of this module's own: no local host of another module polls
    its queues, so the fan-out's jobs run exactly when the test runs them."""
    azurite, env = start_test_azurite()
    try:
        settings = {**STACK_ENV, **{k: v for k, v in env.items() if k.startswith("TENANTRY_STORAGE")}}
        yield StorageRouter(deps.settings(), settings).region("eu")
    finally:
        azurite.stop()


@pytest.fixture(scope="module")
def fcm_sender() -> Iterator[FcmSender]:
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


def fcm_switch(name: str, **options: Any) -> None:
    """Sets one of the FCM stand-in's switches (`throttle`, `outage`, ...); no options switch it off."""
    answer = httpx.post(f"{FCM.base_url}/_standin/{name}", json=options)
    answer.raise_for_status()


def fcm_attempts(token: str) -> list[dict[str, Any]]:
    """Every send the FCM stand-in got for `token`: wall-clock time, status, errorCode, Retry-After."""
    answer = httpx.get(f"{FCM.base_url}/_standin/attempts", params={"token": token})
    answer.raise_for_status()
    found: list[dict[str, Any]] = answer.json()["attempts"]
    return found

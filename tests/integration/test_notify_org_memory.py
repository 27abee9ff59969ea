"""What an instance remembers of the orgs it served stays bounded, however many orgs it meets."""

from __future__ import annotations

import dataclasses
import uuid

from functions import deps
from shared.access.principals import Actor
from shared.audit.context import ActionContext
from shared.clock import SystemClock
from shared.notifications.models import OrgIn
from shared.notifications.orgs import OrgDirectory, OrgService
from shared.storage.router import StorageRouter
from tests.stack import STACK_ENV

PARTNER = "01TESTPARTNER0000000000023"
ACTION = ActionContext(Actor("operator", "test"))


class Ticks:
    """A monotonic clock that stands still: every org remembered stays fresh."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_instance_remembers_at_most_max_remembered_orgs() -> None:
    ticks = Ticks()
    router = StorageRouter(deps.settings(), STACK_ENV)
    directory = OrgDirectory(router, monotonic=ticks)
    orgs = OrgService(
        router.region("eu"), PARTNER, "eu", directory, SystemClock(), STACK_ENV["API_KEY_PEPPER"]
    )
    body = {"organizationId": str(uuid.uuid4()), "uniqueName": "m", "name": "M", "languageCode": 1033,
            "business": {"name": "M Ltd"}}  # fmt: skip
    org = orgs.get(orgs.register(OrgIn.model_validate(body), "http://localhost", ACTION).id)
    most = OrgDirectory.MAX_REMEMBERED

    # Deliveries for more orgs than the bound within one cache period: the oldest are forgotten.
    for index in range(most + 100):
        directory.remember(dataclasses.replace(org, id=f"org-{index}"), 0)
    assert directory.remembered("org-0")[0] is None
    assert directory.remembered(f"org-{most + 99}")[0] is not None
    assert sum(directory.remembered(f"org-{i}")[0] is not None for i in range(most + 100)) <= most

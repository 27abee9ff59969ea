"""A delivery meeting storage trouble is one Dataverse retries: 503 with Retry-After, not a 4xx or 500."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from functions import deps
from localdev.azurite import connection_string
from shared.access.principals import Actor
from shared.audit.context import ActionContext
from shared.clock import SystemClock
from shared.errors import ProblemError
from shared.notifications.ingest import DataverseWebhook
from shared.notifications.models import OrgIn, RuleIn
from shared.notifications.orgs import OrgDirectory, OrgService
from shared.notifications.secrets import TokenCipher
from shared.notifications.service import NotificationService
from shared.privacy.transfers import TransferApprovals
from shared.storage.router import StorageRouter
from tests.stack import STACK_ENV

PARTNER = "01TESTPARTNER0000000000022"
PEPPER = STACK_ENV["API_KEY_PEPPER"]
ACTION = ActionContext(Actor("operator", "test"))
SAMPLE = json.loads(
    (Path(__file__).parent.parent / "fixtures" / "dataverse" / "update-contact-webhook.json").read_text()
)


def test_storage_failing_while_a_delivery_is_stored_answers_503_with_retry_after() -> None:
    live = StorageRouter(deps.settings(), STACK_ENV)
    directory = OrgDirectory(live)
    orgs = OrgService(live.region("eu"), PARTNER, "eu", directory, SystemClock(), PEPPER)
    org_id = str(uuid.uuid4())
    created = orgs.register(
        OrgIn.model_validate(
            {"organizationId": org_id, "uniqueName": "u", "name": "U", "languageCode": 1033,
             "business": {"name": "U Ltd"}}
        ),
        "http://localhost",
        ACTION,
    )  # fmt: skip
    orgs.create_rule(
        org_id,
        RuleIn.model_validate(
            {
                "entity": "contact",
                "message": "Update",
                "title": "{fullname}",
                "recipients": {"type": "everyone"},
            }
        ),
        ACTION,
    )
    TransferApprovals(live.region("eu"), SystemClock()).approve(PARTNER, ACTION)  # pushes approved
    # The org and its rules answer; the region's account where notifications go does not (port 9).
    dead = {"blob": 9, "queue": 9, "table": 9}
    down = StorageRouter(
        deps.settings(), {**STACK_ENV, "TENANTRY_STORAGE_EU": connection_string("tenantryeu", "a2V5", dead)}
    ).region("eu")
    cipher = TokenCipher(STACK_ENV["DEVICE_TOKEN_KEY"])
    webhook = DataverseWebhook(
        directory,
        lambda partner, region: orgs,
        lambda partner, region: NotificationService(down, partner, SystemClock(), cipher),
    )
    delivery = webhook.authenticate(org_id, code=created.webhook_key, headers={})
    body = json.dumps({**SAMPLE, "OrganizationId": org_id, "CorrelationId": str(uuid.uuid4())}).encode()

    with pytest.raises(ProblemError) as refused:
        webhook.ingest(delivery, body, size_exceeded=False, request_id="r-22")

    assert refused.value.status == 503
    assert refused.value.kind == "service-unavailable"
    assert int(refused.value.headers["Retry-After"]) > 0

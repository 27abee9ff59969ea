"""A Dataverse delivery names its notifications: a retry gets the same ids, anything else new ones."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ulid import ULID

from shared.notifications.dataverse import parse_context
from shared.notifications.models import RuleOut
from shared.notifications.orgs import OrgLocation
from shared.notifications.webhook import plan

SAMPLE: dict[str, Any] = json.loads(
    (
        Path(__file__).resolve().parents[1] / "fixtures" / "dataverse" / "update-contact-webhook.json"
    ).read_text()
)
ORG = OrgLocation(SAMPLE["OrganizationId"], "01TESTPARTNER0000000000000", "eu")


def rule(rule_id: str) -> RuleOut:
    return RuleOut.model_validate(
        {"id": rule_id, "entity": "contact", "message": "Update", "title": "{fullname}", "body": "",
         "recipients": {"type": "initiatingUser"}, "enabled": True, "createdAt": "2026-03-01T00:00:00Z"}
    )  # fmt: skip


def ids(body: dict[str, Any], *rule_ids: str) -> list[str]:
    raw = json.dumps(body).encode()
    made = plan(ORG, [rule(r) for r in rule_ids], parse_context(body), raw)
    return [n.notification_id or "" for n in made]


def test_the_same_delivery_gets_the_same_ids_and_they_sort_by_the_event_time() -> None:
    first = ids(SAMPLE, "r1", "r2")
    assert first == ids(copy.deepcopy(SAMPLE), "r1", "r2")
    assert len(set(first)) == 2  # one per rule
    moment = ULID.from_str(first[0]).datetime
    assert moment == datetime(2026, 3, 10, 9, 20, 12, tzinfo=UTC)  # OperationCreatedOn


def test_another_delivery_step_or_stage_gets_other_ids() -> None:
    base = ids(SAMPLE, "r1")
    for field, value in (
        ("CorrelationId", "11111111-2222-3333-4444-555555555555"),
        ("OperationId", "11111111-2222-3333-4444-555555555555"),
        ("RequestId", "11111111-2222-3333-4444-555555555555"),
        ("Stage", 20),
        ("OwningExtension", {"Id": "11111111-2222-3333-4444-555555555555"}),
    ):
        assert ids({**SAMPLE, field: value}, "r1") != base, field


def test_a_body_without_delivery_ids_or_time_is_named_by_its_content() -> None:
    bare = {
        k: v
        for k, v in SAMPLE.items()
        if k not in {"CorrelationId", "OperationId", "RequestId", "OwningExtension", "OperationCreatedOn"}
    }
    assert ids(bare, "r1") == ids(dict(bare), "r1")
    assert ids(bare, "r1") != ids({**bare, "Depth": 2}, "r1")
    assert ULID.from_str(ids(bare, "r1")[0]).timestamp == 0


def test_an_absurd_event_time_still_names_the_notification() -> None:
    for text in ("/Date(99999999999999999999)/", "/Date(-5)/", "not a date"):
        made = ids({**SAMPLE, "OperationCreatedOn": text}, "r1")
        assert ULID.from_str(made[0]).timestamp == 0, text

"""Reading Dataverse's RemoteExecutionContext tolerantly, and rendering templates from it."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.notifications import templates
from shared.notifications.dataverse import display, pairs, parse_context, parse_date

SAMPLE: dict[str, Any] = json.loads(
    (
        Path(__file__).resolve().parents[1] / "fixtures" / "dataverse" / "update-contact-webhook.json"
    ).read_text()
)


def test_the_documented_sample_is_read_with_its_key_value_dictionaries_and_dates() -> None:
    context = parse_context(SAMPLE)
    assert (context.entity, context.message, context.stage) == ("contact", "Update", 40)
    assert context.record_id == SAMPLE["PrimaryEntityId"]
    assert context.step_id == "e5a0b7d3-1b3e-f011-8779-000d3a3b1c2e"
    assert context.initiating_user_id == "b7e41c90-6c0e-ef11-9f89-000d3a3b1c2e"
    assert context.target is not None and context.target.attributes["fullname"] == "Maria Campbell"
    assert "firstname" in context.changed()
    assert parse_date(context.target.attributes["modifiedon"]) == datetime(2026, 3, 10, 9, 20, 12, tzinfo=UTC)
    assert parse_date("/Date(1773134412000+0000)/") == datetime(2026, 3, 10, 9, 20, 12, tzinfo=UTC)


def test_unknown_fields_missing_parts_and_other_shapes_are_tolerated() -> None:
    body = copy.deepcopy(SAMPLE)
    body["SomethingNew"] = {"nested": [1, 2]}
    for name in ("InputParameters", "PostEntityImages", "PreEntityImages", "ParentContext", "RequestId"):
        body.pop(name, None)
    context = parse_context(body, size_exceeded=True)
    assert context.size_exceeded and context.target is None and context.owner_id() is None
    assert context.record_id == SAMPLE["PrimaryEntityId"]
    assert pairs({"already": "a dict"}) == {"already": "a dict"}
    assert pairs([{"key": "a", "value": 1}, "junk", {"nokey": 1}]) == {"a": 1}
    with pytest.raises(ValueError, match="not a RemoteExecutionContext"):
        parse_context(["not", "an", "object"])


def test_attribute_values_render_as_text() -> None:
    reference = {
        "__type": "EntityReference:http://schemas.microsoft.com/xrm/2011/Contracts",
        "Id": "x",
        "Name": "Ana",
    }
    assert display(reference) == "Ana"
    assert (
        display({"__type": "OptionSetValue:http://schemas.microsoft.com/xrm/2011/Contracts", "Value": 3})
        == "3"
    )
    assert (
        display({"__type": "Money:http://schemas.microsoft.com/xrm/2011/Contracts", "Value": 12.5}) == "12.5"
    )
    assert display(True) == "Yes" and display(None) == ""
    assert display("/Date(0)/") == "1970-01-01T00:00:00Z"


def test_templates_fill_from_post_image_then_target_with_formatted_values_first() -> None:
    body = copy.deepcopy(SAMPLE)
    body["PostEntityImages"][0]["value"]["FormattedValues"] = [
        {"key": "fullname", "value": "Campbell, Maria"}
    ]
    context = parse_context(body)
    rendered = templates.render("{fullname} by {modifiedby} ({$entity}/{$recordId}) {missing}{{x}}", context)
    user, record = "b7e41c90-6c0e-ef11-9f89-000d3a3b1c2e", SAMPLE["PrimaryEntityId"]
    assert rendered == f"Campbell, Maria by {user} (contact/{record}) {{x}}"


@pytest.mark.parametrize(
    ("template", "ok"),
    [
        ("{fullname} was updated", True),
        ("{$entity} {$recordId} {$message} {$initiatingUserId} {$organizationId}", True),
        ("literal {{braces}}", True),
        ("{$nope}", False),
        ("{Full Name}", False),
        ("{fullname:>10}", False),
        ("unbalanced {", False),
        ("unbalanced }", False),
    ],
)
def test_unknown_or_malformed_placeholders_are_refused(template: str, ok: bool) -> None:
    assert (templates.problems(template) == []) is ok

"""What a Dataverse delivery turns into: which rules fire, what the push says, and who it is for."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shared.errors import ProblemError
from shared.notifications.dataverse import parse_context
from shared.notifications.models import RuleOut
from shared.notifications.orgs import OrgLocation
from shared.notifications.payload import NewNotification
from shared.notifications.webhook import plan

SAMPLE: dict[str, Any] = json.loads(
    (
        Path(__file__).resolve().parents[1] / "fixtures" / "dataverse" / "update-contact-webhook.json"
    ).read_text()
)
ORG = OrgLocation(SAMPLE["OrganizationId"], "01TESTPARTNER0000000000000", "eu")
RECORD = "8f3c2a61-7d4f-f011-8779-000d3a3b1c2e"
INITIATING_USER = "b7e41c90-6c0e-ef11-9f89-000d3a3b1c2e"


def rule(rule_id: str = "r1", **overrides: Any) -> RuleOut:
    fields = {
        "id": rule_id,
        "entity": "contact",
        "message": "update",
        "title": "{fullname} changed",
        "body": "Now: {firstname}",
        "recipients": {"type": "initiatingUser"},
        "enabled": True,
        "createdAt": "2026-03-01T00:00:00Z",
        **overrides,
    }
    return RuleOut.model_validate(fields)


def planned(*rules: RuleOut, body: dict[str, Any] | None = None) -> list[NewNotification]:
    delivery = SAMPLE if body is None else body
    return plan(ORG, list(rules), parse_context(delivery), json.dumps(delivery).encode())


def test_a_matching_rule_makes_a_push_that_names_the_record() -> None:
    [made] = planned(rule(link="https://crm.example/contacts/{contactid}"))
    assert (made.org_id, made.source, made.rule_id) == (ORG.org_id, "webhook", "r1")
    assert (made.entity, made.message, made.record_id) == ("contact", "Update", RECORD)
    assert (made.recipients, made.needs_record) == ([INITIATING_USER], False)
    assert made.payload.title == "Maria Campbell changed"
    assert made.payload.body == "Now: Maria"
    assert made.payload.data == {"entity": "contact", "recordId": RECORD, "ruleId": "r1"}
    assert made.payload.link == f"https://crm.example/contacts/{RECORD}"


def test_only_https_links_reach_the_device_and_long_texts_are_cut() -> None:
    [plain, none] = planned(
        rule("r1", link="http://crm.example/{contactid}", title="t" * 600, body="b" * 5000), rule("r2")
    )
    assert plain.payload.link is None and none.payload.link is None
    assert (len(plain.payload.title), len(plain.payload.body)) == (500, 4000)


def test_rules_for_other_entities_messages_or_columns_do_not_fire() -> None:
    made = planned(
        rule("other-entity", entity="account"),
        rule("other-message", message="Create"),
        rule("other-column", filteringAttributes=["telephone1"]),
        rule("this-column", filteringAttributes=["telephone1", "firstname"]),
        rule("any-column"),
    )
    assert [n.rule_id for n in made] == ["this-column", "any-column"]


@pytest.mark.parametrize(
    ("recipients", "expected"),
    [
        ({"type": "everyone"}, (None, False)),
        ({"type": "users", "users": ["B7E41C90-6C0E-EF11-9F89-000D3A3B1C2E"]}, ([INITIATING_USER], False)),
        ({"type": "initiatingUser"}, ([INITIATING_USER], False)),
        # The owner is not in this delivery (no images carry it): kept, reaching nobody, marked.
        ({"type": "owner"}, ([], True)),
    ],
)
def test_each_kind_of_recipient(recipients: dict[str, Any], expected: tuple[list[str] | None, bool]) -> None:
    [made] = planned(rule(recipients=recipients))
    assert (made.recipients, made.needs_record) == expected


def test_without_an_initiating_user_the_push_reaches_nobody_and_says_so() -> None:
    anonymous = {key: value for key, value in SAMPLE.items() if key not in ("InitiatingUserId", "UserId")}
    [made] = planned(rule(), body=anonymous)
    assert (made.recipients, made.needs_record) == ([], True)


def test_a_delivery_for_another_organisation_is_refused() -> None:
    with pytest.raises(ProblemError) as refused:
        planned(rule(), body={**SAMPLE, "OrganizationId": "11111111-2222-3333-4444-555555555555"})
    assert refused.value.status == 422
    assert [(e.field, e.message) for e in refused.value.errors] == [
        ("OrganizationId", "is not this webhook's organisation")
    ]

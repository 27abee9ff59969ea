"""The OpenAPI document is exact enough to generate clients from: one schema per model, unique names."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from pydantic import ValidationError

from functions.meta import openapi_document
from shared.notifications.models import TEMPLATE_PATTERN
from shared.notifications.templates import problems
from shared.partners.models import SubscriptionIn
from shared.tenants.models import SecurityDefaultsIn, UserPatch


def refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(refs(item) for item in node))
    return set()


def test_every_model_is_one_schema_under_a_stable_unique_name() -> None:
    document = openapi_document()
    schemas = document["components"]["schemas"]
    # Generators make one class per schema named by its title: no -Input/-Output pairs, no module
    # path in a name, the title equal to the name (two models of one class name would clash).
    assert not [name for name in schemas if name.endswith(("-Input", "-Output")) or "__" in name]
    assert {name: schema.get("title") for name, schema in schemas.items()} == {n: n for n in schemas}
    # Both consent areas' contacts keep their own names.
    assert {"PartnerContactOut", "PrivacyContactOut"} <= set(schemas)
    # Every reference resolves, and the document is the same each time it is built.
    for ref in refs(document):
        section, name = ref.removeprefix("#/components/").split("/")
        assert name in document["components"][section], ref
    assert json.dumps(document, sort_keys=True) == json.dumps(openapi_document.__wrapped__(), sort_keys=True)


def test_a_boolean_is_true_or_false_and_an_integer_a_json_integer() -> None:
    # A 0 on security-defaults must never switch a tenant's security off.
    for sent in (0, 1, "false", "no", "off"):
        with pytest.raises(ValidationError, match="true or false"):
            SecurityDefaultsIn.model_validate({"enabled": sent})
    assert SecurityDefaultsIn.model_validate({"enabled": False}).enabled is False
    with pytest.raises(ValidationError, match="true or false"):
        UserPatch.model_validate({"accountEnabled": 0})
    assert UserPatch.model_validate({"accountEnabled": None}).account_enabled is None
    base = {"plan": "standard", "billingCycle": "monthly"}
    for sent in ("25", 25.5, True):
        with pytest.raises(ValidationError, match="an integer"):
            SubscriptionIn.model_validate({**base, "tenantLimit": sent})
    assert SubscriptionIn.model_validate({**base, "tenantLimit": 25}).tenant_limit == 25
    assert SubscriptionIn.model_validate({**base, "tenantLimit": 25.0}).tenant_limit == 25  # JSON Schema


def test_the_rules_the_server_enforces_are_stated() -> None:
    schemas = openapi_document()["components"]["schemas"]

    def one_of(name: str) -> list[dict[str, Any]]:
        rule = schemas[name]["allOf"][0]  # wrapped, so generators keep the model's own fields
        return list(rule["oneOf"])

    # "Exactly one of", as the validators enforce it.
    assert [b["required"] for b in one_of("SubjectIdentifier")] == [
        ["email"],
        ["objectId"],
        ["systemUserId"],
        ["phone"],
    ]
    assert [b["required"] for b in one_of("RequestIn")] == [["tenantId"], ["orgId"]]
    assert [b.get("required") for b in one_of("NotificationIn")] == [["recipients"], ["everyone"]]
    assert [b.get("required") for b in one_of("WebhookAuth")] == [["type", "headerName"], None]
    assert one_of("Recipients")[0]["properties"]["users"]["minItems"] == 1
    # Regions are the configured ones; e-mail and purpose rules of the consent sign-up.
    assert schemas["PartnerIn"]["properties"]["region"]["enum"] == ["eu", "us"]
    assert schemas["BreachIn"]["properties"]["region"]["enum"] == ["eu", "us"]
    assert schemas["SubscribeIn"]["properties"]["email"]["pattern"].startswith("^[A-Za-z0-9")
    assert schemas["SubscribeIn"]["properties"]["purpose"]["pattern"] == "^[a-z][a-z0-9-]{0,39}$"
    # A notification's link is https.
    link = schemas["NotificationIn"]["properties"]["link"]["anyOf"][0]
    assert link["pattern"] == "^https://"


def test_a_continuation_token_is_described_as_the_servers_own() -> None:
    document = openapi_document()
    tokens = [
        parameter
        for methods in document["paths"].values()
        for operation in methods.values()
        for parameter in operation["parameters"]
        if parameter["name"] == "continuationToken"
    ]
    assert len(tokens) >= 7
    assert all("previous page" in p["schema"].get("description", "") for p in tokens), tokens


@pytest.mark.parametrize(
    "template",
    [
        "Case {title}",
        "{{literal}}",
        "{$entity} {{x}}",
        "",
        "plain",
        "{x}}",
        "{{x}",
        "{X}",
        "{$nope}",
        "{",
        "a}",
    ],
)
def test_the_documented_template_pattern_is_the_rule_the_server_applies(template: str) -> None:
    assert bool(re.fullmatch(TEMPLATE_PATTERN, template)) == (not problems(template))


def test_every_path_parameter_states_the_ids_the_server_takes() -> None:
    """A generator types them, a fuzzer sends only values that could name something."""
    document = openapi_document()
    schemas = {
        (path, parameter["name"]): parameter["schema"]
        for path, methods in document["paths"].items()
        for operation in methods.values()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "path"
    }
    free = {
        name for (_, name), schema in schemas.items() if "pattern" not in schema and "format" not in schema
    }
    # Only a device id stays free: unsubscribing an unknown or malformed device id twice is done.
    # (An outbox item id is ours, a ULID: a malformed one is refused like any unknown id.)
    assert free == {"deviceId"}
    ulid = re.compile(schemas[("/api/partners/{partnerId}", "partnerId")]["pattern"])
    assert ulid.match("01HZX3J5W8K9M2N4P6Q7R8S9T0") and not ulid.match("p-1")
    tenant = "/api/partners/{partnerId}/tenants/{tenantId}"
    assert re.match(schemas[(tenant, "tenantId")]["pattern"], "0f8fad5b-d9cb-469f-a165-70867728950e")
    assert schemas[("/api/partners/{partnerId}/orgs/{orgId}", "orgId")] == {
        "type": "string",
        "format": "uuid",
    }


def test_a_route_that_hands_large_work_to_a_long_operation_documents_both_answers() -> None:
    # A client generated from the document must know a 202 with a status resource can come back.
    verify = openapi_document()["paths"]["/api/partners/{partnerId}/events/verify"]["get"]["responses"]
    assert verify["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/VerifyOut"
    }
    accepted = verify["202"]
    assert "Location" in accepted["headers"]
    assert accepted["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/VerificationOut"
    }

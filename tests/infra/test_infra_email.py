"""Alert e-mail in infra/: each stamp has its own ACS Email (sender domain per stamp, data in the
stamp's geography), reached by the app with the stamp identity and never with a key.

Read from the parsed Bicep and the parameter files, so that a connection string or an access key
coming back, a stamp sharing another's domain, or the settings the code reads for ACS drifting from
what the stamp deploys fails here rather than at the first alert e-mail.
"""

from __future__ import annotations

import json
from typing import Any

from shared.settings import Settings

EMAIL = "modules/email.bicep"
FUNCTION_APP = "modules/function-app.bicep"
COMMUNICATION = "Microsoft.Communication/communicationServices"
DOMAINS = "Microsoft.Communication/emailServices/domains"
ROLE_ASSIGNMENT = "Microsoft.Authorization/roleAssignments"
# Where each stamp's e-mail data may rest: the ACS data location of the region's geography.
GEOGRAPHY = {"eu": "Europe", "us": "United States"}


def _alias(name: str) -> str:
    return str(Settings.model_fields[name].alias)


def _one(bicep: Any, resource_type: str) -> tuple[str, dict[str, Any]]:
    found = bicep.resources(EMAIL, resource_type)
    assert len(found) == 1, f"infra/{EMAIL}: exactly one {resource_type}, found {sorted(found)}"
    symbol, resource = next(iter(found.items()))
    return symbol, resource["config"]


def _app_settings(bicep: Any) -> dict[str, Any]:
    [settings] = [
        r["config"]["properties"]
        for r in bicep.resources(FUNCTION_APP, "Microsoft.Web/sites/config").values()
        if r["config"].get("name") == "appsettings"
    ]
    return {name.strip("'"): value for name, value in settings.items()}


def test_the_communication_resource_refuses_keys_and_sends_from_the_stamps_domain(bicep: Any) -> None:
    _, communication = _one(bicep, COMMUNICATION)
    properties = communication["properties"]
    assert properties.get("disableLocalAuth") is True, "ACS must refuse access keys (disableLocalAuth)"
    domain_symbol, domain = _one(bicep, DOMAINS)
    assert domain["name"] == "senderDomain", "the sender domain is the stamp's parameter"
    assert domain["properties"]["domainManagement"] == "CustomerManaged"
    assert domain_symbol in json.dumps(properties.get("linkedDomains")), "link the stamp's domain"
    assert properties["dataLocation"] == "dataLocation"


def test_the_identity_may_send_on_that_resource_only(bicep: Any) -> None:
    communication, _ = _one(bicep, COMMUNICATION)
    grants = [r["config"] for r in bicep.resources(EMAIL, ROLE_ASSIGNMENT).values()]
    assert [g.get("scope") for g in grants] == [communication]
    assert grants[0]["properties"]["principalId"] == "senderPrincipalId"
    call = bicep.doc("main.bicep")["modules"]["email"]["config"]["params"]
    assert "identity" in json.dumps(call["senderPrincipalId"]) and "principalId" in json.dumps(
        call["senderPrincipalId"]
    ), "main.bicep: the stamp identity sends the e-mails"


def test_the_app_reads_the_endpoint_and_sender_the_stamp_deploys_and_no_key(bicep: Any) -> None:
    settings = _app_settings(bicep)
    endpoint, sender = _alias("email_endpoint"), _alias("email_sender")
    assert settings.get(endpoint) == "emailEndpoint" and settings.get(sender) == "emailSender"
    assert _alias("email_connection_string") not in settings, (
        "the resource refuses keys: no connection string"
    )
    assert _alias("email_ca_bundle") not in settings, "local only"
    given = bicep.doc("main.bicep")["modules"]["functionApp"]["config"]["params"]
    assert "email" in json.dumps(given["emailEndpoint"]) and "endpoint" in json.dumps(given["emailEndpoint"])
    assert "senderAddress" in json.dumps(given["emailSender"])
    assert set(bicep.doc(EMAIL)["outputs"]) >= {"endpoint", "senderAddress"}
    # Nothing anywhere lists ACS keys or builds a connection string from them.
    for relative, document in bicep.documents.items():
        text = json.dumps(document)
        assert "listKeys" not in text and "list_keys" not in text, f"infra/{relative} reads keys"


def test_each_stamp_has_its_own_sender_domain_and_keeps_its_data_in_its_geography(
    region_param_files: dict[str, Any],
) -> None:
    domains = {}
    for region, param_file in region_param_files.items():
        assert param_file.params.get("emailDataLocation") == GEOGRAPHY[region], (
            f"{param_file.path}: emailDataLocation must be {GEOGRAPHY[region]!r}"
        )
        domains[region] = str(param_file.params.get("emailSenderDomain"))
    assert len(set(domains.values())) == len(domains), f"stamps share a sender domain: {domains}"

"""CKV_TNT_4: every role assignment is scoped to one of the stamp's own resources.

A role assignment must:
  - name its scope (without one it lands on the whole resource group or subscription);
  - scope it to a resource declared in the same file: one the file creates (the stamp's own
    account, vault or component), or, for an `existing` resource, a single table, queue or
    container (the stamp's grant on the control tables), never an account it does not own;
  - grant one of a short list of data-plane roles (no Owner, Contributor, User Access Admin), the
    one ACS role only on a Communication Services resource;
  - grant it to a service principal passed in, never to a literal principal id.
"""

from __future__ import annotations

from typing import Any

from checkov.bicep.checks.resource.base_resource_check import BaseResourceCheck
from checkov.common.models.enums import CheckCategories, CheckResult
from tenantry_support import GUID, body, dig, parsed_file, text

ALLOWED_ROLES = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
    "09976791-48a7-449e-bb21-39d1a415f350": "Communication and Email Service Owner",
}
# Roles broader than a data-plane role, allowed only on one kind of resource: ACS honours no custom
# role and has no narrower built-in one for sending e-mail with an Entra ID token.
ONLY_ON = {
    "09976791-48a7-449e-bb21-39d1a415f350": "Microsoft.Communication/communicationServices",
}
# Resource types an `existing` reference may be granted on: one data item, not an account.
ITEM_TYPES = (
    "Microsoft.Storage/storageAccounts/tableServices/tables",
    "Microsoft.Storage/storageAccounts/queueServices/queues",
    "Microsoft.Storage/storageAccounts/blobServices/containers",
)
NEVER_SCOPES = ("Microsoft.Resources/resourceGroups", "Microsoft.Resources/subscriptions")


def symbolic_name(scope: Any) -> str | None:
    """`scope: account` -> 'account'; `scope: table[i]` -> 'table'; anything else -> None."""
    if isinstance(scope, str):
        return scope
    operands = dig(scope, "operator", "operands")
    if dig(scope, "operator", "type") == "index_accessor" and isinstance(operands, dict):
        target = operands.get("operand_1")
        return target if isinstance(target, str) else None
    return None


def role_guids(value: Any, variables: dict[str, Any]) -> set[str]:
    """GUIDs in a roleDefinitionId, after resolving variables checkov left as bare names."""
    found = set(GUID.findall(text(value)))
    if not found:
        names = set()
        if isinstance(value, str):
            names.add(value)
        parameters = dig(value, "function", "parameters")
        if isinstance(parameters, dict):
            names.update(v for v in parameters.values() if isinstance(v, str))
        for name in names:
            variable = variables.get(name)
            if isinstance(variable, dict):
                found.update(GUID.findall(text(variable.get("value"))))
    return {guid.lower() for guid in found}


def scope_problem(assignment: dict[str, Any], document: dict[str, Any]) -> str | None:
    name = symbolic_name(assignment.get("scope"))
    target = document.get("resources", {}).get(name) if name else None
    if not isinstance(target, dict):
        return "scope must be a resource declared in this file"
    target_type = str(target.get("type", ""))
    if target_type in NEVER_SCOPES:
        return f"scope {name} is a whole {target_type}"
    if target.get("existing") and not target_type.startswith(ITEM_TYPES):
        return f"scope {name} is an existing {target_type}, not one table, queue or container"
    return None


def grant_problem(properties: dict[str, Any], document: dict[str, Any], scope_type: str = "") -> str | None:
    roles = role_guids(properties.get("roleDefinitionId"), document.get("variables", {}))
    if len(roles) != 1 or not roles <= ALLOWED_ROLES.keys():
        return f"role {sorted(roles)} is not one of the allowed data-plane roles"
    only_on = ONLY_ON.get(next(iter(roles)))
    if only_on is not None and scope_type != only_on:
        return f"role {ALLOWED_ROLES[next(iter(roles))]} is allowed only on a {only_on}"
    principal = properties.get("principalId")
    if not principal or (isinstance(principal, str) and GUID.fullmatch(principal)):
        return "principalId must be the stamp identity, not a literal id"
    if properties.get("principalType") != "ServicePrincipal":
        return "principalType must be ServicePrincipal (a managed identity)"
    return None


class RoleAssignmentScope(BaseResourceCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Role assignments grant a data-plane role on a stamp's own resource to its identity",
            id="CKV_TNT_4",
            categories=(CheckCategories.IAM,),
            supported_resources=("Microsoft.Authorization/roleAssignments",),
        )

    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        assignment = body(conf)
        document = parsed_file(self.entity_path)
        self.evaluated_keys = ["scope", "properties/roleDefinitionId", "properties/principalId"]
        name = symbolic_name(assignment.get("scope"))
        target = document.get("resources", {}).get(name) if name else None
        scope_type = str(target.get("type", "")) if isinstance(target, dict) else ""
        problem = scope_problem(assignment, document) or grant_problem(
            assignment.get("properties") or {}, document, scope_type
        )
        if problem:
            self.details = [problem]
            return CheckResult.FAILED
        return CheckResult.PASSED


check = RoleAssignmentScope()

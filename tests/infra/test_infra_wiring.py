"""How the Bicep files fit together, checked offline where a deployment would find out too late.

- every module call gives exactly the parameters its file declares (no unknown one, every one
  without a default), and reads only outputs the module has;
- every name carries the environment, so staging and production can share a subscription;
- every storage account and key vault has a `CanNotDelete` lock and sends its logs to a
  workspace (storage: writes and deletes of each data service, plus an alert on refused requests).
"""

from __future__ import annotations

import json
import re
from pathlib import PurePosixPath
from typing import Any

LOCK = "Microsoft.Authorization/locks"
DIAGNOSTICS = "Microsoft.Insights/diagnosticSettings"
ALERT = "Microsoft.Insights/metricAlerts"
STORAGE = "Microsoft.Storage/storageAccounts"
VAULT = "Microsoft.KeyVault/vaults"
DATA_SERVICES = ("blobServices", "queueServices", "tableServices")


def _module_file(relative: str, module: dict[str, Any]) -> str:
    path = PurePosixPath(relative).parent / module["detail"]["path"]
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts)


def _calls(bicep: Any) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(calling file, module symbol, module file, module config) for every module call."""
    found = []
    for relative, document in bicep.documents.items():
        for symbol, module in document.get("modules", {}).items():
            config = module["config"]
            while "config" in config and ("condition" in config or "loop_type" in config):
                config = config["config"]
            found.append((relative, symbol, _module_file(relative, module), config))
    return found


def test_module_calls_give_exactly_the_declared_parameters(bicep: Any) -> None:
    for relative, symbol, target, config in _calls(bicep):
        declared = bicep.doc(target).get("parameters", {})
        given = set(config.get("params") or {})
        unknown = given - set(declared)
        assert not unknown, f"infra/{relative} module {symbol}: {sorted(unknown)} are not params of {target}"
        required = {name for name, parameter in declared.items() if parameter.get("default") is None}
        missing = required - given
        assert not missing, f"infra/{relative} module {symbol}: {target} requires {sorted(missing)}"


def _outputs_read(value: Any, modules: set[str]) -> set[tuple[str, str]]:
    """(module symbol, output) for every `<module>.outputs.<name>` in an expression or string."""
    found: set[tuple[str, str]] = set()
    text = json.dumps(value, default=str)
    for match in re.finditer(r"\$\{(\w+)\.outputs\.(\w+)", text):
        found.add((match.group(1), match.group(2)))

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            operator = node.get("operator")
            if isinstance(operator, dict) and operator.get("type") == "property_accessor":
                first, second = operator["operands"]["operand_1"], operator["operands"]["operand_2"]
                inner = second.get("operator") if isinstance(second, dict) else None
                if (
                    isinstance(first, str)
                    and first in modules
                    and isinstance(inner, dict)
                    and inner.get("type") == "property_accessor"
                    and inner["operands"]["operand_1"] == "outputs"
                ):
                    output = inner["operands"]["operand_2"]
                    found.add((first, output if isinstance(output, str) else json.dumps(output)))
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(value)
    return found


def test_module_outputs_read_exist(bicep: Any) -> None:
    targets = {(relative, symbol): target for relative, symbol, target, _ in _calls(bicep)}
    for relative, document in bicep.documents.items():
        modules = set(document.get("modules", {}))
        for symbol, output in _outputs_read(document, modules):
            target = targets[relative, symbol]
            outputs = bicep.doc(target).get("outputs", {})
            assert output in outputs, f"infra/{relative} reads {symbol}.outputs.{output}; {target} lacks it"


def test_every_name_carries_the_environment(bicep: Any) -> None:
    suffix = json.dumps(bicep.variable("main.bicep", "suffix"))
    assert '"environment"' in suffix, "main.bicep: the name hash `suffix` must include the environment"
    for key, value in bicep.variable("main.bicep", "names").items():
        text = json.dumps(value)
        assert "${environment}" in text or "${suffix}" in text, (
            f"main.bicep names.{key} = {text}: name the environment (or use `suffix`, which hashes it)"
        )
    for relative, name in (("global.bicep", "resourceGroupName"), ("main.bicep", "controlResourceGroupName")):
        assert "${environment}" in str(bicep.parameter_default(relative, name)), (
            f"infra/{relative} {name}: the global group of each environment is its own"
        )
    for relative in ("global.bicep", "main.bicep"):
        parameters = bicep.doc(relative).get("parameters", {})
        assert "environment" in parameters, f"infra/{relative}: param environment"


def _resources(document: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        symbol: resource
        for symbol, resource in document.get("resources", {}).items()
        if resource.get("type") == resource_type and not resource.get("existing")
    }


def _scoped(document: dict[str, Any], resource_type: str, scope: str) -> list[dict[str, Any]]:
    resources = _resources(document, resource_type).values()
    return [r["config"] for r in resources if r["config"].get("scope") == scope]


def _locked(document: dict[str, Any], symbol: str) -> bool:
    locks = _scoped(document, LOCK, symbol)
    return any(lock.get("properties", {}).get("level") == "CanNotDelete" for lock in locks)


def _logged(document: dict[str, Any], symbol: str, categories: set[str]) -> bool:
    for config in _scoped(document, DIAGNOSTICS, symbol):
        properties = config.get("properties", {})
        sent = {
            log.get("category") or log.get("categoryGroup")
            for log in properties.get("logs", [])
            if log.get("enabled") is True
        }
        if properties.get("workspaceId") and categories <= sent:
            return True
    return False


def test_storage_accounts_are_locked_logged_and_watched(bicep: Any) -> None:
    checked = 0
    for relative, document in bicep.documents.items():
        for account in _resources(document, STORAGE):
            checked += 1
            assert _locked(document, account), f"infra/{relative} {account}: no CanNotDelete lock"
            for service in DATA_SERVICES:
                symbols = [
                    symbol
                    for symbol, resource in _resources(document, f"{STORAGE}/{service}").items()
                    if resource["config"].get("parent") == account
                ]
                assert symbols, f"infra/{relative} {account}: declare its {service} to log it"
                assert all(_logged(document, s, {"StorageWrite", "StorageDelete"}) for s in symbols), (
                    f"infra/{relative} {account}: {service} must log StorageWrite and StorageDelete"
                )
            alerts = [
                r["config"]
                for r in _resources(document, ALERT).values()
                if account in json.dumps(r["config"].get("properties", {}).get("scopes"))
            ]
            assert any("AuthorizationError" in json.dumps(a) for a in alerts), (
                f"infra/{relative} {account}: no alert on refused (AuthorizationError) requests"
            )
    assert checked >= 2, "expected the regional and the control storage account"


def test_vaults_are_locked_and_audited(bicep: Any) -> None:
    checked = 0
    for relative, document in bicep.documents.items():
        for vault in _resources(document, VAULT):
            checked += 1
            assert _locked(document, vault), f"infra/{relative} {vault}: no CanNotDelete lock"
            assert _logged(document, vault, {"audit"}), f"infra/{relative} {vault}: audit log to a workspace"
            create_mode = document["resources"][vault]["config"]["properties"].get("createMode")
            assert create_mode == "createMode", f"infra/{relative} {vault}: createMode must be a parameter"
    assert checked, "expected the stamp's key vault"

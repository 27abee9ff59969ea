"""Every personnel operation is used by a portal page; the portal calls only operations the API has."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from functions.meta import openapi_document
from shared.openapi import AUDIENCE_EXTENSION

PORTAL_SOURCE = Path(__file__).resolve().parents[2] / "portal" / "src"
# openapi-fetch calls with the literal path as the document writes it: `api.GET("/api/...", ...)`.
_CALL = re.compile(r"\.(GET|PUT|POST|PATCH|DELETE|HEAD|OPTIONS)\(\s*([\"'`])(/api/[^\"'`$]*)\2")


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }


def portal_calls(source: Path) -> dict[tuple[str, str], list[str]]:
    """(METHOD, path) -> the files under `source` that call it (the generated schema.d.ts aside)."""
    calls: dict[tuple[str, str], list[str]] = {}
    for file in sorted([*source.rglob("*.ts"), *source.rglob("*.tsx")]):
        if file.name.endswith(".d.ts"):
            continue
        for match in _CALL.finditer(file.read_text(encoding="utf-8")):
            calls.setdefault((match[1], match[3]), []).append(str(file.relative_to(source)))
    return calls


def personnel_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {key for key, op in operations(document).items() if "personnel" in op.get(AUDIENCE_EXTENSION, [])}


def test_each_operation_names_its_audience_from_its_security() -> None:
    ops = operations(openapi_document())
    # A person's token (bearer) is the personnel's; the partner's key its apps'; the operator's
    # token or break-glass key the operator's. Public operations name none.
    tenants = ops[("GET", "/api/partners/{partnerId}/tenants")]
    assert tenants[AUDIENCE_EXTENSION] == ["partner-app", "personnel"]
    assert ops[("POST", "/api/partners")][AUDIENCE_EXTENSION] == ["operator"]
    assert AUDIENCE_EXTENSION not in ops[("GET", "/api/openapi.json")]
    for (method, path), op in ops.items():
        schemes = {scheme for requirement in op["security"] for scheme in requirement}
        assert ("personnel" in op.get(AUDIENCE_EXTENSION, [])) == ("bearer" in schemes), (method, path)
        assert ("operator" in op.get(AUDIENCE_EXTENSION, [])) == bool(
            schemes & {"operatorToken", "breakGlassKey"}
        ), (method, path)


def test_every_personnel_operation_is_called_by_the_portal() -> None:
    document = openapi_document()
    called = portal_calls(PORTAL_SOURCE)
    unused = sorted(personnel_operations(document) - set(called), key=lambda key: (key[1], key[0]))
    assert not unused, "Operations for personnel that no page under portal/src calls:\n" + "\n".join(
        f"  {method} {path}" for method, path in unused
    )


def test_the_portal_calls_only_operations_the_api_has() -> None:
    known = operations(openapi_document())
    unknown = sorted((key, files) for key, files in portal_calls(PORTAL_SOURCE).items() if key not in known)
    assert not unknown, "portal/src calls operations the OpenAPI document does not have:\n" + "\n".join(
        f"  {method} {path} in {', '.join(files)}" for (method, path), files in unknown
    )

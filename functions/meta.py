"""Endpoints about the API itself: health, the OpenAPI document, its docs page, and the fallback."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import azure.functions as func

from functions import deps
from functions.http import (
    API_PREFIX,
    Call,
    EndpointSpec,
    api_route,
    endpoint,
    endpoint_spec,
    problem_response,
    request_id_of,
)
from shared.errors import method_not_allowed, not_found, service_unavailable
from shared.health import HealthReport, check_storage
from shared.openapi import Operation, build_document

bp = func.Blueprint()  # type: ignore[no-untyped-call]

API_TITLE = "Tenantry API"
API_VERSION = "0.1.0"
_SCRIPT_ROOT = Path(__file__).resolve().parent.parent


def registered_endpoints() -> list[tuple[str, EndpointSpec]]:
    """Every endpoint the app registered, read from the app itself as the host indexes it."""
    from function_app import app

    found = []
    for function in app.get_functions():
        spec = endpoint_spec(function.get_user_function())
        if spec is not None:
            found.append((str(function.get_function_name()), spec))
    return found


@cache
def openapi_document() -> dict[str, Any]:
    prefix = f"/{API_PREFIX}"
    operations = []
    for name, spec in registered_endpoints():
        for method in spec.methods:
            operations.append(
                Operation(
                    name=name if len(spec.methods) == 1 else f"{name}_{method.lower()}",
                    path=f"{prefix}/{spec.template.openapi_path()}",
                    method=method,
                    summary=spec.summary,
                    tag=spec.tag,
                    security=spec.security,
                    success_status=spec.success_status,
                    path_parameters=tuple((p.name, p.constraint) for p in spec.template.parameters),
                    body=spec.body,
                    query=spec.query,
                    response=spec.response,
                    response_media_type=spec.response_media_type,
                    route_models=spec.route_models,
                    idempotent=spec.idempotent,
                    accepted=spec.accepted,
                )
            )
    return build_document(operations, title=API_TITLE, version=API_VERSION, regions=deps.settings().regions)


@endpoint(
    bp, "health", methods=["GET"], summary="Reachability of every storage account.", tag="meta", auth=None
)
def health(call: Call) -> HealthReport:
    report = check_storage(deps.storage())
    if report.unreachable:
        error = service_unavailable(f"Storage unreachable: {', '.join(report.unreachable)}.")
        error.extra["health"] = report.model_dump(mode="json")
        raise error
    return report


@endpoint(
    bp,
    "openapi.json",
    methods=["GET"],
    summary="This API's OpenAPI 3.1 document.",
    tag="meta",
    auth=None,
    media_type="application/json",
)
def openapi(call: Call) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(openapi_document()), mimetype="application/json", charset="utf-8")


@endpoint(
    bp,
    "docs",
    methods=["GET"],
    summary="The API reference (Swagger UI) over the OpenAPI document, with try-it-out.",
    tag="meta",
    auth=None,
    media_type="text/html",
)
def docs(call: Call) -> func.HttpResponse:
    page = (Path(__file__).parent / "docs.html").read_text()
    return func.HttpResponse(page, mimetype="text/html", charset="utf-8")


# The reference's files: Swagger UI's from its npm package (the version package.json pins; a
# deployment package carries node_modules/swagger-ui-dist), and the page's own set-up script.
# Named one by one, so the route serves nothing else from disk.
_SWAGGER_UI = _SCRIPT_ROOT / "node_modules" / "swagger-ui-dist"
_DOCS_ASSETS: dict[str, tuple[Path, str]] = {
    "swagger-ui.css": (_SWAGGER_UI / "swagger-ui.css", "text/css"),
    "swagger-ui-bundle.js": (_SWAGGER_UI / "swagger-ui-bundle.js", "text/javascript"),
    "favicon-32x32.png": (_SWAGGER_UI / "favicon-32x32.png", "image/png"),
    "reference.js": (Path(__file__).parent / "docs.js", "text/javascript"),
}


@cache
def _docs_asset(name: str) -> tuple[bytes, str] | None:
    found = _DOCS_ASSETS.get(name)
    if found is None or not found[0].is_file():
        return None
    return found[0].read_bytes(), found[1]


# Static files of the docs page, not API operations: registered beside the endpoints, kept out of
# the OpenAPI document.
@api_route(bp, "docs/{asset}", ["GET"])
def docs_asset(req: func.HttpRequest) -> func.HttpResponse:
    request_id = request_id_of(req)
    asset = _docs_asset(req.route_params.get("asset", ""))
    if asset is None:
        return problem_response(not_found("No such file of the API reference."), request_id)
    body, media_type = asset
    headers = {"x-request-id": request_id, "cache-control": "public, max-age=3600"}
    return func.HttpResponse(body, mimetype=media_type, headers=headers)


# The Functions host gives a catch-all route the lowest precedence, so this runs only when no
# other function under /api/ matched the path, or none accepted the method: it turns the host's
# bare 404 into problem details, and tells 404 (no such path) from 405 (path exists, method does
# not). Its literal `api` segment puts it before the portal's catch-all (functions/portal.py).
@api_route(bp, "{*path}", None)
def fallback(req: func.HttpRequest) -> func.HttpResponse:
    request_id = request_id_of(req)
    path = req.route_params.get("path", "")
    allowed = sorted(
        {
            method
            for _, spec in registered_endpoints()
            if spec.template.match(path) is not None
            for method in spec.methods
        }
    )
    error = method_not_allowed(allowed) if allowed else not_found(f"No endpoint at /{API_PREFIX}/{path}.")
    return problem_response(error, request_id)

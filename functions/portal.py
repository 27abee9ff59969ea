"""The partner portal at `/`: its runtime configuration and the files of the built SPA (shared/portal.py)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import azure.functions as func

from functions import deps
from functions.http import problem_response, request_id_of
from shared.errors import ProblemError, method_not_allowed
from shared.portal import Portal, PortalAnswer, security_headers

bp = func.Blueprint()  # type: ignore[no-untyped-call]

_READ_METHODS = ("GET", "HEAD")


def _respond(req: func.HttpRequest, answer: PortalAnswer, request_id: str) -> func.HttpResponse:
    # HEAD answers as GET would, without the body.
    body = b"" if req.method.upper() == "HEAD" else answer.body
    headers = {**answer.headers, "Content-Type": answer.media_type, "x-request-id": request_id}
    return func.HttpResponse(body, status_code=answer.status, headers=headers, mimetype=answer.media_type)


def _refuse(error: ProblemError, request_id: str) -> func.HttpResponse:
    response = problem_response(error, request_id)
    for name, value in security_headers(deps.settings().entra_authority_host).items():
        response.headers[name] = value
    return response


def _serve(req: func.HttpRequest, answer: Callable[[], PortalAnswer]) -> func.HttpResponse:
    request_id = request_id_of(req)
    try:
        if req.method.upper() not in _READ_METHODS:
            raise method_not_allowed(list(_READ_METHODS))
        return _respond(req, answer(), request_id)
    except ProblemError as error:
        return _refuse(error, request_id)


# Not an API operation (so not in the OpenAPI document): the portal's MSAL settings.
@bp.route(route="config.json", methods=None, auth_level=func.AuthLevel.ANONYMOUS)
def portal_config(req: func.HttpRequest) -> func.HttpResponse:
    settings = deps.settings()
    return _serve(req, lambda: Portal.from_settings(settings).config(settings))


# The lowest precedence of all: every path no other function (the API's under /api/ included,
# and its own catch-all) serves. The path is read from the URL as sent, still encoded, so an
# encoded slash cannot pass for a separator once the host decoded the route value.
@bp.route(route="{*path}", methods=None, auth_level=func.AuthLevel.ANONYMOUS)
def portal(req: func.HttpRequest) -> func.HttpResponse:
    settings = deps.settings()
    return _serve(req, lambda: Portal.from_settings(settings).answer(urlsplit(req.url).path))

"""The HTTP edge: one decorator registers an endpoint, parses its input and maps results to responses.

A handler is a plain function whose type hints say everything: `call: Call` is the raw call,
`body: SomeInput` the JSON body, `query: SomeQuery` the query string, a parameter annotated with a
`RouteParams` model the validated route values (every `{name}` goes through a model; `{partnerId}`
through `PartnerRoute` unasked), and a parameter annotated with the authenticator's
principal type (e.g. `PartnerContext`) the caller; the return annotation is the response (`Model`
-> 200, `Created[Model]` -> 201, `Accepted[Model]` -> 202, `NoContent` -> 204). The same hints and
the authenticator's declared security generate the OpenAPI document, so it cannot drift from the code.
"""

from __future__ import annotations

import json
import logging
import re
import time
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any, Generic, TypeVar

import azure.functions as func
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from functions.routing import RouteTemplate
from shared.access.principals import PartnerCaller
from shared.audit.calls import CallRecord, token_digest
from shared.errors import FieldError, ProblemError, not_found, validation_failed
from shared.ids import new_id
from shared.jsonbody import parse_json

log = logging.getLogger("tenantry.http")

M = TypeVar("M", bound=BaseModel)
PROBLEM_JSON = "application/problem+json"
# Every API route is below /api/ (the rest of the site is the portal); see `api_route`.
API_PREFIX = "api"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")

# Microsoft's ids (Entra tenants, users, groups) as Microsoft writes them, and ours (`shared.ids`).
GUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
ULID_PATTERN = r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$"
Guid = Annotated[str, StringConstraints(pattern=GUID_PATTERN)]
Ulid = Annotated[str, StringConstraints(pattern=ULID_PATTERN)]


@dataclass
class Created(Generic[M]):
    resource: M
    location: str


@dataclass
class Accepted(Generic[M]):
    resource: M
    location: str | None = None  # None: accepted work with no status resource to show


class NoContent:
    pass


@dataclass
class Call:
    """What a handler gets: the raw request, route values, request id, and who is calling."""

    request: func.HttpRequest
    route: dict[str, str]
    request_id: str
    principal: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        value = self.request.headers.get(name)
        return value if value else None

    @property
    def work_id(self) -> str | None:
        """The id every attempt under one Idempotency-Key shares (None without a key): work that
        names what it creates by it finishes what a crashed attempt began (see `endpoint(idempotent=)`)."""
        value = self.extra.get(_WORK_ID)
        return str(value) if value else None


Authenticator = Callable[[Call], Any]
_WORK_ID = "idempotency.work_id"


class RouteParams(BaseModel):
    """A route's values, validated before the handler runs (fields by their route names, as aliases).

    A value that cannot name anything answers 404 with `missing` as the detail, as an unknown id does:
    a malformed id and a well-formed unknown one must look the same from outside.
    """

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)
    missing: typing.ClassVar[str] = "Not found."
    # The detail when this route value (by its route name) is the first that cannot name anything.
    missing_by_name: typing.ClassVar[dict[str, str]] = {}

    @classmethod
    def refusal(cls, error: ValidationError) -> ProblemError:
        """What a malformed value answers: 404, as an unknown one does (a model may say otherwise)."""
        errors = error.errors()
        first = str(errors[0]["loc"][0]) if errors and errors[0]["loc"] else ""
        return not_found(cls.missing_by_name.get(first, cls.missing))


class PartnerRoute(RouteParams):
    """`partners/{partnerId}`: validated for every route under it, whether the handler asks or not."""

    missing = "No such partner."
    partner_id: Ulid = Field(alias="partnerId")


@dataclass(frozen=True)
class EndpointSpec:
    """Attached to each registered function, read back by the OpenAPI builder."""

    route: str
    methods: tuple[str, ...]
    summary: str
    tag: str
    security: tuple[str, ...]
    success_status: int
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: type[BaseModel] | None
    response_media_type: str
    template: RouteTemplate
    # How the handler's parameters are filled: name -> "call" | "body" | "query" | a RouteParams
    # model | the principal type the authenticator returns.
    parameters: tuple[tuple[str, Any], ...] = ()
    # Every model the route values go through, in order (together they cover each `{name}`).
    route_models: tuple[type[RouteParams], ...] = ()
    # Honours `Idempotency-Key` (shared/idempotency.py): a retry gets the first answer again.
    idempotent: bool = False
    # `Model | Accepted[Other]`: small work answers at once, large work 202 + Location of `Other`.
    accepted: type[BaseModel] | None = None


def json_response(
    body: Any,
    status: int,
    request_id: str,
    *,
    mimetype: str = "application/json",
    headers: dict[str, str] | None = None,
) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        status_code=status,
        mimetype=mimetype,
        charset="utf-8",
        headers={"x-request-id": request_id, **(headers or {})},
    )


def problem_response(error: ProblemError, request_id: str, instance: str | None = None) -> func.HttpResponse:
    return json_response(
        error.to_problem(instance), error.status, request_id, mimetype=PROBLEM_JSON, headers=error.headers
    )


def request_id_of(req: func.HttpRequest) -> str:
    """Keeps a caller's well-formed x-request-id so traces join up; otherwise makes one."""
    given = req.headers.get("x-request-id") or ""
    return given if _REQUEST_ID.match(given) else new_id()


def _field_errors(error: ValidationError, prefix: str = "") -> list[FieldError]:
    errors = []
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"] if part != "__root__")
        errors.append(
            FieldError(prefix + location if location else prefix.rstrip(".") or "body", item["msg"])
        )
    return errors


def _parse_body(req: func.HttpRequest, model: type[M]) -> M:
    # A body added to an existing route keeps its old calls valid: no body reads as `{}`.
    if getattr(model, "body_optional", False) and not (req.get_body() or b"").strip():
        return model.model_validate({})
    content_type = (req.headers.get("content-type") or "application/json").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise ProblemError(
            415, "unsupported-media-type", "Unsupported media type.", "Send the body as application/json."
        )
    data = parse_json(req.get_body() or b"")
    if not isinstance(data, dict):
        raise validation_failed([FieldError("body", "must be a JSON object")])
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise validation_failed(_field_errors(error)) from None


def _parse_query(req: func.HttpRequest, model: type[M]) -> M:
    try:
        return model.model_validate(dict(req.params))
    except ValidationError as error:
        raise validation_failed(_field_errors(error)) from None


def _parse_route(call: Call, model: type[RouteParams]) -> RouteParams:
    try:
        return model.model_validate(call.route)
    except ValidationError as error:
        raise model.refusal(error) from None


def _route_models(
    route: str, template: RouteTemplate, plan: tuple[tuple[str, Any], ...]
) -> tuple[type[RouteParams], ...]:
    """The handler's route models, after `PartnerRoute` when the handler's own do not cover partnerId;
    a route value no model covers is an error at registration, never an unchecked string."""
    own = [kind for _, kind in plan if isinstance(kind, type) and issubclass(kind, RouteParams)]
    covered = {info.alias or name for model in own for name, info in model.model_fields.items()}
    # A value under a host constraint (`{orgId:guid}`) never reaches us malformed: the host answers 404.
    names = [p.name for p in template.parameters if not p.catch_all and p.constraint is None]
    models = ([PartnerRoute] if "partnerId" in names and "partnerId" not in covered else []) + own
    covered |= {"partnerId"} if PartnerRoute in models else set()
    unchecked = [name for name in names if name not in covered]
    if unchecked:
        raise TypeError(f"{route}: route values {unchecked} need a RouteParams model")
    return tuple(models)


def _parameters(handler: Callable[..., Any], hints: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    plan: list[tuple[str, Any]] = []
    for name, hint in hints.items():
        if name == "return":
            continue
        if name in ("call", "body", "query"):
            plan.append((name, name))
        elif isinstance(hint, type):
            plan.append((name, hint))
        else:
            raise TypeError(f"{handler.__name__}: parameter {name} needs a class annotation, not {hint!r}")
    return tuple(plan)


def _arguments(spec: EndpointSpec, call: Call) -> dict[str, Any]:
    """The handler's keyword arguments: route values first (404), then body and query (4xx)."""
    kwargs: dict[str, Any] = {}
    parsed = {model: _parse_route(call, model) for model in spec.route_models}
    for name, kind in spec.parameters:
        if isinstance(kind, type) and issubclass(kind, RouteParams):
            kwargs[name] = parsed[kind]
    for name, kind in spec.parameters:
        if kind == "call":
            kwargs[name] = call
        elif kind == "body" and spec.body is not None:
            kwargs[name] = _parse_body(call.request, spec.body)
        elif kind == "query" and spec.query is not None:
            kwargs[name] = _parse_query(call.request, spec.query)
        elif isinstance(kind, type) and not issubclass(kind, RouteParams):
            if not isinstance(call.principal, kind):
                raise TypeError(
                    f"the authenticator gave {type(call.principal).__name__}, not {kind.__name__}"
                )
            kwargs[name] = call.principal
    return kwargs


def _to_response(result: Any, spec: EndpointSpec, request_id: str) -> func.HttpResponse:
    if isinstance(result, func.HttpResponse):
        result.headers["x-request-id"] = request_id
        return result
    if isinstance(result, NoContent):
        return func.HttpResponse(status_code=204, headers={"x-request-id": request_id})
    if isinstance(result, (Created, Accepted)):
        body = result.resource.model_dump(mode="json", by_alias=True)
        location = {"Location": result.location} if result.location else None
        status = 202 if isinstance(result, Accepted) else spec.success_status
        return json_response(body, status, request_id, headers=location)
    if isinstance(result, BaseModel):
        return json_response(result.model_dump(mode="json", by_alias=True), spec.success_status, request_id)
    raise TypeError(f"handler returned {type(result).__name__}")


def _spec_from_hints(handler: Callable[..., Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(handler)
    returned = hints.get("return")
    origin = typing.get_origin(returned)
    status, response, media, accepted = 200, None, "application/json", None
    if origin in (typing.Union, types.UnionType):
        # `Model | Accepted[Other]`: the route answers 200 or, for large work, 202.
        now, later = typing.get_args(returned)
        if typing.get_origin(later) is not Accepted or not issubclass(now, BaseModel):
            raise TypeError(f"{handler.__name__}: a union return must be `Model | Accepted[Other]`")
        response, accepted = now, typing.get_args(later)[0]
    elif origin in (Created, Accepted):
        status = 201 if origin is Created else 202
        response = typing.get_args(returned)[0]
    elif returned is NoContent:
        status = 204
    elif returned is func.HttpResponse:
        media = "text/html"
    elif isinstance(returned, type) and issubclass(returned, BaseModel):
        response = returned
    else:
        raise TypeError(f"{handler.__name__}: unsupported return annotation {returned!r}")
    return {
        "success_status": status,
        "response": response,
        "response_media_type": media,
        "accepted": accepted,
        "body": hints.get("body"),
        "query": hints.get("query"),
        "parameters": _parameters(handler, hints),
    }


def endpoint(
    bp: func.Blueprint,
    route: str,
    *,
    methods: list[str],
    summary: str,
    tag: str,
    auth: Authenticator | None,
    media_type: str | None = None,
    idempotent: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Registers `handler` as an anonymous-level HTTP function; `auth` decides who may call it.

    `auth=None` marks a public endpoint; every other endpoint names its authenticator, which
    raises a ProblemError (401/403/404) or returns the principal the handler receives through a
    parameter annotated with its type. The authenticator declares its security schemes (a
    `security` attribute, see `functions.auth.Declared`): the OpenAPI document takes them from there.
    `media_type` documents what a handler returning a raw HttpResponse sends.

    `idempotent=True` (every POST that creates something): the route honours an `Idempotency-Key`
    header, scoped to the calling partner (the operator's keys to the operator): the same key and
    request within 24 hours answer the first answer again without doing the work twice, the key
    with another request 422, while the first is still working 409. The document shows the header.
    """
    if idempotent and auth is None:
        raise TypeError(f"{route}: an idempotent route needs a caller to scope its keys to")
    security: tuple[str, ...] = ()
    if auth is not None:
        declared: tuple[str, ...] | None = getattr(auth, "security", None)
        if not declared:
            raise TypeError(
                f"{route}: the authenticator declares no security schemes (use functions.auth.Declared)"
            )
        security = tuple(declared)

    def register(handler: Callable[..., Any]) -> Callable[..., Any]:
        hinted = _spec_from_hints(handler)
        if media_type is not None:
            hinted["response_media_type"] = media_type
        template = RouteTemplate(route)
        spec = EndpointSpec(
            route=route,
            methods=tuple(m.upper() for m in methods),
            summary=summary,
            tag=tag,
            security=security,
            template=template,
            route_models=_route_models(route, template, hinted["parameters"]),
            idempotent=idempotent,
            **hinted,
        )

        def http_function(req: func.HttpRequest) -> func.HttpResponse:
            request_id = request_id_of(req)
            started = time.perf_counter()
            call = Call(request=req, route=dict(req.route_params), request_id=request_id)
            try:
                if auth is not None:
                    call.principal = auth(call)
                if spec.idempotent:
                    response = _idempotently(call, lambda: _serve(handler, spec, call))
                else:
                    response = _to_response(handler(**_arguments(spec, call)), spec, request_id)
            except ProblemError as error:
                response = problem_response(error, request_id)
            except Exception:
                # The stack trace goes to our logs under the request id; the caller gets only the id.
                log.exception("unhandled error in %s (request %s)", handler.__name__, request_id)
                response = problem_response(internal_error(request_id), request_id)
            elapsed_ms = (time.perf_counter() - started) * 1000
            _log_call(call, route, response, elapsed_ms)
            log.info(
                "%s %s -> %d in %.1f ms",
                req.method,
                route,
                response.status_code,
                elapsed_ms,
                extra={"request_id": request_id, "function": handler.__name__},
            )
            return response

        # Not functools.wraps: the worker inspects the signature, which must stay `(req)`.
        http_function.__name__ = handler.__name__
        http_function.__qualname__ = handler.__qualname__
        http_function.__doc__ = handler.__doc__
        http_function.__tenantry_endpoint__ = spec  # type: ignore[attr-defined]
        http_function.__tenantry_auth__ = auth  # type: ignore[attr-defined]
        api_route(bp, route, list(spec.methods))(http_function)
        return handler

    return register


def api_route(
    bp: func.Blueprint, route: str, methods: list[str] | None
) -> Callable[[Callable[..., Any]], Any]:
    """Registers a function at `route` under /api/: the one place the API's prefix is added, since
    host.json's routePrefix is empty (the portal is served at `/`). `route` stays relative, as
    EndpointSpec, the OpenAPI document and the call log name it."""
    return bp.route(route=f"{API_PREFIX}/{route}", methods=methods, auth_level=func.AuthLevel.ANONYMOUS)


def _log_call(call: Call, route: str, response: func.HttpResponse, elapsed_ms: float) -> None:
    """A call of a partner's person or key goes into the partner's API call log (and its session
    events): only once the caller was known, and buffered, so the answer never waits on storage.
    The route template, never the path: ids, queries, bodies and credentials stay out."""
    caller = getattr(call.principal, "caller", None)
    partner = getattr(call.principal, "partner", None)
    if not isinstance(caller, PartnerCaller) or partner is None:
        return
    try:
        from functions import deps

        problem: dict[str, Any] = {}
        if response.mimetype == PROBLEM_JSON:
            parsed = json.loads(response.get_body() or b"{}")
            problem = parsed if isinstance(parsed, dict) else {}
        session = None
        if caller.actor.type == "personnel":
            _, _, token = (call.request.headers.get("authorization") or "").strip().partition(" ")
            session = token_digest(token.strip()) if token.strip() else None
        action = getattr(call.principal, "action", None)
        deps.call_log().record(
            CallRecord(
                partner_id=caller.partner_id,
                region=str(partner.region),
                at=deps.clock().now() - timedelta(milliseconds=elapsed_ms),
                request_id=call.request_id,
                method=call.request.method.upper(),
                route=route,
                status=response.status_code,
                duration_ms=round(elapsed_ms),
                caller_type=caller.actor.type,
                caller_id=caller.actor.id,
                caller_display=caller.actor.display,
                client_network=getattr(action, "client_ip", None),
                problem_type=str(problem["type"]) if problem.get("type") else None,
                problem_title=str(problem["title"]) if problem.get("title") else None,
                session=session,
            )
        )
    except Exception:  # the log is a record of the call, never a reason for it to fail
        log.exception("the call could not be put in the API call log (request %s)", call.request_id)


def _serve(handler: Callable[..., Any], spec: EndpointSpec, call: Call) -> func.HttpResponse:
    """The handler's answer, a refusal included: the answer an Idempotency-Key keeps."""
    try:
        return _to_response(handler(**_arguments(spec, call)), spec, call.request_id)
    except ProblemError as error:
        return problem_response(error, call.request_id)


def _idempotently(call: Call, serve: Callable[[], func.HttpResponse]) -> func.HttpResponse:
    """Runs `serve` once per Idempotency-Key; the records and their rules are shared/idempotency.py."""
    from functions import deps
    from shared import idempotency

    key = idempotency.parse_key(call.request.headers.get(idempotency.HEADER))
    if key is None:
        return serve()
    store, scope = deps.idempotency(call.principal, call.request.get_body() or b"")
    request = call.request
    found = store.begin(
        scope,
        key,
        idempotency.fingerprint(
            request.method, _route_path(request.url), dict(request.params), request.get_body() or b""
        ),
    )
    if isinstance(found, idempotency.Answer):
        headers = {"x-request-id": call.request_id, idempotency.REPLAY_MARKER: "true", **found.headers}
        return func.HttpResponse(
            found.body, status_code=found.status, mimetype=found.media_type, charset="utf-8", headers=headers
        )
    call.extra[_WORK_ID] = found.work_id
    try:
        response = serve()
    except BaseException:
        store.release(found)  # a failure of ours: a retry does (or finishes) the work
        raise
    kept = {name: value for name in idempotency.REPLAYED_HEADERS if (value := response.headers.get(name))}
    answer = idempotency.Answer(
        response.status_code,
        (response.get_body() or b"").decode("utf-8"),
        response.mimetype or "application/json",
        kept,
    )
    store.complete(found, answer)
    return response


def _route_path(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).path


def internal_error(request_id: str) -> ProblemError:
    return ProblemError(
        500,
        "internal-error",
        "Something went wrong on our side.",
        "Quote the correlationId when you contact support.",
        extra={"correlationId": request_id},
    )


def endpoint_spec(function: Callable[..., Any]) -> EndpointSpec | None:
    return getattr(function, "__tenantry_endpoint__", None)

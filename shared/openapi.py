"""Builds the OpenAPI 3.1 document from the operations the app registers and their pydantic models."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema

from shared.access.tokens import ACCESS_AS_USER, OPERATOR_ROLE
from shared.models import Problem


@dataclass(frozen=True)
class Operation:
    """One HTTP operation as a partner's engineer sees it."""

    name: str
    path: str  # e.g. /api/partners/{partnerId}
    method: str
    summary: str
    tag: str
    security: tuple[str, ...]  # names of security schemes; empty means public
    success_status: int
    path_parameters: tuple[tuple[str, str | None], ...]  # (name, constraint)
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    response_media_type: str = "application/json"
    # The models the route values go through: a value's schema (pattern) comes from its field.
    route_models: tuple[type[BaseModel], ...] = ()
    # The route honours `Idempotency-Key` (the header parameter and its refusals are documented).
    idempotent: bool = False
    # Large work answers 202 with this status resource and its Location instead of the result.
    accepted: type[BaseModel] | None = None


# draft-ietf-httpapi-idempotency-key-header, with Stripe's rules (shared/idempotency.py).
IDEMPOTENCY_KEY_PARAMETER: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes a retry safe: the same key with the same request within 24 hours answers the "
    "first answer again (marked `Idempotent-Replayed: true`) without doing it twice; the key with "
    "another request is 422 `idempotency-key-reused`, while the first is still working 409 "
    "`idempotency-key-in-use`. Keys are the caller's own (partners never share them). Use a UUID "
    "(1 to 255 printable ASCII characters).",
    # Printable ASCII (the server refuses others with 400); no pattern, as HTTP trims the edges.
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}
_IDEMPOTENCY_STATUSES = {
    "409": "The Idempotency-Key is in use by a request still being processed (see Retry-After).",
    "422": "A field is invalid, or the Idempotency-Key was used for another request.",
}


SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "apiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
        "description": "An API key of the partner (scopes read, write, notify, privacy).",
    },
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An Entra ID access token (v1 or v2) of the partner's person, for this API "
        "(audience: its app id URI or client id), with the delegated scope access_as_user.",
    },
    # The operator, on the routes that are the operator's: shown apart so the document says which.
    "operatorToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An Entra ID access token from the operator's tenant carrying the app role "
        "Tenantry.Operator (a person's or an app's).",
    },
    "breakGlassKey": {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
        "description": "The operator's break-glass key (OPERATOR_API_KEY): off unless set, every use logged.",
    },
    "deviceKey": {"type": "apiKey", "in": "header", "name": "x-device-key"},
    # Device registration: with the device key, the Dynamics user's own token ("deviceKey+dynamicsUser").
    "dynamicsUser": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An Entra ID access token of the Dynamics user the device is registered for: "
        "issued by the organisation's tenant to the user whose object id the org user carries, for "
        "this API, with the delegated scope access_as_user.",
    },
    "deviceSecret": {"type": "apiKey", "in": "header", "name": "x-device-secret"},
    # Dataverse's WebhookKey authentication; an org set to HttpHeader sends its own header instead.
    "webhookKey": {"type": "apiKey", "in": "query", "name": "code"},
}

# OpenAPI 3.1 lets a requirement of a non-OAuth scheme name the roles it needs.
_ROLES: dict[str, list[str]] = {
    "bearer": [ACCESS_AS_USER],
    "operatorToken": [OPERATOR_ROLE],
    "dynamicsUser": [ACCESS_AS_USER],
}

# Who each security scheme stands for: an operation's `x-tenantry-audience` lists the audiences of
# the schemes it accepts, so a reader (and the portal's coverage test) sees which are the personnel's.
AUDIENCE_EXTENSION = "x-tenantry-audience"
_AUDIENCES: dict[str, str] = {
    "bearer": "personnel",
    "apiKey": "partner-app",
    "operatorToken": "operator",
    "breakGlassKey": "operator",
    "deviceKey": "device",
    "deviceSecret": "device",
    "dynamicsUser": "device",
    "webhookKey": "dynamics",
}


def audiences(security: tuple[str, ...]) -> list[str]:
    """The audiences of an operation's security requirements, in the order they are declared."""
    found: list[str] = []
    for requirement in security:
        for scheme in requirement.split("+"):
            audience = _AUDIENCES[scheme]
            if audience not in found:
                found.append(audience)
    return found


_PARAM_SCHEMAS: dict[str | None, dict[str, Any]] = {
    None: {"type": "string", "minLength": 1},
    "int": {"type": "integer"},
    "long": {"type": "integer"},
    "bool": {"type": "boolean"},
    "guid": {"type": "string", "format": "uuid"},
}


def _path_schema(op: Operation, name: str, constraint: str | None) -> dict[str, Any]:
    """A route value's schema: the host's constraint if it has one, else the pattern of the model
    field that validates it (so a generator or fuzzer sends only values the server can take)."""
    if constraint is not None:
        return _PARAM_SCHEMAS.get(constraint, {"type": "string"})
    for model in op.route_models:
        for field_name, info in model.model_fields.items():
            if (info.alias or field_name) == name:
                pattern = model.model_json_schema(by_alias=True)["properties"][name].get("pattern")
                if pattern is not None:
                    return {"type": "string", "pattern": pattern}
    return _PARAM_SCHEMAS[None]


_PROBLEM_STATUSES = {
    "400": "The request could not be read.",
    "401": "No valid credential.",
    "403": "A valid credential that may not do this (a missing scope, role or permission).",
    "404": "Not found (also for anything outside the caller's reach).",
    "422": "A field is invalid.",
    "500": "Unexpected failure; quote the correlationId.",
}


def _success_response(op: Operation, schema: dict[str, Any] | None) -> dict[str, Any]:
    success: dict[str, Any] = {
        "description": "Success.",
        "headers": {"x-request-id": {"$ref": "#/components/headers/RequestId"}},
    }
    if schema is not None:
        success["content"] = {op.response_media_type: {"schema": schema}}
    elif op.response_media_type != "application/json":
        success["content"] = {op.response_media_type: {"schema": {"type": "string"}}}
    return success


def _accepted_response(schema: dict[str, Any]) -> dict[str, Any]:
    """The other answer of a route whose large work runs as a long operation (202 + status)."""
    return {
        "description": "Accepted: the work is large and runs as a long operation; poll the status "
        "resource at `Location`.",
        "headers": {
            "x-request-id": {"$ref": "#/components/headers/RequestId"},
            "Location": {"description": "The status resource.", "schema": {"type": "string"}},
        },
        "content": {"application/json": {"schema": schema}},
    }


def _state_idempotency(op: Operation, parameters: list[dict[str, Any]], responses: dict[str, Any]) -> None:
    """An idempotent operation's header and the refusals it adds (409 in use, 422 reused)."""
    if not op.idempotent:
        return
    parameters.append(dict(IDEMPOTENCY_KEY_PARAMETER))
    for status, description in _IDEMPOTENCY_STATUSES.items():
        responses.setdefault(status, _problem_response(description))["description"] = description


def _problem_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {"x-request-id": {"$ref": "#/components/headers/RequestId"}},
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _query_parameters(model: type[BaseModel], schemas: dict[str, Any]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
    required = set(schema.get("required", []))
    schemas.update(schema.pop("$defs", {}))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]


class _Schema(GenerateJsonSchema):
    """pydantic's JSON Schema, saying also what stripping does to a required text: a value of only
    blanks strips to nothing and is refused, so it must hold a non-blank character."""

    def str_schema(self, schema: core_schema.StringSchema) -> JsonSchemaValue:
        described = super().str_schema(schema)
        if schema.get("strip_whitespace") and schema.get("min_length") and "pattern" not in described:
            described["pattern"] = r"\S"
        return described


def _component_name(defs_name: str) -> str:
    """A stable, unique component name: pydantic qualifies a class name that two modules share
    (`shared__privacy__consent__ContactOut`); the document names it by its area instead
    (`PrivacyContactOut`), so generated clients get one readable class per model."""
    parts = defs_name.split("__")
    if len(parts) < 3:
        return defs_name
    area = parts[1].removesuffix("s")
    return area[:1].upper() + area[1:] + parts[-1]


def _rename_refs(node: Any, names: dict[str, str]) -> Any:
    if isinstance(node, dict):
        renamed = {key: _rename_refs(value, names) for key, value in node.items()}
        ref = renamed.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
            renamed["$ref"] = _REF_PREFIX + names.get(ref[len(_REF_PREFIX) :], ref[len(_REF_PREFIX) :])
        return renamed
    if isinstance(node, list):
        return [_rename_refs(item, names) for item in node]
    return node


_REF_PREFIX = "#/components/schemas/"


def _state_regions(node: Any, regions: tuple[str, ...]) -> None:
    """Every `region` property takes one of the configured regions: the document says which."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict) and isinstance(value.get("region"), dict):
                region = value["region"]
                for option in [region, *region.get("anyOf", [])]:
                    if option.get("type") == "string":
                        option["enum"] = list(regions)
            _state_regions(value, regions)
    elif isinstance(node, list):
        for item in node:
            _state_regions(item, regions)


def build_document(
    operations: list[Operation], *, title: str, version: str, regions: tuple[str, ...] = ()
) -> dict[str, Any]:
    # Each model is described in the mode it is used in: a body as what we accept (validation),
    # a response as what we send (serialization). Asking pydantic for both modes of every model
    # made it split each model in two (`-Input` / `-Output`), which client generators choke on.
    pairs: set[tuple[type[BaseModel], Literal["validation", "serialization"]]] = {(Problem, "serialization")}
    for op in operations:
        if op.body is not None:
            pairs.add((op.body, "validation"))
        if op.response is not None:
            pairs.add((op.response, "serialization"))
        if op.accepted is not None:
            pairs.add((op.accepted, "serialization"))
    refs, defs = models_json_schema(
        sorted(pairs, key=lambda p: (p[0].__module__, p[0].__qualname__, p[1])),
        by_alias=True,
        ref_template=_REF_PREFIX + "{model}",
        schema_generator=_Schema,
    )
    names = {name: _component_name(name) for name in defs.get("$defs", {})}
    # A generator names its classes by `title`: it follows the component's name.
    schemas: dict[str, Any] = {
        names[name]: {**_rename_refs(schema, names), "title": names[name]}
        for name, schema in defs.get("$defs", {}).items()
    }

    def ref(model: type[BaseModel], mode: str) -> dict[str, Any]:
        return _rename_refs(refs[(model, mode)], names)  # type: ignore[index,no-any-return]

    paths: dict[str, dict[str, Any]] = {}
    for op in sorted(operations, key=lambda o: (o.path, o.method)):
        parameters: list[dict[str, Any]] = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": _path_schema(op, name, c),
            }
            for name, c in op.path_parameters
        ]
        if op.query is not None:
            parameters.extend(_query_parameters(op.query, schemas))
        body = ref(op.response, "serialization") if op.response is not None else None
        responses: dict[str, Any] = {str(op.success_status): _success_response(op, body)}
        if op.accepted is not None:
            responses["202"] = _accepted_response(ref(op.accepted, "serialization"))
        for status, description in _PROBLEM_STATUSES.items():
            if status in ("401", "403") and not op.security:
                continue
            responses[status] = _problem_response(description)
        _state_idempotency(op, parameters, responses)
        responses["default"] = _problem_response("Any other error, as problem details.")
        operation: dict[str, Any] = {
            "operationId": op.name,
            "summary": op.summary,
            "tags": [op.tag],
            "parameters": parameters,
            "responses": responses,
            # A name joined with "+" is one requirement of several schemes together.
            "security": [{part: _ROLES.get(part, []) for part in name.split("+")} for name in op.security]
            if op.security
            else [],
        }
        if op.security:
            operation[AUDIENCE_EXTENSION] = audiences(op.security)
        if op.body is not None:
            operation["requestBody"] = {
                "required": not getattr(op.body, "body_optional", False),
                "content": {"application/json": {"schema": ref(op.body, "validation")}},
            }
        paths.setdefault(op.path, {})[op.method.lower()] = operation

    if regions:
        _state_regions(schemas, regions)
        _state_regions(
            [
                {"properties": {"region": parameter["schema"]}}
                for methods in paths.values()
                for described in methods.values()
                for parameter in described["parameters"]
                if parameter["name"] == "region"
            ],
            regions,
        )
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": SECURITY_SCHEMES,
            "headers": {
                "RequestId": {
                    "description": "Correlates this response with our logs.",
                    "schema": {"type": "string"},
                }
            },
        },
    }

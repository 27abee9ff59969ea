"""Base models for the API edge: camelCase on the wire, strict about what comes in."""

from __future__ import annotations

import types
from datetime import datetime
from functools import cache
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from shared.clock import isoformat


class ApiModel(BaseModel):
    """What we send: camelCase field names."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


def _scalar(annotation: Any) -> type | None:
    """The one JSON scalar type (bool, int, float) a field holds, looking through Optional and
    Annotated; None for anything else (strings, enums, ids, models, lists, unions of scalars)."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        kinds = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(kinds) != 1:
            return None
        return _scalar(kinds[0])
    return annotation if annotation in (bool, int, float) else None


@cache
def _scalars_of(model: type[BaseModel]) -> dict[str, type]:
    return {name: kind for name, field in model.model_fields.items() if (kind := _scalar(field.annotation))}


class ApiInput(ApiModel):
    """What we accept: unknown fields are refused, so a typo never passes silently.

    A scalar is taken only as the JSON type the document states: a boolean is `true` or `false`
    (never `0`, `"no"` or `"off"`, which pydantic would coerce: on `security-defaults` a `0`
    would switch a tenant's security off), an integer is a JSON integer (`5` or `5.0`, never `"5"`,
    `5.5` or `true`), a number is a JSON number.
    """

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _json_types_only(cls, value: Any, info: ValidationInfo) -> Any:
        kind = _scalars_of(cls).get(info.field_name or "")
        if kind is None or value is None:
            return value
        if kind is bool and not isinstance(value, bool):
            raise PydanticCustomError("bool_type", "Input should be true or false")
        if kind is int and isinstance(value, float) and value.is_integer():
            return int(value)  # JSON Schema's integer: 2.0 is one
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise PydanticCustomError("int_type", "Input should be an integer")
        if kind is float and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise PydanticCustomError("float_type", "Input should be a number")
        return value


class Problem(BaseModel):
    """RFC 9457 problem details, as every error response carries them (documented in OpenAPI)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, str]] | None = None
    correlationId: str | None = None  # noqa: N815 - wire name of the 500 problem


# ISO 8601 UTC with `Z` and whole seconds on the wire, as the API promises.
UtcDateTime = Annotated[datetime, PlainSerializer(isoformat, return_type=str, when_used="json")]


def exactly_one_of(*names: str) -> dict[str, Any]:
    """JSON Schema for "exactly one of these fields is given" (wire names), for a model whose
    validator enforces it: stated in the document, so clients and generated data know it too."""
    return one_of([{"required": [name], "properties": {name: {"not": {"type": "null"}}}} for name in names])


def one_of(branches: list[dict[str, Any]]) -> dict[str, Any]:
    """`oneOf` over a model's own properties, wrapped in `allOf`: the same rule to a validator,
    but a generator (openapi-python-client) keeps the model instead of turning it into a union
    of its branches, which would lose every other field."""
    return {"allOf": [{"oneOf": branches}]}


# What a field holding a continuation token says of it (the server refuses any other value).
CONTINUATION_TOKEN = "Opaque: the previous page's continuationToken as it came; none for the first."  # noqa: S105


class QueryInput(ApiModel):
    """Query strings: unknown parameters are ignored (proxies and caches add their own)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class PageQuery(QueryInput):
    top: int = Field(default=100, ge=1, le=1000)
    continuation_token: str | None = Field(default=None, max_length=4096, description=CONTINUATION_TOKEN)

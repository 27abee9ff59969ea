"""Base models for the API edge: camelCase on the wire, strict about what comes in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    """What we send: camelCase field names."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class ApiInput(ApiModel):
    """What we accept: unknown fields are refused, so a typo never passes silently."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


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


def _utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ISO 8601 UTC with `Z` and whole seconds on the wire, as the API promises.
UtcDateTime = Annotated[datetime, PlainSerializer(_utc_iso, return_type=str, when_used="json")]


class QueryInput(ApiModel):
    """Query strings: unknown parameters are ignored (proxies and caches add their own)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class PageQuery(QueryInput):
    top: int = Field(default=100, ge=1, le=1000)
    continuation_token: str | None = Field(default=None, max_length=4096)

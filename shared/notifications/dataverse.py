"""Reads a Dataverse RemoteExecutionContext tolerantly: plain JSON, unknown fields ignored.

What Dataverse POSTs is a DataContractJsonSerializer rendering: dictionaries are arrays of
`{"key", "value"}`, typed values carry `__type` ("Entity:http://...", "EntityReference:...",
"OptionSetValue:...", "Money:..."), dates are `\\/Date(1773134412000+0000)\\/` (JSON decoding
turns the escaped slashes into `/Date(...)/`). When the context exceeded 256 KB Dataverse sends
`x-ms-dynamics-msg-size-exceeded` and drops ParentContext, InputParameters and the images; the
context is then still valid, just thinner.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def pairs(value: Any) -> dict[str, Any]:
    """A serialised dictionary (list of key/value objects, or already a JSON object) as a dict."""
    if isinstance(value, dict):
        return value
    result: dict[str, Any] = {}
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and isinstance(item.get("key"), str):
                result[item["key"]] = item.get("value")
    return result


def type_name(value: Any) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("__type"), str):
        return str(value["__type"]).split(":", 1)[0]
    return None


def parse_date(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    match = _DATE.match(value)
    if not match:
        return None
    try:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(match.group(1)))
    except OverflowError:  # beyond year 9999: not a date anyone meant
        return None


@dataclass(frozen=True)
class Entity:
    logical_name: str | None
    id: str | None
    attributes: dict[str, Any]
    formatted: dict[str, str]


def entity(value: Any) -> Entity | None:
    if not isinstance(value, dict):
        return None
    formatted = {k: str(v) for k, v in pairs(value.get("FormattedValues")).items() if v is not None}
    return Entity(
        logical_name=_text(value.get("LogicalName")),
        id=_text(value.get("Id")),
        attributes=pairs(value.get("Attributes")),
        formatted=formatted,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def display(value: Any) -> str:  # noqa: PLR0911 - one return per kind of value
    """An attribute value as text for a template: references by name, options by value, dates ISO."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        moment = parse_date(value)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else value
    if isinstance(value, dict):
        kind = type_name(value)
        if kind == "EntityReference" or ("LogicalName" in value and "Id" in value):
            return str(value.get("Name") or value.get("Id") or "")
        if "Value" in value:  # OptionSetValue, Money
            return display(value.get("Value"))
        return ""
    if isinstance(value, list):
        return ", ".join(display(v) for v in value)
    return ""


@dataclass(frozen=True)
class ExecutionContext:
    organization_id: str | None
    message: str | None
    entity: str | None
    record_id: str | None
    correlation_id: str | None
    operation_id: str | None
    request_id: str | None
    step_id: str | None
    stage: int | None
    depth: int | None
    operation_created_on: datetime | None
    initiating_user_id: str | None
    user_id: str | None
    target: Entity | None
    post_image: Entity | None
    pre_image: Entity | None
    size_exceeded: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def attribute(self, name: str) -> tuple[bool, Any, str | None]:
        """(found, raw value, formatted value) from the post image, else the Target, else the pre image."""
        for source in (self.post_image, self.target, self.pre_image):
            if source is not None and name in source.attributes:
                return True, source.attributes[name], source.formatted.get(name)
        return False, None, None

    def changed(self) -> set[str]:
        return set(self.target.attributes) if self.target else set()

    def owner_id(self) -> str | None:
        found, value, _ = self.attribute("ownerid")
        if found and isinstance(value, dict):
            return _guid(value.get("Id"))
        return None


def _guid(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _first_entity(images: Any) -> Entity | None:
    for value in pairs(images).values():
        found = entity(value)
        if found is not None:
            return found
    return None


def parse_context(body: Any, *, size_exceeded: bool = False) -> ExecutionContext:
    """Raises ValueError only when the body is not a JSON object at all."""
    if not isinstance(body, dict):
        raise ValueError("the body is not a RemoteExecutionContext object")
    inputs = pairs(body.get("InputParameters"))
    target_value = inputs.get("Target")
    target = entity(target_value) if type_name(target_value) != "EntityReference" else None
    record_id = _guid(body.get("PrimaryEntityId"))
    if record_id is None and isinstance(target_value, dict):
        record_id = _guid(target_value.get("Id"))
    extension = body.get("OwningExtension")
    return ExecutionContext(
        organization_id=_guid(body.get("OrganizationId")),
        message=_text(body.get("MessageName")),
        entity=_text(body.get("PrimaryEntityName")),
        record_id=record_id,
        correlation_id=_guid(body.get("CorrelationId")),
        operation_id=_guid(body.get("OperationId")),
        request_id=_guid(body.get("RequestId")),
        step_id=_guid(extension.get("Id")) if isinstance(extension, dict) else None,
        stage=_int(body.get("Stage")),
        depth=_int(body.get("Depth")),
        operation_created_on=parse_date(body.get("OperationCreatedOn")),
        initiating_user_id=_guid(body.get("InitiatingUserId")),
        user_id=_guid(body.get("UserId")),
        target=target,
        post_image=_first_entity(body.get("PostEntityImages")),
        pre_image=_first_entity(body.get("PreEntityImages")),
        size_exceeded=size_exceeded,
    )

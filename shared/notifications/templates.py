"""Notification templates: `{attribute}` placeholders filled from the event, checked at save time.

A placeholder is either a Dataverse attribute logical name (`{fullname}`, `{ownerid}`: filled from
the post image, else the Target, else the pre image, the formatted value where Dataverse sent one)
or one of the built-ins below, written with a `$` (`{$entity}`). Anything else is refused when the
rule is saved: unknown built-ins, names that cannot be logical names, format specs, stray braces.
`{{` and `}}` are literal braces. A missing attribute renders as an empty string.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from shared.errors import FieldError
from shared.notifications.dataverse import ExecutionContext, display

BUILTINS: dict[str, Callable[[ExecutionContext], str | None]] = {
    "$entity": lambda c: c.entity,
    "$message": lambda c: c.message,
    "$recordId": lambda c: c.record_id,
    "$organizationId": lambda c: c.organization_id,
    "$initiatingUserId": lambda c: c.initiating_user_id,
}
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_ATTRIBUTE = re.compile(r"^[a-z][a-z0-9_]{0,99}$")


def problems(template: str) -> list[str]:
    found = []
    for match in _TOKEN.finditer(template):
        text = match.group(0)
        if text in ("{{", "}}"):
            continue
        name = match.group(1)
        if name is None:
            found.append(f"unbalanced brace at position {match.start()}")
        elif name.startswith("$"):
            if name not in BUILTINS:
                found.append(f"unknown placeholder {{{name}}}; built-ins are {', '.join(sorted(BUILTINS))}")
        elif not _ATTRIBUTE.match(name):
            found.append(f"unknown placeholder {{{name}}}: use an attribute's logical name or a built-in")
    return found


def check(fields: dict[str, str | None]) -> list[FieldError]:
    errors: list[FieldError] = []
    for field, template in fields.items():
        if template is not None:
            errors.extend(FieldError(field, message) for message in problems(template))
    return errors


def render(template: str, context: ExecutionContext) -> str:
    def value(match: re.Match[str]) -> str:
        text = match.group(0)
        if text == "{{":
            return "{"
        if text == "}}":
            return "}"
        name = match.group(1)
        if name is None:
            return text
        if name.startswith("$"):
            builtin = BUILTINS.get(name)
            return (builtin(context) or "") if builtin else ""
        found, raw, formatted = context.attribute(name)
        if not found:
            return ""
        return formatted if formatted is not None else display(raw)

    return _TOKEN.sub(value, template)

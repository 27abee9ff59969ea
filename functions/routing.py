"""Route templates as the Functions host reads them (ASP.NET Core syntax), matched in its precedence."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_PARAM = re.compile(r"\{([^{}]+)\}")

# Constraints the product may use; an unknown one is an error at indexing, never a silent match.
_CONSTRAINTS: dict[str, str] = {
    "int": r"-?\d{1,10}",
    "long": r"-?\d{1,19}",
    "bool": r"(?i:true|false)",
    "guid": r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}",
    "alpha": r"[A-Za-z]+",
    "float": r"-?\d+(?:\.\d+)?",
    "double": r"-?\d+(?:\.\d+)?",
    "decimal": r"-?\d+(?:\.\d+)?",
    "datetime": r"[0-9T:\-\.Z+]+",
}

# Lower ranks win, segment by segment: literals, then constrained, plain, optional, catch-all.
_LITERAL, _CONSTRAINED, _PLAIN, _OPTIONAL, _CATCH_ALL = range(5)


class RouteTemplateError(ValueError):
    pass


@dataclass(frozen=True)
class Parameter:
    name: str
    constraint: str | None
    optional: bool
    catch_all: bool


@dataclass
class RouteTemplate:
    template: str
    pattern: re.Pattern[str] = field(init=False)
    parameters: list[Parameter] = field(init=False)
    precedence: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.parameters = []
        ranks: list[int] = []
        regex = ""
        segments = [s for s in self.template.strip("/").split("/") if s != ""] if self.template else []
        for index, segment in enumerate(segments):
            last = index == len(segments) - 1
            whole = _PARAM.fullmatch(segment)
            if whole:
                param = self._parameter(whole.group(1))
                if (param.optional or param.catch_all) and not last:
                    raise RouteTemplateError(f"{self.template}: only the last segment may be optional")
                if param.catch_all:
                    regex += f"(?:/(?P<{param.name}>.*))?"
                    ranks.append(_CATCH_ALL)
                    continue
                value = f"(?P<{param.name}>{self._value_pattern(param)})"
                regex += f"(?:/{value})?" if param.optional else f"/{value}"
                ranks.append(_OPTIONAL if param.optional else _CONSTRAINED if param.constraint else _PLAIN)
                continue
            regex += "/" + self._mixed_segment(segment)
            ranks.append(_LITERAL if "{" not in segment else _CONSTRAINED)
        self.pattern = re.compile(f"^{regex}/?$", re.IGNORECASE)
        self.precedence = tuple(ranks)

    def _parameter(self, text: str) -> Parameter:
        catch_all = text.startswith("*")
        text = text.lstrip("*")
        optional = text.endswith("?")
        text = text.rstrip("?")
        name, _, constraint = text.partition(":")
        if not name.isidentifier():
            raise RouteTemplateError(f"{self.template}: bad parameter name {name!r}")
        if constraint and constraint not in _CONSTRAINTS:
            raise RouteTemplateError(f"{self.template}: unsupported constraint {constraint!r}")
        param = Parameter(name, constraint or None, optional, catch_all)
        self.parameters.append(param)
        return param

    @staticmethod
    def _value_pattern(param: Parameter) -> str:
        return _CONSTRAINTS[param.constraint] if param.constraint else r"[^/]+"

    def _mixed_segment(self, segment: str) -> str:
        """A segment of literals and parameters, e.g. `{name}.{ext}`; parameters match lazily."""
        out, position = "", 0
        for match in _PARAM.finditer(segment):
            out += re.escape(segment[position : match.start()])
            param = self._parameter(match.group(1))
            if param.optional or param.catch_all:
                raise RouteTemplateError(f"{self.template}: optional parameter inside a segment")
            inner = _CONSTRAINTS[param.constraint] if param.constraint else r"[^/]+?"
            out += f"(?P<{param.name}>{inner})"
            position = match.end()
        return out + re.escape(segment[position:])

    def openapi_path(self) -> str:
        """The template as OpenAPI writes paths: `{name}` without constraints or markers."""
        return _PARAM.sub(
            lambda m: "{" + m.group(1).lstrip("*").split(":")[0].rstrip("?") + "}", self.template
        )

    def match(self, path: str) -> dict[str, str] | None:
        """Route parameters for `path` (without the route prefix), or None. Absent optionals are left out."""
        found = self.pattern.match("/" + path.strip("/") if path.strip("/") else "")
        if not found:
            return None
        return {k: v for k, v in found.groupdict().items() if v is not None}


def strip_prefix(path: str, prefix: str) -> str | None:
    """The path below the route prefix (`api`), or None when the path is outside it."""
    path = "/" + path.lstrip("/")
    if not prefix:
        return path
    head = "/" + prefix.strip("/")
    if path.lower() == head.lower():
        return ""
    if path.lower().startswith(head.lower() + "/"):
        return path[len(head) :]
    return None

"""Helpers shared by Tenantry's custom checkov checks (not a check itself).

checkov hands a Bicep check the body of one resource as the pinned pycep parser reads it:
literals as Python values, references and expressions as nested dicts or as bare names (a
reference to `region` and the literal 'region' look the same), and loops or conditions as a
wrapper around the body. These helpers unwrap that and give a check the rest of its file.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def body(conf: Any) -> dict[str, Any]:
    """The resource body, without the wrapper that loops (`[for ...]`) and conditions (`if`) add."""
    while isinstance(conf, dict) and "config" in conf and ("loop_type" in conf or "condition" in conf):
        conf = conf["config"]
    return conf if isinstance(conf, dict) else {}


def dig(conf: Any, *keys: str) -> Any:
    """conf[k1][k2]... or None when any step is missing."""
    for key in keys:
        if not isinstance(conf, dict):
            return None
        conf = conf.get(key)
    return conf


def text(value: Any) -> str:
    """A value as searchable text (expressions are dicts; their JSON keeps every name)."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def scanned_file(entity_path: str) -> Path:
    """The file a check is scanning, from BaseCheck.entity_path (`<file>:<type>:<name>`)."""
    return Path(entity_path.rsplit(":", 2)[0])


@cache
def _parse(path: str) -> dict[str, Any]:
    from pycep import BicepParser  # the parser checkov itself uses

    return BicepParser().parse(text=Path(path).read_text(encoding="utf-8"))


def parsed_file(entity_path: str) -> dict[str, Any]:
    """The whole Bicep file of the scanned resource (resources, parameters, variables)."""
    return _parse(str(scanned_file(entity_path).resolve()))


def max_value_of_parameter(document: dict[str, Any], name: str) -> int | None:
    """The @maxValue() bound of parameter `name`, if it is a parameter with one."""
    parameter = document.get("parameters", {}).get(name)
    if not isinstance(parameter, dict):
        return None
    for decorator in parameter.get("decorators", []):
        if decorator.get("type") == "max_value" and isinstance(decorator.get("argument"), int):
            return decorator["argument"]
    return None

"""Reads local.settings.json (or the example beside it) the way Core Tools does, into the environment."""

from __future__ import annotations

import json
import os
from pathlib import Path


def load_local_settings(script_root: Path) -> dict[str, str]:
    for name in ("local.settings.json", "local.settings.example.json"):
        path = script_root / name
        if path.exists():
            values = json.loads(path.read_text()).get("Values", {})
            return {str(k): str(v) for k, v in values.items()}
    return {}


def apply_local_settings(script_root: Path) -> dict[str, str]:
    """Puts the file's Values into os.environ; a variable already set wins (so tests can override)."""
    values = load_local_settings(script_root)
    for key, value in values.items():
        os.environ.setdefault(key, value)
    return values

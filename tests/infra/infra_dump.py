"""Prints every Bicep file under infra/ as the pinned checkov's parser (pycep) reads it, and the
checkov skip file, as one JSON document on stdout.

Run by tests/infra/conftest.py with the Python of checkov's own virtualenv (.venv-checkov), which
has pycep and PyYAML; the app's virtualenv needs neither. Not a test module.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml
from pycep import BicepParser


def main(infra: Path) -> None:
    parsed: dict[str, object] = {}
    errors: dict[str, str] = {}
    for path in sorted(infra.rglob("*.bicep")):
        relative = path.relative_to(infra).as_posix()
        try:
            parsed[relative] = BicepParser().parse(text=path.read_text(encoding="utf-8"))
        except Exception as error:  # every parse failure is reported, none hidden
            errors[relative] = f"{type(error).__name__}: {error}"
    skips = yaml.safe_load((infra / "checkov-skips.yaml").read_text(encoding="utf-8"))
    json.dump({"bicep": parsed, "errors": errors, "skips": skips}, sys.stdout, default=str)


if __name__ == "__main__":
    main(Path(sys.argv[1]))

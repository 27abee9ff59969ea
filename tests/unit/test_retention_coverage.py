"""Nothing is kept without an end: every place the catalogue declares has a retention rule the app
sweeps with, and every such rule names the clock-moved test that proves it (no exemptions)."""

from __future__ import annotations

import ast
from pathlib import Path

from functions import deps
from shared.privacy.retention import AdministrationRecords, RetentionRule
from shared.storage.catalogue import CATALOGUE

ROOT = Path(__file__).resolve().parents[2]


def app_rules() -> list[RetentionRule]:
    return deps.retention_registry().rules()


def test_every_table_container_and_queue_has_a_retention_rule() -> None:
    covered = {name for rule in app_rules() for name in rule.covers}
    missing = [f"{entry.kind.value} {entry.name}" for entry in CATALOGUE if entry.name not in covered]
    assert missing == [], f"no retention rule covers: {missing}"


def test_rules_cover_only_declared_storage() -> None:
    declared = {entry.name for entry in CATALOGUE}
    for rule in app_rules():
        assert rule.covers, f"{rule.name} covers nothing"
        assert set(rule.covers) <= declared, f"{rule.name} covers undeclared {set(rule.covers) - declared}"


def _test_function(tested_by: str) -> tuple[ast.FunctionDef, str, str] | None:
    """(the test function, its source, its module's source) named by `tested_by`."""
    path, _, name = tested_by.partition("::")
    file = ROOT / path
    if not path.startswith("tests/") or not file.is_file():
        return None
    module = file.read_text()
    for node in ast.walk(ast.parse(module)):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node, ast.get_source_segment(module, node) or "", module
    return None


def test_every_rule_names_a_clock_moved_test_of_itself() -> None:
    for rule in app_rules():
        found = _test_function(rule.tested_by)
        assert found is not None, f"{rule.name}: its test {rule.tested_by!r} does not exist"
        node, body, module = found
        assert node.name.startswith("test_"), rule.tested_by
        # The test's module reaches this very rule (by name or class), and the test sweeps.
        assert rule.name in module or type(rule).__name__ in module, (
            f"{rule.tested_by} never names {rule.name!r}"
        )
        assert "sweep" in body, f"{rule.tested_by} runs no sweep"


def test_the_partner_row_goes_last_whatever_the_registration_order() -> None:
    # Rules due at a partner's dates find the partner through its row: were that row gone first
    # (a sweep missed for years makes every date due at once), their rows would stay for ever.
    rules = app_rules()
    assert isinstance(rules[-1], AdministrationRecords)

"""The declared order of areas (ARCHITECTURE.md): every import in shared/ and functions/ points downward.

Imports inside functions count as much as those at the top of a module: they are there for cold
start, not to hide a dependency. Imports under `if TYPE_CHECKING:` count too: a type is a
dependency, none needs an exemption, and a failure names them as such.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Lowest first. An area may import its own modules and any area on a lower rank; areas on the same
# rank are peers and may not import each other. ARCHITECTURE.md shows the same list.
LAYERS: list[tuple[str, ...]] = [
    ("kernel",),  # shared/clock, errors, ids, jsonbody, keys, models, settings: no area of their own
    ("shared.storage", "shared.adapters"),
    # idempotency: replayable answers of creates; portal: the built SPA's files and config served at /
    ("shared.usage", "shared.health", "shared.idempotency", "shared.portal"),
    ("shared.access",),
    ("shared.audit",),
    ("shared.partners",),
    ("shared.privacy",),
    ("shared.reports", "shared.billing"),  # billing: invoices from partners' plans and usage
    ("shared.tenants", "shared.notifications"),
    ("shared.standards",),  # checks and remediates tenants' settings; its alerts are drift events
    ("shared.alerts",),  # reads tenants', privacy's and notifications' events; below the API document
    ("shared.openapi",),
    ("functions",),
]
KERNEL = {
    "shared",
    "shared.clock",
    "shared.errors",
    "shared.ids",
    "shared.jsonbody",
    "shared.keys",
    "shared.models",
    "shared.settings",
}
RANK = {area: rank for rank, areas in enumerate(LAYERS) for area in areas}


def area_of(module: str) -> str | None:
    """The area a dotted module belongs to, or None for what is not ours (stdlib, SDKs)."""
    parts = module.split(".")
    if parts[0] == "functions":
        return "functions"
    if parts[0] != "shared":
        return None
    if module in KERNEL or ".".join(parts[:2]) in KERNEL:
        return "kernel"
    return ".".join(parts[:2])


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@dataclass(frozen=True)
class Import:
    importer: str
    line: int
    target: str
    type_only: bool


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                for inner in ast.walk(child):
                    if hasattr(inner, "lineno"):
                        lines.add(inner.lineno)
    return lines


def imports_in(source: str, module: str, *, is_package: bool = False) -> list[Import]:
    """Every import in `source` (the text of `module`), at any depth: module level, functions, classes."""
    package = module if is_package else module.rpartition(".")[0]
    tree = ast.parse(source)
    type_only = _type_checking_lines(tree)
    found: list[Import] = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from shared.privacy import subjects` may name a module: the deeper name decides.
            targets = [f"{base}.{alias.name}" for alias in node.names]
        found.extend(Import(module, node.lineno, t, node.lineno in type_only) for t in targets)
    return found


def imports_of(path: Path) -> list[Import]:
    return imports_in(path.read_text(), module_name(path), is_package=path.name == "__init__.py")


def breaks_order(imp: Import) -> str | None:
    """Why an import breaks the declared order, or None when it does not."""
    here, there = area_of(imp.importer), area_of(imp.target)
    if here is None or there is None or here == there:
        return None
    if here not in RANK or there not in RANK:
        return f"area {here if here not in RANK else there!r} has no place in LAYERS"
    if RANK[there] < RANK[here]:
        return None
    relation = "a peer of" if RANK[there] == RANK[here] else "above"
    how = "imports (for types)" if imp.type_only else "imports"
    return f"{imp.importer}:{imp.line} {how} {imp.target} ({there} is {relation} {here})"


def sources() -> list[Path]:
    return sorted([*REPO.glob("shared/**/*.py"), *REPO.glob("functions/**/*.py")])


def test_the_tree_has_modules_to_check() -> None:
    modules = {module_name(p) for p in sources()}
    assert "shared.tenants.store" in modules
    assert "functions.deps" in modules


def test_every_import_follows_the_declared_order() -> None:
    problems = [why for path in sources() for imp in imports_of(path) if (why := breaks_order(imp))]
    assert problems == [], "imports against the order in ARCHITECTURE.md:\n" + "\n".join(problems)


def test_every_area_has_a_rank() -> None:
    areas = {area_of(module_name(p)) for p in sources()}
    assert areas - set(RANK) == set(), "add the new area to LAYERS and ARCHITECTURE.md"


def test_shared_never_imports_the_trigger_layer_or_localdev() -> None:
    bad = [
        f"{imp.importer}:{imp.line} imports {imp.target}"
        for path in sources()
        for imp in imports_of(path)
        if imp.target.startswith("localdev")
        or (imp.importer.startswith("shared") and imp.target.startswith(("functions", "azure.functions")))
    ]
    assert bad == []


@pytest.mark.parametrize(
    ("importer", "source", "forbidden"),
    [
        # privacy asks tenants and notifications through SubjectHolder; reaching in is refused
        ("shared/privacy/subjects/holdings.py", "from shared.tenants.store import GROUPS\n", True),
        # the same kind of line inside a function, where cold-start imports live
        ("shared/privacy/retention.py", "def f():\n    from shared.notifications import orgs\n", True),
        # peers: tenants and notifications do not know each other
        ("shared/tenants/sync.py", "import shared.notifications.devices\n", True),
        # access is below partners: the old cycle access <-> partners
        ("shared/access/reach.py", "from ..partners import service\n", True),
        # a type is a dependency as well
        (
            "shared/audit/log.py",
            "if TYPE_CHECKING:\n    from shared.partners.service import P\n",
            True,
        ),
        # shared never reaches up into the trigger layer
        ("shared/tenants/service.py", "def f():\n    from functions import deps\n", True),
        # downward is fine
        ("shared/tenants/subjects.py", "from shared.privacy.subjects.holdings import Holdings\n", False),
        ("functions/tenants.py", "from shared.tenants import store\n", False),
        ("shared/privacy/subjects/__init__.py", "from . import holdings\n", False),
    ],
)
def test_a_planted_import_against_the_order_is_caught(importer: str, source: str, forbidden: bool) -> None:
    """The checker itself: a planted import against the order fails the test, a downward one passes."""
    path = REPO / importer
    planted = imports_in(source, module_name(path), is_package=path.name == "__init__.py")
    verdicts = [breaks_order(imp) for imp in planted]
    assert any(verdicts) is forbidden, verdicts

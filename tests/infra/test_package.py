"""The app package `func azure functionapp publish` builds: what .funcignore lets through.

A stamp runs only what the package carries, so the app's own files, the Swagger UI files that
/api/docs serves and the built portal `/` serves must be in it, and local-only code, tests,
virtualenvs, Azurite and the portal's sources and npm packages must not.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pathspec

REPO = Path(__file__).resolve().parents[2]


def _packaged(path: str) -> bool:
    spec = pathspec.GitIgnoreSpec.from_lines((REPO / ".funcignore").read_text().splitlines())
    return not spec.match_file(path)


def test_the_package_carries_the_app_and_the_api_reference() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    app = [
        p for p in tracked if p.startswith(("functions/", "shared/")) or p in ("function_app.py", "host.json")
    ]
    assert app and all(_packaged(p) for p in app), [p for p in app if not _packaged(p)]
    assert _packaged("requirements.txt")
    served = ["swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png"]
    for name in served:
        assert (REPO / "node_modules" / "swagger-ui-dist" / name).is_file()
        assert _packaged(f"node_modules/swagger-ui-dist/{name}"), name


def test_the_package_carries_the_built_portal() -> None:
    # `make portal` builds it before publishing (infra/README.md, step 6).
    for path in ["portal/dist/index.html", "portal/dist/assets/index-abc123.js"]:
        assert _packaged(path), path


def test_the_package_leaves_out_local_code_tests_and_tools() -> None:
    for path in [
        "localdev/host.py",
        "tests/conftest.py",
        "bench/cold_start.py",
        "infra/main.bicep",
        ".venv/bin/python",
        ".venv-checkov/bin/python",
        "node_modules/azurite/package.json",
        ".azurite/__azurite_db_table__.json",
        ".localdev/settings.json",
        "local.settings.json",
        "shared/__pycache__/clock.cpython-311.pyc",
        "portal/src/main.tsx",
        "portal/node_modules/react/package.json",
        "portal/package.json",
        "portal/openapi.json",
    ]:
        assert not _packaged(path), path

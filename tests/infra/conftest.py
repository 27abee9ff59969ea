"""Fixtures for the offline checks of infra/ (Bicep): one checkov run and one parse per session.

The Bicep CLI cannot be installed here, so the Bicep is read by checkov's pinned parser (pycep):
checkov runs its built-in checks plus Tenantry's custom checks (infra/checks/), and the tests
compare the parsed Bicep with what the app code declares (settings, storage catalogue, regions).

checkov lives in its own virtualenv (.venv-checkov, made by `make setup` from
infra/requirements-checkov.txt) because its pinned dependencies clash with the app's. Set CHECKOV
to use another checkov binary. A missing checkov fails these tests; it never skips them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
KNOWN_BAD = Path(__file__).resolve().parent / "known_bad"
SETUP_HINT = "run `make setup` (it creates .venv-checkov from infra/requirements-checkov.txt)"

_timings: dict[str, float] = {}


def _checkov_binary() -> Path:
    configured = os.environ.get("CHECKOV")
    if configured:
        found = shutil.which(configured) or configured
        path = Path(found)
    else:
        path = REPO / ".venv-checkov" / "bin" / "checkov"
    if not path.is_file():
        pytest.fail(f"checkov not found at {path}: {SETUP_HINT}", pytrace=False)
    return path


def _python_of(checkov: Path) -> Path:
    """The interpreter checkov runs on (it has pycep and PyYAML)."""
    sibling = checkov.parent / "python"
    if sibling.is_file():
        return sibling
    first_line = checkov.read_text(encoding="utf-8", errors="replace").splitlines()[0]
    if first_line.startswith("#!"):
        interpreter = Path(first_line[2:].strip().split()[0])
        if interpreter.is_file():
            return interpreter
    pytest.fail(f"cannot find the Python that runs {checkov}: {SETUP_HINT}", pytrace=False)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("BC_API_KEY", None)  # never talk to the Prisma Cloud platform
    env["BC_SKIP_MAPPING"] = "TRUE"
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # no __pycache__ left in infra/checks
    return env


def _json_documents(text: str) -> list[Any]:
    decoder = json.JSONDecoder()
    documents, index = [], 0
    while True:
        starts = [i for i in (text.find("{", index), text.find("[", index)) if i >= 0]
        if not starts:
            return documents
        document, index = decoder.raw_decode(text, min(starts))
        documents.append(document)


@dataclass
class CheckovRun:
    """One checkov run over infra/ and the known-bad fixtures, as JSON results."""

    command: list[str]
    returncode: int
    stderr: str
    seconds: float
    report: dict[str, Any]
    failed: list[dict[str, Any]] = field(default_factory=list)
    passed: list[dict[str, Any]] = field(default_factory=list)

    @staticmethod
    def key(record: dict[str, Any]) -> str:
        """`<path under the repo>:<type>.<name>`, as checkov names a resource.

        e.g. infra/modules/key-vault.bicep:Microsoft.KeyVault/vaults.vault
        """
        return f"{record['file_path'].lstrip('/')}:{record['resource']}"


@pytest.fixture(scope="session")
def checkov_run() -> CheckovRun:
    checkov = _checkov_binary()
    files = sorted(INFRA.rglob("*.bicep")) + sorted(KNOWN_BAD.glob("*.bicep"))
    command = [
        str(checkov),
        "--framework",
        "bicep",
        "--external-checks-dir",
        str(INFRA / "checks"),
        "--output",
        "json",
        "--skip-download",  # offline: no guideline download from the Prisma Cloud API
    ]
    for path in files:
        command += ["--file", str(path.relative_to(REPO))]
    _start_dump()  # runs alongside checkov (two cores), the tests need both
    started = time.monotonic()
    process = subprocess.run(
        command, check=False, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600
    )
    seconds = time.monotonic() - started
    _timings["checkov"] = seconds
    if process.returncode not in (0, 1):  # 1: some check failed (judged by the tests)
        pytest.fail(f"checkov exited {process.returncode}:\n{process.stderr[-4000:]}", pytrace=False)
    reports = [
        document
        for found in _json_documents(process.stdout)
        for document in (found if isinstance(found, list) else [found])
        if isinstance(document, dict) and document.get("check_type") == "bicep"
    ]
    if len(reports) != 1:
        pytest.fail(f"expected one bicep report from checkov, got {len(reports)}:\n{process.stdout[:2000]}")
    report = reports[0]
    results = report.get("results", {})
    return CheckovRun(
        command=command,
        returncode=process.returncode,
        stderr=process.stderr,
        seconds=seconds,
        report=report,
        failed=list(results.get("failed_checks", [])),
        passed=list(results.get("passed_checks", [])),
    )


class Bicep:
    """The parsed Bicep of infra/ (pycep's JSON), with the few look-ups the tests need."""

    def __init__(self, documents: dict[str, Any], errors: dict[str, str]) -> None:
        self.documents = documents
        self.errors = errors

    def doc(self, relative: str) -> dict[str, Any]:
        assert relative in self.documents, f"infra/{relative} is missing or did not parse: {self.errors}"
        return self.documents[relative]

    def variable(self, relative: str, name: str) -> Any:
        variables = self.doc(relative).get("variables", {})
        assert name in variables, f"infra/{relative} has no `var {name}`"
        return variables[name]["value"]

    def parameter_default(self, relative: str, name: str) -> Any:
        parameters = self.doc(relative).get("parameters", {})
        assert name in parameters, f"infra/{relative} has no `param {name}`"
        return parameters[name].get("default")

    def resources(self, relative: str, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            symbol: resource
            for symbol, resource in self.doc(relative).get("resources", {}).items()
            if resource.get("type") == resource_type
        }

    def names(self, relative: str, resource_type: str, *, existing: bool = False) -> set[str]:
        """Names of the resources of a type a file declares; loops expand over their `var` array."""
        found: set[str] = set()
        for symbol, resource in self.resources(relative, resource_type).items():
            if bool(resource.get("existing")) != existing:
                continue
            config = resource["config"]
            if "loop_type" in config:
                detail = config["loop_type"]["detail"]
                item, array = detail["item_name"], detail["array_name"]
                assert config["config"].get("name") == item, (
                    f"infra/{relative}: loop `{symbol}` must be named by its item `{item}`"
                )
                values = self.variable(relative, array)
                assert isinstance(values, list) and all(isinstance(v, str) for v in values), (
                    f"infra/{relative}: `var {array}` must be a literal list of names"
                )
                found.update(values)
                continue
            name = config.get("name")
            variables = self.doc(relative).get("variables", {})
            if isinstance(name, str) and name in variables:
                name = variables[name]["value"]
            assert isinstance(name, str) and "${" not in name, (
                f"infra/{relative}: cannot read the name of `{symbol}` statically: {name!r}"
            )
            found.add(name)
        return found


_dump: dict[str, subprocess.Popen[str]] = {}


def _start_dump() -> subprocess.Popen[str]:
    """Start reading infra/ with checkov's parser in the background (once per session)."""
    if "process" not in _dump:
        python = _python_of(_checkov_binary())
        _dump["process"] = subprocess.Popen(
            [str(python), str(Path(__file__).with_name("infra_dump.py")), str(INFRA)],
            cwd=REPO,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    return _dump["process"]


@pytest.fixture(scope="session")
def infra_dump() -> dict[str, Any]:
    stdout, stderr = _start_dump().communicate(timeout=300)
    if _dump["process"].returncode != 0:
        pytest.fail(f"reading infra/ with checkov's parser failed:\n{stderr[-4000:]}", pytrace=False)
    return json.loads(stdout)


@pytest.fixture(scope="session")
def bicep(infra_dump: dict[str, Any]) -> Bicep:
    return Bicep(infra_dump["bicep"], infra_dump["errors"])


@pytest.fixture(scope="session")
def checkov_skips(infra_dump: dict[str, Any]) -> list[dict[str, Any]]:
    skips = (infra_dump["skips"] or {}).get("skips") or []
    assert isinstance(skips, list), "infra/checkov-skips.yaml: `skips` must be a list"
    return skips


# --- .bicepparam files -----------------------------------------------------------------------
# pycep does not read parameter files (`using ...`), and they are kept to one simple shape:
# `using '<template>'` and one-line `param <name> = <value>` entries.

_PARAM = re.compile(r"^param\s+(\w+)\s*=\s*(.+?)\s*$")
_USING = re.compile(r"^using\s+'([^']+)'\s*$")


@dataclass(frozen=True)
class ParamFile:
    path: Path
    using: str
    params: dict[str, Any]

    @property
    def template(self) -> Path:
        return (self.path.parent / self.using).resolve()


def _param_value(text: str) -> Any:
    if re.fullmatch(r"'(?:[^'\\]|\\.)*'", text):
        return text[1:-1].replace("\\'", "'")
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if text in ("true", "false"):
        return text == "true"
    return Expression(text)


class Expression(str):
    """A parameter value that is an expression (e.g. readEnvironmentVariable(...)), kept as text."""


def read_param_file(path: Path) -> ParamFile:
    using, params = None, {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("//"):
            continue
        if match := _USING.match(line):
            using = match.group(1)
        elif match := _PARAM.match(line):
            params[match.group(1)] = _param_value(match.group(2))
        else:
            raise AssertionError(f"{path}:{number}: keep to `using` and one-line `param` entries: {raw!r}")
    assert using, f"{path}: no `using '<template>'` line"
    return ParamFile(path, using, params)


@pytest.fixture(scope="session")
def region_param_files() -> dict[str, ParamFile]:
    files = {path.stem: read_param_file(path) for path in sorted((INFRA / "regions").glob("*.bicepparam"))}
    assert files, "infra/regions/ has no <region>.bicepparam"
    return files


@pytest.fixture(scope="session")
def global_param_file() -> ParamFile:
    return read_param_file(INFRA / "global.bicepparam")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if "checkov" in _timings:
        terminalreporter.write_line(f"infra: one checkov run took {_timings['checkov']:.1f} s")

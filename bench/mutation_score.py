"""Mutation score of the modules that guard security and privacy, measured with mutmut in a copy of the repo.

Each mutant runs against the tests that cover it (mutmut records, per function, which tests call
it): first the unit tests (fast, forked from one warm process); what they do not kill (no unit
test reaches it, or it survived them) then goes to the integration test modules that can reach the
chosen code (`INTEGRATION_REACH`), in random order (a fresh process and a private stack per mutant,
so only as many as the time budget allows). mutmut first runs every test it is given once, traced,
and stops at the first failure: given the whole integration suite, that run outlasted the budget or
met someone's failing test, and the phase judged nothing (it now says why, from mutmut's log). Everything
happens in a temporary copy of the repo: no mutant ever touches the working tree. Tests that fail
on the unmutated copy (someone's half-done change) are left out and named. Prints killed/judged per
module, the survivors (file:line and the mutation; "no tests": no covering test ran it) and, last,
`mutation_score: <killed>/<judged>`; mutants the budget left unjudged are counted apart.

mutmut switches mutants on inside functions at call time, so a function called while a module is
imported (`_request_rules`, which builds a model's JSON Schema in its class body) runs unmutated:
its mutants always "survive". Such survivors are the tool's blind spot, not the tests'.

For a figure that is fair to every module, draw a sample small enough for the budget to judge
whole (`--sample`): without one, the integration phase judges only part of what the unit tests
left, and mutmut runs those with the fastest tests first.

    python bench/mutation_score.py --sample 250 --budget-min 36     # the headline (about 35 min)
    python bench/mutation_score.py --modules access,audit --budget-min 5
    python bench/mutation_score.py --no-integration                 # every mutant, unit tests only
    python bench/mutation_score.py --modules router --sample 12 --budget-min 8 \
        --integration-tests tests/integration/test_storage.py          # the smallest run of both phases

A benchmark, not a CI gate (and not a pytest module). Uses one worker: the machine is shared.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# name -> the files it covers, as mutmut `only_mutate` globs (relative to the repo).
MODULES: dict[str, list[str]] = {
    "access": ["shared/access/*.py"],
    "audit": ["shared/audit/*.py"],
    "privacy": ["shared/privacy/*.py", "shared/privacy/subjects/*.py"],
    "webhook": ["shared/notifications/webhook.py"],
    "fanout": ["shared/notifications/fanout*.py"],
    "router": ["shared/storage/router.py"],
    "deps": ["functions/deps.py"],
}

# name -> what an integration test module (or a helper it imports, e.g. rigs.py) says when it
# reaches that code. mutmut collects stats over every test it is given before the first mutant (one
# traced run, stopped by any failure); the whole integration suite took longer than the phase's
# budget and one failing test anywhere stopped it, so the phase judged nothing. It gets the modules
# that can cover the chosen code instead (`--integration-tests` names them by hand).
INTEGRATION_REACH: dict[str, str] = {
    "access": r"\bshared\.access\b",
    "audit": r"\bshared\.audit\b",
    "privacy": r"\bshared\.privacy\b",
    "webhook": r"\bshared\.notifications\.(webhook|ingest)\b|\bDataverseWebhook\b",
    "fanout": r"\bshared\.notifications\.fanout|\bfanout_rig\b",
    "router": r"\bshared\.storage\.router\b|\bAccountStorage\b|\bStorageRouter\b",
    "deps": r"\bfrom functions import deps\b|\bfunctions\.deps\b",
}
# What mutmut prints when it stops before its first mutant.
STOPPED = re.compile(
    r"failed to collect stats.*|Failed to run clean test.*|Stopping early.*|Failed to collect.*"
)

# What the copy leaves out: environments, caches and earlier runs' state.
IGNORED = {
    ".git",
    ".venv",
    ".venv-checkov",
    "node_modules",
    "__pycache__",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    ".azurite",
    ".localdev",
    "mutants",
    ".coverage",
}

KILLED_CODES = {1, 3, 36, -24, 24, 152, 255, -11, -9}  # a failing test, a timeout or a crash
SURVIVED_CODES = {0}
NO_TESTS_CODES = {5, 33}
INTERRUPTED_CODES = {2}  # the mutant in flight when the budget ran out: not judged
MUTANT_NAME = re.compile(r"^(?P<module>[\w.]+?)\.(?P<function>x[ǁ_][^.]*?)__mutmut_(?P<number>\d+)$")


@dataclass
class Verdicts:
    """Exit codes by mutant name, as mutmut stores them in `mutants/**/*.meta`."""

    codes: dict[str, int | None] = field(default_factory=dict)

    def names(self, codes: Iterable[int | None]) -> list[str]:
        wanted = set(codes)
        return sorted(name for name, code in self.codes.items() if code in wanted)


def copy_repo(target: Path) -> None:
    """A copy of the working tree as it is now (other engineers' edits included), without caches."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        return {name for name in names if name in IGNORED or name.endswith(".pyc")}

    shutil.copytree(REPO, target, ignore=ignore, symlinks=True)
    # Azurite is the npm package under node_modules: linked, not copied.
    (target / "node_modules").symlink_to(REPO / "node_modules", target_is_directory=True)


def failing_tests(copy: Path, tests: list[str], *, log: Path) -> list[str]:
    """Tests that fail on the unmutated copy (someone's half-done change): mutmut needs a green
    run to start from, so these are left out and named in the report."""
    with log.open("a", encoding="utf-8") as output:
        finished = subprocess.run(
            [sys.executable, "-m", "pytest", *tests, "-q", "-p", "no:cacheprovider", "-rfE"],
            cwd=copy,
            capture_output=True,
            text=True,
            check=False,
        )
        output.write(finished.stdout + finished.stderr)
    return sorted(
        {line.split()[1] for line in finished.stdout.splitlines() if line.startswith(("FAILED ", "ERROR "))}
    )


def configure(copy: Path, globs: list[str], tests: list[str], *, isolation: str, deselect: list[str]) -> None:
    """mutmut reads `[tool.mutmut]` from the copy's pyproject.toml (never the repo's own)."""
    settings = {
        "source_paths": ["shared/", "functions/"],
        "only_mutate": globs,
        "also_copy": [
            "localdev/",
            "function_app.py",
            "host.json",
            "local.settings.example.json",
            "package.json",
        ],
        "pytest_add_cli_args_test_selection": tests,
        "pytest_add_cli_args": ["-p", "no:cacheprovider", "-q"]
        + [argument for test in deselect for argument in ("--deselect", test)],
        "process_isolation": isolation,
        # Integration tests start their stack when first imported and stop it at the session's end:
        # each mutant needs its own, so nothing is imported before the fork.
        "forkserver_warmup": "none",
        "use_git_change_detection": False,
        "track_dependencies": False,
    }
    lines = ["", "[tool.mutmut]"] + [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    with (copy / "pyproject.toml").open("a", encoding="utf-8") as file:
        file.write("\n".join(lines) + "\n")
    mutants = copy / "mutants"
    mutants.mkdir(exist_ok=True)
    (mutants / "node_modules").symlink_to(REPO / "node_modules", target_is_directory=True)


def mutmut(copy: Path, arguments: list[str], *, deadline: float, log: Path) -> int | None:
    """Runs mutmut in the copy until it ends or the deadline passes (then it is interrupted and
    saves what it has); returns its exit code, None when stopped."""
    command = [sys.executable, "-m", "mutmut", *arguments]
    with log.open("a", encoding="utf-8") as output:
        process = subprocess.Popen(
            command, cwd=copy, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            return process.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            return None


def verdicts(copy: Path) -> Verdicts:
    found = Verdicts()
    for meta in (copy / "mutants").rglob("*.py.meta"):
        found.codes.update(json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"])
    return found


def run_phase(
    copy: Path,
    names: list[str] | None,
    *,
    deadline: float,
    log: Path,
) -> Verdicts:
    """One mutmut run: with names, only those mutants; without, the generation step alone
    (a pattern that matches no mutant)."""
    arguments = ["run", "--max-children", "1", *(names if names is not None else ["no-such-mutant*"])]
    mutmut(copy, arguments, deadline=deadline, log=log)
    return verdicts(copy)


def describe(copy: Path, name: str) -> tuple[str, str]:
    """(file:line, the mutation) of a mutant: its function beside the original in mutmut's
    mutated file (`.spans` says where each variant lies), the line placed in the original source."""
    match = MUTANT_NAME.match(name)
    if match is None:
        return name, "?"
    path = Path(*match["module"].split(".")).with_suffix(".py")
    if not (copy / path).exists():
        path = Path(*match["module"].split("."), "__init__.py")
    function, number = match["function"], match["number"]
    spans = json.loads((copy / "mutants" / f"{path}.spans").read_text(encoding="utf-8"))["spans"]
    lines = (copy / "mutants" / path).read_text(encoding="utf-8").splitlines()
    original = [
        line.replace(f"{function}__mutmut_orig", function)
        for line in lines[slice(*spans[f"{function}__mutmut_orig"])]
    ]
    mutated = [
        line.replace(f"{function}__mutmut_{number}", function)
        for line in lines[slice(*spans[f"{function}__mutmut_{number}"])]
    ]
    first_def = next(
        (i for i, line in enumerate(original) if line.lstrip().startswith(("def ", "async def "))), 0
    )
    changed = next(
        (i for i, (old, new) in enumerate(zip_longest(original, mutated, fillvalue="")) if old != new),
        first_def,
    )
    removed = original[changed].strip() if changed < len(original) else ""
    added = mutated[changed].strip() if changed < len(mutated) else ""
    parts = function[1:].split("ǁ")
    qualname = [part for part in parts if part] if len(parts) > 1 else [function[2:]]
    line = function_line(copy / path, qualname) + changed - first_def
    return f"{path}:{line}", f"{removed}  ->  {added}"


def function_line(path: Path, qualname: list[str]) -> int:
    """Line of `def` of Class.method or function in a source file (0 when not found)."""
    nodes: list[ast.stmt] = ast.parse(path.read_text(encoding="utf-8")).body
    found: ast.stmt | None = None
    for part in qualname:
        found = next(
            (
                node
                for node in nodes
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                and node.name == part
            ),
            None,
        )
        if found is None:
            return 0
        nodes = getattr(found, "body", [])
    return found.lineno if found is not None else 0


def integration_tests(copy: Path, chosen: list[str]) -> list[str]:
    """The integration test modules that may reach the chosen code: those naming it, directly or
    through a helper module of tests/integration (rigs) that names it."""
    folder = copy / "tests" / "integration"
    reach = re.compile("|".join(f"(?:{INTEGRATION_REACH[name]})" for name in chosen))
    texts = {path.stem: path.read_text(encoding="utf-8") for path in sorted(folder.glob("*.py"))}
    helpers = {stem for stem, text in texts.items() if not stem.startswith("test_") and reach.search(text)}
    uses_helper = re.compile(rf"\b({'|'.join(map(re.escape, sorted(helpers)))})\b") if helpers else None
    return [
        f"tests/integration/{stem}.py"
        for stem, text in texts.items()
        if stem.startswith("test_") and (reach.search(text) or (uses_helper and uses_helper.search(text)))
    ]


def stopped_because(log: Path) -> str:
    """mutmut's own words when it stopped before its first mutant (the last such line), or ''."""
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    found = STOPPED.findall(text.replace("\r", "\n"))
    return found[-1].strip() if found else ""


def module_of(name: str, chosen: dict[str, list[str]]) -> str:
    match = MUTANT_NAME.match(name)
    dotted = match["module"] if match else name
    path = dotted.replace(".", "/") + ".py"
    for module, globs in chosen.items():
        if any(
            Path(path).match(glob) or Path(path.replace(".py", "/__init__.py")).match(glob) for glob in globs
        ):
            return module
    return "?"


def integration_phase(
    work: Path,
    globs: list[str],
    codes: dict[str, int | None],
    *,
    tests: list[str],
    deadline: float,
    share: float,
    seed: int,
    broken: list[str],
) -> set[str]:
    """What the unit tests did not kill goes on to the integration tests (they may cover it too),
    in random order; `codes` takes their verdicts. Returns the mutants they judged."""
    uncovered = [name for name, code in codes.items() if code in NO_TESTS_CODES | SURVIVED_CODES]
    left = deadline - time.monotonic()
    if not uncovered or not tests or left < 120:
        return set()
    # Judged by the integration tests from here, or not at all when the budget runs out.
    unit_codes = {name: codes[name] for name in uncovered}
    codes.update(dict.fromkeys(uncovered))
    integration = work / "integration"
    copy_repo(integration)
    log = work / "integration.log"
    print(f"integration tests: {len(tests)} modules (mutmut's output: {log})", flush=True)
    broken_there = failing_tests(integration, tests, log=log)
    broken += broken_there
    configure(integration, globs, tests, isolation="forkserver", deselect=broken_there)
    order = random.Random(seed).sample(uncovered, len(uncovered))
    ran = run_phase(integration, order, deadline=time.monotonic() + left * share, log=log)
    if not any(ran.codes.get(name) is not None for name in order):
        # mutmut starts only from a green run of the covering tests (stats, then a clean run).
        reason = stopped_because(log) or "the budget ran out first"
        print(
            f"integration phase judged nothing: mutmut stopped before its first mutant: {reason} (see {log})"
        )
    judged: set[str] = set()
    for name in order:
        code = ran.codes.get(name)
        if code is not None and code not in INTERRUPTED_CODES:
            # No integration test either: the unit verdict (survived, or no test) stands.
            codes[name] = unit_codes[name] if code in NO_TESTS_CODES else code
            judged.add(name)
    return judged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--modules", default=",".join(MODULES), help=f"comma-separated, of {', '.join(MODULES)}"
    )
    parser.add_argument("--budget-min", type=float, default=40.0, help="time budget of the mutant runs")
    parser.add_argument("--sample", type=int, default=0, help="run only N mutants drawn at random (0: all)")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument(
        "--integration-share",
        type=float,
        default=0.75,
        help="share of the budget left after the unit phase that the integration phase may use",
    )
    parser.add_argument("--no-integration", action="store_true", help="unit tests only (fast)")
    parser.add_argument(
        "--unit-tests",
        default="tests/unit",
        help="comma-separated unit test modules or folders (a few: a quick list of survivors to work on)",
    )
    parser.add_argument(
        "--integration-tests",
        default="",
        help="comma-separated integration test modules (default: those that name the chosen modules)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy (its path is printed)")
    options = parser.parse_args()

    chosen = {name: MODULES[name] for name in options.modules.split(",") if name}
    globs = [glob for module in chosen.values() for glob in module]
    started = time.monotonic()
    deadline = started + options.budget_min * 60
    work = Path(tempfile.mkdtemp(prefix="tenantry-mutation-"))
    log = work / "mutmut.log"
    print(f"copy: {work} (mutmut's output: {log})", flush=True)
    try:
        unit = work / "unit"
        copy_repo(unit)
        unit_tests = [t for t in options.unit_tests.split(",") if t]
        broken = failing_tests(unit, unit_tests, log=log)
        configure(unit, globs, unit_tests, isolation="fork", deselect=broken)
        generated = run_phase(unit, None, deadline=deadline, log=log)
        every = sorted(generated.codes)
        drawn = every
        if options.sample and options.sample < len(every):
            drawn = sorted(random.Random(options.seed).sample(every, options.sample))
        print(f"mutants: {len(every)} generated, {len(drawn)} to run", flush=True)
        codes = dict.fromkeys(drawn, None)
        codes.update(
            {k: v for k, v in run_phase(unit, drawn, deadline=deadline, log=log).codes.items() if k in codes}
        )
        print(f"unit phase done at {(time.monotonic() - started) / 60:.1f} min", flush=True)
        reached_by_integration: set[str] = set()
        if not options.no_integration:
            selected = [t for t in options.integration_tests.split(",") if t] or integration_tests(
                REPO, list(chosen)
            )
            reached_by_integration = integration_phase(
                work,
                globs,
                codes,
                tests=selected,
                deadline=deadline,
                share=options.integration_share,
                seed=options.seed,
                broken=broken,
            )
            print(f"integration phase done at {(time.monotonic() - started) / 60:.1f} min", flush=True)
        if broken:
            print("left out (failing on the unmutated tree): " + ", ".join(broken))
        report(unit, chosen, codes, reached_by_integration)
    finally:
        if options.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def report(
    copy: Path,
    chosen: dict[str, list[str]],
    codes: dict[str, int | None],
    reached_by_integration: set[str],
) -> None:
    killed_total = judged_total = 0
    survivors: list[str] = []
    print()
    print(f"{'module':<10} {'killed':>7} {'total':>6}  survived  no-test  not-run  (integration-run)")
    for module in chosen:
        mine = {name: code for name, code in codes.items() if module_of(name, chosen) == module}
        killed = sum(1 for code in mine.values() if code in KILLED_CODES)
        survived = [name for name, code in mine.items() if code in SURVIVED_CODES]
        no_tests = [name for name, code in mine.items() if code in NO_TESTS_CODES]
        not_run = [name for name, code in mine.items() if code is None or code in INTERRUPTED_CODES]
        known = KILLED_CODES | SURVIVED_CODES | NO_TESTS_CODES | INTERRUPTED_CODES
        other = [name for name, code in mine.items() if code is not None and code not in known]
        judged = len(mine) - len(not_run)
        via_integration = sum(1 for name in mine if name in reached_by_integration)
        print(
            f"{module:<10} {killed:>7} {judged:>6}  {len(survived):>8} {len(no_tests):>8} {len(not_run):>8}"
            f"  ({via_integration}){'  other: ' + str(len(other)) if other else ''}"
        )
        killed_total += killed
        judged_total += judged
        survivors += survived + no_tests + other
    print()
    print(f"survivors ({len(survivors)}; 'no tests' means no covering test ran it):")
    for name in sorted(survivors):
        where, what = describe(copy, name)
        status = "no tests" if codes[name] in NO_TESTS_CODES else "survived"
        print(f"  {where:<48} {status:<9} {what}   [{name}]")
    print()
    print(f"mutation_score: {killed_total}/{judged_total}")


if __name__ == "__main__":
    main()

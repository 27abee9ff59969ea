"""infra/README.md against the Bicep: an operator following it top to bottom gets a working stamp.

Read dynamically from the README's runbook (its bash blocks) and tables, the parameter files and
the parsed Bicep, so that a line removed from either side fails here instead of at deploy time:

- every environment variable a parameter file reads is in the runbook's table and exported by
  the runbook before the first command that needs it, and nothing else is;
- every Key Vault secret the Bicep references has a row in the secrets reference (with the app
  setting it feeds) and a command of the runbook that makes or fetches it and sets it;
- every command names files, parameters, deployment outputs, secrets, locks, settings and shell
  variables that exist (defined earlier in the runbook), and deploys each parameter file with
  its own location and deployment name;
- the concurrency figures the README quotes are the ones main.bicep deploys.
"""

from __future__ import annotations

import importlib
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shared.settings import Settings

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
README = INFRA / "README.md"
FUNCTION_APP = "modules/function-app.bicep"

READ_ENV = re.compile(r"readEnvironmentVariable\('([A-Z0-9_]+)'(\s*,\s*'[^']*')?\)")
SECRET_REFERENCE = re.compile(r"SecretName=([a-z0-9-]+)\)")
# Names a runbook may use without defining them: the shell's own.
SHELL_VARIABLES = {"HOME", "PWD", "USER"}


def sections(text: str, level: str) -> dict[str, str]:
    """Heading text -> body, for headings of one level (`## ` or `### `)."""
    parts = re.split(rf"^{level} (.+)$", text, flags=re.MULTILINE)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Command:
    """One simple command of the runbook: its text, its tokens, where it stands."""

    order: int
    text: str
    tokens: tuple[str, ...]
    comment_before: str

    def flag(self, name: str) -> str | None:
        tokens = list(self.tokens)
        return (
            tokens[tokens.index(name) + 1]
            if name in tokens and tokens.index(name) + 1 < len(tokens)
            else None
        )

    def starts(self, *words: str) -> bool:
        return self.tokens[: len(words)] == words


def _subshells(line: str) -> tuple[str, list[str]]:
    """The line with each `$(...)` replaced by `$SUBSHELL`, and the subshells' own text."""
    inner: list[str] = []
    while (start := line.find("$(")) >= 0:
        depth, index = 0, start + 1
        for index in range(start + 1, len(line)):
            depth += {"(": 1, ")": -1}.get(line[index], 0)
            if depth == 0:
                break
        inner.append(line[start + 2 : index])
        line = line[:start] + "$SUBSHELL" + line[index + 1 :]
    return line, inner


def _tokens(text: str) -> list[list[str]]:
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|<>")
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in {";", "|", "&&", "||"}:
            commands.append([])
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def runbook_commands(runbook: str) -> list[Command]:
    found: list[Command] = []
    for block in bash_blocks(runbook):
        comment = ""
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            stripped = line.strip()
            if not stripped:
                comment = ""
                continue
            if stripped.startswith("#"):
                comment += stripped + "\n"
                continue
            outer, inner = _subshells(stripped)
            for text in [*inner, outer]:
                for tokens in _tokens(text):
                    found.append(Command(len(found), text, tuple(tokens), comment))
            comment = ""
    return found


@pytest.fixture(scope="module")
def readme() -> str:
    return README.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def runbook(readme: str) -> str:
    found = sections(readme, "##")
    assert "Runbook" in found, "infra/README.md needs a `## Runbook` section"
    return found["Runbook"]


@pytest.fixture(scope="module")
def commands(runbook: str) -> list[Command]:
    return runbook_commands(runbook)


def env_read_by_param_files() -> dict[str, set[Path]]:
    """Variable -> the parameter files that read it."""
    found: dict[str, set[Path]] = {}
    for path in sorted(INFRA.rglob("*.bicepparam")):
        for match in READ_ENV.finditer(path.read_text(encoding="utf-8")):
            found.setdefault(match.group(1), set()).add(path)
    return found


def _table_first_column(body: str) -> set[str]:
    return set(re.findall(r"^\|\s*`([A-Z0-9_]+)`\s*\|", body, flags=re.MULTILINE))


def test_every_environment_variable_is_in_the_table(runbook: str) -> None:
    read = set(env_read_by_param_files())
    steps = sections(runbook, "###")
    tables = [body for heading, body in steps.items() if "Environment variables" in heading]
    assert tables, "the runbook needs a step `Environment variables` with the variables' table"
    listed = _table_first_column(tables[0])
    assert read - listed == set(), (
        f"read by infra/**/*.bicepparam, missing in the table: {sorted(read - listed)}"
    )
    assert listed - read == set(), f"in the table, read by no parameter file: {sorted(listed - read)}"


def test_every_environment_variable_is_exported_before_it_is_needed(commands: list[Command]) -> None:
    exported: dict[str, int] = {}
    for command in commands:
        if command.starts("export") and len(command.tokens) > 1 and "=" in command.tokens[1]:
            exported.setdefault(command.tokens[1].split("=", 1)[0], command.order)
    for variable, files in env_read_by_param_files().items():
        assert variable in exported, (
            f"the runbook never exports {variable} (read by {sorted(map(str, files))})"
        )
        needing = [
            c.order
            for c in commands
            if c.starts("az", "deployment") and (REPO / (c.flag("--parameters") or "-")).resolve() in files
        ]
        assert needing, f"no runbook command deploys a parameter file that reads {variable}"
        assert exported[variable] < min(needing), (
            f"{variable} is exported after the first deployment that reads it"
        )


def bicep_secrets(bicep: Any) -> dict[str, str]:
    """Vault secret name -> app setting, from the app settings' Key Vault references."""
    settings = [
        r["config"]["properties"]
        for r in bicep.resources(FUNCTION_APP, "Microsoft.Web/sites/config").values()
        if r["config"].get("name") == "appsettings"
    ]
    assert len(settings) == 1
    found = {}
    for name, value in settings[0].items():
        match = SECRET_REFERENCE.search(value) if isinstance(value, str) else None
        if match:
            found[match.group(1)] = name.strip("'")
    assert found, f"infra/{FUNCTION_APP} references no Key Vault secret"
    return found


def test_the_secrets_reference_lists_exactly_the_bicep_secrets(readme: str, bicep: Any) -> None:
    body = sections(readme, "##").get("Secrets reference", "")
    rows = dict(re.findall(r"^\|\s*`([a-z0-9-]+)`\s*\|\s*`([A-Z0-9_]+)`\s*\|", body, flags=re.MULTILINE))
    assert rows == bicep_secrets(bicep), (
        "infra/README.md `## Secrets reference` (secret -> app setting) differs from the Bicep's Key Vault "
        f"references: README {rows}, Bicep {bicep_secrets(bicep)}"
    )


def _secret_sets(commands: list[Command]) -> dict[str, Command]:
    return {c.flag("--name") or "": c for c in commands if c.starts("az", "keyvault", "secret", "set")}


def test_the_runbook_makes_and_sets_every_bicep_secret(commands: list[Command], bicep: Any) -> None:
    sets = _secret_sets(commands)
    missing = set(bicep_secrets(bicep)) - set(sets)
    assert not missing, f"the runbook never sets {sorted(missing)} (az keyvault secret set --name ...)"
    for secret, command in sets.items():
        if secret not in bicep_secrets(bicep):
            continue
        source = command.flag("--file")
        assert source, f"`az keyvault secret set --name {secret}` must read its value from --file"
        # Each secret gets a value of its own: written after the previous secret was set.
        previous = max((c.order for c in sets.values() if c.order < command.order), default=-1)
        written = [
            c
            for c in commands
            if previous < c.order < command.order
            and ">" in c.tokens
            and c.tokens[c.tokens.index(">") + 1] == source
        ]
        # Made by a command, or fetched by hand as the comment above the command says.
        assert written or source in command.comment_before, (
            f"the runbook sets {secret} from {source}, which no command before it writes "
            "and no comment above it explains"
        )


def test_break_glass_and_other_settings_named_exist(commands: list[Command], bicep: Any) -> None:
    aliases = {field.alias for field in Settings.model_fields.values()}
    referenced: set[str] = set()
    for command in commands:
        if not command.starts("az", "functionapp", "config", "appsettings", "set"):
            continue
        settings = command.flag("--settings") or ""
        name = settings.split("=", 1)[0]
        assert name in aliases, f"the runbook sets {name}, which shared/settings.py does not read"
        referenced |= set(SECRET_REFERENCE.findall(settings))
    extra = set(_secret_sets(commands)) - set(bicep_secrets(bicep))
    assert extra <= referenced, (
        f"the runbook sets secrets {sorted(extra - referenced)} that no Bicep or runbook setting uses"
    )


def _template_of(param_file: Path) -> str:
    using = re.search(r"^using '([^']+)'", param_file.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert using, f"{param_file}: no using line"
    return (param_file.parent / using.group(1)).resolve().relative_to(INFRA).as_posix()


def _param(param_file: Path, name: str) -> str | None:
    match = re.search(
        rf"^param {name} = '([^']*)'", param_file.read_text(encoding="utf-8"), flags=re.MULTILINE
    )
    return match.group(1) if match else None


def _deployment_template(name: str, variables: dict[str, str]) -> str | None:
    """The template a deployment name of the runbook stands for (global.bicep or main.bicep)."""
    name = variables.get(name.lstrip("$"), name) if name.startswith("$") else name
    if re.fullmatch(r"tenantry-\$TENANTRY_ENVIRONMENT-global", name):
        return "global.bicep"
    match = re.fullmatch(r"tenantry-\$TENANTRY_ENVIRONMENT-(\$region|[a-z0-9]+)", name)
    if match and (
        match.group(1) == "$region" or (INFRA / "regions" / f"{match.group(1)}.bicepparam").exists()
    ):
        return "main.bicep"
    return None


def test_runbook_commands_name_what_exists(commands: list[Command], bicep: Any) -> None:
    variables: dict[str, str] = {}
    locks = {
        (resource["config"]["name"], target["type"])
        for document in bicep.documents.values()
        for resource in document.get("resources", {}).values()
        if resource.get("type") == "Microsoft.Authorization/locks"
        for target in [document["resources"].get(resource["config"].get("scope"), {})]
    }
    for command in commands:
        tokens = command.tokens
        if tokens[0] == "export" and len(tokens) > 1:
            tokens = tokens[1:]
        if "=" in tokens[0] and re.fullmatch(r"[A-Za-z_]\w*=.*", tokens[0]):
            name, value = tokens[0].split("=", 1)
            variables[name] = value
        used = set(re.findall(r"\$\{?([A-Za-z_]\w*)", command.text)) - {"SUBSHELL"} - SHELL_VARIABLES
        undefined = sorted(used - set(variables))
        assert not undefined, f"runbook: {command.text!r} uses {undefined} before defining them"

        if command.starts("az", "deployment", "sub") and tokens[3] in {"what-if", "create"}:
            parameters = command.flag("--parameters")
            assert parameters, f"runbook: {command.text!r} needs --parameters <file>"
            param_file = REPO / parameters
            assert param_file.is_file(), f"runbook: {parameters} does not exist"
            template = _template_of(param_file)
            declared = bicep.doc(template).get("parameters", {})
            overrides = [t.split("=", 1)[0] for t in tokens[tokens.index(parameters) + 1 :] if "=" in t]
            unknown = [name for name in overrides if name not in declared]
            assert not unknown, f"runbook: {command.text!r} overrides {unknown}, not parameters of {template}"
            assert command.flag("--location") == _param(param_file, "location"), (
                f"runbook: {command.text!r}: --location must be {parameters}'s location"
            )
            if tokens[3] == "create":
                expected = "global" if template == "global.bicep" else param_file.stem
                assert command.flag("--name") == f"tenantry-$TENANTRY_ENVIRONMENT-{expected}", (
                    f"runbook: {command.text!r}: name it tenantry-$TENANTRY_ENVIRONMENT-{expected}"
                )
        if command.starts("az", "deployment", "sub", "show"):
            template = _deployment_template(command.flag("--name") or "", variables)
            assert template, f"runbook: {command.text!r} shows a deployment the runbook does not make"
            query = re.fullmatch(r"properties\.outputs\.(\w+)\.value", command.flag("--query") or "")
            assert query, f"runbook: {command.text!r}: query properties.outputs.<name>.value"
            assert query.group(1) in bicep.doc(template).get("outputs", {}), (
                f"runbook: {command.text!r}: {template} has no output {query.group(1)}"
            )
        if command.starts("az", "lock", "delete"):
            lock = (command.flag("--name"), command.flag("--resource-type"))
            assert lock in locks, f"runbook: {command.text!r}: the Bicep has no lock {lock}"
        if tokens[0].endswith("python") and "-c" in tokens:
            code = command.flag("-c") or ""
            for module, name in re.findall(r"from ([\w.]+) import (\w+)", code):
                assert hasattr(importlib.import_module(module), name), (
                    f"runbook: {module}.{name} does not exist"
                )
        for token in tokens:
            if token.startswith("infra/"):
                assert (REPO / token).exists(), f"runbook: {token} does not exist"


def test_the_outputs_the_runbook_lists_are_the_stamps_outputs(runbook: str, bicep: Any) -> None:
    sentence = re.search(r"Each stamp deployment outputs (.+?);", runbook, flags=re.DOTALL)
    assert sentence, "the runbook should list the stamp deployment's outputs"
    listed = set(re.findall(r"`(\w+)`", sentence.group(1)))
    assert listed == set(bicep.doc("main.bicep").get("outputs", {})), (
        f"runbook lists outputs {sorted(listed)}, main.bicep has {sorted(bicep.doc('main.bicep')['outputs'])}"
    )


def test_the_concurrency_the_readme_quotes_is_deployed(readme: str, bicep: Any) -> None:
    for parameter in ("httpPerInstanceConcurrency", "pythonThreadCount"):
        quoted = re.search(rf"`{parameter}` \*\*(\d+)\*\*", readme)
        assert quoted, f"infra/README.md should quote the deployed `{parameter}` as **N**"
        deployed = bicep.parameter_default("main.bicep", parameter)
        assert int(quoted.group(1)) == deployed, (
            f"README quotes {parameter} {quoted.group(1)}, main.bicep {deployed}"
        )
    concurrency = bicep.parameter_default("main.bicep", "httpPerInstanceConcurrency")
    threads = bicep.parameter_default("main.bicep", "pythonThreadCount")
    assert re.search(rf"^\| {concurrency} \| {threads} \| \d+", readme, flags=re.MULTILINE), (
        "infra/README.md's bench table has no row for the deployed concurrency and threads"
    )
    quoted = re.search(r"`alwaysReadyHttpInstances`, default \*\*(\d+)\*\*", readme)
    assert quoted and int(quoted.group(1)) == bicep.parameter_default(
        "main.bicep", "alwaysReadyHttpInstances"
    )

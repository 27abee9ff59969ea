"""checkov over infra/: every file parses, no check crashes, and nothing fails unless waived.

Waivers live in infra/checkov-skips.yaml, one per (check, resource), each with a one-line
reason; a waiver that no longer matches a failure fails too. The custom checks (infra/checks/,
CKV_TNT_*) must pass on infra/ and must fail on the known-bad fixtures in tests/infra/known_bad/,
so that a check that silently stopped seeing anything is caught.
"""

from __future__ import annotations

from typing import Any

CUSTOM_CHECKS = {f"CKV_TNT_{n}" for n in range(1, 10)}

# The resource type of a container's immutability policy (WORM), long enough to need a name.
_WORM = "Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies"
# Each known-bad resource and the custom checks it must fail.
KNOWN_BAD = {
    "bad-app.bicep:Microsoft.Web/sites.keyedApp": {"CKV_TNT_1", "CKV_TNT_2"},
    "bad-app.bicep:Microsoft.Web/sites.ftpsApp": {"CKV_TNT_2"},
    "bad-app.bicep:Microsoft.Web/sites/config.literalSecret": {"CKV_TNT_3"},
    "bad-app.bicep:Microsoft.Web/sites/config.keyedConnection": {"CKV_TNT_3"},
    "bad-app.bicep:Microsoft.Web/sites/config.secretParameter": {"CKV_TNT_3"},
    "bad-roles.bicep:Microsoft.Authorization/roleAssignments.unscoped": {"CKV_TNT_4"},
    "bad-roles.bicep:Microsoft.Authorization/roleAssignments.otherRegion": {"CKV_TNT_4"},
    "bad-roles.bicep:Microsoft.Authorization/roleAssignments.owner": {"CKV_TNT_4"},
    "bad-roles.bicep:Microsoft.Authorization/roleAssignments.literalPrincipal": {"CKV_TNT_4"},
    "bad-roles.bicep:Microsoft.Authorization/roleAssignments.acsRoleOnStorage": {"CKV_TNT_4"},
    "bad-data.bicep:Microsoft.Storage/storageAccounts.keyedAccount": {"CKV_TNT_5"},
    "bad-data.bicep:Microsoft.Storage/storageAccounts/blobServices.noSoftDelete": {"CKV_TNT_6"},
    "bad-data.bicep:Microsoft.KeyVault/vaults.policyVault": {"CKV_TNT_7"},
    "bad-data.bicep:Microsoft.OperationalInsights/workspaces.longLogs": {"CKV_TNT_8"},
    "bad-data.bicep:Microsoft.Insights/components.keyedInsights": {"CKV_TNT_8"},
    f"bad-data.bicep:{_WORM}.shortWorm": {"CKV_TNT_9"},
    f"bad-data.bicep:{_WORM}.noAppends": {"CKV_TNT_9"},
}

INFRA_PREFIX = "infra/"
KNOWN_BAD_PREFIX = "tests/infra/known_bad/"


def _in_infra(records: list[dict[str, Any]], run: Any) -> list[tuple[str, str]]:
    """(check id, resource key relative to infra/) for the records about infra/."""
    return [
        (record["check_id"], run.key(record)[len(INFRA_PREFIX) :])
        for record in records
        if run.key(record).startswith(INFRA_PREFIX)
    ]


def test_checkov_parses_every_bicep_file(checkov_run, bicep) -> None:
    summary = checkov_run.report["summary"]
    errors = checkov_run.report["results"].get("parsing_errors", [])
    assert summary["parsing_errors"] == 0 and not errors, (
        f"checkov could not parse {errors}: keep to Bicep syntax the pinned parser reads "
        "(no `func`, `import`, `@export()`, lambdas), or the checks go blind"
    )
    assert not bicep.errors, f"pycep could not parse: {bicep.errors}"


def test_no_check_crashed_or_failed_to_load(checkov_run) -> None:
    broken = [
        line
        for line in checkov_run.stderr.splitlines()
        if "Failed to run check" in line or "Cannot load external check" in line
    ]
    assert not broken, "checks that crash see nothing:\n" + "\n".join(broken)


# Resource types the custom checks cover: a file declaring one must show up in the results.
CHECKED_TYPES = {
    "Microsoft.Storage/storageAccounts",
    "Microsoft.Storage/storageAccounts/blobServices",
    "Microsoft.Web/sites",
    "Microsoft.Web/sites/config",
    "Microsoft.KeyVault/vaults",
    "Microsoft.OperationalInsights/workspaces",
    "Microsoft.Insights/components",
    "Microsoft.Authorization/roleAssignments",
    "Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies",
}


def test_every_file_with_checked_resources_was_checked(checkov_run, bicep) -> None:
    checked = {checkov_run.key(record).split(":")[0] for record in checkov_run.failed + checkov_run.passed}
    for relative, document in bicep.documents.items():
        types = {r.get("type") for r in document.get("resources", {}).values() if not r.get("existing")}
        if types & CHECKED_TYPES:
            assert f"{INFRA_PREFIX}{relative}" in checked, f"checkov checked nothing in infra/{relative}"


def test_nothing_fails_unless_waived(checkov_run, checkov_skips) -> None:
    waived = {(skip["check"], resource) for skip in checkov_skips for resource in skip.get("resources", [])}
    unwaived = sorted(set(_in_infra(checkov_run.failed, checkov_run)) - waived)
    details = {
        (record["check_id"], checkov_run.key(record)[len(INFRA_PREFIX) :]): (
            f"{record['check_name']} [{', '.join(record['check_result'].get('evaluated_keys') or [])}]"
        )
        for record in checkov_run.failed
    }
    listing = "\n".join(f"  {check} {resource}: {details[check, resource]}" for check, resource in unwaived)
    assert not unwaived, f"failed checks (fix the Bicep, or waive in infra/checkov-skips.yaml):\n{listing}"


def test_every_waiver_has_a_reason_and_still_applies(checkov_run, checkov_skips) -> None:
    failed = set(_in_infra(checkov_run.failed, checkov_run))
    for skip in checkov_skips:
        check, reason, resources = skip.get("check"), skip.get("reason"), skip.get("resources")
        assert isinstance(check, str) and check.startswith("CKV"), f"waiver without a check id: {skip}"
        assert check not in CUSTOM_CHECKS, f"{check} is a Tenantry check: fix the Bicep instead of waiving it"
        assert isinstance(reason, str) and reason.strip() and "\n" not in reason.strip(), (
            f"waiver {check} needs a one-line reason"
        )
        assert resources and isinstance(resources, list), f"waiver {check} must name its resources"
        for resource in resources:
            assert (check, resource) in failed, f"stale waiver: {check} no longer fails on {resource}"


def test_custom_checks_pass_on_infra(checkov_run) -> None:
    passed = {check for check, _ in _in_infra(checkov_run.passed, checkov_run)}
    missing = CUSTOM_CHECKS - passed
    assert not missing, f"custom checks that checked nothing in infra/ (unloaded or blind): {sorted(missing)}"


def test_custom_checks_catch_the_known_bad_fixtures(checkov_run) -> None:
    failed: dict[str, set[str]] = {}
    for record in checkov_run.failed:
        key = checkov_run.key(record)
        if key.startswith(KNOWN_BAD_PREFIX):
            failed.setdefault(key[len(KNOWN_BAD_PREFIX) :], set()).add(record["check_id"])
    missed = {
        resource: sorted(expected - failed.get(resource, set()))
        for resource, expected in KNOWN_BAD.items()
        if not expected <= failed.get(resource, set())
    }
    assert not missed, f"custom checks that let a known-bad resource through: {missed}"

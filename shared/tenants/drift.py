"""Configuration drift: what changed between two snapshots of a tenant, one finding per changed setting."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.adapters.graph import GLOBAL_ADMINISTRATOR
from shared.tenants.baseline import FREE_SKU_MARKERS


@dataclass(frozen=True)
class Drift:
    action: str  # the audit action, e.g. tenant.drift.securityDefaults
    setting: str
    summary: str  # what a person reads: "security defaults disabled"
    before: Any
    after: Any
    # The end user a finding names (a role holder's object id): its values are sealed under their key.
    subject: str | None = None


def _available(snapshot: dict[str, Any], section: str) -> bool:
    return section not in (snapshot.get("unavailable") or {})


def _by_id(items: list[dict[str, Any]] | None, key: str = "id") -> dict[str, dict[str, Any]]:
    return {str(item[key]): item for item in items or [] if key in item}


Snapshot = dict[str, Any]


def security_defaults(before: Snapshot, after: Snapshot) -> list[Drift]:
    old = (before.get("securityDefaults") or {}).get("isEnabled")
    new = (after.get("securityDefaults") or {}).get("isEnabled")
    if old == new or new is None:
        return []
    word = "enabled" if new else "disabled"
    return [Drift("tenant.drift.securityDefaults", "securityDefaults", f"security defaults {word}", old, new)]


def _role_holders(snapshot: Snapshot) -> dict[tuple[str, str], str]:
    """(role template, principal) -> the role's name."""
    return {
        (str(a.get("roleTemplateId")), str(a["principalId"])): str(
            a.get("roleName") or a.get("roleTemplateId")
        )
        for a in snapshot.get("roleAssignments") or []
    }


def role_assignments(before: Snapshot, after: Snapshot) -> list[Drift]:
    found: list[Drift] = []
    old_holders, new_holders = _role_holders(before), _role_holders(after)
    for key in sorted(new_holders.keys() - old_holders.keys()):
        role = new_holders[key]
        summary = (
            "new Global Administrator" if key[0] == GLOBAL_ADMINISTRATOR else f"new holder of role {role}"
        )
        found.append(
            Drift(
                "tenant.drift.roleAssigned",
                f"roles/{key[0]}",
                summary,
                None,
                {"principalId": key[1], "role": role},
                subject=key[1],
            )
        )
    for key in sorted(old_holders.keys() - new_holders.keys()):
        role = old_holders[key]
        summary = "Global Administrator removed" if key[0] == GLOBAL_ADMINISTRATOR else f"role {role} removed"
        found.append(
            Drift(
                "tenant.drift.roleRemoved",
                f"roles/{key[0]}",
                summary,
                {"principalId": key[1], "role": role},
                None,
                subject=key[1],
            )
        )
    return found


def conditional_access(before: Snapshot, after: Snapshot) -> list[Drift]:
    found: list[Drift] = []
    old_p = _by_id(before.get("conditionalAccessPolicies"))
    new_p = _by_id(after.get("conditionalAccessPolicies"))

    def finding(pid: str, summary: str, old: Any, new: Any) -> Drift:
        return Drift("tenant.drift.conditionalAccess", f"conditionalAccess/{pid}", summary, old, new)

    for pid in sorted(new_p.keys() - old_p.keys()):
        p = new_p[pid]
        found.append(
            finding(
                pid,
                f"conditional access policy '{p.get('displayName')}' added ({p.get('state')})",
                None,
                p.get("state"),
            )
        )
    for pid in sorted(old_p.keys() - new_p.keys()):
        p = old_p[pid]
        found.append(
            finding(pid, f"conditional access policy '{p.get('displayName')}' removed", p.get("state"), None)
        )
    for pid in sorted(old_p.keys() & new_p.keys()):
        old, new = old_p[pid], new_p[pid]
        name = new.get("displayName")
        if old.get("state") != new.get("state"):
            summary = f"conditional access policy '{name}' now {new.get('state')}"
            found.append(finding(pid, summary, old.get("state"), new.get("state")))
        elif _without_modified(old) != _without_modified(new):
            found.append(finding(pid, f"conditional access policy '{name}' changed", None, None))
    return found


def _without_modified(policy: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in policy.items() if k != "modifiedDateTime"}


def domains(before: Snapshot, after: Snapshot) -> list[Drift]:
    old_d, new_d = _by_id(before.get("domains")), _by_id(after.get("domains"))
    added = [
        Drift(
            "tenant.drift.domain", f"domains/{did}", f"domain {did} added", None, new_d[did].get("isVerified")
        )
        for did in sorted(new_d.keys() - old_d.keys())
    ]
    removed = [
        Drift(
            "tenant.drift.domain",
            f"domains/{did}",
            f"domain {did} removed",
            old_d[did].get("isVerified"),
            None,
        )
        for did in sorted(old_d.keys() - new_d.keys())
    ]
    return added + removed


def licences(before: Snapshot, after: Snapshot) -> list[Drift]:
    found: list[Drift] = []
    old_s = _by_id(before.get("subscribedSkus"), "skuId")
    new_s = _by_id(after.get("subscribedSkus"), "skuId")
    for sid in sorted(new_s.keys() | old_s.keys()):
        old_units = (old_s.get(sid) or {}).get("prepaidUnits", {}).get("enabled")
        new_units = (new_s.get(sid) or {}).get("prepaidUnits", {}).get("enabled")
        if old_units != new_units:
            name = (new_s.get(sid) or old_s.get(sid) or {}).get("skuPartNumber") or sid
            found.append(
                Drift(
                    "tenant.drift.licences",
                    f"subscribedSkus/{sid}",
                    f"licences of {name}: {old_units} -> {new_units}",
                    old_units,
                    new_units,
                )
            )
        if sid in old_s and sid in new_s:
            grown = _unassigned_grown(sid, old_s[sid], new_s[sid])
            if grown is not None:
                found.append(grown)
    return found


def _unassigned(sku: dict[str, Any]) -> int:
    return max(
        int((sku.get("prepaidUnits") or {}).get("enabled") or 0) - int(sku.get("consumedUnits") or 0), 0
    )


def _unassigned_grown(sku_id: str, old: dict[str, Any], new: dict[str, Any]) -> Drift | None:
    """Paid licences left unassigned since the last sync (users unlicensed, or licences bought and
    not handed out); the alert rules decide how many are worth telling a person. A SKU new in this
    snapshot is left to the `tenant.drift.licences` finding above, and free and trial SKUs (large,
    unused by design) to nobody."""
    before, after = _unassigned(old), _unassigned(new)
    name = str(new.get("skuPartNumber") or sku_id)
    if after <= before or any(marker in name.upper() for marker in FREE_SKU_MARKERS):
        return None
    return Drift(
        "tenant.drift.licencesUnassigned",
        f"unassignedLicences/{sku_id}",
        f"{after - before} licences of {name} newly unassigned ({before} -> {after} unassigned)",
        before,
        after,
    )


def organization(before: Snapshot, after: Snapshot) -> list[Drift]:
    old_name = (before.get("organization") or {}).get("displayName")
    new_name = (after.get("organization") or {}).get("displayName")
    if old_name == new_name:
        return []
    return [
        Drift(
            "tenant.drift.organization",
            "organization/displayName",
            "organization renamed",
            old_name,
            new_name,
        )
    ]


# Snapshot section -> its comparison, in the order findings are reported.
SECTIONS: dict[str, Callable[[Snapshot, Snapshot], list[Drift]]] = {
    "securityDefaults": security_defaults,
    "roleAssignments": role_assignments,
    "conditionalAccessPolicies": conditional_access,
    "domains": domains,
    "subscribedSkus": licences,
    "organization": organization,
}


def compare(before: Snapshot, after: Snapshot) -> list[Drift]:
    """Findings from the previous snapshot to this one; a section Graph refused in either is skipped."""
    found: list[Drift] = []
    for section, changes in SECTIONS.items():
        if _available(before, section) and _available(after, section):
            found.extend(changes(before, after))
    return found

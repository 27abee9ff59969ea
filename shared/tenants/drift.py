"""Configuration drift: what changed between two snapshots of a tenant, one finding per changed setting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.adapters.graph import GLOBAL_ADMINISTRATOR


@dataclass(frozen=True)
class Drift:
    action: str  # the audit action, e.g. tenant.drift.securityDefaults
    setting: str
    summary: str  # what a person reads: "security defaults disabled"
    before: Any
    after: Any


def _available(snapshot: dict[str, Any], section: str) -> bool:
    return section not in (snapshot.get("unavailable") or {})


def _by_id(items: list[dict[str, Any]] | None, key: str = "id") -> dict[str, dict[str, Any]]:
    return {str(item[key]): item for item in items or [] if key in item}


def compare(before: dict[str, Any], after: dict[str, Any]) -> list[Drift]:  # noqa: PLR0912 - one block per section
    """Findings from the previous snapshot to this one; a section Graph refused in either is skipped."""
    found: list[Drift] = []

    def both(section: str) -> bool:
        return _available(before, section) and _available(after, section)

    if both("securityDefaults"):
        old = (before.get("securityDefaults") or {}).get("isEnabled")
        new = (after.get("securityDefaults") or {}).get("isEnabled")
        if old != new and new is not None:
            word = "enabled" if new else "disabled"
            found.append(
                Drift(
                    "tenant.drift.securityDefaults", "securityDefaults", f"security defaults {word}", old, new
                )
            )

    if both("roleAssignments"):

        def holders(snapshot: dict[str, Any]) -> dict[tuple[str, str], str]:
            return {
                (str(a.get("roleTemplateId")), str(a["principalId"])): str(
                    a.get("roleName") or a.get("roleTemplateId")
                )
                for a in snapshot.get("roleAssignments") or []
            }

        old_holders, new_holders = holders(before), holders(after)
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
                )
            )
        for key in sorted(old_holders.keys() - new_holders.keys()):
            role = old_holders[key]
            summary = (
                "Global Administrator removed" if key[0] == GLOBAL_ADMINISTRATOR else f"role {role} removed"
            )
            found.append(
                Drift(
                    "tenant.drift.roleRemoved",
                    f"roles/{key[0]}",
                    summary,
                    {"principalId": key[1], "role": role},
                    None,
                )
            )

    if both("conditionalAccessPolicies"):
        old_p, new_p = (
            _by_id(before.get("conditionalAccessPolicies")),
            _by_id(after.get("conditionalAccessPolicies")),
        )
        for pid in sorted(new_p.keys() - old_p.keys()):
            p = new_p[pid]
            found.append(
                Drift(
                    "tenant.drift.conditionalAccess",
                    f"conditionalAccess/{pid}",
                    f"conditional access policy '{p.get('displayName')}' added ({p.get('state')})",
                    None,
                    p.get("state"),
                )
            )
        for pid in sorted(old_p.keys() - new_p.keys()):
            p = old_p[pid]
            found.append(
                Drift(
                    "tenant.drift.conditionalAccess",
                    f"conditionalAccess/{pid}",
                    f"conditional access policy '{p.get('displayName')}' removed",
                    p.get("state"),
                    None,
                )
            )
        for pid in sorted(old_p.keys() & new_p.keys()):
            old, new = old_p[pid], new_p[pid]
            if old.get("state") != new.get("state"):
                found.append(
                    Drift(
                        "tenant.drift.conditionalAccess",
                        f"conditionalAccess/{pid}",
                        f"conditional access policy '{new.get('displayName')}' now {new.get('state')}",
                        old.get("state"),
                        new.get("state"),
                    )
                )
            elif {k: v for k, v in old.items() if k != "modifiedDateTime"} != {
                k: v for k, v in new.items() if k != "modifiedDateTime"
            }:
                found.append(
                    Drift(
                        "tenant.drift.conditionalAccess",
                        f"conditionalAccess/{pid}",
                        f"conditional access policy '{new.get('displayName')}' changed",
                        None,
                        None,
                    )
                )

    if both("domains"):
        old_d, new_d = _by_id(before.get("domains")), _by_id(after.get("domains"))
        for did in sorted(new_d.keys() - old_d.keys()):
            found.append(
                Drift(
                    "tenant.drift.domain",
                    f"domains/{did}",
                    f"domain {did} added",
                    None,
                    new_d[did].get("isVerified"),
                )
            )
        for did in sorted(old_d.keys() - new_d.keys()):
            found.append(
                Drift(
                    "tenant.drift.domain",
                    f"domains/{did}",
                    f"domain {did} removed",
                    old_d[did].get("isVerified"),
                    None,
                )
            )

    if both("subscribedSkus"):
        old_s, new_s = (
            _by_id(before.get("subscribedSkus"), "skuId"),
            _by_id(after.get("subscribedSkus"), "skuId"),
        )
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

    if both("organization"):
        old_name = (before.get("organization") or {}).get("displayName")
        new_name = (after.get("organization") or {}).get("displayName")
        if old_name != new_name:
            found.append(
                Drift(
                    "tenant.drift.organization",
                    "organization/displayName",
                    "organization renamed",
                    old_name,
                    new_name,
                )
            )
    return found

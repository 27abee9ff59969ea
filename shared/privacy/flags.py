"""Restriction and objection flags (Art. 18, 21): who may only be stored, not otherwise processed.

Kept apart from the subject package so that the areas which must honour a flag (tenant management
writes, notification fan-out) can read it without depending on how subjects are found or exported.
Table `subjectflags`: PartitionKey = the scope (one tenant of a partner, or one organisation),
RowKey = the subject's id in that scope (Entra object id, Dynamics system-user id), lowercase.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.errors import ProblemError

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

FLAGS = "subjectflags"


def tenant_partition(partner_id: str, tenant_id: str) -> str:
    return f"t~{partner_id}~{tenant_id.lower()}"


def org_partition(org_id: str) -> str:
    return f"o~{org_id.lower()}"


def restriction_of(account: AccountStorage, partition: str, subject_id: str) -> str | None:
    """ "restriction" or "objection" while the subject is flagged, else None."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        row = account.table(FLAGS).get_entity(partition, subject_id.lower(), select=["kind"])
    except ResourceNotFoundError:
        return None
    return str(row.get("kind") or "restriction")


def refuse_if_restricted(account: AccountStorage, partition: str, subject_id: str) -> None:
    """Management writes stop while a subject is restricted: storing is all that is allowed."""
    kind = restriction_of(account, partition, subject_id)
    if kind is not None:
        raise ProblemError(
            409,
            "subject-restricted",
            "The subject's data is restricted.",
            f"An {kind} is in force for this user: Tenantry only stores their data until the "
            "partner lifts it with a data-subject request (type restriction/objection, lift: true).",
        )


def restricted_in_org(account: AccountStorage, org_id: str) -> frozenset[str]:
    """System users of an organisation who restricted or objected (the fan-out skips their devices)."""
    rows = account.table(FLAGS).query_entities(
        "PartitionKey eq @pk", parameters={"pk": org_partition(org_id)}, select=["RowKey"]
    )
    return frozenset(str(r["RowKey"]) for r in rows)

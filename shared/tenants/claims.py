"""Which partner holds a customer tenant: one claim row per tenant in the control account.

A claim is taken only when a proof succeeds (a pending tenant claims nothing, so nobody can squat
a tenant id by typing it), with one atomic insert; it moves to another partner only under its
ETag, so two partners racing for one tenant end with exactly one holder. The row names a partner
id and a region, nothing personal, and never leaves the control account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.clock import Clock, isoformat
from shared.storage import tables

if TYPE_CHECKING:
    from shared.storage.router import StorageRouter

CLAIMS = "tenantclaims"
_ROW = "claim"


@dataclass(frozen=True)
class TenantClaim:
    tenant_id: str
    partner_id: str
    region: str
    via: str
    claimed_at: str
    etag: str


class ClaimTakenError(Exception):
    """Another partner holds the tenant (the caller decides whether that holder's proof is gone)."""

    def __init__(self, claim: TenantClaim):
        super().__init__("tenant claimed by another partner")
        self.claim = claim


def _claim(row: tables.Row) -> TenantClaim:
    return TenantClaim(
        tenant_id=str(row["PartitionKey"]),
        partner_id=str(row["partnerId"]),
        region=str(row["region"]),
        via=str(row.get("via") or ""),
        claimed_at=str(row.get("claimedAt") or ""),
        etag=str(row.etag),
    )


class TenantClaimStore:
    """The claim rows, in the control account."""

    def __init__(self, router: StorageRouter, clock: Clock):
        self.table = router.control.table(CLAIMS)
        self.clock = clock

    def get(self, tenant_id: str) -> TenantClaim | None:
        row = tables.get(self.table, tenant_id.lower(), _ROW)
        return None if row is None else _claim(row)

    def _row(self, tenant_id: str, partner_id: str, region: str, via: str) -> dict[str, Any]:
        return {
            "PartitionKey": tenant_id.lower(),
            "RowKey": _ROW,
            "partnerId": partner_id,
            "region": region,
            "via": via,
            "claimedAt": isoformat(self.clock.now()),
        }

    def take(self, tenant_id: str, partner_id: str, region: str, via: str) -> TenantClaim:
        """Claims a free tenant or renews this partner's claim; ClaimTakenError if another holds it."""
        from azure.core.exceptions import ResourceExistsError

        try:
            self.table.create_entity(self._row(tenant_id, partner_id, region, via))
        except ResourceExistsError:
            current = self.get(tenant_id)
            if current is None:  # released in between: try once more from the start
                return self.take(tenant_id, partner_id, region, via)
            if current.partner_id != partner_id:
                raise ClaimTakenError(current) from None
            if current.via != via:
                return self.move(current, partner_id, region, via)
            return current
        claim = self.get(tenant_id)
        assert claim is not None
        return claim

    def move(self, current: TenantClaim, partner_id: str, region: str, via: str) -> TenantClaim:
        """Hands the claim over, only if nobody changed it since `current` was read."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError
        from azure.data.tables import UpdateMode

        try:
            self.table.update_entity(
                self._row(current.tenant_id, partner_id, region, via),
                mode=UpdateMode.REPLACE,
                etag=current.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except HttpResponseError as error:
            if error.status_code not in (404, 412):
                raise
            latest = self.get(current.tenant_id)
            if latest is None:
                return self.take(current.tenant_id, partner_id, region, via)
            raise ClaimTakenError(latest) from None
        moved = self.get(current.tenant_id)
        assert moved is not None
        return moved

    def release(self, tenant_id: str, partner_id: str) -> None:
        """Gives the tenant up, if (and only if) this partner holds it."""
        release_claim(self.table, tenant_id, partner_id)


def release_claim(table: Any, tenant_id: str, partner_id: str) -> None:
    """Deletes the claim row if `partner_id` holds it (under its ETag: a claim that just moved stays)."""
    from azure.core.exceptions import HttpResponseError

    row = tables.get(table, tenant_id.lower(), _ROW)
    if row is None or str(row["partnerId"]) != partner_id:
        return
    try:
        tables.delete(table, tenant_id.lower(), _ROW, etag=row.etag)
    except HttpResponseError as error:
        if error.status_code not in (404, 412):
            raise

"""Who the signed-in person is, and which partners of their Entra tenant they work for (`GET /api/me`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from shared.access.principals import Role
from shared.access.tokens import TokenClaims
from shared.clock import Clock
from shared.errors import ProblemError
from shared.keys import KeyRing
from shared.partners.access import AccessService, scope_out
from shared.partners.directory import PartnerDirectory
from shared.partners.models import MembershipOut, MeOut, PersonnelStatus
from shared.partners.service import TABLE as PARTNERS
from shared.partners.service import PartnerService
from shared.storage import tables

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SignedIn:
    """A genuine token of a person (or of the operator), checked but not yet tied to any partner."""

    claims: TokenClaims
    operator: bool


class MeService:
    def __init__(self, partners: PartnerService, directory: PartnerDirectory, clock: Clock, ring: KeyRing):
        self.partners = partners
        self.directory = directory
        self.clock = clock
        self.ring = ring

    def get_me(self, signed_in: SignedIn) -> MeOut:
        """The token's identity and its memberships: none for the operator or a person no partner has."""
        claims = signed_in.claims
        memberships = [] if signed_in.operator else self._memberships(claims)
        return MeOut(
            object_id=claims.object_id,
            tenant_id=claims.tenant_id,
            display_name=claims.name,
            memberships=memberships,
        )

    def _memberships(self, claims: TokenClaims) -> list[MembershipOut]:
        found: list[MembershipOut] = []
        for partner_id in sorted(self._partner_ids_of(claims.tenant_id)):
            try:
                partner = self.partners.get(partner_id)
            except ProblemError:
                continue  # registered by a creation that never committed: no partner yet
            if partner.entra_tenant_id.lower() != claims.tenant_id.lower():
                continue
            access = AccessService(
                self.partners.router.region(partner.region), partner.id, self.clock, self.ring
            )
            person = access.get_person_by_object_id(claims.object_id)
            # A deactivated person's access is removed: the API refuses them, so the portal must not offer it.
            if person is None or person["status"] != PersonnelStatus.ACTIVE:
                continue
            found.append(
                MembershipOut(
                    partner_id=partner.id,
                    partner_display_name=partner.display_name,
                    region=partner.region,
                    personnel_id=str(person["RowKey"])[2:],
                    role=Role(person["role"]),
                    tenant_scope=scope_out(person.get("tenantScope")),
                )
            )
        return found

    def _partner_ids_of(self, entra_tenant_id: str) -> list[str]:
        # Partners created before the tenant index have no row in it, and a miss cannot tell them
        # from no partner at all. So the first call on a stamp without the index's completion mark
        # pays one scan of the directory that writes their rows, then sets the mark; from then on
        # every partner writes its own row when created, and a miss is an answer: a person of no
        # partner never costs a scan.
        if not self.directory.tenant_index_complete():
            self.backfill_tenant_index()
        return self.directory.list_partner_ids_of_tenant(entra_tenant_id)

    def backfill_tenant_index(self) -> None:
        """Writes the tenant index row of every partner in the directory, then marks the index complete."""
        written = 0
        for partner_id, region in self.directory.list_regions().items():
            if region not in self.partners.router.regions:
                continue
            row = tables.get(
                self.partners.router.region(region).table(PARTNERS), partner_id, "partner", ["entraTenantId"]
            )
            if row is None or not row.get("entraTenantId"):
                continue  # not committed (yet): its creation writes its own row
            self.directory.register_tenant(partner_id, str(row["entraTenantId"]))
            written += 1
        self.directory.mark_tenant_index_complete()
        log.info("tenant index backfilled: %d partners", written)

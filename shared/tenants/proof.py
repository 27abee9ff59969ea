"""Proof that a partner may manage a customer tenant: GDAP through its own tenant, or admin consent.

Customer tenant ids are public, and every partner shares Tenantry's one multi-tenant app, so an app
token for a tenant proves nothing about *which partner* the customer chose. A tenant is therefore
read from and written to in Graph only while this partner holds a proof, and only while it holds
the tenant's claim (`claims.py`):

- GDAP (CSP partners): the partner connects its own Entra tenant once (an administrator's consent
  sign-in there); Tenantry then asks Graph, with a token for the partner's tenant, for its
  `delegatedAdminRelationships` with the customer, and accepts an `active` one whose roles cover
  `MINIMUM_GDAP_ROLES` (or Global Administrator). Each sync asks again, so an expired or terminated
  relationship stops the tenant within one sync (`accessLost`), and a renewed one restores it.
- Admin consent (non-CSP MSPs): the customer's administrator signs in through a link bound to this
  partner and tenant; only a verified ID token of that tenant, from a person holding a role that may
  consent for the organisation, counts. Each sync then checks that an app token can still be had.

Either way Tenantry must also be able to get an app token in the customer's tenant (the app's
service principal exists there): that is what syncs and writes use.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from shared.access.principals import Actor
from shared.adapters.graph import (
    DelegatedAdminRelationship,
    GraphError,
    GraphThrottledError,
    GraphUnavailableError,
)
from shared.adapters.identity import IdentityError, IdentityPlatform
from shared.audit.context import ActionContext
from shared.audit.log import AuditLog
from shared.clock import Clock, isoformat
from shared.errors import ProblemError, not_found
from shared.tenants.claims import ClaimTakenError, TenantClaim, TenantClaimStore
from shared.tenants.graph_access import DEFAULT_CREDENTIAL, GraphAccess
from shared.tenants.models import (
    AccessState,
    EntraConnection,
    ProofVia,
    SignInLink,
    SignInResult,
    TenantAccess,
)
from shared.tenants.signin import SIGN_INS, PendingSignIn, SignInStore, StateSigner, sign_in_refused

if TYPE_CHECKING:
    from shared.partners.service import Partner
    from shared.storage.router import AccountStorage

log = logging.getLogger("tenantry.tenants")

TENANTS = "tenants"  # the tenants table (shared/tenants/records.py), whose rows carry the proof
_CONNECTION = "~connection"

GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
# What Tenantry does in a customer tenant, as GDAP roles (role template ids, the same everywhere):
# read the directory and configuration, manage users, licences and group members, switch security
# defaults. A relationship holding Global Administrator covers all of it.
MINIMUM_GDAP_ROLES: dict[str, str] = {
    "f2ef992c-3afb-46b9-b7cf-a126ee74c451": "Global Reader",
    "fe930be7-5e62-47db-91af-98c3a49a38b1": "User Administrator",
    "194ae4cb-b126-40b2-bd5b-6091b380977d": "Security Administrator",
}

PENDING, PROVEN, LOST = "pendingProof", "proven", "accessLost"
SYSTEM = Actor("system", "proof")


def access_of(row: Any) -> TenantAccess:
    """The proof's state as a tenant row holds it. Rows from before proofs existed read as pending."""
    roles = str(row.get("accessRoles") or "")
    return TenantAccess(
        state=cast("AccessState", row.get("accessState") or PENDING),
        via=cast("ProofVia | None", row.get("accessVia") or None),
        since=row.get("accessSince") or row["createdAt"],
        expires_at=row.get("accessExpiresAt") or None,
        reason=row.get("accessReason")
        or (
            None
            if row.get("accessState")
            else "Added before proofs were required: verify it, or send a consent link."
        ),
        relationship_id=row.get("relationshipId") or None,
        roles=[r for r in roles.split(",") if r],
    )


def tenant_claimed() -> ProblemError:
    # No hint of who holds it: a partner must not learn another partner's customers.
    return ProblemError(
        409,
        "tenant-claimed",
        "Another partner manages this tenant.",
        "A tenant is managed by one partner at a time. It moves once the other partner removes it, "
        "or once its relationship with the customer has ended.",
    )


def not_proven(access: TenantAccess) -> ProblemError:
    if access.state == LOST:
        detail = f"Tenantry lost access to this tenant: {access.reason or 'its proof no longer holds'}"
    else:
        detail = "Prove the relationship first (POST .../verify for GDAP, or .../consent-link)."
    return ProblemError(409, "tenant-not-proven", "The tenant is not proven.", detail)


def covers(role_ids: frozenset[str]) -> bool:
    return GLOBAL_ADMINISTRATOR in role_ids or set(MINIMUM_GDAP_ROLES) <= role_ids


@dataclass(frozen=True)
class GdapFinding:
    """What a check found: the relationship that proves the tenant (GDAP), or why the proof fails."""

    relationship: DelegatedAdminRelationship | None
    reason: str | None  # None: the proof holds


class ProofUnavailableError(Exception):
    """The proof could not be checked just now (throttled, unreachable): try again later."""


class TenantProof:
    """Proofs and claims of one partner's tenants, and the connection of the partner's own tenant."""

    def __init__(
        self,
        account: AccountStorage,
        partner: Partner,
        clock: Clock,
        *,
        graph: GraphAccess,
        identity: IdentityPlatform,
        claims: TenantClaimStore,
        signer: StateSigner,
        other_partner: Callable[[str], TenantProof | None],
    ):
        self.account = account
        self.partner = partner
        self.clock = clock
        self.graph = graph
        self.identity = identity
        self.claims = claims
        self.signer = signer
        # The holder of a claim elsewhere, to check (never assume) that its proof is gone.
        self.other_partner = other_partner
        self.sign_ins = SignInStore(account, partner.id, clock)
        self.audit = AuditLog(account, clock)

    # --- the partner's own tenant ------------------------------------------------------------

    def connection(self) -> EntraConnection:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            row = self.account.table(SIGN_INS).get_entity(self.partner.id, _CONNECTION)
        except ResourceNotFoundError:
            return EntraConnection(tenant_id=self.partner.entra_tenant_id, connected=False)
        if str(row["tenantId"]) != self.partner.entra_tenant_id:
            return EntraConnection(tenant_id=self.partner.entra_tenant_id, connected=False)
        return EntraConnection(
            tenant_id=str(row["tenantId"]),
            connected=True,
            connected_at=row["connectedAt"],
            connected_by=str(row["connectedBy"]),
        )

    def connection_link(self, redirect_uri: str, requested_by: Actor) -> SignInLink:
        return self._link("partnerTenant", self.partner.entra_tenant_id, redirect_uri, requested_by)

    # --- customer tenants --------------------------------------------------------------------

    def consent_link(self, tenant_id: str, redirect_uri: str, requested_by: Actor) -> SignInLink:
        row = self._row(tenant_id)
        return self._link("customerTenant", str(row["RowKey"]), redirect_uri, requested_by)

    def _link(self, purpose: Any, tenant_id: str, redirect_uri: str, requested_by: Actor) -> SignInLink:
        sign_in = self.sign_ins.begin(
            purpose, tenant_id, redirect_uri, f"{requested_by.type}:{requested_by.id}"
        )
        url = self.identity.authorize_url(
            sign_in.tenant_id,
            redirect_uri=redirect_uri,
            state=self.signer.sign(self.partner.id, sign_in.id),
            nonce=sign_in.nonce,
            code_challenge=sign_in.code_challenge,
        )
        return SignInLink(url=url, expires_at=sign_in.expires_at)  # type: ignore[arg-type]

    def complete_sign_in(
        self, sign_in_id: str, code: str, *, request_id: str | None, client_ip: str | None
    ) -> SignInResult:
        """The callback: redeem the code, verify the ID token, and record what it proves."""
        sign_in = self.sign_ins.take(sign_in_id)
        try:
            id_token = self.identity.redeem_code(
                sign_in.tenant_id,
                code=code,
                redirect_uri=sign_in.redirect_uri,
                code_verifier=sign_in.code_verifier,
            )
            admin = self.identity.verify_id_token(id_token, tenant_id=sign_in.tenant_id, nonce=sign_in.nonce)
        except IdentityError as error:
            if error.transient:
                raise ProblemError(
                    503, "identity-unavailable", "Entra ID did not answer.", error.message
                ) from None
            raise sign_in_refused(f"Entra ID refused: {error.code} {error.message}"[:400]) from None
        if admin.tenant_id != sign_in.tenant_id:
            raise sign_in_refused("The sign-in is from another tenant than the link was made for.")
        if not admin.may_consent_for_organisation:
            raise ProblemError(
                403,
                "not-an-administrator",
                "An administrator must sign in.",
                "The person who signed in holds no role that may consent for the organisation "
                "(Global Administrator or Privileged Role Administrator).",
            )
        self._require_app_access(sign_in.tenant_id)
        context = ActionContext(
            Actor("entraAdministrator", admin.object_id, admin.name), request_id, client_ip
        )
        if sign_in.purpose == "partnerTenant":
            return SignInResult(
                tenant_id=sign_in.tenant_id,
                purpose="partnerTenant",
                connection=self._connect(sign_in, context),
            )
        row = self._row(sign_in.tenant_id)
        self._claim(sign_in.tenant_id, "consent", context)
        updated = self._prove(row, "consent", None, context)
        return SignInResult(tenant_id=sign_in.tenant_id, purpose="customerTenant", access=access_of(updated))

    def _connect(self, sign_in: PendingSignIn, context: ActionContext) -> EntraConnection:
        if sign_in.tenant_id != self.partner.entra_tenant_id:
            raise sign_in_refused("The partner's Entra tenant changed since the link was made.")
        now = isoformat(self.clock.now())
        self.account.table(SIGN_INS).upsert_entity(
            {
                "PartitionKey": self.partner.id,
                "RowKey": _CONNECTION,
                "tenantId": sign_in.tenant_id,
                "connectedAt": now,
                "connectedBy": context.actor.id,
                "requestedBy": sign_in.requested_by,
            }
        )
        context.record(
            self.audit,
            self.partner.id,
            "partner.entraTenant.connected",
            {"type": "partner", "id": self.partner.id},
            details={"entraTenantId": sign_in.tenant_id, "requestedBy": sign_in.requested_by},
        )
        return self.connection()

    def verify(self, tenant_id: str, context: ActionContext) -> Any:
        """Checks GDAP again, now; proves (or keeps proven) the tenant, or says what is missing."""
        row = self._row(tenant_id)
        tenant_id = str(row["RowKey"])
        try:
            finding = self._gdap(tenant_id)
        except ProofUnavailableError as error:
            raise ProblemError(
                503,
                "graph-unavailable",
                "Microsoft Graph is unavailable.",
                str(error),
                headers={"Retry-After": "30"},
            ) from None
        if finding.relationship is None:
            if row.get("accessVia") == "consent" and row.get("accessState") == PROVEN:
                return row  # proven by consent, which verify (GDAP) does not take away
            if row.get("accessState") == PROVEN:
                self._lose(row, finding.reason or "No GDAP relationship covers this tenant.", context)
            raise ProblemError(
                409, "relationship-not-found", "No GDAP relationship proves this tenant.", finding.reason
            )
        self._require_app_access(tenant_id)
        self._claim(tenant_id, "gdap", context)
        return self._prove(row, "gdap", finding.relationship, context)

    def refuse_if_held_elsewhere(self, tenant_id: str) -> None:
        """Onboarding a tenant another partner holds (and still proves) is refused before any write."""
        claim = self.claims.get(tenant_id)
        if claim is None or claim.partner_id == self.partner.id:
            return
        holder = self.other_partner(claim.partner_id)
        if holder is not None and holder.still_holds(tenant_id, claim.via):
            raise tenant_claimed()

    def prove_at_onboarding(self, row: Any, context: ActionContext) -> Any:
        """Onboarding checks GDAP at once when it can; a tenant it cannot prove stays pending."""
        if not self.connection().connected:
            return self._note(row, "Connect the partner's Entra tenant for GDAP, or send a consent link.")
        try:
            finding = self._gdap(str(row["RowKey"]))
            if finding.relationship is None:
                return self._note(row, finding.reason or "No GDAP relationship.")
            self._require_app_access(str(row["RowKey"]))
        except ProofUnavailableError:
            return self._note(row, "GDAP could not be checked just now: verify again.")
        except ProblemError as refusal:
            return self._note(row, refusal.detail or refusal.title)
        self._claim(str(row["RowKey"]), "gdap", context)
        return self._prove(row, "gdap", finding.relationship, context)

    def check_before_sync(self, row: Any) -> bool:  # noqa: PLR0911 - each finding answers for itself
        """Whether a sync may read the tenant now; moves it to accessLost or back to proven as found.

        Raises ProofUnavailableError when the check itself could not be made (the sync is retried).
        """
        state = row.get("accessState")
        tenant_id = str(row["RowKey"])
        if state == PENDING:
            return False
        if state is None:  # onboarded before proofs: prove it by GDAP now, or leave it pending
            if self.connection().connected and self._gdap(tenant_id).relationship is not None:
                self.prove_at_onboarding(row, ActionContext(SYSTEM))
                return access_of(self._row(tenant_id)).state == PROVEN
            self._note(row, access_of(row).reason or "")
            return False
        claim = self.claims.get(tenant_id)
        if claim is not None and claim.partner_id != self.partner.id:
            if state == PROVEN:
                self._lose(
                    row, "Another partner proved this tenant and manages it now.", ActionContext(SYSTEM)
                )
            return False
        finding = self._recheck(row)
        if finding.reason is not None:
            if state == PROVEN:
                self._lose(row, finding.reason, ActionContext(SYSTEM))
            return False
        if claim is None:
            try:
                self.claims.take(tenant_id, self.partner.id, self.partner.region, str(row.get("accessVia")))
            except ClaimTakenError:
                return False
        if state == LOST:
            self._prove(row, str(row["accessVia"]), finding.relationship, ActionContext(SYSTEM))
        elif finding.relationship is not None:
            self._refresh_relationship(row, finding.relationship)
        return True

    def still_holds(self, tenant_id: str, via: str) -> bool:
        """Asked by another partner's proof: does this partner's claim (proven `via`) still hold?

        A holder whose row is still pending is in the middle of proving (its claim is taken before
        its row says proven), so only the proof itself decides, never the row's state alone.
        """
        try:
            row = self._row(tenant_id)
        except ProblemError:
            return False  # removed: its claim holds nothing
        if row.get("accessState") == LOST:
            return False
        if via == "consent":
            # Consent is given to Tenantry's app, not to a partner: a fresh consent for another
            # partner would make any app-token check pass. It holds until this partner's own
            # check finds it gone (accessLost) or the partner releases the tenant.
            return True
        try:
            return self._gdap(str(row["RowKey"])).relationship is not None
        except ProofUnavailableError:
            return True  # not checked is not gone

    def give_up(self, tenant_id: str) -> None:
        """Another partner took the claim: this copy stops and its synced data goes."""
        from shared.tenants.records import purge_tenant_data

        try:
            row = self._row(tenant_id)
        except ProblemError:
            return
        self._lose(
            row, "Another partner proved this tenant and manages it now.", ActionContext(SYSTEM), moved=True
        )
        purge_tenant_data(self.account, self.partner.id, str(row["RowKey"]))

    def release(self, tenant_id: str) -> None:
        self.claims.release(tenant_id, self.partner.id)

    # --- the pieces ------------------------------------------------------------------------

    def _row(self, tenant_id: str) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        tenant_id = tenant_id.lower()
        if not tenant_id or tenant_id.startswith("~"):
            raise not_found("No such tenant.")
        try:
            row = self.account.table(TENANTS).get_entity(self.partner.id, tenant_id)
        except ResourceNotFoundError:
            raise not_found("No such tenant.") from None
        if row["status"] != "active":
            raise not_found("No such tenant.")
        return row

    def _gdap(self, tenant_id: str) -> GdapFinding:  # noqa: PLR0911 - one reason per way GDAP fails
        """The partner's covering, active relationship with the customer, asked of Graph now."""
        from azure.core.exceptions import ClientAuthenticationError

        connection = self.connection()
        if not connection.connected:
            return GdapFinding(
                None, "The partner's Entra tenant is not connected, so GDAP cannot be checked."
            )
        try:
            with self.graph.reader(connection.tenant_id, DEFAULT_CREDENTIAL, priority=None) as reader:
                found = reader.delegated_admin_relationships(tenant_id)
        except (GraphThrottledError, GraphUnavailableError) as error:
            raise ProofUnavailableError(f"{error.code}: {error.message}"[:300]) from error
        except ClientAuthenticationError:
            return GdapFinding(
                None, "Tenantry can no longer reach the partner's own Entra tenant (consent removed?)."
            )
        except GraphError as error:
            return GdapFinding(None, f"Graph refused to list GDAP relationships: {error.code}.")
        now = self.clock.now()
        mine = [r for r in found if r.customer is None or r.customer.tenant_id.lower() == tenant_id]
        active = [
            r for r in mine if r.status == "active" and (r.end_date_time is None or r.end_date_time > now)
        ]
        covering = [r for r in active if covers(r.role_ids)]
        if covering:
            best = max(covering, key=lambda r: r.end_date_time or datetime.max.replace(tzinfo=now.tzinfo))
            return GdapFinding(best, None)
        if active:
            missing = sorted(
                name for rid, name in MINIMUM_GDAP_ROLES.items() if all(rid not in r.role_ids for r in active)
            )
            return GdapFinding(None, f"The active GDAP relationship lacks roles: {', '.join(missing)}.")
        if mine:
            latest = max(mine, key=lambda r: r.end_date_time or now)
            status = "expired" if latest.status == "active" else latest.status
            return GdapFinding(None, f"The GDAP relationship with this customer is {status}.")
        return GdapFinding(None, "The partner has no GDAP relationship with this customer.")

    def _require_app_access(self, tenant_id: str) -> None:
        reason = self._app_access_gone(tenant_id)
        if reason is not None:
            raise ProblemError(409, "app-access-missing", "Tenantry's app cannot reach the tenant.", reason)

    def _app_access_gone(self, tenant_id: str) -> str | None:
        try:
            self.identity.app_access(tenant_id)
        except IdentityError as error:
            if error.transient:
                raise ProofUnavailableError(error.message) from None
            number = f"AADSTS{error.aadsts}: " if error.aadsts else ""
            return (
                f"Tenantry's app has no access in the tenant ({number}{error.code}); "
                "an administrator must consent."
            )
        return None

    def _recheck(self, row: Any) -> GdapFinding:
        """The row's proof checked again: `reason` says why it no longer holds (None: it holds)."""
        tenant_id = str(row["RowKey"])
        relationship = None
        if row.get("accessVia") == "gdap":
            finding = self._gdap(tenant_id)
            if finding.relationship is None:
                return finding
            relationship = finding.relationship
        return GdapFinding(relationship, self._app_access_gone(tenant_id))

    def _claim(self, tenant_id: str, via: str, context: ActionContext) -> TenantClaim:
        holder: TenantProof | None = None
        try:
            return self.claims.take(tenant_id, self.partner.id, self.partner.region, via)
        except ClaimTakenError as taken:
            holder = self.other_partner(taken.claim.partner_id)
            if holder is not None and holder.still_holds(tenant_id, taken.claim.via):
                raise tenant_claimed() from None
            try:
                claim = self.claims.move(taken.claim, self.partner.id, self.partner.region, via)
            except ClaimTakenError:
                raise tenant_claimed() from None
        if holder is not None:
            holder.give_up(tenant_id)
        context.record(
            self.audit,
            self.partner.id,
            "tenant.claim.moved",
            {"type": "tenant", "id": tenant_id},
            details={"via": via, "from": "anotherPartner"},
        )
        return claim

    def _update(self, tenant_id: str, fields: dict[str, Any]) -> None:
        from azure.data.tables import UpdateMode

        self.account.table(TENANTS).update_entity(
            {"PartitionKey": self.partner.id, "RowKey": tenant_id, **fields}, mode=UpdateMode.MERGE
        )

    def _relationship_fields(self, relationship: DelegatedAdminRelationship | None) -> dict[str, Any]:
        if relationship is None:
            return {"relationshipId": "", "accessRoles": "", "accessExpiresAt": ""}
        return {
            "relationshipId": relationship.id,
            "accessRoles": ",".join(sorted(relationship.role_ids)),
            "accessExpiresAt": isoformat(relationship.end_date_time) if relationship.end_date_time else "",
        }

    def _prove(
        self, row: Any, via: str, relationship: DelegatedAdminRelationship | None, context: ActionContext
    ) -> Any:
        tenant_id = str(row["RowKey"])
        before = row.get("accessState")
        fields = {"accessVia": via, "accessReason": "", **self._relationship_fields(relationship)}
        if before != PROVEN or row.get("accessVia") != via:
            fields |= {"accessState": PROVEN, "accessSince": isoformat(self.clock.now())}
        self._update(tenant_id, fields)
        if before != PROVEN:
            context.record(
                self.audit,
                self.partner.id,
                "tenant.access.restored" if before == LOST else "tenant.access.proven",
                {"type": "tenant", "id": tenant_id},
                details={"via": via, "relationshipId": relationship.id if relationship else None},
            )
        return self._row(tenant_id)

    def _refresh_relationship(self, row: Any, relationship: DelegatedAdminRelationship) -> None:
        fields = self._relationship_fields(relationship)
        if any(str(row.get(k) or "") != v for k, v in fields.items()):
            self._update(str(row["RowKey"]), fields)

    def _note(self, row: Any, reason: str) -> Any:
        """A tenant that stays (or becomes) pending, with the reason the partner should read."""
        self._update(
            str(row["RowKey"]),
            {
                "accessState": PENDING,
                "accessReason": reason[:500],
                "accessSince": row.get("accessSince") or isoformat(self.clock.now()),
            },
        )
        return self._row(str(row["RowKey"]))

    def _lose(self, row: Any, reason: str, context: ActionContext, *, moved: bool = False) -> None:
        tenant_id = str(row["RowKey"])
        self._update(
            tenant_id,
            {"accessState": LOST, "accessReason": reason[:500], "accessSince": isoformat(self.clock.now())},
        )
        log.warning("tenant %s of partner %s lost access: %s", tenant_id, self.partner.id, reason)
        context.record(
            self.audit,
            self.partner.id,
            "tenant.claim.lost" if moved else "tenant.access.lost",
            {"type": "tenant", "id": tenant_id},
            details={"reason": reason},
        )

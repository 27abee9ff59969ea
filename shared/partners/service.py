"""Creating partners and running their subscriptions."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.access.principals import Role
from shared.audit.context import ActionContext, diff
from shared.audit.log import AuditLog
from shared.clock import Clock, isoformat
from shared.errors import FieldError, ProblemError, not_found, validation_failed
from shared.ids import new_id
from shared.partners import subscription as subs
from shared.partners.access import PLATFORM, AccessService
from shared.partners.directory import PartnerDirectory
from shared.partners.models import (
    Administration,
    AdministrationPatch,
    ContactOut,
    PartnerIn,
    PartnerOut,
    PersonnelIn,
    PlanChangeIn,
    SubscriptionOut,
)
from shared.partners.plans import PlanCatalogue, PlanList
from shared.partners.subscription import Subscription
from shared.storage import tables
from shared.storage.router import StorageRouter, unknown_region
from shared.storage.tables import raise_if_conflict
from shared.usage import UsageMeter

if TYPE_CHECKING:
    from shared.keys import KeyRing
    from shared.storage.router import AccountStorage

TABLE = "partners"


@dataclass
class Partner:
    id: str
    region: str
    display_name: str
    entra_tenant_id: str
    contact_name: str
    contact_email: str
    subscription: Subscription
    created_at: str
    etag: str | None = None
    # Address, chamber-of-commerce and VAT numbers, billing e-mail: what invoices read (billing).
    administration: Administration | None = None

    def to_entity(self) -> dict[str, Any]:
        entity: dict[str, Any] = {
            "PartitionKey": self.id,
            "RowKey": "partner",
            "region": self.region,
            "displayName": self.display_name,
            "entraTenantId": self.entra_tenant_id,
            "contactName": self.contact_name,
            "contactEmail": self.contact_email,
            "subscription": self.subscription.model_dump_json(by_alias=True),
            "createdAt": self.created_at,
        }
        if self.administration is not None:
            entity["administration"] = self.administration.model_dump_json(by_alias=True, exclude_none=True)
        return entity

    @classmethod
    def from_entity(cls, entity: tables.Row) -> Partner:
        return cls(
            id=str(entity["PartitionKey"]),
            region=str(entity["region"]),
            display_name=str(entity["displayName"]),
            entra_tenant_id=str(entity["entraTenantId"]),
            contact_name=str(entity["contactName"]),
            contact_email=str(entity["contactEmail"]),
            subscription=Subscription.model_validate_json(str(entity["subscription"])),
            created_at=str(entity["createdAt"]),
            etag=entity.etag,
            administration=Administration.model_validate_json(str(entity["administration"]))
            if entity.get("administration")
            else None,
        )


class PartnerService:
    # Every authenticated request needs its partner; a few seconds of staleness across instances
    # is acceptable for subscription state, and this instance's own writes refresh it at once.
    CACHE_SECONDS = 5.0

    def __init__(
        self,
        router: StorageRouter,
        directory: PartnerDirectory,
        clock: Clock,
        ring: KeyRing,
        *,
        tenant_count: Callable[[Partner], int] | None = None,
    ):
        self.router = router
        self.directory = directory
        self.clock = clock
        self.ring = ring  # the pepper's versions, for the owner's API-key hashes
        # Tenants live in an area above this one; the composition root hands their count in.
        self.tenant_count = tenant_count
        self.plans = PlanCatalogue(router, clock)
        self._cache: dict[str, tuple[float, Partner]] = {}

    def audit(self, account: AccountStorage) -> AuditLog:
        return AuditLog(account, self.clock)

    def usage(self, account: AccountStorage) -> UsageMeter:
        return UsageMeter(account, self.clock)

    def view(self, partner: Partner) -> PartnerOut:
        now = self.clock.now()
        current = subs.advance(partner.subscription, now)
        return PartnerOut(
            id=partner.id,
            display_name=partner.display_name,
            region=partner.region,
            entra_tenant_id=partner.entra_tenant_id,
            contact=ContactOut(name=partner.contact_name, email=partner.contact_email),
            subscription=SubscriptionOut(
                **current.model_dump(), read_only=subs.write_refusal(current, now) is not None
            ),
            created_at=partner.created_at,  # type: ignore[arg-type]
        )

    def create(self, request: PartnerIn, context: ActionContext, *, partner_id: str | None = None) -> Partner:
        """A partner with its directory row and first owner, or, seen from outside, nothing.

        The partner row is written last and is the commit: until it exists `get` answers 404 and
        no sweep, invoice run or notice (which all read the partners table) sees the partner; the
        directory row and the owner before it hold nothing reachable. `partner_id` is the id every
        attempt under one Idempotency-Key shares: a retry after a crash finds what the crashed
        attempt wrote under that id and finishes it, and after the commit it answers the partner.
        """
        if request.region not in self.router.regions:
            raise unknown_region(request.region, self.router.regions)
        partner_id = partner_id or new_id()
        account = self.router.region(request.region)
        committed = tables.get(account.table(TABLE), partner_id, "partner")
        if committed is not None:
            return Partner.from_entity(committed)  # an earlier attempt finished: its partner
        now = self.clock.now()
        sub = request.subscription
        partner = Partner(
            id=partner_id,
            region=request.region,
            display_name=request.display_name,
            entra_tenant_id=str(request.entra_tenant_id).lower(),
            contact_name=request.contact.name,
            contact_email=request.contact.email,
            subscription=subs.new_subscription(
                sub.plan, sub.tenant_limit, sub.billing_cycle, sub.trial_days, now
            ),
            created_at=isoformat(now),
        )
        # A directory row means an earlier attempt already recorded the creation (it comes next).
        if self.directory.region_of(partner.id) is None:
            context.record(
                self.audit(account),
                partner.id,
                "partner.created",
                {"type": "partner", "id": partner.id},
                details={"region": partner.region, "plan": sub.plan, "tenantLimit": sub.tenant_limit},
            )
            self.directory.register(partner.id, partner.region)
        # Before the commit, as the region row: a signed-in person finds the partner once it exists.
        self.directory.register_tenant(partner.id, partner.entra_tenant_id)
        if request.owner is not None:
            owner = PersonnelIn(
                object_id=request.owner.object_id,
                email=request.owner.email,
                display_name=request.owner.display_name,
                role=Role.OWNER,
            )
            access = AccessService(account, partner.id, self.clock, self.ring)
            if access.get_person_by_object_id(str(owner.object_id)) is None:  # not by an earlier attempt
                access.invite(owner, context, PLATFORM)
        from azure.core.exceptions import ResourceExistsError

        try:
            account.table(TABLE).create_entity(partner.to_entity())
        except ResourceExistsError:
            # A concurrent attempt under the same key committed first: its row is the partner.
            row = tables.get(account.table(TABLE), partner.id, "partner")
            if row is None:
                raise
            return Partner.from_entity(row)
        return partner

    def get(self, partner_id: str) -> Partner:
        cached = self._cache.get(partner_id)
        if cached is not None and cached[0] > time.monotonic():
            return copy.deepcopy(cached[1])
        account = self.directory.account_of(partner_id)
        if account is None:
            raise not_found("No such partner.")
        row = tables.get(account.table(TABLE), partner_id, "partner")
        if row is None:
            raise not_found("No such partner.")
        partner = Partner.from_entity(row)
        self._cache[partner_id] = (time.monotonic() + self.CACHE_SECONDS, copy.deepcopy(partner))
        return partner

    def _save_subscription(
        self, partner: Partner, updated: Subscription, action: str, context: ActionContext
    ) -> Partner:
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError
        from azure.data.tables import UpdateMode

        before = json.loads(
            subs.advance(partner.subscription, self.clock.now()).model_dump_json(by_alias=True)
        )
        partner.subscription = updated
        account = self.router.region(partner.region)
        # ETag-guarded: two concurrent changes cannot silently overwrite each other.
        self._cache.pop(partner.id, None)
        try:
            account.table(TABLE).update_entity(
                partner.to_entity(),
                mode=UpdateMode.REPLACE,
                etag=partner.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except HttpResponseError as error:
            raise_if_conflict(error)
            raise
        after = json.loads(updated.model_dump_json(by_alias=True))
        context.record(
            self.audit(account),
            partner.id,
            action,
            {"type": "subscription", "id": partner.id},
            changes=diff(before, after),
        )
        return partner

    def update_subscription(
        self, partner: Partner, plan: str | None, tenant_limit: int | None, context: ActionContext
    ) -> Partner:
        current = subs.advance(partner.subscription, self.clock.now())
        return self._save_subscription(
            partner,
            subs.schedule_change(current, plan, tenant_limit),
            "subscription.change_scheduled",
            context,
        )

    def terminate(self, partner: Partner, context: ActionContext) -> Partner:
        current = subs.advance(partner.subscription, self.clock.now())
        return self._save_subscription(
            partner, subs.schedule_termination(current), "subscription.termination_scheduled", context
        )

    def update_state(
        self, partner: Partner, state: subs.SubscriptionState, context: ActionContext
    ) -> Partner:
        current = subs.advance(partner.subscription, self.clock.now())
        return self._save_subscription(
            partner, subs.set_state(current, state), "subscription.state_changed", context
        )

    # --- self-service (the partner's owners and admins) -------------------------------------------

    def list_plans(self, partner: Partner) -> PlanList:
        """The plans on offer, priced for this partner's current and next cycle."""
        current = subs.advance(partner.subscription, self.clock.now())
        return self.plans.offer(
            current.current_period_start, current.current_period_end, current.billing_cycle.months
        )

    def change_plan(self, partner: Partner, body: PlanChangeIn, context: ActionContext) -> Partner:
        """A dearer plan at once (the rest of the cycle pro-rated on the next invoice); a cheaper or
        smaller plan, or another billing cycle, from the next cycle. A plan with fewer tenants than
        the partner holds is refused, naming how many must go."""
        if body.plan is None and body.billing_cycle is None:
            raise validation_failed([FieldError("body", "give plan, billingCycle or both")])
        now = self.clock.now()
        current = subs.advance(partner.subscription, now)
        subs.refuse_if_terminating(current)
        updated, action = current, "subscription.change_scheduled"
        if body.plan is not None and body.plan != current.plan:
            chosen = self.plans.get_for_change(body.plan, current.current_period_start)
            held = self.tenant_count(partner) if self.tenant_count is not None else 0
            if held > chosen.tenant_limit:
                raise ProblemError(
                    409,
                    "too-many-tenants",
                    "Too many tenants for this plan.",
                    f"The plan '{body.plan}' allows {chosen.tenant_limit} tenants and the partner has "
                    f"{held}: remove {held - chosen.tenant_limit} tenants first.",
                )
            cycle = current.billing_cycle
            price_now = self.plans.price_of(current.plan, cycle, current.current_period_start)
            price_new = chosen.price_cents(cycle)
            if price_new > price_now or (
                price_new == price_now and chosen.tenant_limit > current.tenant_limit
            ):
                updated = subs.upgrade_now(
                    current, body.plan, chosen.tenant_limit, price_now=price_now, price_new=price_new, now=now
                )
                action = "subscription.upgraded"
            else:
                updated = subs.schedule_change(current, body.plan, chosen.tenant_limit)
        if body.billing_cycle is not None and body.billing_cycle is not updated.billing_cycle:
            updated = subs.schedule_change(updated, None, None, body.billing_cycle)
        return self._save_subscription(partner, updated, action, context)

    def unsubscribe(
        self,
        partner: Partner,
        context: ActionContext,
        *,
        choice: subs.TerminationChoice = subs.TerminationChoice.DELETE,
        data_return_id: str | None = None,
    ) -> Partner:
        """The partner ends its own subscription: effective at the end of the paid cycle. Its
        choice for its data is recorded with the subscription (and so in the event's changes)."""
        current = subs.advance(partner.subscription, self.clock.now())
        return self._save_subscription(
            partner,
            subs.schedule_termination(current, choice, data_return_id),
            "subscription.unsubscribed",
            context,
        )

    # --- administration fields (the partner's owners and admins) ----------------------------------

    def update_administration(
        self, partner: Partner, patch: AdministrationPatch, context: ActionContext
    ) -> Partner:
        """Merges the fields given (null clears one) into the partner row, ETag-guarded, audited."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError
        from azure.data.tables import UpdateMode

        before = partner.administration or Administration()
        merged = before.model_dump()
        merged.update({name: getattr(patch, name) for name in patch.model_fields_set})
        after = Administration.model_validate(merged)
        account = self.router.region(partner.region)
        self._cache.pop(partner.id, None)
        row = {"PartitionKey": partner.id, "RowKey": "partner"}
        row["administration"] = after.model_dump_json(by_alias=True, exclude_none=True)
        try:
            written = account.table(TABLE).update_entity(
                row, mode=UpdateMode.MERGE, etag=partner.etag, match_condition=MatchConditions.IfNotModified
            )
        except HttpResponseError as error:
            raise_if_conflict(error)
            raise
        context.record(
            self.audit(account),
            partner.id,
            "partner.administration_updated",
            {"type": "partner", "id": partner.id},
            changes=diff(
                before.model_dump(mode="json", by_alias=True), after.model_dump(mode="json", by_alias=True)
            ),
        )
        partner.administration, partner.etag = after, written.get("etag", partner.etag)
        return partner

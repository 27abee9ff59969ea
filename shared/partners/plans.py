"""The operator's catalogue of plans and prices, versioned: a price change reaches a partner only
from the first cycle that starts at least 30 days after the partner was told."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated

from pydantic import Field, StringConstraints

from shared.audit.context import ActionContext
from shared.clock import Clock, isoformat, parse_iso
from shared.errors import ProblemError
from shared.models import ApiInput, ApiModel, UtcDateTime
from shared.partners.subscription import BillingCycle, add_months
from shared.storage import tables

if TYPE_CHECKING:
    from azure.data.tables import TableClient

    from shared.storage.router import StorageRouter

TABLE = "plans"  # in the control account: the catalogue is the same for every region
NOTICE = timedelta(days=30)
CURRENCY = "EUR"

PlanId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]


class PlanIn(ApiInput):
    """A plan as the operator publishes it; publishing again makes a new version."""

    display_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    tenant_limit: int = Field(ge=1, le=100_000)
    monthly_price_cents: int = Field(ge=0, le=100_000_000, description="Per monthly cycle, excluding VAT.")
    annual_price_cents: int = Field(ge=0, le=1_000_000_000, description="Per annual cycle, excluding VAT.")
    available: bool = Field(default=True, description="Offered to partners choosing a plan.")


class PlanVersion(ApiModel):
    plan_id: str
    version: int
    display_name: str
    tenant_limit: int
    monthly_price_cents: int
    annual_price_cents: int
    currency: str
    available: bool
    announced_at: UtcDateTime

    def price_cents(self, cycle: BillingCycle) -> int:
        return self.monthly_price_cents if cycle is BillingCycle.MONTHLY else self.annual_price_cents


class PlanOut(ApiModel):
    """A plan as one partner sees it: what a cycle starting now costs it, and any announced change."""

    id: str
    display_name: str
    tenant_limit: int
    monthly_price_cents: int
    annual_price_cents: int
    currency: str
    version: int
    next_version: PlanVersion | None = Field(
        default=None,
        description="An announced price change, applying from the first cycle starting on or "
        "after `nextVersionFrom`.",
    )
    next_version_from: UtcDateTime | None = None


class PlanList(ApiModel):
    items: list[PlanOut]


class CatalogueOut(ApiModel):
    items: list[PlanVersion]


def unknown_plan(plan_id: str) -> ProblemError:
    return ProblemError(
        422,
        "unknown-plan",
        "No such plan.",
        f"The catalogue has no plan '{plan_id}' on offer; GET .../plans lists them.",
    )


def applies_from(version: PlanVersion) -> datetime:
    """The first moment a cycle may start at this version's price: a plan's first version at once."""
    return version.announced_at if version.version == 1 else version.announced_at + NOTICE


def version_for(versions: list[PlanVersion], cycle_start: datetime) -> PlanVersion | None:
    """The version whose price a cycle starting at `cycle_start` pays."""
    applicable = [v for v in versions if applies_from(v) <= cycle_start]
    return applicable[-1] if applicable else None


class PlanCatalogue:
    def __init__(self, router: StorageRouter, clock: Clock):
        self.router = router
        self.clock = clock

    def _table(self) -> TableClient:
        return self.router.control.table(TABLE)

    def list_versions(self, plan_id: str | None = None) -> list[PlanVersion]:
        """Every version (of one plan), oldest first per plan."""
        where = tables.partition(plan_id) if plan_id else "PartitionKey ne ''"
        return [version_from_row(row) for row in tables.query(self._table(), where)]

    def get_versions(self, plan_id: str) -> list[PlanVersion]:
        versions = self.list_versions(plan_id)
        if not versions:
            raise unknown_plan(plan_id)
        return versions

    def create_version(self, plan_id: str, body: PlanIn, context: ActionContext) -> PlanVersion:
        """Publishes a plan or a new version of it (the operator); every partner is told at once."""
        from azure.core.exceptions import ResourceExistsError

        for _ in range(5):
            number = len(self.list_versions(plan_id)) + 1
            version = PlanVersion(
                plan_id=plan_id,
                version=number,
                currency=CURRENCY,
                announced_at=self.clock.now(),
                **body.model_dump(),
            )
            try:  # the version number is the row key: of two operators publishing at once one wins
                self._table().create_entity(_entity(version))
            except ResourceExistsError:
                continue
            return version
        raise ProblemError(409, "conflict", "Conflict.", "The plan changed meanwhile; publish again.")

    def price_of(self, plan_id: str, cycle: BillingCycle, cycle_start: datetime) -> int:
        """A cycle's price in cents; a plan outside the catalogue (set by the operator) costs 0."""
        version = version_for(self.list_versions(plan_id), cycle_start)
        return version.price_cents(cycle) if version is not None else 0

    def offer(self, current_cycle_start: datetime, next_cycle_start: datetime, cycle_months: int) -> PlanList:
        """The plans on offer, priced for a partner whose cycles start at the given moments."""
        by_plan: dict[str, list[PlanVersion]] = {}
        for version in self.list_versions():
            by_plan.setdefault(version.plan_id, []).append(version)
        items = []
        for plan_id, versions in sorted(by_plan.items()):
            versions.sort(key=lambda v: v.version)
            current = version_for(versions, current_cycle_start) or versions[0]
            latest = versions[-1]
            if not latest.available:
                continue
            upcoming = latest if latest.version > current.version else None
            start = next_cycle_start
            while upcoming is not None and start < applies_from(upcoming):
                start = add_months(start, cycle_months)  # the first of its cycles past the notice
            items.append(
                PlanOut(
                    id=plan_id,
                    display_name=current.display_name,
                    tenant_limit=current.tenant_limit,
                    monthly_price_cents=current.monthly_price_cents,
                    annual_price_cents=current.annual_price_cents,
                    currency=current.currency,
                    version=current.version,
                    next_version=upcoming,
                    next_version_from=start if upcoming else None,
                )
            )
        return PlanList(items=items)

    def get_for_change(self, plan_id: str, now: datetime) -> PlanVersion:
        """The version a partner choosing this plan now gets; refused if it is not on offer."""
        versions = self.list_versions(plan_id)
        if not versions or not versions[-1].available:
            raise unknown_plan(plan_id)
        return version_for(versions, now) or versions[0]


def _entity(version: PlanVersion) -> dict[str, object]:
    return {
        "PartitionKey": version.plan_id,
        "RowKey": f"{version.version:06d}",
        "displayName": version.display_name,
        "tenantLimit": version.tenant_limit,
        "monthlyPriceCents": version.monthly_price_cents,
        "annualPriceCents": version.annual_price_cents,
        "currency": version.currency,
        "available": version.available,
        "announcedAt": isoformat(version.announced_at),
    }


def version_from_row(row: tables.Row) -> PlanVersion:
    return PlanVersion(
        plan_id=str(row["PartitionKey"]),
        version=int(str(row["RowKey"])),
        display_name=str(row["displayName"]),
        tenant_limit=int(row["tenantLimit"]),
        monthly_price_cents=int(row["monthlyPriceCents"]),
        annual_price_cents=int(row["annualPriceCents"]),
        currency=str(row["currency"]),
        available=bool(row["available"]),
        announced_at=parse_iso(row["announcedAt"]),
    )

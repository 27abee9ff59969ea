"""The alerts facade the triggers call: one partner's subscriptions and their delivery log."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from shared.alerts.delivery import DeliveryRunner, Mailer
from shared.alerts.models import (
    DeliveryList,
    DeliveryOut,
    SecretRotated,
    SecretRotateIn,
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionList,
    SubscriptionOut,
    SubscriptionPatch,
)
from shared.alerts.subscriptions import AlertSubscriptions

if TYPE_CHECKING:
    from shared.access.reach import TenantReach
    from shared.audit.context import ActionContext
    from shared.partners.access import AccessService

log = logging.getLogger("tenantry.alerts")


class AlertService:
    def __init__(self, subscriptions: AlertSubscriptions, runner: DeliveryRunner):
        self.subscriptions = subscriptions
        self.runner = runner

    @property
    def partner_id(self) -> str:
        return self.subscriptions.partner_id

    def create_subscription(
        self, request: SubscriptionIn, context: ActionContext, reach: TenantReach
    ) -> SubscriptionCreated:
        return self.subscriptions.create_subscription(request, context, reach)

    def list_subscriptions(self, reach: TenantReach) -> SubscriptionList:
        return SubscriptionList(items=self.subscriptions.list_subscriptions(reach))

    def get_subscription(self, subscription_id: str, reach: TenantReach) -> SubscriptionOut:
        return self.subscriptions.get_subscription(subscription_id, reach)

    def update_subscription(
        self, subscription_id: str, patch: SubscriptionPatch, context: ActionContext, reach: TenantReach
    ) -> SubscriptionOut:
        return self.subscriptions.update_subscription(subscription_id, patch, context, reach)

    def delete_subscription(self, subscription_id: str, context: ActionContext, reach: TenantReach) -> None:
        self.subscriptions.delete_subscription(subscription_id, context, reach)

    def rotate_secret(
        self, subscription_id: str, request: SecretRotateIn, context: ActionContext, reach: TenantReach
    ) -> SecretRotated:
        return self.subscriptions.rotate_secret(subscription_id, request, context, reach)

    def list_deliveries(
        self, subscription_id: str, reach: TenantReach, *, top: int, continuation: str | None
    ) -> DeliveryList:
        self.subscriptions.get_subscription(subscription_id, reach)
        items, token = self.runner.list_deliveries(subscription_id, top, continuation)
        return DeliveryList(items=items, continuation_token=token)

    def get_delivery(self, subscription_id: str, delivery_id: str, reach: TenantReach) -> DeliveryOut:
        self.subscriptions.get_subscription(subscription_id, reach)
        return self.runner.get_delivery(subscription_id, delivery_id)

    def resend_delivery(self, subscription_id: str, delivery_id: str, reach: TenantReach) -> DeliveryOut:
        self.subscriptions.get_subscription(subscription_id, reach)
        return self.runner.resend(self.partner_id, subscription_id, delivery_id)


class OwnerMail:
    """Tells a partner's owners by e-mail that one of their alert subscriptions was disabled."""

    def __init__(self, mailer: Mailer | None, owners_of: Callable[[str], list[str]], origin: str):
        self.mailer = mailer
        self.owners_of = owners_of
        self.origin = origin

    def __call__(self, partner_id: str, subscription_id: str, reason: str) -> None:
        owners = self.owners_of(partner_id)
        if self.mailer is None or not owners:
            log.warning(
                "alert subscription %s disabled; no e-mail to owners (none or not configured)",
                subscription_id,
            )
            return
        link = f"{self.origin.rstrip('/')}/api/partners/{partner_id}/alert-subscriptions/{subscription_id}"
        text = (
            f"Tenantry disabled an alert subscription of yours: {reason}.\n\n"
            f"Its deliveries and their answers are in the delivery log: {link}/deliveries\n"
            f"Fix the receiver, then turn it on again (PATCH {link} with state active)."
        )
        self.mailer.send(to=owners, subject="[Tenantry] An alert subscription was disabled", text=text)


def owner_addresses(access: AccessService) -> list[str]:
    """The e-mail addresses of the partner's active owners."""
    from shared.access.principals import Role
    from shared.access.reach import TenantReach
    from shared.partners.models import PersonnelStatus

    owners: list[str] = []
    token: str | None = None
    while True:
        people, token = access.list_personnel(1000, token, TenantReach())
        owners += [p.email for p in people if p.role is Role.OWNER and p.status is PersonnelStatus.ACTIVE]
        if not token:
            return owners

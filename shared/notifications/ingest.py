"""The Dataverse webhook's use case: authenticate a delivery, then turn it into notifications.

Dataverse retries a 503 once and a 500 never, so every storage failure on this path answers 503
(`service_unavailable`); bad input answers 4xx (not retried). See `webhook` for the pieces.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.access.principals import Actor
from shared.audit.context import ActionContext
from shared.errors import ProblemError, service_unavailable
from shared.notifications.dataverse import parse_context
from shared.notifications.models import WebhookAccepted
from shared.notifications.orgs import Org, OrgDirectory, OrgLocation
from shared.notifications.webhook import authenticate_delivery, plan, read_body
from shared.privacy.transfers import TransferApprovals

if TYPE_CHECKING:
    from shared.notifications.orgs import OrgService
    from shared.notifications.service import NotificationService

log = logging.getLogger("tenantry.dynamics")

# What a 503 asks Dataverse to wait before its one retry: storage hiccups pass within seconds.
RETRY_AFTER_SECONDS = 5


@dataclass(frozen=True)
class WebhookDelivery:
    """Who a delivery comes from: the registration its key belongs to (proven, or pending proof)."""

    location: OrgLocation
    org: Org


@dataclass(frozen=True)
class Ingested:
    accepted: WebhookAccepted
    location: str  # the first notification's status resource, or the org's notifications


@contextmanager
def storage_trouble_is_503() -> Iterator[None]:
    """Storage errors become 503: Dataverse retries this delivery (a 500 it would not)."""
    from azure.core.exceptions import AzureError

    try:
        yield
    except AzureError as error:
        log.warning("webhook storage call failed: %s", type(error).__name__)
        problem = service_unavailable("Storage did not answer; Dataverse retries this delivery.")
        problem.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        raise problem from None


class DataverseWebhook:
    """The Dataverse service endpoint of every org (deliveries name their org in the route)."""

    def __init__(
        self,
        directory: OrgDirectory,
        orgs: Callable[[str, str], OrgService],
        notifications: Callable[[str, str], NotificationService],
    ):
        self.directory = directory
        self.orgs = orgs
        self.notifications = notifications

    def authenticate(self, org_id: str, *, code: str | None, headers: Mapping[str, str]) -> WebhookDelivery:
        """The registration the delivery's key belongs to: 401 none, 409 `org-claimed` (see webhook)."""
        with storage_trouble_is_503():
            location, org = authenticate_delivery(
                self.directory, self.orgs, org_id, code=code, headers=headers
            )
        return WebhookDelivery(location, org)

    def ingest(
        self, delivery: WebhookDelivery, raw: bytes, *, size_exceeded: bool, request_id: str
    ) -> Ingested:
        """One notification per matching active rule; the first delivery of a pending org proves it.

        A retried delivery makes nothing new (`duplicate`): notification ids derive from the delivery.
        """
        location, org = delivery.location, delivery.org
        body = read_body(raw)
        try:
            context = parse_context(body, size_exceeded=size_exceeded)
        except ValueError:
            raise ProblemError(422, "not-an-execution-context", "Not a RemoteExecutionContext.") from None
        ids: list[str] = []
        duplicate = False
        with storage_trouble_is_503():
            orgs = self.orgs(location.partner_id, location.region)
            if not org.proven:
                # The first delivery carrying the org's own id proves it (403/409 otherwise), then counts.
                org = orgs.prove(
                    org, context.organization_id, ActionContext(Actor("dataverse", org.id), request_id)
                )
            refusal = _transfer_refusal(orgs, org, request_id)
            if refusal is not None:
                return refusal
            planned = plan(location, orgs.list_active_rules(org.id), context, raw)
            service = self.notifications(location.partner_id, location.region)
            for new in planned:
                notification_id, created = service.accept(new)
                ids.append(notification_id)
                duplicate = duplicate or not created
        log.debug(
            "webhook org=%s entity=%s message=%s notifications=%d duplicate=%s size_exceeded=%s",
            org.id, context.entity, context.message, len(ids), duplicate, context.size_exceeded,
        )  # fmt: skip
        base = f"/api/partners/{location.partner_id}/orgs/{org.id}/notifications"
        return Ingested(
            WebhookAccepted(accepted=len(ids), notification_ids=ids, duplicate=duplicate),
            f"{base}/{ids[0]}" if ids else base,
        )


def _transfer_refusal(orgs: OrgService, org: Org, request_id: str) -> Ingested | None:
    """A delivery for a partner that has not approved the Firebase transfer: recorded as refused
    and answered 202, since Dataverse would retry a 4xx/5xx for nothing (only the partner's
    approval changes the answer) and the org's administrators read the partner's event instead."""
    if TransferApprovals(orgs.account, orgs.clock).firebase_approved(orgs.partner_id):
        return None
    ActionContext(Actor("dataverse", org.id), request_id).record(
        orgs.audit(),
        orgs.partner_id,
        "notification.refused",
        {"type": "org", "id": org.id},
        details={"reason": "transfer-not-approved"},
        tenant_id=org.tenant_id,
    )
    base = f"/api/partners/{orgs.partner_id}/orgs/{org.id}/notifications"
    return Ingested(
        WebhookAccepted(accepted=0, notification_ids=[], duplicate=False, refused="transfer-not-approved"),
        base,
    )

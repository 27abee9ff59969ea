"""A partner sends a notification to an org's users directly (not through a Dataverse rule)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.notifications.models import NotificationIn, NotificationOut
from shared.notifications.payload import NewNotification, Payload
from shared.privacy.transfers import TransferApprovals

if TYPE_CHECKING:
    from shared.audit.context import ActionContext
    from shared.notifications.orgs import Org, OrgService
    from shared.notifications.service import NotificationService


@dataclass(frozen=True)
class Sent:
    notification: NotificationOut  # as accepted: counts, no device outcomes yet
    location: str


class DirectSend:
    """One partner's direct sends to the orgs of one region."""

    def __init__(self, orgs: OrgService, notifications: NotificationService):
        self.orgs = orgs
        self.notifications = notifications

    def send(self, org_id: str, body: NotificationIn, action: ActionContext) -> Sent:
        """Accepts the notification (the org must be proven), queues its fan-out, records who sent it."""
        org: Org = self.orgs.require_proven(self.orgs.get(org_id))
        # Every push leaves through Firebase, a global service: not before the partner approved it.
        TransferApprovals(self.orgs.account, self.orgs.clock).require_push(self.orgs.partner_id)
        notification_id, _ = self.notifications.accept(
            NewNotification(
                org_id=org.id,
                source="partner",
                recipients=None if body.everyone else [str(u).lower() for u in body.recipients or []],
                payload=Payload(body.title, body.body, dict(body.data), body.link),
            )
        )
        partner_id = self.notifications.partner_id
        action.record(
            self.orgs.audit(),
            partner_id,
            "notification.sent",
            {"type": "notification", "id": notification_id, "orgId": org.id},
            details={"everyone": body.everyone, "recipients": len(body.recipients or [])},
            tenant_id=org.tenant_id,
        )
        view = self.notifications.get(org.id, notification_id, top=1)
        view.devices = None
        view.devices_continuation_token = None
        return Sent(view, f"/api/partners/{partner_id}/orgs/{org.id}/notifications/{notification_id}")

"""Who acts and from where, carried into every service call that changes state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.access.principals import Actor
from shared.audit.log import AuditLog, NewEvent
from shared.audit.seal import EventSubject


@dataclass(frozen=True)
class ActionContext:
    actor: Actor
    request_id: str | None = None
    client_ip: str | None = None  # already anonymised

    def record(
        self,
        log: AuditLog,
        partner_id: str,
        action: str,
        target: dict[str, Any],
        *,
        changes: dict[str, dict[str, Any]] | None = None,
        details: dict[str, Any] | None = None,
        subject: EventSubject | None = None,
        tenant_id: str | None = None,
    ) -> None:
        """`tenant_id`: the customer tenant the event is about, where the target does not name it
        (an org's tenant, say); tenant targets and targets with a `tenantId` name theirs already."""
        actor: dict[str, Any] = {"type": self.actor.type, "id": self.actor.id}
        if self.actor.display:
            actor["display"] = self.actor.display
        log.append(
            partner_id,
            NewEvent(
                action=action,
                actor=actor,
                target=target,
                changes=changes or {},
                request_id=self.request_id,
                client_ip=self.client_ip,
                details=details or {},
                subject=subject,
                tenant_id=tenant_id,
            ),
        )


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Before/after of the fields that changed (what the audit log keeps of an update)."""
    return {
        key: {"before": before.get(key), "after": after.get(key)}
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }

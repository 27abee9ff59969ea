"""Alert rules: which recorded events become an alert a person wants, how severe, and what clears it.

Pure functions over an event as the audit log returns it (`shared.audit.log.to_api`). An alert with
a `condition` alerts once until an event clears that condition (a Global Administrator removed
again, access restored); alerts without one are about a single happening and alert each time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from shared.adapters.graph import GLOBAL_ADMINISTRATOR


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}

# Actions a rule below reads: every other event costs the audit log's writers nothing.
WATCHED_PREFIXES = (
    "tenant.drift.",
    "tenant.baseline.checkFailing",
    "tenant.baseline.checkCleared",
    "tenant.access.",
    "tenant.sync.failing",
    "tenant.sync.recovered",
    "privacy.breach.recorded",
    "privacy.request.deadline",
    "privacy.request.dueIn2Days",
    "privacy.request.forwarded",
    "complaint.deadline",
    "notification.push-credentials-refused",
    "notification.fanout.highFailureRate",
    "notice.",
    "invoice.issued",
)

# A licence alert reaches a subscription only when more paid licences of one SKU than this became
# unassigned since the previous sync; each subscription may set its own (`unassignedLicencesThreshold`).
UNASSIGNED_LICENCES = "tenant.drift.licencesUnassigned"
DEFAULT_UNASSIGNED_THRESHOLD = 5


def watched(action: str) -> bool:
    return action.startswith(WATCHED_PREFIXES)


@dataclass(frozen=True)
class Alert:
    type: str  # what subscriptions match on, e.g. tenant.drift.securityDefaultsDisabled
    severity: Severity
    title: str
    summary: str
    tenant_id: str | None
    since: str  # when it happened (the event's time)
    link: str  # the API resource, as a path under the stamp's origin
    event_id: str
    condition: str | None = None  # alerts once until cleared
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Evaluation:
    alerts: list[Alert]
    clears: list[str]  # conditions this event ends


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def evaluate(partner_id: str, event: dict[str, Any]) -> Evaluation:  # noqa: PLR0911, PLR0912 - one return per rule
    action = str(event.get("action", ""))
    tenant = event.get("tenantId")
    base = f"/api/partners/{partner_id}"
    target = event.get("target") or {}
    details = event.get("details") or {}
    changes: dict[str, Any] = event.get("changes") or {}

    def alert(kind: str, severity: Severity, title: str, summary: str, link: str, **extra: Any) -> Alert:
        return Alert(
            type=kind,
            severity=severity,
            title=title,
            summary=summary,
            tenant_id=str(tenant) if tenant else None,
            since=str(event.get("at")),
            link=link,
            event_id=str(event.get("id")),
            condition=extra.pop("condition", None),
            details=extra,
        )

    if action.startswith("tenant.drift.") and tenant:
        return Evaluation(
            _drift(
                action,
                str(tenant),
                changes,
                summary=str(details.get("summary") or action),
                alert=alert,
                base=base,
            ),
            _drift_clears(action, str(tenant), changes),
        )
    if action == "tenant.baseline.checkFailing" and tenant:
        return Evaluation(_baseline_failing(str(tenant), changes, details, alert=alert, base=base), [])
    if action == "tenant.baseline.checkCleared" and tenant:
        return Evaluation([], [baseline_condition(str(tenant), check) for check in changes])
    if action == "tenant.access.lost" and tenant:
        reason = str(details.get("reason") or "the proof of access no longer holds")
        return Evaluation(
            [
                alert(
                    "tenant.access.lost",
                    Severity.CRITICAL,
                    "Access to a customer tenant lost",
                    f"Tenantry can no longer reach the tenant: {reason}",
                    f"{base}/tenants/{tenant}",
                    condition=f"{tenant}|access",
                )
            ],
            [],
        )
    if action in ("tenant.access.restored", "tenant.access.proven") and tenant:
        return Evaluation([], [f"{tenant}|access"])
    if action == "tenant.sync.failing" and tenant:
        last = details.get("lastSuccessAt")
        return Evaluation(
            [
                alert(
                    "tenant.sync.failing",
                    Severity.CRITICAL,
                    "Tenant sync failing for 24 hours",
                    f"No sync of the tenant has succeeded since {last}.",
                    f"{base}/tenants/{tenant}/syncs",
                    condition=f"{tenant}|syncFailing",
                    lastSuccessAt=last,
                )
            ],
            [],
        )
    if action == "tenant.sync.recovered" and tenant:
        return Evaluation([], [f"{tenant}|syncFailing"])
    if action == "privacy.breach.recorded":
        breach = str(target.get("id", ""))
        deadline = details.get("notifyBy")
        summary = "A personal-data breach affecting your data was registered"
        summary += f"; notify by {deadline}." if deadline else "."
        return Evaluation(
            [
                alert(
                    "privacy.breach.recorded",
                    Severity.CRITICAL,
                    "Personal-data breach registered",
                    summary,
                    f"{base}/privacy/breaches",
                    condition=f"breach|{breach}",
                    breachId=breach,
                    notifyBy=deadline,
                )
            ],
            [],
        )
    if action == "privacy.request.dueIn2Days":
        request = str(target.get("id", ""))
        return Evaluation(
            [
                alert(
                    action,
                    Severity.CRITICAL,
                    "Data-subject request due in 2 days",
                    f"A {details.get('type', '')} request is due {details.get('dueAt')}.",
                    f"{base}/privacy/requests/{request}",
                    condition=f"request|{request}|{action}",
                    dueAt=details.get("dueAt"),
                )
            ],
            [],
        )
    if action == "privacy.request.forwarded":
        # A subject asked Tenantry; the partner (for its customer) answers: the clock runs already.
        request = str(target.get("id", ""))
        return Evaluation(
            [
                alert(
                    action,
                    Severity.WARNING,
                    "Data-subject request forwarded to you",
                    f"A {details.get('type', '')} request reached Tenantry; it is yours to answer.",
                    f"{base}/privacy/requests/{request}",
                )
            ],
            [],
        )
    if action.startswith("privacy.request.deadline"):
        request = str(target.get("id", ""))
        passed = action.endswith("Passed")
        return Evaluation(
            [
                alert(
                    action,
                    Severity.CRITICAL if passed else Severity.WARNING,
                    "Data-subject request overdue" if passed else "Data-subject request due soon",
                    f"A {details.get('type', '')} request is due {details.get('dueAt')}.",
                    f"{base}/privacy/requests/{request}",
                    condition=f"request|{request}|{action}",
                    dueAt=details.get("dueAt"),
                )
            ],
            [],
        )
    if action.startswith("complaint.deadline"):
        complaint = str(target.get("id", ""))
        passed = action.endswith("Passed")
        return Evaluation(
            [
                alert(
                    action,
                    Severity.CRITICAL if passed else Severity.WARNING,
                    "Complaint unanswered after 4 weeks" if passed else "Complaint due for an answer soon",
                    f"A complaint is due for an answer {details.get('dueAt')}.",
                    f"{base}/complaints/{complaint}",
                    condition=f"complaint|{complaint}|{action}",
                    dueAt=details.get("dueAt"),
                )
            ],
            [],
        )
    if action in ("notice.scheduled", "notice.reminder"):
        kind = str(details.get("kind", "maintenance"))
        when = details.get("startsAt")
        until = f" until {details['endsAt']}" if details.get("endsAt") else ""
        prefix = "Reminder: " if action == "notice.reminder" else ""
        words = {
            "maintenance": "Maintenance",
            "policy": "Policy change",
            "price": "Price change",
            "subprocessor": "Sub-processor change",
        }
        return Evaluation(
            [
                alert(
                    f"notice.{kind}",
                    Severity.WARNING,
                    f"{prefix}{words.get(kind, 'Notice')}: {details.get('title', '')}",
                    f"{'Starts' if kind == 'maintenance' else 'Takes effect'} {when}{until}.",
                    "/api/notices",
                    noticeId=target.get("id"),
                    startsAt=when,
                )
            ],
            [],
        )
    if action == "invoice.issued":
        invoice = str(target.get("id", ""))
        kind = "Credit note" if details.get("kind") == "creditNote" else "Invoice"
        amount = f"{details.get('currency', '')} {int(details.get('totalCents') or 0) / 100:.2f}"
        return Evaluation(
            [
                alert(
                    action,
                    Severity.INFO,
                    f"{kind} {details.get('number', '')} issued",
                    f"{kind} {details.get('number', '')} of {amount}, due {details.get('dueAt')}.",
                    f"{base}/invoices/{invoice}",
                    invoiceId=invoice,
                    number=details.get("number"),
                    totalCents=details.get("totalCents"),
                )
            ],
            [],
        )
    if action == "notification.push-credentials-refused":
        return Evaluation(
            [
                alert(
                    action,
                    Severity.CRITICAL,
                    "Push notifications refused by Firebase",
                    "Firebase refused Tenantry's credentials; push notifications are not delivered.",
                    f"{base}/events?action={action}",
                )
            ],
            [],
        )
    if action == "notification.fanout.highFailureRate":
        return Evaluation([_fanout_failures(target, details, alert=alert, base=base)], [])
    return Evaluation([], [])


def baseline_condition(tenant: str, check: str) -> str:
    return f"{tenant}|baseline|{check}"


def _baseline_failing(
    tenant: str, changes: dict[str, Any], details: dict[str, Any], *, alert: Callable[..., Alert], base: str
) -> list[Alert]:
    checks: dict[str, Any] = details.get("checks") or {}
    found: list[Alert] = []
    for check in changes:
        about = checks.get(check) or {}
        title = str(about.get("title") or check)
        found.append(
            alert(
                "tenant.baseline.checkFailing",
                Severity.WARNING,
                f"Baseline check now failing: {title}",
                f"{about.get('detail') or title} It passed at the previous sync.",
                f"{base}/tenants/{tenant}/baseline",
                # Open until a sync finds the check no longer failing (checkCleared).
                condition=baseline_condition(tenant, check),
                checkId=check,
                syncId=details.get("syncId"),
            )
        )
    return found


def _fanout_failures(
    target: dict[str, Any], details: dict[str, Any], *, alert: Callable[..., Alert], base: str
) -> Alert:
    notification = str(target.get("id", ""))
    org = str(details.get("orgId") or target.get("orgId") or "")
    sent, failed = int(details.get("sent") or 0), int(details.get("failed") or 0)
    rate = round(100 * failed / max(sent + failed, 1))
    return alert(
        "notification.fanout.highFailureRate",
        Severity.WARNING,
        "Push notification mostly undelivered" if rate >= 50 else "Push notification failing often",
        f"{failed} of {sent + failed} devices ({rate} %) of the organisation's notification failed.",
        f"{base}/orgs/{org}/notifications/{notification}",
        # The fan-out may complete a notification twice; it is one happening.
        condition=f"notification|{notification}|failureRate",
        orgId=org,
        notificationId=notification,
        sent=sent,
        failed=failed,
    )


def _drift(
    action: str, tenant: str, changes: dict[str, Any], *, summary: str, alert: Any, base: str
) -> list[Alert]:
    link = f"{base}/tenants/{tenant}/configuration"
    found: list[Alert] = []
    for setting, change in changes.items():
        after = (change or {}).get("after")
        if action == "tenant.drift.roleAssigned":
            template = setting.removeprefix("roles/")
            principal = _holder(after)
            if template == GLOBAL_ADMINISTRATOR:
                kind, severity, title = (
                    "tenant.drift.globalAdministratorAdded",
                    Severity.CRITICAL,
                    "New Global Administrator",
                )
            else:
                kind, severity, title = "tenant.drift.roleAssigned", Severity.WARNING, "New role holder"
            found.append(
                alert(
                    kind,
                    severity,
                    title,
                    summary,
                    link,
                    condition=f"{tenant}|{setting}|{principal}",
                    principalId=principal,
                )
            )
        elif action == "tenant.drift.securityDefaults":
            if after is False:
                found.append(
                    alert(
                        "tenant.drift.securityDefaultsDisabled",
                        Severity.CRITICAL,
                        "Security defaults turned off",
                        summary,
                        link,
                        condition=f"{tenant}|securityDefaults",
                    )
                )
        elif action == "tenant.drift.conditionalAccess":
            disabled = after == "disabled" or (after is None and (change or {}).get("before") is not None)
            found.append(
                alert(
                    "tenant.drift.conditionalAccess",
                    Severity.CRITICAL if disabled else Severity.WARNING,
                    "Conditional-access policy disabled" if disabled else "Conditional-access policy changed",
                    summary,
                    link,
                    condition=f"{tenant}|{setting}|{_digest(change)}",
                )
            )
        elif action == UNASSIGNED_LICENCES:
            before, now = int((change or {}).get("before") or 0), int(after or 0)
            # No condition: each alert is about the licences left unassigned since the previous
            # sync, which a later sync never reports again. Subscriptions apply their threshold.
            found.append(
                alert(
                    UNASSIGNED_LICENCES,
                    Severity.WARNING,
                    "Licences newly unassigned",
                    summary,
                    f"{base}/tenants/{tenant}/reports/licences",
                    skuId=setting.removeprefix("unassignedLicences/"),
                    newlyUnassigned=now - before,
                    unassigned=now,
                )
            )
        elif action == "tenant.drift.roleRemoved":
            continue  # clears the assignment's alert; nobody is told of a removal
        else:
            found.append(
                alert(
                    action,
                    Severity.INFO,
                    "Tenant configuration changed",
                    summary,
                    link,
                    condition=f"{tenant}|{setting}|{_digest(change)}",
                )
            )
    return found


def _holder(side: Any) -> str | None:
    """The principal of a role assignment's side of a change; None once erasure shredded it."""
    return str(side["principalId"]) if isinstance(side, dict) and side.get("principalId") else None


def _drift_clears(action: str, tenant: str, changes: dict[str, Any]) -> list[str]:
    cleared: list[str] = []
    for setting, change in changes.items():
        if action == "tenant.drift.roleRemoved":
            cleared.append(f"{tenant}|{setting}|{_holder((change or {}).get('before'))}")
        elif action == "tenant.drift.securityDefaults" and (change or {}).get("after") is True:
            cleared.append(f"{tenant}|securityDefaults")
    return cleared


def matches(patterns: list[str], alert_type: str) -> bool:
    """`*` everything, `tenant.drift.*` a prefix, anything else one type exactly."""
    for pattern in patterns:
        if pattern in ("*", alert_type):
            return True
        if pattern.endswith(".*") and alert_type.startswith(pattern[:-1]):
            return True
    return False

"""What each channel sends for an alert: the Standard Webhooks body, a Teams Adaptive Card, an e-mail."""

from __future__ import annotations

import json
from typing import Any

# Teams' Workflows post cards up to 1.4 (newer cards show as "unsupported" on some clients).
CARD_VERSION = "1.4"
_SEVERITY_COLOUR = {"critical": "Attention", "warning": "Warning", "info": "Accent"}


def webhook_body(payload: dict[str, Any]) -> bytes:
    """`{type, timestamp, data}`, the shape the Standard Webhooks specification recommends."""
    body = {"type": payload["type"], "timestamp": payload["since"], "data": payload}
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def absolute(link: str, origin: str) -> str:
    return f"{origin.rstrip('/')}{link}" if origin and link.startswith("/") else link


def teams_card(payload: dict[str, Any], origin: str) -> bytes:
    """The envelope a Teams Workflows webhook takes: a `message` with one Adaptive Card attachment.
    Short blocks that wrap, so it reads on a phone: title, tenant, what changed, when, a link."""
    facts = [
        {"title": "Severity", "value": payload["severity"]},
        {"title": "Since", "value": payload["since"]},
    ]
    if payload.get("tenantId"):
        facts.insert(0, {"title": "Tenant", "value": payload.get("tenantName") or payload["tenantId"]})
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": [
            {
                "type": "TextBlock",
                "text": payload["title"],
                "weight": "Bolder",
                "size": "Medium",
                "wrap": True,
                "color": _SEVERITY_COLOUR.get(payload["severity"], "Default"),
            },
            {"type": "TextBlock", "text": payload["summary"], "wrap": True},
            {"type": "FactSet", "facts": facts},
        ],
        "actions": [
            {"type": "Action.OpenUrl", "title": "Open in Tenantry", "url": absolute(payload["link"], origin)}
        ],
    }
    envelope = {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


def email(payload: dict[str, Any], origin: str) -> tuple[str, str]:
    """Subject and plain text of one alert's e-mail."""
    tenant = payload.get("tenantName") or payload.get("tenantId")
    subject = f"[Tenantry] {payload['title']}" + (f" in {tenant}" if tenant else "")
    lines = [
        payload["summary"],
        "",
        f"Severity: {payload['severity']}",
        *([f"Tenant: {tenant}"] if tenant else []),
        f"Since: {payload['since']}",
        f"Details: {absolute(payload['link'], origin)}",
    ]
    return subject, "\n".join(lines)


def digest_email(payloads: list[dict[str, Any]], origin: str) -> tuple[str, str]:
    subject = f"[Tenantry] Daily digest: {len(payloads)} alert{'s' if len(payloads) != 1 else ''}"
    lines = [
        f"- [{p['severity']}] {p['title']} ({p.get('tenantId') or 'partner'}) since {p['since']}: "
        f"{absolute(p['link'], origin)}"
        for p in payloads
    ]
    return subject, "\n".join(lines)

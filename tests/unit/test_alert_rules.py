"""Alert pieces without I/O: rules, Standard Webhooks signatures (checked by the `standardwebhooks`
package, not our code), the SSRF rules on outbound URLs, the retry schedule, the Teams card."""

from __future__ import annotations

import json
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from shared.adapters.graph import GLOBAL_ADMINISTRATOR
from shared.alerts import messages
from shared.alerts.delivery import MAX_ATTEMPTS, SCHEDULE, retry_delay
from shared.alerts.destinations import DestinationRefusedError, OutboundPolicy, parse_ports
from shared.alerts.rules import Severity, evaluate, matches
from shared.alerts.signing import headers, new_secret

TENANT = "0b7e8f6a-3c2d-4e1f-8a9b-7c6d5e4f3a2b"


def drift(action: str, setting: str, before: object, after: object) -> dict[str, object]:
    return {
        "id": "01JD0000000000000000000000",
        "at": "2026-11-22T12:00:00Z",
        "action": action,
        "tenantId": TENANT,
        "target": {"type": "tenant", "id": TENANT},
        "changes": {setting: {"before": before, "after": after}},
        "details": {"summary": "summary"},
    }


def test_a_new_global_administrator_alerts_critical_until_removed() -> None:
    holder = {"principalId": "u1", "role": "Global Administrator"}
    added = evaluate("p1", drift("tenant.drift.roleAssigned", f"roles/{GLOBAL_ADMINISTRATOR}", None, holder))
    [alert] = added.alerts
    assert alert.type == "tenant.drift.globalAdministratorAdded"
    assert alert.severity is Severity.CRITICAL and alert.tenant_id == TENANT
    assert alert.link == f"/api/partners/p1/tenants/{TENANT}/configuration"
    removed = evaluate("p1", drift("tenant.drift.roleRemoved", f"roles/{GLOBAL_ADMINISTRATOR}", holder, None))
    assert removed.alerts == [] and removed.clears == [alert.condition]


def test_security_defaults_off_alerts_and_on_again_clears() -> None:
    off = evaluate("p1", drift("tenant.drift.securityDefaults", "securityDefaults", True, False))
    assert [a.type for a in off.alerts] == ["tenant.drift.securityDefaultsDisabled"]
    on = evaluate("p1", drift("tenant.drift.securityDefaults", "securityDefaults", False, True))
    assert on.alerts == [] and on.clears == [off.alerts[0].condition]


def test_access_lost_alerts_and_restored_clears() -> None:
    lost = {
        "id": "e",
        "at": "2026-11-22T12:00:00Z",
        "action": "tenant.access.lost",
        "tenantId": TENANT,
        "target": {"type": "tenant", "id": TENANT},
        "details": {"reason": "GDAP ended"},
    }
    [alert] = evaluate("p1", lost).alerts
    assert alert.severity is Severity.CRITICAL and "GDAP ended" in alert.summary
    assert evaluate("p1", {**lost, "action": "tenant.access.restored"}).clears == [alert.condition]


def test_events_no_rule_reads_alert_nobody() -> None:
    assert evaluate("p1", {"id": "e", "at": "x", "action": "tenant.user.updated"}).alerts == []


def test_patterns_match_exactly_by_prefix_or_everything() -> None:
    assert matches(["tenant.drift.*"], "tenant.drift.securityDefaultsDisabled")
    assert not matches(["tenant.drift.*"], "tenant.access.lost")
    assert matches(["tenant.access.lost"], "tenant.access.lost")
    assert matches(["*"], "privacy.breach.recorded")


def test_signatures_verify_with_the_standard_webhooks_package() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    body = b'{"type":"tenant.access.lost"}'
    sent = headers([secret], "msg_1", int(time.time()), body)
    assert Webhook(secret).verify(body, sent) == {"type": "tenant.access.lost"}
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, sent)


def test_during_a_rotation_both_secrets_verify() -> None:
    old, new = new_secret(), new_secret()
    body = b"{}"
    sent = headers([new, old], "msg_2", int(time.time()), body)
    assert len(sent["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(body, sent)
    Webhook(new).verify(body, sent)


def _policy(addresses: dict[str, list[str]], ports: str = "") -> OutboundPolicy:
    return OutboundPolicy(parse_ports(ports), resolver=lambda host, port: addresses[host])


@pytest.mark.parametrize(
    ("url", "addresses"),
    [
        ("http://127.0.0.1/", {"127.0.0.1": ["127.0.0.1"]}),
        ("https://169.254.169.254/latest/meta-data", {"169.254.169.254": ["169.254.169.254"]}),
        ("https://inside.example/hook", {"inside.example": ["10.1.2.3"]}),
        ("https://mixed.example/hook", {"mixed.example": ["20.1.2.3", "192.168.1.1"]}),
        ("https://v6.example/hook", {"v6.example": ["fd00::1"]}),
        ("http://public.example/hook", {"public.example": ["20.1.2.3"]}),
        ("https://user:pw@public.example/hook", {"public.example": ["20.1.2.3"]}),
        ("ftp://public.example/hook", {"public.example": ["20.1.2.3"]}),
    ],
)
def test_outbound_urls_that_are_refused(url: str, addresses: dict[str, list[str]]) -> None:
    with pytest.raises(DestinationRefusedError):
        _policy(addresses).check(url)


def test_public_https_passes_and_loopback_only_on_the_allowed_ports() -> None:
    _policy({"hooks.example": ["20.1.2.3"]}).check("https://hooks.example/in")
    local = _policy({"127.0.0.1": ["127.0.0.1"]}, "8000-8100")
    local.check("http://127.0.0.1:8080/in")
    with pytest.raises(DestinationRefusedError):
        local.check("http://127.0.0.1:9000/in")
    with pytest.raises(DestinationRefusedError):
        _policy({"127.0.0.1": ["127.0.0.1"]}).check("http://127.0.0.1:8080/in")  # Azure: no port allowed


def test_the_retry_schedule_is_about_a_day_with_jitter_and_honours_retry_after() -> None:
    assert SCHEDULE == (5, 300, 1800, 7200, 18000, 36000, 36000) and MAX_ATTEMPTS == 8
    for attempt, base in enumerate(SCHEDULE, start=1):
        # Whole seconds: a second either way of the +-10 % band.
        assert base * 0.9 - 1 <= retry_delay(attempt, None, jitter=lambda: 0.0) <= base
        assert base <= retry_delay(attempt, None, jitter=lambda: 1.0) <= base * 1.1 + 1
    assert retry_delay(1, 120.0, jitter=lambda: 0.5) == 120


def test_the_teams_card_is_an_adaptive_card_in_the_workflows_envelope() -> None:
    payload = {
        "type": "tenant.access.lost",
        "severity": "critical",
        "title": "Access lost",
        "summary": "GDAP ended",
        "tenantId": TENANT,
        "since": "2026-11-22T12:00:00Z",
        "link": "/api/partners/p1/tenants/t",
    }
    envelope = json.loads(messages.teams_card(payload, "https://tenantry.example"))
    assert envelope["type"] == "message"
    [attachment] = envelope["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    texts = json.dumps(card["body"])
    assert "Access lost" in texts and TENANT in texts and "GDAP ended" in texts
    assert card["actions"][0]["url"] == "https://tenantry.example/api/partners/p1/tenants/t"

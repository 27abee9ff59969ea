"""A partner's owner runs its own subscription over HTTP: sees the operator's plans, upgrades at once,
and unsubscribes; an API key cannot, and every change is in the audit log."""

from __future__ import annotations

import uuid

from tests.e2e.actors import OPERATOR, make_partner
from tests.web import web


def test_an_owner_sees_the_plans_upgrades_and_unsubscribes_and_a_key_cannot(api: str) -> None:
    suffix = uuid.uuid4().hex[:8]
    plans = {f"team-{suffix}": (10, 9900), f"agency-{suffix}": (100, 49900)}
    for plan_id, (tenants, cents) in plans.items():
        body = {
            "displayName": plan_id,
            "tenantLimit": tenants,
            "monthlyPriceCents": cents,
            "annualPriceCents": cents * 10,
        }
        published = web.put(f"{api}/api/operator/plans/{plan_id}", json=body, headers=OPERATOR)
        assert published.status_code == 200, published.text
        assert published.json()["version"] == 1
    team, agency = plans
    partner = make_partner(
        api, "eu", subscription={"plan": team, "tenantLimit": 10, "billingCycle": "monthly"}
    )
    owner = partner.bearer()

    offered = web.get(f"{partner.url}/plans", headers=owner).json()["items"]
    assert {p["id"]: p["monthlyPriceCents"] for p in offered if p["id"] in plans} == {
        team: 9900,
        agency: 49900,
    }

    change = f"{partner.url}/subscription/plan-change"
    by_key = web.post(change, json={"plan": agency}, headers=partner.as_key)
    assert by_key.status_code == 403
    unknown = web.post(change, json={"plan": "nothing-here"}, headers=owner)
    assert (unknown.status_code, unknown.json()["type"].rsplit("/", 1)[-1]) == (422, "unknown-plan")

    upgraded = web.post(change, json={"plan": agency}, headers=owner)
    assert upgraded.status_code == 200, upgraded.text
    subscription = upgraded.json()["subscription"]
    assert (subscription["plan"], subscription["tenantLimit"]) == (agency, 100)
    (line,) = subscription["adjustments"]
    assert 0 < line["amountCents"] <= 49900 - 9900

    ended = web.post(f"{partner.url}/subscription/unsubscribe", headers=owner).json()["subscription"]
    assert ended["terminationEffectiveAt"] == subscription["currentPeriodEnd"]
    actions = [e["action"] for e in web.get(f"{partner.url}/events", headers=owner).json()["items"]]
    assert {"subscription.upgraded", "subscription.unsubscribed"} <= set(actions)

"""An API key works until its expiresAt and not a moment after (Azurite, a hand-moved clock)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from functions import deps
from shared.access.principals import Actor, PartnerCaller, Scope
from shared.audit.context import ActionContext
from shared.errors import ProblemError
from shared.partners.access import PLATFORM, AccessService
from shared.partners.authenticate import Authenticator, Credentials
from shared.partners.models import ApiKeyIn, PartnerIn
from tests.clocks import MovableClock

START = datetime(2026, 11, 20, 12, tzinfo=UTC)


def test_a_key_past_its_expiry_is_refused_and_one_before_it_works() -> None:
    action = ActionContext(Actor("personnel", "tester"))
    partner = deps.partners().create(
        PartnerIn.model_validate(
            {
                "displayName": "Expiry IT",
                "region": "eu",
                "entraTenantId": str(uuid.uuid4()),
                "contact": {"name": "Ana Li", "email": "ana@example.com"},
                "subscription": {"plan": "standard", "tenantLimit": 5, "billingCycle": "monthly"},
            }
        ),
        action,
    )
    clock = MovableClock(START)
    ring = deps.key_ring(deps.settings())
    access = AccessService(deps.storage().region("eu"), partner.id, clock, ring)
    created = access.create_key(
        ApiKeyIn(name="psa", scopes=[Scope.READ], expires_at=START + timedelta(hours=1)), action, PLATFORM
    )
    authenticator = Authenticator(
        deps.partners(), deps.authenticator().validator, clock, operator_key="", ring=ring
    )
    credentials = Credentials(api_key=created.key, bearer=None)

    clock.moment = START + timedelta(minutes=59, seconds=59)
    caller, _ = authenticator.partner_caller(partner.id, credentials)
    assert isinstance(caller, PartnerCaller) and caller.actor.id == created.id

    clock.moment = START + timedelta(hours=1)
    with pytest.raises(ProblemError) as refused:
        authenticator.partner_caller(partner.id, credentials)
    assert refused.value.status == 401 and "expired" in (refused.value.detail or "")

"""A rotated key's overlap under a moved clock (real Azurite): the replaced API key or webhook key
works until its overlap ends and not one second after; the new one works throughout."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from functions import deps
from shared.access.principals import Actor, PartnerCaller, Scope
from shared.access.reach import TenantReach
from shared.audit.context import ActionContext
from shared.clock import parse_iso
from shared.errors import ProblemError
from shared.ids import new_id
from shared.notifications.ingest import DataverseWebhook
from shared.notifications.models import OrgIn
from shared.notifications.orgs import OrgDirectory, OrgService
from shared.notifications.secrets import TokenCipher
from shared.notifications.service import NotificationService
from shared.partners.access import PLATFORM, AccessService
from shared.partners.authenticate import Authenticator, Credentials
from shared.partners.models import ApiKeyIn, PartnerIn
from shared.storage.router import StorageRouter
from tests.clocks import MovableClock
from tests.stack import STACK_ENV

START = datetime(2026, 11, 20, 12, tzinfo=UTC)
ACTION = ActionContext(Actor("personnel", "tester"))
PEPPER = STACK_ENV["API_KEY_PEPPER"]


# --- API keys ------------------------------------------------------------------------------------


def _partner_keys(clock: MovableClock) -> tuple[str, AccessService, Authenticator]:
    partner = deps.partners().create(
        PartnerIn.model_validate(
            {
                "displayName": "Rotation IT",
                "region": "eu",
                "entraTenantId": str(uuid.uuid4()),
                "contact": {"name": "Ana Li", "email": "ana@example.com"},
                "subscription": {"plan": "standard", "tenantLimit": 5, "billingCycle": "monthly"},
            }
        ),
        ACTION,
    )
    ring = deps.key_ring(deps.settings())
    access = AccessService(deps.storage().region("eu"), partner.id, clock, ring)
    authenticator = Authenticator(
        deps.partners(), deps.authenticator().validator, clock, operator_key="", ring=ring
    )
    return partner.id, access, authenticator


def _answers(authenticator: Authenticator, partner_id: str, key: str) -> bool:
    try:
        caller, _ = authenticator.partner_caller(partner_id, Credentials(api_key=key, bearer=None))
    except ProblemError as refused:
        assert refused.status == 401
        return False
    return isinstance(caller, PartnerCaller)


def test_a_rotated_api_key_answers_until_its_overlap_ends_and_the_new_one_throughout() -> None:
    clock = MovableClock(START)
    partner_id, access, authenticator = _partner_keys(clock)
    created = access.create_key(ApiKeyIn(name="psa", scopes=[Scope.READ]), ACTION, PLATFORM)

    rotated = access.rotate_key(created.id, ACTION, PLATFORM, timedelta(hours=24))
    until = rotated.previous_key_valid_until
    assert until is not None and timedelta(hours=23, minutes=59) < until - START <= timedelta(hours=24)
    # The key's representation says when the old secret stops working.
    listed = {k.id: k for k in access.list_keys(100, None, TenantReach())[0]}
    assert listed[created.id].previous_key_valid_until == until

    for moment, old_works in (
        (START + timedelta(minutes=1), True),
        (until - timedelta(seconds=1), True),
        (until + timedelta(seconds=1), False),
        (START + timedelta(days=30), False),
    ):
        clock.moment = moment
        assert _answers(authenticator, partner_id, created.key) is old_works, moment
        assert _answers(authenticator, partner_id, rotated.key), moment


def test_a_second_rotation_ends_the_first_secrets_overlap_and_zero_hours_ends_it_at_once() -> None:
    clock = MovableClock(START)
    partner_id, access, authenticator = _partner_keys(clock)
    first = access.create_key(ApiKeyIn(name="psa", scopes=[Scope.READ]), ACTION, PLATFORM)
    second = access.rotate_key(first.id, ACTION, PLATFORM, timedelta(hours=24))
    third = access.rotate_key(first.id, ACTION, PLATFORM, timedelta(hours=24))
    assert not _answers(authenticator, partner_id, first.key)  # only the last two secrets live
    assert _answers(authenticator, partner_id, second.key)
    fourth = access.rotate_key(first.id, ACTION, PLATFORM, timedelta(0))  # a leaked key
    assert fourth.previous_key_valid_until is None
    assert not _answers(authenticator, partner_id, third.key)
    assert _answers(authenticator, partner_id, fourth.key)


def test_revoking_a_key_ends_the_old_secret_inside_its_overlap_too() -> None:
    clock = MovableClock(START)
    partner_id, access, authenticator = _partner_keys(clock)
    created = access.create_key(ApiKeyIn(name="psa", scopes=[Scope.READ]), ACTION, PLATFORM)
    access.rotate_key(created.id, ACTION, PLATFORM, timedelta(hours=24))
    access.revoke_key(created.id, ACTION, PLATFORM)
    assert not _answers(authenticator, partner_id, created.key)


# --- webhook keys --------------------------------------------------------------------------------


def _webhook(router: StorageRouter, clock: MovableClock) -> tuple[OrgService, DataverseWebhook]:
    partner_id = new_id()
    directory = OrgDirectory(router)

    def orgs(partner: str, region: str) -> OrgService:
        return OrgService(router.region(region), partner, region, directory, clock, PEPPER)

    def notifications(partner: str, region: str) -> NotificationService:
        return NotificationService(
            router.region(region), partner, clock, TokenCipher(STACK_ENV["DEVICE_TOKEN_KEY"])
        )

    return orgs(partner_id, "eu"), DataverseWebhook(directory, orgs, notifications)


def _register(service: OrgService) -> tuple[str, str]:
    body = {"organizationId": str(uuid.uuid4()), "uniqueName": "r", "name": "R", "languageCode": 1033,
            "business": {"name": "R Ltd"}}  # fmt: skip
    created = service.register(OrgIn.model_validate(body), "http://localhost", ACTION)
    return created.id, created.webhook_key


def _delivered(webhook: DataverseWebhook, org_id: str, key: str) -> bool:
    try:
        webhook.authenticate(org_id, code=key, headers={})
    except ProblemError as refused:
        assert refused.status == 401
        return False
    return True


def test_a_rotated_webhook_key_authenticates_deliveries_until_its_grace_ends(
    router: StorageRouter,
) -> None:
    clock = MovableClock(START)
    service, webhook = _webhook(router, clock)
    org_id, old_key = _register(service)

    rotated = service.rotate(org_id, "webhook", ACTION, timedelta(hours=24))
    new_key = rotated.webhook_key or ""
    until = rotated.previous_valid_until
    assert until is not None and until - START <= timedelta(hours=24)
    assert service.get(org_id).view("http://localhost").previous_webhook_key_valid_until == until

    for moment, old_works in (
        (START + timedelta(seconds=2), True),
        (until - timedelta(seconds=1), True),
        (until + timedelta(seconds=1), False),
    ):
        clock.moment = moment
        assert _delivered(webhook, org_id, old_key) is old_works, moment
        assert _delivered(webhook, org_id, new_key), moment


def test_a_webhook_key_rotated_with_no_grace_stops_at_once_and_the_device_key_always_does(
    router: StorageRouter,
) -> None:
    clock = MovableClock(START)
    service, webhook = _webhook(router, clock)
    org_id, old_key = _register(service)
    rotated = service.rotate(org_id, "webhook", ACTION, timedelta(0))
    assert rotated.previous_valid_until is None
    assert not _delivered(webhook, org_id, old_key)
    assert _delivered(webhook, org_id, rotated.webhook_key or "")
    # A rotation in the grace window of an earlier one ends the earlier key's window at once.
    second = service.rotate(org_id, "webhook", ACTION, timedelta(hours=24))
    third = service.rotate(org_id, "webhook", ACTION, timedelta(hours=24))
    assert not _delivered(webhook, org_id, rotated.webhook_key or "")
    assert _delivered(webhook, org_id, second.webhook_key or "")
    assert _delivered(webhook, org_id, third.webhook_key or "")
    # Rotating the device key leaves the webhook keys and their window alone.
    service.rotate(org_id, "device", ACTION)
    org = service.get(org_id)
    assert org.previous_webhook_key_until is not None
    assert parse_iso(org.previous_webhook_key_until) > START
    assert _delivered(webhook, org_id, second.webhook_key or "")


def test_a_pending_grace_survives_a_change_of_the_orgs_details(router: StorageRouter) -> None:
    """PATCH rewrites the org row: the replaced key's window must not be lost with it."""
    from shared.notifications.models import OrgPatch

    clock = MovableClock(START)
    service, webhook = _webhook(router, clock)
    org_id, old_key = _register(service)
    service.rotate(org_id, "webhook", ACTION, timedelta(hours=24))
    service.update(org_id, OrgPatch.model_validate({"name": "Renamed"}), ACTION)
    assert _delivered(webhook, org_id, old_key)


@pytest.mark.parametrize("hours", [-1, 169])
def test_the_overlap_is_bounded(hours: int) -> None:
    from pydantic import ValidationError

    from shared.notifications.models import WebhookKeyRotateIn
    from shared.partners.models import ApiKeyRotateIn

    for model in (ApiKeyRotateIn, WebhookKeyRotateIn):
        with pytest.raises(ValidationError):
            model.model_validate({"overlapHours": hours})

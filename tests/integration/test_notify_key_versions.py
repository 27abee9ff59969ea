"""Webhook keys, device keys and device secrets across a pepper rotation (real Azurite): hashes
stored the old way (no key id) still authenticate and are re-keyed under the current pepper
version when presented; new ones are made under it; the report says what still depends on each
version; once it names nothing of version 1, version 1 is dropped and every secret still works."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from functions import deps
from shared.access.principals import Actor
from shared.audit.context import ActionContext
from shared.clock import SystemClock
from shared.errors import ProblemError
from shared.ids import new_id
from shared.keys import LEGACY, KeyRing, pepper_ring
from shared.notifications.devices import TABLE as DEVICES
from shared.notifications.devices import DeviceRegistry, device_key, device_secret_dependencies
from shared.notifications.enrolment import DeviceEnrolment, TokenCheck
from shared.notifications.ingest import DataverseWebhook
from shared.notifications.models import DeviceIn, OrgIn
from shared.notifications.orgs import ORGS, OrgDirectory, OrgService, org_key_dependencies
from shared.notifications.secrets import TokenCipher, hash_key
from shared.notifications.service import NotificationService
from shared.storage.router import StorageRouter
from tests.stack import STACK_ENV

ACTION = ActionContext(Actor("personnel", "tester"))
PEPPER = STACK_ENV["API_KEY_PEPPER"]
V2 = '{"2": "pepper-version-2-for-the-notify-test"}'
CIPHER = TokenCipher(STACK_ENV["DEVICE_TOKEN_KEY"])


class Region:
    """One region's org and device services as the app builds them, under a given pepper ring."""

    def __init__(self, router: StorageRouter, ring: KeyRing):
        self.router = router
        self.ring = ring
        self.directory = OrgDirectory(router)  # a fresh process: nothing remembered
        self.clock = SystemClock()

    def orgs(self, partner: str, region: str = "eu") -> OrgService:
        account = self.router.region(region)
        return OrgService(account, partner, region, self.directory, self.clock, PEPPER, ring=self.ring)

    def devices(self, region: str = "eu") -> DeviceRegistry:
        return DeviceRegistry(self.router.region(region), self.clock, CIPHER, PEPPER, ring=self.ring)

    def delivered(self, org_id: str, key: str) -> bool:
        def notifications(partner: str, region: str) -> NotificationService:
            return NotificationService(self.router.region(region), partner, self.clock, CIPHER)

        return _accepted(lambda: DataverseWebhook(self.directory, self.orgs, notifications).authenticate(
            org_id, code=key, headers={}
        ))  # fmt: skip

    def enrols(self, org_id: str, key: str) -> bool:
        access = deps.authenticator()
        tokens = TokenCheck(claims_of=access.token_claims, issued_by=access.validator.issued_by)
        enrolment = DeviceEnrolment(
            self.directory, self.orgs, self.router.region, self.devices, tokens=tokens, clock=self.clock
        )
        return _accepted(lambda: enrolment.authenticate(org_id, key))

    def device_works(self, org_id: str, device_id: str, secret: str) -> bool:
        return _accepted(lambda: self.devices().check_secret(org_id, device_id, secret))


def _accepted(call: Callable[[], object]) -> bool:
    try:
        call()
    except ProblemError as refused:
        assert refused.status == 401
        return False
    return True


def _register(service: OrgService) -> tuple[str, str, str]:
    body = {"organizationId": str(uuid.uuid4()), "uniqueName": "k", "name": "K", "languageCode": 1033,
            "business": {"name": "K Ltd"}}  # fmt: skip
    created = service.register(OrgIn.model_validate(body), "http://localhost", ACTION)
    service.prove(service.get(created.id), created.id, ACTION)  # devices enrol with proven orgs only
    return created.id, created.webhook_key, created.device_key


def _org_hash(router: StorageRouter, partner: str, org_id: str, column: str) -> str:
    return str(router.region("eu").table(ORGS).get_entity(partner, org_id)[column])


def _secret_hash(router: StorageRouter, org_id: str, device_id: str) -> str:
    return str(router.region("eu").table(DEVICES).get_entity(org_id, device_key(device_id))["secretHash"])


def test_old_org_and_device_secrets_keep_working_and_move_to_the_new_pepper_before_the_old_is_dropped(
    router: StorageRouter,
) -> None:
    account = router.region("eu")
    v1 = Region(router, pepper_ring(PEPPER))
    partner = new_id()
    org_id, webhook_key, device_key_ = _register(v1.orgs(partner))
    device, _ = v1.devices().register(
        org_id, DeviceIn.model_validate({"systemUserId": str(uuid.uuid4()), "token": "fcm-" + new_id()})
    )
    # Stored the old way: HMAC keyed with the pepper itself, no key id.
    account.table(ORGS).update_entity({
        "PartitionKey": partner, "RowKey": org_id,
        "webhookKeyHash": hash_key(webhook_key, PEPPER), "deviceKeyHash": hash_key(device_key_, PEPPER),
    })  # fmt: skip
    account.table(DEVICES).update_entity({
        "PartitionKey": org_id, "RowKey": device_key(device.id),
        "secretHash": hash_key(device.device_secret, PEPPER),
    })  # fmt: skip
    assert org_key_dependencies(account, partner) == {LEGACY: 2}
    assert device_secret_dependencies(account, org_id) == {LEGACY: 1}

    # Pepper version 2 configured: each old secret still works and is re-keyed as it is presented.
    v2 = Region(router, pepper_ring(PEPPER, V2))
    assert v2.delivered(org_id, webhook_key)
    assert _org_hash(router, partner, org_id, "webhookKeyHash").startswith("pepper.v2:")
    assert org_key_dependencies(account, partner) == {LEGACY: 1, "pepper.v2": 1}
    assert v2.enrols(org_id, device_key_)
    assert _org_hash(router, partner, org_id, "deviceKeyHash").startswith("pepper.v2:")
    assert v2.device_works(org_id, device.id, device.device_secret)
    assert _secret_hash(router, org_id, device.id).startswith("pepper.v2:")
    assert org_key_dependencies(account, partner) == {"pepper.v2": 2}
    assert device_secret_dependencies(account, org_id) == {"pepper.v2": 1}
    # Re-keyed once: the same secrets again write nothing and still work (the row stays as it is).
    etag = account.table(ORGS).get_entity(partner, org_id).metadata["etag"]
    assert v2.delivered(org_id, webhook_key) and v2.enrols(org_id, device_key_)
    assert account.table(ORGS).get_entity(partner, org_id).metadata["etag"] == etag
    # A wrong secret is still refused, and new secrets are hashed under version 2 at once.
    assert not v2.delivered(org_id, webhook_key + "x")
    assert not v2.enrols(org_id, device_key_ + "x")
    assert not v2.device_works(org_id, device.id, device.device_secret + "x")
    rotated = v2.orgs(partner).rotate(org_id, "device", ACTION)
    assert _org_hash(router, partner, org_id, "deviceKeyHash").startswith("pepper.v2:")

    # Nothing depends on version 1 any more: drop it (API_KEY_PEPPER emptied). Everything still works.
    dropped = Region(router, pepper_ring("", V2))
    assert dropped.delivered(org_id, webhook_key)
    assert dropped.enrols(org_id, rotated.device_key or "")
    assert dropped.device_works(org_id, device.id, device.device_secret)


def test_a_replaced_webhook_key_stored_the_old_way_keeps_its_grace_window_under_a_new_version(
    router: StorageRouter,
) -> None:
    """Deliveries in flight with the replaced key still count; the replaced hash is not re-keyed
    (it ends with its window), so the report names version 1 until then."""
    from datetime import timedelta

    account = router.region("eu")
    v1 = Region(router, pepper_ring(PEPPER))
    partner = new_id()
    org_id, old_key, _ = _register(v1.orgs(partner))
    account.table(ORGS).update_entity(
        {"PartitionKey": partner, "RowKey": org_id, "webhookKeyHash": hash_key(old_key, PEPPER)}
    )
    v2 = Region(router, pepper_ring(PEPPER, V2))
    new_key = v2.orgs(partner).rotate(org_id, "webhook", ACTION, timedelta(hours=24)).webhook_key or ""
    assert v2.delivered(org_id, old_key) and v2.delivered(org_id, new_key)
    assert _org_hash(router, partner, org_id, "previousWebhookKeyHash") == hash_key(old_key, PEPPER)
    assert org_key_dependencies(account, partner) == {LEGACY: 1, "pepper.v1": 1, "pepper.v2": 1}
    # Dropping version 1 now would cut the window short: the report above is why it waits.
    assert not Region(router, pepper_ring("", V2)).delivered(org_id, old_key)


@pytest.mark.parametrize("column", ["webhookKeyHash", "deviceKeyHash"])
def test_a_rotation_between_the_check_and_the_rekey_wins(router: StorageRouter, column: str) -> None:
    """Re-keying writes only while the row still holds the hash that was checked: it never brings
    back a key a rotation has just replaced."""
    v1 = Region(router, pepper_ring(PEPPER))
    partner = new_id()
    org_id, webhook_key, _ = _register(v1.orgs(partner))
    service = Region(router, pepper_ring(PEPPER, V2)).orgs(partner)
    seen = service.get(org_id)
    which = "webhook" if column == "webhookKeyHash" else "device"
    service.rotate(org_id, which, ACTION)
    after = _org_hash(router, partner, org_id, column)
    service.rekey(seen, which, service.webhook_hashes.hash(webhook_key))
    assert _org_hash(router, partner, org_id, column) == after

"""An org deleted and registered again under another partner (in another region) is found where it
now lives by every instance: one that remembered the old claim validates on a refusal, and no
instance trusts a remembered location past `LOCATION_CACHE_SECONDS`."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from shared.access.principals import Actor
from shared.audit.context import ActionContext
from shared.clock import SystemClock
from shared.errors import ProblemError
from shared.ids import new_id
from shared.notifications.models import OrgIn
from shared.notifications.orgs import Org, OrgDirectory, OrgLocation, OrgService
from shared.notifications.webhook import authenticate_delivery
from shared.storage.router import StorageRouter
from tests.stack import STACK_ENV

ACTION = ActionContext(Actor("operator", "test"))
PEPPER = STACK_ENV["API_KEY_PEPPER"]


class Ticks:
    """An instance's monotonic clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def router(private_router: StorageRouter) -> StorageRouter:
    return private_router


def orgs_of(router: StorageRouter, directory: OrgDirectory) -> Callable[[str, str], OrgService]:
    """What one instance's composition root hands the webhook: a partner's orgs in its region."""

    def orgs(partner_id: str, region: str) -> OrgService:
        return OrgService(router.region(region), partner_id, region, directory, SystemClock(), PEPPER)

    return orgs


def registered_and_proven(orgs: OrgService, org_id: str) -> str:
    """Registers the org for the service's partner and proves it; returns its webhook key."""
    body = {"organizationId": org_id, "uniqueName": "m", "name": "M", "languageCode": 1033,
            "business": {"name": "M Ltd"}}  # fmt: skip
    created = orgs.register(OrgIn.model_validate(body), "http://localhost", ACTION)
    orgs.prove(orgs.get(org_id), org_id, ACTION)
    return created.webhook_key


def test_an_org_that_moved_partner_is_found_where_it_lives_on_every_instance(router: StorageRouter) -> None:
    org_id, old_partner, new_partner = str(uuid.uuid4()), new_id(), new_id()
    ticks_a, ticks_b = Ticks(), Ticks()
    instance_a = OrgDirectory(router, monotonic=ticks_a)
    instance_b = OrgDirectory(router, monotonic=ticks_b)
    orgs_a, orgs_b = orgs_of(router, instance_a), orgs_of(router, instance_b)

    old_key = registered_and_proven(orgs_a(old_partner, "eu"), org_id)
    # Instance B serves the org's deliveries: it now remembers the claim (and the org).
    located, org = authenticate_delivery(instance_b, orgs_b, org_id, code=old_key, headers={})
    assert (located.partner_id, located.region, org.partner_id) == (old_partner, "eu", old_partner)

    # Through instance A: deleted, then registered and proven under another partner, in us.
    orgs_a(old_partner, "eu").delete(org_id, ACTION)
    new_key = registered_and_proven(orgs_a(new_partner, "us"), org_id)

    # B still remembers eu; the new partner's delivery is refused there, so B reads the claim again.
    located, org = authenticate_delivery(instance_b, orgs_b, org_id, code=new_key, headers={})
    assert (located.partner_id, located.region, org.partner_id) == (new_partner, "us", new_partner)
    with pytest.raises(ProblemError) as refused:
        authenticate_delivery(instance_b, orgs_b, org_id, code=old_key, headers={})
    assert refused.value.status == 401


def test_a_remembered_location_is_validated_on_refusal_and_never_trusted_past_its_bound(
    router: StorageRouter,
) -> None:
    org_id, old_partner, new_partner = str(uuid.uuid4()), new_id(), new_id()
    ticks_a, ticks_b = Ticks(), Ticks()
    instance_a = OrgDirectory(router, monotonic=ticks_a)
    instance_b = OrgDirectory(router, monotonic=ticks_b)
    registered_and_proven(orgs_of(router, instance_a)(old_partner, "eu"), org_id)
    assert instance_b.locate(org_id) == OrgLocation(org_id, old_partner, "eu")

    orgs_of(router, instance_a)(old_partner, "eu").delete(org_id, ACTION)
    registered_and_proven(orgs_of(router, instance_a)(new_partner, "us"), org_id)

    # A path that validates (a device's secret, a partner's credential): the old place refuses.
    def read_org(location: OrgLocation) -> Org:
        return orgs_of(router, instance_b)(location.partner_id, location.region).get(org_id)

    found = instance_b.resolve(org_id, read_org)
    assert found is not None and (found.partner_id, found.id) == (new_partner, org_id)

    # A path that does not validate: within the bound at most, then read again.
    other = OrgDirectory(router, monotonic=ticks_b)
    assert other.locate(org_id) == OrgLocation(org_id, new_partner, "us")
    orgs_of(router, instance_a)(new_partner, "us").delete(org_id, ACTION)
    registered_and_proven(orgs_of(router, instance_a)(old_partner, "eu"), org_id)
    ticks_b.now += OrgDirectory.LOCATION_CACHE_SECONDS + 1
    assert other.locate(org_id) == OrgLocation(org_id, old_partner, "eu")
    # Nobody claims it: no instance answers an old location.
    orgs_of(router, instance_a)(old_partner, "eu").delete(org_id, ACTION)
    ticks_b.now += OrgDirectory.LOCATION_CACHE_SECONDS + 1
    assert other.locate(org_id) is None and instance_b.resolve(org_id, read_org) is None

"""Org id claims against real Azurite: one atomic insert decides between partners, claims remembered
by a process are read again when they no longer fit, and orgs from before claims read as proven."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from shared.access.principals import Actor
from shared.audit.context import ActionContext
from shared.clock import SystemClock
from shared.errors import ProblemError
from shared.notifications.models import OrgIn
from shared.notifications.orgs import DIRECTORY, ORGS, PENDING, OrgDirectory, OrgService
from shared.notifications.secrets import hash_key
from shared.notifications.webhook import authenticate_delivery
from shared.storage.router import StorageRouter
from tests.stack import STACK_ENV

PEPPER = STACK_ENV["API_KEY_PEPPER"]
ACTION = ActionContext(Actor("operator", "test"))
ALICE, BOB = "01TESTPARTNERA000000000001", "01TESTPARTNERB000000000001"


class Instance:
    """One app process: its own directory (and so its own memory of claims and orgs)."""

    def __init__(self, router: StorageRouter):
        self.router = router
        self.directory = OrgDirectory(router)

    def orgs(self, partner_id: str, region: str = "eu") -> OrgService:
        return OrgService(
            self.router.region(region), partner_id, region, self.directory, SystemClock(), PEPPER
        )

    def deliver(self, org_id: str, key: str) -> tuple[str, bool]:
        """Authenticates a delivery as the webhook does: (the partner it belongs to, proven)."""
        location, org = authenticate_delivery(self.directory, self.orgs, org_id, code=key, headers={})
        return location.partner_id, org.proven


def body(org_id: str) -> OrgIn:
    return OrgIn.model_validate(
        {"organizationId": org_id, "uniqueName": "c", "name": "C", "languageCode": 1033,
         "business": {"name": "C Ltd"}}
    )  # fmt: skip


def refused(action: Any, status: int, kind: str) -> None:
    with pytest.raises(ProblemError) as caught:
        action()
    assert (caught.value.status, caught.value.kind) == (status, kind)


def test_partners_proving_one_org_at_once_end_with_exactly_one_holder(private_router: StorageRouter) -> None:
    here = Instance(private_router)
    org_id = str(uuid.uuid4())
    partners = [f"01TESTRACE{n:016d}" for n in range(4)]
    keys = {p: here.orgs(p).register(body(org_id), "http://h", ACTION).webhook_key or "" for p in partners}
    start = threading.Barrier(len(partners))
    won: list[str] = []
    lost: list[str] = []
    refusals: list[str] = []

    def prove(partner_id: str) -> None:
        process = Instance(private_router)  # each its own process: nothing remembered in common
        service = process.orgs(partner_id)
        org = service.authenticating(org_id)
        start.wait()
        try:
            service.prove(org, org_id, ACTION)
            won.append(partner_id)
        except ProblemError as error:
            # Recorded, not asserted here: an assertion failing in a thread would not fail the test.
            refusals.append(error.kind)
            lost.append(partner_id)

    threads = [threading.Thread(target=prove, args=(p,)) for p in partners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1 and sorted(lost) == sorted(set(partners) - set(won))
    assert refusals == ["org-claimed"] * len(lost)
    holder = private_router.control.table(DIRECTORY).get_entity(org_id, "org")
    assert holder["partnerId"] == won[0]
    assert here.orgs(won[0]).get(org_id).proven
    for loser in lost:
        assert not here.orgs(loser).get(org_id).proven
        refused(lambda loser=loser: here.deliver(org_id, keys[loser]), 409, "org-claimed")
    assert here.deliver(org_id, keys[won[0]]) == (won[0], True)


def test_a_claim_remembered_by_another_process_is_read_again_once_it_no_longer_fits(
    private_router: StorageRouter,
) -> None:
    there, here = Instance(private_router), Instance(private_router)
    org_id = str(uuid.uuid4())
    alice_key = there.orgs(ALICE).register(body(org_id), "http://h", ACTION).webhook_key or ""
    there.orgs(ALICE).prove(there.orgs(ALICE).get(org_id), org_id, ACTION)
    assert there.deliver(org_id, alice_key) == (ALICE, True)  # `there` remembers Alice's claim

    # Alice lets it go and Bob proves it, all through another process.
    here.orgs(ALICE).delete(org_id, ACTION)
    bob_key = here.orgs(BOB).register(body(org_id), "http://h", ACTION).webhook_key or ""
    here.orgs(BOB).prove(here.orgs(BOB).get(org_id), org_id, ACTION)

    assert there.deliver(org_id, bob_key) == (BOB, True)
    refused(lambda: there.deliver(org_id, alice_key), 401, "unauthenticated")


def test_deleting_a_pending_registration_leaves_the_holders_claim(private_router: StorageRouter) -> None:
    here = Instance(private_router)
    org_id = str(uuid.uuid4())
    alice_key = here.orgs(ALICE).register(body(org_id), "http://h", ACTION).webhook_key or ""
    here.orgs(BOB).register(body(org_id), "http://h", ACTION)
    here.orgs(ALICE).prove(here.orgs(ALICE).get(org_id), org_id, ACTION)
    here.orgs(BOB).delete(org_id, ACTION)
    assert here.deliver(org_id, alice_key) == (ALICE, True)
    assert private_router.control.table(DIRECTORY).get_entity(org_id, "org")["partnerId"] == ALICE
    pending = list(
        private_router.control.table(PENDING).query_entities("PartitionKey eq @pk", parameters={"pk": org_id})
    )
    assert pending == []  # Alice's went with her proof, Bob's with his delete


def test_an_org_registered_before_claims_reads_as_proven_and_keeps_its_id(
    private_router: StorageRouter,
) -> None:
    """What the earlier code wrote: the org row (no state) and its directory row at registration."""
    here = Instance(private_router)
    org_id = str(uuid.uuid4())
    old_key = "whk_" + "A" * 43  # the key format from before keys named their partner
    private_router.region("eu").table(ORGS).create_entity(
        {
            "PartitionKey": ALICE,
            "RowKey": org_id,
            "uniqueName": "old",
            "name": "Old",
            "languageCode": 1033,
            "business": '{"name": "Old Ltd"}',
            "administrators": "[]",
            "webhookAuthType": "WebhookKey",
            "webhookKeyHash": hash_key(old_key, PEPPER),
            "deviceKeyHash": hash_key("dk_old", PEPPER),
            "createdAt": "2025-06-01T00:00:00Z",
        }
    )
    private_router.control.table(DIRECTORY).create_entity(
        {"PartitionKey": org_id, "RowKey": "org", "partnerId": ALICE, "region": "eu"}
    )
    view = here.orgs(ALICE).get(org_id).view("http://h")
    assert view.access.state == "proven" and view.tenant_id is None
    assert here.deliver(org_id, old_key) == (ALICE, True)
    refused(lambda: here.orgs(BOB).register(body(org_id), "http://h", ACTION), 409, "org-claimed")

"""API-key hashes across a pepper rotation (real Azurite): a key stored the old way (no key id)
still works and is re-keyed when presented; a new pepper version hashes new keys and re-keys old
ones as they are used; the report says what still depends on each version; once it names nothing
of version 1, version 1 is dropped and every key still works."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from functions import deps
from shared.access import api_keys
from shared.access.principals import Actor, PartnerCaller, Scope
from shared.audit.context import ActionContext
from shared.errors import ProblemError
from shared.keys import LEGACY, KeyRing, pepper_ring
from shared.partners.access import API_KEYS, PLATFORM, AccessService, api_key_dependencies
from shared.partners.authenticate import Authenticator, Credentials
from shared.partners.models import ApiKeyIn, PartnerIn
from tests.clocks import MovableClock

ACTION = ActionContext(Actor("personnel", "tester"))
V2 = '{"2": "pepper-version-2-for-the-test"}'


def _partner() -> str:
    return (
        deps.partners()
        .create(
            PartnerIn.model_validate(
                {
                    "displayName": "Pepper IT",
                    "region": "eu",
                    "entraTenantId": str(uuid.uuid4()),
                    "contact": {"name": "Ana Li", "email": "ana@example.com"},
                    "subscription": {"plan": "standard", "tenantLimit": 5, "billingCycle": "monthly"},
                }
            ),
            ACTION,
        )
        .id
    )


def _works(ring: KeyRing, pepper: str, partner_id: str, key: str) -> bool:
    clock = MovableClock(datetime(2026, 11, 20, 12, tzinfo=UTC))
    authenticator = Authenticator(
        deps.partners(), deps.authenticator().validator, clock, operator_key="", ring=ring
    )
    try:
        caller, _ = authenticator.partner_caller(partner_id, Credentials(api_key=key, bearer=None))
    except ProblemError as refused:
        assert refused.status == 401
        return False
    return isinstance(caller, PartnerCaller)


def _stored_hash(partner_id: str, key_id: str) -> str:
    return str(deps.storage().region("eu").table(API_KEYS).get_entity(partner_id, key_id)["hash"])


def test_an_old_key_keeps_working_and_every_key_moves_to_the_new_pepper_before_the_old_is_dropped() -> None:
    pepper = deps.settings().api_key_pepper.get_secret_value()
    account = deps.storage().region("eu")
    partner_id = _partner()
    v1, v2 = pepper_ring(pepper), pepper_ring(pepper, V2)
    access = AccessService(account, partner_id, MovableClock(datetime(2026, 11, 20, tzinfo=UTC)), v1)

    # Two keys written the old way: the hash is HMAC(pepper, key), with no key id.
    old_keys = []
    for name in ("psa", "rmm"):
        made = access.create_key(ApiKeyIn(name=name, scopes=[Scope.READ]), ACTION, PLATFORM)
        account.table(API_KEYS).update_entity(
            {"PartitionKey": partner_id, "RowKey": made.id, "hash": api_keys.hash_key(made.key, pepper)}
        )
        old_keys.append(made)
    psa, rmm = old_keys
    assert api_key_dependencies(account, partner_id) == {LEGACY: 2}

    # Read the new way: it works, and presenting it re-keyed its hash (key id beside it).
    assert _works(v1, pepper, partner_id, psa.key)
    assert _stored_hash(partner_id, psa.id).startswith("pepper.v1:")
    assert api_key_dependencies(account, partner_id) == {LEGACY: 1, "pepper.v1": 1}

    # Pepper version 2: new keys are hashed under it, old ones still work and move when used.
    newer = AccessService(account, partner_id, access.clock, v2)
    fresh = newer.create_key(ApiKeyIn(name="new", scopes=[Scope.READ]), ACTION, PLATFORM)
    assert _stored_hash(partner_id, fresh.id).startswith("pepper.v2:")
    assert api_key_dependencies(account, partner_id) == {LEGACY: 1, "pepper.v1": 1, "pepper.v2": 1}
    assert _works(v2, pepper, partner_id, psa.key)
    assert _works(v2, pepper, partner_id, rmm.key)
    assert _works(v2, pepper, partner_id, fresh.key)
    assert api_key_dependencies(account, partner_id) == {"pepper.v2": 3}

    # Nothing depends on version 1 any more: drop it (API_KEY_PEPPER emptied). Every key still works.
    dropped = pepper_ring("", V2)
    for made in (psa, rmm, fresh):
        assert _works(dropped, pepper, partner_id, made.key)


def test_a_key_still_under_a_dropped_version_is_refused_which_is_why_the_report_comes_first() -> None:
    pepper = deps.settings().api_key_pepper.get_secret_value()
    account = deps.storage().region("eu")
    partner_id = _partner()
    clock = MovableClock(datetime(2026, 11, 20, tzinfo=UTC))
    access = AccessService(account, partner_id, clock, pepper_ring(pepper))
    made = access.create_key(ApiKeyIn(name="idle", scopes=[Scope.READ]), ACTION, PLATFORM)
    assert api_key_dependencies(account, partner_id) == {"pepper.v1": 1}
    assert not _works(pepper_ring("", V2), pepper, partner_id, made.key)
    assert _works(pepper_ring(pepper, V2), pepper, partner_id, made.key)  # put back: works, moves on
    assert api_key_dependencies(account, partner_id) == {"pepper.v2": 1}

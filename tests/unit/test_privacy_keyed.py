"""The one keyed-hash helper behind requests, consent, contact records, the subject index and device
tokens: one purpose each, key ids on what is written, and the forms stored before key ids still
looked up."""

from __future__ import annotations

import hashlib
import hmac

from shared.keys import (
    CONSENT_SUBJECT,
    CONTACT_RECORD,
    DEVICE_TARGET,
    LEGACY,
    SUBJECT_INDEX,
    SUBJECT_REQUEST,
    dependency_report,
    lookup_hasher,
    pepper_ring,
)
from shared.privacy.consent import ConsentKeys
from shared.privacy.subject_requests import request_hasher, subject_hash
from shared.privacy.subjects import SubjectIdentifier, index

PEPPER = "pepper-for-unit-tests"
V2 = '{"2": "pepper-version-2-for-unit-tests"}'
TENANT = "0b5a0c1e-4f7e-4a53-9d0b-1f7f3f3c2a11"


def _old(label: bytes, text: str) -> str:
    """How the privacy hashes were made before key ids: HMAC under HMAC(pepper, label), hex."""
    key = hmac.new(PEPPER.encode(), label, hashlib.sha256).digest()
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def test_the_forms_written_before_key_ids_are_still_looked_up_last() -> None:
    # Stored rows are found by these: the old constructions themselves are pinned.
    address = "ana@fabrikam.example"
    assert lookup_hasher(pepper_ring(PEPPER), SUBJECT_INDEX).lookups(address)[-1] == _old(
        b"tenantry subject index", address
    )
    assert lookup_hasher(pepper_ring(PEPPER), SUBJECT_REQUEST).lookups(address)[-1] == _old(
        b"tenantry data-subject requests", address
    )
    assert lookup_hasher(pepper_ring(PEPPER), CONTACT_RECORD).lookups(address)[-1] == _old(
        b"tenantry contact records", address
    )
    token = "org|token|fcm-1"
    assert (
        lookup_hasher(pepper_ring(PEPPER), DEVICE_TARGET).lookups(token)[-1]
        == hmac.new(PEPPER.encode(), token.encode(), hashlib.sha256).hexdigest()
    )
    consent = lookup_hasher(pepper_ring(PEPPER), CONSENT_SUBJECT).lookups(address)[-1]
    assert len(consent) == 43 and "=" not in consent  # base64url, as the ledger keyed contacts


def test_new_hashes_carry_the_current_version_and_older_ones_follow_in_order() -> None:
    hashes = lookup_hasher(pepper_ring(PEPPER, V2), SUBJECT_INDEX)
    forms = hashes.lookups("ana@fabrikam.example")
    assert [f.split(":")[0] for f in forms[:2]] == ["pepper.v2", "pepper.v1"] and ":" not in forms[2]
    assert forms[0] == hashes.hash("ana@fabrikam.example") and hashes.is_current(forms[0])
    assert not any(hashes.is_current(f) for f in forms[1:])
    assert dependency_report(forms) == {"pepper.v2": 1, "pepper.v1": 1, LEGACY: 1}
    # Version 1 dropped: only version 2 is looked up.
    assert lookup_hasher(pepper_ring("", V2), SUBJECT_INDEX).lookups("ana@fabrikam.example") == forms[:1]


def test_each_purpose_hashes_one_address_differently() -> None:
    address = "ana@fabrikam.example"
    in_index = index.value_hash(index.index_key(pepper_ring(PEPPER)), address)
    in_requests = subject_hash(request_hasher(PEPPER), TENANT, None, SubjectIdentifier(email=address))
    in_consent = ConsentKeys("consent-token-key-0123456789", PEPPER).subject_key("P1", address)
    assert len({in_index, in_requests, in_consent}) == 3
    assert in_index != index.value_hash(index.index_key(pepper_ring(PEPPER + "x")), address)
    assert all("ana" not in h for h in (in_index, in_requests, in_consent))


def test_an_index_entry_names_no_one_and_shards_by_the_hash() -> None:
    key = index.index_key(pepper_ring(PEPPER))
    user_id = "d32ca1cd-d6e4-4b71-ac6a-484736a260b0"
    entries = index.tenant_entries(
        key, "P1", TENANT, user_id, {"ana@fabrikam.example", "a.l@fabrikam.example"}
    )
    assert len(entries) == 2 and all(e["subject"] == user_id for e in entries)
    for entry in entries:
        assert "fabrikam" not in entry["RowKey"] and user_id not in entry["RowKey"]
        value, pointer = entry["RowKey"].split("|")
        assert entry["PartitionKey"] == index.tenant_partition("P1", TENANT, value)
        assert value.startswith("pepper.v1:") and pointer.startswith("pepper.v1:")
    # Every form, to remove them all: the current ones and those of before key ids, paired.
    every = index.tenant_entries(key, "P1", TENANT, user_id, {"ana@fabrikam.example"}, every_form=True)
    assert len(every) == 2 and every[0]["RowKey"].split("|")[0] in {
        e["RowKey"].split("|")[0] for e in entries
    }
    legacy_value, legacy_pointer = every[1]["RowKey"].split("|")
    assert legacy_value == _old(b"tenantry subject index", "ana@fabrikam.example")
    assert legacy_pointer == _old(b"tenantry subject index", user_id)
    assert every[1]["PartitionKey"] == index.tenant_partition("P1", TENANT, legacy_value)
    device = index.device_entry(key, "org-1", user_id.upper(), "01DEVICE")
    assert device["RowKey"] == f"{index.value_hash(key, user_id)}|01DEVICE"  # device ids are not personal

"""The one keyed-hash helper behind requests, consent and the subject index."""

from __future__ import annotations

import hashlib
import hmac

from shared.privacy import keyed
from shared.privacy.consent import ConsentKeys
from shared.privacy.keyed import KeyedHash
from shared.privacy.subject_requests import subject_hash
from shared.privacy.subjects import SubjectIdentifier, index

PEPPER = "pepper-for-unit-tests"
TENANT = "0b5a0c1e-4f7e-4a53-9d0b-1f7f3f3c2a11"


def test_it_is_hmac_sha256_under_a_key_made_from_the_pepper_and_the_purpose() -> None:
    # Stable for years (stored hashes are looked up by it): the construction itself is pinned.
    key = hmac.new(PEPPER.encode(), keyed.SUBJECT_INDEX, hashlib.sha256).digest()
    expected = hmac.new(key, b"ana@fabrikam.example", hashlib.sha256).hexdigest()
    assert index.value_hash(index.index_key(PEPPER), "ana@fabrikam.example") == expected


def test_each_purpose_hashes_one_address_differently() -> None:
    address = "ana@fabrikam.example"
    in_index = index.value_hash(index.index_key(PEPPER), address)
    in_requests = subject_hash(
        KeyedHash(PEPPER, keyed.REQUESTS), TENANT, None, SubjectIdentifier(email=address)
    )
    in_consent = ConsentKeys("consent-token-key-0123456789", PEPPER).subject_key("P1", address)
    assert len({in_index, in_requests, in_consent}) == 3
    assert in_index != index.value_hash(index.index_key(PEPPER + "x"), address)
    assert all("ana" not in h for h in (in_index, in_requests, in_consent))


def test_an_index_entry_names_no_one_and_shards_by_the_hash() -> None:
    key = index.index_key(PEPPER)
    user_id = "d32ca1cd-d6e4-4b71-ac6a-484736a260b0"
    entries = index.tenant_entries(
        key, "P1", TENANT, user_id, {"ana@fabrikam.example", "a.l@fabrikam.example"}
    )
    assert len(entries) == 2 and all(e["subject"] == user_id for e in entries)
    for entry in entries:
        assert "fabrikam" not in entry["RowKey"] and user_id not in entry["RowKey"]
        value, pointer = entry["RowKey"].split("|")
        assert entry["PartitionKey"] == index.tenant_partition("P1", TENANT, value)
        assert len(value) == len(pointer) == 64
    device = index.device_entry(key, "org-1", user_id.upper(), "01DEVICE")
    assert device["RowKey"] == f"{index.value_hash(key, user_id)}|01DEVICE"  # device ids are not personal

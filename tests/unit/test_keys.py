"""The product's keyed hashes (shared/keys.py): per-purpose secrets from versioned masters, key ids
stored with every hash, values from before key ids still verifying, and re-keying on presentation."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from shared.access import api_keys
from shared.keys import LEGACY, KeyRing, MasterKey, dependency_report, legacy_hmac, pepper_ring

PEPPER = "the-pepper-v1"
V2 = '{"2": "the-pepper-v2"}'


def test_each_purpose_has_its_own_secret_and_none_is_the_master() -> None:
    ring = pepper_ring(PEPPER)
    api, webhook = ring.hasher("api-key").hash("k"), ring.hasher("webhook-key").hash("k")
    assert api != webhook
    assert api.split(":")[1] != legacy_hmac("k", PEPPER)  # not the pepper itself
    # HKDF-SHA256 with the purpose as info: a second implementation arrives at the same secret.
    prk = hmac.digest(b"\0" * 32, PEPPER.encode(), hashlib.sha256)
    okm = hmac.digest(prk, b"tenantry/pepper/api-key" + b"\x01", hashlib.sha256)
    assert ring.secret("api-key", 1) == okm


def test_a_hash_records_its_key_id_and_verifies_under_it_only() -> None:
    hashes = pepper_ring(PEPPER).hasher("api-key", legacy_hmac)
    stored = hashes.hash("tk_secret")
    assert stored.startswith("pepper.v1:")
    assert hashes.verify("tk_secret", stored).ok
    assert not hashes.verify("tk_other", stored).ok
    assert not hashes.verify("tk_secret", stored.replace("pepper.v1", "pepper.v7")).ok  # unknown version
    assert not hashes.verify("tk_secret", stored.replace("pepper.v1", "audit.v1")).ok  # another master
    assert not hashes.verify("", stored).ok and not hashes.verify("tk_secret", "").ok


def test_a_value_stored_the_old_way_verifies_as_version_1_and_asks_to_be_rekeyed() -> None:
    old = api_keys.hash_key("tk_secret", PEPPER)  # exactly what was stored before key ids
    hashes = api_keys.hasher(pepper_ring(PEPPER))
    found = hashes.verify("tk_secret", old)
    assert found.ok and found.stale and found.rehash == hashes.hash("tk_secret")
    assert not hashes.verify("tk_wrong", old).ok
    # Without a legacy derivation a key-less value is nobody's.
    assert not pepper_ring(PEPPER).hasher("api-key").verify("tk_secret", old).ok


def test_a_new_version_hashes_from_now_on_old_ones_verify_until_dropped() -> None:
    v1 = api_keys.hasher(pepper_ring(PEPPER)).hash("tk_secret")
    rotated = api_keys.hasher(pepper_ring(PEPPER, V2))
    assert rotated.hash("tk_secret").startswith("pepper.v2:")
    found = rotated.verify("tk_secret", v1)
    assert found.ok and found.stale and (found.rehash or "").startswith("pepper.v2:")
    current = rotated.verify("tk_secret", rotated.hash("tk_secret"))
    assert current.ok and not current.stale and current.rehash is None
    # Version 1 dropped (API_KEY_PEPPER emptied): its hashes, and the key-less ones, stop verifying.
    dropped = api_keys.hasher(pepper_ring("", V2))
    assert not dropped.verify("tk_secret", v1).ok
    assert not dropped.verify("tk_secret", api_keys.hash_key("tk_secret", PEPPER)).ok
    assert dropped.verify("tk_secret", rotated.hash("tk_secret")).ok


def test_lookups_cover_every_version_and_the_old_form() -> None:
    hashes = api_keys.hasher(pepper_ring(PEPPER, V2))
    forms = hashes.lookups("tk_secret")
    assert forms == [
        hashes.hash("tk_secret", 2),
        hashes.hash("tk_secret", 1),
        legacy_hmac("tk_secret", PEPPER),
    ]


def test_the_report_names_what_still_depends_on_each_version() -> None:
    one, two = pepper_ring(PEPPER).hasher("api-key"), pepper_ring(PEPPER, V2).hasher("api-key")
    stored = [legacy_hmac("a", PEPPER), one.hash("b"), two.hash("c"), two.hash("d"), ""]
    assert dependency_report(stored) == {LEGACY: 1, "pepper.v1": 1, "pepper.v2": 2}


@pytest.mark.parametrize(
    ("first", "more"),
    [
        ("", ""),
        ("p", '{"1": "again"}'),
        ("p", '{"x": "y"}'),
        ("p", '["2"]'),
        ("p", '{"2": 5}'),
        ("p", '{"2": ""}'),
    ],
)
def test_bad_master_settings_are_refused(first: str, more: str) -> None:
    with pytest.raises(ValueError):
        MasterKey.from_settings("pepper", first, more)


def test_a_ring_of_another_master_names_its_own_key_ids() -> None:
    ring = KeyRing(MasterKey.from_settings("subjects", "m1", '{"3": "m3"}'))
    assert ring.current == 3
    assert ring.hasher("subject-index").hash("x").startswith("subjects.v3:")


def test_rotated_out_key_hashes_stay_out_of_the_data_return_package() -> None:
    from shared.privacy.data_return import package_row

    row = {"PartitionKey": "p", "RowKey": "k", "name": "psa", "hash": "pepper.v1:aa", "previousHash": "bb"}
    returned = package_row(row, None, "apikeys")
    assert "hash" not in returned and "previousHash" not in returned and returned["name"] == "psa"
    org = package_row({"RowKey": "o", "previousWebhookKeyHash": "cc", "webhookKeyHash": "dd"}, None, "orgs")
    assert org == {"RowKey": "o"}

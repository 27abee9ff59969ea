"""Boundaries of privacy rules the mutation score found unguarded: the exact moment a deadline
turns, stored IP prefixes whose next bit is set, the keyed hash's form and refusal, and how the
record of processing names each store, and what an export link lets its holder download."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import pytest

from shared.audit.ip import anonymise_ip
from shared.keys import CONSENT_SUBJECT, lookup_hasher, pepper_ring
from shared.privacy import deadlines
from shared.privacy.consent import ConsentKeys
from shared.privacy.record import catalogue_version, processing_record
from shared.privacy.subjects import index
from shared.privacy.subjects.links import sign
from shared.storage.catalogue import CATALOGUE, Placement

DUE = datetime(2026, 4, 30, 12, tzinfo=UTC)
NEARING = timedelta(days=7)


@pytest.mark.parametrize(
    ("now", "state"),
    [
        (DUE - NEARING - timedelta(microseconds=1), deadlines.OPEN),
        (DUE - NEARING, deadlines.NEARING),  # seven days left: the watch warns now, not a tick later
        (DUE - timedelta(microseconds=1), deadlines.NEARING),
        (DUE, deadlines.PASSED),  # the due moment itself is late
    ],
)
def test_a_deadline_turns_at_the_exact_moment(now: datetime, state: str) -> None:
    assert deadlines.next_state(deadlines.OPEN, DUE, now, NEARING) == state


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("203.0.113.200", "203.0.113.0"),  # bit 25 set: a /25 would keep it
        ("2001:db8:abcd:8000::1", "2001:db8:abcd::"),  # bit 49 set: a /49 would keep it
    ],
)
def test_only_the_network_prefix_of_an_ip_is_stored(given: str, stored: str) -> None:
    assert anonymise_ip(given) == stored


def test_a_keyed_hash_needs_a_pepper_and_names_its_key() -> None:
    with pytest.raises(ValueError, match="non-empty version"):
        lookup_hasher(pepper_ring(""), CONSENT_SUBJECT)
    text = lookup_hasher(pepper_ring("pepper"), CONSENT_SUBJECT).hash("someone@fabrikam.example")
    assert text.startswith("pepper.v1:") and len(text.split(":")[1]) == 64


def test_the_record_names_each_store_as_a_partner_finds_it() -> None:
    record = processing_record()
    for activity, entry in zip(record.activities, CATALOGUE, strict=True):
        assert activity.store == entry.name + ("<yyyymm>" if entry.bucketed else "")
        assert len(activity.data_subjects) == len(set(activity.data_subjects))
        if entry.placement is Placement.REGIONAL:
            assert "partner's chosen region" in activity.transfers
        else:
            assert "control account" in activity.transfers
    assert ["none (holds no personal data)"] in [a.data_subjects for a in record.activities]
    assert any(entry.bucketed for entry in CATALOGUE) and any(
        entry.placement is Placement.CONTROL for entry in CATALOGUE
    )
    assert len(record.catalogue_version) == 16 and record.catalogue_version == catalogue_version()


def test_an_export_link_downloads_one_json_file_from_a_little_before_now() -> None:
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    query = parse_qs(
        sign(
            "devstoreaccount1",
            "privacyexports",
            "p1/r1.json",
            now=now,
            ttl=timedelta(minutes=15),
            account_key="a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U=",
        )
    )
    assert query["rscd"] == ['attachment; filename="r1.json"'] and query["rsct"] == ["application/json"]
    # Clocks of the reader and of storage differ a little: valid from five minutes before now.
    assert (query["st"], query["se"]) == (["2026-11-25T11:55:00Z"], ["2026-11-25T12:15:00Z"])
    assert "spr" not in query  # Azurite serves plain http; the account key signs only locally
    assert query["sp"] == ["r"] and query["sig"]


def test_index_partitions_keep_the_form_stored_rows_were_written_under() -> None:
    """Rows written before an upgrade are found (and erased) by these names: they must not move."""
    hashed = "0123" + "f" * 60
    assert (
        index.tenant_partition("P1", "ABC-Tenant", hashed) == f"t~P1~abc-tenant~m{0x0123 % index.SHARDS:02d}"
    )
    # A hash with its key id is sharded by the hash alone, as one without is.
    assert index.tenant_partition("P1", "ABC-Tenant", "pepper.v2:" + hashed) == index.tenant_partition(
        "P1", "ABC-Tenant", hashed
    )
    assert index.org_devices_partition("ORG-1") == "o~org-1~d"
    device = index.device_entry(index.index_key(pepper_ring("pepper")), "ORG-1", "SYSTEM-USER", "01DEVICE")
    assert (device["PartitionKey"], device["deviceId"]) == ("o~org-1~d", "01DEVICE")


def test_consent_links_rotate_through_a_list_of_keys_of_16_characters_or_more() -> None:
    old, new = "an-old-token-key-0001", "a-new-token-key-00002"
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    payload = {"p": "P1", "r": "r|1"}
    issued_before = ConsentKeys(old, "pepper").sign(ConsentKeys.CONFIRM, payload, expires)
    rotated = ConsentKeys(f" {new} , {old} ", "pepper")
    assert rotated.verify(ConsentKeys.CONFIRM, issued_before, expires - timedelta(days=1))["r"] == "r|1"
    for weak in ("", " , ", "sixteen-chars-ok,fifteen-chars", "x" * 15):
        with pytest.raises(ValueError, match="at least one key of 16 characters"):
            ConsentKeys(weak, "pepper")
    assert ConsentKeys("y" * 16, "pepper").subject_key("P1", " Ana@X.example") == ConsentKeys(
        "z" * 16, "pepper"
    ).subject_key("P1", "ana@x.example")

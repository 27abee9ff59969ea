"""The rules of complaints and correspondence that need no storage: when a thread ends, how a person
is found again, and what an anonymised data-return package keeps of their words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from shared.privacy.complaints import ComplaintIn, contact_hash, contact_hasher
from shared.privacy.correspondence import delete_after
from shared.privacy.data_return import Pseudonyms, package_row

AT = datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_a_concluded_thread_ends_30_days_on_and_an_untouched_one_after_12_months() -> None:
    concluded = {"concludedAt": "2026-03-01T12:00:00Z", "lastActivityAt": "2026-03-01T12:00:00Z"}
    assert delete_after(concluded) == AT + timedelta(days=30)
    untouched = {"concludedAt": "", "lastActivityAt": "2026-03-01T12:00:00Z"}
    assert delete_after(untouched) == datetime(2027, 3, 1, 12, tzinfo=UTC)


def test_a_person_is_found_by_address_whatever_its_case_and_only_within_the_partner() -> None:
    hasher = contact_hasher("pepper")
    assert contact_hash(hasher, "p1", "Cleo@Fabrikam.example ") == contact_hash(
        hasher, "p1", "cleo@fabrikam.example"
    )
    assert contact_hash(hasher, "p1", "cleo@fabrikam.example") != contact_hash(
        hasher, "p2", "cleo@fabrikam.example"
    )
    assert "cleo" not in contact_hash(hasher, "p1", "cleo@fabrikam.example")
    assert contact_hash(hasher, "p1", None) == ""


def test_an_anonymised_package_keeps_no_word_of_a_message_or_a_complaint() -> None:
    names = Pseudonyms(b"k" * 32)
    message = {"PartitionKey": "p~t", "RowKey": "m", "body": "Hi, Dirk here, call me", "direction": "inbound"}
    out = package_row(message, names, "correspondence")
    assert "Dirk" not in str(out) and out["direction"] == "inbound"
    complaint = {"PartitionKey": "p", "RowKey": "c", "contactName": "Cleo Park", "details": "Cleo waited"}
    complaint |= {"answer": "Sorry Cleo", "contactEmail": "cleo@fabrikam.example", "channel": "email"}
    out = package_row(complaint, names, "complaints")
    assert "Cleo" not in str(out) and "cleo" not in str(out) and out["channel"] == "email"
    # Returned as held (not anonymised), the partner gets its records back whole.
    assert package_row(message, None, "correspondence")["body"] == message["body"]


def test_a_complaint_names_its_channel_from_a_fixed_list() -> None:
    base = {"contact": {"name": "Cleo"}, "subject": "Late", "channel": "email"}
    assert ComplaintIn.model_validate(base).contact.email is None
    with pytest.raises(ValidationError):
        ComplaintIn.model_validate({**base, "channel": "pigeon"})
    with pytest.raises(ValidationError):
        ComplaintIn.model_validate({**base, "contact": {"name": "Cleo", "email": "not an address"}})

"""Export links: which signature an account gets, and what a user-delegation SAS carries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import pytest
from azure.storage.blob import UserDelegationKey

from shared.privacy.subjects import SubjectIdentifier
from shared.privacy.subjects.links import account_key_of, sas_method, sign
from shared.settings import storage_target

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def test_identity_accounts_sign_with_user_delegation_and_connection_strings_with_the_key() -> None:
    by_identity = storage_target("TENANTRY_STORAGE_EU", {"TENANTRY_STORAGE_EU__accountName": "tenantryeu"})
    by_string = storage_target(
        "TENANTRY_STORAGE_EU",
        {"TENANTRY_STORAGE_EU": "DefaultEndpointsProtocol=http;AccountName=devstore;AccountKey=a2V5;"},
    )
    assert by_identity is not None and by_string is not None
    assert sas_method(by_identity) == "user-delegation"
    assert sas_method(by_string) == "account-key"
    assert account_key_of(str(by_string.connection_string)) == "a2V5"
    with pytest.raises(ValueError, match="AccountKey"):
        account_key_of("AccountName=x;")


def test_a_user_delegation_sas_names_the_identity_reads_one_blob_and_expires() -> None:
    key = UserDelegationKey()
    key.signed_oid = "11111111-1111-1111-1111-111111111111"
    key.signed_tid = "22222222-2222-2222-2222-222222222222"
    key.signed_start = "2026-11-25T11:55:00Z"
    key.signed_expiry = "2026-11-25T12:15:00Z"
    key.signed_service = "b"
    key.signed_version = "2025-01-05"
    key.value = "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U="
    query = parse_qs(
        sign(
            "tenantryeu",
            "privacyexports",
            "p1/r1.json",
            now=NOW,
            ttl=timedelta(minutes=15),
            user_delegation_key=key,
        )
    )
    assert query["skoid"] == [key.signed_oid] and query["sktid"] == [key.signed_tid]
    assert query["sp"] == ["r"] and query["sr"] == ["b"] and query["spr"] == ["https"]
    assert query["se"] == ["2026-11-25T12:15:00Z"]
    assert "sig" in query


def test_a_subject_is_named_by_exactly_one_identifier() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        SubjectIdentifier(email="a@b.example", phone="+44 1")
    with pytest.raises(ValueError, match="exactly one"):
        SubjectIdentifier()
    assert SubjectIdentifier.model_validate({"systemUserId": "abc"}).system_user_id == "abc"

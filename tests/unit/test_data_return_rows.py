"""What a data-return package holds of a row, which tables it reads, and the VAT numbers partners give."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.partners.models import AdministrationPatch
from shared.partners.subscription import TerminationChoice
from shared.privacy.data_return import (
    LEFT_OUT_WHEN_ANONYMISED,
    NOT_RETURNED,
    NOT_RETURNED_CONTAINERS,
    RETURNED_CONTAINERS,
    Pseudonyms,
    package_row,
    returned_categories,
    returned_containers,
)
from shared.storage.catalogue import CATALOGUE, Placement, StorageKind


def test_every_regional_table_is_returned_or_says_why_not() -> None:
    regional = {
        e.name for e in CATALOGUE if e.kind is StorageKind.TABLE and e.placement is Placement.REGIONAL
    }
    returned = set(returned_categories())
    assert returned | set(NOT_RETURNED) == regional
    assert {"partners", "tenants", "tenantusers", "orgs", "devices", "notifications", "events"} <= returned
    assert {"privacyrequests", "consentledger"} <= returned
    assert all(reason for reason in NOT_RETURNED.values())
    assert "notifydeliveries" in returned


def test_every_regional_container_is_returned_or_says_why_not() -> None:
    regional = {
        e.name for e in CATALOGUE if e.kind is StorageKind.CONTAINER and e.placement is Placement.REGIONAL
    }
    assert set(returned_containers()) | set(NOT_RETURNED_CONTAINERS) == regional
    assert not set(RETURNED_CONTAINERS) & set(NOT_RETURNED_CONTAINERS)
    assert set(RETURNED_CONTAINERS) <= regional  # nothing returned the catalogue does not know
    assert all(reason for reason in [*NOT_RETURNED_CONTAINERS.values(), *LEFT_OUT_WHEN_ANONYMISED.values()])
    assert {"tenantsnapshots", "privacyexports"} <= set(returned_containers())
    anonymised = set(returned_containers(TerminationChoice.ANONYMISE))
    assert anonymised == set(returned_containers()) - set(LEFT_OUT_WHEN_ANONYMISED)


def test_secrets_never_go_into_a_package() -> None:
    org = {"PartitionKey": "p", "RowKey": "o", "webhookKeyHash": "h", "deviceKeyHash": "h", "name": "Org"}
    device = {"PartitionKey": "o", "RowKey": "d", "target": "sealed", "targetHash": "h", "secretHash": "h"}
    key = {"PartitionKey": "p", "RowKey": "k", "hash": "h", "name": "psa"}
    event = {"PartitionKey": "p", "RowKey": "e", "hash": "chain", "odata.etag": "W/1"}
    assert package_row(org, None, "orgs") == {"PartitionKey": "p", "RowKey": "o", "name": "Org"}
    assert package_row(device, None, "devices") == {"PartitionKey": "o", "RowKey": "d"}
    assert package_row(key, None, "apikeys") == {"PartitionKey": "p", "RowKey": "k", "name": "psa"}
    assert package_row(event, None, "events") == {"PartitionKey": "p", "RowKey": "e", "hash": "chain"}


def test_anonymised_rows_keep_their_shape_and_joins_but_name_nobody() -> None:
    user = "0b7e8f6a-3c2d-4e1f-8a9b-7c6d5e4f3a2b"
    row = {
        "PartitionKey": f"P~{user}~01",
        "RowKey": user,
        "userPrincipalName": "ana.li@fabrikam.example",
        "displayName": "Ana Li",
        "accountEnabled": True,
        "changes": '{"manager": "bo@fabrikam.example"}',
        "createdAt@odata.type": "Edm.DateTime",
        "createdAt": "2026-01-01T00:00:00Z",
    }
    names = Pseudonyms(b"k" * 32)
    out = package_row(row, names, "tenantusers")
    text = str(out)
    assert "fabrikam" not in text and "Ana" not in text and user not in text
    assert out["RowKey"] == names.guid(user) and out["PartitionKey"] == f"P~{names.guid(user)}~01"
    assert out["accountEnabled"] is True and out["createdAt"] == "2026-01-01T00:00:00Z"
    assert "@anonymised.invalid" in out["changes"]
    # Another key, other pseudonyms: a package cannot be matched with another one.
    assert package_row(row, Pseudonyms(b"x" * 32), "tenantusers")["RowKey"] != out["RowKey"]


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("NL 1234.56789.B01", "NL123456789B01"),
        ("de123456789", "DE123456789"),
        ("EL123456789", "EL123456789"),
        ("ATU12345678", "ATU12345678"),
        ("CHE-123.456.789 MWST", "CHE123456789MWST"),
    ],
)
def test_vat_numbers_are_kept_compact_with_their_country(given: str, stored: str) -> None:
    assert AdministrationPatch.model_validate({"vatNumber": given}).vat_number == stored


@pytest.mark.parametrize("given", ["123456789", "XX123456789", "DE12345678", "NL123456789B1", "GR123456789"])
def test_vat_numbers_without_a_valid_country_format_are_refused(given: str) -> None:
    with pytest.raises(ValidationError):
        AdministrationPatch.model_validate({"vatNumber": given})

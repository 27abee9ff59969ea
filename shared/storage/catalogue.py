"""The one declaration of every table, blob container and queue Tenantry writes, and why."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class StorageKind(StrEnum):
    TABLE = "table"
    CONTAINER = "container"
    QUEUE = "queue"


class Placement(StrEnum):
    CONTROL = "control"  # the control account: the partner directory, nothing personal
    REGIONAL = "regional"  # the account of the partner's chosen region


@dataclass(frozen=True)
class StoredData:
    """One place we keep data, with what a record of processing activities needs to say about it."""

    name: str
    kind: StorageKind
    placement: Placement
    categories: tuple[str, ...]
    purpose: str
    legal_basis: str
    retention: str
    # Time-bucketed tables are named `<name><yyyymm>` so retention drops whole buckets.
    bucketed: bool = False


CATALOGUE: tuple[StoredData, ...] = (
    StoredData(
        name="partnerdirectory",
        kind=StorageKind.TABLE,
        placement=Placement.CONTROL,
        categories=("partner routing",),
        purpose="Route each partner's requests to the storage of the region it chose.",
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract",
        retention="While the partner exists; holds no personal data.",
    ),
    StoredData(
        name="partners",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("billing/administration records", "personnel data (contact person)"),
        purpose="The partner's account and subscription: plan, limits, billing cycle, contact person.",
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract; Art. 6(1)(c) for records kept",
        retention="7 years after the service ends (the partner may set 10); the contact with personnel data.",
    ),
    StoredData(
        name="personnel",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("personnel data",),
        purpose="Who at the partner may sign in, with which role and tenant scope.",
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract",
        retention="Until the subscription ends, then 24 more months.",
    ),
    StoredData(
        name="apikeys",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("configuration",),
        purpose="The partner's API keys: name, scopes, expiry and a peppered hash (never the secret).",
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract",
        retention="Until the subscription ends, then 24 more months (with personnel data).",
    ),
    StoredData(
        name="tenantgroups",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("configuration",),
        purpose="Named groups of customer tenants that limit what people and keys may see.",
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract",
        retention="Until the subscription ends, then 24 more months (with personnel data).",
    ),
    StoredData(
        name="events",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("event / audit logs",),
        purpose="Who changed what and when, tamper-evident, for the partner's and our accountability.",
        legal_basis="Art. 6(1)(c) and (f) GDPR: accountability and security of processing",
        retention="24 months after creation, even after tenant removal (whole monthly tables dropped).",
        bucketed=True,
    ),
    StoredData(
        name="usage",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("billing/administration records",),
        purpose="Billable units per partner per month (tenants, API calls, notifications).",
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract",
        retention="7 years after the service ends (the partner may set 10).",
    ),
)


class UndeclaredStorageError(LookupError):
    """Code tried to write somewhere the catalogue does not declare."""


def declared(kind: StorageKind, name: str) -> StoredData:
    """The catalogue entry for a concrete table/container/queue name, or UndeclaredStorageError."""
    for entry in CATALOGUE:
        if entry.kind is not kind:
            continue
        if not entry.bucketed and entry.name == name:
            return entry
        suffix = name[len(entry.name) :]
        if entry.bucketed and name.startswith(entry.name) and len(suffix) == 6 and suffix.isdigit():
            return entry
    raise UndeclaredStorageError(f"{kind.value} {name!r} is not declared in the storage catalogue")

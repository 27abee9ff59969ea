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

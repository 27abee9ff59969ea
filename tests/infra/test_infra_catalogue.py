"""The storage the Bicep creates against shared/storage/catalogue.py, read dynamically.

Every catalogue entry exists in the Bicep (regional entries in the stamp's account, control
entries in the global control account), and every table, container and queue the Bicep creates
is in the catalogue. Exceptions: a queue's `<name>-poison` twin (the Functions host makes it),
bucketed tables (`<name><yyyymm>`, the app makes them at run time), and the containers listed
in INFRA_CONTAINERS below.
"""

from __future__ import annotations

import re
from typing import Any

from shared.storage.catalogue import CATALOGUE, Placement, StorageKind

RESOURCE_TYPE = {
    StorageKind.TABLE: "Microsoft.Storage/storageAccounts/tableServices/tables",
    StorageKind.CONTAINER: "Microsoft.Storage/storageAccounts/blobServices/containers",
    StorageKind.QUEUE: "Microsoft.Storage/storageAccounts/queueServices/queues",
}
STORAGE_FILE = {
    Placement.REGIONAL: "modules/regional-storage.bicep",
    Placement.CONTROL: "modules/control-storage.bicep",
}
CONTROL_ACCESS = "modules/control-access.bicep"

# Containers infra owns, which hold no app data (so they are not in the catalogue).
INFRA_CONTAINERS = {
    (Placement.REGIONAL, "app-package"): "the Flex Consumption app package (deployment storage)",
}


def catalogue_names(placement: Placement, kind: StorageKind, *, bucketed: bool = False) -> set[str]:
    return {
        entry.name
        for entry in CATALOGUE
        if entry.placement is placement and entry.kind is kind and entry.bucketed is bucketed
    }


def test_every_catalogue_entry_is_created_where_it_belongs(bicep: Any) -> None:
    for placement, relative in STORAGE_FILE.items():
        for kind, resource_type in RESOURCE_TYPE.items():
            missing = catalogue_names(placement, kind) - bicep.names(relative, resource_type)
            assert not missing, (
                f"{placement.value} {kind.value}s {sorted(missing)} are not created in infra/{relative}"
            )


def test_everything_created_is_in_the_catalogue(bicep: Any) -> None:
    for placement, relative in STORAGE_FILE.items():
        for kind, resource_type in RESOURCE_TYPE.items():
            known = catalogue_names(placement, kind)
            if kind is StorageKind.QUEUE:
                known |= {f"{name}-poison" for name in known}
            if kind is StorageKind.CONTAINER:
                known |= {name for (where, name) in INFRA_CONTAINERS if where is placement}
            unknown = bicep.names(relative, resource_type) - known
            assert not unknown, (
                f"infra/{relative} creates {kind.value}s {sorted(unknown)} "
                f"that the catalogue does not declare as {placement.value}"
            )


def test_bucketed_tables_are_left_to_the_app(bicep: Any) -> None:
    bucketed = {entry.name for entry in CATALOGUE if entry.bucketed}
    for relative in bicep.documents:
        for kind_type in RESOURCE_TYPE.values():
            created = bicep.names(relative, kind_type) & bucketed
            assert not created, (
                f"infra/{relative} creates bucketed {sorted(created)}; the app makes <name><yyyymm>"
            )


def test_only_the_storage_modules_create_storage_items(bicep: Any) -> None:
    for relative in bicep.documents:
        if relative in STORAGE_FILE.values():
            continue
        for resource_type in RESOURCE_TYPE.values():
            assert not bicep.names(relative, resource_type), (
                f"infra/{relative} creates {resource_type}; keep them in {sorted(STORAGE_FILE.values())}"
            )


def test_stamps_are_granted_exactly_the_control_tables(bicep: Any) -> None:
    control_other = catalogue_names(Placement.CONTROL, StorageKind.QUEUE) | catalogue_names(
        Placement.CONTROL, StorageKind.CONTAINER
    )
    assert not control_other, (
        f"control queues/containers {sorted(control_other)}: "
        f"infra/{CONTROL_ACCESS} grants tables only; extend it"
    )
    granted = bicep.names(CONTROL_ACCESS, RESOURCE_TYPE[StorageKind.TABLE], existing=True)
    assert granted == catalogue_names(Placement.CONTROL, StorageKind.TABLE), (
        f"infra/{CONTROL_ACCESS} grants {sorted(granted)}, the catalogue's control tables are "
        f"{sorted(catalogue_names(Placement.CONTROL, StorageKind.TABLE))}"
    )


def test_lifecycle_rules_match_the_catalogue(bicep: Any) -> None:
    relative = STORAGE_FILE[Placement.REGIONAL]
    rules = bicep.variable(relative, "blobRetention")
    assert isinstance(rules, list), f"infra/{relative}: `var blobRetention` must be a literal list"
    containers = {entry.name: entry for entry in CATALOGUE if entry.kind is StorageKind.CONTAINER}
    created = bicep.names(relative, RESOURCE_TYPE[StorageKind.CONTAINER])
    for rule in rules:
        name, days = rule.get("container"), rule.get("days")
        assert name in created, f"lifecycle rule for {name}, a container infra/{relative} does not create"
        entry = containers.get(name)
        assert entry is not None and entry.placement is Placement.REGIONAL, (
            f"{name} is not a regional container"
        )
        assert isinstance(days, int) and days > 0, (
            f"lifecycle rule for {name}: days must be a positive number"
        )
        assert re.search(rf"\b{days} days?\b", entry.retention), (
            f"lifecycle rule deletes {name} after {days} days; "
            f"its catalogue retention says {entry.retention!r}"
        )

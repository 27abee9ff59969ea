"""The storage catalogue refuses anything it does not declare."""

import json
from pathlib import Path

import pytest

from shared.storage import catalogue
from shared.storage.catalogue import Placement, StorageKind, StoredData, UndeclaredStorageError, declared
from shared.storage.queues import MESSAGE_ENCODING


def test_declared_names_resolve_and_others_are_refused() -> None:
    assert declared(StorageKind.TABLE, "partnerdirectory").placement is Placement.CONTROL
    with pytest.raises(UndeclaredStorageError):
        declared(StorageKind.TABLE, "scratch")
    with pytest.raises(UndeclaredStorageError):
        declared(StorageKind.QUEUE, "partnerdirectory")  # right name, wrong kind


def test_bucketed_tables_accept_only_month_suffixes(monkeypatch: pytest.MonkeyPatch) -> None:
    events = StoredData("events", StorageKind.TABLE, Placement.REGIONAL, ("audit",), "p", "b", "r", True)
    monkeypatch.setattr(catalogue, "CATALOGUE", (events,))
    assert declared(StorageKind.TABLE, "events202611") is events
    for bad in ("events", "events2026", "eventsabcdef", "events2026111"):
        with pytest.raises(UndeclaredStorageError):
            declared(StorageKind.TABLE, bad)


def test_every_entry_says_why_and_how_long() -> None:
    for entry in catalogue.CATALOGUE:
        assert entry.purpose and entry.legal_basis and entry.retention and entry.categories, entry.name


def test_enqueue_encoding_matches_host_json() -> None:
    host = json.loads((Path(__file__).resolve().parents[2] / "host.json").read_text())
    assert host["extensions"]["queues"]["messageEncoding"] == MESSAGE_ENCODING

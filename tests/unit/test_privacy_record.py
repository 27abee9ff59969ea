"""The record of processing and the sub-processor list follow the declarations."""

from __future__ import annotations

from shared.privacy.record import processing_record, subprocessors_by_region
from shared.settings import Subprocessor
from shared.storage.catalogue import CATALOGUE


def test_every_declared_store_is_an_activity_with_subjects_and_a_role() -> None:
    record = processing_record()
    assert len(record.activities) == len(CATALOGUE)
    for activity, entry in zip(record.activities, CATALOGUE, strict=True):
        assert activity.store.startswith(entry.name)
        assert activity.retention == entry.retention and activity.purpose == entry.purpose
        assert activity.data_subjects and activity.role
    roles = {a.store: a.role for a in record.activities}
    assert roles["personnel"] == "controller"


def test_subprocessors_apply_to_every_region_unless_they_name_some() -> None:
    everywhere = Subprocessor(name="A", service="s", purpose="p", location="l")
    eu_only = Subprocessor(name="B", service="s", purpose="p", location="l", regions=("eu",))
    listing = subprocessors_by_region(("eu", "us"), (everywhere, eu_only))
    names = {item.region: [s.name for s in item.subprocessors] for item in listing.items}
    assert names == {"eu": ["A", "B"], "us": ["A"]}

"""Every catalogue entry that may hold data about a person is reached by data-subject rights: the
subject index finds it, the export carries it and the erasure certificate counts it under a subject
category, or a stated path reaches it (shared/privacy/subjects/reach.py). Asks the catalogue, so a
new personal table without a path fails here."""

from __future__ import annotations

from typing import get_args

from shared.privacy.subjects import Category
from shared.privacy.subjects.reach import REACH
from shared.storage.catalogue import CATALOGUE, StoredData

# Kinds of data that name no person. Everything else in the catalogue counts as personal, so a new
# entry is personal until its categories say otherwise.
_NOT_PERSONAL = {
    "partner routing",
    "configuration",
    "billing/administration records",
    "cryptographic keys (per data subject, wrapped)",
}
_NOT_PERSONAL_MARKS = ("no personal data", "ids only", "job state", "no event content")


def personal(entry: StoredData) -> bool:
    def names_people(category: str) -> bool:
        return category not in _NOT_PERSONAL and not any(mark in category for mark in _NOT_PERSONAL_MARKS)

    return entry.name == "subjectkeys" or any(names_people(c) for c in entry.categories)


def test_every_personal_catalogue_entry_is_reached_by_subject_rights() -> None:
    unreached = sorted(e.name for e in CATALOGUE if personal(e) and e.name not in REACH)
    assert unreached == []


def test_the_catalogue_marks_the_known_personal_entries_personal() -> None:
    # The rule above is not vacuous: the entries holding people's data are found by it.
    names = {e.name for e in CATALOGUE if personal(e)}
    assert {"tenantusers", "orgusers", "devices", "tenantlifecycle", "apicalls", "sessionevents"} <= names
    assert {"partnerdirectory", "tenantsyncs", "notices"}.isdisjoint(names)


def test_reach_names_catalogue_entries_and_subject_categories() -> None:
    catalogued = {e.name for e in CATALOGUE}
    categories = set(get_args(Category))
    assert sorted(set(REACH) - catalogued) == []
    for name, reach in REACH.items():
        assert reach.categories or reach.path, name
        assert set(reach.categories) <= categories, name

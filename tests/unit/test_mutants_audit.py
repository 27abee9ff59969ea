"""Sealing of subjects' fields in audit events: what is sealed, who can open it, what erasure leaves."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.audit.context import diff
from shared.audit.seal import (
    ERASED,
    PREFIX,
    EventSubject,
    is_sealed,
    kid_of,
    master_key_bytes,
    new_master_key,
    open_tree,
    seal_fields,
    seal_value,
)

PARTNER, OTHER = "01PARTNERAAAAAAAAAAAAAAAAA", "01PARTNERBBBBBBBBBBBBBBBBBB"
KID = "kid1"
KEY = os.urandom(32)


def keys(kid: str) -> bytes | None:
    return KEY if kid == KID else None


@pytest.mark.parametrize("value", ["ada@contoso.example", {"name": "Ada", "n": 3}, [1, "x"], 0, None, True])
def test_a_sealed_value_opens_to_itself_for_its_partner_only(value: Any) -> None:
    sealed = seal_value(PARTNER, KID, KEY, value)
    assert is_sealed(sealed) and sealed.startswith(f"{PREFIX}{KID}:") and kid_of(sealed) == KID
    assert open_tree(PARTNER, sealed, keys) == value
    # The partner and the kid are bound in as associated data: another partner's log cannot open it.
    assert open_tree(OTHER, sealed, keys) == ERASED


def test_sealing_twice_never_gives_the_same_text() -> None:
    assert seal_value(PARTNER, KID, KEY, "x") != seal_value(PARTNER, KID, KEY, "x")


def test_a_sealed_value_whose_key_is_gone_or_wrong_reads_as_erased() -> None:
    sealed = seal_value(PARTNER, KID, KEY, "ada")
    assert open_tree(PARTNER, sealed, lambda kid: None) == ERASED
    assert open_tree(PARTNER, sealed, lambda kid: os.urandom(32)) == ERASED
    moved = sealed.replace(f"{PREFIX}{KID}:", f"{PREFIX}kid2:")
    assert open_tree(PARTNER, moved, lambda kid: KEY) == ERASED


def test_open_tree_opens_sealed_strings_at_any_depth_and_leaves_the_rest() -> None:
    sealed = seal_value(PARTNER, KID, KEY, "ada")
    tree = {"a": [1, {"b": sealed}], "c": "enc:v2:not-ours", "d": None}
    assert open_tree(PARTNER, tree, keys) == {"a": [1, {"b": "ada"}], "c": "enc:v2:not-ours", "d": None}
    assert not is_sealed(3) and not is_sealed("enc:v1") and is_sealed("enc:v1:")


def test_only_the_subjects_fields_are_sealed_and_changes_on_both_sides() -> None:
    subject = EventSubject("tenant~t1", "u1", ("target.mail", "changes", "details.note", "details.absent"))
    parts = {
        "target": {"id": "u1", "mail": "ada@contoso.example"},
        "changes": {
            "mail": {"before": "old@x.example", "after": "new@x.example"},
            "x": {"before": None, "after": 1},
        },
        "details": {"note": "private", "kept": "public", "empty": None},
    }
    sealed = seal_fields(PARTNER, KID, KEY, subject, parts)
    assert sealed["target"]["id"] == "u1" and is_sealed(sealed["target"]["mail"])
    assert is_sealed(sealed["changes"]["mail"]["before"]) and is_sealed(sealed["changes"]["mail"]["after"])
    # Nothing is sealed where nothing was: a None stays None (and says nothing).
    assert sealed["changes"]["x"]["before"] is None and is_sealed(sealed["changes"]["x"]["after"])
    assert is_sealed(sealed["details"]["note"]) and sealed["details"]["kept"] == "public"
    assert "absent" not in sealed["details"] and sealed["details"]["empty"] is None
    assert open_tree(PARTNER, sealed, keys) == parts
    # The caller's dicts are not sealed in place.
    assert parts["target"]["mail"] == "ada@contoso.example"


def test_a_section_that_is_not_an_object_is_left_alone_and_the_next_field_still_sealed() -> None:
    subject = EventSubject("tenant~t1", "u1", ("target.mail", "details.note"))
    sealed = seal_fields(PARTNER, KID, KEY, subject, {"target": "u1", "details": {"note": "private"}})
    assert sealed["target"] == "u1" and is_sealed(sealed["details"]["note"])


def test_only_changes_is_sealed_as_a_whole_section() -> None:
    # A field path naming another section whole ("details") names no field: nothing is sealed.
    subject = EventSubject("tenant~t1", "u1", ("details",))
    parts = {"details": {"step": {"before": "a", "after": "b"}}}
    assert seal_fields(PARTNER, KID, KEY, subject, parts) == parts


def test_dates_and_other_values_json_lacks_are_sealed_as_their_text() -> None:
    moment = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert open_tree(PARTNER, seal_value(PARTNER, KID, KEY, moment), keys) == str(moment)
    subject = EventSubject("tenant~t1", "u1", ("target.mail",))
    sealed = seal_fields(PARTNER, KID, KEY, subject, {"target": {"mail": "a@b.example", "at": moment}})
    assert sealed["target"]["at"] == str(moment)
    assert open_tree(PARTNER, sealed, keys) == {"target": {"mail": "a@b.example", "at": str(moment)}}


def test_every_sealed_text_opens_whatever_its_last_character() -> None:
    # The encoding drops base64 padding; nothing else may go from the end (a random nonce makes
    # every character turn up at the end within a few hundred values).
    for n in range(500):
        assert open_tree(PARTNER, seal_value(PARTNER, KID, KEY, n), keys) == n


def test_the_master_key_is_32_bytes_of_base64url_with_or_without_padding() -> None:
    fresh = new_master_key()
    assert len(master_key_bytes(fresh)) == 32 and "=" not in fresh
    assert master_key_bytes(f"  {fresh}=\n") == master_key_bytes(fresh)
    with pytest.raises(ValueError, match=r"^the subject master key must be 32 bytes, base64url$"):
        master_key_bytes(base64.urlsafe_b64encode(os.urandom(16)).decode())


def test_diff_keeps_exactly_the_fields_that_changed_in_name_order() -> None:
    before = {"b": 1, "a": "x", "same": 2, "gone": 3}
    after = {"a": "y", "b": 1, "same": 2, "new": None, "added": 4}
    assert diff(before, after) == {
        "a": {"before": "x", "after": "y"},
        "added": {"before": None, "after": 4},
        "gone": {"before": 3, "after": None},
    }
    assert list(diff(before, after)) == ["a", "added", "gone"]

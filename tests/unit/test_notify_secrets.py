"""Secrets of the notifications area: the token envelope and the device-secret format."""

from __future__ import annotations

import pytest

from shared.keys import pepper_ring
from shared.notifications.devices import target_hasher, target_text
from shared.notifications.models import DeviceIn
from shared.notifications.secrets import (
    TokenCipher,
    hash_key,
    key_matches,
    new_device_secret,
    new_encryption_key,
    new_webhook_key,
    parse_device_secret,
    webhook_key_partner,
)

ORG = "3f1c8a52-6b0e-ef11-9f89-000d3a3b1c2e"


def test_the_envelope_opens_only_for_its_row_and_survives_key_rotation() -> None:
    old_key, new_key = new_encryption_key(), new_encryption_key()
    sealed = TokenCipher(old_key).seal("fcm-token-123", f"{ORG}|D1")
    assert "fcm-token-123" not in sealed and sealed.startswith("v1.")
    assert TokenCipher(old_key).open(sealed, f"{ORG}|D1") == "fcm-token-123"
    with pytest.raises(Exception):  # noqa: B017 - cryptography's InvalidTag
        TokenCipher(old_key).open(sealed, f"{ORG}|D2")  # copied to another device's row
    rotated = TokenCipher(f"{new_key},{old_key}")
    assert rotated.open(sealed, f"{ORG}|D1") == "fcm-token-123"
    assert rotated.seal("x", "c").split(".")[1] != sealed.split(".")[1]
    with pytest.raises(ValueError, match="unknown envelope"):
        TokenCipher(new_key).open(sealed, f"{ORG}|D1")
    with pytest.raises(ValueError):
        TokenCipher("c2hvcnQ")


def test_device_secrets_name_their_org_and_device_and_are_stored_as_peppered_hashes() -> None:
    secret = new_device_secret(ORG, "01J0000000000000000000000A")
    parsed = parse_device_secret(secret)
    assert parsed is not None and (parsed.org_id, parsed.device_id) == (ORG, "01J0000000000000000000000A")
    assert parse_device_secret(secret + "x") is None and parse_device_secret("tk_abc") is None
    stored = hash_key(secret, "pepper")
    assert secret not in stored and key_matches(secret, stored, "pepper")
    assert not key_matches(secret, stored, "other pepper")
    targets = target_hasher(pepper_ring("p"))
    token, fid = DeviceIn(systemUserId=ORG, token="t"), DeviceIn(systemUserId=ORG, fid="t")
    assert targets.hash(target_text(ORG, token)) != targets.hash(target_text(ORG, fid))


def test_a_webhook_key_names_its_partner_only_as_a_candidate_for_a_point_read() -> None:
    partner = "01J0000000000000000000000P"
    key = new_webhook_key(partner)
    assert webhook_key_partner(key) == partner
    assert new_webhook_key(partner) != key  # the rest is random
    # Keys from before keys named their partner, and anything else, name nobody.
    for other in ("whk_" + "A" * 43, "whk_wrong", f"whk_{partner}_short", "tk_x", ""):
        assert webhook_key_partner(other) is None

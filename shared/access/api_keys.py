"""API-key secrets: their format, the peppered hash that is all we store, and rotation's overlap.

An API key's hash is `shared.keys`' keyed hash for the `api-key` purpose (its key id stored with
it); a hash stored before key ids is the old `hash_key` and still verifies, and is re-keyed when
its key is next presented. `hash_key`/`key_matches` stay the old derivation, which webhook keys,
device keys and device secrets still use.

A rotation keeps the replaced secret's hash beside the new one until a moment (`previousUntil`),
so callers switch over without a refused call; past that moment only the new secret works.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.clock import parse_iso
from shared.keys import API_KEY, KeyedHasher, KeyRing, Verified, legacy_hmac

# tk_<partner id>_<key id>_<secret>: the ids make lookup a point read (no scan over keys);
# only the secret part is unguessable.
_FORMAT = re.compile(r"^tk_(?P<partner>[0-9A-Z]{26})_(?P<key>[0-9A-Z]{26})_(?P<secret>[A-Za-z0-9_\-]{43})$")


@dataclass(frozen=True)
class ParsedKey:
    partner_id: str
    key_id: str
    secret: str


def make_key(partner_id: str, key_id: str) -> str:
    return f"tk_{partner_id}_{key_id}_{secrets.token_urlsafe(32)}"


def parse_key(text: str) -> ParsedKey | None:
    match = _FORMAT.match(text)
    if not match:
        return None
    return ParsedKey(match["partner"], match["key"], match["secret"])


def hash_key(full_key: str, pepper: str) -> str:
    return hmac.new(pepper.encode(), full_key.encode(), hashlib.sha256).hexdigest()


def key_matches(full_key: str, stored_hash: str, pepper: str) -> bool:
    return hmac.compare_digest(hash_key(full_key, pepper), stored_hash)


def matches_with_overlap(
    given: str,
    current_hash: str,
    *,
    previous_hash: str | None,
    previous_until: datetime | None,
    pepper: str,
    now: datetime,
) -> bool:
    """The current secret, or the one a rotation replaced while its overlap lasts (`now` before
    `previous_until`: one second after, it is refused). Both hashes are always computed and
    compared, so the answer takes the same time whichever matched."""
    if not given:
        return False
    current = key_matches(given, current_hash, pepper)
    previous = key_matches(given, previous_hash or "-", pepper)
    return current or (previous and previous_until is not None and now < previous_until)


def hasher(ring: KeyRing) -> KeyedHasher:
    """API-key hashes: the `api-key` purpose of the pepper's ring; keyless ones are `hash_key`'s."""
    return ring.hasher(API_KEY, legacy_hmac)


def check_key_row(full_key: str, entity: Mapping[str, Any], hashes: KeyedHasher, now: datetime) -> Verified:
    """A stored API-key row (`hash`, `previousHash`, `previousUntil`) against a presented key: the
    current secret (stale when its hash should be re-keyed), or the replaced one in its overlap
    (never re-keyed: it ends by itself). Both are checked, whichever matches."""
    current = hashes.verify(full_key, str(entity["hash"]))
    until = entity.get("previousUntil")
    previous = hashes.verify(full_key, str(entity.get("previousHash") or ""))
    if current.ok:
        return current
    in_overlap = bool(until) and now < parse_iso(str(until))
    return Verified(ok=previous.ok and in_overlap)

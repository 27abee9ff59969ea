"""API-key secrets: their format, and the peppered hash that is all we store."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

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

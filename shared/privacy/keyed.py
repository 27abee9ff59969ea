"""Keyed hashes of personal identifiers (HMAC-SHA256), one key per purpose, all from the pepper.

A keyed hash lets us find a subject again (an index, a duplicate check, a revocation) without
storing or logging who they are: without the key nobody can confirm a guessed address. The key
must stay the same for years, so it is derived from the never-rotated API-key pepper, and each
purpose gets its own key (domain separation), so a hash from one place cannot be matched in
another and none can be matched against an API-key hash made with the pepper itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

REQUESTS = b"tenantry data-subject requests"
CONSENT = b"tenantry consent subject keys"
SUBJECT_INDEX = b"tenantry subject index"
CONTACT_RECORDS = b"tenantry contact records"  # complainants and correspondents, by e-mail


class KeyedHash:
    """HMAC-SHA256 under `HMAC(pepper, purpose)`."""

    __slots__ = ("_key",)

    def __init__(self, pepper: str, purpose: bytes):
        if not pepper:
            raise ValueError("a keyed hash needs a non-empty pepper")
        self._key = hmac.new(pepper.encode(), purpose, hashlib.sha256).digest()

    def digest(self, text: str) -> bytes:
        return hmac.digest(self._key, text.encode(), "sha256")  # one-shot: the fast path

    def hex(self, text: str) -> str:
        return self.digest(text).hex()

    def b64(self, text: str) -> str:
        """URL-safe base64 without padding (43 characters)."""
        return base64.urlsafe_b64encode(self.digest(text)).decode().rstrip("=")

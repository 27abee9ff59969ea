"""Secrets of the notifications area: their formats, peppered hashes, and the device-token envelope.

Webhook keys, device keys and device secrets are random; we store only their keyed hash
(`shared.keys`: a purpose each, under the pepper's current version, the key id beside it) and
compare in constant time. `hash_key` is the old derivation (HMAC keyed with the pepper itself, no
key id): rows stored that way verify as version 1 and are re-keyed when their secret is next
presented; it stays exported for seeding such rows. A device secret carries the org
and device ids (like API keys carry theirs) so that checking it is a point read, never a scan.

Device tokens (FCM registration tokens, installation ids) must be sent again, so they are
encrypted: AES-256-GCM with a key from settings (Key Vault in Azure). The envelope is
`v1.<key id>.<base64url(nonce | ciphertext+tag)>`; the associated data binds it to its org and
device, so a ciphertext copied to another row does not decrypt. Several keys may be configured
(comma-separated, the first encrypts): rotation adds a key in front, old rows still decrypt, and
the re-keying job seals stored ones again under the first (`reseal`; `shared/storage/rekeying.py`).
`cryptography` is imported at first use (cold start).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from typing import Any

from shared.access.api_keys import hash_key, key_matches

__all__ = ["TokenCipher", "hash_key", "key_matches"]

_DEVICE_SECRET = re.compile(
    r"^ds_(?P<org>[0-9a-f]{32})_(?P<device>[0-9A-Z]{26})_(?P<secret>[A-Za-z0-9_\-]{43})$"
)


# whk_<partner id>_<secret>: the partner id finds a pending registration with a point read (as
# API keys carry theirs); keys made before claims existed are whk_<secret> and belong to claimed orgs.
_WEBHOOK_KEY = re.compile(r"^whk_(?P<partner>[0-9A-Z]{26})_[A-Za-z0-9_\-]{43}$")


def new_webhook_key(partner_id: str) -> str:
    return f"whk_{partner_id}_{secrets.token_urlsafe(32)}"


def webhook_key_partner(text: str) -> str | None:
    """The partner id a webhook key names (only a candidate: the key's hash decides)."""
    match = _WEBHOOK_KEY.match(text)
    return match["partner"] if match else None


def new_device_key() -> str:
    return "dk_" + secrets.token_urlsafe(24)


def new_device_secret(org_id: str, device_id: str) -> str:
    return f"ds_{org_id.replace('-', '')}_{device_id}_{secrets.token_urlsafe(32)}"


@dataclass(frozen=True)
class ParsedDeviceSecret:
    org_id: str
    device_id: str


def parse_device_secret(text: str) -> ParsedDeviceSecret | None:
    match = _DEVICE_SECRET.match(text)
    if not match:
        return None
    raw = match["org"]
    org = f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"
    return ParsedDeviceSecret(org, match["device"])


def idempotency_hash(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


class TokenCipher:
    """AES-256-GCM envelope for device tokens (and transient payloads)."""

    def __init__(self, keys_text: str):
        keys = [part.strip() for part in keys_text.split(",") if part.strip()]
        if not keys:
            raise ValueError("no device-token encryption key configured")
        self._keys: dict[str, bytes] = {}
        self._current = ""
        for index, text in enumerate(keys):
            key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            if len(key) != 32:
                raise ValueError("a device-token key is 32 bytes, base64-encoded")
            key_id = hashlib.sha256(key).hexdigest()[:8]
            self._keys[key_id] = key
            if index == 0:
                self._current = key_id
        self._aead: dict[str, Any] = {}

    def _cipher(self, key_id: str) -> Any:
        cipher = self._aead.get(key_id)
        if cipher is None:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            cipher = self._aead[key_id] = AESGCM(self._keys[key_id])
        return cipher

    def seal(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(12)
        sealed = self._cipher(self._current).encrypt(nonce, plaintext.encode(), context.encode())
        return f"v1.{self._current}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def open(self, envelope: str, context: str) -> str:
        version, key_id, data = envelope.split(".", 2)
        if version != "v1" or key_id not in self._keys:
            raise ValueError("unknown envelope version or key")
        raw = base64.urlsafe_b64decode(data)
        plain: bytes = self._cipher(key_id).decrypt(raw[:12], raw[12:], context.encode())
        return plain.decode()

    @property
    def current_key_id(self) -> str:
        """The id of the key that seals (the first configured)."""
        return self._current

    def key_ids(self) -> list[str]:
        """Every configured key's id, the sealing one first."""
        return list(self._keys)

    @staticmethod
    def key_id_of(envelope: str) -> str:
        """The id of the key an envelope was sealed with."""
        return envelope.split(".", 2)[1] if envelope.count(".") >= 2 else ""

    def reseal(self, envelope: str, context: str) -> str | None:
        """The envelope sealed again under the current key, or None when it already is."""
        if self.key_id_of(envelope) == self._current:
            return None
        return self.seal(self.open(envelope, context), context)


def new_encryption_key() -> str:
    """A fresh key for DEVICE_TOKEN_KEY (operators: store it in Key Vault)."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")

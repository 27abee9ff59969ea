"""Links of the audit chains: HMAC-SHA256 under versioned audit MAC keys; bare SHA-256 for older events.

Someone who can write the events table can edit an event and recompute a bare SHA-256 chain after
it; they cannot recompute an HMAC without the audit MAC key, which lives in Key Vault, not in the
storage account. Each event stores the id of the key it was MACed with (`kid`), so keys rotate: the
first key of `AUDIT_MAC_KEYS` MACs new events, every listed key still verifies. Events written
before the keyed chain have no `kid` and keep verifying by SHA-256, as they always did.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from typing import Any

_KID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
_MIN_KEY_BYTES = 32


def new_mac_key(kid: str) -> str:
    """A fresh `AUDIT_MAC_KEYS` entry (`kid=<32 random bytes, base64url>`); prepend it to rotate."""
    return f"{kid}={base64.urlsafe_b64encode(secrets.token_bytes(_MIN_KEY_BYTES)).decode().rstrip('=')}"


class MacKeys:
    """`kid=key` pairs, comma-separated: the first MACs new events, all verify."""

    def __init__(self, spec: str):
        self._keys: dict[str, bytes] = {}
        self._signing: str | None = None
        for part in (p.strip() for p in spec.split(",")):
            if not part:
                continue
            kid, sep, encoded = part.partition("=")
            if not sep or not _KID.fullmatch(kid):
                raise ValueError(
                    "AUDIT_MAC_KEYS entries are kid=base64url-key (kid: 1-16 of A-Z a-z 0-9 _ -)"
                )
            try:
                key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            except (binascii.Error, ValueError) as error:
                raise ValueError(f"AUDIT_MAC_KEYS key {kid!r} is not base64url") from error
            if len(key) < _MIN_KEY_BYTES:
                raise ValueError(f"AUDIT_MAC_KEYS key {kid!r} needs at least {_MIN_KEY_BYTES} bytes")
            if kid in self._keys:
                raise ValueError(f"AUDIT_MAC_KEYS names key {kid!r} twice")
            self._keys[kid] = key
            self._signing = self._signing or kid
        if self._signing is None:
            raise ValueError("AUDIT_MAC_KEYS needs at least one key")

    @property
    def signing_kid(self) -> str:
        assert self._signing is not None  # the constructor refuses an empty list
        return self._signing

    def get(self, kid: str) -> bytes | None:
        return self._keys.get(kid)


def canonical(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def hashed_fields(entity: dict[str, Any]) -> dict[str, Any]:
    fields = {
        "id": entity["id"],
        "at": entity["at"],
        "lane": entity["lane"],
        "seq": entity["seq"],
        "prev": entity["prev"],
        "action": entity["action"],
        "actor": entity["actor"],
        "target": entity["target"],
        "changes": entity["changes"],
        "requestId": entity.get("requestId"),
        "clientIp": entity.get("clientIp"),
        "details": entity["details"],
    }
    if entity.get("tenantId"):
        # Only when present: events written before events named their tenant keep their hash.
        fields["tenantId"] = entity["tenantId"]
    if entity.get("kid"):
        fields["kid"] = entity["kid"]  # the key id is MACed too: it cannot be swapped afterwards
    return fields


def sha256_link(entity: dict[str, Any]) -> str:
    """The link of an event written before the keyed chain (no `kid`)."""
    return hashlib.sha256(canonical(hashed_fields(entity))).hexdigest()


def mac_link(entity: dict[str, Any], key: bytes) -> str:
    return hmac.new(key, canonical(hashed_fields(entity)), hashlib.sha256).hexdigest()


def link(entity: dict[str, Any], keys: MacKeys) -> str | None:
    """The link the event should store: its MAC under its `kid`, or SHA-256 when it has none;
    None when it names a key we do not hold (it cannot be checked, so it does not verify)."""
    kid = entity.get("kid")
    if not kid:
        return sha256_link(entity)
    key = keys.get(str(kid))
    return mac_link(entity, key) if key is not None else None


def links_correctly(entity: dict[str, Any], keys: MacKeys) -> bool:
    expected = link(entity, keys)
    return expected is not None and hmac.compare_digest(expected, str(entity.get("hash", "")))

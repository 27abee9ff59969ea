"""The product's keyed hashes: versioned master keys, one HKDF-derived secret per purpose, key ids.

One master (say the pepper, `API_KEY_PEPPER`) has versions: version 1 is the setting as it always
was, later versions come from a JSON map (`{"2": "<secret>"}`); the highest version derives every
new hash, every configured version still verifies. Each purpose (API keys, webhook keys, the
subject index...) gets its own secret, `HKDF-SHA256(master version, info="tenantry/<master>/
<purpose>")`, so a hash made for one purpose never matches in another and none is the master itself.

A stored hash carries its key id: `<master>.v<version>:<hex HMAC-SHA256>`. A value without one was
written before this module, with the purpose's old derivation (the purpose's `legacy` function over
version 1): it still verifies, and reads as version 1 in the report. When a one-way hash verifies
under any version but the current one, `Verified.stale` tells the caller to store `rehash` (the
secret is in hand only now). A master version may be dropped once `dependency_report` counts
nothing under it. `cryptography`'s HKDF is imported at first use (cold start).

The same helper keys lookups (`lookup_hasher`: device tokens, the subject index, consent subject
keys, data-subject requests, complaint and correspondence contacts): a row is written under
`hash(text)` and found by trying `lookups(text)` in order, the current version first, so a row
already there costs one read; one found under an older form is moved by its caller.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache

LEGACY = "legacy"  # the key id reported for values stored without one (version 1, old derivation)


@dataclass(frozen=True)
class MasterKey:
    """A master secret's versions (version -> secret); the highest one derives what is new."""

    name: str
    versions: Mapping[int, bytes]

    def __post_init__(self) -> None:
        if not self.name.isalnum() or not self.name.islower():
            raise ValueError("a master's name is lower-case letters and digits (it is part of key ids)")
        if not self.versions or any(v < 1 or not secret for v, secret in self.versions.items()):
            raise ValueError(f"master '{self.name}' needs at least one non-empty version numbered from 1")

    @property
    def current(self) -> int:
        return max(self.versions)

    def secrets(self) -> list[str]:
        """Every version's secret as text (for the log redactor to know them)."""
        return [secret.decode() for secret in self.versions.values()]

    @classmethod
    def from_settings(cls, name: str, first: str, more: str = "") -> MasterKey:
        """Version 1 from the original setting (empty once it is dropped), later ones from a JSON
        map of version -> secret (`{"2": "..."}`)."""
        versions: dict[int, bytes] = {1: first.encode()} if first else {}
        if more.strip():
            data = json.loads(more)
            if not isinstance(data, dict):
                raise ValueError(f"the later versions of '{name}' are a JSON object of version -> secret")
            for version, secret in data.items():
                if not str(version).isdigit() or int(version) < 2 or not isinstance(secret, str):
                    raise ValueError(f"'{name}' version {version!r}: versions from 2 up, each a string")
                versions[int(version)] = secret.encode()
        return cls(name, versions)


def key_id(master: str, version: int) -> str:
    return f"{master}.v{version}"


@dataclass(frozen=True)
class Verified:
    """A check's outcome: `ok`; `stale` when it matched under an older version (or no key id), so
    the caller should store `rehash` (the same secret under the current version)."""

    ok: bool
    stale: bool = False
    rehash: str | None = None


class KeyRing:
    """The per-purpose secrets of one master, derived once per (purpose, version) and kept."""

    def __init__(self, master: MasterKey):
        self.master = master
        self._derived: dict[tuple[str, int], bytes] = {}
        self._lock = threading.Lock()

    @property
    def current(self) -> int:
        return self.master.current

    def secret(self, purpose: str, version: int) -> bytes:
        """HKDF-SHA256 of the master's `version`, bound to the purpose (32 bytes)."""
        cached = self._derived.get((purpose, version))
        if cached is not None:
            return cached
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        info = f"tenantry/{self.master.name}/{purpose}".encode()
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(
            self.master.versions[version]
        )
        with self._lock:
            self._derived[(purpose, version)] = derived
        return derived

    def hasher(self, purpose: str, legacy: Callable[[str, str], str] | None = None) -> KeyedHasher:
        """The keyed hash of one purpose; `legacy(text, version-1 secret)` is how values without a
        key id were made (None: there are none)."""
        return KeyedHasher(self, purpose, legacy)


class KeyedHasher:
    """HMAC-SHA256 under a purpose's secret, stored as `<key id>:<hex>`."""

    def __init__(self, ring: KeyRing, purpose: str, legacy: Callable[[str, str], str] | None):
        if not purpose or ":" in purpose:
            raise ValueError("a purpose is a non-empty name without ':'")
        self.ring = ring
        self.purpose = purpose
        self._legacy = legacy

    def hash(self, text: str, version: int | None = None) -> str:
        """The stored form under `version` (default: the current one)."""
        version = self.ring.current if version is None else version
        digest = hmac.digest(self.ring.secret(self.purpose, version), text.encode(), hashlib.sha256)
        return f"{key_id(self.ring.master.name, version)}:{digest.hex()}"

    def version_of(self, stored: str) -> int | None:
        """The master version a stored value was made under (1 for one without a key id), or None
        when it names another master or a version this ring does not hold (it cannot verify)."""
        kid, sep, _ = stored.rpartition(":")
        if not sep:
            return 1 if self._legacy is not None and 1 in self.ring.master.versions else None
        name, _, version = kid.partition(".v")
        if name != self.ring.master.name or not version.isdigit():
            return None
        number = int(version)
        return number if number in self.ring.master.versions else None

    def verify(self, text: str, stored: str) -> Verified:
        """Constant-time check of `text` against a stored value, under the key id it records."""
        if not text or not stored:
            return Verified(ok=False)
        version = self.version_of(stored)
        if version is None:
            return Verified(ok=False)
        if ":" in stored:
            expected = self.hash(text, version)
        else:
            assert self._legacy is not None  # version_of answers None for legacy values otherwise
            expected = self._legacy(text, self.ring.master.versions[1].decode())
        if not hmac.compare_digest(expected.encode(), stored.encode()):
            return Verified(ok=False)
        stale = ":" not in stored or version != self.ring.current
        return Verified(ok=True, stale=stale, rehash=self.hash(text) if stale else None)

    def lookups(self, text: str) -> list[str]:
        """Every form `text` may be stored under (current version first, legacy last): an index
        keyed by the hash is read under each until one is found."""
        forms = [self.hash(text, v) for v in sorted(self.ring.master.versions, reverse=True)]
        if self._legacy is not None and 1 in self.ring.master.versions:
            forms.append(self._legacy(text, self.ring.master.versions[1].decode()))
        return forms

    def is_current(self, stored: str) -> bool:
        """Whether a stored value is under the current version (a row keyed by it needs no re-indexing)."""
        return ":" in stored and self.version_of(stored) == self.ring.current


def digest_part(stored: str) -> str:
    """The hash itself without its key id (what a shard is chosen by)."""
    return stored.rpartition(":")[2]


def verify_with_overlap(
    hashes: KeyedHasher, text: str, current: str, previous: str | None, *, in_overlap: bool
) -> Verified:
    """A secret against the current hash, or against the one a rotation replaced while its
    overlap lasts. Both are always checked (the time taken does not say which matched); only a
    current hash is re-keyed (`rehash`): a replaced one ends by itself."""
    now_ok = hashes.verify(text, current)
    before = hashes.verify(text, previous or "")
    if now_ok.ok:
        return now_ok
    return Verified(ok=before.ok and in_overlap)


def stored_key_id(stored: str) -> str:
    """The key id a stored value records (`LEGACY` for one written before key ids)."""
    kid, sep, _ = stored.rpartition(":")
    return kid if sep else LEGACY


def dependency_report(stored: Iterable[str]) -> dict[str, int]:
    """How many stored values depend on each key id (`LEGACY` counts toward version 1): a master
    version can be dropped when no count names it."""
    return dict(Counter(stored_key_id(value) for value in stored if value))


def legacy_hmac(text: str, pepper: str) -> str:
    """The old derivation of API-key, webhook-key, device-key and device-secret hashes:
    HMAC-SHA256 keyed with the pepper itself (hex)."""
    return hmac.new(pepper.encode(), text.encode(), hashlib.sha256).hexdigest()


API_KEY = "api-key"  # the purpose of API-key hashes (`apikeys.hash`, `previousHash`)
WEBHOOK_KEY = "webhook-key"  # an org's Dataverse webhook key (`orgs.webhookKeyHash`, `previous...`)
DEVICE_KEY = "device-key"  # an org's device enrolment key (`orgs.deviceKeyHash`)
DEVICE_SECRET = "device-secret"  # noqa: S105 - a purpose's name, not a secret; a push device's own secret (`devices.secretHash`)
PEPPER = "pepper"  # the master behind API_KEY_PEPPER
SIGN_IN_STATE = "sign-in-state"  # the admin-consent sign-in state's signing keys (`tenants.signin`)

# Lookup (index) hashes: a row is found by the hash of what the caller holds, so a reader tries
# `lookups(text)` in order (current version first: a row already there costs one read) and moves a
# row found under another form to `hash(text)`. Their `legacy` forms below are exactly what was
# stored before key ids (one derivation per purpose, over version 1), so those rows are still found.
DEVICE_TARGET = "device-target"  # a push device's token or installation id (`devices` index rows `i<hash>`)
SUBJECT_INDEX = "subject-index"  # the subject index's values and pointers, erasure markers (`subjectindex`)
CONSENT_SUBJECT = "consent-subject"  # consent subject and throttle keys (`consentcontacts`, `consentledger`)
SUBJECT_REQUEST = "subject-request"  # a data-subject request's `subjectHash` and its `~open~` claim
CONTACT_RECORD = "contact-record"  # complainants and correspondents by e-mail (`contactHash`)


def _labelled_hmac(label: bytes, *, b64: bool = False) -> Callable[[str, str], str]:
    """The old derivation of the privacy hashes: HMAC-SHA256 under `HMAC(pepper, label)`, hex or
    URL-safe base64 without padding."""

    def legacy(text: str, pepper: str) -> str:
        key = hmac.digest(pepper.encode(), label, hashlib.sha256)
        digest = hmac.digest(key, text.encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(digest).decode().rstrip("=") if b64 else digest.hex()

    return legacy


LOOKUP_LEGACY: Mapping[str, Callable[[str, str], str]] = {
    DEVICE_TARGET: legacy_hmac,  # the old `target_hash`: HMAC keyed with the pepper itself
    SUBJECT_INDEX: _labelled_hmac(b"tenantry subject index"),
    CONSENT_SUBJECT: _labelled_hmac(b"tenantry consent subject keys", b64=True),
    SUBJECT_REQUEST: _labelled_hmac(b"tenantry data-subject requests"),
    CONTACT_RECORD: _labelled_hmac(b"tenantry contact records"),
}


def lookup_hasher(ring: KeyRing, purpose: str) -> KeyedHasher:
    """The keyed hash of one lookup purpose, finding rows stored before key ids too."""
    return ring.hasher(purpose, LOOKUP_LEGACY[purpose])


@cache
def pepper_ring(pepper: str, later_versions: str = "") -> KeyRing:
    """The pepper master's ring: API_KEY_PEPPER is version 1, API_KEY_PEPPER_VERSIONS the rest
    (one ring per pair of values, so each purpose's secret is derived once per process)."""
    return KeyRing(MasterKey.from_settings(PEPPER, pepper, later_versions))

"""The consent ledger: a partner's marketing (newsletter) consents, with double opt-in, one-click
unsubscribe and a record of every grant and withdrawal (Art. 7(1) proof of consent).

Whose ledger: the partner's. A partner runs a newsletter for its own contacts and names its
purposes ("newsletter", "product-updates"); Tenantry keeps the ledger as its processor, in the
partner's region. Nothing here is shared across partners: the subject key mixes in the partner id.

Tables (all in the partner's region, PartitionKey = partner id unless said otherwise):

- `consentcontacts` (marketing contacts): one row per address and purpose, RowKey
  `<subject key>|<purpose>`; name, email and phone live only here and only while the consent is
  pending or granted. Withdrawal deletes the row at once.
- `consentledger` (consent records and revocations): RowKey `<subject key>|<purpose>|<consent
  id>|g` (granted) or `...|w` (withdrawn); holds the keyed hash of the address, never the address.
  Deterministic keys make every write an idempotent upsert. A withdrawal stamps `purgeAt`
  (withdrawal + 3 years) on every record of that consent; the retention sweep removes them then.

A subject key is the keyed hash of partner and address (`shared.keys`, purpose `consent-subject`)
under the pepper's current version. A lookup by address tries every form it may be stored under
(each configured version, then the base64 written before key ids) and moves a contact and its
records found under an older one to the current key; the contact's old key keeps a pointer
(`state` `moved`, `movedTo`) while links mailed before may name it, swept when they have expired.
- `consentoutbox`: what the partner's mailer must send (confirmation or "already subscribed"),
  RowKey a ULID. It holds a reference and a nonce, never a token: tokens are minted when the
  partner's mailer reads the outbox, so no token is ever stored or logged.
- `consentthrottle` (rate-limit counters): PartitionKey `<window end>-<shard>`, RowKey
  `<limit>:<keyed hash>` of the anonymised network or the address; removed by the sweep after 2 days.

Tokens are itsdangerous URL-safe signatures (HMAC-SHA256, one salt per token kind, keys from
CONSENT_TOKEN_KEYS: the first signs, all verify, so keys rotate without breaking links in mail
already sent). The expiry is inside the signed payload and read against the injectable clock.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from collections.abc import Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from shared.audit.log import AuditLog, NewEvent
from shared.clock import Clock, isoformat, parse_iso
from shared.errors import ProblemError
from shared.ids import new_id
from shared.keys import CONSENT_SUBJECT, KeyRing, dependency_report, digest_part, lookup_hasher, pepper_ring
from shared.models import ApiInput, ApiModel, UtcDateTime
from shared.partners.subscription import add_months
from shared.privacy.retention import Candidate, PartitionRows, RetentionRule, SweepScope, end_user_data_at
from shared.storage import tables

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

CONTACTS = "consentcontacts"
LEDGER = "consentledger"
OUTBOX = "consentoutbox"
THROTTLE = "consentthrottle"

MARKETING_CONTACTS = "marketing contacts"
CONSENT_REVOCATIONS = "consent revocations"
RATE_LIMIT_COUNTERS = "rate-limit counters"
CONSENT_RECORDS = "consent records"

MOVED = "moved"  # a contact's old key after a pepper rotation moved it: only `movedTo` and `expiresAt`

CONFIRM_TTL = timedelta(hours=48)
UNSUBSCRIBE_TTL = timedelta(days=400)  # a newsletter's link must work long after it was mailed
REVOCATION_MONTHS = 36  # 3 years of accountability after a withdrawal
THROTTLE_KEEP = timedelta(days=2)  # longer than the longest window

_PURPOSE = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
# ASCII on purpose: the API document states this pattern, and a class such as `\s` or `[^...]`
# means other characters to the ECMA regexes of clients and checkers than to Python's.
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


# --- the wire models ------------------------------------------------------------------------


class SubscribeIn(ApiInput):
    partner_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")
    # The pattern is the whole rule the server applies, so the document states it and no more: a
    # generic `format: email` checker takes addresses (quoted or non-ASCII local parts) we refuse,
    # and refuses ones we take.
    email: str = Field(min_length=3, max_length=254, json_schema_extra={"pattern": _EMAIL.pattern})
    name: str | None = Field(default=None, min_length=1, max_length=200)
    phone: str | None = Field(default=None, min_length=3, max_length=40, pattern=r"^[0-9+()\-. ]+$")
    purpose: str = Field(
        min_length=1,
        max_length=40,
        description="The partner's word, e.g. newsletter.",
        json_schema_extra={"pattern": _PURPOSE.pattern},
    )

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not _EMAIL.match(value):
            raise ValueError("must be an email address")
        return value

    @field_validator("purpose")
    @classmethod
    def _purpose(cls, value: str) -> str:
        if not _PURPOSE.match(value):
            raise ValueError("lowercase letters, digits and '-', starting with a letter")
        return value


class SubscribeAccepted(ApiModel):
    """The one answer to every well-formed subscription: it never says whether the address is known."""

    accepted: bool = True
    detail: str = "If this address can be subscribed, a confirmation message will be sent to it."


class TokenIn(ApiInput):
    token: str = Field(min_length=10, max_length=1024)


class ConsentState(ApiModel):
    purpose: str
    state: Literal["granted", "withdrawn"]
    at: UtcDateTime


class OutboxItem(ApiModel):
    """One message the partner's mailer must send, with the link token it must carry."""

    id: str
    kind: Literal["confirm", "alreadySubscribed"]
    email: str
    name: str | None
    purpose: str
    created_at: UtcDateTime
    confirm_token: str | None = None
    confirm_expires_at: UtcDateTime | None = None
    unsubscribe_token: str | None = None


class OutboxList(ApiModel):
    items: list[OutboxItem]


class ContactOut(ApiModel):
    """A marketing contact whose consent stands, with a fresh List-Unsubscribe token."""

    email: str
    name: str | None
    phone: str | None
    purpose: str
    state: Literal["pending", "granted"]
    requested_at: UtcDateTime
    granted_at: UtcDateTime | None
    unsubscribe_token: str | None = None


class ContactList(ApiModel):
    items: list[ContactOut]
    continuation_token: str | None


class LedgerEntry(ApiModel):
    subject_key: str = Field(description="Keyed hash of the address: the ledger never holds the address.")
    purpose: str
    consent_id: str
    action: Literal["granted", "withdrawn"]
    at: UtcDateTime
    method: str
    requested_at: UtcDateTime | None = None
    request_id: str | None = None
    purge_at: UtcDateTime | None = None


class LedgerList(ApiModel):
    items: list[LedgerEntry]
    continuation_token: str | None


class SubjectConsents(ApiModel):
    """Everything the ledger holds on one address of one partner (for access/portability exports)."""

    subject_key: str
    contacts: list[ContactOut]
    ledger: list[LedgerEntry]


# --- keys and tokens ------------------------------------------------------------------------


class ConsentKeys:
    """Keyed hashes (subject and network keys) and the signed link tokens."""

    CONFIRM = "tenantry.consent.confirm"
    UNSUBSCRIBE = "tenantry.consent.unsubscribe"

    def __init__(self, token_keys: str, hash_key: str, *, ring: KeyRing | None = None):
        keys = [k.strip() for k in token_keys.split(",") if k.strip()]
        if not keys or any(len(k) < 16 for k in keys):
            raise ValueError("CONSENT_TOKEN_KEYS needs at least one key of 16 characters or more")
        self._signing = keys
        # Revocations are looked up by the subject key for years: it is written under the pepper's
        # current version and looked up under every form (`subject_keys`); `hash_key` is the
        # pepper's version 1 (only that one unless handed the ring).
        self._hash_key = lookup_hasher(ring or pepper_ring(hash_key), CONSENT_SUBJECT)

    @staticmethod
    def _subject_text(partner_id: str, email: str) -> str:
        return f"subject\n{partner_id}\n{email.strip().lower()}"

    def subject_key(self, partner_id: str, email: str) -> str:
        return self._hash_key.hash(self._subject_text(partner_id, email))

    def subject_keys(self, partner_id: str, email: str) -> list[str]:
        """Every form the address's key may be stored under, the current one first."""
        return self._hash_key.lookups(self._subject_text(partner_id, email))

    def network_key(self, network: str) -> str:
        return self._hash_key.hash(f"network\n{network}")  # a counter's: it lives two days

    def _serializer(self, salt: str) -> Any:
        from itsdangerous import URLSafeSerializer

        # itsdangerous signs with the last key and verifies with all; the setting lists newest first.
        return URLSafeSerializer(
            list(reversed(self._signing)), salt=salt, signer_kwargs={"digest_method": hashlib.sha256}
        )

    def sign(self, salt: str, payload: dict[str, Any], expires: datetime) -> str:
        return str(self._serializer(salt).dumps({**payload, "e": int(expires.timestamp())}))

    def verify(self, salt: str, token: str, now: datetime) -> dict[str, Any]:
        from itsdangerous import BadData

        try:
            payload = self._serializer(salt).loads(token)
        except BadData:
            raise token_invalid() from None
        if not isinstance(payload, dict) or not all(isinstance(payload.get(k), str) for k in ("p", "r")):
            raise token_invalid()
        if "|" not in payload["r"]:
            raise token_invalid()
        expires = payload.get("e")
        if not isinstance(expires, int) or expires <= now.timestamp():
            raise ProblemError(
                410, "consent-token-expired", "The link has expired.", "Ask for a new confirmation message."
            )
        return payload


def token_invalid() -> ProblemError:
    return ProblemError(
        400, "consent-token-invalid", "The link is not valid.", "The token is not one we issued."
    )


def token_used() -> ProblemError:
    return ProblemError(
        409,
        "consent-token-used",
        "The link was already used.",
        "This confirmation link was used or replaced by a newer one.",
    )


def partner_of_token(keys: ConsentKeys, salt: str, token: str, now: datetime) -> str:
    """The partner a genuine, unexpired token names (so the edge can route to its region)."""
    return str(keys.verify(salt, token, now)["p"])


# --- rate limits ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Limit:
    name: str
    count: int
    window: timedelta


@dataclass(frozen=True)
class Limits:
    subscribe_per_network: Limit = Limit("sn", 20, timedelta(hours=1))
    subscribe_per_address: Limit = Limit("sa", 5, timedelta(days=1))
    token_per_network: Limit = Limit("tn", 60, timedelta(hours=1))
    # Each partner's form, whatever the networks: a flood spread over many addresses (a botnet)
    # stops at the partner's budget and cannot fill its contacts or outbox, nor another partner's.
    # A partner id nobody has is counted the same, so the answer tells nothing about it.
    public_per_partner: Limit = Limit("pp", 1000, timedelta(hours=1))


def _too_many(retry_after: int) -> ProblemError:
    return ProblemError(
        429,
        "too-many-requests",
        "Too many requests.",
        f"Try again in {retry_after} seconds.",
        headers={"Retry-After": str(retry_after)},
    )


class Throttle:
    """Fixed-window counters in table storage, shared by every instance of the app.

    A counter is read, then written back with its ETag; a lost race re-reads. Over the limit the
    counter is not written, so a flood costs one read per request.
    """

    ATTEMPTS = 6

    def __init__(self, account: AccountStorage, clock: Clock):
        self.account = account
        self.clock = clock

    def hit(self, limit: Limit, key: str) -> None:
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError, ResourceExistsError
        from azure.data.tables import UpdateMode

        now = self.clock.now()
        seconds = int(limit.window.total_seconds())
        start = datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, UTC)
        end = start + limit.window
        retry_after = max(1, math.ceil((end - now).total_seconds()))
        # Partitions are named by the window's end, so the sweep finds ended windows by key range.
        partition, row = f"{end:%Y%m%d%H%M}-{digest_part(key)[:1]}", f"{limit.name}:{key}"
        table = self.account.table(THROTTLE)
        for _ in range(self.ATTEMPTS):
            current = tables.get(table, partition, row)
            if current is None:
                try:
                    table.create_entity({"PartitionKey": partition, "RowKey": row, "count": 1})
                    return
                except ResourceExistsError:
                    continue
            count = int(current["count"])
            if count >= limit.count:
                raise _too_many(retry_after)
            try:
                table.update_entity(
                    {"PartitionKey": partition, "RowKey": row, "count": count + 1},
                    mode=UpdateMode.REPLACE,
                    etag=current.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
                return
            except HttpResponseError:
                continue
        raise _too_many(retry_after)  # this many writers at once on one key is a flood


# --- the ledger -----------------------------------------------------------------------------


def _maybe_time(value: Any) -> datetime | None:
    return parse_iso(value) if value else None


def _prefix_filter(partner_id: str, prefix: str) -> str:
    return f"{tables.partition(partner_id)} and {tables.prefix('RowKey', prefix)}"


class ConsentLedger:
    """One region's consent ledger. Every method is idempotent: a retry after a crash ends the same."""

    def __init__(
        self, account: AccountStorage, clock: Clock, keys: ConsentKeys, limits: Limits | None = None
    ):
        self.account = account
        self.clock = clock
        self.keys = keys
        self.limits = limits or Limits()
        self.throttle = Throttle(account, clock)
        self.log = AuditLog(account, clock)

    # --- public: subscribe, confirm, unsubscribe ----------------------------------------------

    def subscribe(self, request: SubscribeIn, network: str | None) -> SubscribeAccepted:
        """Double opt-in, step one. Known, pending and new addresses do the same storage work
        (a read per form the key may be stored under, one contact write, one outbox row), so
        neither the answer nor its timing tells (a move after a pepper rotation happens once)."""
        from azure.data.tables import UpdateMode

        partner_id = request.partner_id
        self.throttle.hit(self.limits.subscribe_per_network, self.keys.network_key(network or "unknown"))
        self.throttle.hit(self.limits.public_per_partner, self.keys.network_key(f"partner {partner_id}"))
        subjects = self.keys.subject_keys(partner_id, request.email)
        subject = subjects[0]
        self.throttle.hit(self.limits.subscribe_per_address, subject)
        row_key = f"{subject}|{request.purpose}"
        now = self.clock.now()
        # Every form is read, found or not, so a known address costs what an unknown one does; one
        # found under an older form moves to the current one first.
        found = [self._contact(partner_id, f"{form}|{request.purpose}", follow=False) for form in subjects]
        current = found[0]
        for old in found[1:]:
            if old is not None and old.get("state") != MOVED:
                self._move_contact(partner_id, old, subject)
                current = self._contact(partner_id, row_key)
        contacts = self.account.table(CONTACTS)
        if current is not None and current.get("state") == "granted":
            # Never overwrite a subscriber's details from an unauthenticated call; tell the owner.
            contacts.update_entity(
                {"PartitionKey": partner_id, "RowKey": row_key, "lastRequestAt": isoformat(now)},
                mode=UpdateMode.MERGE,
            )
            kind, nonce = "alreadySubscribed", ""
        else:
            nonce = secrets.token_urlsafe(16)
            contacts.upsert_entity(
                {
                    "PartitionKey": partner_id,
                    "RowKey": row_key,
                    "email": request.email,
                    "name": request.name,
                    "phone": request.phone,
                    "purpose": request.purpose,
                    "state": "pending",
                    "consentId": str(current["consentId"]) if current is not None else new_id(),
                    "nonce": nonce,
                    "requestedAt": isoformat(now),
                    "expiresAt": isoformat(now + CONFIRM_TTL),
                    "lastRequestAt": isoformat(now),
                },
                mode=UpdateMode.REPLACE,
            )
            kind = "confirm"
        self.account.table(OUTBOX).create_entity(
            {
                "PartitionKey": partner_id,
                "RowKey": new_id(),
                "kind": kind,
                "ref": row_key,
                "nonce": nonce,
                "createdAt": isoformat(now),
            }
        )
        return SubscribeAccepted()

    def confirm(self, token: str, network: str | None) -> ConsentState:
        """Double opt-in, step two: the token's nonce must still be the contact's, once."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError
        from azure.data.tables import UpdateMode

        now = self.clock.now()
        payload = self.keys.verify(ConsentKeys.CONFIRM, token, now)
        self.throttle.hit(self.limits.token_per_network, self.keys.network_key(network or "unknown"))
        partner_id, row_key = str(payload["p"]), str(payload["r"])
        self.throttle.hit(self.limits.public_per_partner, self.keys.network_key(f"partner {partner_id}"))
        current = self._contact(partner_id, row_key)
        if current is None or current.get("state") != "pending" or current.get("nonce") != payload.get("n"):
            raise token_used()
        row_key = str(current["RowKey"])  # where it is now (it may have moved since the token was made)
        consent_id = str(current["consentId"])
        subject, purpose = row_key.split("|", 1)
        self.account.table(LEDGER).upsert_entity(
            {
                "PartitionKey": partner_id,
                "RowKey": f"{row_key}|{consent_id}|g",
                "subjectKey": subject,
                "purpose": purpose,
                "consentId": consent_id,
                "action": "granted",
                "at": isoformat(now),
                "method": "doubleOptIn",
                "requestedAt": str(current["requestedAt"]),
            },
            mode=UpdateMode.REPLACE,
        )
        try:
            self.account.table(CONTACTS).update_entity(
                {
                    "PartitionKey": partner_id,
                    "RowKey": row_key,
                    "state": "granted",
                    "grantedAt": isoformat(now),
                    "nonce": "",
                    "expiresAt": "",
                },
                mode=UpdateMode.MERGE,
                etag=current.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except HttpResponseError:
            raise token_used() from None  # a second click raced this one and won
        self._audit(partner_id, "consent.granted", consent_id, purpose, "doubleOptIn")
        return ConsentState(purpose=purpose, state="granted", at=now)

    def unsubscribe(self, token: str, network: str | None) -> ConsentState:
        """One click: the contact's data goes at once; answering the same however often it is used."""
        now = self.clock.now()
        payload = self.keys.verify(ConsentKeys.UNSUBSCRIBE, token, now)
        self.throttle.hit(self.limits.token_per_network, self.keys.network_key(network or "unknown"))
        partner_id, row_key = str(payload["p"]), str(payload["r"])
        self.throttle.hit(self.limits.public_per_partner, self.keys.network_key(f"partner {partner_id}"))
        self._withdraw(partner_id, row_key, method="unsubscribeLink", request_id=None)
        return ConsentState(purpose=row_key.split("|", 1)[1], state="withdrawn", at=now)

    # --- for data-subject requests and exports --------------------------------------------------

    def withdraw_subject(self, partner_id: str, email: str, *, request_id: str) -> int:
        """Withdraws every consent of the address (a data-subject request); returns how many
        consents this request withdrew, the same number however often it runs."""
        subject = self._subject(partner_id, email)
        rows = self.account.table(CONTACTS).query_entities(
            _prefix_filter(partner_id, f"{subject}|") + f" and state ne '{MOVED}'", select=["RowKey"]
        )
        for row in list(rows):
            self._withdraw(partner_id, str(row["RowKey"]), method="dataSubjectRequest", request_id=request_id)
        withdrawn = self.account.table(LEDGER).query_entities(
            _prefix_filter(partner_id, f"{subject}|") + " and " + tables.eq("requestId", request_id),
            select=["RowKey"],
        )
        return sum(1 for _ in withdrawn)

    def records_for(self, partner_id: str, email: str) -> SubjectConsents:
        subject = self._subject(partner_id, email)
        query = _prefix_filter(partner_id, f"{subject}|")
        contacts = [
            self._contact_out(row)
            for row in self.account.table(CONTACTS).query_entities(query + f" and state ne '{MOVED}'")
        ]
        ledger = [_entry(row) for row in self.account.table(LEDGER).query_entities(query)]
        return SubjectConsents(subject_key=subject, contacts=contacts, ledger=ledger)

    # --- the partner's side ---------------------------------------------------------------------

    def outbox(self, partner_id: str, top: int) -> OutboxList:
        """Messages to send, oldest first; stale ones (replaced, expired, contact gone) are skipped."""
        now = self.clock.now()
        items: list[OutboxItem] = []
        rows = self.account.table(OUTBOX).query_entities(
            tables.partition(partner_id), results_per_page=min(1000, top * 2)
        )
        for row in rows:
            if len(items) >= top:
                break
            item = self._outbox_item(partner_id, row, now)
            if item is not None:
                items.append(item)
        return OutboxList(items=items)

    def _outbox_item(self, partner_id: str, row: Any, now: datetime) -> OutboxItem | None:
        created = parse_iso(row["createdAt"])
        if created + CONFIRM_TTL <= now:
            return None
        contact = self._contact(partner_id, str(row["ref"]))
        if contact is None:
            return None
        item = OutboxItem(
            id=str(row["RowKey"]),
            kind=row["kind"],
            email=str(contact["email"]),
            name=contact.get("name"),
            purpose=str(contact["purpose"]),
            created_at=created,
        )
        if row["kind"] == "confirm":
            if contact.get("state") != "pending" or contact.get("nonce") != row["nonce"]:
                return None
            expires = parse_iso(contact["expiresAt"])
            item.confirm_token = self._confirm_token(partner_id, str(row["ref"]), str(row["nonce"]), expires)
            item.confirm_expires_at = expires
        elif contact.get("state") == "granted":
            item.unsubscribe_token = self.unsubscribe_token(partner_id, str(row["ref"]))
        else:
            return None
        return item

    def acknowledge(self, partner_id: str, item_id: str) -> None:
        """The mailer sent it (or gave up): the item leaves the outbox. Unknown ids are fine."""
        from azure.core.exceptions import ResourceNotFoundError

        with suppress(ResourceNotFoundError):
            self.account.table(OUTBOX).delete_entity(partner_id, item_id)

    def contacts(
        self, partner_id: str, purpose: str | None, top: int, continuation: str | None
    ) -> ContactList:
        query = f"{tables.partition(partner_id)} and state eq 'granted'"
        if purpose is not None:
            query += " and " + tables.eq("purpose", purpose)
        rows, token = tables.page(self.account.table(CONTACTS), query, top, continuation)
        items = []
        for row in rows:
            out = self._contact_out(row)
            out.unsubscribe_token = self.unsubscribe_token(partner_id, str(row["RowKey"]))
            items.append(out)
        return ContactList(items=items, continuation_token=token)

    def ledger(self, partner_id: str, email: str | None, top: int, continuation: str | None) -> LedgerList:
        if email is not None:
            query = _prefix_filter(partner_id, f"{self._subject(partner_id, email)}|")
        else:
            query = tables.partition(partner_id)
        rows, token = tables.page(self.account.table(LEDGER), query, top, continuation)
        return LedgerList(items=[_entry(row) for row in rows], continuation_token=token)

    def unsubscribe_token(self, partner_id: str, row_key: str) -> str:
        return self.keys.sign(
            ConsentKeys.UNSUBSCRIBE, {"p": partner_id, "r": row_key}, self.clock.now() + UNSUBSCRIBE_TTL
        )

    # --- inside -----------------------------------------------------------------------------------

    def _confirm_token(self, partner_id: str, row_key: str, nonce: str, expires: datetime) -> str:
        return self.keys.sign(ConsentKeys.CONFIRM, {"p": partner_id, "r": row_key, "n": nonce}, expires)

    def _contact(self, partner_id: str, row_key: str, *, follow: bool = True) -> tables.Row | None:
        """The contact at `row_key`, or (`follow`) where it moved: a token made before a pepper
        rotation names the key it had then."""
        row = tables.get(self.account.table(CONTACTS), partner_id, row_key)
        if follow and row is not None and row.get("state") == MOVED:
            return tables.get(self.account.table(CONTACTS), partner_id, str(row["movedTo"]))
        return row

    # --- keys across pepper versions ----------------------------------------------------------------

    def _subject(self, partner_id: str, email: str) -> str:
        """The address's subject key now; its contacts and records still under an older form move
        to it first (a query of each table per older form: these are data-subject requests)."""
        subjects = self.keys.subject_keys(partner_id, email)
        for old in subjects[1:]:
            query = _prefix_filter(partner_id, f"{old}|")
            for row in self.account.table(CONTACTS).query_entities(query + f" and state ne '{MOVED}'"):
                self._move_contact(partner_id, row, subjects[0])
            for record in self.account.table(LEDGER).query_entities(query):
                self._move_record(partner_id, record, subjects[0])
        return subjects[0]

    def _move_contact(self, partner_id: str, row: Any, subject: str) -> None:
        """A contact to its key under `subject`, with its consent's records. The old key keeps a
        pointer (no personal data) while links mailed before may still name it; the sweep removes
        it when they have expired. Each step is an upsert of the same rows: a repeat or a racing
        mover ends the same."""
        from azure.data.tables import UpdateMode

        old_key = str(row["RowKey"])
        new_key = f"{subject}|{old_key.split('|', 1)[1]}"
        contacts = self.account.table(CONTACTS)
        contacts.upsert_entity(
            {**dict(row), "PartitionKey": partner_id, "RowKey": new_key, "movedFrom": old_key},
            mode=UpdateMode.REPLACE,
        )
        for record in self.account.table(LEDGER).query_entities(_prefix_filter(partner_id, f"{old_key}|")):
            self._move_record(partner_id, record, subject)
        expires = isoformat(self.clock.now() + UNSUBSCRIBE_TTL)
        contacts.upsert_entity(
            {
                "PartitionKey": partner_id,
                "RowKey": old_key,
                "state": MOVED,
                "movedTo": new_key,
                "expiresAt": expires,
            },
            mode=UpdateMode.REPLACE,
        )

    def _move_record(self, partner_id: str, record: Any, subject: str) -> None:
        """A consent record to its key under `subject` (written, then the old one deleted)."""
        from azure.data.tables import UpdateMode

        old_key = str(record["RowKey"])
        new_key = f"{subject}|{old_key.split('|', 1)[1]}"
        ledger = self.account.table(LEDGER)
        moved = {**dict(record), "PartitionKey": partner_id, "RowKey": new_key, "subjectKey": subject}
        ledger.upsert_entity(moved, mode=UpdateMode.REPLACE)
        tables.delete(ledger, partner_id, old_key)

    @staticmethod
    def _contact_out(row: Any) -> ContactOut:
        return ContactOut(
            email=str(row["email"]),
            name=row.get("name"),
            phone=row.get("phone"),
            purpose=str(row["purpose"]),
            state=row["state"],
            requested_at=parse_iso(row["requestedAt"]),
            granted_at=_maybe_time(row.get("grantedAt")),
        )

    def _withdraw(self, partner_id: str, row_key: str, *, method: str, request_id: str | None) -> None:
        """Revocation record first, then the purge date on the consent's records, then the contact:
        a crash anywhere leaves the contact in place, and the retry rewrites the same rows."""
        from azure.core.exceptions import ResourceNotFoundError
        from azure.data.tables import UpdateMode

        contact = self._contact(partner_id, row_key)
        if contact is None:
            return
        row_key = str(contact["RowKey"])  # where it is now (a token may name the key before a move)
        subject, purpose = row_key.split("|", 1)
        consent_id = str(contact["consentId"])
        if contact.get("state") == "granted":
            now = self.clock.now()
            purge_at = isoformat(add_months(now, REVOCATION_MONTHS))
            ledger = self.account.table(LEDGER)
            revocation: dict[str, Any] = {
                "PartitionKey": partner_id,
                "RowKey": f"{row_key}|{consent_id}|w",
                "subjectKey": subject,
                "purpose": purpose,
                "consentId": consent_id,
                "action": "withdrawn",
                "at": isoformat(now),
                "method": method,
                "purgeAt": purge_at,
            }
            if request_id is not None:
                revocation["requestId"] = request_id
            ledger.upsert_entity(revocation, mode=UpdateMode.REPLACE)
            with suppress(ResourceNotFoundError):
                ledger.update_entity(
                    {"PartitionKey": partner_id, "RowKey": f"{row_key}|{consent_id}|g", "purgeAt": purge_at},
                    mode=UpdateMode.MERGE,
                )
            self._audit(partner_id, "consent.withdrawn", consent_id, purpose, method)
        with suppress(ResourceNotFoundError):
            self.account.table(CONTACTS).delete_entity(partner_id, row_key)
        if contact.get("movedFrom"):  # the pointer left where it was before a rotation
            tables.delete(self.account.table(CONTACTS), partner_id, str(contact["movedFrom"]))

    def _audit(self, partner_id: str, action: str, consent_id: str, purpose: str, method: str) -> None:
        self.log.append(
            partner_id,
            NewEvent(
                action=action,
                actor={"type": "subject", "id": "consent"},
                target={"type": "consent", "id": consent_id},
                details={"purpose": purpose, "method": method},
            ),
        )


def _entry(row: Any) -> LedgerEntry:
    return LedgerEntry(
        subject_key=str(row["subjectKey"]),
        purpose=str(row["purpose"]),
        consent_id=str(row["consentId"]),
        action=row["action"],
        at=parse_iso(row["at"]),
        method=str(row["method"]),
        requested_at=_maybe_time(row.get("requestedAt")),
        request_id=row.get("requestId"),
        purge_at=_maybe_time(row.get("purgeAt")),
    )


# --- retention ------------------------------------------------------------------------------


def _delete_if(table: Any, partition_key: str, row_key: str, due: Any) -> bool:
    """Deletes a row only if it is still due as read now (a resubscription may have renewed it)."""
    from azure.core.exceptions import HttpResponseError

    row = tables.get(table, partition_key, row_key)
    if row is None or not due(row):
        return False
    try:
        tables.delete(table, partition_key, row_key, etag=row.etag)
    except HttpResponseError:
        return False
    return True


def _sorted_candidates(rows: Iterable[Any], category: str, after: str | None) -> Iterator[Candidate]:
    keyed = sorted((f"{row['PartitionKey']}/{row['RowKey']}", row) for row in rows)
    for key, row in keyed:
        if after is None or key > after:
            yield Candidate(key, category, (str(row["PartitionKey"]), str(row["RowKey"])))


_TESTS = "tests/integration/test_consent_ledger.py::"


class ConsentRevocations:
    """Consent records of a withdrawn consent: kept 3 years after the withdrawal, then gone."""

    name = "consent.revocations"
    covers = (LEDGER,)
    tested_by = _TESTS + "test_revocation_records_stay_three_years_after_the_withdrawal"

    def candidates(self, scope: SweepScope, after: str | None) -> Iterator[Candidate]:
        rows = scope.account.table(LEDGER).query_entities(
            f"purgeAt le '{isoformat(scope.as_of)}'", select=["PartitionKey", "RowKey"]
        )
        return _sorted_candidates(rows, CONSENT_REVOCATIONS, after)

    def delete(self, scope: SweepScope, candidate: Candidate) -> bool:
        pk, rk = candidate.ref
        return _delete_if(
            scope.account.table(LEDGER),
            pk,
            rk,
            lambda row: bool(row.get("purgeAt")) and parse_iso(row["purgeAt"]) <= scope.as_of,
        )


class UnconfirmedContacts:
    """Addresses never confirmed: gone when their confirmation link expires (no consent, no data)."""

    name = "consent.unconfirmed"
    covers = (CONTACTS,)
    tested_by = _TESTS + "test_unconfirmed_addresses_go_when_their_link_expires"

    def candidates(self, scope: SweepScope, after: str | None) -> Iterator[Candidate]:
        # With them, the pointers a contact left where it was before a pepper rotation, once every
        # link that may name that key has expired.
        rows = scope.account.table(CONTACTS).query_entities(
            f"(state eq 'pending' or state eq '{MOVED}') and expiresAt le '{isoformat(scope.as_of)}'",
            select=["PartitionKey", "RowKey"],
        )
        return _sorted_candidates(rows, MARKETING_CONTACTS, after)

    def delete(self, scope: SweepScope, candidate: Candidate) -> bool:
        pk, rk = candidate.ref

        def due(row: Any) -> bool:
            return row.get("state") in ("pending", MOVED) and parse_iso(row["expiresAt"]) <= scope.as_of

        return _delete_if(scope.account.table(CONTACTS), pk, rk, due)


class StaleOutbox:
    """Outbox items the mailer never acknowledged: useless once their link has expired."""

    name = "consent.outbox"
    covers = (OUTBOX,)
    tested_by = _TESTS + "test_unconfirmed_addresses_go_when_their_link_expires"

    def candidates(self, scope: SweepScope, after: str | None) -> Iterator[Candidate]:
        rows = scope.account.table(OUTBOX).query_entities(
            f"createdAt le '{isoformat(scope.as_of - CONFIRM_TTL)}'", select=["PartitionKey", "RowKey"]
        )
        return _sorted_candidates(rows, MARKETING_CONTACTS, after)

    def delete(self, scope: SweepScope, candidate: Candidate) -> bool:
        pk, rk = candidate.ref
        return _delete_if(scope.account.table(OUTBOX), pk, rk, lambda row: True)


class ThrottleCounters:
    """Rate-limit counters of windows that ended more than 2 days ago."""

    name = "consent.throttle"
    covers = (THROTTLE,)
    tested_by = _TESTS + "test_rate_limit_counters_are_swept_two_days_after_their_window"

    def candidates(self, scope: SweepScope, after: str | None) -> Iterator[Candidate]:
        cutoff = f"{scope.as_of - THROTTLE_KEEP:%Y%m%d%H%M}"
        rows = scope.account.table(THROTTLE).query_entities(
            f"PartitionKey lt '{cutoff}'", select=["PartitionKey", "RowKey"]
        )
        return _sorted_candidates(rows, RATE_LIMIT_COUNTERS, after)

    def delete(self, scope: SweepScope, candidate: Candidate) -> bool:
        pk, rk = candidate.ref
        return _delete_if(scope.account.table(THROTTLE), pk, rk, lambda row: True)


def consent_rules() -> list[RetentionRule]:
    """The consent ledger's retention rules, registered by the composition root: a terminated
    partner's contacts and records go with its end users' data (the partner was their controller);
    its outbox needs no rule of its own, every item goes within 48 hours."""
    terminated = "tests/integration/test_retention_rules.py::" + (
        "test_a_terminated_partners_contacts_breaches_and_requests_go_even_after_missed_sweeps"
    )
    return [
        ConsentRevocations(),
        UnconfirmedContacts(),
        StaleOutbox(),
        ThrottleCounters(),
        *(
            PartitionRows(
                f"{table}.terminated-partner", table, category, end_user_data_at, tested_by=terminated
            )
            for table, category in ((CONTACTS, MARKETING_CONTACTS), (LEDGER, CONSENT_RECORDS))
        ),
    ]


def consent_dependencies(
    account: AccountStorage, partner_id: str | None = None, *, limit: int = 100_000
) -> dict[str, int]:
    """How many consent contacts and records of one region's account (or one partner's) depend on
    each pepper key id through their subject key (`legacy`: version 1, before key ids); they move
    to the current version when their address is next looked up. A scan of keys, at most `limit`
    rows a table."""
    from itertools import islice

    scope = f"{tables.partition(partner_id)} and " if partner_id is not None else ""
    keys: list[str] = []
    for table, query in ((CONTACTS, f"{scope}state ne '{MOVED}'"), (LEDGER, f"{scope}RowKey ne ''")):
        rows = account.table(table).query_entities(query, select=["RowKey"], results_per_page=1000)
        keys.extend(str(row["RowKey"]).split("|", 1)[0] for row in islice(rows, limit))
    return dependency_report(keys)

"""Writes a client can retry: `Idempotency-Key` records, the first answer kept sealed for 24 hours."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from shared.clock import Clock, isoformat, parse_iso
from shared.errors import ProblemError
from shared.ids import new_id
from shared.jsonbody import parse_json
from shared.storage import tables

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

TABLE = "idempotency"
HEADER = "Idempotency-Key"
# The draft leaves the length to the server; Stripe's limit, and what fits a log line.
MAX_KEY_LENGTH = 255
LIFETIME = timedelta(hours=24)
# How long a first request may work before a retry with its key may take over: a host kills a
# function after minutes, and a retry inside this window answers 409 rather than doing it twice.
LEASE = timedelta(seconds=120)
# Table properties hold 64 KiB (32K UTF-16 units); a sealed answer is split across a few.
_CHUNK = 30_000
_MAX_CHUNKS = 30
# Headers of the first answer a replay repeats; the request id is always the retry's own.
REPLAYED_HEADERS = ("Location", "Retry-After")
REPLAY_MARKER = "Idempotent-Replayed"
OPERATOR_SCOPE = "operator"


class Sealer(Protocol):
    """Authenticated encryption bound to a context (the composition root hands `TokenCipher` in)."""

    def seal(self, plaintext: str, context: str) -> str: ...

    def open(self, envelope: str, context: str) -> str: ...


def key_invalid(detail: str) -> ProblemError:
    return ProblemError(400, "idempotency-key-invalid", "The Idempotency-Key header is not usable.", detail)


def parse_key(header: str | None) -> str | None:
    """The key a request carries (None without the header), or 400 for one that cannot be a key.

    The draft writes it as a structured-field string (`"abc"`); a bare value is taken as written.
    """
    if header is None:
        return None
    text = header.strip()
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        text = text[1:-1]
    if not text:
        raise key_invalid("The key is empty: send 1 to 255 visible ASCII characters.")
    if len(text) > MAX_KEY_LENGTH:
        raise key_invalid(f"The key is longer than {MAX_KEY_LENGTH} characters.")
    if any(not 0x20 <= ord(ch) <= 0x7E for ch in text):
        raise key_invalid("The key may hold only visible ASCII characters and spaces.")
    return text


def fingerprint(method: str, path: str, query: Mapping[str, str], body: bytes) -> str:
    """What makes two requests "the same": method, path, query and the body's JSON value.

    JSON is compared as a value (key order and spacing do not matter, as Stripe compares
    parameters); a body that is not JSON is compared byte for byte.
    """
    try:
        value: Any = parse_json(body) if body else None
        canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    except (ProblemError, ValueError, RecursionError):
        canonical = b"raw:" + body
    digest = hashlib.sha256()
    for part in (method.upper(), "/" + path.strip("/").lower(), json.dumps(sorted(query.items()))):
        digest.update(part.encode() + b"\n")
    digest.update(canonical)
    return digest.hexdigest()


def _row_key(key: str) -> str:
    # Keys are the client's text: a hash never holds a character a row key refuses (`/`, `#`, `?`).
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Answer:
    """A response as the client saw it: replayed as is for the key's lifetime."""

    status: int
    body: str
    media_type: str
    headers: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {"status": self.status, "body": self.body, "mediaType": self.media_type, "headers": self.headers},
            separators=(",", ":"),
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> Answer:
        data = json.loads(text)
        return cls(int(data["status"]), str(data["body"]), str(data["mediaType"]), dict(data["headers"]))

    @property
    def recordable(self) -> bool:
        """2xx and 4xx are the request's answer; a 5xx is ours, and a retry should try the work again."""
        return self.status < 500


@dataclass(frozen=True)
class Reservation:
    """The caller holds the key: do the work, then `complete` (or `release` on a failure of ours).

    `work_id` is the same for every attempt under one key, so work that names what it creates by
    it (a partner's id) finds and finishes what a crashed attempt began instead of starting again.
    """

    account: AccountStorage
    scope: str
    row_key: str
    etag: str
    work_id: str
    resumed: bool


class IdempotencyStore:
    """Records per caller scope (a partner id, or `operator`) in the regional `idempotency` table.

    `accounts[0]` is where new records go; the others are only read, so an operator's key is
    found whichever region the first request wrote it in (a partner's records have one account).
    """

    def __init__(
        self,
        accounts: Sequence[AccountStorage],
        clock: Clock,
        sealer: Sealer,
        *,
        lifetime: timedelta = LIFETIME,
        lease: timedelta = LEASE,
    ):
        if not accounts:
            raise ValueError("an idempotency store needs an account")
        self.accounts = tuple(accounts)
        self.clock = clock
        self.sealer = sealer
        self.lifetime = lifetime
        self.lease = lease

    def begin(self, scope: str, key: str, request_fingerprint: str) -> Reservation | Answer:
        """A reservation to do the work, or the first answer to replay; 409 while another attempt
        works under the key, 422 when the key came with another request."""
        from azure.core.exceptions import ResourceExistsError

        row_key = _row_key(key)
        found = self._find(scope, row_key)
        if found is None:
            account = self.accounts[0]
            entity = self._pending(scope, row_key, request_fingerprint, new_id())
            try:
                meta = account.table(TABLE).create_entity(entity)
            except ResourceExistsError:
                raise self._in_progress() from None  # another attempt reserved it this instant
            return Reservation(account, scope, row_key, str(meta["etag"]), entity["workId"], resumed=False)
        account, row = found
        now = self.clock.now()
        if parse_iso(row["expiresAt"]) <= now:
            # Past its 24 hours (the sweep has not come yet): the key is free again.
            return self._take(account, row, request_fingerprint, new_id(), resumed=False)
        if row.get("fingerprint") != request_fingerprint:
            raise ProblemError(
                422,
                "idempotency-key-reused",
                "The Idempotency-Key was used for another request.",
                "A key stands for one request (method, path and body); send a new key for a new request.",
            )
        if row.get("state") == "done":
            return self._answer(scope, row)
        if parse_iso(row["leaseUntil"]) > now:
            raise self._in_progress(parse_iso(row["leaseUntil"]) - now)
        # The attempt holding it stopped (killed, timed out): this one finishes its work.
        return self._take(account, row, request_fingerprint, str(row["workId"]), resumed=True)

    def complete(self, reservation: Reservation, answer: Answer) -> None:
        """Keeps the answer (sealed) for replay, or, for a failure of ours, frees the key at once."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError

        table = reservation.account.table(TABLE)
        if not answer.recordable:
            self.release(reservation)
            return
        sealed = self.sealer.seal(answer.to_json(), _context(reservation.scope, reservation.row_key))
        chunks = [sealed[i : i + _CHUNK] for i in range(0, len(sealed), _CHUNK)]
        update: dict[str, Any] = {
            "PartitionKey": reservation.scope,
            "RowKey": reservation.row_key,
            "state": "done",
            "chunks": len(chunks) if len(chunks) <= _MAX_CHUNKS else 0,
        }
        if len(chunks) <= _MAX_CHUNKS:
            update.update({f"answer{i}": chunk for i, chunk in enumerate(chunks)})
        try:
            table.update_entity(update, etag=reservation.etag, match_condition=MatchConditions.IfNotModified)
        except HttpResponseError as error:
            if getattr(error, "status_code", None) != 412:
                raise
            # Another attempt took the key over (our lease ran out); its answer is the one kept.

    def release(self, reservation: Reservation) -> None:
        """Ends the lease now: a retry resumes the work under the same work id."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError

        try:
            reservation.account.table(TABLE).update_entity(
                {
                    "PartitionKey": reservation.scope,
                    "RowKey": reservation.row_key,
                    "leaseUntil": isoformat(self.clock.now()),
                },
                etag=reservation.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except HttpResponseError as error:
            if getattr(error, "status_code", None) != 412:
                raise

    def _find(self, scope: str, row_key: str) -> tuple[AccountStorage, tables.Row] | None:
        for account in self.accounts:
            row = tables.get(account.table(TABLE), scope, row_key)
            if row is not None:
                return account, row
        return None

    def _pending(self, scope: str, row_key: str, request_fingerprint: str, work_id: str) -> dict[str, Any]:
        now = self.clock.now()
        return {
            "PartitionKey": scope,
            "RowKey": row_key,
            "fingerprint": request_fingerprint,
            "state": "pending",
            "workId": work_id,
            "createdAt": isoformat(now),
            "leaseUntil": isoformat(now + self.lease),
            "expiresAt": isoformat(now + self.lifetime),
        }

    def _take(
        self,
        account: AccountStorage,
        row: tables.Row,
        request_fingerprint: str,
        work_id: str,
        *,
        resumed: bool,
    ) -> Reservation:
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError
        from azure.data.tables import UpdateMode

        scope, row_key = str(row["PartitionKey"]), str(row["RowKey"])
        entity = self._pending(scope, row_key, request_fingerprint, work_id)
        try:
            # Replace, not merge: an expired record's sealed answer must not survive under a new request.
            meta = account.table(TABLE).update_entity(
                entity, mode=UpdateMode.REPLACE, etag=row.etag, match_condition=MatchConditions.IfNotModified
            )
        except HttpResponseError as error:
            if getattr(error, "status_code", None) in (404, 412):
                raise self._in_progress() from None
            raise
        return Reservation(account, scope, row_key, str(meta["etag"]), work_id, resumed=resumed)

    def _answer(self, scope: str, row: tables.Row) -> Answer:
        count = int(row.get("chunks") or 0)
        if count == 0:
            raise ProblemError(
                409,
                "idempotency-answer-unavailable",
                "The request was done, but its answer was too large to keep.",
                "Read the resource instead of retrying.",
            )
        sealed = "".join(str(row[f"answer{i}"]) for i in range(count))
        return Answer.from_json(self.sealer.open(sealed, _context(scope, str(row["RowKey"]))))

    @staticmethod
    def _in_progress(wait: timedelta | None = None) -> ProblemError:
        seconds = max(1, int(wait.total_seconds()) + 1) if wait is not None else 1
        return ProblemError(
            409,
            "idempotency-key-in-use",
            "A request with this Idempotency-Key is still being processed.",
            "Retry after it has finished; the answer will be its answer.",
            headers={"Retry-After": str(seconds)},
        )


def _context(scope: str, row_key: str) -> str:
    # Binds the envelope to its row: a sealed answer copied to another partner's row does not open.
    return f"idempotency|{scope}|{row_key}"

"""The push device registry of an organisation (table `devices`, PartitionKey = org id).

Rows: `d_<device id>` is a device (system user, the target sealed with `TokenCipher`, the footprint
sealed too, the keyed hash of its secret with its key id (`shared.keys`, purpose `device-secret`;
one without a key id is version 1 and is re-keyed when next presented), status); `t_<target hash>`
points from a token's peppered hash to its device, so registering the same token again finds the
same device without the token ever being stored in the clear or scanned for; `r_<device id>` holds
the device's push send times of the last minute, written by the fan-out only when an organisation
sends enough to approach FCM's per-device limit (see `shared.notifications.fanout`); `n_org` and
`n_u_<system user id>` count the org's and each user's devices against their caps.

A new device is one entity-group transaction (same partition): its index row, its row and both
counters, the counters under their ETags, so two registrations racing for a user's last slot
cannot both pass, and a refused one leaves nothing behind. Removals do not lower the counters
(the fan-out drops dead tokens by the thousand; contending on one row there would cost more than
it saves): a counter is an upper bound, and one that reaches its cap is recounted from the
active devices themselves before anything is refused, under the same ETag, so it cannot miss a
registration that happened meanwhile. A counter that does not exist yet (an org from before the
caps) starts from such a count too.

Unsubscribing wipes the target, footprint and secret at once and deletes the index row; what is
left is a tombstone (device id, system user, unsubscribedAt) that no query for sending matches
and that the privacy sweep removes (`UnsubscribedDevices`, well inside the 30-day bound).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.clock import Clock, isoformat
from shared.errors import ProblemError, not_found, unauthenticated
from shared.ids import new_id
from shared.keys import (
    DEVICE_SECRET,
    DEVICE_TARGET,
    KeyedHasher,
    KeyRing,
    dependency_report,
    legacy_hmac,
    lookup_hasher,
    pepper_ring,
)
from shared.notifications.models import DeviceCreated, DeviceIn
from shared.notifications.secrets import TokenCipher, new_device_secret
from shared.privacy.subjects.index import TABLE as SUBJECT_INDEX
from shared.privacy.subjects.index import device_entry, index_device, index_key
from shared.storage import tables

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

TABLE = "devices"
DEVICE_PREFIX = "d_"
INDEX_PREFIX = "t_"
RATE_PREFIX = "r_"
ORG_COUNTER = "n_org"
USER_COUNTER_PREFIX = "n_u_"
ACTIVE = "active"
UNSUBSCRIBED = "unsubscribed"
_ATTEMPTS = 8  # registrations racing on one org's counter retry; this many lost races is a storm
CAP_RETRY_AFTER_SECONDS = 3600  # a cap lifts when a device goes, not with time: look again later


def device_key(device_id: str) -> str:
    return DEVICE_PREFIX + device_id


def user_counter_key(system_user_id: str) -> str:
    return USER_COUNTER_PREFIX + system_user_id.lower()


@dataclass(frozen=True)
class DeviceLimits:
    """Caps on registered devices, and how often one device key may register (settings)."""

    per_user: int = 10
    per_org: int = 10_000
    registrations_per_minute: int = 30


def device_limit_reached(detail: str) -> ProblemError:
    return ProblemError(
        429,
        "device-limit-reached",
        "Too many devices.",
        detail,
        headers={"Retry-After": str(CAP_RETRY_AFTER_SECONDS)},
    )


@dataclass(frozen=True)
class Target:
    """A device ready to send to. `value` is the token or fid in the clear: memory only."""

    device_id: str
    system_user_id: str
    kind: str  # token | fid
    value: str


def _read(table: Any, partition: str, row: str) -> tables.Row | None:
    return tables.get(table, partition, row)


def target_text(org_id: str, body: DeviceIn) -> str:
    """What a device's target is found by (its `DEVICE_TARGET` hash): the same token or fid again
    in the same org is the same device."""
    kind, value = ("token", body.token) if body.token is not None else ("fid", body.fid or "")
    return f"{org_id}|{kind}|{value}"


def target_hasher(ring: KeyRing) -> KeyedHasher:
    return lookup_hasher(ring, DEVICE_TARGET)


def device_entity(
    org_id: str,
    device_id: str,
    body: DeviceIn,
    *,
    cipher: TokenCipher,
    pepper: str,
    secret_hash: str,
    now: str,
    ring: KeyRing | None = None,
) -> dict[str, Any]:
    """The stored device (also used by the bench to seed many devices in transactions)."""
    kind, value = ("token", body.token) if body.token is not None else ("fid", body.fid or "")
    context = f"{org_id}|{device_id}"
    entity: dict[str, Any] = {
        "PartitionKey": org_id,
        "RowKey": device_key(device_id),
        "systemUserId": str(body.system_user_id).lower(),
        "kind": kind,
        "target": cipher.seal(value, context),
        "targetHash": target_hasher(ring or pepper_ring(pepper)).hash(target_text(org_id, body)),
        "secretHash": secret_hash,
        "status": ACTIVE,
        "createdAt": now,
    }
    if body.footprint:
        entity["footprint"] = cipher.seal(body.footprint, context + "|footprint")
    return entity


class DeviceRegistry:
    def __init__(
        self,
        account: AccountStorage,
        clock: Clock,
        cipher: TokenCipher,
        pepper: str,
        limits: DeviceLimits | None = None,
        *,
        ring: KeyRing | None = None,
    ):
        self.account = account
        self.clock = clock
        self.cipher = cipher
        self.pepper = pepper
        # Hashes under the pepper's current version (version 1 only unless handed the ring).
        self.ring = ring or pepper_ring(pepper)
        self.secret_hashes = self.ring.hasher(DEVICE_SECRET, legacy_hmac)
        self.target_hashes = target_hasher(self.ring)
        self.limits = limits or DeviceLimits()
        self.subject_index_key = index_key(self.ring)

    def table(self) -> Any:
        return self.account.table(TABLE)

    def register(self, org_id: str, body: DeviceIn) -> tuple[DeviceCreated, bool]:
        """(the device and its new secret, whether it is new to this user). The same token again
        for the same user is the same device and counts nothing; over a cap, 429 and nothing written."""
        from azure.core.exceptions import HttpResponseError

        # The index row under each form the token may be stored under, the current one first.
        index_rows = [INDEX_PREFIX + form for form in self.target_hashes.lookups(target_text(org_id, body))]
        user = str(body.system_user_id).lower()
        written: list[str] = []  # new device ids given a subject-index entry, to take back if unused
        for _ in range(_ATTEMPTS):
            try:
                created, fresh = self._register_once(org_id, body, index_rows, user, written)
            except (HttpResponseError, tables.BatchRefusedError) as error:
                # 409 / 412 / 404: another registration, an unsubscribe or a re-index got there
                # first; look again.
                if getattr(error, "status_code", None) in (404, 409, 412):
                    continue
                self._take_back(org_id, user, written)
                raise
            except ProblemError:
                self._take_back(org_id, user, written)
                raise
            self._take_back(org_id, user, [d for d in written if d != created.id])
            return created, fresh
        self._take_back(org_id, user, written)
        raise ProblemError(
            503,
            "service-unavailable",
            "Too many registrations at once.",
            "This organisation's devices are being registered by many at once; try again.",
            headers={"Retry-After": "1"},
        )

    def _register_once(
        self, org_id: str, body: DeviceIn, index_rows: list[str], user: str, written: list[str]
    ) -> tuple[DeviceCreated, bool]:
        from azure.core import MatchConditions
        from azure.data.tables import UpdateMode

        table = self.table()
        index_row, index, found_at = index_rows[0], None, ""
        for candidate in index_rows:  # one read when the row is under the current version
            index, found_at = _read(table, org_id, candidate), candidate
            if index is not None:
                break
        # Found under an older form: the same transaction moves it to the current one (create,
        # then delete: a racing mover makes one of them fail and the attempt is made again).
        moved: list[Any] = []
        if index is not None and found_at != index_row:
            moved = [
                ("create", {"PartitionKey": org_id, "RowKey": index_row, "deviceId": str(index["deviceId"])}),
                ("delete", {"PartitionKey": org_id, "RowKey": found_at}),
            ]
        device_id = str(index["deviceId"]) if index is not None else new_id()
        existing: Any = _read(table, org_id, device_key(device_id)) if index is not None else None
        active = existing is not None and existing.get("status") == ACTIVE
        now = self.clock.now()
        secret = new_device_secret(org_id, device_id)
        entity = device_entity(
            org_id,
            device_id,
            body,
            cipher=self.cipher,
            pepper=self.pepper,
            secret_hash=self.secret_hashes.hash(secret),
            now=isoformat(now),
            ring=self.ring,
        )
        guarded: dict[str, Any] = {
            "mode": UpdateMode.REPLACE,
            "match_condition": MatchConditions.IfNotModified,
        }
        if active:
            entity["createdAt"] = existing["createdAt"]
            entity["updatedAt"] = isoformat(now)
        if active and str(existing.get("systemUserId") or "").lower() == user:
            # The same device again: a new secret, nothing counted. Under its ETag, so an unsubscribe
            # in between is not undone.
            index_device(self.account, self.subject_index_key, org_id, user, device_id)
            tables.write(table, [("update", entity, {**guarded, "etag": existing.etag}), *moved])
            return DeviceCreated(id=device_id, device_secret=secret, created_at=now), False

        # New to this user: its slot, and (unless it moves from another user) the org's.
        operations: list[Any] = [
            self._counted(org_id, user_counter_key(user), self.limits.per_user, user, guarded)
        ]
        if not active:
            operations.append(self._counted(org_id, ORG_COUNTER, self.limits.per_org, None, guarded))
        if index is None:
            index_entity = {"PartitionKey": org_id, "RowKey": index_row, "deviceId": device_id}
            operations.append(("create", index_entity))
        operations.extend(moved)
        if existing is None:
            operations.append(("create", entity))
        else:
            operations.append(("update", entity, {**guarded, "etag": existing.etag}))
        # The subject index before the device (a crash in between leaves an entry pointing to nothing).
        if index is None:
            written.append(device_id)
        index_device(self.account, self.subject_index_key, org_id, user, device_id)
        tables.write(table, operations)
        return DeviceCreated(id=device_id, device_secret=secret, created_at=now), True

    def _counted(
        self, org_id: str, row_key: str, cap: int, user: str | None, guarded: dict[str, Any]
    ) -> tuple[Any, ...]:
        """The transaction operation that takes one slot of a counter; 429 when none is left."""
        row = _read(self.table(), org_id, row_key)
        count = int(row["count"]) if row is not None else self._active_count(org_id, user)
        if count >= cap and row is not None:
            count = self._active_count(org_id, user)  # the counter over-counts after removals
        if count >= cap:
            whose = "This user" if user is not None else "This organisation"
            raise device_limit_reached(
                f"{whose} has {count} registered devices, the most allowed ({cap}); "
                "unsubscribe one before registering another."
            )
        entity = {"PartitionKey": org_id, "RowKey": row_key, "count": count + 1}
        if row is None:
            return ("create", entity)
        return ("update", entity, {**guarded, "etag": row.etag})

    def _active_count(self, org_id: str, user: str | None) -> int:
        from shared.storage.tablequery import literal

        clause = f" and systemUserId eq {literal(user)}" if user is not None else ""
        rows = self.table().query_entities(
            f"PartitionKey eq {literal(org_id)} and RowKey ge {literal(DEVICE_PREFIX)} and RowKey lt 'd`' "
            f"and status eq '{ACTIVE}'{clause}",
            select=["RowKey"],
            results_per_page=1000,
        )
        return sum(1 for _ in rows)

    def _take_back(self, org_id: str, user: str, device_ids: list[str]) -> None:
        """Subject-index entries written for a registration that was then refused."""
        from azure.core.exceptions import ResourceNotFoundError

        for device_id in device_ids:
            entry = device_entry(self.subject_index_key, org_id, user, device_id)
            with contextlib.suppress(ResourceNotFoundError):
                self.account.table(SUBJECT_INDEX).delete_entity(entry["PartitionKey"], entry["RowKey"])

    def get(self, org_id: str, device_id: str) -> tables.Row | None:
        return tables.get(self.table(), org_id, device_key(device_id))

    def check_secret(self, org_id: str, device_id: str, secret: str) -> Any:
        """The active device row if `secret` is its secret; 401 otherwise (constant-time compare)."""
        row = self.get(org_id, device_id)
        stored = str(row.get("secretHash", "")) if row is not None else ""
        check = self.secret_hashes.verify(secret, stored or "-")
        if not check.ok or row is None or row.get("status") != ACTIVE:
            raise unauthenticated("The device secret is not valid for this device.")
        if check.rehash is not None:
            self._rekey(row, check.rehash)
        return row

    def _rekey(self, row: Any, new_hash: str) -> None:
        """The presented secret's hash again under the pepper's current version (in hand only
        now). Under the row's ETag: a re-registration or unsubscribe meanwhile wins, and a failed
        write only leaves it for the secret's next use."""
        from azure.core import MatchConditions
        from azure.core.exceptions import AzureError
        from azure.data.tables import UpdateMode

        with contextlib.suppress(AzureError):
            self.table().update_entity(
                {"PartitionKey": row["PartitionKey"], "RowKey": row["RowKey"], "secretHash": new_hash},
                mode=UpdateMode.MERGE,
                etag=row.etag,
                match_condition=MatchConditions.IfNotModified,
            )

    def unsubscribe(self, org_id: str, device_id: str) -> None:
        """Stops the device at once: target, footprint and secret wiped, index row gone."""
        from azure.core.exceptions import ResourceNotFoundError
        from azure.data.tables import UpdateMode

        row = self.get(org_id, device_id)
        if row is None or row.get("status") != ACTIVE:
            raise not_found("No such device.")
        tombstone = {
            "PartitionKey": org_id,
            "RowKey": device_key(device_id),
            "systemUserId": row.get("systemUserId"),
            "status": UNSUBSCRIBED,
            "createdAt": row.get("createdAt"),
            "unsubscribedAt": isoformat(self.clock.now()),
        }
        self.table().upsert_entity(tombstone, mode=UpdateMode.REPLACE)
        with contextlib.suppress(ResourceNotFoundError, KeyError):
            self.table().delete_entity(org_id, INDEX_PREFIX + str(row["targetHash"]))
        self.table().delete_entity(org_id, RATE_PREFIX + device_id)  # no error when absent

    def delete(self, org_id: str, device_id: str, target_hash_value: str | None) -> None:
        """Forgets a device entirely (Firebase said its token is dead)."""
        from azure.core.exceptions import ResourceNotFoundError

        keys = (
            device_key(device_id),
            RATE_PREFIX + device_id,
            INDEX_PREFIX + target_hash_value if target_hash_value else None,
        )
        for key in keys:
            if key is None:
                continue
            with contextlib.suppress(ResourceNotFoundError):
                self.table().delete_entity(org_id, key)

    def list_active(
        self, org_id: str, low: str | None = None, high: str | None = None, *, targets: bool = True
    ) -> Iterator[dict[str, Any]]:
        """Active device rows (RowKey, systemUserId, createdAt, and unless `targets` is False the
        sealed target), optionally in [low, high], in device id order; plain rows, read lean
        because a fan-out reads thousands."""
        from shared.storage.tablequery import literal

        low_key = device_key(low) if low else DEVICE_PREFIX
        high_clause = f"RowKey le {literal(device_key(high))}" if high else "RowKey lt 'd`'"
        fields = ["RowKey", "systemUserId", "createdAt"]
        if targets:
            fields += ["kind", "target", "targetHash"]
        yield from tables.query_json(
            self.table(),
            f"PartitionKey eq {literal(org_id)} and RowKey ge {literal(low_key)} and {high_clause} "
            "and status eq 'active'",
            select=fields,
        )

    def open_target(self, org_id: str, row: Any) -> Target:
        device_id = str(row["RowKey"])[len(DEVICE_PREFIX) :]
        value = self.cipher.open(str(row["target"]), f"{org_id}|{device_id}")
        return Target(device_id, str(row.get("systemUserId") or ""), str(row.get("kind") or "token"), value)


def device_secret_dependencies(account: AccountStorage, org_id: str | None = None) -> dict[str, int]:
    """How many active devices' secret hashes of one region's account (or one org's) depend on
    each key id (`legacy`: version 1 of the pepper, stored before key ids): a pepper version may
    be dropped when no region counts it. One scan of the device rows, one column."""
    from shared.storage.tablequery import literal

    scope = f"PartitionKey eq {literal(org_id)} and " if org_id is not None else ""
    rows = account.table(TABLE).query_entities(
        f"{scope}RowKey ge '{DEVICE_PREFIX}' and RowKey lt 'd`' and status eq '{ACTIVE}'",
        select=["secretHash"],
        results_per_page=1000,
    )
    return dependency_report(str(row["secretHash"]) for row in rows if row.get("secretHash"))


def device_target_dependencies(
    account: AccountStorage, org_id: str | None = None, *, limit: int = 100_000
) -> dict[str, int]:
    """How many token index rows (`t_<hash>`) of one region's account (or one org's) depend on each
    key id (`legacy`: written before key ids, version 1 of the pepper); a row moves to the current
    version when its token is next registered. A scan of the index rows' keys, at most `limit`."""
    from itertools import islice

    from shared.storage.tablequery import literal

    scope = f"PartitionKey eq {literal(org_id)} and " if org_id is not None else ""
    rows = account.table(TABLE).query_entities(
        f"{scope}RowKey ge '{INDEX_PREFIX}' and RowKey lt 't`'", select=["RowKey"], results_per_page=1000
    )
    return dependency_report(str(row["RowKey"])[len(INDEX_PREFIX) :] for row in islice(rows, limit))


class DeviceTokenRekey:
    """Device rows' sealed token and footprint as the background re-keying sees them
    (`shared/storage/rekeying.py`): sealed again under the first DEVICE_TOKEN_KEY."""

    master = "tokencipher"
    table = TABLE
    columns: tuple[str, ...] = ("target", "footprint")
    where = f"RowKey ge '{DEVICE_PREFIX}' and RowKey lt 'd`'"

    def __init__(self, cipher: TokenCipher):
        self.cipher = cipher

    def key_ids(self, row: Any) -> list[str]:
        return [self.cipher.key_id_of(str(row[c])) for c in self.columns if row.get(c)]

    def rekey(self, row: Any) -> dict[str, Any] | None:
        context = f"{row['PartitionKey']}|{str(row['RowKey'])[len(DEVICE_PREFIX) :]}"
        changes = {}
        for column, bound_to in (("target", context), ("footprint", context + "|footprint")):
            if row.get(column) and (sealed := self.cipher.reseal(str(row[column]), bound_to)) is not None:
                changes[column] = sealed
        return changes or None

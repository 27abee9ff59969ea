"""The push device registry of an organisation (table `devices`, PartitionKey = org id).

Rows: `d_<device id>` is a device (system user, the target sealed with `TokenCipher`, the
footprint sealed too, the peppered hash of its secret, status); `t_<target hash>` points from a
token's peppered hash to its device, so registering the same token again finds the same device
without the token ever being stored in the clear or scanned for; `r_<device id>` holds the
device's push send times of the last minute, written by the fan-out only when an organisation
sends enough to approach FCM's per-device limit (see `shared.notifications.fanout`).

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
from shared.errors import not_found, unauthenticated
from shared.ids import new_id
from shared.notifications.models import DeviceCreated, DeviceIn
from shared.notifications.secrets import (
    TokenCipher,
    hash_key,
    key_matches,
    new_device_secret,
    target_hash,
)
from shared.privacy.subjects.index import index_device, index_key

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

TABLE = "devices"
DEVICE_PREFIX = "d_"
INDEX_PREFIX = "t_"
RATE_PREFIX = "r_"
ACTIVE = "active"
UNSUBSCRIBED = "unsubscribed"


def device_key(device_id: str) -> str:
    return DEVICE_PREFIX + device_id


@dataclass(frozen=True)
class Target:
    """A device ready to send to. `value` is the token or fid in the clear: memory only."""

    device_id: str
    system_user_id: str
    kind: str  # token | fid
    value: str


def device_entity(
    org_id: str,
    device_id: str,
    body: DeviceIn,
    *,
    cipher: TokenCipher,
    pepper: str,
    secret_hash: str,
    now: str,
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
        "targetHash": target_hash(org_id, kind, value, pepper),
        "secretHash": secret_hash,
        "status": ACTIVE,
        "createdAt": now,
    }
    if body.footprint:
        entity["footprint"] = cipher.seal(body.footprint, context + "|footprint")
    return entity


class DeviceRegistry:
    def __init__(self, account: AccountStorage, clock: Clock, cipher: TokenCipher, pepper: str):
        self.account = account
        self.clock = clock
        self.cipher = cipher
        self.pepper = pepper
        self.subject_index_key = index_key(pepper)

    def table(self) -> Any:
        return self.account.table(TABLE)

    def register(self, org_id: str, body: DeviceIn) -> tuple[DeviceCreated, bool]:
        """(the device and its new secret, whether it is new). Same token again: same device."""
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        table = self.table()
        kind, value = ("token", body.token) if body.token is not None else ("fid", body.fid or "")
        index_key = INDEX_PREFIX + target_hash(org_id, kind, value, self.pepper)
        now = self.clock.now()
        for _ in range(3):
            try:
                device_id = str(table.get_entity(org_id, index_key)["deviceId"])
            except ResourceNotFoundError:
                device_id = new_id()
                try:
                    # The index first: a crash before the device row leaves an index that the next
                    # registration of the token completes, never a second device for one token.
                    table.create_entity({"PartitionKey": org_id, "RowKey": index_key, "deviceId": device_id})
                except ResourceExistsError:
                    continue
            index_device(self.account, self.subject_index_key, org_id, str(body.system_user_id), device_id)
            secret = new_device_secret(org_id, device_id)
            entity = device_entity(
                org_id,
                device_id,
                body,
                cipher=self.cipher,
                pepper=self.pepper,
                secret_hash=hash_key(secret, self.pepper),
                now=isoformat(now),
            )
            try:
                existing = table.get_entity(org_id, device_key(device_id))
            except ResourceNotFoundError:
                existing = None
            if existing is not None and existing.get("status") == ACTIVE:
                entity["createdAt"] = existing["createdAt"]
                entity["updatedAt"] = isoformat(now)
            table.upsert_entity(entity, mode=UpdateMode.REPLACE)
            fresh = existing is None or existing.get("status") != ACTIVE
            return DeviceCreated(id=device_id, device_secret=secret, created_at=now), fresh
        raise RuntimeError("device registration kept racing with another registration of the token")

    def get(self, org_id: str, device_id: str) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.table().get_entity(org_id, device_key(device_id))
        except ResourceNotFoundError:
            return None

    def check_secret(self, org_id: str, device_id: str, secret: str) -> Any:
        """The active device row if `secret` is its secret; 401 otherwise (constant-time compare)."""
        row = self.get(org_id, device_id)
        stored = str(row.get("secretHash", "")) if row is not None else ""
        if not key_matches(secret, stored or "-", self.pepper) or row.get("status") != ACTIVE:
            raise unauthenticated("The device secret is not valid for this device.")
        return row

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

    def remove(self, org_id: str, device_id: str, target_hash_value: str | None) -> None:
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

    def active_in(
        self, org_id: str, low: str | None = None, high: str | None = None, *, targets: bool = True
    ) -> Iterator[dict[str, Any]]:
        """Active device rows (RowKey, systemUserId, createdAt, and unless `targets` is False the
        sealed target), optionally in [low, high], in device id order; plain rows, read lean
        because a fan-out reads thousands."""
        from shared.storage.tablequery import literal, query

        low_key = device_key(low) if low else DEVICE_PREFIX
        high_clause = f"RowKey le {literal(device_key(high))}" if high else "RowKey lt 'd`'"
        fields = ["RowKey", "systemUserId", "createdAt"]
        if targets:
            fields += ["kind", "target", "targetHash"]
        yield from query(
            self.table(),
            f"PartitionKey eq {literal(org_id)} and RowKey ge {literal(low_key)} and {high_clause} "
            "and status eq 'active'",
            select=fields,
        )

    def open_target(self, org_id: str, row: Any) -> Target:
        device_id = str(row["RowKey"])[len(DEVICE_PREFIX) :]
        value = self.cipher.open(str(row["target"]), f"{org_id}|{device_id}")
        return Target(device_id, str(row.get("systemUserId") or ""), str(row.get("kind") or "token"), value)

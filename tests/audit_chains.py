"""Test helper: a month of audit events written straight to storage, linked with the real chain code."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from shared.audit.chain import MacKeys, mac_link
from shared.audit.log import bucket_name
from shared.audit.verify import GENESIS
from shared.ids import new_id
from shared.storage import tables
from shared.storage.router import AccountStorage


def fill_month(
    account: AccountStorage, partner: str, moment: datetime, keys: MacKeys, *, count: int, lanes: int
) -> None:
    """Writes `count` events of `moment`'s month to the partner's partition, MACed with the signing
    key, 100 per transaction and a few transactions at once (appending one by one takes minutes)."""
    kid = keys.signing_kid
    key = keys.get(kid)
    assert key is not None
    start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    rows: list[dict[str, Any]] = []
    heads: dict[int, dict[str, Any]] = {}
    for n in range(count):
        at = start + timedelta(seconds=40 * n)
        lane = n % lanes
        head = heads.get(lane, {"seq": 0, "hash": GENESIS})
        event_id = new_id()
        micros = int(at.timestamp()) * 1_000_000 + at.microsecond
        row: dict[str, Any] = {
            "PartitionKey": partner,
            "RowKey": f"{99_999_999_999_999_999 - micros:017d}{event_id}",
            "id": event_id, "at": at.isoformat().replace("+00:00", "Z"), "lane": lane,
            "seq": head["seq"] + 1, "prev": head["hash"], "action": "thing.changed",
            "actor": '{"id": "operator", "type": "operator"}', "actorId": "operator",
            "target": json.dumps({"id": f"t{n}", "type": "thing"}), "targetId": f"t{n}",
            "changes": "{}", "details": "{}", "kid": kid,
        }  # fmt: skip
        row["hash"] = mac_link(row, key)
        heads[lane] = {
            "seq": row["seq"],
            "hash": row["hash"],
            "eventId": event_id,
            "eventRowKey": row["RowKey"],
        }
        rows.append(row)
    for lane, head in heads.items():
        rows.append({"PartitionKey": partner, "RowKey": f"~head-{lane}", **head})
    table = account.table(bucket_name(start))
    batches = [rows[i : i + 100] for i in range(0, len(rows), 100)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda batch: tables.write(table, [("create", r) for r in batch]), batches))

"""How users become table rows: stable partitions, delta changes that keep what Graph did not send."""

from __future__ import annotations

import json

from shared.adapters.graph import GraphUser
from shared.tenants.store import USER_SHARDS, user_entity, user_from_entity, user_partition, user_shard


def test_a_users_partition_follows_from_its_id_and_spreads_a_tenant() -> None:
    ids = [f"{n:08x}-0000-4000-8000-000000000000" for n in range(2000)]
    shards = [user_shard(i) for i in ids]
    assert shards == [user_shard(i.upper()) for i in ids]
    counts = [shards.count(s) for s in range(USER_SHARDS)]
    assert min(counts) > 2000 / USER_SHARDS / 2  # no partition starves or dominates
    assert user_partition("p", "t", ids[0]).startswith("p~t~")


def test_a_full_row_replaces_and_a_delta_row_merges_only_what_graph_sent() -> None:
    full = GraphUser.model_validate_json(
        json.dumps(
            {
                "id": "u1",
                "displayName": "Ana",
                "userPrincipalName": "ana@f.example",
                "accountEnabled": True,
                "assignedLicenses": [{"skuId": "s1", "disabledPlans": []}],
            }
        )
    )
    row = user_entity("pk", full, "sync.1", only_set=False)
    assert row["RowKey"] == "u1" and row["syncId"] == "sync.1" and "jobTitle" not in row
    assert user_from_entity(row)["assignedLicenses"] == [{"skuId": "s1", "disabledPlans": []}]

    change = GraphUser.model_validate_json(
        json.dumps({"id": "u1", "accountEnabled": False, "jobTitle": None})
    )
    merged = user_entity("pk", change, "sync.2", only_set=True)
    assert set(merged) == {"PartitionKey", "RowKey", "syncId", "accountEnabled", "jobTitle"}
    assert merged["jobTitle"] == ""  # cleared in Graph: an empty marker, read back as absent
    assert "jobTitle" not in user_from_entity({**row, **merged})

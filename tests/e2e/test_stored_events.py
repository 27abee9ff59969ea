"""What the audit log stores, read from storage itself: the client's address anonymised, never in full."""

from __future__ import annotations

from shared.audit.log import bucket_name
from shared.clock import SystemClock
from shared.storage.router import StorageRouter
from tests.e2e.actors import OPERATOR, partner_body
from tests.web import web

FULL_IP = "203.0.113.77"
# What the client wrote into X-Forwarded-For itself: the front end appends the real address after it.
FORGED = "192.0.2.66"


def test_events_store_the_anonymised_address_only(api: str, router: StorageRouter) -> None:
    forwarded = f"{FORGED}, {FULL_IP}"
    created = web.post(
        f"{api}/api/partners", json=partner_body(), headers={**OPERATOR, "x-forwarded-for": forwarded}
    )
    assert created.status_code == 201, created.text
    partner_id = created.json()["id"]
    table = router.region("eu").table_service().get_table_client(bucket_name(SystemClock().now()))
    rows = [dict(row) for row in table.query_entities("PartitionKey eq @p", parameters={"p": partner_id})]
    events = [row for row in rows if row.get("action") == "partner.created"]
    assert len(events) == 1
    assert events[0]["clientIp"] == "203.0.113.0"
    assert not [row for row in rows if FULL_IP in repr(row) or "192.0.2." in repr(row)]

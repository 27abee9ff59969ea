"""Seeds a partner's tenants, users, orgs, devices and events straight into tables (tests, bench)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

from shared.audit.log import AuditLog, NewEvent
from shared.clock import Clock, isoformat
from shared.notifications.devices import device_key
from shared.storage import tables
from shared.storage.router import AccountStorage
from shared.tenants.store import user_partition


@dataclass
class Seeded:
    """What was written, so a caller can compare a package with it."""

    tenants: list[str] = field(default_factory=list)
    orgs: list[str] = field(default_factory=list)
    upns: list[str] = field(default_factory=list)
    rows: int = 0


def seed_partner(
    account: AccountStorage,
    clock: Clock,
    partner_id: str,
    *,
    tenants: int,
    users: int,
    orgs: int,
    devices: int,
    events_per_tenant: int = 2,
) -> Seeded:
    seeded = Seeded()
    now = isoformat(clock.now())
    log = AuditLog(account, clock)
    tenant_rows = []
    for t in range(tenants):
        tenant_id = str(uuid.uuid4())
        seeded.tenants.append(tenant_id)
        tenant_rows.append(
            (
                "replace",
                {
                    "PartitionKey": partner_id,
                    "RowKey": tenant_id,
                    "displayName": f"Fabrikam {t}",
                    "status": "active",
                    "createdAt": now,
                    "userCount": users,
                },
            )
        )
        user_rows = []
        for u in range(users):
            user_id = str(uuid.uuid4())
            upn = f"user{u}@fabrikam-{tenant_id[:8]}.example"
            seeded.upns.append(upn)
            user_rows.append(
                (
                    "replace",
                    {
                        "PartitionKey": user_partition(partner_id, tenant_id, user_id),
                        "RowKey": user_id,
                        "userPrincipalName": upn,
                        "mail": upn,
                        "displayName": f"User {u} of tenant {t}",
                        "accountEnabled": u % 7 != 0,
                        "syncId": "seed",
                    },
                )
            )
        tables.write(account.table("tenantusers"), user_rows)
        seeded.rows += len(user_rows)
        for e in range(events_per_tenant):
            log.append(
                partner_id,
                NewEvent(
                    "tenant.updated",
                    {"type": "personnel", "id": "seed"},
                    {"type": "tenant", "id": tenant_id},
                    details={"note": f"change {e} by admin{t}@contoso.example"},
                ),
            )
            seeded.rows += 1
    tables.write(account.table("tenants"), tenant_rows)
    seeded.rows += len(tenant_rows)
    org_rows = []
    for o in range(orgs):
        org_id = str(uuid.uuid4())
        seeded.orgs.append(org_id)
        org_rows.append(
            (
                "replace",
                {
                    "PartitionKey": partner_id,
                    "RowKey": org_id,
                    "uniqueName": f"org{o}",
                    "name": f"Org {o}",
                    "administrators": json.dumps([f"crm-admin{o}@fabrikam.example"]),
                    "webhookKeyHash": "never-exported",
                    "accessState": "proven",
                },
            )
        )
        device_rows = [
            (
                "replace",
                {
                    "PartitionKey": org_id,
                    "RowKey": device_key(f"{d:026d}"),
                    "systemUserId": str(uuid.uuid4()),
                    "kind": "token",
                    "target": "sealed-push-token",
                    "targetHash": "keyed-hash",
                    "secretHash": "hash-of-secret",
                    "status": "active",
                    "createdAt": now,
                },
            )
            for d in range(devices)
        ]
        tables.write(account.table("devices"), device_rows)
        seeded.rows += len(device_rows)
    tables.write(account.table("orgs"), org_rows)
    seeded.rows += len(org_rows)
    return seeded

"""Seeds a partner's tenants, users, orgs, devices, events, notifications with their delivery
outcomes and configuration snapshots straight into storage (tests, bench)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from shared.adapters.graph import (
    GLOBAL_ADMINISTRATOR,
    ConditionalAccessPolicy,
    Domain,
    RoleAssignment,
    TenantConfiguration,
)
from shared.audit.log import AuditLog, NewEvent
from shared.clock import Clock, isoformat
from shared.ids import new_id
from shared.notifications.devices import device_key
from shared.storage import tables
from shared.storage.router import AccountStorage
from shared.tenants.snapshots import SNAPSHOTS, metadata_for
from shared.tenants.store import user_partition
from shared.tenants.sync import snapshot_blob


@dataclass
class Seeded:
    """What was written, so a caller can compare a package with it."""

    tenants: list[str] = field(default_factory=list)
    orgs: list[str] = field(default_factory=list)
    upns: list[str] = field(default_factory=list)
    user_ids: list[str] = field(default_factory=list)
    notifications: list[str] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)  # blob names
    rows: int = 0
    blobs: int = 0


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
    notifications: int = 0,
    snapshots: int = 0,
) -> Seeded:
    """`notifications` per org, each delivered to every device of the org (a row per device, as
    the fan-out writes them); `snapshots` per tenant, as a sync stores them."""
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
        tenant_users: list[tuple[str, str]] = []
        for u in range(users):
            user_id = str(uuid.uuid4())
            upn = f"user{u}@fabrikam-{tenant_id[:8]}.example"
            seeded.upns.append(upn)
            seeded.user_ids.append(user_id)
            tenant_users.append((user_id, upn))
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
        for _ in range(snapshots):
            seeded.snapshots.append(_snapshot(account, now, partner_id, tenant_id, tenant_users))
            seeded.blobs += 1
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
        for _ in range(notifications):
            seeded.notifications.append(_notification(account, now, org_id, device_rows))
            seeded.rows += 1 + len(device_rows)
    tables.write(account.table("orgs"), org_rows)
    seeded.rows += len(org_rows)
    return seeded


def _snapshot(
    account: AccountStorage, now: str, partner_id: str, tenant_id: str, users: list[tuple[str, str]]
) -> str:
    """A configuration snapshot naming role holders by id, and (as admins do) a break-glass
    account's address in a policy's name."""
    holders = [user_id for user_id, _ in users[:2]]
    configuration = TenantConfiguration(
        tenant_id=tenant_id,
        domains=[Domain(id=f"fabrikam-{tenant_id[:8]}.example", is_default=True, is_verified=True)],
        role_assignments=[
            RoleAssignment(
                id=str(uuid.uuid4()),
                principal_id=holder,
                role_definition_id=GLOBAL_ADMINISTRATOR,
                role_name="Global Administrator",
                role_template_id=GLOBAL_ADMINISTRATOR,
            )
            for holder in holders
        ],
        conditional_access_policies=[
            ConditionalAccessPolicy(
                id=str(uuid.uuid4()),
                display_name=f"Require MFA (break-glass {users[0][1]} excluded)" if users else "Require MFA",
                state="enabled",
                conditions={"users": {"includeUsers": ["All"], "excludeUsers": holders[:1]}},
                grant_controls={"operator": "OR", "builtInControls": ["mfa"]},
            )
        ],
    )
    sync_id = new_id()
    document = {
        "syncId": sync_id,
        "takenAt": now,
        "configuration": configuration.model_dump(mode="json", by_alias=True, exclude={"tenant_id"}),
    }
    name = snapshot_blob(partner_id, tenant_id, sync_id)
    account.container(SNAPSHOTS).upload_blob(
        name, json.dumps(document).encode(), overwrite=True, metadata=metadata_for(now, drift=False)
    )
    return name


def _notification(
    account: AccountStorage, now: str, org_id: str, devices: list[tuple[str, dict[str, Any]]]
) -> str:
    """A completed notification to every device of the org, with each device's outcome row."""
    notification_id = new_id()
    account.table("notifications").upsert_entity(
        {
            "PartitionKey": org_id,
            "RowKey": notification_id,
            "source": "partner",
            "state": "completed",
            "recipients": "everyone",
            "createdAt": now,
            "completedAt": now,
            "deviceCount": len(devices),
            "sent": len(devices),
            "failed": 0,
            "payloadBlob": False,
        }
    )
    outcomes = [
        (
            "replace",
            {
                "PartitionKey": notification_id,
                "RowKey": str(row["RowKey"])[len(device_key("")) :],
                "attempts": 1,
                "systemUserId": row["systemUserId"],
                "state": "sent",
                "messageId": f"projects/seed/messages/{notification_id}-{n}",
                "sentAt": now,
            },
        )
        for n, (_, row) in enumerate(devices)
    ]
    tables.write(account.table("notifydeliveries"), outcomes)
    return notification_id

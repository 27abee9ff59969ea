"""Export of one data subject in a large tenant: median time and rows read, at two tenant sizes.

Starts a private Azurite and seeds a tenant of N end users straight into storage through the
store's own builders (`DirectoryStore.upsert_users`, which also writes the subject index, as a
sync does), plus G groups with members and a few audit events naming each measured subject.
Then exports R random subjects (by UPN, through the index) and reports the median wall time, the
CPU time per export and the rows read; the same at a small tenant (`--small`) shows that rows
read do not depend on the number of users. Last line: `subject_export_median_ms: <n>`.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from localdev.stack import start_test_azurite  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--users", type=int, default=100_000, help="users in the large tenant (default 100000)"
    )
    parser.add_argument("--small", type=int, default=1_000, help="users in the small tenant (default 1000)")
    parser.add_argument("--groups", type=int, default=50, help="groups per tenant (default 50)")
    parser.add_argument("--exports", type=int, default=15, help="subjects exported per tenant (default 15)")
    parser.add_argument("--events", type=int, default=3, help="audit events naming each subject (default 3)")
    args = parser.parse_args()
    azurite, env = start_test_azurite()
    try:
        os.environ.update(env)
        for key, value in _example_settings().items():
            os.environ.setdefault(key, value)
        run(args)
    finally:
        azurite.stop()


def _example_settings() -> dict[str, str]:
    import json

    values: dict[str, str] = json.loads((REPO / "local.settings.example.json").read_text())["Values"]
    return {k: v for k, v in values.items() if not k.startswith(("TENANTRY_STORAGE", "AzureWebJobs"))}


def seed(partner_id: str, users: int, groups: int) -> tuple[str, list[str]]:
    """A tenant of `users` users and `groups` groups of up to 500 members; returns (tenant, user ids)."""
    from functions import deps
    from shared.adapters.graph import GraphUser
    from shared.privacy.subjects.index import index_key
    from shared.tenants.store import DirectoryStore

    tenant_id = str(uuid.uuid4())
    account = deps.storage().region("eu")
    ids = [str(uuid.uuid4()) for _ in range(users)]
    started = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        store = DirectoryStore(
            account, partner_id, tenant_id, pool, index_key(deps.key_ring(deps.settings()))
        )
        for start in range(0, users, 5000):
            batch = [
                GraphUser.model_validate(
                    {
                        "id": user_id,
                        "displayName": f"User {n}",
                        "userPrincipalName": f"user{n}@{tenant_id[:8]}.example",
                        "mail": f"user{n}@{tenant_id[:8]}.example",
                        "accountEnabled": True,
                    }
                )
                for n, user_id in enumerate(ids[start : start + 5000], start=start)
            ]
            store.upsert_users(batch, "seed", full=True)
        entities = [
            store.group_entity(
                {"RowKey": str(uuid.uuid4()), "displayName": f"Group {g}"},
                set(random.sample(ids, min(500, users))),
            )
            for g in range(groups)
        ]
        store.upsert_groups(entities)
    print(f"tenant of {users} users, {groups} groups seeded in {time.perf_counter() - started:.1f}s")
    return tenant_id, ids


def measure(
    partner_id: str, tenant_id: str, ids: list[str], args: argparse.Namespace
) -> tuple[float, int, float]:
    from functions import deps
    from shared.audit.log import AuditLog, NewEvent
    from shared.audit.seal import EventSubject, tenant_scope
    from shared.privacy.subjects import SubjectIdentifier, SubjectScope

    account = deps.storage().region("eu")
    log = AuditLog(account, deps.clock())
    picks = random.sample(range(len(ids)), args.exports)
    for n in picks:
        for k in range(args.events):
            log.append(
                partner_id,
                NewEvent(
                    action="tenant.user.updated",
                    actor={"type": "personnel", "id": "bench"},
                    target={"type": "user", "id": ids[n], "tenantId": tenant_id},
                    changes={"displayName": {"before": f"User {n}", "after": f"User {n} ({k})"}},
                    subject=EventSubject(tenant_scope(tenant_id), ids[n]),
                ),
            )
    data = deps.subject_data()
    scope = SubjectScope(partner_id, "eu", tenant_id=tenant_id)
    data.export(scope, SubjectIdentifier(object_id=ids[picks[0]]), request_id="warm-up")
    walls, cpus, rows = [], [], []
    for n in picks:
        who = SubjectIdentifier(email=f"user{n}@{tenant_id[:8]}.example")
        wall, cpu = time.perf_counter(), time.process_time()
        result = data.export(scope, who, request_id=f"bench-{n}")
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
        rows.append(result.rows_read)
        assert result.counts.get("tenantUser") == 1 and result.counts.get("auditEvents") == args.events
    return statistics.median(walls), int(statistics.median(rows)), statistics.median(cpus)


def run(args: argparse.Namespace) -> None:
    from functions import deps
    from shared.access.principals import Actor
    from shared.audit.context import ActionContext
    from shared.partners.models import PartnerIn

    partner = deps.partners().create(
        PartnerIn.model_validate(
            {
                "displayName": "Bench IT",
                "region": "eu",
                "entraTenantId": str(uuid.uuid4()),
                "contact": {"name": "Bench", "email": "bench@example.com"},
                "subscription": {"plan": "standard", "tenantLimit": 10, "billingCycle": "monthly"},
            }
        ),
        ActionContext(Actor("personnel", "bench")),
    )
    figures = {}
    for users in (args.small, args.users):
        tenant_id, ids = seed(partner.id, users, args.groups)
        figures[users] = measure(partner.id, tenant_id, ids, args)
        wall, rows, cpu = figures[users]
        print(
            f"{users:>7} users: export median {wall:.1f} ms wall, {cpu:.1f} ms CPU, rows read {rows} "
            f"({args.groups} of them the tenant's group rows; the rest: subject rows, index entries, events)"
        )
    small_rows, large_rows = figures[args.small][1], figures[args.users][1]
    print(f"rows read: {small_rows} at {args.small} users, {large_rows} at {args.users} users")
    print(f"subject_export_median_ms: {figures[args.users][0]:.1f}")


if __name__ == "__main__":
    main()

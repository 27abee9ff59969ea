"""Configuration snapshots a tenant keeps: the latest few, and those drift events still refer to.

Blobs of `tenantsnapshots` are named `<partner>/<tenant>/<sync id>.json`; sync ids are ULIDs, so
name order is the order they were taken. Each carries metadata: `takenat` (the sync's clock) and
`drift` ("1" once a drift event compares it with its neighbour, "0" otherwise). A drift event
stays 24 months in its monthly log table, so a snapshot it refers to stays as long; a snapshot
that is neither among the latest nor referred to goes at the next sweep.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from shared.clock import parse_iso
from shared.errors import not_found
from shared.partners.subscription import add_months
from shared.privacy.retention import EVENT_LOG_MONTHS, Candidate, SweepScope
from shared.tenants import drift
from shared.tenants.models import SettingChange, SnapshotChanges, SnapshotList, SnapshotOut

SNAPSHOTS = "tenantsnapshots"
KEEP_LATEST = 10
DRIFT = "drift"
TAKEN_AT = "takenat"
CATEGORY = "end-user data"


def metadata_for(taken_at: str, *, drift: bool) -> dict[str, str]:
    return {TAKEN_AT: taken_at, DRIFT: "1" if drift else "0"}


def mark_referenced(container: Any, name: str) -> None:
    """Marks a snapshot as compared by a drift event (kept as long as the event)."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        metadata = dict(container.get_blob_client(name).get_blob_properties().metadata or {})
        if metadata.get(DRIFT) != "1":
            container.get_blob_client(name).set_blob_metadata({**metadata, DRIFT: "1"})
    except ResourceNotFoundError:
        pass  # removed with its tenant meanwhile


class SnapshotHistory:
    """The retention rule of `tenantsnapshots` for tenants still managed (a removed tenant's
    snapshots go with it, `purge_tenant_data`)."""

    name = "tenants.snapshots"
    covers = (SNAPSHOTS,)
    tested_by = (
        "tests/integration/test_retention_rules.py::test_snapshots_keep_the_latest_and_those_drift_refers_to"
    )

    def __init__(self, keep: int = KEEP_LATEST):
        self.keep = keep

    def candidates(self, scope: SweepScope, after: str | None) -> Iterator[Candidate]:
        tenant: str | None = None
        taken: list[Any] = []
        for blob in scope.account.container(SNAPSHOTS).list_blobs(include=["metadata"]):
            prefix = blob.name.rsplit("/", 1)[0]
            if prefix != tenant:
                yield from self._due(scope, taken, after)
                tenant, taken = prefix, []
            taken.append(blob)
        yield from self._due(scope, taken, after)

    def _due(self, scope: SweepScope, taken: list[Any], after: str | None) -> Iterator[Candidate]:
        older = taken[: max(len(taken) - self.keep, 0)]
        for blob in older:
            if after is not None and blob.name <= after:
                continue
            if not self._referenced(blob.metadata or {}, blob.creation_time, scope.as_of):
                yield Candidate(blob.name, CATEGORY, blob.name)

    @staticmethod
    def _referenced(metadata: dict[str, str], created: datetime | None, as_of: datetime) -> bool:
        # A snapshot written before snapshots carried metadata may be referred to: kept as if it were.
        if metadata.get(DRIFT) == "0":
            return False
        taken = parse_iso(metadata[TAKEN_AT]) if metadata.get(TAKEN_AT) else created
        return taken is None or add_months(taken, EVENT_LOG_MONTHS + 1) > as_of

    def delete(self, scope: SweepScope, candidate: Candidate) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            scope.account.container(SNAPSHOTS).delete_blob(str(candidate.ref))
        except ResourceNotFoundError:
            return False
        return True


class SnapshotReader:
    """A partner's view of one tenant's stored snapshots: which there are, and what changed between two."""

    def __init__(self, account: Any, partner_id: str):
        self.account = account
        self.partner_id = partner_id

    def _blobs(self, tenant_id: str) -> list[Any]:
        prefix = f"{self.partner_id}/{tenant_id}/"
        return list(
            self.account.container(SNAPSHOTS).list_blobs(name_starts_with=prefix, include=["metadata"])
        )

    def list_snapshots(self, tenant_id: str) -> SnapshotList:
        items = []
        for blob in reversed(self._blobs(tenant_id)):  # newest first
            metadata = blob.metadata or {}
            items.append(
                SnapshotOut(
                    sync_id=blob.name.rsplit("/", 1)[1].removesuffix(".json"),
                    taken_at=metadata.get(TAKEN_AT) or blob.creation_time,
                    compared_by_drift=metadata.get(DRIFT) != "0",
                )
            )
        return SnapshotList(items=items)

    def _configuration(self, tenant_id: str, sync_id: str) -> dict[str, Any]:
        from azure.core.exceptions import ResourceNotFoundError

        name = f"{self.partner_id}/{tenant_id}/{sync_id}.json"
        try:
            document = json.loads(self.account.container(SNAPSHOTS).download_blob(name).readall())
        except ResourceNotFoundError:
            raise not_found("No such snapshot: it was never taken, or it is no longer kept.") from None
        return dict(document["configuration"])

    def list_changes(self, tenant_id: str, sync_id: str, since: str | None) -> SnapshotChanges:
        after = self._configuration(tenant_id, sync_id)
        if since is None:
            names = [blob.name for blob in self._blobs(tenant_id)]
            mine = f"{self.partner_id}/{tenant_id}/{sync_id}.json"
            earlier = [name for name in names if name < mine]
            if not earlier:
                return SnapshotChanges(sync_id=sync_id, since=None, changes=[])
            since = earlier[-1].rsplit("/", 1)[1].removesuffix(".json")
        before = self._configuration(tenant_id, since)
        changes = [
            SettingChange(setting=d.setting, summary=d.summary, before=d.before, after=d.after)
            for d in drift.compare(before, after)
        ]
        return SnapshotChanges(sync_id=sync_id, since=since, changes=changes)


# --- end users named in snapshots (role holders, policy members) -------------------------------

ERASED = "[erased]"


def without_mentions(value: Any, identifiers: frozenset[str]) -> tuple[Any, int]:
    """`value` with every string naming one of `identifiers` (lowercase) erased; how many were."""
    return _erasing(value, lambda text: text.lower() in identifiers)


def without_erased_subjects(configuration: Any, is_erased: Callable[[str], bool]) -> Any:
    """A new snapshot's configuration with every end user erased on request read as `[erased]`:
    the user may still hold a role in the customer's directory, and a later snapshot must not bring
    back what erasure stripped from the earlier ones (nor drift name them again)."""
    return _erasing(configuration, lambda text: _OBJECT_ID.match(text) is not None and is_erased(text))[0]


_OBJECT_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _erasing(value: Any, erased: Callable[[str], bool]) -> tuple[Any, int]:
    if isinstance(value, str):
        return (ERASED, 1) if erased(value) else (value, 0)
    if isinstance(value, list):
        pairs = [_erasing(item, erased) for item in value]
        return [item for item, _ in pairs], sum(n for _, n in pairs)
    if isinstance(value, dict):
        pairs_by_key = {key: _erasing(item, erased) for key, item in value.items()}
        return {key: item for key, (item, _) in pairs_by_key.items()}, sum(
            n for _, n in pairs_by_key.values()
        )
    return value, 0


def snapshots_naming(
    account: Any, partner_id: str, tenant_id: str, identifiers: set[str]
) -> list[dict[str, Any]]:
    """The tenant's snapshots that name the end user (object id, UPN or mail), for access and export."""
    wanted = frozenset(i.lower() for i in identifiers if i)
    container = account.container(SNAPSHOTS)
    found = []
    for blob in container.list_blobs(name_starts_with=f"{partner_id}/{tenant_id}/"):
        document = json.loads(container.download_blob(blob.name).readall())
        _, mentions = without_mentions(document.get("configuration"), wanted)
        if mentions:
            found.append(
                {"syncId": document.get("syncId"), "takenAt": document.get("takenAt"), "mentions": mentions}
            )
    return found


def erase_from_snapshots(account: Any, partner_id: str, tenant_id: str, identifiers: set[str]) -> int:
    """Rewrites the tenant's snapshots without the end user (erasure; idempotent); how many changed.

    Snapshots stay comparable: the erased holder reads `[erased]` on both sides of any later drift.
    """
    wanted = frozenset(i.lower() for i in identifiers if i)
    container = account.container(SNAPSHOTS)
    changed = 0
    for blob in container.list_blobs(name_starts_with=f"{partner_id}/{tenant_id}/", include=["metadata"]):
        document = json.loads(container.download_blob(blob.name).readall())
        erased, mentions = without_mentions(document, wanted)
        if mentions:
            data = json.dumps(erased).encode()
            container.upload_blob(blob.name, data, overwrite=True, metadata=dict(blob.metadata or {}))
            changed += 1
    return changed

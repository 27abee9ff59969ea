"""A proven tenant's directory as the partner reads and manages it: users, groups, configuration.

Reads come from the synced copy (store.py) and the latest snapshot; changes go to the customer's
tenant through Graph first, then the copy takes what Graph answers, so the next sync finds no drift.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import string
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from shared.adapters.graph import GraphUser
from shared.audit.context import ActionContext, diff
from shared.audit.seal import EventSubject, tenant_scope
from shared.errors import ProblemError, not_found
from shared.privacy.flags import refuse_if_restricted, tenant_partition
from shared.storage import tables
from shared.tenants.graph_access import DEFAULT_CREDENTIAL, GraphAccess, call_graph
from shared.tenants.models import (
    ConfigurationOut,
    GroupOut,
    LicenceChangeIn,
    MfaResetOut,
    PasswordResetOut,
    RemovedMethod,
    SessionsRevokedOut,
    UserOut,
    UserPatch,
    UserQuery,
)
from shared.tenants.records import TenantStore
from shared.tenants.snapshots import SNAPSHOTS
from shared.tenants.store import (
    GROUPS,
    DirectoryStore,
    group_from_entity,
    group_members,
    group_partition,
    user_from_entity,
)

if TYPE_CHECKING:
    from shared.audit.log import AuditLog
    from shared.keys import KeyedHasher
    from shared.partners.service import Partner
    from shared.storage.router import AccountStorage


_PASSWORD_SETS = (string.ascii_lowercase, string.ascii_uppercase, string.digits, "!#$%&*+-=?@^_")


def one_time_password(length: int = 20) -> str:
    """Random, with a character of each set (Entra's complexity rule needs three of four)."""
    chars = [secrets.choice(group) for group in _PASSWORD_SETS]
    alphabet = "".join(_PASSWORD_SETS)
    chars += [secrets.choice(alphabet) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


class DirectoryService:
    """Users, groups and configuration of one partner's proven tenants."""

    def __init__(
        self,
        account: AccountStorage,
        partner: Partner,
        graph: GraphAccess | None,
        *,
        rows: TenantStore,
        audit: AuditLog,
        index_key: KeyedHasher,
    ):
        self.account = account
        self.partner = partner
        self.graph = graph
        self.rows = rows
        self.audit = audit
        self.index_key = index_key

    # --- users and groups ------------------------------------------------------------------

    def _store(self, tenant_id: str, pool: ThreadPoolExecutor | None = None) -> DirectoryStore:
        return DirectoryStore(
            self.account, self.partner.id, tenant_id.lower(), pool or ThreadPoolExecutor(1), self.index_key
        )

    def list_users(self, tenant_id: str, query: UserQuery) -> tuple[list[UserOut], str | None]:
        tenant_id = str(self.rows.get_proven(tenant_id)["RowKey"])
        server = ""
        if query.enabled is not None:
            server = f" and accountEnabled eq {'true' if query.enabled else 'false'}"
        text = (query.search or "").lower()
        licence = (query.licence or "").lower()

        def keep(row: Any) -> bool:
            if text and not any(
                text in str(row.get(f) or "").lower() for f in ("displayName", "userPrincipalName", "mail")
            ):
                return False
            return not licence or licence in str(row.get("assignedLicenses") or "").lower()

        rows, token = self._store(tenant_id).list_user_page(query.top, query.continuation_token, server, keep)
        return [UserOut.model_validate(user_from_entity(r)) for r in rows], token

    def _user_row(self, tenant_id: str, user_id: str) -> Any:
        row = self._store(tenant_id).get_user(user_id.lower()) if len(user_id) <= 64 else None
        if row is None:
            raise not_found("No such user in this tenant.")
        return row

    def _writable_user_row(self, tenant_id: str, user_id: str) -> Any:
        """The user's row, unless a restriction or objection stops changes to them (Art. 18, 21)."""
        row = self._user_row(tenant_id, user_id)
        refuse_if_restricted(self.account, tenant_partition(self.partner.id, tenant_id), str(row["RowKey"]))
        return row

    def get_user(self, tenant_id: str, user_id: str) -> UserOut:
        tenant_id = str(self.rows.get_proven(tenant_id)["RowKey"])
        return UserOut.model_validate(user_from_entity(self._user_row(tenant_id, user_id)))

    def _writer_call(self, tenant: Any, action: Callable[[Any], Any]) -> Any:
        assert self.graph is not None, "management needs Graph access"
        writer = self.graph.writer(
            str(tenant["RowKey"]), str(tenant.get("credentialRef") or DEFAULT_CREDENTIAL)
        )

        async def run() -> Any:
            async with writer:
                return await action(writer)

        return call_graph(lambda: asyncio.run(run()))

    def _refresh_user(self, tenant: Any, user_id: str) -> Any:
        user: GraphUser = self._writer_call(tenant, lambda w: w.get_user(user_id))
        return self._store(str(tenant["RowKey"])).update_user_row(user)

    def update_user(self, tenant_id: str, user_id: str, patch: UserPatch, context: ActionContext) -> UserOut:
        tenant = self.rows.get_proven(tenant_id)
        tenant_id = str(tenant["RowKey"])
        row = self._writable_user_row(tenant_id, user_id)
        before = user_from_entity(row)
        fields = patch.model_dump(exclude_none=True)
        if fields:
            self._writer_call(tenant, lambda w: w.update_user(row["RowKey"], **fields))
        after = user_from_entity(self._refresh_user(tenant, str(row["RowKey"])))
        keys = set(patch.model_dump(by_alias=True, exclude_none=True))
        context.record(
            self.audit,
            self.partner.id,
            "tenant.user.updated",
            {"type": "user", "id": row["RowKey"], "tenantId": tenant_id},
            changes=diff({k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}),
            subject=EventSubject(tenant_scope(tenant_id), str(row["RowKey"])),
        )
        return UserOut.model_validate(after)

    def reset_password(self, tenant_id: str, user_id: str, context: ActionContext) -> PasswordResetOut:
        """A one-time password set through Graph and answered once: it is in no table, log or event."""
        tenant = self.rows.get_proven(tenant_id)
        tenant_id = str(tenant["RowKey"])
        row = self._writable_user_row(tenant_id, user_id)
        password = one_time_password()
        self._writer_call(tenant, lambda w: w.reset_password(row["RowKey"], password))
        context.record(
            self.audit,
            self.partner.id,
            "tenant.user.passwordReset",
            {"type": "user", "id": row["RowKey"], "tenantId": tenant_id},
            details={"forceChangePasswordNextSignIn": True},
            subject=EventSubject(tenant_scope(tenant_id), str(row["RowKey"])),
        )
        return PasswordResetOut(user_id=str(row["RowKey"]), temporary_password=password)

    def revoke_sessions(self, tenant_id: str, user_id: str, context: ActionContext) -> SessionsRevokedOut:
        tenant = self.rows.get_proven(tenant_id)
        tenant_id = str(tenant["RowKey"])
        row = self._writable_user_row(tenant_id, user_id)
        self._writer_call(tenant, lambda w: w.revoke_sessions(row["RowKey"]))
        context.record(
            self.audit,
            self.partner.id,
            "tenant.user.sessionsRevoked",
            {"type": "user", "id": row["RowKey"], "tenantId": tenant_id},
            subject=EventSubject(tenant_scope(tenant_id), str(row["RowKey"])),
        )
        return SessionsRevokedOut(user_id=str(row["RowKey"]), revoked_at=self.audit.clock.now())

    def reset_mfa(self, tenant_id: str, user_id: str, context: ActionContext) -> MfaResetOut:
        """Deletes the user's authentication methods but the password: they register MFA afresh."""
        tenant = self.rows.get_proven(tenant_id)
        tenant_id = str(tenant["RowKey"])
        row = self._writable_user_row(tenant_id, user_id)
        removed: list[tuple[str, str]] = self._writer_call(
            tenant, lambda w: w.reset_mfa_methods(row["RowKey"])
        )
        context.record(
            self.audit,
            self.partner.id,
            "tenant.user.mfaReset",
            {"type": "user", "id": row["RowKey"], "tenantId": tenant_id},
            details={"removed": [kind for _, kind in removed]},
            subject=EventSubject(tenant_scope(tenant_id), str(row["RowKey"])),
        )
        return MfaResetOut(
            user_id=str(row["RowKey"]), removed=[RemovedMethod(id=i, type=kind) for i, kind in removed]
        )

    def change_licences(
        self, tenant_id: str, user_id: str, change: LicenceChangeIn, context: ActionContext
    ) -> UserOut:
        from shared.adapters.graph import LicenceChange

        tenant = self.rows.get_proven(tenant_id)
        tenant_id = str(tenant["RowKey"])
        row = self._writable_user_row(tenant_id, user_id)
        before = user_from_entity(row)
        held = {lic["skuId"].lower() for lic in before.get("assignedLicenses", [])}
        skus = {
            str(s["skuId"]).lower(): s for s in (self._latest_config(tenant) or {}).get("subscribedSkus", [])
        }
        for item in change.add:
            sku = skus.get(item.sku_id.lower())
            if sku is not None and item.sku_id.lower() not in held:
                free = int(sku.get("prepaidUnits", {}).get("enabled", 0)) - int(sku.get("consumedUnits", 0))
                if free <= 0:
                    raise ProblemError(
                        409,
                        "no-free-licences",
                        "No free licences of that SKU.",
                        f"{sku.get('skuPartNumber') or item.sku_id}: "
                        f"all {sku['prepaidUnits']['enabled']} seats are assigned.",
                    )
        add = [
            LicenceChange(a.sku_id.lower(), tuple(p.lower() for p in a.disabled_plans)) for a in change.add
        ]
        remove = [r.lower() for r in change.remove]
        self._writer_call(tenant, lambda w: w.assign_licences(row["RowKey"], add=add, remove=remove))
        after = user_from_entity(self._refresh_user(tenant, str(row["RowKey"])))
        context.record(
            self.audit,
            self.partner.id,
            "tenant.user.licencesChanged",
            {"type": "user", "id": row["RowKey"], "tenantId": tenant_id},
            changes=diff(
                {"assignedLicenses": before.get("assignedLicenses")},
                {"assignedLicenses": after.get("assignedLicenses")},
            ),
            subject=EventSubject(tenant_scope(tenant_id), str(row["RowKey"])),
        )
        return UserOut.model_validate(after)

    def list_groups(
        self, tenant_id: str, top: int, continuation: str | None
    ) -> tuple[list[GroupOut], str | None]:
        tenant_id = str(self.rows.get_proven(tenant_id)["RowKey"])
        rows, token = tables.page(
            self.account.table(GROUPS),
            tables.partition(group_partition(self.partner.id, tenant_id)),
            top,
            continuation,
        )
        return [GroupOut.model_validate(group_from_entity(r, with_members=False)) for r in rows], token

    def _group_row(self, tenant_id: str, group_id: str) -> Any:
        row = self._store(tenant_id).get_group(group_id.lower()) if len(group_id) <= 64 else None
        if row is None:
            raise not_found("No such group in this tenant.")
        return row

    def get_group(self, tenant_id: str, group_id: str) -> GroupOut:
        tenant_id = str(self.rows.get_proven(tenant_id)["RowKey"])
        return GroupOut.model_validate(
            group_from_entity(self._group_row(tenant_id, group_id), with_members=True)
        )

    def change_member(
        self, tenant_id: str, group_id: str, user_id: str, *, add: bool, context: ActionContext
    ) -> GroupOut:
        from shared.adapters.graph import GraphConflictError

        tenant = self.rows.get_proven(tenant_id)
        tenant_id = str(tenant["RowKey"])
        group = self._group_row(tenant_id, group_id)
        user_id = user_id.lower()
        if add:
            self._writable_user_row(tenant_id, user_id)

            async def adding(w: Any) -> None:
                # A retried add that already happened is done, not a conflict.
                with suppress(GraphConflictError):
                    await w.add_group_member(group["RowKey"], user_id)

            self._writer_call(tenant, adding)
        else:
            # Removing needs no synced row (the user may already have left), only no restriction.
            refuse_if_restricted(self.account, tenant_partition(self.partner.id, tenant_id), user_id)
            self._writer_call(tenant, lambda w: w.remove_group_member(group["RowKey"], user_id))
        members = group_members(group)
        self._store(tenant_id).replace_members(group, members | {user_id} if add else members - {user_id})
        context.record(
            self.audit,
            self.partner.id,
            "tenant.group.memberAdded" if add else "tenant.group.memberRemoved",
            {"type": "group", "id": group["RowKey"], "tenantId": tenant_id},
            details={"userId": user_id},
            subject=EventSubject(tenant_scope(tenant_id), user_id, ("details.userId",)),
        )
        return GroupOut.model_validate(
            group_from_entity(self._group_row(tenant_id, group_id), with_members=True)
        )

    # --- configuration ---------------------------------------------------------------------

    def _latest_document(self, tenant: Any) -> dict[str, Any] | None:
        from azure.core.exceptions import ResourceNotFoundError

        name = tenant.get("lastSnapshot")
        if not name:
            return None
        try:
            document: dict[str, Any] = json.loads(
                self.account.container(SNAPSHOTS).download_blob(name).readall()
            )
        except ResourceNotFoundError:
            return None
        return document

    def _latest_config(self, tenant: Any) -> dict[str, Any] | None:
        document = self._latest_document(tenant)
        return document["configuration"] if document else None

    def get_configuration(self, tenant_id: str) -> ConfigurationOut:
        document = self._latest_document(self.rows.get_proven(tenant_id))
        if document is None:
            raise not_found("No configuration snapshot yet: the tenant has not synced.")
        return ConfigurationOut(
            sync_id=document["syncId"], taken_at=document["takenAt"], configuration=document["configuration"]
        )

    def update_security_defaults(self, tenant_id: str, enabled: bool, context: ActionContext) -> bool:
        tenant = self.rows.get_proven(tenant_id)
        tenant_id = str(tenant["RowKey"])
        document = self._latest_document(tenant)
        before = ((document or {}).get("configuration", {}).get("securityDefaults") or {}).get("isEnabled")
        self._writer_call(tenant, lambda w: w.set_security_defaults(enabled))
        if document is not None:
            # Our own change is not drift: the stored snapshot takes it, so the next sync compares
            # against what we set.
            config = document["configuration"]
            config["securityDefaults"] = {
                **(config.get("securityDefaults") or {"id": "00000000000000000000000000000000"}),
                "isEnabled": enabled,
            }
            self.account.container(SNAPSHOTS).upload_blob(
                tenant["lastSnapshot"], json.dumps(document).encode(), overwrite=True
            )
        context.record(
            self.audit,
            self.partner.id,
            "tenant.securityDefaults.changed",
            {"type": "tenant", "id": tenant_id},
            changes={"securityDefaults": {"before": before, "after": enabled}},
        )
        return enabled

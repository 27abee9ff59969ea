"""A tenant's new-user template (licences, groups) and creating a user from it through Graph."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import TYPE_CHECKING, Any, TypeVar

from shared.adapters.graph import GraphError, LicenceChange
from shared.adapters.graph_lifecycle import LifecycleWriter
from shared.audit.context import ActionContext
from shared.audit.seal import EventSubject, tenant_scope
from shared.clock import isoformat, parse_iso
from shared.errors import FieldError, ProblemError, not_found, validation_failed
from shared.storage import tables
from shared.tenants.directory import one_time_password
from shared.tenants.graph_access import DEFAULT_CREDENTIAL, call_graph
from shared.tenants.lifecycle_models import (
    LIFECYCLE,
    UserCreatedOut,
    UserCreateIn,
    UserTemplateIn,
    UserTemplateOut,
)
from shared.tenants.models import LicenceAdd, UserOut
from shared.tenants.store import user_from_entity

if TYPE_CHECKING:
    from shared.clock import Clock
    from shared.tenants.directory import DirectoryService

T = TypeVar("T")
TEMPLATE_KEY = "template"


def _template_out(row: Any) -> UserTemplateOut:
    return UserTemplateOut(
        tenant_id=str(row["tenantId"]),
        licences=[LicenceAdd.model_validate(item) for item in json.loads(row.get("licences") or "[]")],
        groups=json.loads(row.get("groups") or "[]"),
        usage_location=row.get("usageLocation") or None,
        updated_at=parse_iso(row["updatedAt"]),
    )


class UserTemplates:
    """One template per tenant, and users created from it (their password answered once, kept nowhere)."""

    def __init__(self, directory: DirectoryService, clock: Clock):
        self.directory = directory
        self.account = directory.account
        self.partner = directory.partner
        self.rows = directory.rows
        self.audit = directory.audit
        self.clock = clock

    @property
    def _table(self) -> Any:
        return self.account.table(LIFECYCLE)

    def _partition(self, tenant_id: str) -> str:
        return f"{self.partner.id}~{tenant_id.lower()}"

    def get_template(self, tenant_id: str) -> UserTemplateOut:
        tenant_id = str(self.rows.get(tenant_id)["RowKey"])
        row = tables.get(self._table, self._partition(tenant_id), TEMPLATE_KEY)
        if row is None:
            raise not_found("This tenant has no user template yet.")
        return _template_out(row)

    def create_or_update_template(
        self, tenant_id: str, template: UserTemplateIn, context: ActionContext
    ) -> UserTemplateOut:
        """Groups must be the tenant's (as last synced); licences need a usage location."""
        tenant_id = str(self.rows.get_proven(tenant_id)["RowKey"])
        errors: list[FieldError] = []
        store = self.directory._store(tenant_id)
        for position, group_id in enumerate(template.groups):
            if store.get_group(group_id.lower()) is None:
                errors.append(FieldError(f"groups[{position}]", "no such group in this tenant"))
        if template.licences and template.usage_location is None:
            errors.append(FieldError("usageLocation", "licences need a usage location"))
        if errors:
            raise validation_failed(errors)
        licences = [
            {"skuId": item.sku_id.lower(), "disabledPlans": [p.lower() for p in item.disabled_plans]}
            for item in template.licences
        ]
        groups = sorted({g.lower() for g in template.groups})
        entity = {
            "PartitionKey": self._partition(tenant_id),
            "RowKey": TEMPLATE_KEY,
            "tenantId": tenant_id,
            "licences": json.dumps(licences),
            "groups": json.dumps(groups),
            "usageLocation": template.usage_location or "",
            "updatedAt": isoformat(self.clock.now()),
        }
        self._table.upsert_entity(entity)
        context.record(
            self.audit,
            self.partner.id,
            "tenant.userTemplate.updated",
            {"type": "tenant", "id": tenant_id},
            details={"licences": [item["skuId"] for item in licences], "groups": groups},
        )
        return _template_out(entity)

    def _graph(self, tenant: Any, action: Callable[[LifecycleWriter], Awaitable[T]]) -> T:
        graph = self.directory.graph
        assert graph is not None, "creating users needs Graph access"
        reference = str(tenant.get("credentialRef") or DEFAULT_CREDENTIAL)

        def run() -> T:
            writer = LifecycleWriter(str(tenant["RowKey"]), graph.credential(reference), graph.settings)

            async def go() -> T:
                async with writer:
                    return await action(writer)

            return asyncio.run(go())

        result: T = call_graph(run)
        return result

    def create_user(self, tenant_id: str, request: UserCreateIn, context: ActionContext) -> UserCreatedOut:
        """Creates the user with the template's licences and groups. If a licence or group cannot be
        given, the new user is deleted again: the caller gets a problem and no half-made user."""
        tenant = self.rows.get_proven(tenant_id)
        tenant_id = str(tenant["RowKey"])
        row = tables.get(self._table, self._partition(tenant_id), TEMPLATE_KEY)
        if row is None:
            raise ProblemError(
                409,
                "no-user-template",
                "The tenant has no user template.",
                "PUT .../user-template first: it names the licences and groups a new user gets.",
            )
        template = _template_out(row)
        location = request.usage_location or template.usage_location
        self._check_seats(tenant, template)
        password = one_time_password()
        nickname = request.user_principal_name.split("@", 1)[0].replace("'", "")[:64]
        add = [LicenceChange(item.sku_id, tuple(item.disabled_plans)) for item in template.licences]

        async def create(w: LifecycleWriter) -> Any:
            created = await w.create_user(
                display_name=request.display_name,
                mail_nickname=nickname,
                user_principal_name=request.user_principal_name,
                password=password,
                usage_location=location,
                given_name=request.given_name,
                surname=request.surname,
            )
            try:
                if add:
                    await w.assign_licences(created.id, add=add)
                for group_id in template.groups:
                    await w.add_group_member(group_id, created.id)
            except GraphError:
                with suppress(GraphError):
                    await w.delete_user(created.id)
                raise
            return await w.get_user(created.id)

        user = self._graph(tenant, create)
        store = self.directory._store(tenant_id)
        stored = store.update_user_row(user)
        for group_id in template.groups:
            group = store.get_group(group_id)
            if group is not None:
                from shared.tenants.store import group_members

                store.replace_members(group, group_members(group) | {user.id.lower()})
        context.record(
            self.audit,
            self.partner.id,
            "tenant.user.created",
            {"type": "user", "id": user.id.lower(), "tenantId": tenant_id},
            details={
                "licences": [item.sku_id for item in template.licences],
                "groups": template.groups,
                "forceChangePasswordNextSignIn": True,
            },
            subject=EventSubject(tenant_scope(tenant_id), user.id.lower()),
        )
        return UserCreatedOut(
            user=UserOut.model_validate(user_from_entity(stored)),
            temporary_password=password,
            licences=[item.sku_id for item in template.licences],
            groups=template.groups,
        )

    def _check_seats(self, tenant: Any, template: UserTemplateOut) -> None:
        skus = {
            str(s["skuId"]).lower(): s
            for s in (self.directory._latest_config(tenant) or {}).get("subscribedSkus", [])
        }
        for item in template.licences:
            sku = skus.get(item.sku_id.lower())
            if sku is None:
                continue
            free = int(sku.get("prepaidUnits", {}).get("enabled", 0)) - int(sku.get("consumedUnits", 0))
            if free <= 0:
                raise ProblemError(
                    409,
                    "no-free-licences",
                    "No free licences of that SKU.",
                    f"{sku.get('skuPartNumber') or item.sku_id}: every seat is assigned.",
                )

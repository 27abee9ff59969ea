"""Personnel, API keys and tenant groups: who at a partner may do what, on which tenants."""

from __future__ import annotations

import json
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.access import api_keys
from shared.access.principals import Actor, Caller, OperatorCaller, Role, Scope, TenantScope
from shared.access.reach import ALL_TENANTS, TenantReach
from shared.audit.context import ActionContext, diff
from shared.audit.log import AuditLog
from shared.clock import Clock, isoformat, parse_iso
from shared.errors import ProblemError, forbidden, not_found
from shared.ids import new_id
from shared.keys import KeyRing, dependency_report
from shared.partners.models import (
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyOut,
    PersonnelIn,
    PersonnelOut,
    PersonnelPatch,
    PersonnelStatus,
    TenantGroupOut,
    TenantScopeIn,
    TenantScopeOut,
)
from shared.storage import tables
from shared.storage.tables import raise_if_conflict

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

PERSONNEL = "personnel"
API_KEYS = "apikeys"
TENANT_GROUPS = "tenantgroups"
_META = "meta"  # per-partner row counting active owners, guarded by its ETag


def scope_to_json(scope: TenantScopeIn | None) -> str | None:
    if scope is None:
        return None
    return json.dumps(
        {"tenantIds": sorted(str(t).lower() for t in scope.tenant_ids), "groups": sorted(scope.groups)}
    )


def scope_from_json(text: Any) -> TenantScope | None:
    if not text:
        return None
    data = json.loads(str(text))
    return TenantScope(frozenset(data["tenantIds"]), frozenset(data["groups"]))


def scope_of(scope: TenantScopeIn | None) -> TenantScope | None:
    return scope_from_json(scope_to_json(scope))


def scope_out(text: Any) -> TenantScopeOut | None:
    scope = scope_from_json(text)
    return (
        None
        if scope is None
        else TenantScopeOut(tenant_ids=sorted(scope.tenant_ids), groups=sorted(scope.groups))
    )


def personnel_out(entity: Any) -> PersonnelOut:
    return PersonnelOut(
        id=str(entity["RowKey"])[2:],
        object_id=str(entity["objectId"]),
        email=str(entity["email"]),
        display_name=entity.get("displayName"),
        role=Role(entity["role"]),
        status=PersonnelStatus(entity["status"]),
        tenant_scope=scope_out(entity.get("tenantScope")),
        created_at=entity["createdAt"],
        updated_at=entity["updatedAt"],
    )


def api_key_out(entity: Any) -> ApiKeyOut:
    return ApiKeyOut(
        id=str(entity["RowKey"]),
        name=str(entity["name"]),
        scopes=json.loads(str(entity["scopes"])),
        expires_at=entity.get("expiresAt"),
        created_at=entity["createdAt"],
        rotated_at=entity.get("rotatedAt"),
        revoked_at=entity.get("revokedAt"),
        tenant_scope=scope_out(entity.get("tenantScope")),
        previous_key_valid_until=entity.get("previousUntil"),
    )


# The ladder: a caller grants, changes or removes only what is at or below its own rank.
_RANK = {Role.OWNER: 3, Role.ADMIN: 2, Role.OPERATOR: 1, Role.PRIVACY_OFFICER: 1, Role.VIEWER: 1}


@dataclass(frozen=True)
class Grantor:
    """Who manages access in one call, and what it holds: nobody hands on more than that.

    `role` is the rung of the ladder: a person's own role; OWNER for the platform operator (above
    the partner's ladder); ADMIN at most for an API key (keys never hold the owner role).
    """

    actor: Actor
    role: Role
    scopes: frozenset[Scope]
    reach: TenantReach


# The platform itself (onboarding a partner's first owner, maintenance): everything, every tenant.
PLATFORM = Grantor(Actor("system", "platform"), Role.OWNER, frozenset(Scope), TenantReach())


def _created_by_owner(entity: Any) -> bool:
    """Keys from before `createdBy` was kept count as an owner's: the safe reading."""
    raw = entity.get("createdBy")
    if not raw:
        return True
    created_by = json.loads(str(raw))
    return created_by.get("type") in ("operator", "system") or created_by.get("role") == Role.OWNER


def _own_access() -> ProblemError:
    return forbidden(
        "manageOwnAccess",
        "Nobody changes their own role, status or tenant scope; another owner or admin must.",
    )


def _needs_owner(detail: str) -> ProblemError:
    return forbidden(Role.OWNER.value, detail)


def _reach_refusal(permission: str) -> ProblemError:
    if permission == ALL_TENANTS:
        detail = (
            "A caller limited to some tenants grants only a tenant scope within its own: "
            "give a tenantScope naming your tenants or groups."
        )
    elif permission.startswith("tenant:"):
        detail = f"Tenant {permission.split(':', 1)[1]} is outside your tenant scope."
    else:
        detail = f"Tenant group {permission.split(':', 1)[1]} is not within your tenant scope."
    return forbidden(permission, detail)


def _last_owner() -> ProblemError:
    return ProblemError(
        409,
        "last-owner",
        "The last owner must stay.",
        "A partner always keeps at least one active owner; appoint another first.",
    )


class AccessService:
    """Personnel, API keys and tenant groups of one partner, in the partner's region."""

    def __init__(
        self,
        account: AccountStorage,
        partner_id: str,
        clock: Clock,
        ring: KeyRing,
    ):
        self.account = account
        self.partner_id = partner_id
        self.clock = clock
        self.ring = ring
        # API-key hashes under the pepper's current version; every configured version verifies.
        self.key_hashes = api_keys.hasher(ring)
        self.audit = AuditLog(account, clock)

    # --- who grants ---------------------------------------------------------------------------

    def grantor(self, caller: Caller, reach: TenantReach) -> Grantor:
        """The caller as a grantor; a person's rung is read from their row now, not from the token."""
        if isinstance(caller, OperatorCaller):
            return Grantor(caller.actor, Role.OWNER, frozenset(Scope), TenantReach())
        person = caller.actor.type == "personnel"
        role = Role(self._person(caller.actor.id)["role"]) if person else Role.ADMIN
        return Grantor(caller.actor, role, caller.scopes, reach)

    @staticmethod
    def _may_grant_role(grantor: Grantor, role: Role) -> None:
        if _RANK[role] > _RANK[grantor.role]:
            raise forbidden(role.value, f"Granting the '{role.value}' role needs the '{role.value}' role.")

    @staticmethod
    def _may_grant_scope(grantor: Grantor, scope: TenantScope | None) -> None:
        missing = grantor.reach.grant_refusal(scope)
        if missing is not None:
            raise _reach_refusal(missing)

    @staticmethod
    def _is_self(grantor: Grantor, person_id: str) -> bool:
        return grantor.actor.type == "personnel" and grantor.actor.id == person_id

    # --- personnel --------------------------------------------------------------------------

    def _owner_meta(self) -> tables.Row:
        from azure.core.exceptions import ResourceExistsError

        table = self.account.table(PERSONNEL)
        meta = tables.get(table, self.partner_id, _META)
        if meta is None:
            with suppress(ResourceExistsError):
                table.create_entity({"PartitionKey": self.partner_id, "RowKey": _META, "activeOwners": 0})
            meta = tables.get(table, self.partner_id, _META)
            assert meta is not None  # created just now, or by whoever raced us; never deleted
        return meta

    def _commit(self, operations: list[Any], meta: tables.Row | None, owners_delta: int) -> None:
        """Writes the person rows and, if the owner count moves, the meta row under its ETag, at once."""
        from azure.core import MatchConditions
        from azure.data.tables import UpdateMode

        if owners_delta and meta is not None:
            new_count = int(meta["activeOwners"]) + owners_delta
            if new_count < 1 and owners_delta < 0:
                raise _last_owner()
            operations.append(
                (
                    "update",
                    {"PartitionKey": self.partner_id, "RowKey": _META, "activeOwners": new_count},
                    {
                        "mode": UpdateMode.REPLACE,
                        "etag": meta.etag,
                        "match_condition": MatchConditions.IfNotModified,
                    },
                )
            )
        try:
            tables.write(self.account.table(PERSONNEL), operations)
        except tables.BatchRefusedError as error:
            if error.status_code == 409:
                raise ProblemError(
                    409,
                    "personnel-exists",
                    "Already a member.",
                    "This Entra object id already belongs to a person of this partner.",
                ) from None
            raise_if_conflict(error)
            raise

    def invite(self, request: PersonnelIn, context: ActionContext, grantor: Grantor) -> PersonnelOut:
        self._may_grant_role(grantor, request.role)
        self._may_grant_scope(grantor, scope_of(request.tenant_scope))
        now = isoformat(self.clock.now())
        person_id = new_id()
        oid = str(request.object_id).lower()
        entity = {
            "PartitionKey": self.partner_id,
            "RowKey": f"p-{person_id}",
            "objectId": oid,
            "email": request.email,
            "displayName": request.display_name,
            "role": request.role.value,
            "status": PersonnelStatus.ACTIVE.value,
            "tenantScope": scope_to_json(request.tenant_scope),
            "createdAt": now,
            "updatedAt": now,
        }
        index = {"PartitionKey": self.partner_id, "RowKey": f"oid-{oid}", "personnelId": person_id}
        owner = request.role is Role.OWNER
        meta = self._owner_meta() if owner else None
        operations: list[Any] = [
            ("create", {k: v for k, v in entity.items() if v is not None}),
            ("create", index),
        ]
        self._commit(operations, meta, 1 if owner else 0)
        out = personnel_out(entity)
        context.record(
            self.audit,
            self.partner_id,
            "personnel.invited",
            {"type": "personnel", "id": person_id},
            details={"role": request.role.value},
        )
        return out

    def _person(self, person_id: str) -> tables.Row:
        person = tables.get(self.account.table(PERSONNEL), self.partner_id, f"p-{person_id}")
        if person is None:
            raise not_found("No such person.")
        return person

    def _visible_person(self, person_id: str, reach: TenantReach) -> tables.Row:
        """A person a scoped caller may see: one whose whole tenant scope lies within its reach."""
        entity = self._person(person_id)
        if not reach.covers(scope_from_json(entity.get("tenantScope"))):
            raise not_found("No such person.")
        return entity

    def get_person(self, person_id: str, reach: TenantReach) -> PersonnelOut:
        return personnel_out(self._visible_person(person_id, reach))

    def list_personnel(
        self, top: int, continuation: str | None, reach: TenantReach
    ) -> tuple[list[PersonnelOut], str | None]:
        """A scoped caller's pages may come back short: people reaching further are left out."""
        query = f"{tables.partition(self.partner_id)} and {tables.prefix('RowKey', 'p-')}"
        rows, token = tables.page(self.account.table(PERSONNEL), query, top, continuation)
        seen = [r for r in rows if reach.covers(scope_from_json(r.get("tenantScope")))]
        return [personnel_out(r) for r in seen], token

    def get_person_by_object_id(self, object_id: str) -> tables.Row | None:
        table = self.account.table(PERSONNEL)
        index = tables.get(table, self.partner_id, f"oid-{object_id.lower()}")
        return None if index is None else tables.get(table, self.partner_id, f"p-{index['personnelId']}")

    def update_person(
        self, person_id: str, patch: PersonnelPatch, context: ActionContext, grantor: Grantor
    ) -> PersonnelOut:
        from azure.core import MatchConditions
        from azure.data.tables import UpdateMode

        entity = self._visible_person(person_id, grantor.reach)
        before = personnel_out(entity).model_dump(mode="json", by_alias=True)
        was_owner = entity["role"] == Role.OWNER and entity["status"] == PersonnelStatus.ACTIVE
        fields = patch.model_fields_set
        role = patch.role if "role" in fields and patch.role is not None else Role(entity["role"])
        status = patch.status.value if "status" in fields and patch.status is not None else entity["status"]
        scope = scope_to_json(patch.tenant_scope) if "tenant_scope" in fields else entity.get("tenantScope")
        moves = {
            "role": role != entity["role"],
            "status": status != entity["status"],
            "tenantScope": (scope or None) != (entity.get("tenantScope") or None),
        }
        if any(moves.values()):
            if self._is_self(grantor, person_id):
                raise _own_access()
            if entity["role"] == Role.OWNER and grantor.role is not Role.OWNER:
                raise _needs_owner("Only an owner changes, deactivates or reactivates an owner.")
            if moves["role"]:
                self._may_grant_role(grantor, role)
            if moves["tenantScope"]:
                self._may_grant_scope(grantor, scope_from_json(scope))
        entity["role"] = role.value
        entity["status"] = status
        entity["tenantScope"] = scope
        if "display_name" in fields:
            entity["displayName"] = patch.display_name
        entity["updatedAt"] = isoformat(self.clock.now())
        is_owner = entity["role"] == Role.OWNER and entity["status"] == PersonnelStatus.ACTIVE
        delta = int(is_owner) - int(was_owner)
        meta = self._owner_meta() if delta else None
        row = {k: v for k, v in dict(entity).items() if v is not None}
        self._commit(
            [
                (
                    "update",
                    row,
                    {
                        "mode": UpdateMode.REPLACE,
                        "etag": entity.etag,
                        "match_condition": MatchConditions.IfNotModified,
                    },
                )
            ],
            meta,
            delta,
        )
        out = personnel_out(entity)
        changes = diff(before, out.model_dump(mode="json", by_alias=True))
        changes.pop("updatedAt", None)
        action = (
            "personnel.deactivated"
            if entity["status"] == PersonnelStatus.DEACTIVATED
            and before["status"] != PersonnelStatus.DEACTIVATED
            else "personnel.updated"
        )
        context.record(
            self.audit, self.partner_id, action, {"type": "personnel", "id": person_id}, changes=changes
        )
        return out

    # --- API keys ---------------------------------------------------------------------------

    def create_key(self, request: ApiKeyIn, context: ActionContext, grantor: Grantor) -> ApiKeyCreated:
        for scope in request.scopes:
            if scope not in grantor.scopes:
                detail = f"A key gets only permissions its creator holds; '{scope.value}' is not yours."
                raise forbidden(scope.value, detail)
        self._may_grant_scope(grantor, scope_of(request.tenant_scope))
        now = self.clock.now()
        if request.expires_at is not None and request.expires_at <= now:
            raise ProblemError(
                422,
                "validation-failed",
                "The request has invalid fields.",
                "expiresAt must be in the future.",
            )
        key_id = new_id()
        secret = api_keys.make_key(self.partner_id, key_id)
        entity = {
            "PartitionKey": self.partner_id,
            "RowKey": key_id,
            "name": request.name,
            "scopes": json.dumps([s.value for s in request.scopes]),
            "hash": self.key_hashes.hash(secret),
            "expiresAt": isoformat(request.expires_at) if request.expires_at else None,
            "tenantScope": scope_to_json(request.tenant_scope),
            # Who made it, on which rung then: only an owner may later revoke or rotate an owner's key.
            "createdBy": json.dumps(
                {
                    "type": grantor.actor.type,
                    "id": grantor.actor.id,
                    "role": grantor.role.value if grantor.actor.type == "personnel" else None,
                },
                sort_keys=True,
            ),
            "createdAt": isoformat(now),
        }
        self.account.table(API_KEYS).create_entity({k: v for k, v in entity.items() if v is not None})
        context.record(
            self.audit,
            self.partner_id,
            "apiKey.created",
            {"type": "apiKey", "id": key_id},
            details={"name": request.name, "scopes": [s.value for s in request.scopes]},
        )
        return ApiKeyCreated(**api_key_out(entity).model_dump(), key=secret)

    def _key(self, key_id: str) -> tables.Row:
        key = self.get_key(key_id)
        if key is None:
            raise not_found("No such API key.")
        return key

    def get_key(self, key_id: str) -> tables.Row | None:
        return tables.get(self.account.table(API_KEYS), self.partner_id, key_id)

    def list_keys(
        self, top: int, continuation: str | None, reach: TenantReach
    ) -> tuple[list[ApiKeyOut], str | None]:
        """A scoped caller's pages may come back short: keys reaching further are left out."""
        rows, token = tables.page(
            self.account.table(API_KEYS), tables.partition(self.partner_id), top, continuation
        )
        return [api_key_out(r) for r in rows if reach.covers(scope_from_json(r.get("tenantScope")))], token

    def _managed_key(self, key_id: str, grantor: Grantor) -> tables.Row:
        """A key this grantor may revoke or rotate: within its reach (else 404); an owner's, by an owner."""
        entity = self._key(key_id)
        if not grantor.reach.covers(scope_from_json(entity.get("tenantScope"))):
            raise not_found("No such API key.")
        if _created_by_owner(entity) and grantor.role is not Role.OWNER:
            raise _needs_owner("Only an owner revokes or rotates a key an owner (or the operator) created.")
        return entity

    def revoke_key(self, key_id: str, context: ActionContext, grantor: Grantor) -> None:
        entity = self._managed_key(key_id, grantor)
        if entity.get("revokedAt"):
            return  # revoking twice is the same as once
        entity["revokedAt"] = isoformat(self.clock.now())
        self._replace_key(entity)
        context.record(self.audit, self.partner_id, "apiKey.revoked", {"type": "apiKey", "id": key_id})

    def rotate_key(
        self, key_id: str, context: ActionContext, grantor: Grantor, overlap: timedelta = timedelta(0)
    ) -> ApiKeyCreated:
        """A new secret works at once; the replaced one keeps working for `overlap` (callers switch
        without a refused call), then never again. A secret replaced earlier, still in its overlap,
        stops now: only the last two secrets are ever live."""
        entity = self._managed_key(key_id, grantor)
        if entity.get("revokedAt"):
            raise ProblemError(
                409, "api-key-revoked", "The key is revoked.", "A revoked key cannot be rotated."
            )
        now = self.clock.now()
        secret = api_keys.make_key(self.partner_id, key_id)
        previous = str(entity["hash"])
        entity["hash"] = self.key_hashes.hash(secret)
        entity["rotatedAt"] = isoformat(now)
        for name in ("previousHash", "previousUntil"):
            entity.pop(name, None)
        if overlap > timedelta(0):
            entity["previousHash"] = previous
            entity["previousUntil"] = isoformat(now + overlap)
        self._replace_key(entity)
        context.record(
            self.audit,
            self.partner_id,
            "apiKey.rotated",
            {"type": "apiKey", "id": key_id},
            details={"overlapHours": int(overlap.total_seconds() // 3600)},
        )
        return ApiKeyCreated(**api_key_out(entity).model_dump(), key=secret)

    def rekey(self, entity: tables.Row, new_hash: str) -> None:
        """Stores a presented key's hash again under the current master version (re-keying on
        presentation). Under the row's ETag: a rotation or revocation meanwhile wins, and this
        one is dropped (the key is re-keyed at its next use)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError
        from azure.data.tables import UpdateMode

        with suppress(HttpResponseError):
            self.account.table(API_KEYS).update_entity(
                {"PartitionKey": self.partner_id, "RowKey": str(entity["RowKey"]), "hash": new_hash},
                mode=UpdateMode.MERGE,
                etag=entity.etag,
                match_condition=MatchConditions.IfNotModified,
            )

    def _replace_key(self, entity: tables.Row) -> None:
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError
        from azure.data.tables import UpdateMode

        try:
            self.account.table(API_KEYS).update_entity(
                entity,
                mode=UpdateMode.REPLACE,
                etag=entity.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except HttpResponseError as error:
            raise_if_conflict(error)
            raise

    # --- tenant groups ----------------------------------------------------------------------

    @staticmethod
    def _may_edit_groups(grantor: Grantor) -> None:
        # A group widens everyone scoped to it, so only callers who already reach every tenant edit one.
        if not grantor.reach.unlimited:
            raise forbidden(
                ALL_TENANTS,
                "Tenant groups decide who reaches which tenants: only callers with every tenant in "
                "reach create, change or delete them.",
            )

    def create_or_update_group(
        self, name: str, tenant_ids: list[str], context: ActionContext, grantor: Grantor
    ) -> TenantGroupOut:
        self._may_edit_groups(grantor)
        ids = sorted({t.lower() for t in tenant_ids})
        before = self.list_group_members().get(name)
        self.account.table(TENANT_GROUPS).upsert_entity(
            {"PartitionKey": self.partner_id, "RowKey": name, "tenantIds": json.dumps(ids)}
        )
        context.record(
            self.audit,
            self.partner_id,
            "tenantGroup.saved",
            {"type": "tenantGroup", "id": name},
            changes={"tenantIds": {"before": sorted(before) if before is not None else None, "after": ids}},
        )
        return TenantGroupOut(name=name, tenant_ids=ids)

    def list_group_members(self) -> dict[str, frozenset[str]]:
        table = self.account.table(TENANT_GROUPS)
        return {
            str(row["RowKey"]): frozenset(json.loads(str(row["tenantIds"])))
            for row in tables.query(table, tables.partition(self.partner_id))
        }

    def list_visible_groups(self, reach: TenantReach) -> list[TenantGroupOut]:
        """Every group for an unscoped caller; for a scoped one, the groups wholly within its reach."""
        members = self.list_group_members() if reach.unlimited else reach.groups
        return [
            TenantGroupOut(name=name, tenant_ids=sorted(ids))
            for name, ids in sorted(members.items())
            if reach.sees_group(name)
        ]

    def get_group(self, name: str, reach: TenantReach) -> TenantGroupOut:
        members = self.list_group_members().get(name) if reach.unlimited else reach.group_view(name)
        if members is None:
            raise not_found("No such tenant group.")
        return TenantGroupOut(name=name, tenant_ids=sorted(members))

    def delete_group(self, name: str, context: ActionContext, grantor: Grantor) -> None:
        self._may_edit_groups(grantor)
        self.get_group(name, grantor.reach)
        tables.delete(self.account.table(TENANT_GROUPS), self.partner_id, name)
        context.record(
            self.audit, self.partner_id, "tenantGroup.deleted", {"type": "tenantGroup", "id": name}
        )


def key_is_live(entity: Any, now: datetime) -> bool:
    if entity.get("revokedAt"):
        return False
    expires = entity.get("expiresAt")
    return not (expires and parse_iso(expires) <= now)


def api_key_dependencies(account: AccountStorage, partner_id: str | None = None) -> dict[str, int]:
    """How many API-key hashes of one region's account (or one partner's) depend on each key id
    (`legacy`: stored before key ids, version 1 of the pepper), current and in-overlap hashes
    alike: a pepper version may be dropped when no region counts it. One scan, two columns."""
    query, parameters = "RowKey ne ''", {}
    if partner_id is not None:
        query, parameters = "PartitionKey eq @pk", {"pk": partner_id}
    rows = account.table(API_KEYS).query_entities(
        query, parameters=parameters, select=["hash", "previousHash"]
    )
    return dependency_report(
        str(value) for row in rows for value in (row.get("hash"), row.get("previousHash")) if value
    )

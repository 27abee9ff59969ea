"""Offboarding a leaver as a long operation: one stored line per step, resumable, each step idempotent.

`OffboardingService.start` records the operation (every step `pending`) and queues its ids; the
region's queue trigger calls `run`, which takes the operation's lease and works through the steps
in order. A step's outcome is stored (and audited) as soon as it is known, so a worker killed
mid-way leaves the finished steps finished: the queue's redelivery (or the next message) carries
on from the first step not done. What a step is about to remove (groups, roles, licences) is
stored before it removes anything, so a resumed step still reports all of it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar, get_args

from shared.access.principals import Actor
from shared.adapters.graph import GraphError, GraphThrottledError, GraphUnavailableError
from shared.adapters.graph_lifecycle import LifecycleWriter
from shared.audit.context import ActionContext
from shared.audit.seal import EventSubject, tenant_scope
from shared.clock import isoformat, parse_iso
from shared.errors import FieldError, ProblemError, not_found, validation_failed
from shared.ids import new_id
from shared.partners import subscription as subs
from shared.storage import leases, tables
from shared.storage.queues import enqueue
from shared.tenants.graph_access import DEFAULT_CREDENTIAL, graph_problem
from shared.tenants.lifecycle_models import (
    LIFECYCLE,
    OFFBOARD_QUEUE,
    FreedLicence,
    OffboardingIn,
    OffboardingMessage,
    OffboardingOut,
    OffboardingStep,
    StepName,
)

if TYPE_CHECKING:
    from shared.adapters.graph import GraphUser
    from shared.clock import Clock
    from shared.tenants.directory import DirectoryService

log = logging.getLogger("tenantry.tenants.offboarding")

T = TypeVar("T")

# In execution order: what needs the mailbox and the OneDrive (auto-reply, handover) runs before
# the licences that keep them go; sign-in is blocked first so the leaver cannot act meanwhile.
# (StepName lists them in that order.)
STEPS: tuple[StepName, ...] = get_args(StepName)
FINISHED: frozenset[str] = frozenset({"done", "skipped", "manual", "failed"})
# A worker holds an operation this long; a killed one's lease runs out before the queue's
# redelivery (the host hides a message in work for 10 minutes), so redelivery finds it free.
LEASE = timedelta(minutes=5)
_STEP_METHODS: dict[str, str] = {
    "blockSignIn": "_block_sign_in",
    "revokeSessions": "_revoke_sessions",
    "automaticReply": "_automatic_reply",
    "oneDriveHandover": "_hand_over_onedrive",
    "hideFromAddressList": "_hide_from_address_list",
    "convertMailbox": "_convert_mailbox",
    "removeGroups": "_remove_groups",
    "removeRoles": "_remove_roles",
    "removeLicences": "_remove_licences",
}
THROTTLE_FALLBACK_SECONDS = 30

HIDE_INSTRUCTIONS = (
    "Microsoft Graph cannot hide a user's mailbox from the address lists. In Exchange Online "
    "PowerShell run `Set-Mailbox -Identity {upn} -HiddenFromAddressListsEnabled $true`, or tick "
    "'Hide from address lists' on the mailbox in the Exchange admin center."
)
CONVERT_INSTRUCTIONS = (
    "Microsoft Graph cannot convert a mailbox. To keep the leaver's mail after the licence was "
    "removed (30 days' grace), convert it to a shared mailbox in the Exchange admin center or with "
    "`Set-Mailbox -Identity {upn} -Type Shared`, and grant access to whoever needs it."
)


# The lease's busy signal, under the name this module's callers know.
OperationBusyError = leases.LeaseBusyError


class _Current:
    """The operation's row as last written (its ETag guards the next write)."""

    def __init__(self, row: Any):
        self.row = row


def _partition(partner_id: str, tenant_id: str) -> str:
    return f"{partner_id}~{tenant_id.lower()}"


def _op_key(operation_id: str) -> str:
    return f"op~{operation_id}"


def _user_key(user_id: str) -> str:
    return f"user~{user_id.lower()}"


def _step_column(name: str) -> str:
    return f"step_{name}"


def _step(row: Any, name: StepName) -> dict[str, Any]:
    stored: dict[str, Any] = json.loads(row.get(_step_column(name)) or "{}")
    return stored


def offboarding_out(row: Any) -> OffboardingOut:
    steps = []
    for name in STEPS:
        stored = _step(row, name)
        freed = stored.get("freed")
        steps.append(
            OffboardingStep(
                name=name,
                state=stored.get("state", "pending"),
                detail=stored.get("detail"),
                instructions=stored.get("instructions"),
                freed_licences=[FreedLicence.model_validate(f) for f in freed] if freed is not None else None,
                finished_at=parse_iso(stored["at"]) if stored.get("at") else None,
            )
        )
    return OffboardingOut(
        id=str(row["RowKey"]).removeprefix("op~"),
        tenant_id=str(row["tenantId"]),
        user_id=str(row["userId"]),
        state=row["state"],
        created_at=parse_iso(row["createdAt"]),
        started_at=parse_iso(row["startedAt"]) if row.get("startedAt") else None,
        finished_at=parse_iso(row["finishedAt"]) if row.get("finishedAt") else None,
        attempts=int(row.get("attempts", 0)),
        error=row.get("error") or None,
        steps=steps,
    )


def operations_naming(
    account: Any, partner_id: str, tenant_id: str, user_id: str
) -> tuple[list[Any], list[Any]]:
    """(operations offboarding the user, operations handing a leaver's OneDrive to them): the rows of
    the tenant's lifecycle partition that name the user, for the subject's access and erasure.

    One partition read (the tenant's operations and its template: leavers, not users), filtered on
    the server, as shared/privacy/subjects/holdings.py states for reads that are not per subject."""
    user_id = user_id.lower()
    query = (
        f"{tables.partition(_partition(partner_id, tenant_id))} and "
        f"({tables.eq('userId', user_id)} or {tables.eq('oneDriveTo', user_id)})"
    )
    rows = list(tables.query_json(account.table(LIFECYCLE), query))
    leaver = [r for r in rows if str(r.get("userId") or "").lower() == user_id]
    colleague = [r for r in rows if str(r.get("oneDriveTo") or "").lower() == user_id and r not in leaver]
    return leaver, colleague


def user_pointer(partner_id: str, tenant_id: str, user_id: str) -> tuple[str, str, str]:
    """(table, PartitionKey, RowKey) of the row pointing at the user's latest offboarding."""
    return LIFECYCLE, _partition(partner_id, tenant_id), _user_key(user_id)


def forget_colleague(account: Any, partner_id: str, tenant_id: str, operation_ids: list[str]) -> None:
    """Blanks the OneDrive colleague of operations (erasure of the colleague; the leaver's stay)."""
    from azure.core.exceptions import ResourceNotFoundError
    from azure.data.tables import UpdateMode

    for operation_id in operation_ids:
        entity = {
            "PartitionKey": _partition(partner_id, tenant_id),
            "RowKey": _op_key(operation_id),
            "oneDriveTo": "",
        }
        with suppress(ResourceNotFoundError):
            account.table(LIFECYCLE).update_entity(entity, mode=UpdateMode.MERGE)


class OffboardingService:
    """Offboarding of one partner's end users: start, status, and the queue worker's run."""

    def __init__(
        self,
        directory: DirectoryService,
        clock: Clock,
        *,
        dispatch: Callable[[OffboardingMessage, int | None], None] | None = None,
    ):
        self.directory = directory
        self.account = directory.account
        self.partner = directory.partner
        self.rows = directory.rows
        self.audit = directory.audit
        self.clock = clock
        self.dispatch = dispatch or self._enqueue

    def _enqueue(self, message: OffboardingMessage, delay_seconds: int | None = None) -> None:
        enqueue(self.account.queue(OFFBOARD_QUEUE), message, delay_seconds=delay_seconds)

    @property
    def _table(self) -> Any:
        return self.account.table(LIFECYCLE)

    # --- the API ------------------------------------------------------------------------------

    def start(
        self, tenant_id: str, user_id: str, request: OffboardingIn, context: ActionContext
    ) -> OffboardingOut:
        """Records and queues an offboarding, or answers the one still under way for this user."""
        from azure.core.exceptions import ResourceExistsError

        tenant = self.rows.get_proven(tenant_id)
        tenant_id = str(tenant["RowKey"])
        row = self.directory._writable_user_row(tenant_id, user_id)
        user_id = str(row["RowKey"])
        if request.one_drive_to is not None:
            colleague = request.one_drive_to.lower()
            if colleague == user_id:
                raise validation_failed([FieldError("oneDriveTo", "must be another user than the leaver")])
            if self.directory._store(tenant_id).get_user(colleague) is None:
                raise validation_failed([FieldError("oneDriveTo", "no such user in this tenant")])
        partition = _partition(self.partner.id, tenant_id)
        current = tables.get(self._table, partition, _user_key(user_id))
        if current is not None:
            running = tables.get(self._table, partition, _op_key(str(current["operationId"])))
            if running is not None and running["state"] in ("queued", "running"):
                self.dispatch(self._message(tenant_id, str(current["operationId"])), None)
                return offboarding_out(running)
        operation_id = new_id()
        now = isoformat(self.clock.now())
        entity: dict[str, Any] = {
            "PartitionKey": partition,
            "RowKey": _op_key(operation_id),
            "kind": "offboarding",
            "tenantId": tenant_id,
            "userId": user_id,
            "state": "queued",
            "createdAt": now,
            "attempts": 0,
            "actorType": context.actor.type,
            "actorId": context.actor.id,
            "actorDisplay": context.actor.display or "",
            "requestId": context.request_id or "",
            "clientIp": context.client_ip or "",
            "oneDriveTo": (request.one_drive_to or "").lower(),
        }
        if request.auto_reply is not None:
            entity["autoReplyInternal"] = request.auto_reply.internal_message
            entity["autoReplyExternal"] = (
                request.auto_reply.external_message or request.auto_reply.internal_message
            )
        try:
            self._table.create_entity(entity)
        except ResourceExistsError:  # pragma: no cover - ULIDs do not collide
            raise ProblemError(409, "conflict", "Try again.", "The operation id was taken.") from None
        pointer = {"PartitionKey": partition, "RowKey": _user_key(user_id), "operationId": operation_id}
        self._table.upsert_entity(pointer)
        context.record(
            self.audit,
            self.partner.id,
            "tenant.user.offboardingStarted",
            {"type": "user", "id": user_id, "tenantId": tenant_id},
            details={
                "operationId": operation_id,
                "automaticReply": request.auto_reply is not None,
                # The colleague is a person too: named in the operation, not in the log.
                "oneDriveHandover": bool(entity["oneDriveTo"]),
            },
            subject=EventSubject(tenant_scope(tenant_id), user_id),
        )
        self.dispatch(self._message(tenant_id, operation_id), None)
        return offboarding_out(tables.Row(entity))

    def get(self, tenant_id: str, operation_id: str) -> OffboardingOut:
        tenant_id = str(self.rows.get(tenant_id)["RowKey"])
        row = tables.get(self._table, _partition(self.partner.id, tenant_id), _op_key(operation_id.upper()))
        if row is None:
            raise not_found("No such offboarding.")
        return offboarding_out(row)

    def _message(self, tenant_id: str, operation_id: str) -> OffboardingMessage:
        return OffboardingMessage(partner_id=self.partner.id, tenant_id=tenant_id, operation_id=operation_id)

    # --- the worker ---------------------------------------------------------------------------

    def run(  # noqa: PLR0911 - one return per way an attempt ends
        self, tenant_id: str, operation_id: str, *, final_attempt: bool = False
    ) -> OffboardingOut | None:
        """Works through the steps not finished yet; None when there is no such operation."""
        partition = _partition(self.partner.id, tenant_id)
        row = tables.get(self._table, partition, _op_key(operation_id))
        if row is None:
            return None
        if row["state"] in ("succeeded", "failed"):
            return offboarding_out(row)
        try:
            row = self._claim(row)
        except OperationBusyError as busy:
            # Held by another worker (or by one killed mid-way, until its lease ends): look again
            # then, with a message of our own, so the queue's dequeue count is not spent waiting.
            self.dispatch(self._message(tenant_id, operation_id), busy.retry_in)
            return None
        context = ActionContext(
            Actor(str(row["actorType"]), str(row["actorId"]), str(row.get("actorDisplay") or "") or None),
            str(row.get("requestId") or "") or None,
            str(row.get("clientIp") or "") or None,
        )
        current = _Current(row)  # the row as last written: every write and release goes through it
        try:
            refusal = self._refusal(tenant_id)
            if refusal is not None:
                return self._finish(current.row, context, error=refusal)
            tenant = self.rows.get_proven(tenant_id)
            for name in STEPS:
                if _step(current.row, name).get("state") in FINISHED:
                    continue
                self._run_step(tenant, current, name, context)
                refusal = self._refusal(tenant_id)
                if refusal is not None:
                    return self._finish(current.row, context, error=refusal)
            self._refresh_copy(tenant, str(current.row["userId"]))
            return self._finish(current.row, context)
        except OperationBusyError:
            return None  # another worker took the operation over and carries on
        except GraphThrottledError as error:
            # Retry-After is the tenant's: this operation waits that long, nothing else does.
            delay = int(error.retry_after or THROTTLE_FALLBACK_SECONDS)
            self._release(current.row)
            self.dispatch(self._message(tenant_id, operation_id), delay)
            log.info("offboarding %s throttled by Graph; again in %d s", operation_id, delay)
            return None
        except ProblemError as problem:
            # The tenant lost its proof or was removed meanwhile: nothing more is written there.
            return self._finish(current.row, context, error=f"{problem.kind}: {problem.detail}")
        except Exception as error:
            if final_attempt:
                return self._finish(current.row, context, error=f"gave up: {type(error).__name__}")
            self._release(current.row)
            raise

    def _refusal(self, tenant_id: str) -> str | None:
        """Why nothing more may be written to the tenant now (read-only subscription, lost proof)."""
        now = self.clock.now()
        # The partner was read for this message: a subscription gone read-only stops the work.
        refusal = subs.write_refusal(subs.advance(self.partner.subscription, now), now)
        if refusal is not None:
            return f"{refusal.kind}: {refusal.detail}"
        return None

    def _claim(self, row: Any) -> Any:
        return leases.claim(self._table, row, self.clock.now(), LEASE)

    def _save(self, row: Any, changes: dict[str, Any]) -> Any:
        """Writes `changes` to the operation under its ETag: a worker whose lease was taken stops."""
        return leases.save(self._table, row, changes)

    def _release(self, row: Any) -> None:
        leases.release(self._table, row)

    def _finish(self, row: Any, context: ActionContext, *, error: str | None = None) -> OffboardingOut:
        now = isoformat(self.clock.now())
        changes: dict[str, Any] = {"finishedAt": now, "leaseUntil": ""}
        for name in STEPS:
            stored = _step(row, name)
            if error is not None and stored.get("state") not in FINISHED:
                changes[_step_column(name)] = json.dumps(
                    {**stored, "state": "failed", "detail": "Not done: the operation stopped.", "at": now}
                )
        states = [
            json.loads(changes.get(_step_column(n)) or "{}").get("state") or _step(row, n).get("state")
            for n in STEPS
        ]
        failed = error is not None or "failed" in states
        changes["state"] = "failed" if failed else "succeeded"
        changes["error"] = (error or "")[:500]
        row = self._save(row, changes)
        user_id, tenant_id = str(row["userId"]), str(row["tenantId"])
        context.record(
            self.audit,
            self.partner.id,
            "tenant.user.offboarded" if not failed else "tenant.user.offboardingFailed",
            {"type": "user", "id": user_id, "tenantId": tenant_id},
            details={
                "operationId": str(row["RowKey"]).removeprefix("op~"),
                "steps": dict(zip(STEPS, states, strict=True)),
                **({"error": error[:200]} if error else {}),
            },
            subject=EventSubject(tenant_scope(tenant_id), user_id),
        )
        return offboarding_out(row)

    # --- steps --------------------------------------------------------------------------------

    def _graph(self, tenant: Any, action: Callable[[LifecycleWriter], Awaitable[T]]) -> T:
        graph = self.directory.graph
        assert graph is not None
        reference = str(tenant.get("credentialRef") or DEFAULT_CREDENTIAL)
        writer = LifecycleWriter(str(tenant["RowKey"]), graph.credential(reference), graph.settings)

        async def go() -> T:
            async with writer:
                return await action(writer)

        return asyncio.run(go())

    def _run_step(self, tenant: Any, current: _Current, name: StepName, context: ActionContext) -> None:
        stored = _step(current.row, name)
        try:
            outcome: dict[str, Any] = getattr(self, _STEP_METHODS[name])(tenant, current, stored)
        except (GraphThrottledError, GraphUnavailableError):
            raise
        except GraphError as error:
            problem = graph_problem(error)
            outcome = {**stored, "state": "failed", "detail": f"{problem.title} {problem.detail}"[:500]}
        row = current.row
        outcome["at"] = isoformat(self.clock.now())
        user_id, tenant_id = str(row["userId"]), str(row["tenantId"])
        details: dict[str, Any] = {
            "operationId": str(row["RowKey"]).removeprefix("op~"),
            "step": name,
            "state": outcome["state"],
        }
        if outcome.get("detail"):
            details["detail"] = outcome["detail"]
        if outcome.get("freed") is not None:
            details["freedLicences"] = [f["skuId"] for f in outcome["freed"]]
        # Recorded before the step's line is stored: a worker killed in between repeats the
        # (idempotent) step and records it again, rather than leaving a step done and unaudited.
        context.record(
            self.audit,
            self.partner.id,
            "tenant.user.offboardingStep",
            {"type": "user", "id": user_id, "tenantId": tenant_id},
            details=details,
            subject=EventSubject(tenant_scope(tenant_id), user_id),
        )
        current.row = self._save(row, {_step_column(name): json.dumps(outcome)})

    def _with_plan(
        self, current: _Current, stored: dict[str, Any], name: StepName, plan: Callable[[], Any]
    ) -> Any:
        """The step's plan: stored first (before anything is removed) so a resumed step reports it all."""
        if "planned" in stored:
            return stored["planned"]
        planned = plan()
        current.row = self._save(
            current.row, {_step_column(name): json.dumps({"state": "pending", "planned": planned})}
        )
        return planned

    def _block_sign_in(self, tenant: Any, current: _Current, stored: dict[str, Any]) -> dict[str, Any]:
        row = current.row
        user_id = str(row["userId"])
        self._graph(tenant, lambda w: w.update_user(user_id, account_enabled=False))
        return {"state": "done", "detail": "accountEnabled is false."}

    def _revoke_sessions(self, tenant: Any, current: _Current, stored: dict[str, Any]) -> dict[str, Any]:
        row = current.row
        user_id = str(row["userId"])
        self._graph(tenant, lambda w: w.revoke_sessions(user_id))
        return {"state": "done", "detail": "Refresh tokens and session cookies revoked."}

    def _automatic_reply(self, tenant: Any, current: _Current, stored: dict[str, Any]) -> dict[str, Any]:
        row = current.row
        internal = str(row.get("autoReplyInternal") or "")
        if not internal:
            return {"state": "skipped", "detail": "No automatic reply was asked for."}
        external = str(row.get("autoReplyExternal") or internal)
        user_id = str(row["userId"])
        if not self._graph(
            tenant, lambda w: w.set_automatic_replies(user_id, internal=internal, external=external)
        ):
            return {"state": "skipped", "detail": "The user has no Exchange Online mailbox."}
        return {"state": "done", "detail": "Automatic replies are on, to everyone."}

    def _hand_over_onedrive(self, tenant: Any, current: _Current, stored: dict[str, Any]) -> dict[str, Any]:
        row = current.row
        colleague = str(row.get("oneDriveTo") or "")
        if not colleague:
            return {"state": "skipped", "detail": "No colleague was named."}
        user_id = str(row["userId"])

        async def hand_over(w: LifecycleWriter) -> str | None:
            drive = await w.get_drive_id(user_id)
            if drive is None:
                return None
            return await w.grant_drive_access(drive, colleague)

        if self._graph(tenant, hand_over) is None:
            return {"state": "skipped", "detail": "The user has no OneDrive."}
        return {"state": "done", "detail": "The named colleague has write access to the OneDrive."}

    def _hide_from_address_list(
        self, tenant: Any, current: _Current, stored: dict[str, Any]
    ) -> dict[str, Any]:
        row = current.row
        return {"state": "manual", "instructions": HIDE_INSTRUCTIONS.format(upn=self._upn(tenant, row))}

    def _convert_mailbox(self, tenant: Any, current: _Current, stored: dict[str, Any]) -> dict[str, Any]:
        row = current.row
        return {"state": "manual", "instructions": CONVERT_INSTRUCTIONS.format(upn=self._upn(tenant, row))}

    def _upn(self, tenant: Any, row: Any) -> str:
        stored = self.directory._store(str(tenant["RowKey"])).get_user(str(row["userId"]))
        return str((stored or {}).get("userPrincipalName") or row["userId"])

    def _remove_groups(self, tenant: Any, current: _Current, stored: dict[str, Any]) -> dict[str, Any]:
        row = current.row
        user_id = str(row["userId"])

        def plan() -> list[dict[str, Any]]:
            found = self._graph(tenant, lambda w: w.list_group_memberships(user_id))
            return [{"id": m.id, "name": m.display_name, "dynamic": m.dynamic} for m in found]

        planned = self._with_plan(current, stored, "removeGroups", plan)
        removable = [g["id"] for g in planned if not g["dynamic"]]

        async def leave(w: LifecycleWriter) -> None:
            for group_id in removable:
                await w.leave_group(group_id, user_id)

        self._graph(tenant, leave)
        self._forget_memberships(str(tenant["RowKey"]), user_id, removable)
        dynamic = [g["name"] or g["id"] for g in planned if g["dynamic"]]
        detail = f"Removed from {len(removable)} groups."
        if dynamic:
            return {
                "state": "manual",
                "planned": planned,
                "detail": detail,
                "instructions": "Dynamic groups keep members by rule: change the rule or the user's "
                f"attributes for {', '.join(dynamic)}.",
            }
        return {"state": "done", "planned": planned, "detail": detail}

    def _forget_memberships(self, tenant_id: str, user_id: str, groups: list[str]) -> None:
        """The synced copy drops the memberships at once (the next sync would, later)."""
        from shared.tenants.store import group_members

        store = self.directory._store(tenant_id)
        for group_id in groups:
            group = store.get_group(group_id.lower())
            if group is not None and user_id in group_members(group):
                store.replace_members(group, group_members(group) - {user_id})

    def _remove_roles(self, tenant: Any, current: _Current, stored: dict[str, Any]) -> dict[str, Any]:
        row = current.row
        user_id = str(row["userId"])

        def plan() -> list[dict[str, Any]]:
            held = self._graph(tenant, lambda w: w.list_role_assignments(user_id))
            return [{"id": r.assignment_id, "role": r.role_definition_id} for r in held]

        planned = self._with_plan(current, stored, "removeRoles", plan)

        async def drop(w: LifecycleWriter) -> None:
            for assignment in planned:
                await w.delete_role_assignment(assignment["id"])

        self._graph(tenant, drop)
        return {
            "state": "done",
            "planned": planned,
            "detail": f"Removed {len(planned)} directory role assignments.",
        }

    def _remove_licences(self, tenant: Any, current: _Current, stored: dict[str, Any]) -> dict[str, Any]:
        row = current.row
        user_id = str(row["userId"])

        def plan() -> list[dict[str, Any]]:
            async def read(w: LifecycleWriter) -> list[dict[str, Any]]:
                user: GraphUser = await w.get_user(user_id)
                names = await w.list_sku_names()
                return [
                    {"skuId": lic.sku_id.lower(), "skuPartNumber": names.get(lic.sku_id.lower())}
                    for lic in user.assigned_licenses or []
                ]

            return self._graph(tenant, read)

        planned = self._with_plan(current, stored, "removeLicences", plan)

        async def remove(w: LifecycleWriter) -> None:
            held = {lic.sku_id.lower() for lic in (await w.get_user(user_id)).assigned_licenses or []}
            left = [p["skuId"] for p in planned if p["skuId"] in held]
            if left:
                await w.assign_licences(user_id, remove=left)

        self._graph(tenant, remove)
        return {
            "state": "done",
            "planned": planned,
            "freed": planned,
            "detail": f"Freed {len(planned)} licences.",
        }

    def _refresh_copy(self, tenant: Any, user_id: str) -> None:
        """The synced copy takes the user as Graph has them now (disabled, no licences)."""
        from contextlib import suppress

        with suppress(GraphError):
            user = self._graph(tenant, lambda w: w.get_user(user_id))
            self.directory._store(str(tenant["RowKey"])).update_user_row(user)

"""Report and search rows written during a tenant's sync, from what the sync reads anyway.

Users (delta-fed): search rows and guest rows follow each delta change as it arrives; a change may
carry only some properties, so it is merged into the user's row in `{partner}~{tenant}~users`
(one point read per changed user, never a read of the tenant). A full round rewrites them and,
at its end, removes the rows of users it did not see.

Whole-tenant reads (MFA registration, sign-in activity, licences, role holders, Secure Score)
replace that tenant's rows of the report: written with this sync's id, then the tenant's older
rows of the report are deleted (one range read of the tenant's rows, bounded by its size). A read
Graph refused leaves one row for the tenant saying why (`licenceMissing` with Graph's code when the
tenant lacks Entra ID P1), so a cross-tenant report shows which tenants it does not cover.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.clock import isoformat
from shared.reports import rows as keys
from shared.reports.kinds import (
    INACTIVE_DAYS,
    LICENCE_MISSING,
    NOT_AVAILABLE,
    PREMIUM_LICENCE_CODE,
    ReportKind,
)
from shared.reports.rows import TENANT_ITEM, ReportRows

if TYPE_CHECKING:
    from shared.adapters.graph import GraphUser, TenantConfiguration
    from shared.adapters.graph_reports import SecureScore, UserRegistrationDetails, UserSignIns
    from shared.storage.router import AccountStorage

GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
_USER_COLUMNS = ("displayName", "userPrincipalName", "mail", "userType", "accountEnabled")
_WIRE = {
    "display_name": "displayName",
    "user_principal_name": "userPrincipalName",
    "mail": "mail",
    "user_type": "userType",
    "account_enabled": "accountEnabled",
}


class RefusedError(Exception):
    """Graph refused a report's read for this tenant (403/404): its error code."""

    def __init__(self, code: str, message: str = ""):
        super().__init__(code)
        self.code = code
        self.message = message


class ReportSync:
    """Writes one tenant's report and search rows during one sync run."""

    def __init__(
        self,
        account: AccountStorage,
        partner_id: str,
        tenant_id: str,
        *,
        sync_id: str,
        now: datetime,
        pool: ThreadPoolExecutor,
        erased: Callable[[str], bool] = lambda user_id: False,
    ):
        self.rows = ReportRows(account)
        # End users erased on a data-subject request: Graph still lists them, their rows must not return.
        self.erased = erased
        self.partner_id = partner_id
        self.tenant_id = tenant_id.lower()
        self.sync_id = sync_id
        self.now = now
        self.synced_at = isoformat(now)
        self.pool = pool
        self.writes = 0
        self._prior: dict[str, dict[str, Any]] | None = None  # a full round's users rows before it
        self._seen: set[str] = set()
        self._synced: dict[str, dict[str, Any]] | None = None

    # --- common ---

    def _base(self, partition: str, row_key: str) -> dict[str, Any]:
        return {
            "PartitionKey": partition,
            "RowKey": row_key,
            "tenantId": self.tenant_id,
            "syncId": self.sync_id,
            "syncedAt": self.synced_at,
        }

    def _row(self, kind: ReportKind, item: str, status: str, **columns: Any) -> dict[str, Any]:
        entity = self._base(keys.kind_partition(self.partner_id, kind), keys.item_key(self.tenant_id, item))
        entity["status"] = status
        entity["item"] = item
        for name, value in columns.items():
            if value is None:
                continue
            entity[name] = json.dumps(value) if isinstance(value, (list, dict)) else value
        return entity

    def _upsert(self, entities: list[dict[str, Any]]) -> None:
        if entities:
            self.writes += self.rows.upsert(entities)

    def _delete(self, pairs: list[tuple[str, str]]) -> None:
        if pairs:
            self.writes += self.rows.delete_keys(pairs)

    # --- users: search and guests, as delta changes arrive ---

    def _user_rows(
        self, user_id: str, state: Mapping[str, Any], old: Mapping[str, Any] | None
    ) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
        """The rows of one user's current state, and the keys of rows its earlier state had."""
        search = keys.search_partition(self.partner_id)
        new_keys = keys.search_keys(self.tenant_id, user_id, state)
        old_keys = set(json.loads(old.get("searchKeys") or "[]")) if old else set()
        shown = {c: state.get(c) for c in _USER_COLUMNS if state.get(c) not in (None, "")}
        upserts: list[dict[str, Any]] = []
        user_row = self._base(keys.users_partition(self.partner_id, self.tenant_id), user_id)
        user_row.update(shown, userId=user_id, searchKeys=json.dumps(sorted(new_keys)))
        upserts.append(user_row)
        for field, value in keys.searchable(state).items():
            row = self._base(search, keys.search_key(value, self.tenant_id, user_id, field))
            row.update(shown, userId=user_id, field=field)
            upserts.append(row)
        deletes = [(search, k) for k in old_keys - new_keys]
        guest_key = (
            keys.kind_partition(self.partner_id, ReportKind.GUESTS),
            keys.item_key(self.tenant_id, user_id),
        )
        if state.get("userType") == "Guest":
            status = "disabled" if state.get("accountEnabled") is False else "enabled"
            upserts.append(self._row(ReportKind.GUESTS, user_id, status, userId=user_id, **shown))
        elif old is not None and old.get("userType") == "Guest":
            deletes.append(guest_key)
        return upserts, deletes

    def _prior_rows(self) -> dict[str, dict[str, Any]]:
        if self._prior is None:
            partition = keys.users_partition(self.partner_id, self.tenant_id)
            self._prior = {str(r["RowKey"]): dict(r) for r in self.rows.scan(partition)}
        return self._prior

    def users_full(self, users: list[GraphUser]) -> None:
        """A page of a full round: every property is there."""
        prior = self._prior_rows()
        upserts: list[dict[str, Any]] = []
        deletes: list[tuple[str, str]] = []
        for user in users:
            self._seen.add(user.id)
            state = {wire: getattr(user, name) for name, wire in _WIRE.items()}
            old = prior.get(user.id)
            more, gone = self._user_rows(user.id, state, old)
            if old is not None and not gone and _content(old) == _content(more[0]):
                continue  # the rows it has are the rows it would get: a full round rewrites no one unchanged
            upserts += more
            deletes += gone
        self._delete(deletes)
        self._upsert(upserts)

    def users_changed(self, users: list[GraphUser], removed: list[str]) -> None:
        """A delta page: merge each change into the user's row; users removed lose every row."""
        ids = [u.id for u in users] + list(removed)
        partition = keys.users_partition(self.partner_id, self.tenant_id)
        stored = dict(zip(ids, self.pool.map(lambda u: self.rows.get(partition, u), ids), strict=True))
        upserts: list[dict[str, Any]] = []
        deletes: list[tuple[str, str]] = []
        for user in users:
            old = stored.get(user.id)
            state = {c: old.get(c) for c in _USER_COLUMNS} if old else {}
            for name, wire in _WIRE.items():
                if name in user.model_fields_set:
                    state[wire] = getattr(user, name)
            more, gone = self._user_rows(user.id, state, old)
            upserts += more
            deletes += gone
        for user_id in removed:
            deletes += self._all_rows_of(user_id, stored.get(user_id))
        self._delete(deletes)
        self._upsert(upserts)

    def users_done(self, *, full: bool) -> None:
        """After the users round: (full) users stored before and not seen now lose their rows."""
        self.mark_synced(ReportKind.GUESTS)
        if not full:
            return
        prior = self._prior_rows()
        deletes: list[tuple[str, str]] = []
        for user_id, row in prior.items():
            if user_id not in self._seen:
                deletes += self._all_rows_of(user_id, row)
        self._delete(deletes)

    def _all_rows_of(self, user_id: str, row: Mapping[str, Any] | None) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = []
        if row is not None:
            search = keys.search_partition(self.partner_id)
            pairs += [(search, k) for k in json.loads(row.get("searchKeys") or "[]")]
            pairs.append((keys.users_partition(self.partner_id, self.tenant_id), user_id))
        for kind in (ReportKind.GUESTS, ReportKind.MFA_REGISTRATION, ReportKind.INACTIVE_USERS):
            pairs.append((keys.kind_partition(self.partner_id, kind), keys.item_key(self.tenant_id, user_id)))
        return pairs

    # --- whole-tenant reports ---

    def replace(self, kind: ReportKind, entities: list[dict[str, Any]]) -> None:
        """The tenant's rows of `kind` become exactly these: only rows whose content changed are
        written and rows no longer there deleted (one range read of the tenant's rows), so a sync
        where little changed writes little; the tenant's `synced` row says when it was checked.

        The `synced` row keeps a digest of the content it was last given: when the new content has
        the same digest, the rows already say it and not even the range read is made (a tenant of
        thousands of users re-synced unchanged every few minutes would otherwise read them all)."""
        digest = _digest(entities)
        if self._markers().get(kind.value, {}).get("digest") == digest:
            self.mark_synced(kind, digest=digest)
            return
        partition = keys.kind_partition(self.partner_id, kind)
        low, high = keys.tenant_range(self.tenant_id)
        stored = {str(r["RowKey"]): r for r in self.rows.scan(partition, low, high)}
        wanted = {str(e["RowKey"]): e for e in entities}
        changed = [e for k, e in wanted.items() if k not in stored or _content(stored[k]) != _content(e)]
        self._upsert(changed)
        self._delete([(partition, k) for k in stored if k not in wanted])
        self.mark_synced(kind, digest=digest)

    def _markers(self) -> dict[str, dict[str, Any]]:
        """The tenant's `synced` rows as this run found them (one read of a handful of rows)."""
        if self._synced is None:
            partition = keys.synced_partition(self.partner_id, self.tenant_id)
            self._synced = {str(r["RowKey"]): dict(r) for r in self.rows.scan(partition)}
        return self._synced

    def mark_synced(self, kind: ReportKind, *, digest: str | None = None) -> None:
        marker = self._base(keys.synced_partition(self.partner_id, self.tenant_id), kind.value)
        if digest is not None:
            marker["digest"] = digest
        self._upsert([marker])

    def refused(self, kind: ReportKind, refusal: RefusedError) -> None:
        status = LICENCE_MISSING if refusal.code == PREMIUM_LICENCE_CODE else NOT_AVAILABLE
        detail = (
            "The tenant has no Entra ID P1/P2 licence, which this report needs."
            if status == LICENCE_MISSING
            else "Graph refused the read (permission not consented?)."
        )
        self.replace(kind, [self._row(kind, TENANT_ITEM, status, code=refusal.code, detail=detail)])

    def registration(self, details: list[UserRegistrationDetails] | RefusedError) -> None:
        kind = ReportKind.MFA_REGISTRATION
        if isinstance(details, RefusedError):
            self.refused(kind, details)
            return
        entities = [
            self._row(
                kind,
                d.id,
                "registered" if d.is_mfa_registered else "notRegistered",
                userId=d.id,
                userPrincipalName=d.user_principal_name,
                displayName=d.user_display_name,
                userType=d.user_type,
                isAdmin=d.is_admin,
                isMfaRegistered=d.is_mfa_registered,
                isMfaCapable=d.is_mfa_capable,
                isSsprRegistered=d.is_sspr_registered,
                methodsRegistered=list(d.methods_registered),
            )
            for d in details
            if not self.erased(d.id)
        ]
        self.replace(kind, entities)

    def sign_ins(self, users: list[UserSignIns] | RefusedError) -> int | None:
        """Writes the inactive-accounts report; answers how many enabled accounts are inactive
        (None when Graph refused), for the baseline's check."""
        kind = ReportKind.INACTIVE_USERS
        if isinstance(users, RefusedError):
            self.refused(kind, users)
            return None
        cutoff = self.now - timedelta(days=INACTIVE_DAYS)
        entities = []
        inactive = 0
        for user in users:
            if self.erased(user.id):
                continue
            activity = user.sign_in_activity
            moments = [
                m
                for m in (
                    activity.last_sign_in_date_time if activity else None,
                    activity.last_non_interactive_sign_in_date_time if activity else None,
                    activity.last_successful_sign_in_date_time if activity else None,
                )
                if m is not None
            ]
            latest = max(moments) if moments else None
            status = "neverSignedIn" if latest is None else ("inactive" if latest < cutoff else "active")
            if status != "active" and user.account_enabled is not False:
                inactive += 1
            entities.append(
                self._row(
                    kind,
                    user.id,
                    status,
                    userId=user.id,
                    userPrincipalName=user.user_principal_name,
                    displayName=user.display_name,
                    accountEnabled=user.account_enabled,
                    userType=user.user_type,
                    lastSignInDateTime=_iso(activity.last_sign_in_date_time if activity else None),
                    lastNonInteractiveSignInDateTime=_iso(
                        activity.last_non_interactive_sign_in_date_time if activity else None
                    ),
                    lastSuccessfulSignInDateTime=_iso(
                        activity.last_successful_sign_in_date_time if activity else None
                    ),
                )
            )
        self.replace(kind, entities)
        return inactive

    def configuration(self, config: TenantConfiguration, disabled_by_sku: Mapping[str, int]) -> None:
        """Licences per SKU and role holders, from the configuration the sync read anyway."""
        if "subscribedSkus" in config.unavailable:
            self.refused(ReportKind.LICENCES, RefusedError(config.unavailable["subscribedSkus"]))
        else:
            entities = []
            for sku in config.subscribed_skus:
                available = sku.prepaid_units.enabled
                spare = available - sku.consumed_units
                status = "overAssigned" if spare < 0 else ("unassigned" if spare > 0 else "ok")
                entities.append(
                    self._row(
                        ReportKind.LICENCES,
                        sku.sku_id,
                        status,
                        skuId=sku.sku_id,
                        skuPartNumber=sku.sku_part_number,
                        assigned=sku.consumed_units,
                        available=available,
                        unassigned=max(spare, 0),
                        disabledUsersWithLicence=int(disabled_by_sku.get(sku.sku_id.lower(), 0)),
                    )
                )
            self.replace(ReportKind.LICENCES, entities)
        if "roleAssignments" in config.unavailable:
            self.refused(ReportKind.PRIVILEGED_ROLES, RefusedError(config.unavailable["roleAssignments"]))
            return
        assignments = [a for a in config.role_assignments if not self.erased(a.principal_id)]
        partition = keys.users_partition(self.partner_id, self.tenant_id)
        holders = {a.principal_id for a in assignments}
        people = dict(
            zip(holders, self.pool.map(lambda u: self.rows.get(partition, u), holders), strict=True)
        )
        entities = []
        for assignment in assignments:
            template = assignment.role_template_id or assignment.role_definition_id
            person: Mapping[str, Any] = people.get(assignment.principal_id) or {}
            entities.append(
                self._row(
                    ReportKind.PRIVILEGED_ROLES,
                    f"{assignment.principal_id}~{template}",  # by holder: erasure reads one range
                    "globalAdministrator" if template == GLOBAL_ADMINISTRATOR else "otherRole",
                    userId=assignment.principal_id,
                    userPrincipalName=person.get("userPrincipalName"),
                    displayName=person.get("displayName"),
                    roleName=assignment.role_name,
                    roleTemplateId=template,
                    directoryScopeId=assignment.directory_scope_id,
                )
            )
        self.replace(ReportKind.PRIVILEGED_ROLES, entities)

    def secure_scores(self, scores: list[SecureScore] | RefusedError) -> None:
        kind = ReportKind.SECURE_SCORE
        if isinstance(scores, RefusedError):
            self.refused(kind, scores)
            return
        ordered = sorted(scores, key=lambda s: s.created_date_time, reverse=True)
        if not ordered:
            self.replace(kind, [])
            return
        latest = ordered[0]
        percentage = round(100 * latest.current_score / latest.max_score, 1) if latest.max_score else 0.0
        status = "high" if percentage >= 70 else ("medium" if percentage >= 40 else "low")
        trend = [
            {
                "date": isoformat(s.created_date_time)[:10],
                "currentScore": s.current_score,
                "maxScore": s.max_score,
            }
            for s in ordered
        ]
        self.replace(
            kind,
            [
                self._row(
                    kind,
                    "latest",
                    status,
                    currentScore=latest.current_score,
                    maxScore=latest.max_score,
                    percentage=percentage,
                    createdDateTime=isoformat(latest.created_date_time),
                    trend=trend,
                )
            ],
        )


_BOOKKEEPING = frozenset({"PartitionKey", "RowKey", "Timestamp", "syncId", "syncedAt"})


def _content(row: Mapping[str, Any]) -> dict[str, Any]:
    """What a row says, without when and by which sync it was written."""
    return {
        k: v for k, v in row.items() if k not in _BOOKKEEPING and not k.startswith("odata.") and "@" not in k
    }


def _digest(entities: Iterable[Mapping[str, Any]]) -> str:
    """One value for a report's whole content: equal content, equal digest, whatever the order."""
    lines = sorted(json.dumps([str(e["RowKey"]), _content(e)], sort_keys=True, default=str) for e in entities)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _iso(moment: datetime | None) -> str | None:
    return isoformat(moment) if moment is not None else None


def read_or_refused(read: Callable[[], Any], refused_errors: Iterable[type[Exception]]) -> Any:
    """`read()`, or a `RefusedError` with Graph's code when Graph refused it (403/404)."""
    try:
        return read()
    except tuple(refused_errors) as error:
        return RefusedError(str(getattr(error, "code", type(error).__name__)), str(error))

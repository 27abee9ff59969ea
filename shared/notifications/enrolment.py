"""Registering a push device for a Dynamics user, only as that user.

The device key (`x-device-key`) is publishable: it names the organisation and keys the rate limit,
and proves nothing about anyone. What proves the browser belongs to the user is an Entra ID access
token for Tenantry's API, issued to that user by the organisation's tenant: its `tid` is the org's
`tenantId`, its issuer that tenant's, its `oid` the org user's `azureActiveDirectoryObjectId` (as
the partner pushed it from Dataverse). A Dynamics web resource gets such a token silently for the
signed-in user (MSAL.js single sign-on; see the README).

Order of refusals, each before anything is stored: a wrong device key 401; more than
`registrations_per_minute` from one device key 429; no token 401; org not proven or without a
tenant 409; a forged or expired token 401; another tenant's or another user's token 403; an
unknown user, or one without an object id, 409; over a device cap 429 (`DeviceRegistry`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from shared.errors import FieldError, ProblemError, unauthenticated
from shared.notifications.devices import DeviceLimits, DeviceRegistry
from shared.notifications.models import DeviceCreated, DeviceIn
from shared.notifications.orgs import USERS, Org, OrgDirectory, OrgLocation, org_not_proven
from shared.privacy.consent import Limit, Throttle
from shared.usage import Unit, UsageMeter

if TYPE_CHECKING:
    from shared.access.tokens import TokenClaims
    from shared.audit.context import ActionContext
    from shared.clock import Clock
    from shared.notifications.orgs import OrgService
    from shared.storage.router import AccountStorage

OBJECT_ID = "azureActiveDirectoryObjectId"


@dataclass(frozen=True)
class TokenCheck:
    """How a bearer token is read: its claims (ProblemError 401 forged or expired, 403 for another
    API or without the scope), and whether a tenant's Entra ID issued it (v1 or v2 issuer)."""

    claims_of: Callable[[str], TokenClaims]
    issued_by: Callable[[TokenClaims, str], bool]


def org_tenant_unknown() -> ProblemError:
    return ProblemError(
        409,
        "org-tenant-unknown",
        "The organisation's tenant is not known.",
        "Set the org's tenantId first (PATCH the organisation): device users' tokens are checked against it.",
    )


def _wrong_token(kind: str, detail: str) -> ProblemError:
    return ProblemError(403, kind, "Not this user's token.", detail)


class DeviceEnrolment:
    """Device registration for the users of any org, found by org id alone (the claims)."""

    def __init__(
        self,
        directory: OrgDirectory,
        orgs: Callable[[str, str], OrgService],
        accounts: Callable[[str], AccountStorage],
        registry: Callable[[str], DeviceRegistry],
        *,
        tokens: TokenCheck,
        clock: Clock,
        limits: DeviceLimits | None = None,
        usage: Callable[[str], UsageMeter] | None = None,
    ):
        self.directory = directory
        self.usage = usage
        self.orgs = orgs
        self.accounts = accounts
        self.registry = registry
        self.tokens = tokens
        self.clock = clock
        self.limits = limits or DeviceLimits()

    def _fits(self, location: OrgLocation, device_key: str) -> Org | None:
        try:
            service = self.orgs(location.partner_id, location.region)
            org = service.authenticating(location.org_id)
        except ProblemError:
            return None
        check = service.device_key_hashes.verify(device_key, org.device_key_hash)
        if not check.ok:
            return None
        # Under an older pepper version: stored again under the current one (once per version).
        return org if check.rehash is None else service.rekey(org, "device", check.rehash)

    def authenticate(self, org_id: str, device_key: str | None) -> tuple[OrgLocation, Org]:
        """The org whose device key this is, proven: 401 for a wrong key, 409 `org-not-proven`
        for the key of a registration not proven yet (looked for only when the claim's key fails)."""
        if not device_key:
            raise unauthenticated("The device key (x-device-key) is missing.")
        holder = self.directory.locate(org_id)
        if holder is not None:
            org = self._fits(holder, device_key)
            if org is not None:
                return holder, org
            # This process may remember a claim released since: read it again once.
            fresh = self.directory.locate(org_id, fresh=True)
            if fresh is not None and fresh != holder:
                org = self._fits(fresh, device_key)
                if org is not None:
                    return fresh, org
            holder = fresh
        for location in self.directory.list_pending_registrations(org_id):
            if location != holder and self._fits(location, device_key) is not None:
                raise org_not_proven()
        raise unauthenticated("The device key is missing or wrong.")

    def throttle(self, location: OrgLocation, org: Org) -> None:
        """At most `registrations_per_minute` registrations per device key (429 with Retry-After)."""
        limit = Limit("dk", self.limits.registrations_per_minute, timedelta(minutes=1))
        # The key's peppered hash names its counter: the key itself is never stored.
        Throttle(self.accounts(location.region), self.clock).hit(limit, org.device_key_hash)

    def admit(self, org_id: str, device_key: str | None) -> tuple[OrgLocation, Org]:
        """`authenticate`, then `throttle`: who may try to register a device; storage trouble 503."""
        from shared.notifications.ingest import storage_trouble_is_503

        with storage_trouble_is_503():
            location, org = self.authenticate(org_id, device_key)
            self.throttle(location, org)
        return location, org

    def unregister(self, location: OrgLocation, device_id: str, action: ActionContext) -> None:
        """The device stops receiving at once; the audit log says who unsubscribed it (under the
        org's tenant, or the partner's when the org went meanwhile)."""
        from shared.audit.log import AuditLog

        self.registry(location.region).unsubscribe(location.org_id, device_id)
        try:
            tenant_id = self.orgs(location.partner_id, location.region).get(location.org_id).tenant_id
        except ProblemError:
            tenant_id = None
        action.record(
            AuditLog(self.accounts(location.region), self.clock),
            location.partner_id,
            "device.unsubscribed",
            {"type": "device", "id": device_id, "orgId": location.org_id},
            tenant_id=tenant_id,
        )

    def register(self, location: OrgLocation, org: Org, bearer: str | None, body: DeviceIn) -> DeviceCreated:
        """The device, registered for `body.systemUserId` if the token is that user's."""
        if not bearer:
            raise unauthenticated(
                "An Entra ID access token of the Dynamics user (Authorization: Bearer) is required."
            )
        org = self.orgs(location.partner_id, location.region).require_proven(org)
        if not org.tenant_id:
            raise org_tenant_unknown()
        claims = self.tokens.claims_of(bearer)
        if not self.tokens.issued_by(claims, org.tenant_id):
            raise _wrong_token(
                "token-for-another-tenant",
                "The token was not issued by this organisation's tenant (tenantId).",
            )
        user_id = str(body.system_user_id).lower()
        object_id = self._object_id(location, org, user_id)
        if claims.object_id != object_id:
            raise _wrong_token(
                "token-for-another-user",
                "The token belongs to another user than the systemUserId it registers for.",
            )
        created, _ = self.registry(location.region).register(org.id, body)
        if self.usage is not None:  # keyed by the device: registering it again counts once
            self.usage(location.region).record(location.partner_id, Unit.DEVICES_REGISTERED, key=created.id)
        return created

    def _object_id(self, location: OrgLocation, org: Org, user_id: str) -> str:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            row: Any = self.accounts(location.region).table(USERS).get_entity(org.id, user_id)
        except ResourceNotFoundError:
            raise ProblemError(
                409,
                "org-user-unknown",
                "Unknown system user.",
                "No system user with this systemUserId: PUT it to the organisation's users first, "
                f"with its {OBJECT_ID}.",
                [FieldError("systemUserId", "is not a user of this organisation")],
            ) from None
        object_id = str(row.get(OBJECT_ID) or "").lower()
        if not object_id:
            raise ProblemError(
                409,
                "org-user-object-id-unknown",
                "The user's Entra object id is not known.",
                f"The system user has no {OBJECT_ID}: PUT it to the organisation's users first "
                "(Dataverse's systemuser.azureactivedirectoryobjectid).",
                [FieldError(OBJECT_ID, "is required to register a device for this user")],
            )
        return object_id

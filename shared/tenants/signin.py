"""Administrator sign-ins that prove a tenant: the signed state, nonce and PKCE verifier of each link.

The state that travels through the browser names only the partner and the sign-in, signed with a
key of its own purpose and dead after `LINK_LIFETIME`; the nonce and PKCE verifier stay in the
partner's region and are consumed by the first callback (an ETag-guarded delete), so a replayed
state or code proves nothing.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from shared.clock import Clock, isoformat, parse_iso
from shared.errors import ProblemError
from shared.ids import new_id
from shared.keys import SIGN_IN_STATE
from shared.storage import tables

if TYPE_CHECKING:
    from collections.abc import Sequence

    from shared.keys import KeyRing
    from shared.storage.router import AccountStorage

SIGN_INS = "adminconsents"
LINK_LIFETIME = timedelta(minutes=15)
_STATE_SALT = "tenantry.admin-consent.state"

Purpose = Literal["partnerTenant", "customerTenant"]


def state_keys(ring: KeyRing) -> list[bytes]:
    """Keys for sign-in states only, one per pepper version (oldest first, the newest signs): a
    purpose of its own so no other signature passes as one; every configured version still reads,
    so a link issued just before a rotation still works for its minutes."""
    return [ring.secret(SIGN_IN_STATE, version) for version in sorted(ring.master.versions)]


def sign_in_refused(detail: str) -> ProblemError:
    return ProblemError(400, "sign-in-invalid", "This sign-in proves nothing.", detail)


class StateSigner:
    """Signs `(partner id, sign-in id)` into the OAuth `state`, and reads it back within its lifetime."""

    def __init__(self, keys: Sequence[bytes]):
        from itsdangerous import URLSafeTimedSerializer

        if not keys or not all(keys):
            raise ValueError("sign-in states need at least one non-empty key")
        # itsdangerous signs with the last key and reads with any of them.
        self._serializer = URLSafeTimedSerializer(list(keys), salt=_STATE_SALT)

    def sign(self, partner_id: str, sign_in_id: str) -> str:
        return str(self._serializer.dumps({"p": partner_id, "s": sign_in_id}))

    def read(self, state: str) -> tuple[str, str]:
        from itsdangerous import BadData, SignatureExpired

        try:
            data = self._serializer.loads(state, max_age=int(LINK_LIFETIME.total_seconds()))
        except SignatureExpired:
            raise sign_in_refused("The link has expired; ask for a new one.") from None
        except BadData:
            raise sign_in_refused("The state was not issued by Tenantry.") from None
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("p"), str)
            or not isinstance(data.get("s"), str)
        ):
            raise sign_in_refused("The state was not issued by Tenantry.")
        return data["p"], data["s"]


@dataclass(frozen=True)
class PendingSignIn:
    id: str
    purpose: Purpose
    tenant_id: str
    nonce: str
    code_verifier: str
    redirect_uri: str
    requested_by: str
    expires_at: str

    @property
    def code_challenge(self) -> str:
        digest = hashlib.sha256(self.code_verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class SignInStore:
    """One partner's pending sign-ins, in the partner's region."""

    def __init__(self, account: AccountStorage, partner_id: str, clock: Clock):
        self.account = account
        self.partner_id = partner_id
        self.clock = clock

    @property
    def table(self) -> Any:
        return self.account.table(SIGN_INS)

    def begin(self, purpose: Purpose, tenant_id: str, redirect_uri: str, requested_by: str) -> PendingSignIn:
        sign_in = PendingSignIn(
            id=new_id(),
            purpose=purpose,
            tenant_id=tenant_id.lower(),
            nonce=secrets.token_urlsafe(24),
            code_verifier=secrets.token_urlsafe(48),
            redirect_uri=redirect_uri,
            requested_by=requested_by,
            expires_at=isoformat(self.clock.now() + LINK_LIFETIME),
        )
        self.table.create_entity(
            {
                "PartitionKey": self.partner_id,
                "RowKey": f"s-{sign_in.id}",
                "purpose": purpose,
                "tenantId": sign_in.tenant_id,
                "nonce": sign_in.nonce,
                "codeVerifier": sign_in.code_verifier,
                "redirectUri": redirect_uri,
                "requestedBy": requested_by,
                "expiresAt": sign_in.expires_at,
            }
        )
        return sign_in

    def take(self, sign_in_id: str) -> PendingSignIn:
        """The pending sign-in, removed so that it works once; refused when unknown, used or expired."""
        from azure.core.exceptions import HttpResponseError

        row = tables.get(self.table, self.partner_id, f"s-{sign_in_id}")
        if row is None:
            raise sign_in_refused("This link was already used, or never issued.")
        try:
            tables.delete(self.table, self.partner_id, f"s-{sign_in_id}", etag=row.etag)
        except HttpResponseError as error:
            if error.status_code in (404, 412):  # another callback of the same link got there first
                raise sign_in_refused("This link was already used.") from None
            raise
        if parse_iso(str(row["expiresAt"])) <= self.clock.now():
            raise sign_in_refused("The link has expired; ask for a new one.")
        return PendingSignIn(
            id=sign_in_id,
            purpose=row["purpose"],
            tenant_id=str(row["tenantId"]),
            nonce=str(row["nonce"]),
            code_verifier=str(row["codeVerifier"]),
            redirect_uri=str(row["redirectUri"]),
            requested_by=str(row["requestedBy"]),
            expires_at=str(row["expiresAt"]),
        )

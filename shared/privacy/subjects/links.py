"""Short-lived read links to one blob: user-delegation SAS with the managed identity, account-key SAS locally.

In Azure the stamp's storage has shared-key access disabled, so a link must be signed with a
user-delegation key that the app's identity obtains from Entra ID (valid at most 7 days; we ask
for the link's lifetime only). Azurite has no Entra ID, and its accounts are reached by connection
string: there the account key signs. `sas_method` is the one place that chooses.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from shared.settings import StorageTarget
    from shared.storage.router import AccountStorage

SasMethod = Literal["user-delegation", "account-key"]
_CLOCK_SKEW = timedelta(minutes=5)


def sas_method(target: StorageTarget) -> SasMethod:
    """By identity (accountName setting): user delegation. By connection string: its account key."""
    return "user-delegation" if target.uses_identity else "account-key"


def account_key_of(connection_string: str) -> str:
    match = re.search(r"AccountKey=([^;]+)", connection_string)
    if match is None:
        raise ValueError("the storage connection string holds no AccountKey to sign links with")
    return match.group(1)


def sign(
    account_name: str,
    container: str,
    blob: str,
    *,
    now: datetime,
    ttl: timedelta,
    account_key: str | None = None,
    user_delegation_key: Any = None,
) -> str:
    """The SAS query string for reading one blob from `now - skew` to `now + ttl` (pure: no I/O)."""
    from azure.storage.blob import BlobSasPermissions, generate_blob_sas

    return generate_blob_sas(
        account_name=account_name,
        container_name=container,
        blob_name=blob,
        account_key=account_key,
        user_delegation_key=user_delegation_key,
        permission=BlobSasPermissions(read=True),
        start=now - _CLOCK_SKEW,
        expiry=now + ttl,
        protocol="https" if user_delegation_key is not None else None,
        content_disposition=f'attachment; filename="{blob.rsplit("/", 1)[-1]}"',
        content_type="application/json",
    )


def signed_link(account: AccountStorage, container: str, blob: str, *, now: datetime, ttl: timedelta) -> str:
    """A URL reading `container/blob` until `now + ttl`, signed the way the account allows."""
    target = account.target
    client = account.container(container).get_blob_client(blob)
    account_name = str(client.account_name)
    if sas_method(target) == "user-delegation":
        key = account.blob_service().get_user_delegation_key(now - _CLOCK_SKEW, now + ttl)
        token = sign(account_name, container, blob, now=now, ttl=ttl, user_delegation_key=key)
    else:
        key_text = account_key_of(str(target.connection_string))
        token = sign(account_name, container, blob, now=now, ttl=ttl, account_key=key_text)
    return f"{client.url}?{token}"

"""A development token issuer standing in for Entra ID: its own RSA key, a JWKS, and minted tokens.

The product validates these exactly as it validates Entra tokens; only the settings
(ENTRA_AUTHORITY_HOST, ENTRA_V1_ISSUER_HOST, ENTRA_JWKS_URL) point here instead of
login.microsoftonline.com and sts.windows.net. v2 tokens are issued as `<host>/<tid>/v2.0`, v1
tokens as `<host>/sts/<tid>/`, both signed with the same key, as Entra signs both with its keys.
"""

from __future__ import annotations

import base64
import contextlib
import os
import time
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from localdev.azurite import REPO

ROUTE_PREFIX = "/_dev/entra"
KID = "tenantry-dev-1"
# What Entra puts in tokens requested by the partner's portal: the delegated scope of Tenantry's API.
ACCESS_AS_USER = "access_as_user"
OPERATOR_ROLE = "Tenantry.Operator"
# The client that asked for the token (`azp`/`appid`): a made-up portal app.
DEV_CLIENT_APP = "5f0c6b1e-3d2a-4e8b-9c7d-1a2b3c4d5e6f"


def v1_issuer_host(authority_host: str) -> str:
    """Where this issuer's v1 tokens say they come from (Entra: https://sts.windows.net)."""
    return f"{authority_host.rstrip('/')}/sts"


def key_file() -> Path:
    return Path(os.environ.get("DEV_ISSUER_KEY_FILE", str(REPO / ".localdev" / "dev-issuer-key.pem")))


@cache
def signing_key() -> rsa.RSAPrivateKey:
    """Made once per checkout; every process (host, tests, the mint command) shares it."""
    path = key_file()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        temp = path.with_suffix(f".{os.getpid()}.tmp")
        temp.write_bytes(pem)
        # link() fails if another process got there first; then its (complete) key is used.
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)
        temp.unlink()
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(loaded, rsa.RSAPrivateKey)
    return loaded


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwks() -> dict[str, Any]:
    public = signing_key().public_key().public_numbers()
    return {
        "keys": [
            {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": KID, "n": _b64(public.n), "e": _b64(public.e)}
        ]
    }


def mint(
    *,
    tenant_id: str,
    object_id: str,
    audience: str,
    authority_host: str,
    name: str | None = None,
    lifetime_seconds: int = 3600,
    issued_at: float | None = None,
    key: rsa.RSAPrivateKey | None = None,
    version: str = "2.0",
    scopes: str | None = ACCESS_AS_USER,
    roles: Iterable[str] = (),
    app_id: str = DEV_CLIENT_APP,
    v1_host: str | None = None,
) -> str:
    """An access token shaped like Entra ID's, v2.0 or (`version="1.0"`) v1.0.

    `scopes` is the space-separated `scp` (None: an app-only token has none); `roles` the app roles
    assigned to the user or app; `v1_host` the v1 issuer host when not this issuer's own.
    """
    now = int(issued_at if issued_at is not None else time.time())
    tenant = tenant_id.lower()
    if version == "1.0":
        issuer = f"{(v1_host or v1_issuer_host(authority_host)).rstrip('/')}/{tenant}/"
    elif version == "2.0":
        issuer = f"{authority_host.rstrip('/')}/{tenant}/v2.0"
    else:
        raise ValueError(f"unknown token version {version!r}")
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "tid": tenant,
        "oid": object_id.lower(),
        "iat": now,
        "nbf": now,
        "exp": now + lifetime_seconds,
        "ver": version,
        # v1 names the requesting client `appid`, v2 `azp`.
        ("appid" if version == "1.0" else "azp"): app_id,
    }
    if scopes:
        claims["scp"] = scopes
    if roles:
        claims["roles"] = list(roles)
    if name:
        claims["name"] = name
    return jwt.encode(claims, key or signing_key(), algorithm="RS256", headers={"kid": KID})

"""A development token issuer standing in for Entra ID: its own RSA key, a JWKS, and minted tokens.

The product validates these exactly as it validates Entra tokens; only the settings
(ENTRA_AUTHORITY_HOST, ENTRA_JWKS_URL) point here instead of login.microsoftonline.com.
"""

from __future__ import annotations

import base64
import contextlib
import os
import time
from functools import cache
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from localdev.azurite import REPO

ROUTE_PREFIX = "/_dev/entra"
KID = "tenantry-dev-1"


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
) -> str:
    """An access token shaped like Entra ID v2.0's (iss, aud, tid, oid, iat, nbf, exp)."""
    now = int(issued_at if issued_at is not None else time.time())
    claims = {
        "iss": f"{authority_host.rstrip('/')}/{tenant_id.lower()}/v2.0",
        "aud": audience,
        "tid": tenant_id.lower(),
        "oid": object_id.lower(),
        "iat": now,
        "nbf": now,
        "exp": now + lifetime_seconds,
        "ver": "2.0",
    }
    if name:
        claims["name"] = name
    return jwt.encode(claims, key or signing_key(), algorithm="RS256", headers={"kid": KID})

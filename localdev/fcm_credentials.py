"""Throwaway Google service accounts for local runs: a fresh RSA key whose token_uri is the FCM stand-in."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

# What Google's own service-account key files say besides the key; firebase-admin and google-auth
# read `type`, `client_email`, `private_key(_id)`, `project_id` and `token_uri`.
_GOOGLE_CERT_URL = "https://www.googleapis.com/oauth2/v1/certs"


def make_service_account(
    token_uri: str, project_id: str = "tenantry-local", *, key_bits: int = 2048
) -> dict[str, str]:
    """A service-account JSON dict with a new private key. Worthless outside the stand-in, by design."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=key_bits)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    key_id = secrets.token_hex(20)
    email = f"tenantry-standin@{project_id}.iam.gserviceaccount.com"
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": key_id,
        "private_key": pem,
        "client_email": email,
        "client_id": str(secrets.randbelow(10**20)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": _GOOGLE_CERT_URL,
        "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{email}",
        "universe_domain": "googleapis.com",
    }


def public_key_pem(service_account: dict[str, Any]) -> str:
    """The public half of a service account's key, which is all the stand-in needs to check assertions."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(str(service_account["private_key"]).encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def write_service_account(path: Path, service_account: dict[str, str]) -> Path:
    """Writes the key file readable by its owner only, as a real key file should be kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(json.dumps(service_account, indent=2))
    return path

"""A token's claims as the product reads them (tenant, person, name, version, scopes, roles, the
calling app), and the tokens it refuses: the checks behind every bearer-authenticated request.

Tokens are signed with a key of the test's own, served as a key set (JWKS) from this process."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.access.tokens import ForeignAudienceError, InvalidTokenError, TokenValidator
from tests.integration.rigs import key_set_server

TENANT = "6F1C2B7E-0A4D-4C8E-9D3B-2A1F5E7C9B10"
AUDIENCE, CLIENT = "api://tenantry", "3b1f6a2c-8d4e-4f7a-9b0c-5e6d7f8a9b0c"


@pytest.fixture(scope="module")
def signer() -> Iterator[tuple[rsa.RSAPrivateKey, str]]:
    """A signing key and the URL of its key set."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    keys = {"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}
    with key_set_server(lambda: keys) as url:
        yield key, url


def mint(key: rsa.RSAPrivateKey, **claims: Any) -> str:
    now = int(time.time())
    body = {
        "iss": f"https://login.microsoftonline.com/{TENANT.lower()}/v2.0",
        "aud": AUDIENCE,
        "tid": TENANT,
        "oid": "AB12CD34-0000-4000-8000-00000000000A",
        "exp": now + 600,
        "nbf": now - 10,
        **claims,
    }
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, "RS256", headers={"kid": "k1"})


def test_a_tokens_claims_are_read_as_the_product_uses_them(signer: tuple[rsa.RSAPrivateKey, str]) -> None:
    key, url = signer
    validator = TokenValidator(url, AUDIENCE, CLIENT)
    claims = validator.validate(
        mint(key, name="Ada Admin", scp="access_as_user other", roles=["Tenantry.Operator", 7], azp=CLIENT)
    )
    assert claims.issuer == f"https://login.microsoftonline.com/{TENANT.lower()}/v2.0"
    assert (claims.tenant_id, claims.object_id) == (TENANT.lower(), "ab12cd34-0000-4000-8000-00000000000a")
    assert claims.name == "Ada Admin" and claims.display == "Ada Admin"
    assert claims.version == "2.0"
    assert claims.scopes == frozenset({"access_as_user", "other"})
    assert claims.roles == frozenset({"Tenantry.Operator"})  # a role that is not text is no role
    assert claims.app_id == CLIENT
    assert validator.issued_by(claims, TENANT)


def test_v1_tokens_and_odd_claims(signer: tuple[rsa.RSAPrivateKey, str]) -> None:
    key, url = signer
    validator = TokenValidator(url, AUDIENCE)
    v1 = validator.validate(
        mint(
            key, iss=f"https://sts.windows.net/{TENANT.lower()}/", aud=[7, AUDIENCE], appid="legacy", name=42
        )
    )
    # No `ver`: the issuer tells the version; a name that is not text is no name, the app is shown.
    assert (v1.version, v1.name, v1.app_id, v1.display) == ("1.0", None, "legacy", "app legacy")
    assert v1.scopes == frozenset() and v1.roles == frozenset()
    assert validator.issued_by(v1, TENANT.lower())
    stated = validator.validate(mint(key, ver="1.0", scp=["not", "words"]))
    assert (stated.version, stated.scopes) == ("1.0", frozenset())
    assert (
        validator.validate(mint(key, iss="https://login.microsoftonline.com/x/v2.0/", ver="3")).version
        == "2.0"
    )


def test_tokens_for_another_api_or_badly_made_are_refused(signer: tuple[rsa.RSAPrivateKey, str]) -> None:
    key, url = signer
    validator = TokenValidator(url, AUDIENCE)
    with pytest.raises(ForeignAudienceError) as foreign:
        validator.validate(mint(key, aud="api://someone-else"))
    assert foreign.value.audience == "api://someone-else"
    with pytest.raises(ForeignAudienceError):
        validator.validate(mint(key, aud=["api://someone-else", 7]))
    with pytest.raises(InvalidTokenError, match="MissingRequiredClaimError"):
        validator.validate(mint(key, oid=None))
    with pytest.raises(InvalidTokenError, match="ExpiredSignatureError"):
        validator.validate(mint(key, exp=int(time.time()) - 120))
    # Within the allowed clock skew a just-expired token still passes.
    assert validator.validate(mint(key, exp=int(time.time()) - 20)).tenant_id == TENANT.lower()
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(InvalidTokenError):
        validator.validate(mint(other))
    with pytest.raises(InvalidTokenError):
        validator.validate(
            jwt.encode(
                {"aud": AUDIENCE}, "a shared secret of thirty-two bytes!", "HS256", headers={"kid": "k1"}
            )
        )

"""Entra token validation: the JWKS is fetched once and cached, and refreshed for a new key; v1 and
v2 tokens, either audience; a genuine token for another API is told apart from a bad one."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from localdev import dev_issuer
from shared.access.tokens import ForeignAudienceError, InvalidTokenError, TokenValidator
from tests.integration.rigs import key_set_server

TENANT, OID, AUDIENCE, HOST = "6f1c2b7e-0a4d-4c8e-9d3b-2a1f5e7c9b10", "1111", "api://t", "http://issuer"
CLIENT_ID, V1_HOST = "3b1f6a2c-8d4e-4f7a-9b0c-5e6d7f8a9b0c", "http://sts"
OTHER_TENANT = "0d2e4f6a-8b1c-4d3e-9f5a-7b6c8d0e2f41"


class Issuer:
    """A JWKS endpoint that counts how often it is asked, and can publish a second key."""

    def __init__(self) -> None:
        self.fetches = 0
        self.extra: list[dict[str, str]] = []


@pytest.fixture
def issuer() -> Iterator[tuple[Issuer, str]]:
    state = Issuer()

    def key_set() -> dict[str, Any]:
        state.fetches += 1
        return {"keys": dev_issuer.jwks()["keys"] + state.extra}

    with key_set_server(key_set) as url:
        yield state, url


def token(**options: object) -> str:
    claims: dict[str, object] = {
        "tenant_id": TENANT,
        "object_id": OID,
        "audience": AUDIENCE,
        "authority_host": HOST,
    }
    return dev_issuer.mint(**{**claims, **options})  # type: ignore[arg-type]


def test_keys_are_fetched_once_for_many_tokens(issuer: tuple[Issuer, str]) -> None:
    state, url = issuer
    validator = TokenValidator(url, AUDIENCE)
    for _ in range(50):
        claims = validator.validate(token())
    assert (claims.tenant_id, claims.object_id, claims.issuer) == (TENANT, OID, f"{HOST}/{TENANT}/v2.0")
    assert state.fetches == 1


def test_an_unknown_kid_refreshes_the_key_set(issuer: tuple[Issuer, str]) -> None:
    state, url = issuer
    # No cool-down between fetches, so the roll below is met at once rather than after 30 s.
    validator = TokenValidator(url, AUDIENCE, refresh_cooldown_seconds=0)
    assert validator.validate(token()).object_id == OID
    # The issuer rolls a new signing key; a token signed with it must still be accepted.
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(new_key.public_key()))
    state.extra = [{**jwk, "kid": "rolled", "use": "sig", "alg": "RS256"}]
    claims = {
        "iss": f"{HOST}/{TENANT}/v2.0",
        "aud": AUDIENCE,
        "tid": TENANT,
        "oid": OID,
        "nbf": int(time.time()),
        "exp": int(time.time()) + 600,
    }
    rolled = validator.validate(jwt.encode(claims, new_key, algorithm="RS256", headers={"kid": "rolled"}))
    assert (rolled.tenant_id, rolled.object_id, rolled.issuer) == (TENANT, OID, f"{HOST}/{TENANT}/v2.0")
    assert state.fetches == 2


def test_within_the_cool_down_an_unknown_kid_does_not_fetch_the_key_set_again(
    issuer: tuple[Issuer, str],
) -> None:
    state, url = issuer
    validator = TokenValidator(url, AUDIENCE)  # the default cool-down: 30 s
    validator.validate(token())
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = {"iss": f"{HOST}/{TENANT}/v2.0", "aud": AUDIENCE, "tid": TENANT, "oid": OID}
    claims |= {"nbf": int(time.time()), "exp": int(time.time()) + 600}
    for n in range(5):
        made_up = jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": f"made-up-{n}"})
        with pytest.raises(InvalidTokenError):
            validator.validate(made_up)
    assert state.fetches == 1


@pytest.mark.parametrize(
    ("options", "why"),
    [
        # `issued_at` is seconds from now, taken when the test runs: a time taken at collection
        # would be long past in a suite that runs for minutes before it gets here.
        ({"issued_at": -7200, "lifetime_seconds": 3600}, "expired"),
        ({"issued_at": 600}, "not yet valid"),
        ({"key": rsa.generate_private_key(public_exponent=65537, key_size=2048)}, "forged"),
        # Wrong audience and expired: lifetime is checked first, so this is no genuine token.
        ({"audience": "api://x", "issued_at": -7200, "lifetime_seconds": 3600}, "both"),
    ],
)
def test_bad_tokens_are_refused(issuer: tuple[Issuer, str], options: dict[str, object], why: str) -> None:
    _, url = issuer
    if "issued_at" in options:
        options = {**options, "issued_at": time.time() + float(options["issued_at"])}  # type: ignore[arg-type]
    with pytest.raises(InvalidTokenError):
        TokenValidator(url, AUDIENCE).validate(token(**options))


def test_a_genuine_token_for_another_api_is_told_apart(issuer: tuple[Issuer, str]) -> None:
    _, url = issuer
    with pytest.raises(ForeignAudienceError):
        TokenValidator(url, AUDIENCE, CLIENT_ID).validate(token(audience="api://another-app"))


def validator(url: str) -> TokenValidator:
    return TokenValidator(url, AUDIENCE, CLIENT_ID, authority_host=HOST, v1_issuer_host=V1_HOST)


@pytest.mark.parametrize("version", ["1.0", "2.0"])
@pytest.mark.parametrize("audience", [AUDIENCE, CLIENT_ID])
def test_v1_and_v2_tokens_with_either_audience_name_their_tenant(
    issuer: tuple[Issuer, str], version: str, audience: str
) -> None:
    _, url = issuer
    check = validator(url)
    claims = check.validate(token(version=version, audience=audience, v1_host=V1_HOST, name="Ana Li"))
    assert claims.version == version
    expected = f"{V1_HOST}/{TENANT}/" if version == "1.0" else f"{HOST}/{TENANT}/v2.0"
    assert claims.issuer == expected
    assert check.issued_by(claims, TENANT.upper()) and not check.issued_by(claims, OTHER_TENANT)
    assert (claims.scopes, claims.roles, claims.app_id) == (
        frozenset({"access_as_user"}),
        frozenset(),
        dev_issuer.DEV_CLIENT_APP,
    )


def test_scopes_and_roles_are_read_and_another_issuer_is_not_the_tenants(
    issuer: tuple[Issuer, str],
) -> None:
    _, url = issuer
    check = validator(url)
    claims = check.validate(token(scopes="User.Read access_as_user", roles=["Tenantry.Operator", "X"]))
    assert claims.scopes == {"User.Read", "access_as_user"}
    assert claims.roles == {"Tenantry.Operator", "X"}
    app_only = check.validate(token(scopes=None, roles=["Tenantry.Operator"]))
    assert app_only.scopes == frozenset() and app_only.display == f"app {dev_issuer.DEV_CLIENT_APP}"
    # The tenant's id under another issuer host (say, another cloud's) is not that tenant's token.
    elsewhere = check.validate(token(authority_host="http://elsewhere"))
    assert elsewhere.tenant_id == TENANT and not check.issued_by(elsewhere, TENANT)


def test_small_clock_skew_is_tolerated(issuer: tuple[Issuer, str]) -> None:
    _, url = issuer
    claims = TokenValidator(url, AUDIENCE).validate(token(issued_at=time.time() + 30))
    assert (claims.tenant_id, claims.object_id, claims.version) == (TENANT, OID, "2.0")

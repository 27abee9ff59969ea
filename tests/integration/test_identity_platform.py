"""The identity-platform adapter against the Graph stand-in's real sign-in: what counts as an ID token."""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from functions import deps
from localdev.graph_standin import StandinControl
from shared.adapters.identity import GLOBAL_ADMINISTRATOR, IdentityError, IdentityPlatform

REDIRECT = "http://127.0.0.1:9/api/admin-consent/callback"


@pytest.fixture(scope="module")
def identity() -> IdentityPlatform:
    return IdentityPlatform(deps.graph_access().settings)


def sign_in(
    identity: IdentityPlatform, control: StandinControl, tenant_id: str, *, admin: bool = True
) -> tuple[str, str]:
    """A real ID token for a person of `tenant_id`, and the nonce it answers."""
    nonce, verifier = secrets.token_urlsafe(16), secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    url = identity.authorize_url(
        tenant_id, redirect_uri=REDIRECT, state="s", nonce=nonce, code_challenge=challenge
    )
    person = control.admin_of(tenant_id) if admin else control.member_of(tenant_id)
    code = parse_qs(urlsplit(control.authorize(url, person["userPrincipalName"])).query)["code"][0]
    return identity.redeem_code(tenant_id, code=code, redirect_uri=REDIRECT, code_verifier=verifier), nonce


def test_an_administrators_id_token_verifies_and_says_who_signed_in(
    identity: IdentityPlatform, control: StandinControl
) -> None:
    tenant_id = str(uuid.uuid4())
    control.put_tenant(tenant_id, 3)
    token, nonce = sign_in(identity, control, tenant_id)
    admin = identity.verify_id_token(token, tenant_id=tenant_id, nonce=nonce)
    assert admin.tenant_id == tenant_id and admin.object_id == control.admin_of(tenant_id)["id"]
    assert GLOBAL_ADMINISTRATOR in admin.role_template_ids and admin.may_consent_for_organisation
    member, nonce = sign_in(identity, control, tenant_id, admin=False)
    assert not identity.verify_id_token(member, tenant_id=tenant_id, nonce=nonce).may_consent_for_organisation


def test_a_token_of_another_tenant_another_sign_in_or_another_key_is_refused(
    identity: IdentityPlatform, control: StandinControl
) -> None:
    mine, theirs = str(uuid.uuid4()), str(uuid.uuid4())
    control.put_tenant(mine, 3)
    control.put_tenant(theirs, 3)
    token, nonce = sign_in(identity, control, theirs)
    with pytest.raises(IdentityError, match="InvalidIssuer"):
        identity.verify_id_token(token, tenant_id=mine, nonce=nonce)
    with pytest.raises(IdentityError, match="nonce"):
        identity.verify_id_token(token, tenant_id=theirs, nonce="another sign-in")
    # The same claims and kid, signed by a key the issuer never published.
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode(
        claims,
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        algorithm="RS256",
        headers={"kid": jwt.get_unverified_header(token)["kid"]},
    )
    with pytest.raises(IdentityError, match="InvalidSignature"):
        identity.verify_id_token(forged, tenant_id=theirs, nonce=nonce)


def test_app_access_follows_the_tenants_consent(identity: IdentityPlatform, control: StandinControl) -> None:
    tenant_id = str(uuid.uuid4())
    control.put_tenant(tenant_id, 3)
    identity.app_access(tenant_id)
    control.revoke_consent(tenant_id)
    with pytest.raises(IdentityError) as refused:
        identity.app_access(tenant_id)
    assert refused.value.aadsts == 700016 and not refused.value.transient

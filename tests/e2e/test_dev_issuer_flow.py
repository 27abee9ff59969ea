"""The local dev issuer signs people in as Entra does for MSAL: authorisation code + PKCE over TLS."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator

import httpx
import pytest

from localdev.stack import authority_host
from tests.e2e.actors import AUDIENCE, PartnerSetup, make_partner
from tests.e2e.sign_in import (
    CLIENT_ID,
    Attempt,
    claims,
    issuer_client,
    pick,
    picker_forms,
    redirect_params,
    session_cookie,
)
from tests.web import web


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with issuer_client() as client:
        yield client


@pytest.fixture(scope="module")
def signed_up(api: str) -> tuple[PartnerSetup, str, str]:
    """A partner of its own (its owner's e-mail unique in the picker) and a viewer it invited."""
    tag = uuid.uuid4().hex[:8]
    owner_email = f"owner-{tag}@fabrikam.example"
    partner = make_partner(
        api,
        displayName=f"Fabrikam {tag}",
        owner={"objectId": str(uuid.uuid4()), "email": owner_email, "displayName": f"Olivia {tag}"},
    )
    viewer_email = f"viewer-{tag}@fabrikam.example"
    invited = web.post(
        f"{partner.url}/personnel",
        headers=partner.bearer(),
        json={
            "objectId": str(uuid.uuid4()),
            "email": viewer_email,
            "displayName": f"Victor {tag}",
            "role": "viewer",
        },
    )
    assert invited.status_code == 201, invited.text
    return partner, owner_email, viewer_email


def sign_in(
    client: httpx.Client, api: str, email: str, attempt: Attempt | None = None
) -> tuple[Attempt, httpx.Response]:
    """Authorise, then press the person's button on the picker: the redirect back to the app."""
    attempt = attempt or Attempt(api)
    page = attempt.authorize(client)
    assert page.status_code == 200, page.text
    return attempt, pick(client, api, page.text, email)


def test_the_picker_lists_every_person_of_a_partner(
    api: str, client: httpx.Client, signed_up: tuple[PartnerSetup, str, str]
) -> None:
    partner, owner_email, viewer_email = signed_up
    page = Attempt(api).authorize(client)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none': no script
    people = {f.fields.get("email"): f for f in picker_forms(page.text)}
    owner, viewer = people[owner_email], people[viewer_email]
    assert owner.fields["tid"] == viewer.fields["tid"] == partner.entra_tenant_id
    assert owner.fields["oid"] == partner.owner_object_id
    tag = owner_email.split("@")[0].removeprefix("owner-")
    assert f"Olivia {tag}" in owner.label and f"Fabrikam {tag}" in owner.label and "owner" in owner.label
    assert f"Victor {tag}" in viewer.label and "viewer" in viewer.label
    # Anyone else can be typed in: the last form asks for tenant, object id and name.
    assert {"tid", "oid", "name"} <= set(picker_forms(page.text)[-1].fields)


def test_a_code_with_pkce_becomes_tokens_the_api_accepts(
    api: str, client: httpx.Client, signed_up: tuple[PartnerSetup, str, str]
) -> None:
    partner, owner_email, _ = signed_up
    attempt, back = sign_in(client, api, owner_email)
    sent = redirect_params(back)
    assert back.headers["location"].startswith(f"{api}/#")  # response_mode=fragment
    assert sent["state"] == attempt.state
    info = json.loads(base64.urlsafe_b64decode(sent["client_info"] + "=="))
    assert info == {"uid": partner.owner_object_id, "utid": partner.entra_tenant_id}

    redeemed = attempt.redeem(client, sent["code"])
    assert redeemed.status_code == 200, redeemed.text
    # The portal (another origin) may read the answer.
    assert redeemed.headers["access-control-allow-origin"] == api
    tokens = redeemed.json()
    assert tokens["token_type"] == "Bearer" and tokens["scope"] == f"{AUDIENCE}/access_as_user"
    identity = claims(tokens["id_token"])
    assert identity["aud"] == CLIENT_ID and identity["nonce"] == attempt.nonce
    assert identity["tid"] == partner.entra_tenant_id and identity["oid"] == partner.owner_object_id
    assert identity["preferred_username"] == owner_email
    assert identity["iss"] == f"{authority_host(api)}/{partner.entra_tenant_id}/v2.0"
    bearer = {"authorization": f"Bearer {tokens['access_token']}"}
    seen = web.get(partner.url, headers=bearer)
    assert seen.status_code == 200, seen.text
    assert seen.json()["id"] == partner.id

    # The refresh token gets a fresh access token, as MSAL's acquireTokenSilent does.
    refreshed = client.post(
        f"{attempt.authority}/oauth2/v2.0/token",
        data={
            "client_id": CLIENT_ID,
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
        },
    )
    assert refreshed.status_code == 200, refreshed.text
    again = {"authorization": f"Bearer {refreshed.json()['access_token']}"}
    assert web.get(partner.url, headers=again).status_code == 200


def refusal(response: httpx.Response, error: str, code: int) -> None:
    """Entra's token error: 400, JSON {error, error_description 'AADSTS<n>: ...', error_codes [n]}."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")


def test_a_code_is_refused_with_the_wrong_verifier_another_redirect_uri_or_twice(
    api: str, client: httpx.Client, signed_up: tuple[PartnerSetup, str, str]
) -> None:
    _, owner_email, _ = signed_up
    attempt, back = sign_in(client, api, owner_email)
    wrong = attempt.redeem(client, redirect_params(back)["code"], code_verifier=Attempt(api).verifier)
    refusal(wrong, "invalid_grant", 50148)

    attempt, back = sign_in(client, api, owner_email)
    elsewhere = attempt.redeem(client, redirect_params(back)["code"], redirect_uri=f"{api}/elsewhere")
    refusal(elsewhere, "invalid_grant", 500112)

    attempt, back = sign_in(client, api, owner_email)
    code = redirect_params(back)["code"]
    assert attempt.redeem(client, code).status_code == 200
    refusal(attempt.redeem(client, code), "invalid_grant", 54005)

    attempt, back = sign_in(client, api, owner_email)
    refusal(
        attempt.redeem(client, redirect_params(back)["code"], code_verifier=""), "invalid_request", 900144
    )


def test_an_authorise_request_without_pkce_or_from_an_unknown_app_is_refused(
    api: str, client: httpx.Client
) -> None:
    attempt = Attempt(api)
    # Without a challenge the error goes back to the app, as Entra's errors for a known app do.
    unproven = redirect_params(attempt.authorize(client, code_challenge=None))
    assert unproven["error"] == "invalid_request" and unproven["state"] == attempt.state
    assert unproven["error_description"].startswith("AADSTS9002325: ")
    plain = redirect_params(attempt.authorize(client, code_challenge_method="plain"))
    assert plain["error"] == "invalid_request"
    # An unknown app or a reply address off this machine never gets a redirect: a page says why.
    stranger = attempt.authorize(client, client_id=str(uuid.uuid4()))
    assert stranger.status_code == 400 and "AADSTS700016" in stranger.text
    away = attempt.authorize(client, redirect_uri="https://attacker.example/")
    assert away.status_code == 400 and "AADSTS50011" in away.text


def test_silent_sign_in_needs_the_session_the_picker_left(
    api: str, client: httpx.Client, signed_up: tuple[PartnerSetup, str, str]
) -> None:
    partner, owner_email, _ = signed_up
    attempt = Attempt(api)
    nobody = redirect_params(attempt.authorize(client, prompt="none"))
    assert nobody["error"] == "login_required" and nobody["error_description"].startswith("AADSTS50058: ")

    _, back = sign_in(client, api, owner_email)
    cookie = session_cookie(back)
    assert "HttpOnly" in back.headers["set-cookie"] and "Secure" in back.headers["set-cookie"]
    silent = Attempt(api)
    code = redirect_params(silent.authorize(client, cookie, prompt="none"))["code"]
    tokens = silent.redeem(client, code).json()
    assert claims(tokens["access_token"])["oid"] == partner.owner_object_id

    signed_out = client.get(
        f"{attempt.authority}/oauth2/v2.0/logout", params={"post_logout_redirect_uri": f"{api}/"}
    )
    assert signed_out.status_code == 302 and signed_out.headers["location"] == f"{api}/"
    assert "Max-Age=0" in signed_out.headers["set-cookie"]


def test_discovery_keys_and_preflight_are_entras(api: str, client: httpx.Client) -> None:
    authority = f"{authority_host(api)}/organizations"
    found = client.get(f"{authority}/v2.0/.well-known/openid-configuration")
    assert found.status_code == 200
    document = found.json()
    # As Entra: a multi-tenant authority's issuer names `{tenantid}`; its endpoints stay under it.
    assert document["issuer"] == f"{authority_host(api)}/{{tenantid}}/v2.0"
    assert document["authorization_endpoint"] == f"{authority}/oauth2/v2.0/authorize"
    assert document["token_endpoint"] == f"{authority}/oauth2/v2.0/token"
    assert document["end_session_endpoint"] == f"{authority}/oauth2/v2.0/logout"
    keys = client.get(document["jwks_uri"]).json()
    assert keys == web.get(f"{api}/_dev/entra/discovery/v2.0/keys").json()  # what the API checks with

    preflight = client.options(
        f"{authority}/oauth2/v2.0/token",
        headers={
            "origin": api,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type,x-anchormailbox",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == api
    assert "x-anchormailbox" in preflight.headers["access-control-allow-headers"]

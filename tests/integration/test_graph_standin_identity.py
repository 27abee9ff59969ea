"""Identity and GDAP in the Graph stand-in, through real clients: MSAL, azure-identity, PyJWT, msgraph."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import ssl
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import msal
import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from pydantic import SecretStr

from localdev.azurite import free_port
from localdev.graph_standin import GraphStandin, RunningStandin, StandinControl, serve_in_thread
from shared.adapters.graph import GraphSettings, GraphWriter, graph_credential

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:msgraph.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:kiota_abstractions.*"),
]

CLIENT_ID = "7c4e2a19-3b5d-4f60-8a71-9e0d1c2b3a4f"
CLIENT_SECRET = "identity-stand-in-secret"
REDIRECT_URI = "https://tenantry.example/api/admin-consent/callback"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
GLOBAL_READER = "f2ef992c-3afb-46b9-b7cf-a126ee74c451"


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStandin]:
    app = GraphStandin(users_per_tenant=30, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    with serve_in_thread(app, port=free_port(), cert_dir=tmp_path_factory.mktemp("identity-tls")) as running:
        yield running


@pytest.fixture(scope="module")
def control(standin: RunningStandin) -> Iterator[StandinControl]:
    client = StandinControl(standin.base_url, standin.certificates.ca)
    yield client
    client.close()


@pytest.fixture(scope="module")
def tls(standin: RunningStandin) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(standin.certificates.ca))


@pytest.fixture(scope="module")
def http(tls: ssl.SSLContext) -> Iterator[httpx.Client]:
    with httpx.Client(verify=tls, timeout=30, follow_redirects=False) as client:
        yield client


def app_token(http: httpx.Client, standin: RunningStandin, tenant: str) -> httpx.Response:
    """A client-credentials request straight to the token endpoint (no client cache in between)."""
    return http.post(
        f"{standin.base_url}/{tenant}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scope": GRAPH_SCOPE,
        },
    )


def graph_get(
    http: httpx.Client, standin: RunningStandin, token: str, path: str, **params: str
) -> httpx.Response:
    return http.get(
        f"{standin.graph_url}/{path}", params=params, headers={"Authorization": f"Bearer {token}"}
    )


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def sign_in_url(standin: RunningStandin, tenant: str, **overrides: str | None) -> str:
    query: dict[str, str | None] = {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "response_mode": "query",
        "scope": "openid profile",
        "state": "state-" + secrets.token_hex(4),
        "nonce": "nonce-" + secrets.token_hex(4),
        "code_challenge": pkce()[1],
        "code_challenge_method": "S256",
        "prompt": "consent",
        **overrides,
    }
    kept = {k: v for k, v in query.items() if v is not None}
    return f"{standin.base_url}/{tenant}/oauth2/v2.0/authorize?{urlencode(kept)}"


def callback(location: str) -> dict[str, str]:
    assert location.startswith(REDIRECT_URI + "?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def redeem(
    http: httpx.Client, standin: RunningStandin, tenant: str, code: str, verifier: str, **form: str
) -> Any:
    return http.post(
        f"{standin.base_url}/{tenant}/oauth2/v2.0/token",
        data={
            "grant_type": "authorization_code",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
            **form,
        },
    )


def verified_id_token(
    standin: RunningStandin, tls: ssl.SSLContext, tenant: str, id_token: str
) -> dict[str, Any]:
    """The ID token checked as a relying party does: keys from the discovery document's jwks_uri."""
    discovery = httpx.get(
        f"{standin.base_url}/{tenant}/v2.0/.well-known/openid-configuration", verify=tls
    ).json()
    keys = jwt.PyJWKClient(discovery["jwks_uri"], ssl_context=tls)
    claims: dict[str, Any] = jwt.decode(
        id_token,
        keys.get_signing_key_from_jwt(id_token).key,
        algorithms=["RS256"],
        audience=CLIENT_ID,
        issuer=discovery["issuer"],
    )
    return claims


def sts_error(response: httpx.Response) -> tuple[int, str, int]:
    body = response.json()
    return response.status_code, body["error"], body["error_codes"][0]


# --- consent -------------------------------------------------------------------------------------


def test_no_app_token_for_a_tenant_that_never_consented(
    standin: RunningStandin, control: StandinControl
) -> None:
    tenant = str(uuid.uuid4())
    session = requests.Session()
    session.trust_env = False  # else REQUESTS_CA_BUNDLE, when set, replaces the stand-in's CA
    session.verify = str(standin.certificates.ca)
    app = msal.ConfidentialClientApplication(
        CLIENT_ID,
        client_credential=CLIENT_SECRET,
        authority=f"{standin.base_url}/{tenant}",
        instance_discovery=False,
        http_client=session,
    )
    result = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert "access_token" not in result
    assert result["error"] == "unauthorized_client" and result["error_codes"] == [700016]
    assert (
        f"Application with identifier '{CLIENT_ID}' was not found in the directory '{tenant}'"
        in (result["error_description"])
    )
    assert "consented to by any user in the tenant" in result["error_description"]

    settings = GraphSettings(
        client_id=CLIENT_ID,
        client_secret=SecretStr(CLIENT_SECRET),
        authority_host=standin.base_url,
        base_url=standin.graph_url,
        ca_bundle=str(standin.certificates.ca),
    )
    with pytest.raises(ClientAuthenticationError, match="AADSTS700016"):
        graph_credential(settings).get_token(GRAPH_SCOPE, tenant_id=tenant)
    assert control.tenant(tenant)["consented"] is False


def test_consent_can_be_granted_and_revoked_and_issued_tokens_live_on(
    standin: RunningStandin, control: StandinControl, http: httpx.Client
) -> None:
    tenant = str(uuid.uuid4())
    assert sts_error(app_token(http, standin, tenant)) == (400, "unauthorized_client", 700016)

    assert control.grant_consent(tenant) == {"tenantId": tenant, "consented": True}
    issued = app_token(http, standin, tenant)
    assert issued.status_code == 200
    token = issued.json()["access_token"]
    organisation = graph_get(http, standin, token, "organization").json()["value"][0]
    assert organisation["id"] == tenant

    control.revoke_consent(tenant)
    assert sts_error(app_token(http, standin, tenant)) == (400, "unauthorized_client", 700016)
    # As in Entra: revoking stops new tokens; one already issued works until it expires.
    assert graph_get(http, standin, token, "organization").status_code == 200


def test_put_tenant_consents_unless_told_not_to_and_reset_forgets(
    standin: RunningStandin, control: StandinControl, http: httpx.Client
) -> None:
    consenting, holding_out = str(uuid.uuid4()), str(uuid.uuid4())
    assert control.put_tenant(consenting, 5)["consented"] is True
    assert control.put_tenant(holding_out, 5, consented=False)["consented"] is False
    assert app_token(http, standin, consenting).status_code == 200
    assert sts_error(app_token(http, standin, holding_out))[2] == 700016

    control.reset()
    assert sts_error(app_token(http, standin, consenting))[2] == 700016


# --- sign-in and ID tokens -----------------------------------------------------------------------


def test_an_administrator_consents_for_the_tenant_and_the_id_token_proves_who(
    standin: RunningStandin, control: StandinControl, http: httpx.Client, tls: ssl.SSLContext
) -> None:
    tenant = str(uuid.uuid4())
    control.put_tenant(tenant, 12, consented=False)
    admin = control.admin_of(tenant)
    verifier, challenge = pkce()
    url = sign_in_url(standin, tenant, code_challenge=challenge, state="s-1", nonce="n-1")

    answer = callback(control.authorize(url, admin["userPrincipalName"]))
    assert answer["state"] == "s-1" and answer["code"] and answer["session_state"]
    assert app_token(http, standin, tenant).status_code == 200  # admin consent made the service principal

    tokens = redeem(http, standin, tenant, answer["code"], verifier)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert set(body) >= {"token_type", "scope", "expires_in", "ext_expires_in", "access_token", "id_token"}
    assert jwt.get_unverified_header(body["id_token"])["kid"]
    claims = verified_id_token(standin, tls, tenant, body["id_token"])
    assert claims["iss"] == f"{standin.base_url}/{tenant}/v2.0"
    assert (claims["tid"], claims["oid"], claims["nonce"]) == (tenant, admin["id"], "n-1")
    assert claims["preferred_username"] == admin["userPrincipalName"] and claims["ver"] == "2.0"
    assert GLOBAL_ADMINISTRATOR in claims["wids"]
    assert claims["sub"] != claims["oid"] and claims["exp"] - claims["iat"] == 3600

    # The user's access token covers User.Read only: nothing the stand-in serves.
    denied = graph_get(http, standin, body["access_token"], "users")
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "Authorization_RequestDenied"


def test_a_user_without_an_admin_role_signs_in_but_consents_for_nobody_else(
    standin: RunningStandin, control: StandinControl, http: httpx.Client, tls: ssl.SSLContext
) -> None:
    tenant = str(uuid.uuid4())
    control.put_tenant(tenant, 12, consented=False)
    member = control.member_of(tenant)
    verifier, challenge = pkce()
    answer = callback(control.authorize(sign_in_url(standin, tenant, code_challenge=challenge), member["id"]))

    assert sts_error(app_token(http, standin, tenant))[2] == 700016
    claims = verified_id_token(
        standin, tls, tenant, redeem(http, standin, tenant, answer["code"], verifier).json()["id_token"]
    )
    assert claims["oid"] == member["id"] and GLOBAL_ADMINISTRATOR not in claims["wids"]


def test_admin_of_makes_an_administrator_when_the_tenant_has_none(control: StandinControl) -> None:
    tenant = str(uuid.uuid4())
    control.put_tenant(tenant, 0)
    admin = control.admin_of(tenant)
    assert admin["userPrincipalName"] and control.admin_of(tenant) == admin
    assert control.member_of(tenant)["id"] != admin["id"]


def test_the_organizations_endpoint_issues_from_the_users_home_tenant(
    standin: RunningStandin, control: StandinControl, http: httpx.Client, tls: ssl.SSLContext
) -> None:
    home = str(uuid.uuid4())
    control.put_tenant(home, 8, consented=False)
    admin = control.admin_of(home)
    verifier, challenge = pkce()
    url = sign_in_url(standin, "organizations", code_challenge=challenge)
    answer = callback(control.authorize(url, admin["userPrincipalName"].upper()))

    tokens = redeem(http, standin, "organizations", answer["code"], verifier)
    claims = verified_id_token(standin, tls, home, tokens.json()["id_token"])
    assert claims["tid"] == home and claims["iss"] == f"{standin.base_url}/{home}/v2.0"
    assert app_token(http, standin, home).status_code == 200


def test_a_code_works_once_for_its_client_redirect_and_verifier_within_ten_minutes(
    standin: RunningStandin, control: StandinControl, http: httpx.Client
) -> None:
    tenant = str(uuid.uuid4())
    control.put_tenant(tenant, 8)
    person = control.member_of(tenant)["userPrincipalName"]
    verifier, challenge = pkce()
    code = callback(control.authorize(sign_in_url(standin, tenant, code_challenge=challenge), person))["code"]

    assert sts_error(redeem(http, standin, tenant, code, pkce()[0])) == (400, "invalid_grant", 501481)
    wrong_redirect = redeem(
        http, standin, tenant, code, verifier, redirect_uri="https://elsewhere.example/cb"
    )
    assert sts_error(wrong_redirect) == (400, "invalid_grant", 500112)
    other_client = redeem(http, standin, tenant, code, verifier, client_id=str(uuid.uuid4()))
    assert sts_error(other_client) == (400, "unauthorized_client", 700016)
    assert redeem(http, standin, tenant, code, verifier).status_code == 200
    assert sts_error(redeem(http, standin, tenant, code, verifier)) == (400, "invalid_grant", 54005)

    verifier, challenge = pkce()
    late = callback(control.authorize(sign_in_url(standin, tenant, code_challenge=challenge), person))["code"]
    control.advance_clock(601)
    assert sts_error(redeem(http, standin, tenant, late, verifier)) == (400, "invalid_grant", 70008)


def test_sign_in_errors_go_back_to_the_app_unless_the_redirect_uri_is_the_problem(
    standin: RunningStandin, control: StandinControl, http: httpx.Client
) -> None:
    tenant = str(uuid.uuid4())
    control.put_tenant(tenant, 8, consented=False)
    admin = control.admin_of(tenant)["userPrincipalName"]

    def refused(**overrides: str | None) -> dict[str, str]:
        response = http.get(sign_in_url(standin, tenant, login_hint=admin, state="kept", **overrides))
        assert response.status_code == 302
        return callback(response.headers["location"])

    no_openid = refused(scope="profile")
    assert no_openid["error"] == "invalid_scope" and no_openid["state"] == "kept"
    assert no_openid["error_description"].startswith("AADSTS70011:")
    plain = refused(code_challenge_method="plain")
    assert plain["error"] == "invalid_request" and plain["error_description"].startswith("AADSTS50149:")
    assert sts_error(app_token(http, standin, tenant))[2] == 700016  # no sign-in happened

    for overrides, number in (
        ({"client_id": str(uuid.uuid4())}, 700016),
        ({"redirect_uri": None}, 900971),
        ({"redirect_uri": "http://tenantry.example/callback"}, 50011),
    ):
        page = http.get(sign_in_url(standin, tenant, login_hint=admin, **overrides))
        assert page.status_code == 400 and f"AADSTS{number}" in page.text
        assert page.headers["content-type"].startswith("text/html")


def test_without_a_login_hint_a_person_picks_an_account_administrators_first(
    standin: RunningStandin, control: StandinControl, http: httpx.Client
) -> None:
    tenant = str(uuid.uuid4())
    control.put_tenant(tenant, 20, consented=False)
    page = http.get(sign_in_url(standin, tenant))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    first_entry = page.text.split("<li>", 2)[1]
    assert "(Global Administrator" in first_entry and "login_hint=" in first_entry
    first_link = first_entry.split('<a href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    clicked = http.get(f"{standin.base_url}{first_link}")
    assert clicked.status_code == 302 and "code" in callback(clicked.headers["location"])
    assert app_token(http, standin, tenant).status_code == 200  # that administrator consented

    unknown = http.get(sign_in_url(standin, tenant, login_hint="nobody@nowhere.example"))
    assert unknown.status_code == 200 and "AADSTS50034" in unknown.text


# --- GDAP ----------------------------------------------------------------------------------------


def test_relationships_are_listed_filtered_and_paged_for_the_partner_only(
    standin: RunningStandin, control: StandinControl, http: httpx.Client
) -> None:
    partner, other_partner = str(uuid.uuid4()), str(uuid.uuid4())
    control.put_tenant(partner, 3)
    customers = [str(uuid.uuid4()) for _ in range(3)]
    made = [control.add_relationship(partner, c) for c in customers]
    pending = control.add_relationship(partner, customers[0], status="approvalPending")
    foreign = control.add_relationship(other_partner, customers[0], customer_display_name="Fabrikam")
    token = app_token(http, standin, partner).json()["access_token"]
    path = "tenantRelationships/delegatedAdminRelationships"

    listed = graph_get(http, standin, token, path).json()["value"]
    assert [r["id"] for r in listed] == [*(r["id"] for r in made), pending["id"]]
    first = listed[0]
    assert first["@odata.type"] == "#microsoft.graph.delegatedAdminRelationship"
    assert first["customer"]["tenantId"] == customers[0] and first["duration"] == "P730D"
    assert {r["roleDefinitionId"] for r in first["accessDetails"]["unifiedRoles"]} >= {GLOBAL_READER}
    assert first["status"] == "active" and first["activatedDateTime"] and first["endDateTime"]
    assert pending["activatedDateTime"] is None and pending["endDateTime"] is None

    filtered = graph_get(http, standin, token, path, **{"$filter": f"customer/tenantId eq '{customers[0]}'"})
    assert [r["id"] for r in filtered.json()["value"]] == [made[0]["id"], pending["id"]]
    both = f"customer/tenantId eq '{customers[0]}' and status eq 'active'"
    assert [r["id"] for r in graph_get(http, standin, token, path, **{"$filter": both}).json()["value"]] == [
        made[0]["id"]
    ]
    for unsupported in ("startswith(displayName,'Ten')", "status ne 'active'", "status eq 'sleeping'"):
        refused = graph_get(http, standin, token, path, **{"$filter": unsupported})
        assert refused.status_code == 400 and set(refused.json()["error"]) == {
            "code",
            "message",
            "innerError",
        }

    page = graph_get(http, standin, token, path, **{"$top": "2", "$filter": "status eq 'active'"}).json()
    assert len(page["value"]) == 2
    rest = http.get(page["@odata.nextLink"], headers={"Authorization": f"Bearer {token}"}).json()
    assert [r["id"] for r in page["value"] + rest["value"]] == [r["id"] for r in made]
    assert "@odata.nextLink" not in rest
    assert graph_get(http, standin, token, path, **{"$top": "301"}).status_code == 400

    one = graph_get(http, standin, token, f"{path}/{made[1]['id']}").json()
    assert one["id"] == made[1]["id"] and one["customer"]["tenantId"] == customers[1]
    missing = graph_get(http, standin, token, f"{path}/{foreign['id']}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "Request_ResourceNotFound"

    # The real msgraph-sdk reads the same shape.
    async def through_the_sdk() -> list[str]:
        settings = GraphSettings(
            client_id=CLIENT_ID,
            client_secret=SecretStr(CLIENT_SECRET),
            authority_host=standin.base_url,
            base_url=standin.graph_url,
            ca_bundle=str(standin.certificates.ca),
        )
        async with GraphWriter(partner, graph_credential(settings), settings) as writer:
            response = await writer.client().tenant_relationships.delegated_admin_relationships.get()
            assert response is not None and response.value is not None
            return [str(r.customer.tenant_id) for r in response.value if r.customer is not None]

    assert asyncio.run(through_the_sdk()) == [*customers, customers[0]]


def test_relationships_expire_by_the_stand_in_clock_and_can_be_changed_or_terminated(
    standin: RunningStandin, control: StandinControl, http: httpx.Client
) -> None:
    partner = str(uuid.uuid4())
    control.put_tenant(partner, 3)
    short, long, ended = (str(uuid.uuid4()) for _ in range(3))
    brief = control.add_relationship(partner, short, days=1)
    lasting = control.add_relationship(partner, long, roles=[GLOBAL_READER])
    doomed = control.add_relationship(partner, ended)
    token = app_token(http, standin, partner).json()["access_token"]
    customers_path = "tenantRelationships/delegatedAdminCustomers"

    def customers() -> set[str]:
        return {c["tenantId"] for c in graph_get(http, standin, token, customers_path).json()["value"]}

    def status(relationship: dict[str, Any]) -> str:
        found = graph_get(
            http, standin, token, f"tenantRelationships/delegatedAdminRelationships/{relationship['id']}"
        )
        return str(found.json()["status"])

    assert customers() == {short, long, ended}
    assert graph_get(http, standin, token, f"{customers_path}/{long}").json()["tenantId"] == long

    control.advance_clock(2 * 86400)
    assert status(brief) == "expired" and status(lasting) == "active"
    terminated = control.terminate_relationship(doomed["id"])
    assert terminated["status"] == "terminated" and status(doomed) == "terminated"
    assert customers() == {long}
    assert graph_get(http, standin, token, f"{customers_path}/{short}").status_code == 404

    # An expired relationship renewed (the customer approved a new end) counts again.
    renewed = control.update_relationship(brief["id"], status="active", endDateTime="2999-01-01T00:00:00Z")
    assert renewed["status"] == "active" and renewed["endDateTime"].startswith("2999-01-01")
    changed = control.update_relationship(lasting["id"], roles=[GLOBAL_READER, GLOBAL_ADMINISTRATOR])
    assert [r["roleDefinitionId"] for r in changed["accessDetails"]["unifiedRoles"]] == [
        GLOBAL_READER,
        GLOBAL_ADMINISTRATOR,
    ]
    assert customers() == {short, long}

    with pytest.raises(httpx.HTTPStatusError) as unknown:
        control.terminate_relationship("no-such-relationship")
    assert unknown.value.response.status_code == 404
    with pytest.raises(httpx.HTTPStatusError) as bad:
        control.update_relationship(lasting["id"], status="dormant")
    assert bad.value.response.status_code == 400
    assert status(lasting) == "active"

"""What MSAL.js does against the dev issuer's sign-in site: authorise with PKCE, pick a person, redeem."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import ssl
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from localdev import dev_issuer
from localdev.stack import authority_host
from tests.e2e.actors import AUDIENCE

CLIENT_ID = dev_issuer.DEV_CLIENT_APP
SCOPE = f"{AUDIENCE}/access_as_user openid profile offline_access"


def issuer_client() -> httpx.Client:
    """A client trusting the issuer's local CA, keeping no cookies (each test hands its own on)."""
    context = ssl.create_default_context(cafile=str(dev_issuer.cert_dir() / "ca.pem"))
    nothing_kept = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    return httpx.Client(
        verify=context, cookies=nothing_kept, timeout=httpx.Timeout(10.0), follow_redirects=False
    )


def pkce() -> tuple[str, str]:
    """A code verifier and its S256 challenge, as MSAL makes them."""
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@dataclass
class Attempt:
    """One sign-in as the portal starts it (what loginRedirect puts in the authorise URL)."""

    api: str
    redirect_uri: str = ""
    verifier: str = ""
    challenge: str = ""
    state: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(12))

    def __post_init__(self) -> None:
        self.redirect_uri = self.redirect_uri or f"{self.api}/"
        if not self.verifier:
            self.verifier, self.challenge = pkce()

    @property
    def authority(self) -> str:
        return f"{authority_host(self.api)}/organizations"

    def params(self, **changes: str | None) -> dict[str, str]:
        params: dict[str, str | None] = {
            "client_id": CLIENT_ID,
            "redirect_uri": self.redirect_uri,
            "response_type": "code",
            "response_mode": "fragment",
            "scope": SCOPE,
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": self.challenge,
            "code_challenge_method": "S256",
            "client_info": "1",
            **changes,
        }
        return {k: v for k, v in params.items() if v is not None}

    def authorize(self, client: httpx.Client, cookie: str = "", **changes: str | None) -> httpx.Response:
        headers = {"cookie": cookie} if cookie else {}
        return client.get(
            f"{self.authority}/oauth2/v2.0/authorize", params=self.params(**changes), headers=headers
        )

    def redeem(self, client: httpx.Client, code: str, **changes: str) -> httpx.Response:
        form = {
            "client_id": CLIENT_ID,
            "redirect_uri": self.redirect_uri,
            "scope": SCOPE,
            "code": code,
            "code_verifier": self.verifier,
            "grant_type": "authorization_code",
            "client_info": "1",
            **changes,
        }
        origin = f"{urlsplit(self.api).scheme}://{urlsplit(self.api).netloc}"
        return client.post(f"{self.authority}/oauth2/v2.0/token", data=form, headers={"origin": origin})


@dataclass
class PickerForm:
    action: str
    fields: dict[str, str]
    label: str


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[PickerForm] = []
        self._in_button = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(PickerForm(values.get("action", ""), {}, ""))
        elif tag == "input" and self.forms:
            self.forms[-1].fields[values.get("name", "")] = values.get("value", "")
        elif tag == "button":
            self._in_button = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "button":
            self._in_button = False

    def handle_data(self, data: str) -> None:
        if self._in_button and self.forms:
            self.forms[-1].label += data + " "


def picker_forms(page: str) -> list[PickerForm]:
    """The picker's forms: one per person (hidden fields and the button's text), then 'someone else'."""
    parser = _Forms()
    parser.feed(page)
    return parser.forms


def pick(client: httpx.Client, api: str, page: str, email: str) -> httpx.Response:
    """Presses the picker's button of the person with `email`."""
    form = next(f for f in picker_forms(page) if f.fields.get("email") == email)
    origin = urlsplit(authority_host(api))
    return client.post(f"{origin.scheme}://{origin.netloc}{form.action}", data=form.fields)


def redirect_params(response: httpx.Response) -> dict[str, str]:
    """What the issuer sent to the app: the redirect's fragment (or query) parameters."""
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    return dict(parse_qsl(location.fragment or location.query))


def session_cookie(response: httpx.Response) -> str:
    """The issuer's session cookie as the browser would send it back."""
    cookie = response.headers["set-cookie"].split(";", 1)[0]
    assert cookie.startswith(f"{dev_issuer.SESSION_COOKIE}="), cookie
    return cookie


def claims(token: str) -> dict[str, Any]:
    """A JWT's payload, unverified (the API verifies access tokens; MSAL reads id tokens this way)."""
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded

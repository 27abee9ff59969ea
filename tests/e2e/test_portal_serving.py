"""The stamp serves the partner portal at `/`: the built files, client-side routes, config, never more."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from localdev.stack import authority_host, local_host
from tests.web import web

INDEX = (
    b'<!doctype html><html><head><script type="module" src="/assets/app-abc123.js"></script></head></html>'
)
SCRIPT = b"console.log('portal');"
OUTSIDE = b"a file outside the portal's folder"
CLIENT_ID = "7d2f0a4e-1b3c-4d5e-8f60-718293a4b5c6"
AUDIENCE = "api://tenantry-portal-test"


@dataclass(frozen=True)
class Site:
    base: str
    dist: Path
    authority_host: str


@pytest.fixture(scope="module")
def site(stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    # A tiny build of the portal, as `make portal` leaves one, beside files it must never serve.
    root = tmp_path_factory.mktemp("portal")
    dist = root / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_bytes(INDEX)
    (dist / "assets" / "app-abc123.js").write_bytes(SCRIPT)
    (dist / "favicon.svg").write_bytes(b"<svg xmlns='http://www.w3.org/2000/svg'/>")
    (root / "host.json").write_bytes(OUTSIDE)
    (root / "secret.txt").write_bytes(OUTSIDE)
    (dist / "leak.txt").symlink_to(root / "secret.txt")
    (dist / ".env").write_bytes(OUTSIDE)
    env = {**stack_env, "PORTAL_DIST": str(dist), "PORTAL_CLIENT_ID": CLIENT_ID, "ENTRA_AUDIENCE": AUDIENCE}
    with local_host(env) as base:
        yield Site(base, dist, authority_host(base))


def raw_get(base: str, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """The path sent exactly as written: an HTTP client would resolve `..` or re-encode first."""
    address = urlsplit(base)
    connection = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port, timeout=10)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def expected_csp(authority: str) -> str:
    parts = urlsplit(authority)
    origin = f"{parts.scheme}://{parts.netloc}"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; "
        f"connect-src 'self' {origin}; frame-src {origin}; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
    )


@pytest.mark.parametrize("path", ["/", "/tenants/x", "/tenants/x/", "/index.html"])
def test_the_portal_and_its_client_routes_are_index_html(site: Site, path: str) -> None:
    response = web.get(site.base + path)
    assert response.status_code == 200
    assert response.content == INDEX
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["content-security-policy"] == expected_csp(site.authority_host)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_the_csp_lets_the_portal_reach_its_authority_over_https(site: Site) -> None:
    # MSAL needs an https authority; the page may talk to it and frame it, nothing else outside.
    policy = web.get(site.base + "/").headers["content-security-policy"]
    origin = "https://" + urlsplit(site.authority_host).netloc
    assert site.authority_host.startswith("https://")
    assert f"connect-src 'self' {origin};" in policy
    assert f"frame-src {origin};" in policy


def test_hashed_assets_are_immutable_with_their_content_type(site: Site) -> None:
    response = web.get(site.base + "/assets/app-abc123.js")
    assert response.status_code == 200
    assert response.content == SCRIPT
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["content-security-policy"] == expected_csp(site.authority_host)
    other = web.get(site.base + "/favicon.svg")
    assert (other.headers["content-type"], other.headers["cache-control"]) == ("image/svg+xml", "no-cache")


@pytest.mark.parametrize("path", ["/assets/app-gone999.js", "/assets/", "/assets"])
def test_a_missing_asset_or_the_folder_is_not_found_rather_than_the_page(site: Site, path: str) -> None:
    # A script of another build answered with index.html would fail as a script; a folder is never listed.
    response = web.get(site.base + path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert b"app-abc123" not in response.content


@pytest.mark.parametrize(
    "path",
    [
        "/../host.json",
        "/%2e%2e/host.json",
        "/assets/../../host.json",
        "/assets/%2e%2e/%2e%2e/secret.txt",
        "/%2e%2e%2fhost.json",
        "/assets%2fapp-abc123.js",
        "/assets%2Fapp-abc123.js",
        "/..%5chost.json",
        "/leak.txt",
        "/.env",
        "/%00",
        "/%ff",
    ],
)
def test_no_path_reaches_a_file_outside_the_portal(site: Site, path: str) -> None:
    status, headers, body = raw_get(site.base, path)
    assert status == 404, (path, status, body)
    assert headers["content-type"].startswith("application/problem+json")
    assert OUTSIDE not in body
    assert headers["content-security-policy"] == expected_csp(site.authority_host)


def test_unknown_api_paths_stay_problems_of_the_api(site: Site) -> None:
    response = web.get(site.base + "/api/nope")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["detail"] == "No endpoint at /api/nope."
    refused = web.post(site.base + "/api/health")
    assert (refused.status_code, refused.headers["allow"]) == (405, "GET")
    assert web.get(site.base + "/api/health").status_code == 200


def test_config_json_comes_from_the_settings(site: Site) -> None:
    response = web.get(site.base + "/config.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-cache"
    netloc = urlsplit(site.authority_host).netloc
    assert response.json() == {
        "clientId": CLIENT_ID,
        "authority": f"{site.authority_host}/organizations",
        "knownAuthorities": [netloc],
        "scopes": [f"{AUDIENCE}/access_as_user"],
    }


@pytest.mark.parametrize("path", ["/", "/tenants/x", "/assets/app-abc123.js", "/config.json"])
def test_head_answers_as_get_without_a_body(site: Site, path: str) -> None:
    got = web.get(site.base + path)
    head = web.head(site.base + path)
    assert head.status_code == got.status_code == 200
    assert head.content == b""
    for name in ("content-type", "cache-control", "content-security-policy"):
        assert head.headers[name] == got.headers[name]


def test_other_methods_are_refused(site: Site) -> None:
    response = web.post(site.base + "/tenants/x", content=b"{}")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert response.headers["content-type"].startswith("application/problem+json")


def test_without_a_build_the_portal_says_so(site: Site) -> None:
    index = site.dist / "index.html"
    index.rename(site.dist / "index.html.away")
    try:
        for path in ("/", "/tenants/x", "/assets/app-abc123.js"):
            response = web.get(site.base + path)
            assert response.status_code == 503, path
            assert response.headers["content-type"].startswith("application/problem+json")
            assert "make portal" in response.json()["detail"]
        # The API does not depend on the portal.
        assert web.get(site.base + "/api/health").status_code == 200
    finally:
        (site.dist / "index.html.away").rename(index)

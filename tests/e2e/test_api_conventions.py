"""The product app on the local host: health, problem details everywhere, the OpenAPI document."""

from __future__ import annotations

import json
import uuid

from functions.http import endpoint_spec
from localdev.azurite import REPO, connection_string
from localdev.stack import local_host
from tests.e2e.actors import PartnerSetup
from tests.web import web


def test_health_reports_every_region(api: str) -> None:
    response = web.get(f"{api}/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["regions"]) == {"eu", "us"}
    assert body["control"]["reachable"]
    assert response.headers["x-request-id"]


def test_unknown_route_is_404_problem(api: str) -> None:
    response = web.get(f"{api}/api/no/such/thing")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/not-found")
    assert response.headers["x-request-id"]


def test_wrong_method_is_405_problem_with_allow(api: str) -> None:
    response = web.delete(f"{api}/api/health")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
    assert response.json()["status"] == 405


def test_request_id_is_echoed(api: str) -> None:
    assert web.get(f"{api}/api/health", headers={"x-request-id": "abc-1"}).headers["x-request-id"] == "abc-1"


def test_openapi_lists_every_registered_endpoint(api: str) -> None:
    document = web.get(f"{api}/api/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    import function_app

    expected = set()
    for function in function_app.app.get_functions():
        spec = endpoint_spec(function.get_user_function())
        if spec is not None:
            expected |= {(f"/api/{spec.template.openapi_path()}", m.lower()) for m in spec.methods}
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert documented == expected
    assert ("/api/health", "get") in documented
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status"} <= set(problem["required"])


def test_docs_page_renders_the_document(api: str) -> None:
    response = web.get(f"{api}/api/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "https://" not in response.text  # no CDN: every file comes from this host
    # Swagger UI from the pinned npm package, and the set-up that points it at the document.
    pinned = json.loads((REPO / "package.json").read_text())["devDependencies"]["swagger-ui-dist"]
    bundle = web.get(f"{api}/api/docs/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and bundle.headers["content-type"].startswith("text/javascript")
    installed = json.loads((REPO / "node_modules/swagger-ui-dist/package.json").read_text())["version"]
    assert installed == pinned and "SwaggerUIBundle" in bundle.text
    assert web.get(f"{api}/api/docs/swagger-ui.css").headers["content-type"].startswith("text/css")
    setup = web.get(f"{api}/api/docs/reference.js").text
    assert 'url: "openapi.json"' in setup and "persistAuthorization: true" in setup
    for name in ("docs/swagger-ui.css", "docs/swagger-ui-bundle.js", "docs/reference.js"):
        assert f'"{name}"' in response.text
    # Only the reference's own files are served, nothing else from disk.
    for other in ("package.json", "..%2Fhost.json", "index.html"):
        refused = web.get(f"{api}/api/docs/{other}")
        assert refused.status_code == 404, other
        assert refused.headers["content-type"].startswith("application/problem+json")


def test_health_is_503_naming_the_region_that_is_down(stack_env: dict[str, str]) -> None:
    dead = connection_string("tenantryus", "a2V5", {"blob": 9, "queue": 9, "table": 9})
    env = {**stack_env, "TENANTRY_STORAGE_US": dead, "TENANTRY_STORAGE_TIMEOUT_SECONDS": "2"}
    with local_host(env) as base:
        response = web.get(f"{base}/api/health", timeout=30)
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["detail"] == "Storage unreachable: us."


def test_a_boolean_is_true_or_false_never_a_number(partner: PartnerSetup) -> None:
    # A 0 taken for false would switch a tenant's security defaults off.
    url = f"{partner.url}/tenants/{uuid.uuid4()}/security-defaults"
    for sent in (0, 1, "false", "off"):
        refused = web.put(url, json={"enabled": sent}, headers=partner.as_key)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"] == [{"field": "enabled", "message": "Input should be true or false"}]
    # A real boolean passes the edge (and meets the missing tenant).
    assert web.put(url, json={"enabled": False}, headers=partner.as_key).status_code == 404

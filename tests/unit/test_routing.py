"""Route templates match as the Functions host matches them."""

import pytest

from functions.routing import RouteTemplate, RouteTemplateError, strip_prefix


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("partners/{partnerId}", "/partners/p1", {"partnerId": "p1"}),
        ("partners/{partnerId}", "/Partners/p1/", {"partnerId": "p1"}),  # case-insensitive, trailing slash
        ("partners/{partnerId}", "/partners", None),
        ("partners/{partnerId}", "/partners/p1/extra", None),
        ("items/{n:int}", "/items/12", {"n": "12"}),
        ("items/{n:int}", "/items/twelve", None),
        ("items/{n:int?}", "/items", {}),
        (
            "items/{id:guid}",
            "/items/0b7e8f6a-3c2d-4e1f-8a9b-7c6d5e4f3a2b",
            {"id": "0b7e8f6a-3c2d-4e1f-8a9b-7c6d5e4f3a2b"},
        ),
        ("items/{id:guid}", "/items/not-a-guid", None),
        ("files/{*rest}", "/files/a/b/c", {"rest": "a/b/c"}),
        ("files/{*rest}", "/files", {}),
        ("files/{name}.{ext}", "/files/report.pdf", {"name": "report", "ext": "pdf"}),
        ("{*path}", "/anything/at/all", {"path": "anything/at/all"}),
    ],
)
def test_match(template: str, path: str, expected: dict[str, str] | None) -> None:
    assert RouteTemplate(template).match(path) == expected


def test_precedence_prefers_literals_then_constraints_then_catch_all() -> None:
    ranked = sorted(
        [RouteTemplate(t) for t in ["{*path}", "items/{id}", "items/{id:int}", "items/latest"]],
        key=lambda t: t.precedence,
    )
    assert [t.template for t in ranked] == ["items/latest", "items/{id:int}", "items/{id}", "{*path}"]


@pytest.mark.parametrize("template", ["a/{x?}/b", "a/{*rest}/b", "a/{x:nope}", "a/{9x}"])
def test_bad_templates_are_refused_at_indexing(template: str) -> None:
    with pytest.raises(RouteTemplateError):
        RouteTemplate(template)


def test_strip_prefix() -> None:
    assert strip_prefix("/api/partners", "api") == "/partners"
    assert strip_prefix("/API", "api") == ""
    assert strip_prefix("/apix/partners", "api") is None
    assert strip_prefix("/partners", "") == "/partners"


def test_openapi_path_drops_constraints_and_markers() -> None:
    assert RouteTemplate("orgs/{orgId:guid}/items/{n:int?}").openapi_path() == "orgs/{orgId}/items/{n}"
    assert RouteTemplate("files/{*rest}").openapi_path() == "files/{rest}"


def _could_meet(one: str, other: str) -> bool:
    """Whether some path matches both templates: as many segments, each pair equal or a parameter."""
    a, b = one.strip("/").split("/"), other.strip("/").split("/")
    return len(a) == len(b) and all(
        x == y or x.startswith("{") or y.startswith("{") for x, y in zip(a, b, strict=True)
    )


def test_no_two_routes_of_the_app_answer_the_same_path() -> None:
    """A literal beside a parameter (`standards/assignments` and `standards/{standardId}`) leaves a
    path to both: the host picks one by precedence, and `Allow` advertises the other's methods."""
    from functions.meta import registered_endpoints

    templates = sorted({spec.route for _, spec in registered_endpoints()})
    clashes = [(a, b) for i, a in enumerate(templates) for b in templates[i + 1 :] if _could_meet(a, b)]
    assert clashes == []

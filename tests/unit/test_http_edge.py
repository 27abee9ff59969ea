"""The HTTP edge turns every kind of bad input into problem details, and carries x-request-id."""

from __future__ import annotations

import json
import logging
from uuid import UUID

import azure.functions as func
import pytest
from pydantic import Field

from functions.app import TenantryApp
from functions.auth import Declared
from functions.http import Call, Created, NoContent, PartnerRoute, RouteParams, Ulid, endpoint
from shared.errors import ProblemError
from shared.models import ApiInput, ApiModel


class ContactIn(ApiInput):
    name: str
    email: str


class WidgetIn(ApiInput):
    display_name: str
    size: int
    contact: ContactIn


class WidgetOut(ApiModel):
    id: str
    display_name: str


bp = func.Blueprint()  # type: ignore[no-untyped-call]


@endpoint(bp, "widgets", methods=["POST"], summary="Create.", tag="test", auth=None)
def create_widget(call: Call, body: WidgetIn) -> Created[WidgetOut]:
    if body.display_name == "boom":
        raise RuntimeError("secret-internal-detail")
    if body.display_name == "taken":
        raise ProblemError(409, "conflict", "Already there.", "A widget with that name exists.")
    return Created(WidgetOut(id="w1", display_name=body.display_name), "/api/widgets/w1")


class WidgetKey(RouteParams):
    key: str = Field(alias="id")


@endpoint(bp, "widgets/{id}", methods=["DELETE"], summary="Delete.", tag="test", auth=None)
def delete_widget(call: Call, route: WidgetKey) -> NoContent:
    return NoContent()


class Visitor:
    def __init__(self, name: str) -> None:
        self.name = name


class WidgetRoute(RouteParams):
    missing = "No such widget."
    widget_id: UUID = Field(alias="widgetId")


visitor_auth = Declared(lambda call: Visitor(call.header("x-visitor") or "anonymous"), ("apiKey",))


@endpoint(bp, "widgets/{widgetId}/owner", methods=["GET"], summary="Owner.", tag="test", auth=visitor_auth)
def widget_owner(visitor: Visitor, route: WidgetRoute) -> WidgetOut:
    return WidgetOut(id=str(route.widget_id), display_name=visitor.name)


def _functions() -> dict[str, func.HttpResponse]:
    app = TenantryApp()
    app.register_functions(bp)
    return {f.get_function_name(): f.get_user_function() for f in app.get_functions()}


FUNCTIONS = _functions()


def post(body: bytes, headers: dict[str, str] | None = None) -> func.HttpResponse:
    request = func.HttpRequest("POST", "http://x/api/widgets", headers=headers or {}, body=body)
    return FUNCTIONS["create_widget"](request)  # type: ignore[operator, no-any-return]


def problem(response: func.HttpResponse) -> dict:  # type: ignore[type-arg]
    assert response.mimetype == "application/problem+json"
    return json.loads(response.get_body())  # type: ignore[no-any-return]


GOOD = {"displayName": "w", "size": 3, "contact": {"name": "Ana", "email": "ana@x.example"}}


def test_created_with_location_and_camel_case() -> None:
    response = post(json.dumps(GOOD).encode())
    assert response.status_code == 201
    assert response.headers["Location"] == "/api/widgets/w1"
    assert json.loads(response.get_body()) == {"id": "w1", "displayName": "w"}
    assert response.headers["x-request-id"]


def test_malformed_json_is_400() -> None:
    response = post(b'{"displayName": ')
    assert response.status_code == 400
    assert problem(response)["type"].endswith("/malformed-request")


def test_non_object_json_is_422() -> None:
    response = post(b"[1, 2]")
    assert response.status_code == 422


def test_each_invalid_field_is_named() -> None:
    bad = {"displayName": "w", "size": "big", "contact": {"name": "Ana"}, "colour": "red"}
    body = problem(post(json.dumps(bad).encode()))
    assert body["status"] == 422
    assert {e["field"] for e in body["errors"]} == {"size", "contact.email", "colour"}


def test_wrong_content_type_is_415() -> None:
    response = post(json.dumps(GOOD).encode(), {"content-type": "text/plain"})
    assert response.status_code == 415


def test_domain_problem_keeps_its_status_and_type() -> None:
    body = problem(post(json.dumps({**GOOD, "displayName": "taken"}).encode()))
    assert (body["status"], body["type"]) == (409, "https://tenantry.dev/problems/conflict")


def test_unhandled_error_is_500_with_correlation_id_and_no_trace(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    response = post(json.dumps({**GOOD, "displayName": "boom"}).encode(), {"x-request-id": "req-123"})
    body = problem(response)
    assert response.status_code == 500
    assert body["correlationId"] == "req-123" == response.headers["x-request-id"]
    assert "secret-internal-detail" not in response.get_body().decode()
    assert "Traceback" not in response.get_body().decode()
    assert "req-123" in caplog.text  # the trace is in our log, findable by the id


def test_hostile_request_id_is_replaced() -> None:
    response = post(json.dumps(GOOD).encode(), {"x-request-id": "bad id\r\ninjected: 1"})
    assert response.headers["x-request-id"] != "bad id\r\ninjected: 1"
    assert len(response.headers["x-request-id"]) == 26  # a fresh ULID


def test_no_content() -> None:
    request = func.HttpRequest("DELETE", "http://x/api/widgets/1", route_params={"id": "1"}, body=b"")
    response = FUNCTIONS["delete_widget"](request)  # type: ignore[operator]
    assert response.status_code == 204
    assert response.get_body() == b""


def test_the_handler_gets_its_caller_and_validated_route_by_type() -> None:
    widget = "0f8fad5b-d9cb-469f-a165-70867728950e"
    request = func.HttpRequest(
        "GET", f"http://x/api/widgets/{widget}/owner", headers={"x-visitor": "Ana"},
        route_params={"widgetId": widget}, body=b"",
    )  # fmt: skip
    response = FUNCTIONS["widget_owner"](request)  # type: ignore[operator]
    assert json.loads(response.get_body()) == {"id": widget, "displayName": "Ana"}
    # A route value that cannot name a widget answers as an unknown one does.
    bad = func.HttpRequest(
        "GET", "http://x/api/widgets/nope/owner", route_params={"widgetId": "nope"}, body=b""
    )
    body = problem(FUNCTIONS["widget_owner"](bad))  # type: ignore[operator]
    assert (body["status"], body["detail"]) == (404, "No such widget.")


class PartItemRoute(RouteParams):
    missing = "No such part."
    missing_by_name = {"itemId": "No such item."}
    item_id: Ulid = Field(alias="itemId")


@endpoint(
    bp, "partners/{partnerId}/parts/{itemId}", methods=["GET"], summary="A part.", tag="test", auth=None
)
def part(route: PartItemRoute) -> WidgetOut:
    return WidgetOut(id=route.item_id, display_name="part")


def _part(partner_id: str, item_id: str) -> func.HttpResponse:
    route = {"partnerId": partner_id, "itemId": item_id}
    request = func.HttpRequest("GET", "http://x/api/p", route_params=route, body=b"")
    return _functions()["part"](request)  # type: ignore[operator, no-any-return]


def test_every_route_value_goes_through_a_model_partner_ids_included() -> None:
    partner, item = "01HZX3J5W8K9M2N4P6Q7R8S9T0", "01HZX3J5W8K9M2N4P6Q7R8S9TV"
    assert json.loads(_part(partner, item).get_body())["id"] == item
    # The partner id is validated though the handler never asked for it; then the handler's own.
    assert problem(_part("p-1", item))["detail"] == PartnerRoute.missing
    assert (problem(_part(partner, "nope"))["status"], problem(_part(partner, "nope"))["detail"]) == (
        404,
        "No such item.",
    )


def test_a_route_value_without_a_model_is_refused_at_registration() -> None:
    other = func.Blueprint()  # type: ignore[no-untyped-call]
    with pytest.raises(TypeError, match="need a RouteParams model"):

        @endpoint(other, "gadgets/{gadgetId}", methods=["GET"], summary="G.", tag="test", auth=None)
        def gadget(call: Call) -> NoContent:
            return NoContent()

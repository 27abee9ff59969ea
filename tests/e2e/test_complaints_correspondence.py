"""The complaint register and contact correspondence through the running app: record, page, answer
and close complaints; hold a thread with a contact person until it is concluded; only the partner's
unscoped callers reach either, and neither a message nor a complainant reaches the logs."""

from __future__ import annotations

import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from localdev.stack import local_host
from tests.e2e.actors import OPERATOR, PartnerSetup, make_partner

http = httpx.Client(timeout=60)


@pytest.fixture(scope="module")
def partner(api: str) -> PartnerSetup:
    return make_partner(api, "eu")


def complaint(name: str = "Cleo Park", **extra: Any) -> dict[str, Any]:
    return {
        "contact": {"name": name, "email": "cleo@fabrikam.example"},
        "subject": "Tickets answered late",
        "channel": "email",
        **extra,
    }


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return dict(response.json())


def test_a_complaint_is_recorded_paged_answered_and_closed(partner: PartnerSetup) -> None:
    url = f"{partner.url}/complaints"
    received = datetime.now(UTC) - timedelta(days=3)
    created = http.post(url, headers=partner.as_key, json=complaint(receivedAt=received.isoformat()))
    body = ok(created, 201)
    assert created.headers["location"].endswith(f"/complaints/{body['id']}")
    assert body["status"] == "open" and body["deadlineState"] == "open"
    due = datetime.fromisoformat(body["dueAt"]) - datetime.fromisoformat(body["receivedAt"])
    assert due == timedelta(weeks=4)
    assert body["contact"] == {"name": "Cleo Park", "email": "cleo@fabrikam.example"}

    late = problem(
        http.post(url, headers=partner.as_key, json=complaint(receivedAt="2001-01-01T00:00:00Z")), 422
    )
    assert late["errors"][0]["field"] == "receivedAt"
    problem(http.post(url, headers=partner.as_key, json={**complaint(), "channel": "pigeon"}), 422)

    second = ok(http.post(url, headers=partner.as_key, json=complaint("Eva Smit")), 201)
    page = ok(http.get(f"{url}?top=1", headers=partner.as_key))
    assert [c["id"] for c in page["items"]] == [body["id"]] and page["continuationToken"]
    rest = ok(
        http.get(
            url, headers=partner.as_key, params={"top": 1, "continuationToken": page["continuationToken"]}
        )
    )
    assert [c["id"] for c in rest["items"]] == [second["id"]]

    one = f"{url}/{body['id']}"
    problem(http.post(f"{one}/close", headers=partner.as_key, json={}), 422)  # unanswered needs a reason
    answered = ok(http.post(f"{one}/answer", headers=partner.as_key, json={"summary": "Second agent hired."}))
    assert answered["status"] == "answered" and answered["deadlineState"] == "met"
    assert (
        problem(http.post(f"{one}/answer", headers=partner.as_key, json={"summary": "x"}), 409)["status"]
        == 409
    )
    closed = ok(http.post(f"{one}/close", headers=partner.as_key, json={}))
    assert closed["status"] == "closed" and closed["closedAt"]
    withdrawn = ok(
        http.post(f"{url}/{second['id']}/close", headers=partner.as_key, json={"reason": "withdrawn"})
    )
    assert withdrawn["deadlineState"] == "met" and withdrawn["closeReason"] == "withdrawn"
    open_only = ok(http.get(url, headers=partner.as_key, params={"status": "open"}))["items"]
    assert open_only == []
    assert ok(http.get(one, headers=partner.as_key))["answer"] == "Second agent hired."
    problem(http.get(f"{url}/{uuid.uuid4()}", headers=partner.as_key), 404)

    events = ok(http.get(f"{partner.url}/events?top=100", headers=partner.as_key))["items"]
    recorded = {e["action"] for e in events if e["target"].get("id") == body["id"]}
    assert recorded == {"complaint.received", "complaint.answered", "complaint.closed"}
    assert "Cleo" not in str([e for e in events if e["action"].startswith("complaint.")])


def test_a_thread_takes_messages_until_it_is_concluded(partner: PartnerSetup) -> None:
    url = f"{partner.url}/correspondence"
    first = {"direction": "inbound", "body": "Could you call me about the renewal?"}
    thread = {"contact": {"name": "Dirk Visser", "email": "dirk@contoso.example"}, "topic": "Renewal"}
    created = ok(http.post(url, headers=partner.as_key, json={**thread, "firstMessage": first}), 201)
    assert created["state"] == "open" and created["messages"] == 1
    assert [m["body"] for m in created["items"]] == [first["body"]]
    one = f"{url}/{created['id']}"
    reply = {"direction": "outbound", "body": "Called you back today."}
    added = ok(http.post(f"{one}/messages", headers=partner.as_key, json=reply))
    assert [m["direction"] for m in added["items"]] == ["inbound", "outbound"] and added["messages"] == 2

    concluded = ok(http.post(f"{one}/conclude", headers=partner.as_key))
    assert concluded["state"] == "concluded"
    ends = datetime.fromisoformat(concluded["deleteAfter"]) - datetime.fromisoformat(concluded["concludedAt"])
    assert ends == timedelta(days=30)
    refused = problem(http.post(f"{one}/messages", headers=partner.as_key, json=reply), 409)
    assert refused["type"].endswith("thread-concluded")
    assert ok(http.post(f"{one}/conclude", headers=partner.as_key))["concludedAt"] == concluded["concludedAt"]

    other = ok(http.post(url, headers=partner.as_key, json=thread), 201)
    still_open = ok(http.get(url, headers=partner.as_key, params={"state": "open"}))["items"]
    assert [t["id"] for t in still_open] == [other["id"]]
    listed = ok(http.get(url, headers=partner.as_key))["items"]
    assert "items" not in listed[0]  # the list names threads; bodies only in the thread itself
    problem(http.post(url, headers=partner.as_key, json={**thread, "topic": ""}), 422)


def test_only_the_partners_unscoped_callers_reach_the_registers(api: str, partner: PartnerSetup) -> None:
    stranger = make_partner(api, "eu")
    made = ok(http.post(f"{partner.url}/complaints", headers=partner.as_key, json=complaint()), 201)
    thread = {"contact": {"name": "Dirk Visser"}, "topic": "Renewal"}
    talk = ok(http.post(f"{partner.url}/correspondence", headers=partner.as_key, json=thread), 201)
    scoped = ok(
        http.post(
            f"{partner.url}/api-keys",
            headers=partner.bearer(),
            json={
                "name": "scoped",
                "scopes": ["read", "write"],
                "tenantScope": {"tenantIds": [str(uuid.uuid4())]},
            },
        ),
        201,
    )
    reader = ok(
        http.post(
            f"{partner.url}/api-keys", headers=partner.bearer(), json={"name": "r", "scopes": ["read"]}
        ),
        201,
    )
    for path in (f"complaints/{made['id']}", f"correspondence/{talk['id']}", "complaints", "correspondence"):
        target = f"{partner.url}/{path}"
        problem(http.get(target, headers=stranger.as_key), 404)
        problem(http.get(target, headers={"x-api-key": scoped["key"]}), 403)
        problem(http.get(target, headers=OPERATOR), 403)  # customers' contacts: not the operator's
        assert http.get(target, headers={"x-api-key": reader["key"]}).status_code == 200
    problem(
        http.post(f"{partner.url}/complaints", headers={"x-api-key": reader["key"]}, json=complaint()), 403
    )
    # The stranger's own registers do not list the partner's records.
    assert ok(http.get(f"{stranger.url}/complaints", headers=stranger.as_key))["items"] == []
    assert ok(http.get(f"{stranger.url}/correspondence", headers=stranger.as_key))["items"] == []


def test_no_message_or_complainant_reaches_the_logs_even_at_debug(stack_env: dict[str, str]) -> None:
    marker = uuid.uuid4().hex
    env = {**stack_env, "TENANTRY_LOG_LEVEL": "DEBUG"}
    with tempfile.TemporaryDirectory() as folder:
        log_path = Path(folder) / "host.log"
        with log_path.open("wb") as output, local_host(env, output=output) as api:
            p = make_partner(api)
            contact = {
                "name": f"Name {marker}",
                "email": f"c-{marker}@fabrikam.example",
                "phone": "+31 6 9999 0000",
            }
            body = {
                "contact": contact,
                "subject": f"Subject {marker}",
                "channel": "phone",
                "details": f"D {marker}",
            }
            made = ok(http.post(f"{p.url}/complaints", headers=p.as_key, json=body), 201)
            ok(
                http.post(
                    f"{p.url}/complaints/{made['id']}/answer",
                    headers=p.as_key,
                    json={"summary": f"A {marker}"},
                )
            )
            first = {"direction": "inbound", "body": f"Message {marker}"}
            thread = {"contact": contact, "topic": f"Topic {marker}", "firstMessage": first}
            talk = ok(http.post(f"{p.url}/correspondence", headers=p.as_key, json=thread), 201)
            reply = {"direction": "outbound", "body": f"Reply {marker}"}
            ok(http.post(f"{p.url}/correspondence/{talk['id']}/messages", headers=p.as_key, json=reply))
            ok(http.get(f"{p.url}/correspondence/{talk['id']}", headers=p.as_key))
            ok(http.get(f"{p.url}/complaints", headers=p.as_key))
        logged = log_path.read_text(errors="replace")
    assert made["id"] in logged or talk["id"] in logged or "complaints" in logged  # the log did run
    assert marker not in logged

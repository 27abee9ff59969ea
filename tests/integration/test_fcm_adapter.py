"""Real firebase-admin, through the adapter, against the FCM stand-in: OAuth, delivery, every failure path."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from localdev.fcm_credentials import make_service_account
from localdev.fcm_standin import RunningStandin, start_in_thread
from localdev.stack import wait_until
from shared.adapters.fcm import (
    DeleteDevice,
    Failed,
    FcmSender,
    FcmSettings,
    GiveUp,
    KeepAndAlert,
    PushMessage,
    Retry,
    Sent,
)

PROJECT = "tenantry-test"
LINK = "https://contoso.crm4.dynamics.com/main.aspx?etn=incident&id=4711"


@pytest.fixture(scope="module")
def standin() -> Iterator[RunningStandin]:
    running = start_in_thread()  # on a free port (localdev.azurite.free_port)

    def answers() -> bool:
        try:
            return httpx.get(running.base_url + "/_standin/stats", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(answers, timeout=10, what="the FCM stand-in to answer")
        yield running
    finally:
        running.stop()


@pytest.fixture(autouse=True)
def clean_switches(standin: RunningStandin) -> Iterator[None]:
    yield
    httpx.post(standin.base_url + "/_standin/reset")


def new_sender(
    standin: RunningStandin, *, trusted: bool = True, fcm_url: str | None = None, timeout: float = 30.0
) -> FcmSender:
    account = make_service_account(standin.token_uri, PROJECT)
    if trusted:
        httpx.post(standin.base_url + "/_standin/service-accounts", json=account).raise_for_status()
    return FcmSender(
        FcmSettings(
            project_id=PROJECT,
            service_account=json.dumps(account),
            fcm_url=fcm_url or standin.base_url,
            timeout_seconds=timeout,
        )
    )


@pytest.fixture(scope="module")
def sender(standin: RunningStandin) -> Iterator[FcmSender]:
    made = new_sender(standin)
    yield made
    made.close()


def push(
    device_id: str, *, fid: str | None = None, token: str | None = None, attempt: int = 0
) -> PushMessage:
    return PushMessage(
        device_id=device_id,
        fid=fid,
        token=token,
        title="Case 4711 was assigned to you",
        body="The printer on floor 3 is offline again.",
        data={"entity": "incident", "id": "4711"},
        link=LINK,
        attempt=attempt,
    )


def delivered(standin: RunningStandin, **target: str) -> list[dict[str, Any]]:
    answer = httpx.get(standin.base_url + "/_standin/deliveries", params=target)
    records: list[dict[str, Any]] = answer.json()["deliveries"]
    return records


def stats(standin: RunningStandin) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(standin.base_url + "/_standin/stats").json()
    return answer


def test_sends_arrive_with_title_body_link_and_data(standin: RunningStandin, sender: FcmSender) -> None:
    before = datetime.now(UTC)
    outcomes = sender.send([push("dev-fid", fid="fid-arrive-1"), push("dev-token", token="token-arrive-1")])
    assert [type(o) for o in outcomes] == [Sent, Sent]
    (by_fid,) = delivered(standin, fid="fid-arrive-1")
    (by_token,) = delivered(standin, token="token-arrive-1")
    for outcome, record in zip(outcomes, (by_fid, by_token), strict=True):
        assert isinstance(outcome, Sent)
        assert outcome.message_name == record["name"]
        assert outcome.message_name.startswith(f"projects/{PROJECT}/messages/")
        assert before <= outcome.sent_at <= datetime.now(UTC)
        message = record["message"]
        assert message["notification"] == {
            "title": "Case 4711 was assigned to you",
            "body": "The printer on floor 3 is offline again.",
        }
        assert message["data"] == {"entity": "incident", "id": "4711"}
        assert message["webpush"]["fcm_options"]["link"] == LINK
    # Each device is addressed the way it registered: an installation id as fid, a token as token.
    assert "fid" in by_fid["message"] and "token" not in by_fid["message"]
    assert "token" in by_token["message"] and "fid" not in by_token["message"]


def test_the_access_token_comes_from_the_standin_with_a_signed_assertion(standin: RunningStandin) -> None:
    account_sender = new_sender(standin)
    try:
        email = account_sender.settings.service_account_info()["client_email"]
        key_id = account_sender.settings.service_account_info()["private_key_id"]
        outcomes = account_sender.send([push(f"dev-oauth-{i}", fid=f"fid-oauth-{i}") for i in range(20)])
        assert all(isinstance(o, Sent) for o in outcomes)
        grants = httpx.get(standin.base_url + "/_standin/token-requests").json()["tokenRequests"]
        mine = [g for g in grants if g["issuer"] == email]
        # One grant for twenty concurrent sends: the token is fetched before the threads start.
        assert len(mine) == 1 and mine[0]["keyId"] == key_id
        assert "https://www.googleapis.com/auth/cloud-platform" in mine[0]["scope"]
    finally:
        account_sender.close()


def test_a_key_the_standin_does_not_trust_gets_no_token_and_sends_nothing(standin: RunningStandin) -> None:
    stranger = new_sender(standin, trusted=False)
    try:
        outcomes = stranger.send([push("dev-stranger", fid="fid-stranger")])
        (outcome,) = outcomes
        assert isinstance(outcome, Failed) and outcome.error_code == "AUTH_FAILED"
        assert isinstance(outcome.action, Retry)
        assert delivered(standin, fid="fid-stranger") == []
    finally:
        stranger.close()


@pytest.mark.parametrize(
    ("target", "code", "action"),
    [
        ("unregistered-1", "UNREGISTERED", DeleteDevice),
        ("invalid-1", "INVALID_ARGUMENT", DeleteDevice),
        ("mismatch-1", "SENDER_ID_MISMATCH", DeleteDevice),
        ("thirdparty-1", "THIRD_PARTY_AUTH_ERROR", KeepAndAlert),
        ("quota-1", "QUOTA_EXCEEDED", Retry),
        ("unavailable-1", "UNAVAILABLE", Retry),
        ("internal-1", "INTERNAL", Retry),
    ],
)
def test_each_error_code_maps_to_its_action(
    standin: RunningStandin, sender: FcmSender, target: str, code: str, action: type
) -> None:
    requests_before = stats(standin)["requests"]
    (outcome,) = sender.send([push("dev-x", fid=target)])
    assert isinstance(outcome, Failed)
    assert (outcome.error_code, type(outcome.action)) == (code, action)
    if code == "QUOTA_EXCEEDED":
        assert isinstance(outcome.action, Retry) and outcome.action.after_seconds >= 60
    # One request per device: the SDK's own retries (4 on 500/503, a token refresh on 401) are off.
    assert stats(standin)["requests"] - requests_before == 1


def test_unavailable_once_is_retried_then_delivered(standin: RunningStandin, sender: FcmSender) -> None:
    (first,) = sender.send([push("dev-once", fid="unavailable-once-7")])
    assert isinstance(first, Failed) and isinstance(first.action, Retry)
    assert 1 <= first.action.after_seconds <= 2  # attempt 0: between half and all of 2 s
    (second,) = sender.send([push("dev-once", fid="unavailable-once-7", attempt=1)])
    assert isinstance(second, Sent)
    assert len(delivered(standin, fid="unavailable-once-7")) == 1


def test_an_invalid_message_gives_up_without_deleting_the_device(sender: FcmSender) -> None:
    huge = PushMessage(device_id="dev-huge", fid="fid-huge", title="t", body="b", data={"blob": "x" * 5000})
    (outcome,) = sender.send([huge])
    assert isinstance(outcome, Failed) and outcome.error_code == "INVALID_ARGUMENT"
    assert isinstance(outcome.action, GiveUp)


def test_429_with_retry_after_is_retried_no_sooner(standin: RunningStandin, sender: FcmSender) -> None:
    throttle = standin.base_url + "/_standin/throttle"
    httpx.post(throttle, json={"count": 1, "retry_after": 90, "error_code": None}).raise_for_status()
    (outcome,) = sender.send([push("dev-429", fid="fid-429")])
    assert isinstance(outcome, Failed) and outcome.error_code == "RESOURCE_EXHAUSTED"
    assert isinstance(outcome.action, Retry) and outcome.action.after_seconds >= 90
    # A QUOTA_EXCEEDED 429 asking for 5 s still waits the minute FCM asks for.
    httpx.post(throttle, json={"count": 1, "retry_after": 5}).raise_for_status()
    (quota,) = sender.send([push("dev-429", fid="fid-429")])
    assert isinstance(quota, Failed) and quota.error_code == "QUOTA_EXCEEDED"
    assert isinstance(quota.action, Retry) and quota.action.after_seconds >= 60
    assert delivered(standin, fid="fid-429") == []


def test_1200_devices_go_out_in_calls_of_at_most_500_with_one_outcome_each(
    standin: RunningStandin, sender: FcmSender, monkeypatch: pytest.MonkeyPatch
) -> None:
    from firebase_admin import messaging

    calls: list[int] = []
    real_send_each_async = messaging.send_each_async

    async def spy(messages: list[Any], dry_run: bool = False, app: Any = None) -> Any:
        calls.append(len(messages))
        return await real_send_each_async(messages, dry_run=dry_run, app=app)

    monkeypatch.setattr(messaging, "send_each_async", spy)
    targets = [f"unregistered-bulk-{i}" if i % 100 == 0 else f"fid-bulk-{i}" for i in range(1200)]
    messages = [push(f"dev-bulk-{i}", fid=t) for i, t in enumerate(targets)]
    outcomes = sender.send(messages)
    assert calls == [500, 500, 200]
    assert [o.device_id for o in outcomes] == [m.device_id for m in messages]
    assert sum(isinstance(o, Sent) for o in outcomes) == 1188
    assert all(isinstance(o.action, DeleteDevice) for o in outcomes if isinstance(o, Failed))
    all_delivered = delivered(standin)
    bulk = [d for d in all_delivered if d["target"].get("fid", "").startswith("fid-bulk-")]
    assert len(bulk) == 1188 and len({d["target"]["fid"] for d in bulk}) == 1188


def test_a_revoked_token_costs_one_new_grant_and_no_lost_devices(standin: RunningStandin) -> None:
    fresh = new_sender(standin)
    try:
        email = fresh.settings.service_account_info()["client_email"]

        def grants() -> int:
            answer = httpx.get(standin.base_url + "/_standin/token-requests").json()["tokenRequests"]
            return sum(g["issuer"] == email for g in answer)

        assert all(isinstance(o, Sent) for o in fresh.send([push("dev-r0", fid="fid-revoke-0")]))
        httpx.post(standin.base_url + "/_standin/revoke-tokens").raise_for_status()
        outcomes = fresh.send([push(f"dev-r{i}", fid=f"fid-revoke-{i}") for i in range(1, 6)])
        assert all(isinstance(o, Sent) for o in outcomes)
        assert grants() == 2
    finally:
        fresh.close()


def test_latency_switch_is_felt_by_the_sender(standin: RunningStandin, sender: FcmSender) -> None:
    httpx.post(standin.base_url + "/_standin/latency", json={"ms": 150}).raise_for_status()
    started = datetime.now(UTC)
    (outcome,) = sender.send([push("dev-slow", fid="fid-slow")])
    assert isinstance(outcome, Sent)
    assert (datetime.now(UTC) - started).total_seconds() >= 0.15


def test_random_error_rates_hit_the_configured_code(standin: RunningStandin, sender: FcmSender) -> None:
    switch = {"rates": {"UNAVAILABLE": 1.0}, "seed": 1}
    httpx.post(standin.base_url + "/_standin/errors", json=switch).raise_for_status()
    outcomes = sender.send([push(f"dev-rate-{i}", fid=f"fid-rate-{i}") for i in range(10)])
    assert all(isinstance(o, Failed) and o.error_code == "UNAVAILABLE" for o in outcomes)


def test_logs_carry_device_ids_and_codes_but_no_token_or_body(
    standin: RunningStandin, sender: FcmSender, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sender.send(
        [push("dev-log-1", token="token-log-secret"), push("dev-log-2", fid="unregistered-log-secret")]
    )
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "dev-log-2" in text and "UNREGISTERED" in text
    for secret in ("token-log-secret", "log-secret", "Case 4711", "printer", "4711"):
        assert secret not in text


def test_other_firebase_apps_still_reach_google(sender: FcmSender) -> None:
    from firebase_admin import messaging

    sender.send([push("dev-url", fid="fid-url")])
    assert messaging._MessagingService.FCM_URL == "https://fcm.googleapis.com/v1/projects/{0}/messages:send"


def test_validate_only_checks_without_delivering(standin: RunningStandin, sender: FcmSender) -> None:
    # Straight at the wire, as firebase-admin's dry_run would send it.
    token = sender._app.credential.get_access_token().access_token
    url = f"{standin.base_url}/v1/projects/{PROJECT}/messages:send"
    headers = {"Authorization": f"Bearer {token}"}
    dry = httpx.post(url, json={"message": {"fid": "fid-dry"}, "validate_only": True}, headers=headers)
    assert dry.json() == {"name": f"projects/{PROJECT}/messages/fake_message_id"}
    assert delivered(standin, fid="fid-dry") == []
    anonymous = httpx.post(url, json={"message": {"fid": "fid-dry"}})
    assert anonymous.status_code == 401 and anonymous.json()["error"]["status"] == "UNAUTHENTICATED"


def test_the_token_endpoint_checks_signature_issuer_and_audience(standin: RunningStandin) -> None:
    from google.auth import crypt, jwt

    account = make_service_account(standin.token_uri, PROJECT)
    httpx.post(standin.base_url + "/_standin/service-accounts", json=account).raise_for_status()
    signer = crypt.RSASigner.from_service_account_info(account)
    now = int(datetime.now(UTC).timestamp())
    claims = {
        "iss": account["client_email"],
        "aud": "https://oauth2.googleapis.com/token",
        "scope": "https://www.googleapis.com/auth/firebase.messaging",
        "iat": now,
        "exp": now + 3600,
    }

    def grant(assertion: str) -> httpx.Response:
        form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
        return httpx.post(standin.token_uri, data=form)

    good = jwt.encode(signer, claims).decode()
    assert grant(good).json()["token_type"] == "Bearer"
    header, _, signature = good.split(".")
    forged_claims = jwt.encode(signer, {**claims, "iss": "intruder@evil.example"}).decode().split(".")[1]
    assert grant(f"{header}.{forged_claims}.{signature}").json()["error"] == "invalid_grant"
    assert (
        grant(jwt.encode(signer, {**claims, "aud": "https://elsewhere.example"}).decode()).status_code == 400
    )
    assert (
        grant(jwt.encode(signer, {**claims, "iss": "other@p.iam.gserviceaccount.com"}).decode()).status_code
        == 400
    )
    assert grant(jwt.encode(signer, {**claims, "exp": now - 10}).decode()).status_code == 400


def test_firebase_unreachable_gives_every_device_a_retry_and_delivers_nothing(
    standin: RunningStandin,
) -> None:
    from localdev.azurite import free_port

    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there; OAuth still reaches the stand-in
    fresh = new_sender(standin, fcm_url=closed)
    try:
        outcomes = fresh.send([push(f"dev-gone-{i}", fid=f"fid-unreachable-{i}") for i in range(3)])
    finally:
        fresh.close()
    assert [o.device_id for o in outcomes] == ["dev-gone-0", "dev-gone-1", "dev-gone-2"]
    assert all(isinstance(o, Failed) and o.error_code == "UNREACHABLE" for o in outcomes)
    assert all(isinstance(o, Failed) and isinstance(o.action, Retry) for o in outcomes)


def test_an_answer_later_than_the_timeout_is_a_retry_not_a_loss(standin: RunningStandin) -> None:
    fresh = new_sender(standin, timeout=0.3)
    try:
        httpx.post(standin.base_url + "/_standin/latency", json={"ms": 1500}).raise_for_status()
        (outcome,) = fresh.send([push("dev-late", fid="fid-late")])
    finally:
        fresh.close()
    assert isinstance(outcome, Failed) and outcome.error_code == "TIMEOUT"
    assert isinstance(outcome.action, Retry)

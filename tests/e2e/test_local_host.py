"""The local host behaves as the Functions host does for HTTP, timer and queue triggers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient

from localdev.stack import local_host, wait_until
from shared.storage.queues import encode_policies
from tests.web import web

SAMPLE = Path(__file__).parent / "sample_app"
QUEUE = "sample-work"


@pytest.fixture(scope="module")
def sample(stack_env: dict[str, str]) -> Iterator[str]:
    storage = stack_env["AzureWebJobsStorage"]
    # A schedule monitor record whose next occurrence has passed: the host was "down" then.
    blobs = BlobServiceClient.from_connection_string(storage).get_container_client("azure-webjobs-hosts")
    if not blobs.exists():
        blobs.create_container()
    past = datetime.now(UTC) - timedelta(hours=1)
    status = {
        "Last": (past - timedelta(days=1)).isoformat(),
        "Next": past.isoformat(),
        "LastUpdated": past.isoformat(),
    }
    blobs.upload_blob("timers/localhost/monitored/status", json.dumps(status), overwrite=True)
    env = {
        **stack_env,
        "SAMPLE_QUEUE": QUEUE,
        "SAMPLE_CONCURRENCY": "8",
        "AzureWebJobs.blocking.Disabled": "true",  # the tests of worker isolation start their own hosts
    }
    with local_host(env, script_root=SAMPLE, app="sample_functions:app") as base:
        yield base


@pytest.fixture(scope="module")
def records(stack_env: dict[str, str]):  # type: ignore[no-untyped-def]
    service = TableServiceClient.from_connection_string(stack_env["AzureWebJobsStorage"])
    return service.create_table_if_not_exists("samplerecords")


def record(records, kind: str, key: str) -> dict | None:  # type: ignore[no-untyped-def]
    found = list(records.query_entities(f"PartitionKey eq '{kind}' and RowKey eq '{key}'"))
    return json.loads(found[0]["values"]) if found else None


def test_typed_and_optional_route_parameters(sample: str) -> None:
    with_label = web.get(f"{sample}/api/echo/42/hello?x=1").json()
    assert with_label == {"route": {"id": "42", "label": "hello"}, "query": {"x": "1"}, "method": "GET"}
    without = web.get(f"{sample}/api/echo/42").json()
    assert without["route"] == {"id": "42"}


def test_int_constraint_refuses_text_and_literal_routes_win(sample: str) -> None:
    # `fixed` is not an int, so only echo/fixed/{label?} can serve it.
    assert web.get(f"{sample}/api/echo/fixed/a").json() == {"fixed": True, "route": {"label": "a"}}
    assert web.get(f"{sample}/api/echo/abc/x").status_code == 404


def test_catch_all_route_and_methods(sample: str) -> None:
    got = web.put(f"{sample}/api/files/a/b/c.txt", content=b"data").json()
    assert got == {"rest": "a/b/c.txt", "body": "data"}
    refused = web.delete(f"{sample}/api/files/a")
    assert refused.status_code == 405
    assert refused.headers["allow"] == "GET, PUT"
    assert refused.headers["content-type"].startswith("application/problem+json")


def test_a_function_disabled_by_app_setting_is_not_served(stack_env: dict[str, str]) -> None:
    # AzureWebJobs.<name>.Disabled, as in Azure; the timers and the queue stay off the shared Azurite too.
    disabled = ("echo_fixed", "on_startup", "monitored", "work", "blocking")
    env = {
        **stack_env,
        "SAMPLE_QUEUE": QUEUE,
        **{f"AzureWebJobs.{name}.Disabled": "true" for name in disabled},
    }
    with local_host(env, script_root=SAMPLE, app="sample_functions:app") as base:
        assert web.get(f"{base}/api/echo/fixed/a").status_code == 404
        assert web.get(f"{base}/api/echo/42").json()["route"] == {"id": "42"}


def test_route_prefix_is_required(sample: str) -> None:
    assert web.get(f"{sample}/echo/1").status_code == 404


def test_async_function(sample: str) -> None:
    response = web.post(f"{sample}/api/async-echo", content=b"ping")
    assert (response.status_code, response.content, response.headers["x-async"]) == (201, b"ping", "yes")


def test_requests_are_served_concurrently(sample: str) -> None:
    # The function answers only when eight requests are inside it at once; served one by one,
    # the barrier would time out and every request would fail.
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: web.get(f"{sample}/api/together", timeout=15), range(8)))
    assert [r.text for r in responses] == ["together"] * 8


def test_three_requests_meet_without_a_concurrency_limit(sample: str) -> None:
    with ThreadPoolExecutor(3) as pool:
        responses = list(pool.map(lambda _: web.get(f"{sample}/api/trio", timeout=15), range(3)))
    assert [r.text for r in responses] == ["together"] * 3


def test_http_concurrency_limit_runs_at_most_that_many_at_once(stack_env: dict[str, str]) -> None:
    # As a Flex Consumption instance with perInstanceConcurrency 2: the third request waits
    # outside the function until a slot frees, so three are never inside at once.
    env = {
        **stack_env,
        "SAMPLE_QUEUE": QUEUE,
        "TENANTRY_LOCAL_HTTP_CONCURRENCY": "2",
        # This second host serves HTTP only; the module's first host owns the timers and the queue.
        **{
            f"AzureWebJobs.{name}.Disabled": "true"
            for name in ("on_startup", "monitored", "work", "blocking")
        },
    }
    with (
        local_host(env, script_root=SAMPLE, app="sample_functions:app") as limited,
        ThreadPoolExecutor(3) as pool,
    ):
        responses = list(pool.map(lambda _: web.get(f"{limited}/api/trio", timeout=15), range(3)))
    assert [r.text for r in responses] == ["alone"] * 3


def _blocking_host_env(stack_env: dict[str, str], queue: str, **settings: str) -> dict[str, str]:
    """A host running only the `blocking` queue trigger (on `queue`) besides the HTTP functions."""
    QueueClient.from_connection_string(stack_env["AzureWebJobsStorage"], queue).create_queue()
    off = {f"AzureWebJobs.{name}.Disabled": "true" for name in ("on_startup", "monitored", "work")}
    return {**stack_env, "SAMPLE_QUEUE": QUEUE, "SAMPLE_BLOCKING_QUEUE": queue, **off, **settings}


def _hold(stack_env: dict[str, str], queue: str, keys: list[str], gate: Path) -> None:
    client = QueueClient.from_connection_string(stack_env["AzureWebJobsStorage"], queue, **encode_policies())
    for key in keys:
        client.send_message(json.dumps({"key": key, "gate": str(gate)}))


def test_http_answers_while_queue_work_holds_every_background_thread(  # type: ignore[no-untyped-def]
    stack_env: dict[str, str], records, tmp_path: Path
) -> None:
    # Two worker threads, both taken by queue functions that do not return: HTTP functions run on
    # a pool of their own, so a webhook never waits behind fan-out jobs for a thread.
    env = _blocking_host_env(stack_env, "sample-blocking-pool", PYTHON_THREADPOOL_THREAD_COUNT="2")
    gate = tmp_path / "open"
    keys = ["pool-1", "pool-2"]
    with local_host(env, script_root=SAMPLE, app="sample_functions:app") as base:
        _hold(stack_env, "sample-blocking-pool", keys, gate)
        wait_until(
            lambda: all(record(records, "blocking", f"{k}-started") for k in keys),
            timeout=30,
            what="both queue functions to hold their threads",
        )
        answered = web.get(f"{base}/api/echo/7", timeout=10)
        gate.touch()
        wait_until(
            lambda: all(record(records, "blocking", f"{k}-done") for k in keys),
            what="the held functions to end",
        )
    assert answered.status_code == 200
    assert answered.json()["route"] == {"id": "7"}


def test_worker_process_count_runs_queue_triggers_in_another_process(  # type: ignore[no-untyped-def]
    stack_env: dict[str, str], records, tmp_path: Path
) -> None:
    env = _blocking_host_env(stack_env, "sample-blocking-workers", FUNCTIONS_WORKER_PROCESS_COUNT="2")
    gate = tmp_path / "open"
    with local_host(env, script_root=SAMPLE, app="sample_functions:app") as base:
        _hold(stack_env, "sample-blocking-workers", ["workers-1"], gate)
        started = wait_until(
            lambda: record(records, "blocking", "workers-1-started"), timeout=30, what="the queue function"
        )
        http_pid = int(web.get(f"{base}/api/pid", timeout=10).text)
        gate.touch()
        wait_until(lambda: record(records, "blocking", "workers-1-done"), what="the held function to end")
    assert started["pid"] != http_pid
    # The host stops the worker processes it started.
    wait_until(lambda: not Path(f"/proc/{started['pid']}").exists(), timeout=20, what="the worker to stop")


def test_a_message_held_past_its_lease_is_renewed_not_delivered_again(  # type: ignore[no-untyped-def]
    stack_env: dict[str, str], records, tmp_path: Path
) -> None:
    # As the host's queue listener renews a message's invisibility while its function runs, so a
    # fan-out job longer than the lease is not taken by a second instance meanwhile.
    queue = "sample-blocking-lease"
    env = _blocking_host_env(stack_env, queue, TENANTRY_LOCAL_QUEUE_LEASE_SECONDS="2")
    gate = tmp_path / "open"
    with local_host(env, script_root=SAMPLE, app="sample_functions:app"):
        _hold(stack_env, queue, ["lease-1"], gate)
        wait_until(lambda: record(records, "blocking", "lease-1-started"), timeout=30, what="the function")
        time.sleep(6)  # the function runs three leases long: that is what is under test
        gate.touch()
        wait_until(lambda: record(records, "blocking", "lease-1-done"), what="the held function to end")
        client = QueueClient.from_connection_string(stack_env["AzureWebJobsStorage"], queue)
        wait_until(
            lambda: client.get_queue_properties().approximate_message_count == 0,
            what="the message to be deleted",
        )
    started = record(records, "blocking", "lease-1-started")
    assert started is not None and started["dequeue_count"] == 1


def test_timer_runs_on_startup(sample: str, records) -> None:  # type: ignore[no-untyped-def]
    seen = wait_until(lambda: record(records, "timer", "startup"), what="the run_on_startup timer")
    assert seen == {"past_due": False}


def test_missed_occurrence_runs_past_due(sample: str, records) -> None:  # type: ignore[no-untyped-def]
    seen = wait_until(lambda: record(records, "timer", "monitored"), what="the past-due timer")
    assert seen == {"past_due": True}


def sender(stack_env: dict[str, str]) -> QueueClient:
    """Enqueues the way the product does: base64, as the trigger expects."""
    client = QueueClient.from_connection_string(stack_env["AzureWebJobsStorage"], QUEUE, **encode_policies())
    return client


def test_queue_message_is_processed_with_its_metadata(sample: str, stack_env, records) -> None:  # type: ignore[no-untyped-def]
    sent = sender(stack_env).send_message(json.dumps({"key": "ok-1"}))
    done = wait_until(lambda: record(records, "done", "ok-1"), what="the message to be processed")
    assert done["id"] == sent.id
    assert done["dequeue_count"] == 1
    assert datetime.fromisoformat(done["inserted"]) <= datetime.now(UTC)


def test_message_survives_one_failure(sample: str, stack_env, records) -> None:  # type: ignore[no-untyped-def]
    sender(stack_env).send_message(json.dumps({"key": "flaky-1", "fail": "once"}))
    done = wait_until(lambda: record(records, "done", "flaky-1"), what="the retried message")
    assert done["dequeue_count"] == 2


def test_failing_message_moves_to_poison_after_max_dequeue_count(sample: str, stack_env, records) -> None:  # type: ignore[no-untyped-def]
    sender(stack_env).send_message(json.dumps({"key": "bad-1", "fail": "always"}))
    poison = QueueClient.from_connection_string(
        stack_env["AzureWebJobsStorage"], f"{QUEUE}-poison", **encode_policies()
    )

    def poisoned() -> list[dict]:
        return [
            json.loads(m.content)
            for m in poison.peek_messages(max_messages=32)
            if json.loads(m.content)["key"] == "bad-1"
        ]

    assert wait_until(poisoned, what="the poison queue") == [{"key": "bad-1", "fail": "always"}]
    # host.json sets maxDequeueCount 3: exactly three attempts, none after the move.
    assert [record(records, "attempt", f"bad-1-{n}") is not None for n in (1, 2, 3, 4)] == [
        True,
        True,
        True,
        False,
    ]
    assert record(records, "done", "bad-1") is None


def test_plain_text_message_is_refused_and_poisoned(sample: str, stack_env, records) -> None:  # type: ignore[no-untyped-def]
    # The Python client's default (plain text) is what the trigger cannot read: this is why one
    # helper enqueues everywhere.
    raw = QueueClient.from_connection_string(stack_env["AzureWebJobsStorage"], QUEUE)
    raw.send_message('{"key": "plain-1"}')
    poison = QueueClient.from_connection_string(stack_env["AzureWebJobsStorage"], f"{QUEUE}-poison")
    wait_until(
        lambda: any(
            "plain-1" in (m.content or "") or "plain-1" in _b64(m.content)
            for m in poison.peek_messages(max_messages=32)
        ),
        what="plain text to be poisoned",
    )
    assert record(records, "done", "plain-1") is None


def _b64(text: str) -> str:
    import base64

    try:
        return base64.b64decode(text).decode(errors="replace")
    except ValueError:
        return ""

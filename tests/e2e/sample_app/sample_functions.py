"""A Functions app that exercises each local-host behaviour; it records what it saw in a table."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from pathlib import Path

import azure.functions as func
from azure.data.tables import TableClient, TableServiceClient

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

_lock = threading.Lock()
_tables: dict[str, TableClient] = {}
_gate = threading.Barrier(int(os.environ.get("SAMPLE_CONCURRENCY", "8")), timeout=10)


def record(kind: str, key: str, **values: object) -> None:
    with _lock:
        if not _tables:
            service = TableServiceClient.from_connection_string(os.environ["AzureWebJobsStorage"])
            _tables["records"] = service.create_table_if_not_exists("samplerecords")
    _tables["records"].upsert_entity(
        {"PartitionKey": kind, "RowKey": key, "values": json.dumps(values, default=str)}
    )


@app.route(route="echo/{id:int}/{label?}", methods=["GET"])
def echo(req: func.HttpRequest) -> func.HttpResponse:
    body = {"route": dict(req.route_params), "query": dict(req.params), "method": req.method}
    return func.HttpResponse(json.dumps(body), mimetype="application/json")


@app.route(route="echo/fixed/{label?}", methods=["GET"])
def echo_fixed(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps({"fixed": True, "route": dict(req.route_params)}), mimetype="application/json"
    )


@app.route(route="files/{*rest}", methods=["GET", "PUT"])
def files(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps({"rest": req.route_params.get("rest"), "body": req.get_body().decode()}),
        mimetype="application/json",
    )


@app.route(route="async-echo", methods=["POST"])
async def async_echo(req: func.HttpRequest) -> func.HttpResponse:
    await asyncio.sleep(0)
    return func.HttpResponse(req.get_body(), status_code=201, headers={"x-async": "yes"})


@app.route(route="together", methods=["GET"])
def together(req: func.HttpRequest) -> func.HttpResponse:
    # Answers only once SAMPLE_CONCURRENCY requests are inside at the same time.
    _gate.wait()
    return func.HttpResponse("together")


_trio = threading.Barrier(3, timeout=2)


@app.route(route="trio", methods=["GET"])
def trio(req: func.HttpRequest) -> func.HttpResponse:
    # "together" once three requests are inside at once; "alone" when three never are (the wait
    # times out, and the broken barrier turns the late ones away at once).
    try:
        _trio.wait()
    except threading.BrokenBarrierError:
        return func.HttpResponse("alone")
    return func.HttpResponse("together")


@app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer", run_on_startup=True, use_monitor=False)
def on_startup(timer: func.TimerRequest) -> None:
    record("timer", "startup", past_due=timer.past_due)


@app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer", run_on_startup=False)
def monitored(timer: func.TimerRequest) -> None:
    record("timer", "monitored", past_due=timer.past_due)


@app.queue_trigger(arg_name="msg", queue_name="%SAMPLE_QUEUE%", connection="AzureWebJobsStorage")
def work(msg: func.QueueMessage) -> None:
    payload = json.loads(msg.get_body())
    record("attempt", f"{payload['key']}-{msg.dequeue_count}")
    if payload.get("fail") == "always":
        raise RuntimeError("this message always fails")
    if payload.get("fail") == "once" and msg.dequeue_count == 1:
        raise RuntimeError("first attempt fails")
    record(
        "done",
        payload["key"],
        id=msg.id,
        dequeue_count=msg.dequeue_count,
        inserted=msg.insertion_time.isoformat() if msg.insertion_time else None,
    )


@app.route(route="pid", methods=["GET"])
def pid(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(str(os.getpid()))


@app.queue_trigger(arg_name="msg", queue_name="%SAMPLE_BLOCKING_QUEUE%", connection="AzureWebJobsStorage")
def blocking(msg: func.QueueMessage) -> None:
    # Holds its thread until the test creates the gate file the message names (a stuck fan-out).
    payload = json.loads(msg.get_body())
    record("blocking", f"{payload['key']}-started", pid=os.getpid(), dequeue_count=msg.dequeue_count)
    gate = Path(payload["gate"])
    deadline = time.monotonic() + 60
    while not gate.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    record("blocking", f"{payload['key']}-done", pid=os.getpid())

"""A local Azure Functions host: indexes function_app like the real host and serves its triggers.

HTTP functions are served over ASGI (uvicorn) with the host's route prefix and precedence; timer
functions run on six-field NCRONTAB schedules with a schedule monitor (past_due); queue functions
poll Azurite with host.json's queue settings, retries and `-poison` queues.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import importlib
import inspect
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

import azure.functions as func
from croniter import croniter

from functions.routing import RouteTemplate, strip_prefix
from localdev import dev_issuer

if TYPE_CHECKING:
    import uvicorn

log = logging.getLogger("localdev.host")

ASGIReceive = Callable[[], Awaitable[dict[str, Any]]]
ASGISend = Callable[[dict[str, Any]], Awaitable[None]]
_SETTING_REF = re.compile(r"%([^%]+)%")


def resolve(value: str) -> str:
    """Binding expressions: `%NAME%` is replaced by the app setting NAME, as the host does."""
    return _SETTING_REF.sub(lambda m: os.environ[m.group(1)], value)


def parse_timespan(text: str) -> float:
    """host.json timespans, `hh:mm:ss[.fff]` or `d.hh:mm:ss`, in seconds."""
    days = 0
    if text.count(":") == 2 and "." in text.split(":", maxsplit=1)[0]:
        day_text, text = text.split(".", 1)
        days = int(day_text)
    hours, minutes, seconds = text.split(":")
    return days * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


@dataclass(frozen=True)
class QueueOptions:
    """host.json extensions.queues, with the Functions host's defaults."""

    batch_size: int = 16
    new_batch_threshold: int = 8
    visibility_timeout: float = 0.0
    max_dequeue_count: int = 5
    max_polling_interval: float = 60.0
    message_encoding: str = "base64"

    @classmethod
    def from_host_json(cls, host: dict[str, Any]) -> QueueOptions:
        queues = host.get("extensions", {}).get("queues", {})
        batch = int(queues.get("batchSize", 16))
        return cls(
            batch_size=batch,
            new_batch_threshold=int(queues.get("newBatchThreshold", batch // 2)),
            visibility_timeout=parse_timespan(queues.get("visibilityTimeout", "00:00:00")),
            max_dequeue_count=int(queues.get("maxDequeueCount", 5)),
            max_polling_interval=parse_timespan(queues.get("maxPollingInterval", "00:01:00")),
            message_encoding=str(queues.get("messageEncoding", "base64")).lower(),
        )


@dataclass
class Indexed:
    name: str
    function: Callable[..., Any]
    trigger: dict[str, Any]

    @property
    def arg_name(self) -> str:
        return str(self.trigger["name"])

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.function)


@dataclass
class HttpRoute:
    indexed: Indexed
    template: RouteTemplate
    methods: frozenset[str] | None  # None: any method


# Local host only: HTTP executions one host process runs at once, as Flex Consumption's
# functionAppConfig.scaleAndConcurrency.triggers.http.perInstanceConcurrency limits an instance
# (infra/README.md explains the value deployed). Unset or 0: no limit.
HTTP_CONCURRENCY_SETTING = "TENANTRY_LOCAL_HTTP_CONCURRENCY"


# The Functions host's language worker processes (1 by default). Locally, with N > 1, the host
# process keeps HTTP and starts N - 1 worker processes for the queue and timer triggers, so a
# webhook never waits behind fan-out for a thread or the GIL (in Azure the host spreads every
# invocation over its workers; locally the split is by trigger kind). Timers run in worker 1 only.
WORKER_PROCESS_COUNT_SETTING = "FUNCTIONS_WORKER_PROCESS_COUNT"
# Set by the host in the environment of the worker processes it starts: their number, from 1.
WORKER_INDEX_SETTING = "TENANTRY_LOCAL_WORKER_INDEX"


def worker_process_count_setting() -> int:
    raw = os.environ.get(WORKER_PROCESS_COUNT_SETTING, "").strip() or "1"
    value = int(raw)
    if not 1 <= value <= 10:  # the Functions host's own bounds
        raise ValueError(f"{WORKER_PROCESS_COUNT_SETTING} must be between 1 and 10, not {raw}")
    return value


def http_concurrency_setting() -> int:
    raw = os.environ.get(HTTP_CONCURRENCY_SETTING, "").strip() or "0"
    value = int(raw)
    if value < 0:
        raise ValueError(f"{HTTP_CONCURRENCY_SETTING} must be 0 (no limit) or a positive number, not {raw}")
    return value


def load_app(script_root: Path, app_ref: str) -> func.FunctionApp:
    module_name, _, attr = app_ref.partition(":")
    if str(script_root) not in sys.path:
        sys.path.insert(0, str(script_root))
    module = importlib.import_module(module_name)
    app: func.FunctionApp = getattr(module, attr or "app")
    return app


def index(app: func.FunctionApp) -> list[Indexed]:
    """Reads the registered functions and their trigger bindings, as the host's indexing does."""
    found = []
    for function in app.get_functions():
        trigger = json.loads(function.get_function_json())["bindings"][0]
        found.append(Indexed(str(function.get_function_name()), function.get_user_function(), trigger))
    return found


# How many leading literal segments of a route template key the routes (see LocalHost.select_route).
_HEAD_SEGMENTS = 2


def _literal_head(template: str) -> tuple[str, ...]:
    """The template's leading literal segments, at most _HEAD_SEGMENTS, lowercased (routes match
    case-insensitively)."""
    head: list[str] = []
    for segment in template.strip("/").split("/")[:_HEAD_SEGMENTS]:
        if not segment or "{" in segment:
            break
        head.append(segment.lower())
    return tuple(head)


def _problem(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None
) -> func.HttpResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return func.HttpResponse(
        json.dumps(body), status_code=status, mimetype="application/problem+json", headers=headers
    )


class LocalHost:
    """One process serving every trigger of one Functions app."""

    def __init__(self, script_root: Path, app_ref: str = "function_app:app", *, host_id: str = "localhost"):
        self.script_root = script_root
        self.host_json: dict[str, Any] = json.loads((script_root / "host.json").read_text())
        self.route_prefix: str = (
            self.host_json.get("extensions", {}).get("http", {}).get("routePrefix", "api")
        )
        self.queue_options = QueueOptions.from_host_json(self.host_json)
        self.host_id = host_id
        # The two numbers an instance in Azure runs with: the Python worker's thread pool (sync
        # functions; an app setting) and the HTTP executions one instance takes at once (Flex
        # Consumption's perInstanceConcurrency; the front end holds the rest for other instances).
        self.threads = int(os.environ.get("PYTHON_THREADPOOL_THREAD_COUNT", "32"))
        self.executor = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="function")
        # Queue and timer functions (and the pollers' own storage calls) get a pool of their own:
        # fan-out jobs filling the pool used to leave webhooks waiting for a thread (issue 22).
        self.background_executor = ThreadPoolExecutor(
            max_workers=self.threads, thread_name_prefix="background"
        )
        self.worker_processes = worker_process_count_setting()
        self.worker_index = int(os.environ.get(WORKER_INDEX_SETTING, "0"))
        self._workers: list[subprocess.Popen[bytes]] = []
        self._app_ref = app_ref
        self.http_concurrency = http_concurrency_setting()
        self._http_slots = asyncio.Semaphore(self.http_concurrency) if self.http_concurrency else None
        # `AzureWebJobs.<name>.Disabled` = true: the host ignores that function's trigger, as in Azure.
        self.functions = [
            f
            for f in index(load_app(script_root, app_ref))
            if os.environ.get(f"AzureWebJobs.{f.name}.Disabled", "").lower() not in {"true", "1"}
        ]
        self.routes = [
            HttpRoute(f, RouteTemplate(f.trigger.get("route") or f.name), self._methods(f))
            for f in self.functions
            if f.trigger["type"] == "httpTrigger"
        ]
        # Routes by their leading literal segments, up to two (`api/partners`; with the portal at `/`,
        # every API route starts with `api`): a request is matched against a handful of patterns,
        # not all of them (a tenth of a webhook's CPU).
        self._routes_by_head: dict[tuple[str, ...], list[HttpRoute]] = {}
        for route in self.routes:
            self._routes_by_head.setdefault(_literal_head(route.template.template), []).append(route)
        self.timers = [f for f in self.functions if f.trigger["type"] == "timerTrigger"]
        self.queues = [f for f in self.functions if f.trigger["type"] == "queueTrigger"]
        self._tasks: list[asyncio.Task[None]] = []
        self._sign_in: tuple[uvicorn.Server, asyncio.Task[None]] | None = None

    @staticmethod
    def _methods(f: Indexed) -> frozenset[str] | None:
        methods = f.trigger.get("methods")
        return frozenset(m.upper() for m in methods) if methods else None

    async def invoke(self, indexed: Indexed, argument: Any) -> Any:
        kwargs = {indexed.arg_name: argument}
        if indexed.is_async:
            return await indexed.function(**kwargs)
        pool = self.executor if indexed.trigger["type"] == "httpTrigger" else self.background_executor
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(pool, lambda: indexed.function(**kwargs))

    # --- HTTP -----------------------------------------------------------------------------

    def select_route(self, path: str, method: str) -> tuple[HttpRoute, dict[str, str]] | func.HttpResponse:
        """The most specific route accepting the method; 405 if only other methods match; 404 if none."""
        segments = path.strip("/").lower().split("/", 2)[:_HEAD_SEGMENTS] if path.strip("/") else []
        candidates = [
            route
            for length in range(len(segments), -1, -1)
            for route in self._routes_by_head.get(tuple(segments[:length]), ())
        ]
        matched = [(r, p) for r in candidates if (p := r.template.match(path)) is not None]
        accepting = [(r, p) for r, p in matched if r.methods is None or method in r.methods]
        if accepting:
            return min(accepting, key=lambda rp: rp[0].template.precedence)
        if matched:
            allow = ", ".join(sorted({m for r, _ in matched for m in (r.methods or ())}))
            return _problem(405, "Method not allowed.", f"This path accepts: {allow}.", {"Allow": allow})
        return _problem(404, "Not found.", "No function serves this path.")

    async def __call__(self, scope: dict[str, Any], receive: ASGIReceive, send: ASGISend) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        response = await self.handle_http(scope, body)
        headers = [(k.lower().encode(), str(v).encode()) for k, v in response.headers.items()]
        if response.mimetype and not any(k == b"content-type" for k, _ in headers):
            content_type = response.mimetype + (f"; charset={response.charset}" if response.charset else "")
            headers.append((b"content-type", content_type.encode()))
        payload = response.get_body() or b""
        await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def handle_http(self, scope: dict[str, Any], body: bytes) -> func.HttpResponse:
        method = scope["method"].upper()
        raw_path = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        if raw_path.startswith(dev_issuer.ROUTE_PREFIX) and raw_path.endswith("/discovery/v2.0/keys"):
            return func.HttpResponse(json.dumps(dev_issuer.jwks()), mimetype="application/json")
        path = strip_prefix(unquote(raw_path), self.route_prefix)
        if path is None:
            return _problem(404, "Not found.", "Outside the route prefix.")
        selected = self.select_route(path, method)
        if isinstance(selected, func.HttpResponse):
            return selected
        route, params = selected
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        client = scope.get("client")
        if client and "x-forwarded-for" not in headers:
            # Azure's front end passes the caller's address on this way; so do we.
            headers["x-forwarded-for"] = f"{client[0]}:{client[1]}"
        # Verbose on purpose (DEBUG only): the process-wide log hygiene must make even this safe.
        log.debug(
            "request %s %s?%s headers=%s body=%s",
            method,
            raw_path,
            scope.get("query_string", b"").decode("latin-1"),
            headers,
            body,
        )
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        host = headers.get("host", "127.0.0.1")
        url = f"http://{host}{raw_path}" + (
            f"?{scope['query_string'].decode()}" if scope.get("query_string") else ""
        )
        request = func.HttpRequest(method, url, headers=headers, params=query, route_params=params, body=body)
        try:
            async with self._http_slots or contextlib.nullcontext():
                result = await self.invoke(route.indexed, request)
        except Exception:
            log.exception("function %s raised", route.indexed.name)
            return _problem(500, "Internal error.", "The function raised; see the host log.")
        if not isinstance(result, func.HttpResponse):
            return _problem(500, "Internal error.", "The function returned no HttpResponse.")
        return result

    async def _lifespan(self, receive: ASGIReceive, send: ASGISend) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._start_sign_in()
                await self.start_background()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop_background()
                await self._stop_sign_in()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _start_sign_in(self) -> None:
        """The dev issuer's sign-in site over TLS on DEV_ISSUER_PORT, when that is set: MSAL takes
        only an https authority. Its socket is bound before the host serves, so a host that answers
        has its issuer listening too (and a port in use stops the host at once)."""
        port = os.environ.get(dev_issuer.TLS_PORT_SETTING, "").strip()
        if not port:
            return
        server, sockets = dev_issuer.tls_server(int(port))
        self._sign_in = (server, asyncio.create_task(server.serve(sockets)))
        log.info("development issuer signing in at https://127.0.0.1:%s%s", port, dev_issuer.ROUTE_PREFIX)

    async def _stop_sign_in(self) -> None:
        if self._sign_in is None:
            return
        server, serving = self._sign_in
        server.should_exit = True
        await serving
        self._sign_in = None

    # --- background triggers -------------------------------------------------------------

    async def start_background(self) -> None:
        """Timers and queue pollers: here with one worker process, else in the worker processes."""
        from localdev.queues import QueuePoller
        from localdev.timers import TimerRunner

        if self.worker_processes > 1 and self.worker_index == 0:
            self._start_workers()
            return
        if self.worker_index <= 1:  # one timer runner per app, as the host's singleton lock makes it
            for timer in self.timers:
                self._tasks.append(asyncio.create_task(TimerRunner(self, timer).run()))
        for queue in self.queues:
            self._tasks.append(asyncio.create_task(QueuePoller(self, queue).run()))

    def _start_workers(self) -> None:
        command = [sys.executable, "-m", "localdev", "worker", "--script-root", str(self.script_root)]
        for index in range(1, self.worker_processes):
            env = {**os.environ, WORKER_INDEX_SETTING: str(index)}
            self._workers.append(subprocess.Popen([*command, "--app", self._app_ref], env=env))
        log.info("queue and timer triggers run in %d worker processes", len(self._workers))

    async def stop_background(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for worker in self._workers:
            worker.send_signal(signal.SIGTERM)  # each lets its running functions finish (`finish`)

    def finish(self, grace_seconds: float) -> bool:
        """After the server stopped: lets running functions end within `grace_seconds`, while
        storage and the stand-ins are still up, as the Functions host does at shutdown; True if
        they all did (what still runs is ended with the process)."""
        deadline = time.monotonic() + grace_seconds
        threads = []
        for pool in (self.executor, self.background_executor):
            pool.shutdown(wait=False, cancel_futures=True)
            threads += list(pool._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        for worker in self._workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.wait(max(0.1, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in threads) and all(
            worker.poll() is not None for worker in self._workers
        )

    async def run_worker(self) -> None:
        """A worker process: the background triggers until SIGTERM (or SIGINT)."""
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        await self.start_background()
        parent = os.getppid()
        # A host that was killed cannot stop its workers: they notice they were orphaned.
        while os.getppid() == parent:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=1.0)
            if stopping.is_set():
                break
        await self.stop_background()


def now_utc() -> datetime:
    return datetime.now(UTC)


def next_occurrence(schedule: str, after: datetime) -> datetime:
    """Six-field NCRONTAB (seconds first), evaluated in UTC as the host does by default."""
    fields = schedule.split()
    if len(fields) != 6:
        raise ValueError(f"NCRONTAB needs six fields (seconds first): {schedule!r}")
    moment: datetime = croniter(schedule, after, second_at_beginning=True).get_next(datetime)
    return moment


def decode_message(content: str, encoding: str) -> bytes:
    if encoding == "none":
        return content.encode()
    try:
        return base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError("The input is not a valid Base-64 string") from error

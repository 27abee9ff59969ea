"""Local alert receivers: one threaded HTTP server whose paths are receivers, each answering as told
(status, delay, Retry-After) and keeping what it got, so tests and the bench see deliveries as a
partner's endpoint would. Dedup by `webhook-id` is the receiver's, as the specification asks."""

from __future__ import annotations

import argparse
import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() on arrival


@dataclass
class Behaviour:
    status: int = 200
    delay: float = 0.0  # seconds before answering (a slow receiver)
    retry_after: str | None = None


@dataclass
class ReceiverState:
    received: list[Received] = field(default_factory=list)
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def unique_ids(self, path: str) -> set[str]:
        return {r.headers.get("webhook-id", "") for r in self.at(path)}


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        """`/_stats`: per path, requests received and distinct webhook-ids (for a receiver process)."""
        state = self.server.state
        with state.lock:
            stats: dict[str, dict[str, int]] = {}
            ids: dict[str, set[str]] = {}
            for r in state.received:
                entry = stats.setdefault(r.path, {"requests": 0, "unique": 0})
                entry["requests"] += 1
                ids.setdefault(r.path, set()).add(r.headers.get("webhook-id", ""))
            for path, seen in ids.items():
                stats[path]["unique"] = len(seen)
            first = {r.headers.get("webhook-id", ""): r.at for r in reversed(state.received)}
        answer = json.dumps({"paths": stats, "firstAt": first}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        state = self.server.state
        path = self.path.split("?", 1)[0]
        with state.lock:
            state.received.append(
                Received(path, {k.lower(): v for k, v in self.headers.items()}, body, time.time())
            )
            behaviour = state.behaviours.get(path, Behaviour())
        if behaviour.delay:
            time.sleep(behaviour.delay)  # the receiver under test is slow on purpose
        # A sender that gave up waiting (its timeout) has closed the connection: nothing to answer.
        with contextlib.suppress(OSError):
            self.send_response(behaviour.status)
            if behaviour.retry_after is not None:
                self.send_header("retry-after", behaviour.retry_after)
            answer = b'{"ok":true}'
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    state: ReceiverState


@dataclass
class RunningReceiver:
    server: _Server
    thread: threading.Thread

    @property
    def state(self) -> ReceiverState:
        return self.server.state

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def behave(self, path: str, behaviour: Behaviour) -> None:
        with self.state.lock:
            self.state.behaviours[path] = behaviour

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_receiver(port: int = 0) -> RunningReceiver:
    server = _Server(("127.0.0.1", port), _Handler)
    server.state = ReceiverState()
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    return RunningReceiver(server, thread)


def main() -> None:
    """A receiver process: `python -m localdev.webhook_receiver --port P --failing /r/1 --slow /r/2`."""
    parser = argparse.ArgumentParser(description="Local alert receivers (one process, a path each).")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--failing", default="", help="comma-separated paths answering 503")
    parser.add_argument("--slow", default="", help="comma-separated paths answering late")
    parser.add_argument("--slow-seconds", type=float, default=10.0)
    args = parser.parse_args()
    running = start_receiver(args.port)
    for path in filter(None, args.failing.split(",")):
        running.behave(path, Behaviour(status=503))
    for path in filter(None, args.slow.split(",")):
        running.behave(path, Behaviour(delay=args.slow_seconds))
    print(f"receiving on {running.url('/')}", flush=True)
    running.thread.join()


if __name__ == "__main__":
    main()

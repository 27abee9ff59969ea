"""The HTTP client under firebase-admin's `send_each_async`: aiohttp on the wire, httpx's shape to the SDK.

firebase-admin's `send_each_async` encodes each message, posts it through its `HttpxAsyncClient`
wrapper (`await client.request(...)`, then `raise_for_status()`), and reads the answer or the
`httpx.HTTPStatusError`. Profiled per device, httpx itself cost more CPU than everything else the
sender does: URL re-parsing, header objects, a cookie jar consulted on every answer, a
`requests`-based token-refresh flow per message, and a connection pool that rescans every
connection for every queued request (with 500 queued: milliseconds each). In a fan-out that CPU
is the ceiling, so the wrapper's inner client is replaced by this one, which posts the SDK's
request over aiohttp (C HTTP parser, keep-alive pool) and gives the SDK back what it reads:
`raise_for_status()` and `json()` on success, and on an error answer a real `httpx.Response` in
a real `httpx.HTTPStatusError`, so firebase-admin's own error mapping (FcmError codes, FirebaseError
types, `http_response`) runs unchanged; a connection failure is `httpx.ConnectError`, a timeout
`httpx.ReadTimeout`, as httpx would raise them.

What is deliberately not carried over: firebase-admin's retries (500/503 four times without
jitter; retries are the adapter's decision, with backoff and jitter) and its token refresh on
every 401 (FCM answers THIRD_PARTY_AUTH_ERROR with 401, so a partner's broken web push key would
cost token grants per device); the adapter refreshes the token once per call instead.

`install` checks the SDK's shape before replacing anything and refuses otherwise (the pinned
firebase-admin is 7.7). Imported at first send only: aiohttp and httpx stay out of indexing.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import httpx


class _Answer:
    """A 2xx answer: all the SDK reads of it is `raise_for_status()` and `json()`."""

    __slots__ = ("content", "status_code")

    def __init__(self, status_code: int, content: bytes):
        self.status_code = status_code
        self.content = content

    def raise_for_status(self) -> _Answer:
        return self

    def json(self) -> Any:
        return json.loads(self.content)


class AiohttpClient:
    """Stands where firebase-admin keeps its `httpx.AsyncClient`; one aiohttp session, made on its loop."""

    def __init__(
        self,
        credential: Any,
        headers: dict[str, str],
        *,
        connections: int,
        timeout_seconds: float,
        trust_env: bool = False,
    ):
        self._credential = credential  # google-auth credentials, refreshed by the adapter
        self._headers = headers
        self._connections = connections
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._trust_env = trust_env
        self._session: aiohttp.ClientSession | None = None

    def _ready(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections, keepalive_timeout=60),
                timeout=self._timeout,
                trust_env=self._trust_env,
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        json: Any = None,
        **_: Any,  # timeout: the session's applies
    ) -> Any:
        session = self._ready()
        sent = {**self._headers, **(headers or {}), "Content-Type": "application/json"}
        self._credential.apply(sent)  # the current access token (the adapter keeps it fresh)
        body = _dumps(json)
        try:
            async with session.request(method, url, data=body, headers=sent) as answer:
                content = await answer.read()
                status = answer.status
                raw_headers = answer.raw_headers
        except TimeoutError as error:
            raise httpx.ReadTimeout("no answer in time", request=httpx.Request(method, url)) from error
        except aiohttp.ClientConnectorError as error:
            # The request never left: firebase-admin reports UNAVAILABLE, the adapter retries it.
            raise httpx.ConnectError("could not connect", request=httpx.Request(method, url)) from error
        except aiohttp.ClientError as error:
            raise httpx.NetworkError(type(error).__name__, request=httpx.Request(method, url)) from error
        if status < 400:
            return _Answer(status, content)
        request = httpx.Request(method, url)
        response = httpx.Response(status, headers=list(raw_headers), content=content, request=request)
        raise httpx.HTTPStatusError(f"HTTP {status}", request=request, response=response)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def install(service: Any, *, connections: int, timeout_seconds: float, trust_env: bool) -> None:
    """Puts an `AiohttpClient` under a firebase-admin messaging service's async client wrapper."""
    wrapper: Any = getattr(service, "_async_client", None)
    inner = getattr(wrapper, "_async_client", None)
    if not isinstance(inner, httpx.AsyncClient) or not callable(getattr(wrapper, "request", None)):
        raise RuntimeError("firebase-admin's async client changed shape; refusing to send")
    headers = {k: v for k, v in inner.headers.items() if k.lower() not in _HTTPX_OWN_HEADERS}
    wrapper._async_client = AiohttpClient(
        service._credential,
        headers,
        connections=connections,
        timeout_seconds=timeout_seconds,
        trust_env=trust_env,
    )


# httpx's defaults on every client; aiohttp writes its own equivalents.
_HTTPX_OWN_HEADERS = frozenset({"accept", "accept-encoding", "connection", "user-agent"})


def run_forever(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    loop.run_forever()

"""One POST to a partner's receiver: checked against SSRF first, short timeouts, no redirects, and at
most a few KiB of the answer read (and never kept: only its status)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.alerts.destinations import OutboundPolicy

if TYPE_CHECKING:
    import httpx

# A receiver has this long to answer; a slow one costs one worker this much, never more.
TIMEOUT_SECONDS = 5.0
CONNECT_SECONDS = 3.0
MAX_READ_BYTES = 4096
RETRY_AFTER_CAP_SECONDS = 10 * 3600


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    latency_ms: int
    error: str | None = None
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def retryable(self) -> bool:
        """5xx, 429 and no answer at all (timeout, refused connection) are retried; other 4xx and
        redirects are the receiver's final word."""
        code = self.status_code
        return code is None or code >= 500 or code == 429


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return min(max(float(value), 0.0), RETRY_AFTER_CAP_SECONDS)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return min(max(moment.timestamp() - time.time(), 0.0), RETRY_AFTER_CAP_SECONDS)


class HttpSender:
    """One pooled client per process; `policy` is checked against the URL right before each send."""

    def __init__(self, policy: OutboundPolicy, *, timeout: float = TIMEOUT_SECONDS):
        self.policy = policy
        self.timeout = timeout
        self._client: httpx.Client | None = None

    def _http(self) -> httpx.Client:
        if self._client is None:
            import httpx

            self._client = httpx.Client(
                follow_redirects=False,
                timeout=httpx.Timeout(self.timeout, connect=min(CONNECT_SECONDS, self.timeout)),
                limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
                trust_env=False,  # a proxy from the environment would defeat the address check
            )
        return self._client

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
        """Raises DestinationRefusedError when the URL may not be called; otherwise an Outcome."""
        import httpx

        self.policy.check(url)
        started = time.perf_counter()
        try:
            with self._http().stream(
                "POST", url, content=body, headers={"content-type": "application/json", **headers}
            ) as response:
                read = 0
                for chunk in response.iter_raw():
                    read += len(chunk)
                    if read >= MAX_READ_BYTES:
                        break
                code = response.status_code
                after = _retry_after(response.headers.get("retry-after")) if code == 429 else None
        except httpx.TimeoutException:
            return Outcome(None, _ms(started), "timeout")
        except httpx.HTTPError as error:
            return Outcome(None, _ms(started), f"connection failed: {type(error).__name__}")
        error_text = None
        if 300 <= code < 400:
            error_text = "redirect not followed"
        elif not 200 <= code < 300:
            error_text = f"receiver answered {code}"
        return Outcome(code, _ms(started), error_text, after)


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)

"""Log hygiene: no message body, token, secret, API key or full IP address reaches a log line.

`install()` wraps the process's LogRecord factory, so every record of every logger (ours, the
Azure SDK's, urllib3's, the web server's) is cleaned once, when it is made, before any handler
sees it; handlers added later (the Functions worker's, Application Insights') get it clean too.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

REDACTED = "[redacted]"

# Names whose values are secrets or content wherever they appear: headers, query strings, JSON.
_HIDDEN_NAMES = (
    r"x-api-key|x-device-key|x-device-secret|x-functions-key|authorization|api[_-]?key|apikey"
    r"|secret|client[_-]?secret|password|passwd|pwd|token|access[_-]?token|refresh[_-]?token"
    r"|id[_-]?token|signature|webhook[_-]?key|device[_-]?secret|device[_-]?key"
    r"|accountkey|sharedaccesssignature|sharedaccesskey|pepper|cookie|set-cookie"
    r"|key"  # a created API key's secret is answered as `"key"`
)
# Names whose values are message content: bodies never reach a log line.
_BODY_NAMES = r"body|title|message|text|content|payload|footprint|subject|html|data"

_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
# An auth scheme and its credentials (RFC 9110 token68, and SharedKey's `account:signature`).
_BEARER = re.compile(r"(?i)\b(bearer|basic|sharedkey|negotiate)\s+[A-Za-z0-9._~+/=:-]{8,}")
_API_KEY = re.compile(r"\btk_[A-Za-z0-9_-]{8,}")
_CONNECTION_SECRET = re.compile(
    r"(?i)\b(AccountKey|SharedAccessKey|SharedAccessSignature|Password|ClientSecret)=([^;\s\"']+)"
)
# name: value / name=value / "name": "value" / 'name': 'value'
_NAMED_SECRET = re.compile(
    rf"(?i)(?<![A-Za-z0-9])(\"|')?({_HIDDEN_NAMES})(\"|')?(\s*[:=]\s*)(?!\[redacted\]|\[jwt\])(\"(?:[^\"\\]|\\.)*\"|'[^']*'|[^\s,;&}}\]]+)"
)
# Query-string credentials: a webhook's `code`, a SAS `sig` (short names, so only after ? or &).
_QUERY_SECRET = re.compile(r"(?i)([?&](?:code|sig)=)(?!\[redacted\])[^&\s\"'#]+")
_JSON_BODY = re.compile(rf"(?i)([\"'])({_BODY_NAMES})\1(\s*:\s*)(\"(?:[^\"\\]|\\.)*\"|'[^']*')")
# Table entity keys in storage URLs (the SDK's and urllib3's DEBUG lines): a RowKey is often a
# person's id (an Entra object id, a Dynamics system-user id), in a point read's path
# `(PartitionKey='..',RowKey='..')` or a query's `$filter`; PartitionKeys (partner, tenant, org,
# month) stay readable for debugging.
_ROW_KEY = re.compile(
    r"(?i)(\bRowKey(?:\s*=\s*|(?:\s|%20|\+)+(?:eq|ne|ge|gt|le|lt)(?:\s|%20|\+)+))"
    r"(?!'\[redacted\]')('(?:[^']|'')*'|%27.*?%27)"
)
# Also URL-encoded (`%40`): storage queries keyed by an address show up so in the SDK's URL lines.
# Bounded as RFC 5321 bounds them (local part 64, label 63): unbounded, a long dotted run such as
# `a.a.a.a...` made this pattern backtrack quadratically (20,000 characters took 5 s).
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}(?:@|%40)([A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,10})\b")
_IPV4 = re.compile(r"(?<![\d.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{0,4}|\d{1,3}(?:\.\d{1,3}){3})(?![\w:])"
)

_known_lock = threading.Lock()
_known_secrets: frozenset[str] = frozenset()


def remember_secrets(values: Iterable[str | None]) -> None:
    """Literal secrets (operator key, pepper) that must never appear, whatever their shape."""
    global _known_secrets  # noqa: PLW0603 - one process-wide set, replaced atomically
    with _known_lock:
        _known_secrets = _known_secrets | {v for v in values if v and len(v) >= 8}


def _ipv4(match: re.Match[str]) -> str:
    parts = [int(p) for p in match.groups()]
    if any(p > 255 for p in parts):
        return match.group(0)
    return f"{parts[0]}.{parts[1]}.{parts[2]}.0"


def _ipv6(match: re.Match[str]) -> str:
    text = match.group(0)
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        return text
    return str(ipaddress.ip_network(f"{address}/48", strict=False).network_address)


def _named(match: re.Match[str]) -> str:
    open_quote, name, close_quote, separator, _ = match.groups()
    return f"{open_quote or ''}{name}{close_quote or ''}{separator}{REDACTED}"


# A log line longer than this is cut before it is cleaned: redaction stays cheap on any input, and
# nothing that long belongs in a log line (bodies never do).
MAX_LINE = 32 * 1024


def redact(text: str) -> str:
    """The log-safe form of `text` (cut to MAX_LINE characters first)."""
    if len(text) > MAX_LINE:
        text = f"{text[:MAX_LINE]}... [{len(text) - MAX_LINE} characters cut]"
    for secret in _known_secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _CONNECTION_SECRET.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    # Schemes first: the name=value rule would take `Bearer` for the value of `Authorization:` and
    # leave the opaque token after it (a Google OAuth token, which firebase-admin sends, is no JWT).
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _NAMED_SECRET.sub(_named, text)
    text = _QUERY_SECRET.sub(lambda m: m.group(1) + REDACTED, text)
    text = _ROW_KEY.sub(lambda m: f"{m.group(1)}'{REDACTED}'", text)
    text = _JWT.sub("[jwt]", text)
    text = _API_KEY.sub("tk_" + REDACTED, text)
    text = _JSON_BODY.sub(lambda m: f'{m.group(1)}{m.group(2)}{m.group(1)}{m.group(3)}"{REDACTED}"', text)
    text = _EMAIL.sub(lambda m: f"***@{m.group(1)}", text)
    text = _IPV4.sub(_ipv4, text)
    return _IPV6.sub(_ipv6, text)


_SENSITIVE_KEY = re.compile(rf"(?i)^({_HIDDEN_NAMES}|{_BODY_NAMES})$")


def _clean_value(value: Any, depth: int = 0) -> Any:
    """Arguments of a log call: bodies (bytes) become their size; secret or body keys lose values."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes>"
    if depth > 4:
        return "..."
    if isinstance(value, dict):
        return {
            k: REDACTED if isinstance(k, str) and _SENSITIVE_KEY.match(k) else _clean_value(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return type(value)(_clean_value(v, depth + 1) for v in value)
    return value


def clean_record(record: logging.LogRecord) -> None:
    """Rewrites a record in place: the formatted message and any exception text, redacted."""
    try:
        if isinstance(record.args, dict):
            record.args = _clean_value(record.args)
        elif record.args:
            record.args = tuple(_clean_value(arg) for arg in record.args)
        message = record.getMessage()
    except Exception:  # a malformed call must not lose the record
        message = f"{record.msg!s} {record.args!r}"
    record.msg = redact(message)
    record.args = None
    if record.exc_info and record.exc_info[0] is not None:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        # Handlers that format exc_info themselves would print the unredacted exception.
        record.exc_info = None
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


_INSTALL_LOCK = threading.Lock()


# Loggers that write request URLs (and with them SAS signatures, keys and entity keys) at INFO or
# DEBUG: only their warnings and errors are of use in a log.
URL_LOGGERS = (
    "azure.core.pipeline.policies.http_logging_policy",
    "azure.identity",
    "urllib3.connectionpool",
    "httpx",
    "httpcore",
)


def install() -> None:
    """Makes every LogRecord of this process clean (idempotent), and keeps the loggers that write
    request URLs at WARNING."""
    for name in URL_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    with _INSTALL_LOCK:
        current: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()
        if getattr(current, "tenantry_redacting", False):
            return

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = current(*args, **kwargs)
            clean_record(record)
            return record

        factory.tenantry_redacting = True  # type: ignore[attr-defined]
        logging.setLogRecordFactory(factory)


def installed() -> bool:
    return bool(getattr(logging.getLogRecordFactory(), "tenantry_redacting", False))

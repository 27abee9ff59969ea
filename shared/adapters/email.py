"""E-mail through Azure Communication Services Email (azure-communication-email), imported at first use.

Locally the connection string points at the stand-in (`localdev/acs_email_standin.py`), which speaks
the same REST API and checks the same HMAC signature, so the real SDK runs unchanged. In Azure there
is no connection string: the endpoint and the managed identity's Entra ID token (infra/).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EmailSettings:
    connection_string: str  # endpoint=https://<resource>.communication.azure.com/;accesskey=<key>
    sender: str  # DoNotReply@<the stamp's verified sender domain>
    ca_bundle: str | None = None  # local only: the stand-in's CA
    # Azure: https://<resource>.communication.azure.com, reached with the managed identity (the
    # resource refuses access keys); used when there is no connection string.
    endpoint: str = ""

    @property
    def configured(self) -> bool:
        return bool((self.connection_string or self.endpoint) and self.sender)


@dataclass(frozen=True)
class EmailResult:
    status_code: int | None  # 202 when the service took the message
    latency_ms: int
    operation_id: str | None = None
    error: str | None = None
    retry_after: float | None = None


class EmailSender:
    def __init__(self, settings: EmailSettings):
        self.settings = settings
        self._client: Any = None

    def _email(self) -> Any:
        if self._client is None:
            from azure.communication.email import EmailClient

            options: dict[str, Any] = {"retry_total": 0, "connection_timeout": 3, "read_timeout": 10}
            if self.settings.ca_bundle:
                options["connection_verify"] = self.settings.ca_bundle
            if self.settings.connection_string:
                self._client = EmailClient.from_connection_string(self.settings.connection_string, **options)
            else:
                from azure.identity import DefaultAzureCredential

                # AZURE_CLIENT_ID names the stamp identity, as for storage (shared/storage/router.py).
                self._client = EmailClient(self.settings.endpoint, DefaultAzureCredential(), **options)
        return self._client

    def send(self, *, to: list[str], subject: str, text: str) -> EmailResult:
        """Hands one message to the service; its 202 counts as sent (delivery is the service's job)."""
        from azure.core.exceptions import AzureError, HttpResponseError

        message = {
            "senderAddress": self.settings.sender,
            "recipients": {"to": [{"address": address} for address in to]},
            "content": {"subject": subject, "plainText": text},
        }
        started = time.perf_counter()
        try:
            poller = self._email().begin_send(message, polling=False)
            outcome = poller.result() or {}
        except HttpResponseError as error:
            code = error.status_code
            answer_headers = getattr(error.response, "headers", None) or {}
            after = answer_headers.get("retry-after")
            return EmailResult(
                code, _ms(started), error=f"e-mail service answered {code}", retry_after=_seconds(after)
            )
        except AzureError as error:
            return EmailResult(
                None, _ms(started), error=f"e-mail service unreachable: {type(error).__name__}"
            )
        return EmailResult(202, _ms(started), operation_id=str(outcome.get("id") or "") or None)


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)

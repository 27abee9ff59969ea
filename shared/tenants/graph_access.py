"""How the tenants area reaches Graph: one app credential per reference, readers and writers per tenant."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shared.adapters.graph import (
    GraphBadRequestError,
    GraphConflictError,
    GraphError,
    GraphForbiddenError,
    GraphNotFoundError,
    GraphReader,
    GraphSettings,
    GraphThrottledError,
    GraphUnauthorizedError,
    GraphWriter,
    graph_credential,
)
from shared.errors import ProblemError

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

# The one credential reference there is today: the multi-tenant (GDAP) app whose secret lives in
# settings (Key Vault in Azure). A tenant row names its reference, never a secret.
DEFAULT_CREDENTIAL = "graph-app"


@dataclass
class GraphAccess:
    settings: GraphSettings
    _credentials: dict[str, TokenCredential] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        # httpx logs every request URL at INFO; Graph's nextLinks and deltaLinks carry skip and
        # delta tokens in their query strings, which must not reach a log line.
        logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger("httpx").level))

    def credential(self, reference: str) -> TokenCredential:
        if reference != DEFAULT_CREDENTIAL:
            raise ProblemError(
                409, "unknown-credential", "Unknown credential.", f"No credential named {reference!r}."
            )
        if not self.settings.client_id:
            raise ProblemError(
                503,
                "graph-not-configured",
                "Microsoft Graph is not configured.",
                "GRAPH_CLIENT_ID is not set.",
            )
        with self._lock:
            if reference not in self._credentials:
                self._credentials[reference] = graph_credential(self.settings)
            return self._credentials[reference]

    def reader(self, tenant_id: str, reference: str, **options: Any) -> GraphReader:
        return GraphReader(tenant_id, self.credential(reference), self.settings, **options)

    def writer(self, tenant_id: str, reference: str) -> GraphWriter:
        return GraphWriter(tenant_id, self.credential(reference), self.settings)


def graph_problem(error: Exception) -> ProblemError:  # noqa: PLR0911 - one answer per Graph error kind
    """Graph's refusal as a problem the caller can act on (never a 500)."""
    if isinstance(error, GraphError):
        detail = f"Microsoft Graph answered {error.status} {error.code}: {error.message}"[:500]
        if isinstance(error, GraphForbiddenError):
            return ProblemError(
                403, "graph-insufficient-privileges", "Insufficient privileges in the tenant.", detail
            )
        if isinstance(error, GraphUnauthorizedError):
            return ProblemError(
                403,
                "graph-access-denied",
                "The tenant did not grant Tenantry access (consent or GDAP).",
                detail,
            )
        if isinstance(error, GraphNotFoundError):
            return ProblemError(404, "graph-not-found", "Not found in the tenant.", detail)
        if isinstance(error, GraphConflictError):
            return ProblemError(409, "graph-conflict", "Conflicts with the tenant's state.", detail)
        if isinstance(error, GraphBadRequestError):
            if "available licenses" in error.message:
                return ProblemError(409, "no-free-licences", "No free licences of that SKU.", detail)
            return ProblemError(422, "graph-refused", "Microsoft Graph refused the change.", detail)
        if isinstance(error, GraphThrottledError):
            seconds = str(int(error.retry_after or 30))
            return ProblemError(
                429,
                "graph-throttled",
                "Microsoft Graph is throttling this tenant.",
                detail,
                headers={"Retry-After": seconds},
            )
        return ProblemError(503, "graph-unavailable", "Microsoft Graph is unavailable.", detail)
    return ProblemError(
        503, "graph-unavailable", "Microsoft Graph could not be reached.", type(error).__name__
    )


def call_graph(action: Callable[[], Any]) -> Any:
    """Runs a Graph action, turning Graph and token failures into problems."""
    from azure.core.exceptions import ClientAuthenticationError

    try:
        return action()
    except (GraphError, ClientAuthenticationError) as error:
        raise graph_problem(error) from error

"""Hands out table, blob and queue clients for the control account and for each region's account."""

from __future__ import annotations

import threading
from contextlib import suppress
from typing import TYPE_CHECKING, Any, TypeVar

from shared.errors import ProblemError
from shared.settings import (
    CONTROL_STORAGE_SETTING,
    Settings,
    StorageTarget,
    region_storage_setting,
    storage_target,
)
from shared.storage.catalogue import CATALOGUE, Placement, StorageKind, declared
from shared.storage.queues import encode_policies

if TYPE_CHECKING:
    from azure.data.tables import TableClient, TableServiceClient
    from azure.storage.blob import BlobServiceClient, ContainerClient
    from azure.storage.queue import QueueClient, QueueServiceClient

T = TypeVar("T")


# requests pools 10 connections per host by default; the worker runs up to 32 functions at
# once, and every connection dropped from a full pool is a new TCP (and TLS) handshake later.
_POOL_SIZE = 64


def _pooled_session() -> Any:
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=_POOL_SIZE)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    # requests reads the proxy variables of the environment on every request (~2.5 ms of CPU per
    # call here, measured on the webhook); storage traffic does not go through a proxy.
    session.trust_env = False
    return session


# Health reads this row key in a table of the account; nothing ever writes it.
_PROBE_KEY = "health-probe"


def _probe_table(placement: Placement) -> str:
    """The first plain table the catalogue places in an account of this placement."""
    return next(
        entry.name
        for entry in CATALOGUE
        if entry.placement is placement and entry.kind is StorageKind.TABLE and not entry.bucketed
    )


class StorageNotConfiguredError(RuntimeError):
    """A region (or the control account) has no storage setting: a deployment mistake."""


def unknown_region(region: str, allowed: tuple[str, ...]) -> ProblemError:
    return ProblemError(
        422,
        "unknown-region",
        "Unknown region.",
        f"Region {region!r} is not one of the configured regions: {', '.join(allowed)}.",
    )


class AccountStorage:
    """One storage account. Regional tables, containers and queues are created once per process,
    on first use; control tables never are (the Bicep creates them, and a stamp's grant covers the
    rows of each control table, not the account's table list).

    SDK modules are imported here, at first use, so indexing the app stays fast.
    """

    def __init__(self, label: str, placement: Placement, target: StorageTarget, timeout: float):
        self.label = label
        self.placement = placement
        self.target = target
        self._timeout = timeout
        self._lock = threading.Lock()
        self._services: dict[str, Any] = {}
        self._created: dict[tuple[StorageKind, str], Any] = {}

    def _connect(self, service: str, client_type: type[T]) -> T:
        """A service client, made once: by connection string locally, by managed identity in Azure."""
        with self._lock:
            client = self._services.get(service)
            if client is None:
                options: dict[str, Any] = {
                    "connection_timeout": self._timeout,
                    "read_timeout": self._timeout,
                    "session": _pooled_session(),
                }
                if self.target.connection_string:
                    client = client_type.from_connection_string(  # type: ignore[attr-defined]
                        self.target.connection_string, **options
                    )
                else:
                    from azure.identity import DefaultAzureCredential

                    url = f"https://{self.target.account_name}.{service}.core.windows.net"
                    client = client_type(url, credential=DefaultAzureCredential(), **options)  # type: ignore[call-arg]
                self._services[service] = client
            return client

    def table_service(self) -> TableServiceClient:
        from azure.data.tables import TableServiceClient

        return self._connect("table", TableServiceClient)

    def blob_service(self) -> BlobServiceClient:
        from azure.storage.blob import BlobServiceClient

        return self._connect("blob", BlobServiceClient)

    def queue_service(self) -> QueueServiceClient:
        from azure.storage.queue import QueueServiceClient

        return self._connect("queue", QueueServiceClient)

    def _check_placement(self, kind: StorageKind, name: str) -> None:
        entry = declared(kind, name)
        if entry.placement is not self.placement:
            raise ValueError(
                f"{kind.value} {name!r} belongs in the {entry.placement.value} account, not in {self.label}"
            )

    def table(self, name: str) -> TableClient:
        key = (StorageKind.TABLE, name)
        if key not in self._created:
            self._check_placement(*key)
            service = self.table_service()
            if self.placement is Placement.CONTROL:
                # Creating a table is an account-level call a per-table grant refuses (403).
                self._created[key] = service.get_table_client(name)
            else:
                self._created[key] = service.create_table_if_not_exists(name)
        return self._created[key]  # type: ignore[no-any-return]

    def container(self, name: str) -> ContainerClient:
        from azure.core.exceptions import ResourceExistsError

        key = (StorageKind.CONTAINER, name)
        if key not in self._created:
            self._check_placement(*key)
            client = self.blob_service().get_container_client(name)
            with suppress(ResourceExistsError):
                client.create_container()
            self._created[key] = client
        return self._created[key]  # type: ignore[no-any-return]

    def queue(self, name: str) -> QueueClient:
        from azure.core.exceptions import ResourceExistsError

        key = (StorageKind.QUEUE, name)
        if key not in self._created:
            self._check_placement(*key)
            # The service client does not hand its encode policy down to queue clients.
            client = self.queue_service().get_queue_client(name, **encode_policies())
            with suppress(ResourceExistsError):
                client.create_queue()
            self._created[key] = client
        return self._created[key]  # type: ignore[no-any-return]

    def ping(self) -> None:
        """Raises if the account does not answer a point read within the timeout.

        A point read, not list_tables: the control account grants each stamp its tables' rows
        only, and listing tables would answer 403 there for ever. The probe row never exists, so
        404 (no row, or no table yet) is the answer of a reachable account; 403 and timeouts raise.
        """
        from azure.core.exceptions import ResourceNotFoundError

        table = self.table_service().get_table_client(_probe_table(self.placement))
        with suppress(ResourceNotFoundError):
            table.get_entity(_PROBE_KEY, _PROBE_KEY, retry_total=0)


class StorageRouter:
    """The control account plus one account per configured region, read from settings once."""

    def __init__(self, settings: Settings, environ: dict[str, str] | None = None):
        self.regions = settings.regions
        timeout = settings.request_timeout_seconds
        control = storage_target(CONTROL_STORAGE_SETTING, environ)
        if control is None:
            raise StorageNotConfiguredError(f"{CONTROL_STORAGE_SETTING} is not set")
        self.control = AccountStorage("control", Placement.CONTROL, control, timeout)
        self._regions: dict[str, AccountStorage] = {}
        for region in self.regions:
            target = storage_target(region_storage_setting(region), environ)
            if target is None:
                raise StorageNotConfiguredError(f"{region_storage_setting(region)} is not set")
            self._regions[region] = AccountStorage(region, Placement.REGIONAL, target, timeout)

    def region(self, region: str) -> AccountStorage:
        try:
            return self._regions[region]
        except KeyError:
            raise unknown_region(region, self.regions) from None

    def accounts(self) -> list[AccountStorage]:
        return [self.control, *self._regions.values()]

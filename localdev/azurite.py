"""Starts Azurite (the npm package in node_modules) with one storage account per configured account."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_ACCOUNT = re.compile(r"AccountName=([^;]+);AccountKey=([^;]+)")
_PORT = re.compile(r"(Blob|Queue|Table)Endpoint=http://127\.0\.0\.1:(\d+)/")
AZURITE_PATCHES = Path(__file__).resolve().parent / "azurite_patches.cjs"


def accounts_in(settings: dict[str, str]) -> dict[str, str]:
    """Every storage account named by a connection string among the settings: name -> key."""
    found: dict[str, str] = {}
    for value in settings.values():
        match = _ACCOUNT.search(value)
        if match and "127.0.0.1" in value:
            found[match.group(1)] = match.group(2)
    return found


def ports_in(settings: dict[str, str]) -> dict[str, int]:
    for value in settings.values():
        ports = {kind.lower(): int(port) for kind, port in _PORT.findall(value)}
        if len(ports) == 3:
            return ports
    return {"blob": 10000, "queue": 10001, "table": 10002}


def connection_string(account: str, key: str, ports: dict[str, int]) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={key};"
        f"BlobEndpoint=http://127.0.0.1:{ports['blob']}/{account};"
        f"QueueEndpoint=http://127.0.0.1:{ports['queue']}/{account};"
        f"TableEndpoint=http://127.0.0.1:{ports['table']}/{account};"
    )


def create_control_tables(settings: dict[str, str]) -> list[str]:
    """Creates the control account's tables of the catalogue, as the global Bicep does in Azure.

    The app never creates control tables (a stamp's grant covers their rows, not the account),
    so every local account that plays the control account needs them before the app starts.
    Returns their names; nothing is made when the settings name no local control account.
    """
    from azure.data.tables import TableServiceClient

    from shared.settings import CONTROL_STORAGE_SETTING
    from shared.storage.catalogue import CATALOGUE, Placement, StorageKind

    connection = settings.get(CONTROL_STORAGE_SETTING, "")
    if "127.0.0.1" not in connection:
        return []
    names = [
        entry.name
        for entry in CATALOGUE
        if entry.placement is Placement.CONTROL and entry.kind is StorageKind.TABLE and not entry.bucketed
    ]
    service = TableServiceClient.from_connection_string(connection)
    for name in names:
        service.create_table_if_not_exists(name)
    return names


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Azurite:
    accounts: dict[str, str]
    ports: dict[str, int]
    data_dir: Path | None = None  # None: in-memory
    # True: in a session of its own, so a terminal's Ctrl-C reaches only the command that started
    # it, which stops it after the host; otherwise Azurite went first and the host's last queue
    # reads sat in the storage SDK's retries for over a minute before the process could exit.
    own_session: bool = False
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def command(self) -> list[str]:
        binary = REPO / "node_modules" / "azurite" / "dist" / "src" / "azurite.js"
        if not binary.exists():
            raise FileNotFoundError(f"{binary} is missing: run `make setup` (npm ci)")
        args = [
            "node",
            # Azurite's queue GC and partition queries, made to scale (azurite_patches.cjs, issue 22).
            "--require",
            str(AZURITE_PATCHES),
            str(binary),
            "--silent",
            "--disableTelemetry",  # otherwise it tries to reach a telemetry endpoint
            "--skipApiVersionCheck",  # current SDKs send a newer API version than Azurite knows
            "--loose",
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(self.ports["blob"]),
            "--queueHost",
            "127.0.0.1",
            "--queuePort",
            str(self.ports["queue"]),
            "--tableHost",
            "127.0.0.1",
            "--tablePort",
            str(self.ports["table"]),
            # Idle connections kept as Azure keeps them (azurite_patches.cjs, 3.).
            "--blobKeepAliveTimeout",
            "120",
            "--queueKeepAliveTimeout",
            "120",
        ]
        if self.data_dir is None:
            args.append("--inMemoryPersistence")
        else:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            args += ["--location", str(self.data_dir)]
        return args

    def start(self, timeout: float = 30.0) -> None:
        env = dict(os.environ)
        env["AZURITE_ACCOUNTS"] = ";".join(f"{name}:{key}" for name, key in self.accounts.items())
        if shutil.which("node") is None:
            raise FileNotFoundError("node is not on PATH")
        self.process = subprocess.Popen(
            self.command(), env=env, stdin=subprocess.DEVNULL, start_new_session=self.own_session
        )
        deadline = time.monotonic() + timeout
        while not all(port_open(p) for p in self.ports.values()):
            if self.process.poll() is not None:
                raise RuntimeError(f"Azurite exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError("Azurite did not open its ports in time")
            time.sleep(0.05)

    def running_elsewhere(self) -> bool:
        return all(port_open(p) for p in self.ports.values())

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None

    def connection_string(self, account: str) -> str:
        return connection_string(account, self.accounts[account], self.ports)

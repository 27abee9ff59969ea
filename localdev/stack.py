"""A local stack on demand: a private Azurite on free ports, its settings, local hosts in subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TypeVar

import httpx

from localdev import dev_issuer
from localdev.azurite import REPO, Azurite, accounts_in, create_control_tables, free_port
from localdev.settings import load_local_settings

T = TypeVar("T")


def start_test_azurite(data_dir: Path | None = None) -> tuple[Azurite, dict[str, str]]:
    """Azurite on free ports with the example settings' accounts, in memory unless `data_dir` is
    given (then it can be stopped and started again with its data); returns the settings to use."""
    settings = load_local_settings(REPO)
    azurite = Azurite(
        accounts_in(settings),
        {"blob": free_port(), "queue": free_port(), "table": free_port()},
        data_dir=data_dir,
    )
    azurite.start()
    env = dict(settings)
    for key, value in settings.items():
        for account in azurite.accounts:
            if f"AccountName={account};" in value:
                env[key] = azurite.connection_string(account)
    create_control_tables(env)
    return azurite, env


def wait_until(
    check: Callable[[], T | None], *, timeout: float = 20.0, what: str | Callable[[], str] = "condition"
) -> T:
    """Polls `check` until it returns something truthy; fails the test with `what` after `timeout`
    (a callable `what` is asked then, to describe the state the wait ended in).

    Polling an observable outcome is how these tests synchronise with background work;
    a fixed sleep would either waste time or flake.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            described = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout}s waiting for {described}")
        time.sleep(0.05)


# The issuer host (ENTRA_AUTHORITY_HOST) of each host this process started, by its base URL.
AUTHORITY_HOSTS: dict[str, str] = {}


def authority_host(api: str) -> str:
    """What tokens for the host at `api` name as their issuer's host: its dev issuer's TLS address
    when `start_host` started it, else the plain address (hosts started elsewhere, as the benches do)."""
    base = api.rstrip("/")
    return AUTHORITY_HOSTS.get(base, f"{base}{dev_issuer.ROUTE_PREFIX}")


def start_host(
    env: dict[str, str],
    port: int,
    *,
    script_root: Path = REPO,
    app: str = "function_app:app",
    output: IO[bytes] | None = None,
    own_session: bool = False,
) -> subprocess.Popen[bytes]:
    """Starts `python -m localdev host` on `port` and returns once it serves.

    `own_session`: the host and its worker processes form a process group of their own, so a
    test can kill them all at once (`os.killpg`), as an instance taken away loses every process."""
    base = f"http://127.0.0.1:{port}"
    # The host serves the development token issuer itself (its sign-in site over TLS on a port of
    # its own), so the issuer's address follows the ports.
    env = {**env, **dev_issuer.local_settings(base, free_port())}
    AUTHORITY_HOSTS[base] = env["ENTRA_AUTHORITY_HOST"]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "localdev",
            "host",
            "--script-root",
            str(script_root),
            "--app",
            app,
            "--port",
            str(port),
        ],
        cwd=REPO,
        env={**os.environ, **env, "PYTHONPATH": str(REPO)},
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
        start_new_session=own_session,
    )

    def serving() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"local host exited with {process.returncode}")
        try:
            httpx.get(base + "/", timeout=1.0)
        except httpx.TransportError:
            return False
        return True

    try:
        wait_until(serving, timeout=30, what="the local host to serve")
    except BaseException:
        stop_host(process)
        raise
    return process


def stop_host(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def local_host(
    env: dict[str, str],
    *,
    script_root: Path = REPO,
    app: str = "function_app:app",
    output: IO[bytes] | None = None,
) -> Iterator[str]:
    """Runs `python -m localdev host` for `script_root` and yields its base URL once it serves.

    `output` (a file) receives the host's stdout and stderr, e.g. to search its log."""
    port = free_port()
    process = start_host(env, port, script_root=script_root, app=app, output=output)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_host(process)

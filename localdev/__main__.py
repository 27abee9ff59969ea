"""`python -m localdev run|host|azurite`: the local stack that `make run` starts."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import NoReturn

from localdev.azurite import REPO, Azurite, accounts_in, ports_in
from localdev.settings import apply_local_settings

# How long running functions (the demo's first sync, say) get to finish at Ctrl-C.
SHUTDOWN_GRACE_SECONDS = 10


def serve_host(script_root: Path, app_ref: str, port: int) -> None:
    import uvicorn

    from localdev.host import LocalHost

    host = LocalHost(script_root, app_ref)
    names = [f"{f.name} [{f.trigger['type']}]" for f in host.functions]
    logging.getLogger("localdev").info("functions: %s", ", ".join(names))
    config = uvicorn.Config(host, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    try:
        asyncio.run(uvicorn.Server(config).serve())
    finally:
        if not host.finish(grace_seconds=SHUTDOWN_GRACE_SECONDS):
            logging.getLogger("localdev").warning(
                "functions still running after %d s; they end with the process", SHUTDOWN_GRACE_SECONDS
            )


def start_azurite(settings: dict[str, str], data_dir: Path | None) -> Azurite | None:
    azurite = Azurite(accounts_in(settings), ports_in(settings), data_dir, own_session=True)
    if azurite.running_elsewhere():
        logging.getLogger("localdev").info("Azurite already answers on %s; using it", azurite.ports)
        return None
    azurite.start()
    logging.getLogger("localdev").info("Azurite serving %s on %s", ", ".join(azurite.accounts), azurite.ports)
    return azurite


def mint_for_personnel(partner_id: str, personnel_id: str, lifetime_seconds: int) -> str:
    """A development token for a person, looked up through the product (Azurite must be running)."""
    from functions import deps
    from localdev import dev_issuer
    from shared.partners.access import AccessService

    config = deps.settings()
    partner = deps.partners().get(partner_id)
    access = AccessService(
        deps.storage().region(partner.region),
        partner.id,
        deps.clock(),
        config.api_key_pepper.get_secret_value(),
    )
    person = access.get_person(personnel_id)
    return dev_issuer.mint(
        tenant_id=partner.entra_tenant_id,
        object_id=person.object_id,
        audience=config.entra_audience,
        authority_host=config.entra_authority_host,
        name=person.display_name,
        lifetime_seconds=lifetime_seconds,
    )


def run_stack(args: argparse.Namespace, azurite: Azurite | None, data_dir: Path | None) -> NoReturn:
    """`run`: the stand-ins and the host on Azurite until Ctrl-C, then everything stopped in order."""
    # Firebase is the local FCM stand-in; its throwaway service account is kept in .localdev/.
    from localdev.fcm_local import start_fcm_standin

    fcm, fcm_settings = start_fcm_standin(
        port=int(os.environ.get("FCM_STANDIN_PORT", "9099")),
        key_file=REPO / ".localdev" / "fcm-service-account.json",
    )
    os.environ.update(fcm_settings)
    try:
        from localdev.demo import graph_standin, register_in_background

        print(
            f"Tenantry is serving on http://127.0.0.1:{args.port}/api (docs: /api/docs). Ctrl-C stops.",
            flush=True,
        )
        # Graph is the local stand-in; a demo partner with a demo tenant is there to try at once.
        with graph_standin(data_dir):
            register_in_background(f"http://127.0.0.1:{args.port}", data_dir)
            serve_host(args.script_root, args.app, args.port)
    except KeyboardInterrupt:
        pass
    finally:
        fcm.stop()
        if azurite is not None:
            azurite.stop()
    # A function that outlived the grace period would keep the interpreter waiting on its thread
    # (retrying stopped stand-ins for minutes); the Functions host, too, ends them at shutdown.
    logging.shutdown()
    sys.stdout.flush()
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localdev")
    parser.add_argument("command", choices=["run", "host", "azurite", "token"])
    parser.add_argument("--script-root", type=Path, default=REPO)
    parser.add_argument("--app", default="function_app:app", help="module:attribute of the FunctionApp")
    parser.add_argument("--port", type=int, default=int(os.environ.get("FUNCTIONS_HTTPWORKER_PORT", "7071")))
    parser.add_argument(
        "--data-dir", type=Path, default=REPO / ".azurite", help="Azurite's data folder (git ignores it)"
    )
    parser.add_argument("--in-memory", action="store_true", help="Azurite keeps nothing on disk")
    parser.add_argument("--partner", help="token: the partner id")
    parser.add_argument("--personnel", help="token: the person's personnel id at that partner")
    parser.add_argument("--minutes", type=int, default=60, help="token: lifetime")
    args = parser.parse_args(argv)
    # The app's log hygiene applies to the host's own lines too (shared/privacy/redact.py).
    from shared.privacy.redact import install as install_log_hygiene

    install_log_hygiene()
    level = os.environ.get("TENANTRY_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if level != "DEBUG":
        # The storage SDK logs every HTTP exchange at INFO; the real host keeps that out of the console too.
        logging.getLogger("azure").setLevel(logging.WARNING)

    settings = apply_local_settings(args.script_root)
    if args.command == "token":
        print(mint_for_personnel(args.partner, args.personnel, args.minutes * 60))
        return 0
    data_dir = None if args.in_memory else args.data_dir
    if args.command == "host":
        serve_host(args.script_root, args.app, args.port)
        return 0
    azurite = start_azurite({**settings, **os.environ}, data_dir)
    if args.command == "azurite":
        if azurite is None or azurite.process is None:
            return 0
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            return azurite.process.wait()
        except (KeyboardInterrupt, SystemExit):
            return 0
        finally:
            azurite.stop()
    run_stack(args, azurite, data_dir)


if __name__ == "__main__":
    sys.exit(main())

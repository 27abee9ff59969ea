"""`python -m localdev run|host|azurite|token|openapi`: the local stack `make run` starts, and its tools."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import NoReturn

from localdev.azurite import REPO, Azurite, accounts_in, create_control_tables, ports_in
from localdev.settings import apply_local_settings

# How long running functions (the demo's first sync, say) get to finish at Ctrl-C.
SHUTDOWN_GRACE_SECONDS = 10


def serve_host(script_root: Path, app_ref: str, port: int, *, worker: bool = False) -> None:
    """The host on `port`; `worker`: a worker process the host started instead (no port)."""
    import uvicorn

    from localdev.host import LocalHost

    if worker:
        serve_worker(script_root, app_ref)
        return

    host = LocalHost(script_root, app_ref)
    names = [f"{f.name} [{f.trigger['type']}]" for f in host.functions]
    logging.getLogger("localdev").info("functions: %s", ", ".join(names))
    logging.getLogger("localdev").info(
        "HTTP executions at once: %s; worker threads: %d; worker processes: %d",
        host.http_concurrency or "no limit",
        host.threads,
        host.worker_processes,
    )
    config = uvicorn.Config(host, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    try:
        asyncio.run(uvicorn.Server(config).serve())
    finally:
        if not host.finish(grace_seconds=SHUTDOWN_GRACE_SECONDS):
            logging.getLogger("localdev").warning(
                "functions still running after %d s; they end with the process", SHUTDOWN_GRACE_SECONDS
            )


def serve_worker(script_root: Path, app_ref: str) -> None:
    """A worker process the host started (FUNCTIONS_WORKER_PROCESS_COUNT > 1): queue and timer triggers."""
    from localdev.host import LocalHost

    host = LocalHost(script_root, app_ref)
    try:
        asyncio.run(host.run_worker())
    finally:
        host.finish(grace_seconds=SHUTDOWN_GRACE_SECONDS)
        # As `run`: a function that outlived the grace period (retrying storage that is gone, say)
        # would keep the interpreter waiting on its thread; the Functions host ends it too.
        logging.shutdown()
        os._exit(0)


def start_azurite(settings: dict[str, str], data_dir: Path | None) -> Azurite | None:
    azurite = Azurite(accounts_in(settings), ports_in(settings), data_dir, own_session=True)
    if azurite.running_elsewhere():
        logging.getLogger("localdev").info("Azurite already answers on %s; using it", azurite.ports)
        create_control_tables(settings)
        return None
    azurite.start()
    logging.getLogger("localdev").info("Azurite serving %s on %s", ", ".join(azurite.accounts), azurite.ports)
    create_control_tables(settings)
    return azurite


def mint_for_personnel(partner_id: str, personnel_id: str, lifetime_seconds: int, version: str) -> str:
    """A development token for a person, looked up through the product (Azurite must be running)."""
    from functions import deps
    from localdev import dev_issuer
    from shared.access.reach import TenantReach
    from shared.partners.access import AccessService

    config = deps.settings()
    partner = deps.partners().get(partner_id)
    access = AccessService(
        deps.storage().region(partner.region),
        partner.id,
        deps.clock(),
        deps.key_ring(config),
    )
    person = access.get_person(personnel_id, TenantReach())
    return dev_issuer.mint(
        tenant_id=partner.entra_tenant_id,
        object_id=person.object_id,
        audience=config.entra_audience,
        authority_host=config.entra_authority_host,
        name=person.display_name,
        lifetime_seconds=lifetime_seconds,
        version=version,
        v1_host=config.entra_v1_issuer_host,
    )


# The local operator: one made-up person of OPERATOR_TENANT_ID, so the audit log names the same one.
LOCAL_OPERATOR_OID = "0b9d6f2a-7c1e-4a5b-8d3f-6e2c9a1b4d70"


def mint_for_operator(name: str, lifetime_seconds: int, version: str) -> str:
    """A development token of the operator: app role Tenantry.Operator, from OPERATOR_TENANT_ID."""
    from localdev import dev_issuer
    from shared.settings import get_settings

    config = get_settings()
    if not config.operator_tenant_id:
        raise SystemExit("OPERATOR_TENANT_ID is not set: no operator token would be accepted.")
    return dev_issuer.mint(
        tenant_id=config.operator_tenant_id,
        object_id=LOCAL_OPERATOR_OID,
        audience=config.entra_audience,
        authority_host=config.entra_authority_host,
        name=name,
        roles=[dev_issuer.OPERATOR_ROLE],
        lifetime_seconds=lifetime_seconds,
        version=version,
        v1_host=config.entra_v1_issuer_host,
    )


def use_local_issuer(port: int) -> None:
    """`run` (and `token`, which must name the same issuer): the host serves the development
    issuer, its sign-in site over TLS on DEV_ISSUER_PORT (7443), so its settings follow the ports,
    whatever an older local.settings.json says."""
    from localdev import dev_issuer

    tls_port = int(os.environ.get(dev_issuer.TLS_PORT_SETTING, "").strip() or "7443")
    os.environ.update(dev_issuer.local_settings(f"http://127.0.0.1:{port}", tls_port))


def run_stack(args: argparse.Namespace, azurite: Azurite | None, data_dir: Path | None) -> NoReturn:
    """`run`: the stand-ins and the host on Azurite until Ctrl-C, then everything stopped in order."""
    use_local_issuer(args.port)
    # Firebase is the local FCM stand-in; its throwaway service account is kept in .localdev/.
    from localdev.fcm_local import start_fcm_standin

    fcm, fcm_settings = start_fcm_standin(
        port=int(os.environ.get("FCM_STANDIN_PORT", "9099")),
        key_file=REPO / ".localdev" / "fcm-service-account.json",
    )
    os.environ.update(fcm_settings)
    # E-mail (alerts) goes to the local ACS Email stand-in, which keeps what it was sent.
    from localdev.acs_email_standin import start_email_standin

    email = start_email_standin(int(os.environ.get("ACS_STANDIN_PORT", "9098")))
    os.environ.update(email.settings())
    try:
        from localdev.demo import graph_standin, register_in_background

        print(
            f"Tenantry is serving on http://127.0.0.1:{args.port}/api (docs: /api/docs). Ctrl-C stops.\n"
            f"Sign-in (development issuer): {os.environ['ENTRA_AUTHORITY_HOST']}; accept its local "
            "certificate once in the browser.",
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
        email.stop()
        if azurite is not None:
            azurite.stop()
    # A function that outlived the grace period would keep the interpreter waiting on its thread
    # (retrying stopped stand-ins for minutes); the Functions host, too, ends them at shutdown.
    logging.shutdown()
    sys.stdout.flush()
    os._exit(0)


def apply_host_options(args: argparse.Namespace) -> None:
    """Read by LocalHost from the environment, like the app settings they stand for."""
    if args.http_concurrency is not None:
        os.environ["TENANTRY_LOCAL_HTTP_CONCURRENCY"] = str(args.http_concurrency)
    if args.threads is not None:
        os.environ["PYTHON_THREADPOOL_THREAD_COUNT"] = str(args.threads)


def print_openapi() -> int:
    """`openapi`: the document the app serves at /api/openapi.json (`make portal` types the portal's
    API calls from it)."""
    import json

    from functions.meta import openapi_document

    print(json.dumps(openapi_document(), indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localdev")
    parser.add_argument("command", choices=["run", "host", "azurite", "token", "worker", "openapi"])
    parser.add_argument("--script-root", type=Path, default=REPO)
    parser.add_argument("--app", default="function_app:app", help="module:attribute of the FunctionApp")
    parser.add_argument("--port", type=int, default=int(os.environ.get("FUNCTIONS_HTTPWORKER_PORT", "7071")))
    parser.add_argument(
        "--data-dir", type=Path, default=REPO / ".azurite", help="Azurite's data folder (git ignores it)"
    )
    parser.add_argument("--in-memory", action="store_true", help="Azurite keeps nothing on disk")
    parser.add_argument("--partner", help="token: the partner id")
    parser.add_argument("--personnel", help="token: the person's personnel id at that partner")
    parser.add_argument("--operator", action="store_true", help="token: the operator's (OPERATOR_TENANT_ID)")
    parser.add_argument("--name", default="Local Operator", help="token: the operator's display name")
    parser.add_argument("--v1", action="store_true", help="token: an Entra v1.0 token (sts.windows.net)")
    parser.add_argument("--minutes", type=int, default=60, help="token: lifetime")
    parser.add_argument(
        "--http-concurrency",
        type=int,
        help="host/run: HTTP executions at once, as one Flex Consumption instance (perInstanceConcurrency)",
    )
    parser.add_argument("--threads", type=int, help="host/run: PYTHON_THREADPOOL_THREAD_COUNT")
    args = parser.parse_args(argv)
    apply_host_options(args)
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
        use_local_issuer(args.port)
        version = "1.0" if args.v1 else "2.0"
        if args.operator:
            print(mint_for_operator(args.name, args.minutes * 60, version))
        elif args.partner and args.personnel:
            print(mint_for_personnel(args.partner, args.personnel, args.minutes * 60, version))
        else:
            parser.error("token needs --operator, or --partner and --personnel")
        return 0
    if args.command == "openapi":
        return print_openapi()
    data_dir = None if args.in_memory else args.data_dir
    if args.command in {"host", "worker"}:
        serve_host(args.script_root, args.app, args.port, worker=args.command == "worker")
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

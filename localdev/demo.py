"""`make run`'s demo: the Graph stand-in in-process, and a demo partner with a demo tenant to try at once."""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from localdev import dev_issuer
from localdev.proving import connect_partner_tenant, grant_gdap

if TYPE_CHECKING:
    from localdev.graph_standin import StandinControl

log = logging.getLogger("localdev.demo")

DEMO_TENANT = "0b7e8f6a-3c2d-4e1f-8a9b-7c6d5e4f3a2b"  # the tenant id docs/api.md uses


@contextmanager
def graph_standin(data_dir: Path | None) -> Iterator[None]:
    """Serves the Graph stand-in on GRAPH_STANDIN_PORT (default 7080) and points the app at it.

    A fixed port and certificate folder keep the deltaLinks and the CA the app stored valid
    across restarts (the stand-in's tenants are regenerated from their ids).
    """
    from localdev.graph_standin import GraphStandin, StandinControl, serve_in_thread

    users = int(os.environ.get("SANDBOX_TENANT_USERS", "1000"))
    port = int(os.environ.get("GRAPH_STANDIN_PORT", "7080"))
    cert_dir = data_dir / "graph-standin" if data_dir is not None else None
    if cert_dir is not None:
        cert_dir.mkdir(parents=True, exist_ok=True)
    with serve_in_thread(GraphStandin(users_per_tenant=users), port=port, cert_dir=cert_dir) as running:
        # The demo tenant's admin has consented to the app, so it gets tokens (the stand-in forgets
        # consents on restart, so this is said at every start).
        control = StandinControl(running.base_url, running.certificates.ca)
        control.grant_consent(DEMO_TENANT)
        control.close()
        os.environ.update(running.settings())
        log.info("Graph stand-in serving %s (%d users per tenant)", running.graph_url, users)
        yield


def register_in_background(base: str, data_dir: Path | None) -> threading.Thread:
    thread = threading.Thread(target=_register, args=(base, data_dir), name="demo-partner", daemon=True)
    thread.start()
    return thread


def _register(base: str, data_dir: Path | None) -> None:
    try:
        _wait_for(base)
        demo = _ensure(base, data_dir)
    except Exception:
        log.exception("could not register the demo partner")
        return
    print(
        "\nDemo partner ready: partner "
        f"{demo['partnerId']} with tenant {DEMO_TENANT}. As that partner:\n"
        f"  export TENANTRY_KEY={demo['key']}\n"
        f'  curl -s -H "x-api-key: $TENANTRY_KEY" '
        f"{base}/api/partners/{demo['partnerId']}/tenants/{DEMO_TENANT}/users?top=5\n",
        flush=True,
    )


def _wait_for(base: str) -> None:
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/health", timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the host did not start serving")


def _standin() -> StandinControl:
    from localdev.graph_standin import StandinControl

    return StandinControl(os.environ["GRAPH_AUTHORITY_HOST"], Path(os.environ["GRAPH_CA_BUNDLE"]))


def _relate(control: StandinControl, partner_tenant_id: str) -> None:
    """The stand-in forgets at restart: the partner's tenant consents again, and its GDAP
    relationship with the demo tenant is active again (what Partner Center would still hold)."""
    control.put_tenant(partner_tenant_id, 5)
    grant_gdap(control, partner_tenant_id, DEMO_TENANT, customer_display_name="Fabrikam (demo)")


def _ensure(base: str, data_dir: Path | None) -> dict[str, str]:
    """The demo partner and key from the data folder if they still work, else made anew.

    The demo partner proves its demo tenant as a CSP would: its owner connects the partner's own
    Entra tenant (an administrator's consent sign-in, clicked through the stand-in), and an active
    GDAP relationship with the tenant proves it at onboarding.
    """
    control = _standin()
    saved = data_dir / "demo-partner.json" if data_dir is not None else None
    if saved is not None and saved.exists():
        demo: dict[str, str] = json.loads(saved.read_text())
        if "entraTenantId" in demo:
            _relate(control, demo["entraTenantId"])
        check = httpx.get(
            f"{base}/api/partners/{demo['partnerId']}/tenants/{DEMO_TENANT}",
            headers={"x-api-key": demo["key"]},
        )
        if check.status_code == 200 and check.json()["access"]["state"] == "proven":
            return demo
    operator = {"x-api-key": os.environ["OPERATOR_API_KEY"]}
    entra_tenant_id, owner_id = str(uuid.uuid4()), str(uuid.uuid4())
    created = httpx.post(
        f"{base}/api/partners",
        headers=operator,
        json={
            "displayName": "Demo MSP",
            "region": os.environ.get("TENANTRY_REGIONS", "eu").split(",")[0].strip(),
            "entraTenantId": entra_tenant_id,
            "contact": {"name": "Demo Admin", "email": "admin@demo-msp.example"},
            "subscription": {"plan": "standard", "tenantLimit": 25, "billingCycle": "monthly"},
            "owner": {"objectId": owner_id, "email": "admin@demo-msp.example", "displayName": "Demo Admin"},
        },
    )
    created.raise_for_status()
    partner_id = created.json()["id"]
    key = httpx.post(
        f"{base}/api/partners/{partner_id}/api-keys",
        headers=operator,
        json={"name": "demo", "scopes": ["read", "write", "notify", "privacy"]},
    )
    key.raise_for_status()
    demo = {"partnerId": partner_id, "key": key.json()["key"], "entraTenantId": entra_tenant_id}
    owner = dev_issuer.mint(
        tenant_id=entra_tenant_id,
        object_id=owner_id,
        audience=os.environ["ENTRA_AUDIENCE"],
        authority_host=os.environ["ENTRA_AUTHORITY_HOST"],
        name="Demo Admin",
    )
    partner_url = f"{base}/api/partners/{partner_id}"
    # The demo pushes to phones: its owner approves the Firebase transfer as a real partner must.
    httpx.put(
        f"{partner_url}/privacy/transfers/firebase", headers={"authorization": f"Bearer {owner}"}
    ).raise_for_status()
    _relate(control, entra_tenant_id)
    connect_partner_tenant(base, partner_url, {"authorization": f"Bearer {owner}"}, control)
    tenant = httpx.post(
        f"{partner_url}/tenants",
        headers={"x-api-key": demo["key"]},
        json={"tenantId": DEMO_TENANT, "displayName": "Fabrikam (demo)"},
        timeout=60,
    )
    tenant.raise_for_status()
    if saved is not None:
        saved.write_text(json.dumps(demo))
    return demo

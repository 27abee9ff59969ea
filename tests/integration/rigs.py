"""Helpers integration tests share: a partner whose subscription ended, tenants onboarded and synced."""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from functions import deps
from localdev.graph_standin import StandinControl
from localdev.proving import grant_gdap
from shared.access.principals import Actor
from shared.audit.context import ActionContext
from shared.keys import KeyRing, pepper_ring
from shared.partners.access import PLATFORM, AccessService
from shared.partners.directory import PartnerDirectory
from shared.partners.models import ApiKeyIn, PartnerIn
from shared.partners.service import Partner, PartnerService
from shared.storage.router import StorageRouter
from shared.tenants.graph_access import GraphAccess
from shared.tenants.models import TenantIn
from shared.tenants.service import TenantService
from shared.tenants.store import DirectoryStore
from shared.usage import Unit, UsageMeter
from tests.clocks import MovableClock

PEPPER = "pepper-for-tests"


@dataclass(frozen=True)
class PepperRotation:
    """A pepper's rotation at its three moments: v1 only, v1 and v2, v2 only (v1 dropped)."""

    first: str
    later: str  # the later versions' JSON, as API_KEY_PEPPER_VERSIONS holds it

    def v1(self) -> KeyRing:
        return pepper_ring(self.first)

    def v2(self) -> KeyRing:
        return pepper_ring(self.first, self.later)

    def dropped(self) -> KeyRing:
        """Version 1 removed from the settings (API_KEY_PEPPER emptied), the later ones kept."""
        return pepper_ring("", self.later)


OPERATOR = ActionContext(Actor("operator", "operator"))
ACTION = ActionContext(Actor("personnel", "tester"))


@contextlib.contextmanager
def key_set_server(key_set: Callable[[], dict[str, Any]]) -> Iterator[str]:
    """A JWKS endpoint answering every GET with `key_set()`; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(key_set()).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/keys"
    finally:
        server.shutdown()


def terminated_partner(router: StorageRouter, clock: MovableClock) -> Partner:
    """A partner with an owner, an API key, a tenant group and usage, whose subscription then ends."""
    service = PartnerService(router, PartnerDirectory(router), clock, pepper_ring(PEPPER))
    body = PartnerIn.model_validate(
        {
            "displayName": "Old IT",
            "region": "eu",
            "entraTenantId": str(uuid.uuid4()),
            "contact": {"name": "Ana Li", "email": "ana@old.example"},
            "subscription": {"plan": "standard", "tenantLimit": 5, "billingCycle": "monthly"},
            "owner": {"objectId": str(uuid.uuid4()), "email": "owner@old.example"},
        }
    )
    partner = service.create(body, OPERATOR)
    account = router.region("eu")
    access = AccessService(account, partner.id, clock, pepper_ring(PEPPER))
    access.create_key(ApiKeyIn.model_validate({"name": "k", "scopes": ["read"]}), OPERATOR, PLATFORM)
    access.create_or_update_group("g1", [str(uuid.uuid4())], OPERATOR, PLATFORM)
    UsageMeter(account, clock).add(partner.id, Unit.API_CALLS, 3)
    return service.terminate(service.get(partner.id), OPERATOR)


def service_for(partner: Partner, page_size: int = 999) -> TenantService:
    access = deps.graph_access()
    settings = replace(
        access.settings, page_size=page_size, backoff_base_seconds=0.01, backoff_cap_seconds=0.05
    )
    # These tests run each sync themselves, so syncs are not handed to the queue (a local host
    # serving other tests would pick them up and run them concurrently).
    return deps.tenants(
        partner,
        graph=GraphAccess(settings),
        sync_workers=4,
        dispatch=lambda message, delay: None,
    )


def onboard(service: TenantService, control: StandinControl, users: int) -> str:
    tenant_id = str(uuid.uuid4())
    control.put_tenant(tenant_id, users)
    grant_gdap(control, service.partner.entra_tenant_id, tenant_id)
    service.create(TenantIn(tenant_id=uuid.UUID(tenant_id), display_name="Fabrikam"), ACTION)
    return tenant_id


def queued_sync(service: TenantService, tenant_id: str) -> str:
    return str(service._entity(tenant_id)["activeSyncId"])


def stored_users(service: TenantService, tenant_id: str) -> dict[str, Any]:
    store = DirectoryStore(service.account, service.partner.id, tenant_id, None)  # type: ignore[arg-type]
    rows = list(store.list_user_rows())
    ids = [str(r["RowKey"]) for r in rows]
    assert len(ids) == len(set(ids)), "a user is stored twice"
    return {str(r["RowKey"]): r for r in rows}


def connected_partner(control: StandinControl, display_name: str, *, tenant_limit: int = 50) -> Partner:
    """A new partner in eu whose own Entra tenant is connected, so that its tenants can be proven."""
    from localdev.proving import connect_with_service

    body = {
        "displayName": display_name,
        "region": "eu",
        "entraTenantId": str(uuid.uuid4()),
        "contact": {"name": "Ana Li", "email": "ana@example.com"},
        "subscription": {"plan": "standard", "tenantLimit": tenant_limit, "billingCycle": "monthly"},
    }
    created = deps.partners().create(PartnerIn.model_validate(body), ACTION)
    connect_with_service(deps.tenant_proof(created), control)
    approve_push(created)
    return created


def approve_push(partner: Partner) -> None:
    """The partner's owner approves the Firebase transfer, as every partner that pushes must."""
    deps.transfer_approvals(partner.region).approve(partner.id, ACTION)

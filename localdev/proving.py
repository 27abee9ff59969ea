"""Local only: the proofs a partner makes (own tenant connected, GDAP, admin consent), via the Graph stand-in.

What a partner's administrators do in a browser against Entra ID, done here by clicking through the
stand-in's sign-in page with a chosen user (`StandinControl.authorize`). The demo, the tests and
the benches use it; the product never does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx

if TYPE_CHECKING:
    from localdev.graph_standin import StandinControl
    from shared.partners.service import Partner
    from shared.tenants.proof import TenantProof
    from shared.tenants.service import TenantService


def _callback_query(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def sign_in_through_api(
    api: str, link_url: str, control: StandinControl, tenant_id: str, *, admin: bool = True
) -> httpx.Response:
    """An administrator (or, with admin=False, a user holding no role) of `tenant_id` follows the link;
    the browser then lands on Tenantry's callback, whose answer is returned."""
    person = control.admin_of(tenant_id) if admin else control.member_of(tenant_id)
    location = control.authorize(link_url, person["userPrincipalName"])
    return httpx.get(f"{api}/api/admin-consent/callback", params=_callback_query(location), timeout=60)


def connect_partner_tenant(
    api: str, partner_url: str, headers: dict[str, str], control: StandinControl
) -> None:
    """The partner's own Entra tenant: created in the stand-in, then consented by its administrator."""
    partner = httpx.get(partner_url, headers=headers, timeout=30).json()
    entra_tenant_id = partner["entraTenantId"]
    control.put_tenant(entra_tenant_id, 5, consented=False)
    link = httpx.post(f"{partner_url}/entra-connection", headers=headers, timeout=30)
    link.raise_for_status()
    answer = sign_in_through_api(api, link.json()["url"], control, entra_tenant_id)
    if answer.status_code != 200:
        raise RuntimeError(
            f"connecting the partner's tenant failed: {answer.status_code} {answer.text[:300]}"
        )


def connect_with_service(proof: TenantProof, control: StandinControl) -> None:
    """The same, through the service (for integration tests and benches that run without a host)."""
    from shared.access.principals import Actor

    control.put_tenant(proof.partner.entra_tenant_id, 5, consented=False)
    link = proof.connection_link("http://127.0.0.1/api/admin-consent/callback", Actor("personnel", "setup"))
    admin = control.admin_of(proof.partner.entra_tenant_id)
    query = _callback_query(control.authorize(link.url, admin["userPrincipalName"]))
    _, sign_in_id = proof.signer.read(query["state"])
    proof.complete_sign_in(sign_in_id, query["code"], request_id=None, client_ip=None)


def approve_push_transfer(
    api: str, partner_id: str, *, entra_tenant_id: str, owner_object_id: str, audience: str
) -> None:
    """The partner's owner approves the Firebase transfer over the API, as a partner that pushes must
    (the benches and the demo set their partners up this way)."""
    from localdev import dev_issuer

    token = dev_issuer.mint(
        tenant_id=entra_tenant_id,
        object_id=owner_object_id,
        audience=audience,
        authority_host=f"{api}/_dev/entra",
    )
    httpx.put(
        f"{api}/api/partners/{partner_id}/privacy/transfers/firebase",
        headers={"authorization": f"Bearer {token}"},
        timeout=60,
    ).raise_for_status()


def grant_gdap(
    control: StandinControl, partner_tenant_id: str, customer_tenant_id: str, **options: Any
) -> str:
    """An active GDAP relationship with Tenantry's minimum roles; returns its id."""
    relationship = control.add_relationship(partner_tenant_id, customer_tenant_id, **options)
    return str(relationship["id"])


def bench_partner(display_name: str, *, tenant_limit: int) -> tuple[Partner, TenantService, StandinControl]:
    """A new partner in eu with its own tenant connected, its tenant service and a control client
    of the Graph stand-in (whose settings are in the environment): the start of the tenant benches.
    Few storage workers per sync, since a bench's parallelism is across tenants."""
    import os
    import uuid
    from pathlib import Path

    from functions import deps
    from localdev.graph_standin import StandinControl
    from shared.access.principals import Actor
    from shared.audit.context import ActionContext
    from shared.partners.models import PartnerIn
    from shared.tenants.graph_access import GraphAccess

    body = {
        "displayName": display_name,
        "region": "eu",
        "entraTenantId": str(uuid.uuid4()),
        "contact": {"name": "Bench", "email": "bench@example.com"},
        "subscription": {"plan": "standard", "tenantLimit": tenant_limit, "billingCycle": "monthly"},
    }
    partner = deps.partners().create(
        PartnerIn.model_validate(body), ActionContext(Actor("personnel", "bench"))
    )
    # A bench partner pushes like any other: its owner approved the Firebase transfer.
    deps.transfer_approvals(partner.region).approve(partner.id, ActionContext(Actor("personnel", "bench")))
    service = deps.tenants(partner, graph=GraphAccess(deps.graph_access().settings), sync_workers=2)
    control = StandinControl(os.environ["GRAPH_AUTHORITY_HOST"], Path(os.environ["GRAPH_CA_BUNDLE"]))
    connect_with_service(service.proof, control)
    return partner, service, control


def add_proven_tenant(service: TenantService, control: StandinControl, display_name: str) -> str:
    """A new customer tenant whose admin consented and which the partner reaches by GDAP, onboarded
    through the service (its first sync queued); returns its id."""
    import uuid

    from shared.access.principals import Actor
    from shared.audit.context import ActionContext
    from shared.tenants.models import TenantIn

    tenant_id = str(uuid.uuid4())
    control.grant_consent(tenant_id)  # the stand-in generates the tenant at its first read
    grant_gdap(control, service.partner.entra_tenant_id, tenant_id)
    tenant = TenantIn(tenant_id=uuid.UUID(tenant_id), display_name=display_name)
    service.create(tenant, ActionContext(Actor("personnel", "bench")))
    return tenant_id

"""A client generated from /api/openapi.json with openapi-python-client, as a partner's engineer
would make one, drives a partner's day: every response parses into its generated model."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from localdev.graph_standin import StandinControl
from localdev.stack import wait_until
from tests.e2e.actors import PartnerSetup, add_proven_tenant
from tests.e2e.dataverse import context_for, org_body, post_webhook
from tests.web import web

PACKAGE = "tenantry_client"


@pytest.fixture(scope="module")
def generated(api: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The client package, generated into a temporary folder and imported from there."""
    folder = tmp_path_factory.mktemp("generated-client")
    document = folder / "openapi.json"
    document.write_bytes(web.get(f"{api}/api/openapi.json").content)
    # As a partner's engineer would: the generator reads only JSON, text and octet-stream bodies,
    # and a PDF (an invoice) is a file like any other.
    config = folder / "config.yaml"
    config.write_text("content_type_overrides:\n  application/pdf: application/octet-stream\n")
    tools = Path(sys.executable).parent  # the generator, and the ruff it formats its output with
    done = subprocess.run(
        [
            str(tools / "openapi-python-client"),
            "generate",
            "--path",
            str(document),
            "--output-path",
            str(folder / PACKAGE),
            "--meta",
            "none",
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        cwd=folder,
        env={**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ.get('PATH', '')}"},
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    # The generator drops what it cannot read (a response model, a schema named twice) with a
    # warning and carries on: a client missing pieces is a failure here.
    assert "Warning" not in output and "Unable" not in output, output
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def module(generated: ModuleType, name: str) -> Any:
    return importlib.import_module(f"{generated.__name__}.{name}")


def parsed(response: Any, model: type, status: int = 200) -> Any:
    """The response's body as its generated model, with nothing the document does not name."""
    assert response.status_code == status, response.content
    body = response.parsed
    assert isinstance(body, model), f"{type(body).__name__} is not {model.__name__}: {response.content!r}"
    assert body.additional_properties == {}, f"undocumented fields: {body.additional_properties}"
    return body


def test_a_partner_flow_through_a_generated_client(
    api: str, partner: PartnerSetup, control: StandinControl, generated: ModuleType
) -> None:
    models = module(generated, "models")
    make_client = module(generated, "client").AuthenticatedClient
    # The partner's owner (an Entra token) makes the integration its key; the app then uses it.
    owner = make_client(base_url=api, token=partner.token(), raise_on_unexpected_status=True)
    created = module(generated, "api.api_keys.create_api_key").sync_detailed(
        partner.id,
        client=owner,
        body=models.ApiKeyIn.from_dict({"name": "integration", "scopes": ["read", "write", "notify"]}),
    )
    key = parsed(created, models.ApiKeyCreated, 201)
    assert key.key and sorted(str(s) for s in key.scopes) == ["notify", "read", "write"]
    client = make_client(
        base_url=api,
        token=key.key,
        prefix="",
        auth_header_name="x-api-key",
        raise_on_unexpected_status=True,  # a status the document does not list fails the test
        timeout=httpx.Timeout(60),
    )
    reader = client

    # A proven customer tenant, its sync seen through the client, its users paged with tokens.
    tenant_id = add_proven_tenant(partner, control, users=23)
    tenants = parsed(
        module(generated, "api.tenants.list_tenants").sync_detailed(partner.id, client=reader),
        models.TenantList,
    )
    assert tenant_id in {str(t.id) for t in tenants.items}
    get_tenant = module(generated, "api.tenants.get_tenant")

    def synced() -> Any:
        tenant = parsed(get_tenant.sync_detailed(partner.id, tenant_id, client=reader), models.TenantOut)
        last = tenant.last_sync
        return tenant if last and str(last.state) in ("succeeded", "failed") else None

    tenant = wait_until(synced, timeout=60, what="the tenant's first sync")
    assert str(tenant.last_sync.state) == "succeeded" and tenant.counts.users == 23
    list_users = module(generated, "api.tenant_users.list_users")
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = parsed(
            list_users.sync_detailed(
                partner.id,
                tenant_id,
                client=reader,
                top=10,
                **({"continuation_token": token} if token else {}),
            ),
            models.UserList,
        )
        pages += 1
        seen.extend(str(user.id) for user in page.items)
        token = page.continuation_token
        if not token:
            break
    assert (pages, len(seen), len(set(seen))) == (3, 23, 23)

    # A Dynamics organisation of that tenant, proven by its first Dataverse delivery.
    org_id = str(uuid.uuid4())
    registered = module(generated, "api.dynamics.register_org").sync_detailed(
        partner.id, client=client, body=models.OrgIn.from_dict(org_body(org_id, tenantId=tenant_id))
    )
    org = parsed(registered, models.OrgCreated, 201)
    assert str(org.id) == org_id and str(org.access.state) == "pendingProof"
    proof = post_webhook(api, json.loads(registered.content), context_for(org_id))
    assert proof.status_code == 202, proof.text
    shown = parsed(
        module(generated, "api.dynamics.get_org").sync_detailed(partner.id, org.id, client=reader),
        models.OrgOut,
    )
    assert str(shown.access.state) == "proven"

    # A notification to everyone in the org (nobody has a device yet), read back once it is done.
    sent = module(generated, "api.dynamics.send_notification").sync_detailed(
        partner.id,
        org.id,
        client=client,
        body=models.NotificationIn.from_dict({"everyone": True, "title": "Maintenance", "body": "22:00"}),
    )
    accepted = parsed(sent, models.NotificationOut, 202)
    get_notification = module(generated, "api.dynamics.get_notification")

    def completed() -> Any:
        view = parsed(
            get_notification.sync_detailed(partner.id, org.id, accepted.id, client=reader),
            models.NotificationOut,
        )
        return view if str(view.state) == "completed" else None

    view = wait_until(completed, timeout=30, what="the notification to complete")
    assert (view.id, view.device_count) == (accepted.id, 0)

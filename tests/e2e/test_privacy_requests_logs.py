"""A data-subject request's whole life leaves no subject identifier, rectified value or signed link
in the logs, even at DEBUG (the Azure SDK's request lines included)."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from localdev.graph_standin import StandinControl
from localdev.stack import local_host, wait_until
from tests.e2e.actors import make_partner
from tests.stack import GRAPH
from tests.web import web


def test_a_request_lifecycle_at_debug_logs_no_identifier(stack_env: dict[str, str]) -> None:
    marker = uuid.uuid4().hex
    email = f"subject-{marker}@fabrikam.example"
    new_name = f"Renamed {marker}"
    object_id = str(uuid.uuid4())
    env = {**stack_env, "TENANTRY_LOG_LEVEL": "DEBUG"}
    with tempfile.TemporaryDirectory() as folder:
        log_path = Path(folder) / "host.log"
        with log_path.open("wb") as output, local_host(env, output=output) as api:
            partner = make_partner(api)
            tenant_id = str(uuid.uuid4())
            control = StandinControl(GRAPH.base_url, GRAPH.certificates.ca)
            control.grant_consent(tenant_id)  # its admin consented: the stand-in serves it
            control.close()
            added = web.post(
                f"{partner.url}/tenants",
                headers=partner.as_key,
                json={"tenantId": tenant_id, "displayName": "F"},
            )
            assert added.status_code == 201, added.text
            bodies = [
                {"type": "access", "subject": {"email": email}},
                {"type": "erasure", "subject": {"objectId": object_id}},
                {"type": "rectification", "subject": {"email": email}, "changes": {"displayName": new_name}},
            ]
            links = []
            for body in bodies:
                created = web.post(
                    f"{partner.url}/privacy/requests",
                    headers=partner.as_key,
                    json={**body, "tenantId": tenant_id, "reference": f"ticket {marker}"},
                )
                assert created.status_code == 201, created.text
                url = f"{partner.url}/privacy/requests/{created.json()['id']}"
                note = {"method": "controllerConfirmed", "note": "ok"}
                assert web.post(f"{url}/verify", headers=partner.as_key, json=note).status_code == 200
                assert web.post(f"{url}/approve", headers=partner.as_key).status_code == 200
                assert web.post(f"{url}/execute", headers=partner.as_key).status_code == 202

                def closed(url: str = url) -> bool:
                    state = web.get(url, headers=partner.as_key).json()["state"]
                    return state in ("completed", "failed")

                wait_until(closed, timeout=60, what="the request's job")
                if body["type"] == "access":
                    link = web.get(f"{url}/export", headers=partner.as_key)
                    assert link.status_code == 200, link.text
                    links.append(link.json()["url"])
        captured = log_path.read_text(errors="replace")

    assert "privacy/requests" in captured  # the capture is real
    signature = links[0].split("sig=")[1].split("&")[0]
    for secret in (email, f"subject-{marker}", new_name, signature):
        assert secret not in captured, f"{secret!r} reached the log"
    # At DEBUG the storage SDK logs the URL of every call, and rows are keyed by Microsoft's ids
    # (a user's object id among them): our own lines never name the subject.
    ours = [line for line in captured.splitlines() if "azure.core" not in line and "urllib3" not in line]
    assert not [line for line in ours if object_id in line]

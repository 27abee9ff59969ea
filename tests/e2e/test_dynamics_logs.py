"""Notifications leave no secret, token or body in the logs, even at DEBUG, through the whole
path: org registration, device registration, the webhook, the fan-out through firebase-admin."""

from __future__ import annotations

import copy
import json
import tempfile
import uuid
from pathlib import Path

from localdev.stack import local_host, wait_until
from tests.e2e.actors import make_partner
from tests.e2e.dataverse import SAMPLE, add_user, org_body, user_token
from tests.stack import FCM
from tests.web import web


def test_a_debug_log_of_the_notification_path_holds_no_secret_token_or_body(
    stack_env: dict[str, str],
) -> None:
    marker = uuid.uuid4().hex
    token = f"token{marker}"
    footprint = f"Footprint{marker}"
    direct_body = f"DirectBody{marker}"
    env = {**stack_env, "TENANTRY_LOG_LEVEL": "DEBUG"}
    with tempfile.TemporaryDirectory() as folder:
        log_path = Path(folder) / "host.log"
        with log_path.open("wb") as output, local_host(env, output=output) as api:
            partner = make_partner(api, "eu")
            org_id = str(uuid.uuid4())
            body = org_body(org_id, tenantId=str(uuid.uuid4()))
            org = web.post(f"{partner.url}/orgs", json=body, headers=partner.as_key).json()
            proof = copy.deepcopy(SAMPLE)
            proof["OrganizationId"] = org_id
            web.post(
                f"{api}/api/dynamics/{org_id}/webhook", params={"code": org["webhookKey"]}, json=proof
            ).raise_for_status()  # its own Dataverse's first delivery proves the org (no rule yet)
            web.post(
                f"{partner.url}/orgs/{org_id}/rules",
                json={
                    "entity": "contact",
                    "message": "Update",
                    "title": "{fullname} changed",
                    "body": "{firstname}",
                    "recipients": {"type": "everyone"},
                },
                headers=partner.as_key,
            ).raise_for_status()
            object_id = add_user(partner, org, SAMPLE["InitiatingUserId"])
            as_user = user_token(api, org["tenantId"], object_id)
            device = web.post(
                f"{api}/api/orgs/{org_id}/devices",
                json={"systemUserId": SAMPLE["InitiatingUserId"], "token": token, "footprint": footprint},
                headers={"x-device-key": org["deviceKey"], "authorization": f"Bearer {as_user}"},
            ).json()
            context = copy.deepcopy(SAMPLE)
            context["OrganizationId"] = org_id
            attributes = context["InputParameters"][0]["value"]["Attributes"]
            attributes[0]["value"] = f"First{marker}"  # firstname -> the body
            attributes[2]["value"] = f"Full{marker}"  # fullname -> the title
            hook = web.post(
                f"{api}/api/dynamics/{org_id}/webhook",
                params={"code": org["webhookKey"]},
                content=json.dumps(context),
                headers={"content-type": "application/json"},
            )
            assert hook.status_code == 202, hook.text
            direct = web.post(
                f"{partner.url}/orgs/{org_id}/notifications",
                json={"everyone": True, "title": f"DirectTitle{marker}", "body": direct_body},
                headers=partner.as_key,
            )
            assert direct.status_code == 202
            wait_until(lambda: len(FCM.state.deliveries_to("token", token)) == 2, what="both pushes")
            web.post(
                f"{api}/api/notifications/{direct.json()['id']}/delivered",
                json={},
                headers={"x-device-secret": device["deviceSecret"]},
            )
        captured = log_path.read_text(errors="replace")

    assert "notification" in captured and "webhook org=" in captured  # the capture is real
    secrets = {
        "webhook key": org["webhookKey"],
        "device key": org["deviceKey"],
        "device secret": device["deviceSecret"],
        "the user's access token": as_user,
        "the user's access token signature": as_user.rsplit(".", 1)[1],
        # ds_<org>_<device>_<secret>: the secret itself may contain "_", so split from the left.
        "device secret part": device["deviceSecret"].split("_", 3)[3],
        "FCM token": token,
        "footprint": footprint,
        "title from the webhook": f"Full{marker}",
        "body from the webhook": f"First{marker}",
        "direct title": f"DirectTitle{marker}",
        "direct body": direct_body,
        "token encryption key": stack_env["DEVICE_TOKEN_KEY"],
    }
    leaked = [name for name, value in secrets.items() if value in captured]
    assert leaked == [], f"found in the DEBUG log: {leaked}"

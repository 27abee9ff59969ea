"""The deployed composition (functions/deps.py) honours a restriction: a Dynamics user who restricted
processing gets no push through the real webhook path, while the other recipients of the same
notification do. Nothing here is built by hand: the local host runs the app as Azure would."""

from __future__ import annotations

import uuid

from tests.e2e.actors import PartnerSetup, carry_out_request
from tests.e2e.dataverse import add_rule, completed, context_for, post_webhook, register_device, register_org
from tests.stack import FCM


def test_a_restricted_system_user_gets_no_push_and_the_others_do(api: str, partner: PartnerSetup) -> None:
    org = register_org(partner)
    restricted, other = str(uuid.uuid4()), str(uuid.uuid4())
    add_rule(partner, org["id"], recipients={"type": "users", "users": [restricted, other]})
    restricted_token, other_token = f"token-{uuid.uuid4().hex}", f"token-{uuid.uuid4().hex}"
    restricted_device = register_device(partner, org, restricted, restricted_token)
    other_device = register_device(partner, org, other, other_token)
    restriction = {"type": "restriction", "subject": {"systemUserId": restricted}, "orgId": org["id"]}
    carry_out_request(partner, restriction)

    accepted = post_webhook(api, org, context_for(org["id"]))
    assert accepted.status_code == 202, accepted.text
    notification_id = accepted.json()["notificationIds"][0]
    view = completed(partner, org["id"], notification_id)

    assert len(FCM.state.deliveries_to("token", other_token)) == 1
    assert FCM.state.deliveries_to("token", restricted_token) == []
    outcomes = {d["deviceId"]: d for d in view["devices"]}
    assert outcomes[other_device["id"]]["state"] == "sent"
    assert outcomes[restricted_device["id"]]["state"] == "failed"
    assert outcomes[restricted_device["id"]]["errorCode"] == "RESTRICTED"
    assert (view["sent"], view["failed"]) == (1, 1)

"""The session's stack (a private Azurite, the Graph and FCM stand-ins), started when first imported.

Only integration and e2e tests import this module (directly or through a fixture), so
`pytest tests/unit` runs without Node, Azurite or stand-ins; a session that needs the stack
starts it once, and the root conftest stops it at the end of the session.
"""

from __future__ import annotations

import os

from localdev.acs_email_standin import start_email_standin
from localdev.fcm_local import start_fcm_standin
from localdev.graph_standin import GraphStandin, serve_in_thread
from localdev.stack import start_test_azurite

# Settings are read from the environment once per process, so the test Azurite's addresses go
# there before anything reads them.
_AZURITE, STACK_ENV = start_test_azurite()
# One Graph stand-in for the session, with small generated tenants (tests that need a size set it
# per tenant through StandinControl); its settings reach every host started below.
_GRAPH = serve_in_thread(GraphStandin(users_per_tenant=int(os.environ.get("TEST_TENANT_USERS", "40"))))
GRAPH = _GRAPH.__enter__()
STACK_ENV.update(GRAPH.settings())
# One FCM stand-in for the session (real firebase-admin, OAuth included, talks to it).
FCM, _FCM_SETTINGS = start_fcm_standin()
STACK_ENV.update(_FCM_SETTINGS)
# One ACS Email stand-in (alert e-mails through the real SDK); alert receivers on loopback ports.
EMAIL = start_email_standin()
STACK_ENV.update(EMAIL.settings())
STACK_ENV["ALERTS_LOOPBACK_PORTS"] = "1024-65535"
os.environ.update(STACK_ENV)


def stop() -> None:
    _GRAPH.__exit__(None, None, None)
    FCM.stop()
    EMAIL.stop()
    _AZURITE.stop()

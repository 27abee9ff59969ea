"""The FCM stand-in wired for a local stack: started on a thread, trusting a throwaway service
account, and the FIREBASE_* settings that point the app (and firebase-admin) at it.

`make run` keeps the service account in `.localdev/` (git ignores it); tests keep it in memory.
"""

from __future__ import annotations

import json
from pathlib import Path

from localdev.fcm_credentials import make_service_account, write_service_account
from localdev.fcm_standin import RunningStandin, start_in_thread

PROJECT = "tenantry-local"


def start_fcm_standin(
    *, port: int | None = None, key_file: Path | None = None, project: str = PROJECT
) -> tuple[RunningStandin, dict[str, str]]:
    """Serves the stand-in and returns it with the settings to add to the app's environment."""
    standin = start_in_thread(port)
    account = make_service_account(standin.token_uri, project)
    standin.state.trust_service_account(account)
    if key_file is not None:
        write_service_account(key_file, account)
        service_account = str(key_file)
    else:
        service_account = json.dumps(account)
    return standin, {
        "FIREBASE_PROJECT_ID": project,
        "FIREBASE_SERVICE_ACCOUNT": service_account,
        "FIREBASE_FCM_URL": standin.base_url,
    }

"""Importing the Graph adapter stays light: its SDKs load when a reader or writer first needs them."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
import shared.adapters.graph
heavy = ["msgraph", "msgraph_core", "kiota_abstractions", "azure.identity", "azure.core", "msal", "httpx",
         "ssl"]
print(json.dumps([m for m in heavy if m in sys.modules]))
"""


def test_importing_the_graph_adapter_loads_no_sdk() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []

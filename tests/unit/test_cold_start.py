"""Indexing the app stays light: heavy SDKs load at first use, not at cold start."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
import function_app
names = [f.get_function_name() for f in function_app.app.get_functions()]
heavy = ["msgraph", "msgraph_core", "firebase_admin", "azure.data.tables", "azure.storage.blob",
         "azure.storage.queue", "azure.identity", "jwt", "cryptography", "httpx"]
print(json.dumps({"functions": names, "loaded": [m for m in heavy if m in sys.modules]}))
"""


def test_indexing_loads_no_heavy_sdk() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert "health" in result["functions"]
    assert result["loaded"] == []

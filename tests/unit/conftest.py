"""Unit tests: no Node, Azurite or stand-ins; the example settings stand in for app settings.

Nothing here connects anywhere, but settings are required to build the app (and are read once per
process), so the example settings fill whatever a stack started in the same session has not set.
"""

from __future__ import annotations

import os

from localdev.azurite import REPO
from localdev.settings import load_local_settings

for _name, _value in load_local_settings(REPO).items():
    os.environ.setdefault(_name, _value)

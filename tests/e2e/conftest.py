"""Fixtures the end-to-end tests share (helpers live in actors.py and dataverse.py, never in test modules)."""

from __future__ import annotations

import pytest

from tests.e2e.actors import PartnerSetup, make_partner


@pytest.fixture(scope="module")
def partner(api: str) -> PartnerSetup:
    """A partner of this test module's own in region eu, with an API key of every scope."""
    return make_partner(api, "eu")

"""What a sync hands the baseline check: the stored users' facts, and the checker injected into the sync.

The checks themselves are the built-in `tenantry-baseline` standard (shared/standards/baseline.py),
run through the standards engine: standards rank above tenants, so the composition root
(functions/deps.py) hands the sync a `BaselineChecker` and this area never imports standards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from shared.tenants.models import BaselineSettings, CheckResult

# Free and trial SKUs do not waste money when unassigned (the baseline and drift both skip them).
FREE_SKU_MARKERS = ("FREE", "TRIAL", "FLOW_FREE", "POWER_BI_STANDARD", "WINDOWS_STORE")


@dataclass(frozen=True)
class UserFacts:
    disabled_with_licences: int
    disabled_with_licences_sample: list[str]
    # Enabled accounts without a sign-in for INACTIVE_DAYS (shared/reports); None: Graph refused
    # signInActivity (no Entra ID P1 in the tenant, or AuditLog.Read.All not consented).
    inactive_accounts: int | None = None


@dataclass(frozen=True)
class BaselineInput:
    """What one sync read for the baseline: its configuration snapshot (as stored) and user facts.
    The check reads nothing more, so a sync makes no Graph call for it."""

    configuration: dict[str, Any]
    facts: UserFacts
    settings: BaselineSettings


class BaselineChecker(Protocol):
    """Checks one synced tenant against the baseline and records its compliance; answers the
    checks as GET .../baseline shows them (the caller stores them and raises the transitions)."""

    def __call__(self, tenant_id: str, read: BaselineInput) -> list[CheckResult]: ...

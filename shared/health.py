"""Health: can each storage account (control and every region) be reached right now?"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from pydantic import BaseModel

from shared.storage.router import AccountStorage, StorageRouter


class AccountHealth(BaseModel):
    reachable: bool
    error: str | None = None


class HealthReport(BaseModel):
    status: str  # "ok" or "degraded"
    control: AccountHealth
    regions: dict[str, AccountHealth]

    @property
    def unreachable(self) -> list[str]:
        names = [name for name, health in self.regions.items() if not health.reachable]
        if not self.control.reachable:
            names.insert(0, "control")
        return names


def _probe(account: AccountStorage) -> AccountHealth:
    try:
        account.ping()
    except Exception as error:  # any failure means unreachable; the class name is enough to act on
        return AccountHealth(reachable=False, error=type(error).__name__)
    return AccountHealth(reachable=True)


def check_storage(router: StorageRouter) -> HealthReport:
    """Probes every account at once, so one slow region does not add to the others' wait."""
    accounts = router.accounts()
    with ThreadPoolExecutor(max_workers=len(accounts)) as pool:
        results = list(pool.map(_probe, accounts))
    control, *regional = results
    regions = {account.label: health for account, health in zip(accounts[1:], regional, strict=True)}
    healthy = control.reachable and all(h.reachable for h in regions.values())
    return HealthReport(status="ok" if healthy else "degraded", control=control, regions=regions)

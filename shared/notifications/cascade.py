"""What deleting an organisation takes with it beyond its own rows: notifications, devices, subjects."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.storage.router import AccountStorage

# The privacy area's part (the org's subject index entries and restriction flags), handed in by the
# composition root: privacy sits above notifications and is never imported from here.
ForgetOrgSubjects = Callable[["AccountStorage", str], None]


def org_cascade(account: AccountStorage, forget_subjects: ForgetOrgSubjects) -> Callable[[str], None]:
    """The cascade `OrgService.delete` runs for an org of `account`'s region, after its users and rules."""

    def cascade(org_id: str) -> None:
        from shared.notifications.devices import TABLE as DEVICES
        from shared.notifications.records import delete_org_notifications
        from shared.storage.tables import delete_partition

        delete_org_notifications(account, org_id)
        delete_partition(account.table(DEVICES), org_id)
        forget_subjects(account, org_id)

    return cascade

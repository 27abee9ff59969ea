"""A person's complaints and correspondence with a partner, as data-subject requests reach them: by
e-mail address, through the keyed `contactHash` both tables keep (never a scan for the address)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shared.models import ApiModel
from shared.privacy import complaints, correspondence

if TYPE_CHECKING:
    from shared.keys import KeyRing
    from shared.storage.router import AccountStorage

COMPLAINTS = "complaints"
CORRESPONDENCE = "correspondence"


class ContactRecords:
    """One region's complaint register and correspondence, for `SubjectData` (export and erasure)."""

    def __init__(self, account: AccountStorage, pepper: str, *, ring: KeyRing | None = None):
        self.account = account
        self.hasher = complaints.contact_hasher(pepper, ring)

    def records_for(self, partner_id: str, email: str) -> dict[str, list[dict[str, Any]]]:
        """Category -> the person's records, as the API shows them (for an export package)."""
        found: dict[str, Sequence[ApiModel]] = {
            COMPLAINTS: complaints.complaints_of(self.account, self.hasher, partner_id, email),
            CORRESPONDENCE: correspondence.threads_of(self.account, self.hasher, partner_id, email),
        }
        return {
            category: [record.model_dump(mode="json", by_alias=True) for record in records]
            for category, records in found.items()
            if records
        }

    def dependencies(self, partner_id: str | None = None) -> dict[str, dict[str, int]]:
        """Per table, how many rows depend on each pepper key id (see `complaints.contact_dependencies`)."""
        return {
            COMPLAINTS: complaints.contact_dependencies(self.account.table(complaints.TABLE), partner_id),
            CORRESPONDENCE: complaints.contact_dependencies(
                self.account.table(correspondence.TABLE), partner_id
            ),
        }

    def erase_subject(self, partner_id: str, email: str) -> dict[str, int]:
        """Blanks the person in their complaints, deletes their threads; counts of this run."""
        return {
            COMPLAINTS: complaints.erase_complainant(self.account, self.hasher, partner_id, email),
            CORRESPONDENCE: correspondence.erase_correspondent(self.account, self.hasher, partner_id, email),
        }

"""Invoices are administration records: kept 7 years (or the partner's 10) after the service ends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from shared.billing.invoices import TABLE
from shared.billing.numbering import claim_key, number_key, series_partition
from shared.privacy.retention import (
    ADMINISTRATION,
    AdministrationRecords,
    PartnerDataRule,
    PartnerRecord,
    SweepScope,
    delete_row,
)
from shared.storage import tables


class InvoiceRecords(PartnerDataRule):
    """A terminated partner's invoices, credit notes and billing details, with the rows that
    registered their numbers, on the date its other administration records go. The series'
    counter stays: it names no partner and the series goes on."""

    name = "billing.invoices"
    covers = (TABLE,)
    tested_by = "tests/integration/test_invoices.py::test_invoices_go_with_the_administration_records"

    def due(self, scope: SweepScope, partner: PartnerRecord) -> datetime | None:
        return AdministrationRecords().due(scope, partner)

    def items(self, scope: SweepScope, partner_id: str) -> Iterator[tuple[str, str, Any]]:
        table = scope.account.table(TABLE)
        found: list[tuple[str, str, Any]] = []
        series = series_partition(scope.region)
        for row in tables.query(table, tables.partition(partner_id), select=["RowKey", "number"]):
            row_key = str(row["RowKey"])
            found.append((f"2p/{row_key}", ADMINISTRATION, (partner_id, row_key)))
            number = row.get("number")
            if row_key.startswith("inv~") and number:
                invoice_id = row_key.removeprefix("inv~")
                found.append((f"1s/{invoice_id}/claim", ADMINISTRATION, (series, claim_key(invoice_id))))
                sequence = int(str(number).rsplit("-", 1)[-1])
                found.append((f"1s/{invoice_id}/number", ADMINISTRATION, (series, number_key(sequence))))
        # The series rows first, the invoice rows that name them after: a sweep cut off half-way
        # still finds the rest through the invoice rows next time.
        yield from sorted(found, key=lambda item: item[0])

    def remove(self, scope: SweepScope, partner_id: str, ref: Any) -> bool:
        partition, row_key = ref
        return delete_row(scope.account.table(TABLE), partition, row_key)

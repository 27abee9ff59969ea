"""Invoice numbers without gaps: one counter row per series, taken under its ETag together with the
number's register row, in one entity-group transaction.

Why no crash leaves a gap: a number is consumed only by the transaction that also writes the
register row naming the invoice it went to (and a claim row keyed by that invoice, so an invoice is
never numbered twice); the invoice's draft row exists before that transaction. Either all three
rows change or none does. A crash after the transaction leaves a numbered draft that the next close
of the partner finishes (`InvoiceService` reads the claim back), so every number taken belongs to
an invoice that is, or will be, issued. Two writers racing for the counter: one transaction wins,
the other's ETag no longer matches (412) and it reads the counter again.
"""

from __future__ import annotations

import contextlib
import random
import time
from typing import TYPE_CHECKING

from shared.storage import tablebatch, tables

if TYPE_CHECKING:
    from azure.data.tables import TableClient

SERIES_PREFIX = "~series~"  # partitions of the invoices table that hold a series, not a partner
_ATTEMPTS = 200


def series_partition(series: str) -> str:
    return f"{SERIES_PREFIX}{series}"


def number_key(number: int) -> str:
    return f"n~{number:09d}"


def claim_key(invoice_id: str) -> str:
    return f"claim~{invoice_id}"


def format_number(series: str, number: int) -> str:
    return f"{series.upper()}-{number:06d}"


class InvoiceNumbers:
    """One series' counter in one region's invoices table."""

    def __init__(self, table: TableClient, series: str):
        self.table = table
        self.series = series
        self.partition = series_partition(series)

    def get_claimed(self, invoice_id: str) -> int | None:
        """The number an invoice took, or None if it has none yet."""
        row = tables.get(self.table, self.partition, claim_key(invoice_id))
        return None if row is None else int(row["number"])

    def claim(self, partner_id: str, invoice_id: str) -> int:
        """The invoice's number: the one it took before, or the next of the series."""
        from azure.core.exceptions import ResourceExistsError

        for attempt in range(_ATTEMPTS):
            claimed = self.get_claimed(invoice_id)
            if claimed is not None:
                return claimed
            counter = tables.get(self.table, self.partition, "counter")
            if counter is None:
                with contextlib.suppress(ResourceExistsError):
                    self.table.create_entity({"PartitionKey": self.partition, "RowKey": "counter", "next": 1})
                continue
            number = int(counter["next"])
            try:
                tablebatch.submit(
                    self.table,
                    [
                        (
                            "update",
                            {"PartitionKey": self.partition, "RowKey": "counter", "next": number + 1},
                            counter.etag,
                        ),
                        (
                            "create",
                            {
                                "PartitionKey": self.partition,
                                "RowKey": number_key(number),
                                "partnerId": partner_id,
                                "invoiceId": invoice_id,
                            },
                        ),
                        (
                            "create",
                            {
                                "PartitionKey": self.partition,
                                "RowKey": claim_key(invoice_id),
                                "number": number,
                            },
                        ),
                    ],
                )
                return number
            except tablebatch.BatchRefusedError as error:
                if error.status_code not in (409, 412):
                    raise
            # Lost the race: a short, growing, jittered pause spreads the writers out again.
            time.sleep(random.uniform(0, min(0.05, 0.002 * (attempt + 1))))  # noqa: S311 - not a secret
        raise RuntimeError(f"invoice series {self.series} stayed contended")

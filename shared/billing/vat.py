"""Who issues a region's invoices and which VAT they charge: a small, explicit table, no guessing."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

# ISO 3166-1 alpha-2 codes of the EU member states (Greece is GR here; its VAT numbers start EL).
# fmt: off
EU_MEMBER_STATES = frozenset({
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
    "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
})
# fmt: on


@dataclass(frozen=True)
class Issuer:
    """The legal entity on a region's invoices; its numbering series is the region's."""

    name: str
    address: str
    country: str
    vat_number: str | None
    chamber_of_commerce: str | None
    vat_rate: Decimal  # its domestic standard rate, percent (0 where it charges no VAT)
    payment_details: str


# One issuing entity per region: a region's invoices are numbered in that region's account, so two
# regions never share a series (a series split across accounts could not be kept without gaps).
ISSUERS: dict[str, Issuer] = {
    "eu": Issuer(
        name="Tenantry B.V.",
        address="Herengracht 1, 1015 BA Amsterdam",
        country="NL",
        vat_number="NL000000000B01",
        chamber_of_commerce="00000000",
        vat_rate=Decimal("21"),
        payment_details="IBAN NL00 BANK 0000 0000 00, BIC BANKNL2A",
    ),
    "us": Issuer(
        name="Tenantry Inc.",
        address="1 Main Street, Wilmington, DE 19801",
        country="US",
        vat_number=None,
        chamber_of_commerce=None,
        vat_rate=Decimal("0"),
        payment_details="ACH routing 000000000, account 0000000000",
    ),
}


def issuer_for(region: str) -> Issuer:
    """A region without an entry of its own is invoiced by the EU entity (in a series of its own)."""
    return ISSUERS.get(region, ISSUERS["eu"])


class VatTreatment(StrEnum):
    DOMESTIC = "domestic"  # the issuer's own rate
    REVERSE_CHARGE = "reverseCharge"  # an EU business in another member state accounts for it
    OUTSIDE_SCOPE = "outsideScope"  # a customer outside the EU: no EU VAT
    NONE = "none"  # an issuer outside the EU charges no VAT


@dataclass(frozen=True)
class VatDecision:
    treatment: VatTreatment
    rate: Decimal  # percent
    note: str


def decide_vat(issuer: Issuer, *, country: str | None, business: bool, vat_number: str | None) -> VatDecision:
    """The VAT of one invoice, from the issuer's country and the customer's country and status."""
    if issuer.country not in EU_MEMBER_STATES:
        return VatDecision(VatTreatment.NONE, Decimal("0"), "No VAT charged.")
    domestic = VatDecision(
        VatTreatment.DOMESTIC, issuer.vat_rate, f"VAT {issuer.vat_rate}% ({issuer.country})."
    )
    # No country on file: the issuer's own VAT, the choice that never under-charges.
    if country is None or country == issuer.country:
        return domestic
    if country in EU_MEMBER_STATES:
        if business and vat_number:
            return VatDecision(
                VatTreatment.REVERSE_CHARGE,
                Decimal("0"),
                f"VAT reverse-charged: the customer ({vat_number}) accounts for the VAT "
                "(Article 196, Directive 2006/112/EC).",
            )
        # An EU customer without a VAT number is charged the issuer's rate (no OSS registration).
        return domestic
    return VatDecision(
        VatTreatment.OUTSIDE_SCOPE, Decimal("0"), "Outside the scope of EU VAT: customer outside the EU."
    )


def cents(amount: Decimal) -> int:
    """Whole cents, half away from zero (so a credit note rounds as its invoice did)."""
    return int(amount.quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def vat_cents(subtotal_cents: int, rate: Decimal) -> int:
    return cents(Decimal(subtotal_cents) * rate / Decimal(100))

"""The record of processing activities (GDPR Art. 30) and the sub-processor list, from declarations.

Nothing here is written by hand per table: every activity is one catalogue entry, so a table added
to the catalogue appears in the record the moment it exists, and one that is not declared cannot
be written at all (the router refuses it).
"""

from __future__ import annotations

import hashlib
import json

from shared.models import ApiModel
from shared.settings import Subprocessor
from shared.storage.catalogue import CATALOGUE, StoredData

# Who the data is about, per data category (the catalogue's words).
_SUBJECTS: dict[str, tuple[str, ...]] = {
    "personnel data": ("the partner's personnel",),
    "personnel data (contact person)": ("the partner's contact person",),
    "personnel data (contact point)": ("the operator's or partner's contact point",),
    "billing/administration records": ("the partner's contact person",),
    "event / audit logs": ("the partner's personnel", "end users named in an event"),
    "end-user data": ("end users of customer tenants",),
    "device information": ("Dynamics users",),
    "push device ids": ("Dynamics users",),
    "notification metadata": ("Dynamics users",),
    "marketing contacts": ("newsletter subscribers",),
    "consent revocations": ("newsletter subscribers",),
    "breach register": ("data subjects affected by a breach (numbers only)",),
    "data-subject requests": ("data subjects whose requests a partner files",),
}

# Categories about customers' end users: the customer tenant is the controller, the partner its
# processor, Tenantry's operator the sub-processor. Everything else is about the partner and its
# people, for which the operator is the controller.
_END_USER_WORDS = ("end-user", "device", "push", "notification", "data-subject")

# Stored in the region; what a push carries leaves it through Firebase, a global service.
_PUSH_TRANSFER = (
    "Kept in the partner's chosen region; each push (device token, title, body) goes to Firebase Cloud "
    "Messaging (Google, global) only once the partner approved that transfer for its organisations "
    "(see the partner's record: GET /api/partners/{partnerId}/privacy/processing-activities)."
)

SECURITY_MEASURES = (
    "One storage account per region; a stamp holds the credentials of its own region only.",
    "Storage reached with a managed identity only: shared keys and public blob access disabled.",
    "Encryption at rest twice (service and infrastructure), TLS 1.2+ in transit.",
    "API keys stored as peppered hashes; secrets in Key Vault.",
    "Tamper-evident, hash-chained audit log of every change.",
    "Client IP addresses anonymised before storage; logs carry no bodies, tokens or secrets.",
    "Retention kept by daily sweeps that drop whole monthly log tables after 24 months.",
)


class Activity(ApiModel):
    store: str
    kind: str
    placement: str
    categories: list[str]
    data_subjects: list[str]
    role: str
    purpose: str
    legal_basis: str
    retention: str
    recipients: list[str]
    transfers: str


class ProcessingRecord(ApiModel):
    controller_role: str
    processor_role: str
    activities: list[Activity]
    security_measures: list[str]
    catalogue_version: str


class SubprocessorOut(ApiModel):
    name: str
    service: str
    purpose: str
    location: str


class RegionSubprocessors(ApiModel):
    region: str
    subprocessors: list[SubprocessorOut]


class SubprocessorList(ApiModel):
    items: list[RegionSubprocessors]


def _role(entry: StoredData) -> str:
    if any(word in category for category in entry.categories for word in _END_USER_WORDS):
        return "sub-processor (the customer tenant is the controller, the partner its processor)"
    return "controller"


def _activity(entry: StoredData) -> Activity:
    subjects: list[str] = []
    for category in entry.categories:
        for subject in _SUBJECTS.get(category, ()):
            if subject not in subjects:
                subjects.append(subject)
    regional = entry.placement.value == "regional"
    return Activity(
        store=entry.name + ("<yyyymm>" if entry.bucketed else ""),
        kind=entry.kind.value,
        placement=entry.placement.value,
        categories=list(entry.categories),
        data_subjects=subjects or ["none (holds no personal data)"],
        role=_role(entry),
        purpose=entry.purpose,
        legal_basis=entry.legal_basis,
        retention=entry.retention,
        recipients=["the partner (through the API)", "sub-processors listed for the region"],
        transfers=(
            _PUSH_TRANSFER
            if any(word in c for c in entry.categories for word in ("push", "notification"))
            else "None: kept in the storage account of the partner's chosen region."
            if regional
            else "None: the control account of the global part, holding no personal data."
        ),
    )


def catalogue_version() -> str:
    """Changes whenever any declaration changes, so a partner can tell the record moved."""
    text = json.dumps([entry.__dict__ for entry in CATALOGUE], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def processing_record() -> ProcessingRecord:
    return ProcessingRecord(
        controller_role=(
            "Tenantry's operator is the controller of the partner's own records (account, personnel, "
            "billing, audit) and a sub-processor for its customers' end-user data."
        ),
        processor_role=(
            "For end-user data the customer tenant is the controller and the partner its processor; "
            "Tenantry never answers a data subject directly."
        ),
        activities=[_activity(entry) for entry in CATALOGUE],
        security_measures=list(SECURITY_MEASURES),
        catalogue_version=catalogue_version(),
    )


def subprocessors_by_region(
    regions: tuple[str, ...], subprocessors: tuple[Subprocessor, ...]
) -> SubprocessorList:
    return SubprocessorList(
        items=[
            RegionSubprocessors(
                region=region,
                subprocessors=[
                    SubprocessorOut(name=s.name, service=s.service, purpose=s.purpose, location=s.location)
                    for s in subprocessors
                    if not s.regions or region in s.regions
                ],
            )
            for region in regions
        ]
    )

"""How a data subject's rights reach each catalogue entry holding personal data: the declaration a
test holds against the storage catalogue (tests/unit/test_subject_reach.py).

Every entry of `shared/storage/catalogue.py` that may hold data about a person has a row here:
either the subject categories (`shared.privacy.subjects.Category`) under which the subject index
finds it, the export carries it and the erasure certificate counts it, or the path that reaches it
instead (Tenantry's own data as controller, a short lifetime, a key destroyed). A new personal
table without a row fails that test, so it cannot ship unreachable.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reach:
    """`categories`: the subject categories that export and erase the entry's rows; `path`: how the
    entry is reached otherwise (or besides), in words a record of processing can quote."""

    categories: tuple[str, ...] = ()
    path: str = ""


_CONTROLLER = (
    "Tenantry's own data as controller: an operator-handled request (POST /api/privacy/controller-requests),"
    " on the same 30-day clock."
)

REACH: dict[str, Reach] = {
    "partners": Reach(path=_CONTROLLER + " The partner's contact person."),
    "personnel": Reach(path=_CONTROLLER + " The partner's people."),
    "apikeys": Reach(path=_CONTROLLER + " Who created a key is named by a person id only."),
    "apicalls": Reach(
        path=_CONTROLLER + " Resolving an erasure of a partner's person blanks their calls (erase_caller)."
    ),
    "sessionevents": Reach(
        path=_CONTROLLER
        + " Resolving an erasure of a partner's person deletes their sessions (erase_caller)."
    ),
    "breaches": Reach(path=_CONTROLLER + " The partner's contact point for breaches."),
    "events": Reach(categories=("auditEvents",), path="Crypto-shredded: the subject's key is destroyed."),
    "idempotency": Reach(path="Sealed first answers of a create, kept 24 hours (their own sweep)."),
    "privacyrequests": Reach(path="The identifier is blanked when an erasure completes; a keyed hash stays."),
    "complaints": Reach(categories=("complaints",)),
    "correspondence": Reach(categories=("correspondence",)),
    "tenantusers": Reach(categories=("tenantUser",)),
    "tenantdirgroups": Reach(categories=("tenantGroupMemberships",)),
    "reportrows": Reach(categories=("reportRows",)),
    "tenantsnapshots": Reach(categories=("tenantConfigurationSnapshots",)),
    "tenantbaselines": Reach(categories=("tenantBaselineMentions",)),
    "tenantlifecycle": Reach(categories=("offboardingOperations", "offboardingHandovers")),
    "subjectindex": Reach(path="Index entries: read to find the subject, deleted with the subject's rows."),
    "subjectkeys": Reach(path="The subject's sealing key: destroyed on erasure (crypto-shredding)."),
    "subjectflags": Reach(categories=("restriction",)),
    "privacyexports": Reach(
        path="The subject's own access packages, behind short-lived links; their lifetime rule."
    ),
    "partnerexports": Reach(
        path="The partner's data-return package at the end of the service; its lifetime rule."
    ),
    "orgs": Reach(
        path=(
            "The organisation's administrators are business contacts the partner pushes and replaces"
            " (PUT .../orgs/{orgId}); they go with the organisation."
        )
    ),
    "orgusers": Reach(categories=("orgUser",)),
    "devices": Reach(categories=("devices",)),
    "notifications": Reach(categories=("notificationRecipients",)),
    "notifydeliveries": Reach(categories=("notificationDeliveries",)),
    "notifypayloads": Reach(
        path="Transient content of a fan-out, deleted when it is done (its lifetime rule)."
    ),
    "notifyfanout": Reach(path="Queue messages carry ids only; gone when handled."),
    "consentcontacts": Reach(categories=("consents",)),
    "consentledger": Reach(categories=("consents",), path="The revocation proof is kept (Art. 7(1))."),
    "consentoutbox": Reach(categories=("consents",)),
    "consentthrottle": Reach(path="Keyed hashes of anonymised networks and addresses, kept minutes."),
    "alertsubscriptions": Reach(categories=("alertRecipients",)),
    "alertdeliveries": Reach(
        path="Alert content names tenants, settings and ids; the receiver is the subscription's."
    ),
}

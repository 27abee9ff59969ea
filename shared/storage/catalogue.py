"""The one declaration of every table, blob container and queue Tenantry writes, and why."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class StorageKind(StrEnum):
    TABLE = "table"
    CONTAINER = "container"
    QUEUE = "queue"


class Placement(StrEnum):
    CONTROL = "control"  # the control account: the partner directory, nothing personal
    REGIONAL = "regional"  # the account of the partner's chosen region


@dataclass(frozen=True)
class StoredData:
    """One place we keep data, with what a record of processing activities needs to say about it."""

    name: str
    kind: StorageKind
    placement: Placement
    categories: tuple[str, ...]
    purpose: str
    legal_basis: str
    retention: str
    # Time-bucketed tables are named `<name><yyyymm>` so retention drops whole buckets.
    bucketed: bool = False


CATALOGUE: tuple[StoredData, ...] = (
    StoredData(
        name="partnerdirectory",
        kind=StorageKind.TABLE,
        placement=Placement.CONTROL,
        categories=("partner routing",),
        purpose="Route each partner's requests to the storage of the region it chose, and find the "
        "partners of a signed-in person's Entra tenant (a row per partner under `tenant-<tid>`).",
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract",
        retention="While the partner exists (both rows go with its administration records); holds no "
        "personal data.",
    ),
    StoredData(
        name="plans",
        kind=StorageKind.TABLE,
        placement=Placement.CONTROL,
        categories=("billing/administration records",),
        purpose="The operator's catalogue of plans and prices, every version kept (what a partner was told).",
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract",
        retention="Kept while any partner's administration records may cite it (7 years, 10 on request).",
    ),
    StoredData(
        name="partners",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("billing/administration records", "personnel data (contact person)"),
        purpose="The partner's account and subscription: plan, limits, billing cycle, contact person.",
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract; Art. 6(1)(c) for records kept",
        retention="7 years after the service ends (the partner may set 10); the contact with personnel data.",
    ),
    StoredData(
        name="personnel",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("personnel data",),
        purpose="Who at the partner may sign in, with which role and tenant scope.",
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract",
        retention="Until the subscription ends, then 24 more months.",
    ),
    StoredData(
        name="apikeys",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("configuration", "personnel data (who created the key)"),
        purpose=(
            "The partner's API keys: name, scopes, tenant scope, expiry, who created them (person or"
            " key id and role, so only an owner manages an owner's key) and a peppered hash (never the"
            " secret)."
        ),
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract",
        retention="Until the subscription ends, then 24 more months (with personnel data).",
    ),
    StoredData(
        name="tenantgroups",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("configuration",),
        purpose="Named groups of customer tenants that limit what people and keys may see.",
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract",
        retention="Until the subscription ends, then 24 more months (with personnel data).",
    ),
    StoredData(
        name="events",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("event / audit logs",),
        purpose="Who changed what and when, tamper-evident, for the partner's and our accountability.",
        legal_basis="Art. 6(1)(c) and (f) GDPR: accountability and security of processing",
        retention="24 months after creation, even after tenant removal (whole monthly tables dropped).",
        bucketed=True,
    ),
    StoredData(
        name="auditanchors",
        kind=StorageKind.CONTAINER,
        placement=Placement.REGIONAL,
        categories=("event / audit log integrity (hashes of chain heads; no event content)",),
        purpose="Each audit lane's head (partner, month, lane, seq, MAC, event id), appended per day to a "
        "write-once blob, so an edited or cut-off log is found (shared/audit/anchors.py).",
        legal_basis="Art. 6(1)(c) and (f) GDPR: accountability and security of processing",
        retention="Immutable for 25 months (time-based policy, protected appends only), like the log.",
    ),
    StoredData(
        name="auditverify",
        kind=StorageKind.QUEUE,
        placement=Placement.REGIONAL,
        categories=("job references (ids only)",),
        purpose="Steps of long audit-log verifications to run: partner and verification ids.",
        legal_basis="Art. 6(1)(c) and (f) GDPR: accountability and security of processing",
        retention="Until the step ran (queue messages live at most 7 days).",
    ),
    StoredData(
        name="usage",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("billing/administration records",),
        purpose=(
            "Billable units per partner per month, a row per unit of work (tenants a day, API calls, "
            "notifications sent, devices registered, data-subject requests handled)."
        ),
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract",
        retention="7 years after the service ends (the partner may set 10).",
    ),
    StoredData(
        name="apicalls",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("API call logs", "personnel data"),
        purpose=(
            "The partner's log of its own API calls: time, method, route template, status, fault "
            "(problem type and title), duration, the calling key's or person's id and the anonymised "
            "network; never a body, query, credential or the path's ids."
        ),
        legal_basis="Art. 6(1)(b) and (f) GDPR: performance of the partner contract; security of processing",
        retention="90 days: a partner's day goes whole on the 91st day after it.",
    ),
    StoredData(
        name="sessionevents",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("personnel data",),
        purpose=(
            "Session events for the partner's owners: each person's sign-in (first use of a token) and "
            "each API key's first use of a day, with the last use seen, the first route and the "
            "anonymised network."
        ),
        legal_basis="Art. 6(1)(f) GDPR: security of processing (the partner's oversight of access)",
        retention="90 days: a partner's day goes whole on the 91st day after it.",
    ),
    StoredData(
        name="idempotency",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("API responses (may hold personal data and secrets shown once), sealed",),
        purpose=(
            "The first answer to a create request sent with an Idempotency-Key, so a client's retry"
            " gets it again instead of creating twice; sealed (AES-GCM), keyed by a hash of the key."
        ),
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract",
        retention="24 hours after the first request.",
    ),
    StoredData(
        name="invoices",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("billing/administration records",),
        purpose=(
            "The partner's invoices and credit notes (lines, VAT, status), its billing details (legal "
            "name, address, VAT and chamber-of-commerce numbers) and the region's gap-free number series."
        ),
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract; Art. 6(1)(c): kept by law",
        retention="7 years after the service ends (the partner may set 10); the series counter names no one.",
    ),
    StoredData(
        name="privacysettings",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("billing/administration records",),
        purpose="The partner's privacy choices, such as how long its administration records are kept.",
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract",
        retention="With the partner's administration records: 7 years after the service ends (or 10).",
    ),
    StoredData(
        name="keyrewraps",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("operational records (no personal data)",),
        purpose="Where the region's re-keying job stands (a table's cursor), so a run cut short resumes "
        "(shared/storage/rekeying.py).",
        legal_basis="Art. 32 GDPR: security of processing (keys that rotate)",
        retention="One row per table being re-keyed, removed when its pass completes.",
    ),
    StoredData(
        name="privacysweeps",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("operational records (no personal data)",),
        purpose="Where the region's retention sweep stands (run, rule, cursor, counts), so it resumes.",
        legal_basis="Art. 5(1)(e) and 5(2) GDPR: storage limitation and accountability",
        retention="One row per region, replaced on every run and removed when a run completes.",
    ),
    StoredData(
        name="breaches",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("breach register", "personnel data (contact point)"),
        purpose="The register of personal-data breaches and the partners each one affects (Art. 33(5)).",
        legal_basis="Art. 6(1)(c) GDPR with Art. 33(5): documenting breaches",
        retention="While the region's stamp runs: the documentation a supervisory authority may ask for; "
        "a terminated partner's index rows 24 months after its service ended.",
    ),
    StoredData(
        name="privacyrequests",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=(
            "data-subject requests (identifier while open, keyed hash, verification, outcome)",
            "personnel data (who verified and approved)",
        ),
        purpose="Data-subject requests the partner files for its customers: lifecycle, deadline, evidence.",
        legal_basis="Art. 28(3)(e) GDPR: assisting the controller with Art. 12-22 requests; Art. 5(2)",
        retention=(
            "Until 24 months after the subscription ends; the subject's identifier goes when an erasure"
            " of that subject completes (the keyed hash and certificate stay as evidence)."
        ),
    ),
    StoredData(
        name="complaints",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=(
            "complaint register (dates, channel, subject, answer, outcome)",
            "contact persons (complainant's name, e-mail, phone; keyed hash of the e-mail)",
        ),
        purpose="The partner's register of complaints about its service, each with its 4-week answer "
        "deadline, watched like data-subject deadlines.",
        legal_basis="Art. 6(1)(b) and (c) GDPR: handling complaints as the partner's terms promise",
        retention="24 months after a complaint is closed (or answered); a terminated partner's, open ones "
        "too, 24 months after its service ended. An erasure request blanks the complainant at once.",
    ),
    StoredData(
        name="correspondence",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("contact correspondence (contact person's name, e-mail, phone; message bodies)",),
        purpose="The partner's messages with a contact person, grouped in threads, until the "
        "correspondence is concluded.",
        legal_basis="Art. 6(1)(b) and (f) GDPR: the correspondence the contact person started or answered",
        retention="30 days after the thread is concluded; an open thread 12 months after its last "
        "activity (abandoned). An erasure request deletes the person's threads at once.",
    ),
    StoredData(
        name="privacyjobs",
        kind=StorageKind.QUEUE,
        placement=Placement.REGIONAL,
        categories=("data-subject requests (ids only)",),
        purpose="Execution jobs of approved data-subject requests: partner and request ids only.",
        legal_basis="Art. 28(3)(e) GDPR: assisting the controller with Art. 12-22 requests",
        retention="Until the job ran (queue messages live at most 7 days).",
    ),
    StoredData(
        name="tenants",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("configuration",),
        purpose="The partner's customer tenants: name, status, sync state, counts, a credential reference.",
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract",
        retention="While the tenant is managed; deleted when the partner removes it.",
    ),
    StoredData(
        name="tenantclaims",
        kind=StorageKind.TABLE,
        placement=Placement.CONTROL,
        categories=("partner routing",),
        purpose="Which partner holds each proven customer tenant (tenant id -> partner id, region, "
        "how it was proven), so that one partner at a time manages it.",
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract",
        retention="While the partner holds the tenant; released when it removes the tenant or "
        "another partner proves it after the holder's proof is gone. Holds no personal data.",
    ),
    StoredData(
        name="adminconsents",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("configuration",),
        purpose="Pending administrator sign-ins that prove a tenant (nonce, PKCE verifier, the tenant "
        "and who asked), and the partner's connected Entra tenant with its consent time.",
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract",
        retention="A pending sign-in until used or for at most a day (sweep); the connection until "
        "the subscription ends, then 24 more months.",
    ),
    StoredData(
        name="tenantsyncs",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("configuration",),
        purpose="Status resources of tenant syncs: state, counts, timings, error (no personal data).",
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract",
        retention="While the tenant is managed; deleted when the partner removes it.",
    ),
    StoredData(
        name="tenantusers",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("end-user data (synced from Microsoft 365)",),
        purpose="The tenant's users as Graph reports them (name, UPN, mail, licences), for the partner.",
        legal_basis="Art. 28 GDPR: processing on the partner's behalf (controller: the customer tenant)",
        retention="While the tenant is active; deleted when the partner removes the tenant.",
    ),
    StoredData(
        name="tenantdirgroups",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("end-user data (synced from Microsoft 365)",),
        purpose="The tenant's groups and their members (user ids), for membership management.",
        legal_basis="Art. 28 GDPR: processing on the partner's behalf (controller: the customer tenant)",
        retention="While the tenant is active; deleted when the partner removes the tenant.",
    ),
    StoredData(
        name="tenantbaselines",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("configuration", "end-user data (ids of the tenant's users)"),
        purpose="Baseline check results per tenant and the partner's baseline settings.",
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract",
        retention="Results while the tenant is managed; settings until the subscription ends, then 24 "
        "more months (with personnel data).",
    ),
    StoredData(
        name="reportrows",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("end-user data (synced from Microsoft 365)",),
        purpose="Reports kept at sync time (MFA registration, sign-in activity, licences, role holders, "
        "Secure Score, guests) and the end-user search index (UPN, mail, display name), for the partner.",
        legal_basis="Art. 28 GDPR: processing on the partner's behalf (controller: the customer tenant)",
        retention="Derived from the tenant's data: rewritten by sync, removed with the user, with the tenant "
        "when the partner removes it, and at the subscription's end.",
    ),
    StoredData(
        name="tenantsnapshots",
        kind=StorageKind.CONTAINER,
        placement=Placement.REGIONAL,
        categories=("end-user data (synced from Microsoft 365)",),
        purpose="A tenant's configuration per sync (licences, domains, roles, policies), for drift.",
        legal_basis="Art. 28 GDPR: processing on the partner's behalf (controller: the customer tenant)",
        retention="The latest 10 per tenant, and those a drift event compares for as long as the event (24 "
        "months); all of a tenant's when it is removed or its partner's subscription ends.",
    ),
    StoredData(
        name="tenantlifecycle",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("end-user data (ids of the tenant's users)", "configuration"),
        purpose="Offboarding operations (status per step, what was removed, the automatic reply's text, "
        "the colleague handed the OneDrive) and the tenant's new-user template (licences, groups); "
        "never a password.",
        legal_basis="Art. 28 GDPR: processing on the partner's behalf (controller: the customer tenant)",
        retention=(
            "While the tenant is managed; deleted when the partner removes it or the subscription ends."
        ),
    ),
    StoredData(
        name="standardassignments",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("configuration",),
        purpose="Standards the partner assigned to tenants or tenant groups: version, mode, schedule, "
        "the period last run.",
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract",
        retention="Until the partner deletes it or the subscription ends, then 24 more months.",
    ),
    StoredData(
        name="standardruns",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("configuration",),
        purpose="Runs of a standard over many tenants as long operations: progress and findings per "
        "tenant (settings, not people).",
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract",
        retention="90 days after the run was created; the compliance rows keep the latest findings.",
    ),
    StoredData(
        name="standardrun",
        kind=StorageKind.QUEUE,
        placement=Placement.REGIONAL,
        categories=("configuration",),
        purpose="One message per standard run to start or resume: partner and run ids only.",
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract",
        retention="7 days (the message's time-to-live); the run resumes from its stored progress.",
    ),
    StoredData(
        name="tenantoffboard",
        kind=StorageKind.QUEUE,
        placement=Placement.REGIONAL,
        categories=("configuration",),
        purpose="One message per offboarding to run or resume: partner, tenant and operation ids only.",
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract",
        retention="Until the operation ran (queue messages live at most 7 days).",
    ),
    StoredData(
        name="tenantsync",
        kind=StorageKind.QUEUE,
        placement=Placement.REGIONAL,
        categories=("configuration",),
        purpose="One message per tenant sync to run: partner, tenant and sync ids only.",
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract",
        retention="Until the sync ran (queue messages live at most 7 days).",
    ),
    # --- Data subjects (shared/privacy/subjects/) ----------------------------------------------
    StoredData(
        name="subjectindex",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("end-user data (keyed hashes of email/UPN, phone and ids; the user's id)",),
        purpose="Find one data subject's rows (by email, UPN, phone, devices) without scanning tables.",
        legal_basis="Art. 28 GDPR with Art. 12 and 15-22: answering data-subject requests for the controller",
        retention="Follows the rows it points to: rewritten by sync, removed with the user, tenant or org.",
    ),
    StoredData(
        name="subjectkeys",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("cryptographic keys (per data subject, wrapped)",),
        purpose="Per-subject keys sealing personal fields of audit events; erasure destroys them.",
        legal_basis="Art. 32 and 17 GDPR: security of processing and erasure of what must be kept",
        retention="Until the subject's erasure, or 24 months after the month it last sealed an event (with "
        "the events it seals).",
    ),
    StoredData(
        name="subjectflags",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("data-subject requests (restriction/objection flags, erasure journals)",),
        purpose="Who restricted or objected (notifications and exports skip them); erasure progress.",
        legal_basis="Art. 6(1)(c) GDPR with Art. 17, 18 and 21: erasure, restriction and objection",
        retention="Flags while the restriction holds; an erasure's journal (counts) with its request.",
    ),
    StoredData(
        name="privacyexports",
        kind=StorageKind.CONTAINER,
        placement=Placement.REGIONAL,
        categories=("end-user data (access/portability packages)",),
        purpose="The JSON package of everything held on a subject, fetched by a short-lived signed link.",
        legal_basis="Art. 28 GDPR with Art. 15 and 20: access and portability for the controller",
        retention="7 days (storage lifecycle deletes the blob; the retention sweep where none runs).",
    ),
    StoredData(
        name="partnerexports",
        kind=StorageKind.CONTAINER,
        placement=Placement.REGIONAL,
        categories=(
            "all of a partner's data (data-return packages at the end of the service)",
            "job state of building one",
        ),
        purpose="The partner's data-return package (JSON Lines per category, manifest), fetched by a "
        "short-lived signed link; the job's progress beside it.",
        legal_basis="Art. 28(3)(g) GDPR: return of the personal data at the end of the processing",
        retention="30 days (storage lifecycle deletes the blobs; the retention sweep where none runs).",
    ),
    StoredData(
        name="partnerexport",
        kind=StorageKind.QUEUE,
        placement=Placement.REGIONAL,
        categories=("job references (ids only)",),
        purpose="Builds of data-return packages to run: partner and job ids.",
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract",
        retention="Until the job ran (queue messages live at most 7 days).",
    ),
    # --- Dynamics 365 push notifications (shared/notifications/) ---------------------------------
    StoredData(
        name="orgdirectory",
        kind=StorageKind.TABLE,
        placement=Placement.CONTROL,
        categories=("partner routing",),
        purpose="The claim on a Dynamics 365 organisation id (org id -> the partner that proved it, "
        "region), taken by its first authenticated delivery; routes its webhook and device calls.",
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract",
        retention="While the organisation is registered; holds no personal data.",
    ),
    StoredData(
        name="orgpending",
        kind=StorageKind.TABLE,
        placement=Placement.CONTROL,
        categories=("partner routing",),
        purpose="Registrations of a Dynamics 365 organisation id not proven yet (org id, partner id -> "
        "region), so its first delivery finds the registration its key belongs to.",
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract",
        retention="Until the registration is proven or deleted; holds no personal data.",
    ),
    StoredData(
        name="orgs",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("billing/administration records", "end-user data (system administrators)"),
        purpose="Registered Dynamics 365 organisations: business details, administrators, secret hashes.",
        legal_basis="Art. 28 GDPR: processing on the partner's behalf (controller: the customer)",
        retention="While the organisation is registered; deleted with it, or at a terminated partner's "
        "end-user date.",
    ),
    StoredData(
        name="orgusers",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("end-user data (Dynamics system users)",),
        purpose="The organisation's system users (id, names, email, phone, Entra object id), to address "
        "notifications and to check that a device is registered by its own user.",
        legal_basis="Art. 28 GDPR: processing on the partner's behalf (controller: the customer)",
        retention="While the organisation is registered; deleted with it, or at a terminated partner's "
        "end-user date.",
    ),
    StoredData(
        name="orgrules",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("configuration",),
        purpose="Which Dataverse events notify whom, with which title and body templates.",
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract",
        retention="While the organisation is registered; deleted with it, or at a terminated partner's "
        "end-user date.",
    ),
    StoredData(
        name="devices",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("push device ids (Firebase instance ID + browser footprint)",),
        purpose="Push targets of system users: token or installation id and footprint, encrypted.",
        legal_basis="Art. 28 GDPR: processing on the partner's behalf (controller: the customer)",
        retention="Until unsubscribe (wiped at once; the tombstone leaves within 30 days).",
    ),
    StoredData(
        name="notifications",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("notification metadata",),
        purpose="What was notified to whom and when (never a title or body), and webhook idempotency.",
        legal_basis="Art. 28 GDPR: processing on the partner's behalf (controller: the customer)",
        retention="90 days after it was accepted (the partner may set 30 to 365 in its privacy settings); "
        "deleted with the organisation (no message body ever stored).",
    ),
    StoredData(
        name="notifydeliveries",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("notification metadata",),
        purpose="Per device: sent date, delivery date, Firebase message id or failure reason.",
        legal_basis="Art. 28 GDPR: processing on the partner's behalf (controller: the customer)",
        retention="With its notification: 90 days (the partner's 30 to 365); deleted with the organisation.",
    ),
    StoredData(
        name="notifypayloads",
        kind=StorageKind.CONTAINER,
        placement=Placement.REGIONAL,
        categories=("transient notification content",),
        purpose="The encrypted title, body and link of a notification while it is being sent.",
        legal_basis="Art. 28 GDPR: processing on the partner's behalf (controller: the customer)",
        retention="Deleted when sending completes; storage (and the retention sweep) deletes any left "
        "after 1 day.",
    ),
    StoredData(
        name="notifyfanout",
        kind=StorageKind.QUEUE,
        placement=Placement.REGIONAL,
        categories=("notification metadata",),
        purpose="Fan-out jobs: partner, organisation, notification and shard ids only.",
        legal_basis="Art. 28 GDPR: processing on the partner's behalf (controller: the customer)",
        retention="Until the job ran (queue messages live at most 7 days).",
    ),
    # --- Consent ledger (shared/privacy/consent.py): the partner's newsletter consents ----------
    StoredData(
        name="consentcontacts",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("marketing contacts",),
        purpose="Name, email and phone of people who asked for a partner's newsletter (double opt-in).",
        legal_basis="Art. 6(1)(a) GDPR: consent (Art. 28 processing for the partner, the controller)",
        retention="Until consent is withdrawn (deleted at once); unconfirmed ones when the link expires; "
        "a terminated partner's at its end-user date.",
    ),
    StoredData(
        name="consentledger",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("consent revocations", "consent records (keyed hash of the address, purpose, time)"),
        purpose="Proof of every consent granted and withdrawn: who (a keyed hash), what purpose, when, how.",
        legal_basis="Art. 6(1)(c) GDPR with Art. 7(1): demonstrating consent",
        retention="While the consent stands; after a withdrawal its records stay 3 years, then go; a "
        "terminated partner's at its end-user date.",
    ),
    StoredData(
        name="consentoutbox",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("marketing contacts (reference only)",),
        purpose="Confirmation messages the partner's mailer must send: a contact reference, never a token.",
        legal_basis="Art. 6(1)(a) GDPR: consent (collecting it by double opt-in)",
        retention="Until the mailer acknowledges it, at most 48 hours (the confirmation link's life).",
    ),
    StoredData(
        name="consentthrottle",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("rate-limit counters (keyed hashes of anonymised networks, addresses and device keys)",),
        purpose="Rate limits of the public consent endpoints and of device registration (per device "
        "key), shared by every instance of the app.",
        legal_basis="Art. 6(1)(f) GDPR: security of processing (abuse of public endpoints)",
        retention="2 days after the counter's window ends.",
    ),
    StoredData(
        name="alertsubscriptions",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("configuration", "personnel data (e-mail recipients)"),
        purpose="Where a partner's alerts go: channel, sealed receiver URL and signing secrets, filters, "
        "e-mail recipients.",
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract",
        retention="Until the partner deletes it; after the service ends, with the personnel data.",
    ),
    StoredData(
        name="alertdeliveries",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("configuration", "alert content (tenant, setting, ids; no receiver answer)"),
        purpose="The delivery log per subscription: each alert's content, state, attempts, response codes, "
        "latency (never the body of a receiver's answer).",
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract",
        retention="30 days after the alert (the alerts delivery-log rule of the retention sweep).",
    ),
    StoredData(
        name="alertconditions",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("configuration",),
        purpose="Open alert conditions (one per condition and tenant): each alerts once until it clears.",
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract",
        retention="Until the condition clears, or the tenant's data goes with the subscription's end.",
    ),
    StoredData(
        name="notices",
        kind=StorageKind.TABLE,
        placement=Placement.CONTROL,
        categories=("service notices (no personal data)",),
        purpose="Maintenance windows and policy or price changes the operator announced to partners.",
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract",
        retention="90 days after the window ends or the change takes effect.",
    ),
    StoredData(
        name="poisonmessages",
        kind=StorageKind.TABLE,
        placement=Placement.REGIONAL,
        categories=("queue failure records (ids only, and error types; no message content)",),
        purpose="Why a queue message was given up on after its last attempt (queue, message id, error "
        "type, a short redacted reason), per partner the message named, else a system partition.",
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract",
        retention="30 days after the message was given up on.",
    ),
    StoredData(
        name="alertevents",
        kind=StorageKind.QUEUE,
        placement=Placement.REGIONAL,
        categories=("event references (ids only)",),
        purpose="Recorded events the alert rules read: partner id, event table and row key.",
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract",
        retention="Until the job ran (queue messages live at most 7 days).",
    ),
    StoredData(
        name="alertsend",
        kind=StorageKind.QUEUE,
        placement=Placement.REGIONAL,
        categories=("delivery references (ids only)",),
        purpose="First attempts of alert deliveries: partner, subscription and delivery ids.",
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract",
        retention="Until the job ran (queue messages live at most 7 days).",
    ),
    StoredData(
        name="alertretry",
        kind=StorageKind.QUEUE,
        placement=Placement.REGIONAL,
        categories=("delivery references (ids only)",),
        purpose="Retries of alert deliveries (and attempts for failing receivers), delayed: ids only.",
        legal_basis="Art. 6(1)(b) GDPR: performance of the partner contract",
        retention="Until the job ran (queue messages live at most 7 days).",
    ),
)


class UndeclaredStorageError(LookupError):
    """Code tried to write somewhere the catalogue does not declare."""


def declared(kind: StorageKind, name: str) -> StoredData:
    """The catalogue entry for a concrete table/container/queue name, or UndeclaredStorageError."""
    for entry in CATALOGUE:
        if entry.kind is not kind:
            continue
        if not entry.bucketed and entry.name == name:
            return entry
        suffix = name[len(entry.name) :]
        if entry.bucketed and name.startswith(entry.name) and len(suffix) == 6 and suffix.isdigit():
            return entry
    raise UndeclaredStorageError(f"{kind.value} {name!r} is not declared in the storage catalogue")

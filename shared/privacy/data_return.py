"""The partner's data at the end of the service: the data-return package, built as a resumable long operation.

What goes in: every regional table of the storage catalogue (`returned_categories`) except those
in `NOT_RETURNED`, read from every region's account, one JSON Lines file per catalogue entry:
rows whose PartitionKey starts with the partner id, or (`ORG_KEYED`) whose PartitionKey is one of
the partner's organisations, or (`NOTIFICATION_KEYED`, the delivery outcomes) one of the
notifications of those organisations. Rows come as the Table service's JSON has them (typed values
keep their `<name>@odata.type` annotation, so a restore can write them back as they were);
columns that hold secrets or sealed values (`_SECRET_MARKERS`) are left out. Then every regional
blob container in `RETURNED_CONTAINERS` (those in `NOT_RETURNED_CONTAINERS` say why not): the
partner's blobs (named `<partner id>/...`), one JSON Lines file per container,
`blobs/<container>.jsonl`, a blob per line with its name, metadata, size and SHA-256 and its
content as text (`_BlobCopy`). One file per container rather than a file per blob: a package is
JSON Lines per category with one signed link per file, whatever the number of blobs, and the job's
state stays small. `manifest.json` lists each file with its row (or blob) count, byte count and
SHA-256.

How it is built: the job's state is one blob (`<partner>/<job>/job.json`, ETag-guarded) holding
the category it is at, the source (table, filter; container, prefix) within it, the position in
it and the blocks staged so far. A page of rows, or of blobs, or a chunk of a large blob, becomes
one block with an id derived from its position, so a worker that dies after staging and before
saving stages the same block again under the same id on retry (replacing it, never adding rows
twice); a category's file is committed from its block list once every source is read. Only one
page, or one chunk of a blob, is held in memory at a time.

`anonymise` builds the same package with personal data replaced: fields that name a person
(`_PERSONAL_FIELDS`, anything holding "mail", "phone" or "principalname") become keyed pseudonyms,
e-mail addresses and GUIDs inside any other value, and in blob names, metadata and content,
become pseudonyms of the same shape, numbers, dates, states and counts stay. Containers whose
content names people by more than addresses and ids (`LEFT_OUT_WHEN_ANONYMISED`) are left out. The
key is random per job, lives only in the job's state while the job runs and is dropped when it
completes, so a pseudonym can be matched within the package (a user's rows still join up, a
snapshot's role holder with the user) and never back to a person.

Packages and their state go after `PACKAGE_DAYS` (the `partnerexports` lifecycle rule and the
retention sweep); the download link is a short-lived SAS (`shared/privacy/subjects/links.py`:
user delegation in Azure, the account key against Azurite).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import Field

from shared.audit.context import ActionContext
from shared.audit.log import AuditLog
from shared.clock import Clock, isoformat, parse_iso
from shared.errors import ProblemError, not_found
from shared.ids import new_id
from shared.models import ApiModel, UtcDateTime
from shared.partners import subscription as subs
from shared.partners.subscription import TerminationChoice
from shared.privacy.subjects.links import signed_link
from shared.storage import tablequery, tables
from shared.storage.catalogue import CATALOGUE, Placement, StorageKind
from shared.storage.queues import enqueue

if TYPE_CHECKING:
    from shared.partners.service import Partner, PartnerService
    from shared.storage.router import AccountStorage, StorageRouter

CONTAINER = "partnerexports"
QUEUE = "partnerexport"
PACKAGE_DAYS = 30
LINK_TTL = timedelta(minutes=15)
PAGE_ROWS = 1000
MANIFEST = "manifest.json"
BLOB_CHUNK = 4 * 1024 * 1024  # bytes of a blob read (and staged) at a time
READ_BACK = 1024 * 1024  # bytes of a committed file read at a time to checksum it

# Tables whose rows are not the partner's data to take away, and why.
NOT_RETURNED: dict[str, str] = {
    "idempotency": "the sealed first answers of retried creates, kept 24 hours: no data of their own",
    "privacysweeps": "the retention sweep's own run state, per region",
    "keyrewraps": "the re-keying job's own cursors, per region",
    "subjectkeys": "per-subject encryption keys: they never leave the service",
    "subjectindex": "a keyed index of the subjects in the other tables, derived from them",
    "consentthrottle": "rate-limit counters of the consent forms",
}
# Tables keyed by organisation id, whose rows belong to the partner that holds the organisation.
ORG_KEYED = frozenset({"orgusers", "orgrules", "devices", "notifications"})
# Tables keyed by notification id: the partner's through its organisations' `notifications` rows.
NOTIFICATION_KEYED = frozenset({"notifydeliveries"})

# Blob containers whose blobs named `<partner id>/...` are the partner's data, and what they hold.
RETURNED_CONTAINERS: dict[str, str] = {
    "tenantsnapshots": "configuration snapshots of the partner's tenants (one JSON document per sync)",
    "privacyexports": "access packages of the partner's data subjects still kept (7 days)",
}
# Blob containers that are not the partner's data to take away, and why.
NOT_RETURNED_CONTAINERS: dict[str, str] = {
    "partnerexports": "the data-return packages themselves and their job state",
    "auditanchors": "region-wide: a day's blob holds every partner's audit lane heads; the partner's "
    "own chain (with its hashes) is in the events file",
    "notifypayloads": "a notification's title and body, sealed under the service's key while it is "
    "sent and deleted within a day: sealed content never leaves, and opening it would keep a body "
    "the service promises not to keep",
}
# Returned containers left out of an `anonymise` package: their content is about one named person.
LEFT_OUT_WHEN_ANONYMISED: dict[str, str] = {
    "privacyexports": "each is one data subject's data through and through, named; its rows are in "
    "the package, pseudonymised",
}

# A column whose name holds one of these is a secret, a hash of one or a sealed value.
_SECRET_MARKERS = ("keyhash", "secret", "sealed", "token", "footprint", "cipher")
# Secrets under a plain name: a device's push token (sealed) and its keyed hash, an API key's hashes
# (the events' `hash` is their chain, which the partner may verify, and stays).
_SECRET_COLUMNS: dict[str, frozenset[str]] = {
    "devices": frozenset({"target", "targetHash"}),
    "apikeys": frozenset({"hash", "previousHash"}),  # previousHash: the rotated-out secret's
}
_PERSONAL_FIELDS = frozenset(
    {
        "displayname",
        "givenname",
        "surname",
        "name",
        "contactname",
        "jobtitle",
        "officelocation",
        "department",
        "address",
        "ip",
        "clientip",
        "subject",
        "identifier",
        "administrators",
    }
)
# Free text about a person under a plain name, per table: pseudonymised whole when anonymising.
_PERSONAL_COLUMNS: dict[str, frozenset[str]] = {
    "complaints": frozenset({"details", "answer", "closeReason"}),
    "correspondence": frozenset({"body", "topic"}),
}
_EMAIL = re.compile(r"[^\s@\"'<>,;:()\[\]{}]+@[^\s@\"'<>,;:()\[\]{}]+")
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class PackageFile(ApiModel):
    category: str = Field(description="The catalogue's table or blob container the file holds.")
    file: str = Field(description="`<table>.jsonl`, or `blobs/<container>.jsonl` (a blob per line).")
    rows: int = Field(description="Lines of the file: a table's rows, a container's blobs.")
    bytes: int
    sha256: str


class DataReturnOut(ApiModel):
    """A data-return package's status resource (the Azure async-operation pattern)."""

    id: str
    kind: TerminationChoice = Field(description="return: the data as held; anonymise: pseudonymised.")
    state: JobState
    percent_done: int
    created_at: UtcDateTime
    updated_at: UtcDateTime
    files: list[PackageFile] = []
    rows: int = 0
    manifest_url: str | None = Field(
        default=None, description="Short-lived signed link to manifest.json once the package is done."
    )
    file_urls: dict[str, str] = Field(default_factory=dict, description="Short-lived signed links per file.")
    expires_at: UtcDateTime | None = Field(default=None, description="When the package itself is deleted.")
    error: str | None = None


class DataReturnIn(ApiModel):
    """What a package holds: the data as held (`return`) or pseudonymised (`anonymise`)."""

    kind: TerminationChoice = TerminationChoice.RETURN


class DataReturnMessage(ApiModel):
    partner_id: str
    job_id: str


def returned_categories() -> list[str]:
    """Every regional table of the catalogue that is returned, in catalogue order."""
    return [
        entry.name
        for entry in CATALOGUE
        if entry.kind is StorageKind.TABLE
        and entry.placement is Placement.REGIONAL
        and entry.name not in NOT_RETURNED
    ]


def returned_containers(kind: TerminationChoice = TerminationChoice.RETURN) -> list[str]:
    """The blob containers a package of `kind` holds, in catalogue order."""
    left_out = LEFT_OUT_WHEN_ANONYMISED if kind is TerminationChoice.ANONYMISE else {}
    return [
        entry.name
        for entry in CATALOGUE
        if entry.kind is StorageKind.CONTAINER
        and entry.placement is Placement.REGIONAL
        and entry.name in RETURNED_CONTAINERS
        and entry.name not in left_out
    ]


def package_file(category: str) -> str:
    """The package's file of a table (`<table>.jsonl`) or of a container (`blobs/<container>.jsonl`)."""
    return f"blobs/{category}.jsonl" if category in RETURNED_CONTAINERS else f"{category}.jsonl"


def _bucketed(name: str) -> bool:
    return any(entry.bucketed and entry.name == name for entry in CATALOGUE)


# --- rows as they go into the package ---------------------------------------------------------


class Pseudonyms:
    """Keyed pseudonyms: the same value gives the same pseudonym within one package, nothing more."""

    def __init__(self, key: bytes):
        self.key = key

    def _digest(self, value: str) -> str:
        return hmac.new(self.key, value.lower().encode(), hashlib.sha256).hexdigest()

    def token(self, value: str) -> str:
        return "anon-" + self._digest(value)[:20]

    def guid(self, value: str) -> str:
        h = self._digest(value)
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"

    def email(self, value: str) -> str:
        return f"{self.token(value)}@anonymised.invalid"

    def text(self, value: str) -> str:
        value = _EMAIL.sub(lambda m: self.email(m.group(0)), value)
        return _GUID.sub(lambda m: self.guid(m.group(0)), value)


def _secret(name: str) -> bool:
    lowered = name.lower()
    return any(marker in lowered for marker in _SECRET_MARKERS)


def _personal(name: str) -> bool:
    lowered = name.lower()
    return lowered in _PERSONAL_FIELDS or any(m in lowered for m in ("mail", "phone", "principalname"))


def package_row(row: dict[str, Any], pseudonyms: Pseudonyms | None, category: str = "") -> dict[str, Any]:
    """A table row as the package holds it: no ETag, no secrets; pseudonymised when anonymising."""
    dropped = _SECRET_COLUMNS.get(category, frozenset())
    out: dict[str, Any] = {}
    for name, stored in row.items():
        if name.startswith("odata."):
            continue
        column = name.split("@", 1)[0]
        if _secret(column) or column in dropped:
            continue
        value = stored
        if pseudonyms is not None and isinstance(stored, str) and not name.endswith("@odata.type"):
            free_text = column in _PERSONAL_COLUMNS.get(category, ())
            personal = (_personal(column) or free_text) and column not in ("PartitionKey", "RowKey")
            value = pseudonyms.token(stored) if personal else pseudonyms.text(stored)
        out[name] = value
    return out


# --- the job ------------------------------------------------------------------------------------

Hook = Callable[[str, str], None]


class DataReturns:
    """Starts, runs and shows one partner's data-return packages (and records its termination choice)."""

    def __init__(
        self,
        router: StorageRouter,
        clock: Clock,
        partners: PartnerService,
        *,
        page_rows: int = PAGE_ROWS,
        blob_chunk: int = BLOB_CHUNK,
        hook: Hook | None = None,
        dispatch: Callable[[str, DataReturnMessage], None] | None = None,
    ):
        self.router = router
        self.clock = clock
        self.partners = partners
        self.page_rows = page_rows
        self.blob_chunk = blob_chunk
        # Called after each saved step (`page`, `category`) with the category: tests crash from it.
        self.hook = hook
        self.dispatch = dispatch

    # --- the partner's calls ---

    def unsubscribe(self, partner: Partner, choice: TerminationChoice, context: ActionContext) -> Partner:
        """The partner ends its subscription with its choice for its data; `return` and
        `anonymise` start their package at once (refused like the unsubscribe when already ending)."""
        subs.refuse_if_terminating(subs.advance(partner.subscription, self.clock.now()))
        job_id = None
        if choice is not TerminationChoice.DELETE:
            job_id = self.start(partner, choice, context).id
        return self.partners.unsubscribe(partner, context, choice=choice, data_return_id=job_id)

    def start(self, partner: Partner, kind: TerminationChoice, context: ActionContext) -> DataReturnOut:
        if kind is TerminationChoice.DELETE:
            raise ProblemError(
                422, "invalid-package-kind", "Invalid package kind.", "A package is 'return' or 'anonymise'."
            )
        now = isoformat(self.clock.now())
        job_id = new_id()
        state: dict[str, Any] = {
            "id": job_id,
            "partnerId": partner.id,
            "region": partner.region,
            "kind": kind.value,
            "state": JobState.QUEUED.value,
            "createdAt": now,
            "updatedAt": now,
            "categories": [*returned_categories(), *returned_containers(kind)],
            "index": 0,
            "sources": None,
            "source": 0,
            "position": None,
            "blocks": [],
            "rows": 0,
            "done": [],
            "error": None,
        }
        if kind is TerminationChoice.ANONYMISE:
            state["key"] = base64.b64encode(secrets.token_bytes(32)).decode()
        account = self.router.region(partner.region)
        self._blob(account, partner.id, job_id, "job.json").upload_blob(json.dumps(state).encode())
        context.record(
            AuditLog(account, self.clock),
            partner.id,
            "partner.data_return_started",
            {"type": "dataReturn", "id": job_id},
            details={"kind": kind.value},
        )
        message = DataReturnMessage(partner_id=partner.id, job_id=job_id)
        if self.dispatch is not None:
            self.dispatch(partner.region, message)
        else:
            enqueue(account.queue(QUEUE), message)
        return self._view(account, state)

    def get(self, partner: Partner, job_id: str) -> DataReturnOut:
        account = self.router.region(partner.region)
        state, _ = self._load(account, partner.id, job_id)
        return self._view(account, state)

    # --- the queue worker ---

    def run(self, partner_id: str, job_id: str, *, final_attempt: bool = False) -> None:
        """Works the job from where its state says to the end; safe to run again after a crash."""
        account = self.router.region(self.partners.get(partner_id).region)
        state, etag = self._load(account, partner_id, job_id)
        if state["state"] in (JobState.SUCCEEDED.value, JobState.FAILED.value):
            return
        try:
            self._work(account, state, etag)
        except Exception as error:
            if final_attempt:
                state, etag = self._load(account, partner_id, job_id)
                state["state"], state["error"] = JobState.FAILED.value, type(error).__name__
                state.pop("key", None)
                self._save(account, state, etag)
            raise

    def _work(self, account: AccountStorage, state: dict[str, Any], etag: str) -> None:
        pseudonyms = Pseudonyms(base64.b64decode(state["key"])) if "key" in state else None
        state["state"] = JobState.RUNNING.value
        etag = self._save(account, state, etag)
        categories: list[str] = state["categories"]
        while state["index"] < len(categories):
            category = categories[state["index"]]
            blob = self._blob(account, state["partnerId"], state["id"], package_file(category))
            if state["sources"] is None:
                state["sources"] = self._sources(state["partnerId"], category)
                state["source"], state["position"], state["blocks"], state["rows"] = 0, None, [], 0
                etag = self._save(account, state, etag)
            while state["source"] < len(state["sources"]):
                step = self._read(state, category, pseudonyms)
                if step.restart_at is not None:
                    # A blob changed or went while it was copied: its blocks are staged again (or not).
                    del state["blocks"][step.restart_at :]
                if step.data:
                    block_id = _block_id(len(state["blocks"]))
                    # Same position, same id: a retry replaces the block it staged before the crash.
                    blob.stage_block(block_id, step.data)
                    self._step("staged", category)
                    state["blocks"].append(block_id)
                    state["rows"] += step.rows
                if step.position is None:
                    state["source"], state["position"] = state["source"] + 1, None
                else:
                    state["position"] = step.position
                etag = self._save(account, state, etag)
                self._step("page", category)
            etag = self._commit(account, state, etag, category, blob)
            self._step("category", category)
        self._manifest(account, state)
        state["state"] = JobState.SUCCEEDED.value
        state.pop("key", None)  # the pseudonyms' key ends with the job
        self._save(account, state, etag)

    def _read(self, state: dict[str, Any], category: str, pseudonyms: Pseudonyms | None) -> _Step:
        """The next block of the current source from the saved position; changes no state."""
        region, name, where = state["sources"][state["source"]]
        account = self.router.region(region)
        position = state["position"]
        if category in RETURNED_CONTAINERS:
            return _BlobCopy(account.container(name), where, pseudonyms, self.blob_chunk).block(
                position, self.page_rows, len(state["blocks"])
            )
        if category in NOTIFICATION_KEYED:
            rows, position = self._deliveries_page(account, name, where, position)
        else:
            rows, position = tablequery.page(account.table(name), where, self.page_rows, position)
        data = b"".join(
            json.dumps(package_row(row, pseudonyms, category), separators=(",", ":")).encode() + b"\n"
            for row in rows
        )
        return _Step(data, len(rows), position)

    def _deliveries_page(
        self, account: AccountStorage, table_name: str, org_id: str, position: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """Up to a page of the delivery rows of an organisation's notifications, in notification order.

        The org's `notifications` partition names its notifications (RowKey = notification id) and is
        read from the last finished one on (`after`), ids only, so the job's state stays three values
        however many notifications there are; each notification's delivery partition is read whole.
        """
        at = position or {"after": None, "current": None, "continuation": None}
        after, current, continuation = at["after"], at["current"], at["continuation"]
        deliveries = account.table(table_name)
        rows: list[dict[str, Any]] = []
        upcoming: list[str] = []
        while len(rows) < self.page_rows:
            if current is None:
                if not upcoming:
                    upcoming = self._notification_ids(account, org_id, after)
                    if not upcoming:
                        return rows, None
                current, continuation = upcoming.pop(0), None
            found, continuation = tablequery.page(
                deliveries, tables.partition(current), self.page_rows - len(rows), continuation
            )
            rows += found
            if continuation is None:
                after, current = current, None
        return rows, {"after": after, "current": current, "continuation": continuation}

    def _notification_ids(self, account: AccountStorage, org_id: str, after: str | None) -> list[str]:
        """The next notification ids of an organisation after `after` (at most a page)."""
        filter_text = tables.partition(org_id)
        if after is not None:
            filter_text += f" and RowKey gt {tablequery.literal(after)}"
        continuation: dict[str, str | None] | None = None
        while True:
            rows, continuation = tablequery.page(
                account.table("notifications"), filter_text, self.page_rows, continuation, select=["RowKey"]
            )
            if rows or continuation is None:  # the service may answer an empty page with more to come
                return [str(row["RowKey"]) for row in rows]

    def _commit(
        self, account: AccountStorage, state: dict[str, Any], etag: str, category: str, blob: Any
    ) -> str:
        from azure.storage.blob import BlobBlock, ContentSettings

        committed = blob.commit_block_list(
            [BlobBlock(block_id=b) for b in state["blocks"]],
            content_settings=ContentSettings(content_type="application/x-ndjson"),
        )
        size, sha256 = self._checksum(blob, str(committed["etag"]))
        state["done"].append(
            {
                "category": category,
                "file": package_file(category),
                "rows": state["rows"],
                "bytes": size,
                "sha256": sha256,
            }
        )
        state["index"] += 1
        state["sources"], state["source"], state["position"], state["blocks"], state["rows"] = (
            None,
            0,
            None,
            [],
            0,
        )
        return self._save(account, state, etag)

    def _checksum(self, blob: Any, etag: str) -> tuple[int, str]:
        """A committed file's byte count and SHA-256, read back a range of at most `READ_BACK` at a time.

        Not `download_blob().chunks()`: its first read takes up to the SDK's single-get size (32 MiB)
        in one piece, so the export's peak grew with the partner's largest file (issue #15). Small
        ranges also because the SDK lists a range's pieces in a list sized by its byte count (8
        bytes of pointers per byte read), which moves malloc's thresholds up with it.
        """
        from azure.core import MatchConditions

        guard: dict[str, Any] = {"etag": etag, "match_condition": MatchConditions.IfNotModified}
        size = blob.get_blob_properties(**guard).size
        step = min(self.blob_chunk, READ_BACK)
        digest, offset = hashlib.sha256(), 0
        while offset < size:
            read = blob.download_blob(offset=offset, length=min(step, size - offset), **guard).readall()
            if not read:  # short of its size under the same ETag: never loop on it
                raise RuntimeError(f"{blob.blob_name} ended at {offset} of its {size} bytes")
            digest.update(read)
            offset += len(read)
        return offset, digest.hexdigest()

    def _manifest(self, account: AccountStorage, state: dict[str, Any]) -> None:
        manifest = {
            "partnerId": state["partnerId"],
            "package": state["id"],
            "kind": state["kind"],
            "createdAt": state["createdAt"],
            "format": "JSON Lines: a table's file holds one Table service row per line (typed values "
            "with @odata.type); a container's file (blobs/<container>.jsonl) one blob per line: name, "
            "metadata, bytes and sha256 of its content, and the content as text",
            "notReturned": NOT_RETURNED,
            "notReturnedContainers": NOT_RETURNED_CONTAINERS,
            "leftOut": LEFT_OUT_WHEN_ANONYMISED if state["kind"] == TerminationChoice.ANONYMISE.value else {},
            "files": state["done"],
        }
        self._blob(account, state["partnerId"], state["id"], MANIFEST).upload_blob(
            json.dumps(manifest, indent=2).encode(), overwrite=True
        )

    def _sources(self, partner_id: str, category: str) -> list[list[str]]:
        """Where a category's rows are, in every region, in a fixed order: [region, table, filter],
        [region, table, org id] for the tables keyed by notification, [region, container, prefix]."""
        found: list[list[str]] = []
        for region in self.router.regions:
            account = self.router.region(region)
            if category in RETURNED_CONTAINERS:
                found.append([region, category, f"{partner_id}/"])
            elif category in ORG_KEYED or category in NOTIFICATION_KEYED:
                orgs = tablequery.query(account.table("orgs"), tables.partition(partner_id), ["RowKey"])
                keyed = category in ORG_KEYED
                found += [
                    [region, category, tables.partition(str(org["RowKey"])) if keyed else str(org["RowKey"])]
                    for org in orgs
                ]
            elif _bucketed(category):
                buckets = AuditLog(account, self.clock).bucket_names()
                found += [[region, bucket, tables.partition(partner_id)] for bucket in buckets]
            else:
                found.append([region, category, tables.prefix("PartitionKey", partner_id)])
        return found

    def _step(self, step: str, category: str) -> None:
        if self.hook is not None:
            self.hook(step, category)

    # --- state and links ---

    @staticmethod
    def _blob(account: AccountStorage, partner_id: str, job_id: str, name: str) -> Any:
        return account.container(CONTAINER).get_blob_client(f"{partner_id}/{job_id}/{name}")

    def _load(self, account: AccountStorage, partner_id: str, job_id: str) -> tuple[dict[str, Any], str]:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            downloaded = self._blob(account, partner_id, job_id, "job.json").download_blob()
        except ResourceNotFoundError:
            raise not_found("No such data-return package.") from None
        return json.loads(downloaded.readall()), str(downloaded.properties.etag)

    def _save(self, account: AccountStorage, state: dict[str, Any], etag: str) -> str:
        from azure.core import MatchConditions

        state["updatedAt"] = isoformat(self.clock.now())
        # ETag-guarded: two workers on one job (a redelivered message) cannot interleave steps.
        written = self._blob(account, state["partnerId"], state["id"], "job.json").upload_blob(
            json.dumps(state).encode(),
            overwrite=True,
            etag=etag,
            match_condition=MatchConditions.IfNotModified,
        )
        return str(written["etag"])

    def _view(self, account: AccountStorage, state: dict[str, Any]) -> DataReturnOut:
        total = max(1, len(state["categories"]))
        within = 0.0
        if state["sources"]:
            within = state["source"] / len(state["sources"])
        percent = (
            100 if state["state"] == JobState.SUCCEEDED.value else int(99 * (state["index"] + within) / total)
        )
        done = state["state"] == JobState.SUCCEEDED.value
        now = self.clock.now()
        links: dict[str, str] = {}
        manifest_url = None
        if done:
            prefix = f"{state['partnerId']}/{state['id']}/"
            for item in state["done"]:
                links[item["file"]] = signed_link(
                    account, CONTAINER, prefix + item["file"], now=now, ttl=LINK_TTL
                )
            manifest_url = signed_link(account, CONTAINER, prefix + MANIFEST, now=now, ttl=LINK_TTL)
        created = state["createdAt"]
        return DataReturnOut(
            id=state["id"],
            kind=TerminationChoice(state["kind"]),
            state=JobState(state["state"]),
            percent_done=percent,
            created_at=created,
            updated_at=state["updatedAt"],
            files=[PackageFile.model_validate(item) for item in state["done"]],
            rows=sum(int(item["rows"]) for item in state["done"]),
            manifest_url=manifest_url,
            file_urls=links,
            expires_at=_plus_days(created, PACKAGE_DAYS),
            error=state["error"],
        )


# --- blobs as they go into the package ----------------------------------------------------------


@dataclass(frozen=True)
class _Step:
    """One block of a category's file and where the next one starts (None: the source is done)."""

    data: bytes
    rows: int
    position: Any
    # Staged blocks from this index on are dropped first: a blob changed or went while copied.
    restart_at: int | None = None


# Bytes no e-mail address or GUID can hold: a blob's text cut just after one cuts neither in two
# (nor a UTF-8 character), so pseudonymising it a chunk at a time finds every one.
_CUTS = b" \t\r\n\"'<>,;:()[]{}"


def _cut(raw: bytes, anonymise: bool) -> int:
    """How much of a chunk read to take now (the rest starts the next chunk)."""
    if anonymise:
        at = max(raw.rfind(byte) for byte in (bytes([b]) for b in _CUTS))
        if at >= 0:
            return at + 1
    for i in range(len(raw) - 1, -1, -1):
        if raw[i] < 0x80:
            return i + 1
        if raw[i] >= 0xC0:  # the first byte of a character: cut before it
            return i or len(raw)
    return len(raw)


class _BlobGoneError(Exception):
    pass


class _BlobChangedError(Exception):
    pass


class _BlobCopy:
    """Copies one source's blobs (container, name prefix) into a package file, a block at a time.

    Each blob becomes one JSON line, `{"name", "metadata", "bytes", "sha256", "content"}`: `content`
    is the blob's text (pseudonymised when anonymising) and `bytes`/`sha256` are those of that text
    in UTF-8, so a reader checks each blob as it checks each file. A small blob (at most a chunk)
    is read whole, and several share a block. A larger one is read a chunk at a time, every read
    guarded by the ETag it was listed with: once to measure it (its line states size and checksum
    before the content), then into blocks of its own, one chunk each; changed meanwhile, it is
    copied again from its first block, deleted, it is left out. The position is
    `{page, index, offset, blob}`: the listing page's continuation, the blob within the page, the
    byte it is copied up to, and the larger blob's measure (with the block it started at).
    """

    def __init__(self, container: Any, prefix: str, pseudonyms: Pseudonyms | None, chunk: int):
        self.container = container
        self.prefix = prefix
        self.pseudonyms = pseudonyms
        self.chunk = chunk

    def block(self, position: dict[str, Any] | None, page_size: int, blocks: int) -> _Step:
        at = position or {"page": None, "index": 0, "offset": 0, "blob": None}
        page, index, offset, measured = at["page"], at["index"], at["offset"], at["blob"]
        items, next_page = self._listing(page, page_size)
        data, lines = bytearray(), 0
        while index < len(items):
            item = items[index]
            if measured is None and item.size <= self.chunk:
                if data and len(data) + item.size > self.chunk:
                    break
                index += 1
                line = self._whole(item)
                if line is not None:
                    data += line
                    lines += 1
                continue
            if data:
                break  # a larger blob starts a block of its own
            try:
                if measured is None:
                    measured = self._measure(item, blocks)
                    data += self._head(item, measured)
                text, offset = self._window(item.name, measured["etag"], offset, measured["size"])
            except (_BlobGoneError, _BlobChangedError) as error:
                first = blocks if measured is None else measured["firstBlock"]
                skip = 1 if isinstance(error, _BlobGoneError) else 0  # changed: listed again, measured again
                restart = {"page": page, "index": index + skip, "offset": 0, "blob": None}
                return _Step(b"", 0, restart, restart_at=first)
            data += _escaped(text)
            if offset >= measured["size"]:
                data += b'"}\n'
                index, offset, measured, lines = index + 1, 0, None, lines + 1
            break
        if index >= len(items):
            if next_page is None:
                return _Step(bytes(data), lines, None)
            page, index = next_page, 0
        return _Step(bytes(data), lines, {"page": page, "index": index, "offset": offset, "blob": measured})

    def _listing(self, page: str | None, page_size: int) -> tuple[list[Any], str | None]:
        pages = self.container.list_blobs(
            name_starts_with=self.prefix, include=["metadata"], results_per_page=page_size
        ).by_page(continuation_token=page)
        try:
            items = list(next(pages))
        except StopIteration:
            return [], None
        return items, pages.continuation_token or None

    def _text(self, value: str) -> str:
        return self.pseudonyms.text(value) if self.pseudonyms is not None else value

    def _whole(self, item: Any) -> bytes | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            raw = self.container.download_blob(item.name).readall()
        except ResourceNotFoundError:
            return None  # deleted since it was listed
        text = self._text(raw.decode("utf-8"))
        encoded = text.encode()
        measured = {"bytes": len(encoded), "sha256": hashlib.sha256(encoded).hexdigest()}
        return self._head(item, measured) + _escaped(text) + b'"}\n'

    def _measure(self, item: Any, blocks: int) -> dict[str, Any]:
        digest, size, offset = hashlib.sha256(), 0, 0
        etag = str(item.etag)
        while offset < item.size:
            text, offset = self._window(item.name, etag, offset, item.size)
            encoded = text.encode()
            digest.update(encoded)
            size += len(encoded)
        return {
            "etag": etag,
            "size": item.size,
            "bytes": size,
            "sha256": digest.hexdigest(),
            "firstBlock": blocks,
        }

    def _window(self, name: str, etag: str, offset: int, size: int) -> tuple[str, int]:
        """The text of the chunk from `offset` (cut where `_cut` says) and where the next one starts."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        try:
            raw = self.container.download_blob(
                name,
                offset=offset,
                length=self.chunk,
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
            ).readall()
        except ResourceNotFoundError:
            raise _BlobGoneError from None
        except ResourceModifiedError:
            raise _BlobChangedError from None
        if not raw:  # short of its measured size under the same ETag: never loop on it
            raise RuntimeError(f"blob {name} ended at {offset} of its {size} bytes")
        take = len(raw) if offset + len(raw) >= size else _cut(raw, self.pseudonyms is not None)
        return self._text(raw[:take].decode("utf-8")), offset + take

    def _head(self, item: Any, measured: dict[str, Any]) -> bytes:
        """The line up to the content's opening quote."""
        line = {
            "name": self._text(item.name),
            "metadata": {key: self._text(value) for key, value in (item.metadata or {}).items()},
            "bytes": measured["bytes"],
            "sha256": measured["sha256"],
            "content": "",
        }
        return json.dumps(line, ensure_ascii=False, separators=(",", ":"))[:-2].encode()


def _escaped(text: str) -> bytes:
    return json.dumps(text, ensure_ascii=False)[1:-1].encode()


def _block_id(index: int) -> str:
    # The SDK base64-encodes block ids; every id of a blob must have the same length.
    return f"page-{index:010d}"


def _plus_days(moment: str, days: int) -> datetime:
    return parse_iso(moment) + timedelta(days=days)


def iter_package_rows(lines: Iterator[bytes]) -> Iterator[dict[str, Any]]:
    """Rows of a package file read line by line (what a restore or a test reads)."""
    for line in lines:
        if line.strip():
            yield json.loads(line)

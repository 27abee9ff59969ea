"""The partner's data at the end of the service: the data-return package, built as a resumable long operation.

What goes in: every regional table of the storage catalogue (`returned_categories`) except those
in `NOT_RETURNED`, read from every region's account, one JSON Lines file per catalogue entry:
rows whose PartitionKey starts with the partner id, or (`ORG_KEYED`) whose PartitionKey is one of
the partner's organisations. Rows come as the Table service's JSON has them (typed values keep
their `<name>@odata.type` annotation, so a restore can write them back as they were); columns
that hold secrets or sealed values (`_SECRET_MARKERS`) are left out. `manifest.json` lists each
file with its row count, byte count and SHA-256.

How it is built: the job's state is one blob (`<partner>/<job>/job.json`, ETag-guarded) holding
the category it is at, the source (table, filter) within it, the table's continuation and the
blocks staged so far. A page of rows becomes one block with an id derived from its position, so a
worker that dies after staging and before saving stages the same block again under the same id on
retry (replacing it, never adding rows twice); a category's file is committed from its block
list once every source is read. Only one page is held in memory at a time.

`anonymise` builds the same package with personal data replaced: fields that name a person
(`_PERSONAL_FIELDS`, anything holding "mail", "phone" or "principalname") become keyed pseudonyms,
e-mail addresses and GUIDs inside any other value become pseudonyms of the same shape, numbers,
dates, states and counts stay. The key is random per job, lives only in the job's state while the
job runs and is dropped when it completes, so a pseudonym can be matched within the package (a
user's rows still join up) and never back to a person.

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

# Tables whose rows are not the partner's data to take away, and why.
NOT_RETURNED: dict[str, str] = {
    "idempotency": "the sealed first answers of retried creates, kept 24 hours: no data of their own",
    "privacysweeps": "the retention sweep's own run state, per region",
    "subjectkeys": "per-subject encryption keys: they never leave the service",
    "subjectindex": "a keyed index of the subjects in the other tables, derived from them",
    "consentthrottle": "rate-limit counters of the consent forms",
    "notifydeliveries": "one row per device and notification, keyed by notification: not yet returned",
}
# Tables keyed by organisation id, whose rows belong to the partner that holds the organisation.
ORG_KEYED = frozenset({"orgusers", "orgrules", "devices", "notifications"})

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
    category: str
    file: str
    rows: int
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
        hook: Hook | None = None,
        dispatch: Callable[[str, DataReturnMessage], None] | None = None,
    ):
        self.router = router
        self.clock = clock
        self.partners = partners
        self.page_rows = page_rows
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
            "categories": returned_categories(),
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
            blob = self._blob(account, state["partnerId"], state["id"], f"{category}.jsonl")
            if state["sources"] is None:
                state["sources"] = self._sources(state["partnerId"], category)
                state["source"], state["position"], state["blocks"], state["rows"] = 0, None, [], 0
                etag = self._save(account, state, etag)
            while state["source"] < len(state["sources"]):
                region, table_name, filter_text = state["sources"][state["source"]]
                table = self.router.region(region).table(table_name)
                rows, position = tablequery.page(table, filter_text, self.page_rows, state["position"])
                if rows:
                    block_id = _block_id(len(state["blocks"]))
                    data = b"".join(
                        json.dumps(package_row(row, pseudonyms, category), separators=(",", ":")).encode()
                        + b"\n"
                        for row in rows
                    )
                    # Same position, same id: a retry replaces the block it staged before the crash.
                    blob.stage_block(block_id, data)
                    self._step("staged", category)
                    state["blocks"].append(block_id)
                    state["rows"] += len(rows)
                if position is None:
                    state["source"], state["position"] = state["source"] + 1, None
                else:
                    state["position"] = position
                etag = self._save(account, state, etag)
                self._step("page", category)
            etag = self._commit(account, state, etag, category, blob)
            self._step("category", category)
        self._manifest(account, state)
        state["state"] = JobState.SUCCEEDED.value
        state.pop("key", None)  # the pseudonyms' key ends with the job
        self._save(account, state, etag)

    def _commit(
        self, account: AccountStorage, state: dict[str, Any], etag: str, category: str, blob: Any
    ) -> str:
        from azure.storage.blob import BlobBlock, ContentSettings

        blob.commit_block_list(
            [BlobBlock(block_id=b) for b in state["blocks"]],
            content_settings=ContentSettings(content_type="application/x-ndjson"),
        )
        digest, size = hashlib.sha256(), 0
        for chunk in blob.download_blob().chunks():  # streamed: never the whole file in memory
            digest.update(chunk)
            size += len(chunk)
        state["done"].append(
            {
                "category": category,
                "file": f"{category}.jsonl",
                "rows": state["rows"],
                "bytes": size,
                "sha256": digest.hexdigest(),
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

    def _manifest(self, account: AccountStorage, state: dict[str, Any]) -> None:
        manifest = {
            "partnerId": state["partnerId"],
            "package": state["id"],
            "kind": state["kind"],
            "createdAt": state["createdAt"],
            "format": "JSON Lines, one Table service row per line (typed values with @odata.type)",
            "notReturned": NOT_RETURNED,
            "files": state["done"],
        }
        self._blob(account, state["partnerId"], state["id"], MANIFEST).upload_blob(
            json.dumps(manifest, indent=2).encode(), overwrite=True
        )

    def _sources(self, partner_id: str, category: str) -> list[list[str]]:
        """Where a category's rows are, in every region: [region, table, filter], in a fixed order."""
        found: list[list[str]] = []
        for region in self.router.regions:
            account = self.router.region(region)
            if category in ORG_KEYED:
                orgs = tablequery.query(account.table("orgs"), tables.partition(partner_id), ["RowKey"])
                found += [[region, category, tables.partition(str(org["RowKey"]))] for org in orgs]
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

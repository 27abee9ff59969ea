"""Privacy endpoints and timers: the record of processing, sub-processors, retention sweeps,
the breach register and data-subject requests. Thin: each calls one service in shared/privacy."""

from __future__ import annotations

import logging

import azure.functions as func
from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel

from functions import deps
from functions.auth import (
    OPERATOR_SECURITY,
    PARTNER_SECURITY,
    operator_only,
    partner_access,
    partner_context,
)
from functions.http import Call, Created, endpoint
from shared.access.principals import Scope
from shared.errors import ProblemError, not_found
from shared.models import ApiModel, QueryInput, UtcDateTime
from shared.privacy import record
from shared.privacy.breaches import BreachIn, BreachList, BreachOut, BreachRegister, PartnerBreachList
from shared.privacy.retention import SweepBusyError, SweepReport
from shared.privacy.settings import PrivacySettings, PrivacySettingsIn

bp = func.Blueprint()  # type: ignore[no-untyped-call]
log = logging.getLogger("tenantry.privacy")


# --- what we process, and who helps (public: see README "Privacy") -----------------------------


@endpoint(
    bp,
    "privacy/processing-activities",
    methods=["GET"],
    summary="The record of processing activities (GDPR Art. 30), generated from the storage catalogue.",
    tag="privacy",
    auth=None,
)
def processing_activities(call: Call) -> record.ProcessingRecord:
    return record.processing_record()


@endpoint(
    bp,
    "privacy/subprocessors",
    methods=["GET"],
    summary="Who processes data for Tenantry, per region.",
    tag="privacy",
    auth=None,
)
def subprocessors(call: Call) -> record.SubprocessorList:
    config = deps.settings()
    return record.subprocessors_by_region(config.regions, config.subprocessors)


# --- retention sweeps ---------------------------------------------------------------------------


class SweepQuery(QueryInput):
    # Strict on purpose: a misspelt `dryrun=true` must be refused, not run a real sweep.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    dry_run: bool = Field(default=False, description="Report what would go; delete nothing.")
    region: str | None = Field(default=None, max_length=16, description="One region; all when absent.")


class SweepOut(ApiModel):
    region: str
    run_id: str
    as_of: UtcDateTime
    dry_run: bool
    complete: bool
    counts: dict[str, int]
    run_counts: dict[str, int]
    rules: dict[str, int]
    samples: list[str]


class SweepList(ApiModel):
    items: list[SweepOut]


def _sweep_out(report: SweepReport) -> SweepOut:
    return SweepOut(
        region=report.region,
        run_id=report.run_id,
        as_of=report.as_of,
        dry_run=report.dry_run,
        complete=report.complete,
        counts=report.counts,
        run_counts=report.run_counts,
        rules=report.per_rule,
        samples=report.samples,
    )


@endpoint(
    bp,
    "privacy/sweeps",
    methods=["POST"],
    summary="Run the retention sweep now (or, with dryRun=true, report what it would delete).",
    tag="privacy",
    auth=operator_only,
    security=OPERATOR_SECURITY,
)
def run_sweep(call: Call, query: SweepQuery) -> SweepList:
    regions = deps.settings().regions
    if query.region is not None:
        regions = (deps.storage().region(query.region).label,)
    sweeper = deps.retention_sweeper()
    try:
        return SweepList(items=[_sweep_out(sweeper.sweep(r, dry_run=query.dry_run)) for r in regions])
    except SweepBusyError as error:
        raise ProblemError(409, "sweep-running", "A sweep is running.", str(error)) from None


@bp.timer_trigger(schedule="%PRIVACY_SWEEP_SCHEDULE%", arg_name="timer", run_on_startup=False)
def retention_sweep(timer: func.TimerRequest) -> None:
    """Daily: each region in turn (in Azure a stamp serves one region, so one timer per region)."""
    sweeper = deps.retention_sweeper()
    for region in deps.settings().regions:
        try:
            report = sweeper.sweep(region)
        except SweepBusyError:
            log.warning("retention sweep %s: another invocation is running; skipped", region)
            continue
        log.info(
            "retention sweep %s run %s: complete=%s deleted=%s",
            region,
            report.run_id,
            report.complete,
            report.counts,
        )


# --- the partner's privacy settings -------------------------------------------------------------


@endpoint(
    bp,
    "partners/{partnerId}/privacy/settings",
    methods=["GET"],
    summary="The partner's privacy settings (how long administration records are kept).",
    tag="privacy",
    auth=partner_access(Scope.PRIVACY),
    security=PARTNER_SECURITY,
)
def get_privacy_settings(call: Call) -> PrivacySettings:
    context = partner_context(call)
    return deps.privacy_settings(context.account).get(context.partner.id)


@endpoint(
    bp,
    "partners/{partnerId}/privacy/settings",
    methods=["PUT"],
    summary="Change the partner's privacy settings (administration records: 7 or 10 years).",
    tag="privacy",
    auth=partner_access(Scope.PRIVACY, write=True),
    security=PARTNER_SECURITY,
)
def put_privacy_settings(call: Call, body: PrivacySettingsIn) -> PrivacySettings:
    context = partner_context(call)
    return deps.privacy_settings(context.account).put(context.partner.id, body, context.action)


# --- the breach register ------------------------------------------------------------------------


def _register(region: str) -> BreachRegister:
    return deps.breach_register(region)


@endpoint(
    bp,
    "privacy/breaches",
    methods=["POST"],
    summary="Record a personal-data breach; affected partners must be told within 72 hours.",
    tag="privacy",
    auth=operator_only,
    security=OPERATOR_SECURITY,
)
def record_breach(call: Call, body: BreachIn) -> Created[BreachOut]:
    deps.storage().region(body.region)  # 422 for an unknown region
    breach = _register(body.region).record(body, call.principal)
    return Created(breach, f"/api/privacy/breaches/{breach.id}")


@endpoint(
    bp,
    "privacy/breaches",
    methods=["GET"],
    summary="The breach register, every region, with each deadline.",
    tag="privacy",
    auth=operator_only,
    security=OPERATOR_SECURITY,
)
def list_breaches(call: Call) -> BreachList:
    return BreachList(items=[b for r in deps.settings().regions for b in _register(r).all()])


def _find_breach(breach_id: str) -> BreachRegister:
    for region in deps.settings().regions:
        register = _register(region)
        try:
            register.get(breach_id)
        except ProblemError:
            continue
        return register
    raise not_found("No such breach.")


@endpoint(
    bp,
    "privacy/breaches/{breachId}",
    methods=["GET"],
    summary="One breach of the register.",
    tag="privacy",
    auth=operator_only,
    security=OPERATOR_SECURITY,
)
def get_breach(call: Call) -> BreachOut:
    breach_id = call.route["breachId"]
    return _find_breach(breach_id).get(breach_id)


@endpoint(
    bp,
    "privacy/breaches/{breachId}/partners-notified",
    methods=["POST"],
    summary="Record that the affected partners were told (closes the 72-hour deadline).",
    tag="privacy",
    auth=operator_only,
    security=OPERATOR_SECURITY,
)
def breach_partners_notified(call: Call) -> BreachOut:
    breach_id = call.route["breachId"]
    return _find_breach(breach_id).mark_notified(breach_id, call.principal)


@endpoint(
    bp,
    "partners/{partnerId}/privacy/breaches",
    methods=["GET"],
    summary="Personal-data breaches that affect this partner.",
    tag="privacy",
    auth=partner_access(Scope.PRIVACY),
    security=PARTNER_SECURITY,
)
def partner_breaches(call: Call) -> PartnerBreachList:
    context = partner_context(call)
    return PartnerBreachList(items=_register(context.partner.region).for_partner(context.partner.id))


@bp.timer_trigger(schedule="%PRIVACY_WATCH_SCHEDULE%", arg_name="timer", run_on_startup=False)
def privacy_deadline_watch(timer: func.TimerRequest) -> None:
    """Raises events as breach (72 h) deadlines near and pass."""
    for region in deps.settings().regions:
        for breach_id, action in _register(region).watch():
            log.warning("%s: breach %s in %s", action, breach_id, region)

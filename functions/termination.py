"""The partner's administration fields and its data at the end of the service (data-return packages)."""

from __future__ import annotations

import azure.functions as func
from pydantic import Field

from functions import deps
from functions.auth import PartnerContext, partner_access
from functions.http import Accepted, Call, RouteParams, Ulid, endpoint
from functions.queues import final_attempt, queue_function
from shared.access.principals import Scope
from shared.partners.models import Administration, AdministrationPatch
from shared.privacy.data_return import QUEUE, DataReturnIn, DataReturnMessage, DataReturnOut
from shared.settings import get_settings

bp = func.Blueprint()  # type: ignore[no-untyped-call]


class DataReturnRoute(RouteParams):
    missing = "No such data-return package."
    job_id: Ulid = Field(alias="dataReturnId")


@endpoint(
    bp,
    "partners/{partnerId}/administration",
    methods=["GET"],
    summary="The partner's administration fields, as its invoices show them: legal name, address, "
    "chamber-of-commerce and VAT numbers, billing e-mail.",
    tag="partners",
    auth=partner_access(Scope.MANAGE_ACCESS, operator=True),
)
def get_administration(call: Call, context: PartnerContext) -> Administration:
    return context.partner.administration or Administration()


@endpoint(
    bp,
    "partners/{partnerId}/administration",
    methods=["PATCH"],
    summary="Change administration fields (a field given replaces, null clears, left out stays); "
    "invoices drafted from now on show them, the country and VAT number decide the VAT; kept 7 "
    "years after the service ends (10 on request).",
    tag="partners",
    # Allowed while read-only: an unpaid invoice still needs the right address on it.
    auth=partner_access(Scope.MANAGE_ACCESS, allowed_when_read_only=True, every_tenant=True),
)
def update_administration(call: Call, context: PartnerContext, body: AdministrationPatch) -> Administration:
    partner = deps.partners().update_administration(context.partner, body, context.action)
    return partner.administration or Administration()


@endpoint(
    bp,
    "partners/{partnerId}/data-returns",
    methods=["POST"],
    idempotent=True,
    summary="Build a data-return package of all the partner's data (return: as held; anonymise: "
    "pseudonymised): a long operation to poll.",
    tag="partners",
    # Allowed while read-only: the partner takes its data away until the data is deleted.
    auth=partner_access(Scope.MANAGE_ACCESS, allowed_when_read_only=True, every_tenant=True),
)
def start_data_return(call: Call, context: PartnerContext, body: DataReturnIn) -> Accepted[DataReturnOut]:
    started = deps.data_returns().start(context.partner, body.kind, context.action)
    return Accepted(started, f"/api/partners/{context.partner.id}/data-returns/{started.id}")


@endpoint(
    bp,
    "partners/{partnerId}/data-returns/{dataReturnId}",
    methods=["GET"],
    summary="A data-return package's progress (percent done) and, once done, short-lived links to its "
    "manifest and files.",
    tag="partners",
    auth=partner_access(Scope.MANAGE_ACCESS),
)
def get_data_return(call: Call, context: PartnerContext, route: DataReturnRoute) -> DataReturnOut:
    return deps.data_returns().get(context.partner, route.job_id)


def _data_return_handler(region: str) -> None:
    def run(msg: func.QueueMessage) -> None:
        message = DataReturnMessage.model_validate_json(msg.get_body())
        # A package failing its last attempt is marked failed (the message then goes to poison).
        final = final_attempt(msg)
        deps.data_returns().run(message.partner_id, message.job_id, final_attempt=final)

    queue_function(bp, f"partner_export_{region}", QUEUE, region)(run)


for _region in get_settings().regions:
    _data_return_handler(_region)

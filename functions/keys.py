"""Keys: the daily re-keying job of each region and the operator's report of key versions."""

from __future__ import annotations

import logging

import azure.functions as func

from functions import deps
from functions.auth import operator_only
from functions.http import endpoint
from shared.audit.context import ActionContext
from shared.models import ApiModel
from shared.settings import get_settings
from shared.storage.rekeying import RekeyJob, key_version_report

bp = func.Blueprint()  # type: ignore[no-untyped-call]
log = logging.getLogger(__name__)


class KeyVersionOut(ApiModel):
    key_id: str
    current: bool
    configured: bool
    dependents: int | None


class MasterKeyOut(ApiModel):
    name: str
    settings: str
    moved_by: str
    complete: bool
    versions: list[KeyVersionOut]


class KeyVersionsOut(ApiModel):
    items: list[MasterKeyOut]


@endpoint(
    bp,
    "operator/key-versions",
    methods=["GET"],
    summary="Per master key and version: whether it is current and how many stored values still "
    "depend on it (a version can be dropped from the settings once every region counts none). Counts "
    "come from a bounded scan of each table (100,000 rows); `complete` false means they are a floor.",
    tag="keys",
    auth=operator_only,
)
def list_key_versions(operator: ActionContext) -> KeyVersionsOut:
    accounts = [deps.storage().region(region) for region in deps.settings().regions]
    report = key_version_report(accounts, deps.key_masters())
    return KeyVersionsOut(
        items=[
            MasterKeyOut(
                name=master.name,
                settings=master.setting,
                moved_by=master.moved_by,
                complete=master.complete,
                versions=[
                    KeyVersionOut(
                        key_id=v.key_id, current=v.current, configured=v.configured, dependents=v.dependents
                    )
                    for v in master.versions
                ],
            )
            for master in report
        ]
    )


def _rekey_timer(region: str) -> None:
    def run(timer: func.TimerRequest) -> None:
        """Daily: what an older master version wraps or seals moves to the newest, in bounded pages."""
        outcomes = RekeyJob(deps.storage().region(region), deps.rekeyings(region)).run()
        for outcome in outcomes:
            log.info(
                "key rewrap %s %s: read %d, rekeyed %d, dropped %d, skipped %d, failed %d, complete=%s",
                region,
                outcome.name,
                outcome.read,
                outcome.rekeyed,
                outcome.dropped,
                outcome.skipped,
                outcome.failed,
                outcome.complete,
            )

    run.__name__ = run.__qualname__ = f"key_rewrap_{region}"
    bp.function_name(name=f"key_rewrap_{region}")(
        bp.timer_trigger(arg_name="timer", schedule="0 40 3 * * *", run_on_startup=False)(run)
    )


for _region in get_settings().regions:
    _rekey_timer(_region)

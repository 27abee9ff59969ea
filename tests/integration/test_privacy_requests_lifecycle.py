"""Data-subject requests against Azurite: the lifecycle, concurrency, duplicates, deadlines, crashes."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.access.principals import Actor
from shared.audit.context import ActionContext
from shared.audit.log import AuditLog, EventFilter
from shared.errors import ProblemError
from shared.notifications.subjects import OrgSubjects
from shared.privacy import subject_requests as dsr
from shared.privacy.subject_requests import (
    CancelIn,
    Executors,
    ExtendIn,
    JobMessage,
    PrivacyRequestService,
    ReasonIn,
    RequestIn,
    RequestQuery,
    RequestState,
    VerifyIn,
)
from shared.privacy.subjects import ErasureCertificate, SubjectData, SubjectIdentifier, SubjectScope
from shared.privacy.subjects.holdings import SubjectHolders
from shared.storage.router import StorageRouter
from shared.tenants.subjects import TenantSubjects
from shared.usage import UsageMeter
from tests.clocks import MovableClock

OFFICER = ActionContext(Actor("personnel", "officer-1", "Pat Officer"), "req-1", "203.0.113.0")
TENANT = "0b7e8f6a-3c2d-4e1f-8a9b-7c6d5e4f3a2b"
START = datetime(2026, 3, 2, 9, tzinfo=UTC)


class CrashAfterErasing(SubjectData):
    """Erases for real, then dies before the job can record completion (once)."""

    crashes = 1

    def erase(self, scope: SubjectScope, who: SubjectIdentifier, *, request_id: str) -> ErasureCertificate:
        certificate = super().erase(scope, who, request_id=request_id)
        if self.crashes:
            self.crashes -= 1
            raise ConnectionError("worker lost")
        return certificate


class Harness:
    def __init__(self, router: StorageRouter, subjects: type[SubjectData] = SubjectData):
        self.partner_id = "P" + uuid.uuid4().hex[:12]
        self.clock = MovableClock(START)
        self.queued: list[JobMessage] = []
        self.subjects = subjects(
            router,
            self.clock,
            "A" * 43,
            pepper="pepper-for-tests",
            holders=SubjectHolders(tenant_users=TenantSubjects(), org_users=OrgSubjects()),
        )
        self.service = PrivacyRequestService(
            router.region("eu"),
            self.partner_id,
            "eu",
            self.clock,
            "pepper-for-tests",
            scope_exists=lambda tenant_id, org_id: tenant_id == TENANT,
            executors=Executors(subjects=lambda: self.subjects, consent=self._no_consent),
            dispatch=self.queued.append,
        )

    def _no_consent(self) -> Any:
        raise AssertionError("no consent withdrawal in these tests")

    def file(self, **overrides: Any) -> Any:
        body = {
            "type": "erasure",
            "subject": {"email": "ana@fabrikam.example"},
            "tenantId": TENANT,
            **overrides,
        }
        return self.service.create(RequestIn.model_validate(body), OFFICER)

    def approved(self, **overrides: Any) -> Any:
        request = self.file(**overrides)
        self.service.verify(request.id, VerifyIn(method="controllerConfirmed", note="Ticket 42"), OFFICER)
        return self.service.approve(request.id, OFFICER)

    def events(self) -> list[dict[str, Any]]:
        log = AuditLog(self.service.account, self.clock)
        return list(reversed(log.list(self.partner_id, EventFilter(), 1000, None)[0]))


@pytest.fixture
def harness(router: StorageRouter) -> Harness:
    return Harness(router)


def test_a_request_goes_from_received_to_completed_with_every_step_audited(harness: Harness) -> None:
    request = harness.file(type="access")
    assert request.state is RequestState.RECEIVED
    assert request.due_at == request.received_at + timedelta(days=30)
    verified = harness.service.verify(
        request.id, VerifyIn(method="emailChallenge", note="code 1234 returned"), OFFICER
    )
    assert verified.state is RequestState.AWAITING_APPROVAL
    assert verified.verification is not None and verified.verification.verified_by["id"] == "officer-1"
    harness.service.approve(request.id, OFFICER)
    started = harness.service.execute(request.id, OFFICER)
    assert started.state is RequestState.IN_PROGRESS and started.attempts == 1
    assert harness.queued == [JobMessage(partner_id=harness.partner_id, request_id=request.id)]
    done = harness.service.run(request.id)
    assert done.state is RequestState.COMPLETED and done.deadline_state == "met"
    assert done.outcome is not None and "export" in done.outcome
    usage = UsageMeter(harness.service.account, harness.clock)
    assert usage.month(harness.partner_id, "2026-03")["subjectRequestsHandled"] == 1  # billed, once

    events = harness.events()
    assert [e["action"] for e in events] == [
        "privacy.request.received",
        "privacy.request.verified",
        "privacy.request.approved",
        "privacy.request.executionStarted",
        "privacy.request.completed",
    ]
    assert all(e["details"]["subjectHash"] == request.subject_hash for e in events)
    assert "ana@fabrikam.example" not in str(events)
    assert harness.service.get(request.id).model_dump()["subject"] == {
        "email": "ana@fabrikam.example",
        "object_id": None,
        "system_user_id": None,
        "phone": None,
    }


def test_of_two_concurrent_approvals_exactly_one_wins(harness: Harness) -> None:
    request = harness.file()
    harness.service.verify(request.id, VerifyIn(method="identityDocument", note="passport seen"), OFFICER)
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def approve() -> None:
        barrier.wait()
        try:
            outcomes.append(harness.service.approve(request.id, OFFICER).state.value)
        except ProblemError as error:
            outcomes.append(error.kind)

    threads = [threading.Thread(target=approve) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("approved") == 1
    assert set(outcomes) - {"approved"} <= {"invalid-transition", "concurrent-change"}
    assert [e["action"] for e in harness.events()].count("privacy.request.approved") == 1


def test_a_duplicate_of_an_open_request_is_linked_not_executed(harness: Harness) -> None:
    first = harness.file()
    again = harness.file(subject={"email": "ANA@Fabrikam.example"}, reference="second letter")
    assert again.state is RequestState.LINKED and again.duplicate_of == first.id
    assert again.deadline_state == "none" and again.closed_at is not None
    with pytest.raises(ProblemError):
        harness.service.verify(again.id, VerifyIn(method="other", note="n/a"), OFFICER)
    # Another type, or another subject, is not a duplicate.
    assert harness.file(type="access").state is RequestState.RECEIVED
    assert harness.file(subject={"email": "bo@fabrikam.example"}).state is RequestState.RECEIVED
    # Once the first is closed, the subject may ask again.
    harness.service.cancel(first.id, CancelIn(reason="withdrawn by the subject"), OFFICER)
    assert harness.file().state is RequestState.RECEIVED
    linked = harness.service.list_requests(RequestQuery(state=RequestState.LINKED))[0]
    assert [r.id for r in linked] == [again.id]


def test_two_identical_requests_filed_at_once_are_one_open_and_one_linked(harness: Harness) -> None:
    barrier = threading.Barrier(4)
    states: list[RequestState] = []

    def file() -> None:
        barrier.wait()
        states.append(harness.file().state)

    threads = [threading.Thread(target=file) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(states) == [RequestState.LINKED] * 3 + [RequestState.RECEIVED]


def test_the_deadline_is_extended_once_and_the_watch_raises_each_event_once(harness: Harness) -> None:
    account = harness.service.account
    request = harness.file()

    def watch_at(moment: datetime) -> list[str]:
        harness.clock.moment = moment
        return [a for p, r, a in dsr.watch(account, harness.clock) if r == request.id]

    due = request.due_at
    assert watch_at(due - timedelta(days=8)) == []
    assert watch_at(due - timedelta(days=6)) == ["privacy.request.deadlineNearing"]
    assert watch_at(due - timedelta(days=5)) == []
    extended = harness.service.extend(request.id, ExtendIn(days=60, reason="many systems to search"), OFFICER)
    assert extended.due_at == due + timedelta(days=60) and extended.deadline_state == "open"
    assert extended.extension is not None and extended.extension.previous_due_at == due
    with pytest.raises(ProblemError) as twice:
        harness.service.extend(request.id, ExtendIn(days=1, reason="more"), OFFICER)
    assert twice.value.kind == "already-extended"
    assert watch_at(extended.due_at - timedelta(days=6)) == ["privacy.request.deadlineNearing"]
    assert watch_at(extended.due_at + timedelta(hours=1)) == ["privacy.request.deadlinePassed"]
    assert watch_at(extended.due_at + timedelta(days=3)) == []
    late = harness.service.reject(request.id, ReasonIn(reason="manifestly unfounded"), OFFICER)
    assert late.deadline_state == "missed" and late.reason == "manifestly unfounded"
    actions = [e["action"] for e in harness.events()]
    assert actions.count("privacy.request.deadlineNearing") == 2
    assert actions.count("privacy.request.deadlinePassed") == 1


def test_no_extension_after_the_deadline_passed(harness: Harness) -> None:
    request = harness.file()
    harness.clock.moment = request.due_at + timedelta(minutes=1)
    with pytest.raises(ProblemError) as late:
        harness.service.extend(request.id, ExtendIn(days=30, reason="too late"), OFFICER)
    assert late.value.kind == "deadline-passed"


def test_a_job_that_crashed_after_erasing_completes_once_on_retry(router: StorageRouter) -> None:
    harness = Harness(router, CrashAfterErasing)
    request = harness.approved()
    harness.service.execute(request.id, OFFICER)
    with pytest.raises(ConnectionError):
        harness.service.run(request.id)
    assert harness.service.get(request.id).state is RequestState.IN_PROGRESS
    done = harness.service.run(request.id)
    again = harness.service.run(request.id)  # a duplicate message: nothing more happens
    assert done.state is again.state is RequestState.COMPLETED
    certificate = harness.service.certificate(request.id)
    assert certificate.request_id == request.id
    assert [e["action"] for e in harness.events()].count("privacy.request.completed") == 1
    # After the erasure, the record keeps the keyed hash and the certificate, not the identifier.
    assert done.subject is None and done.subject_hash == request.subject_hash


def test_a_job_failing_for_good_is_retryable_and_keeps_its_deadline(router: StorageRouter) -> None:
    harness = Harness(router, CrashAfterErasing)
    harness.subjects.crashes = 10  # type: ignore[attr-defined]
    request = harness.approved()
    harness.service.execute(request.id, OFFICER)
    failed = harness.service.run(request.id, final_attempt=True)
    assert failed.state is RequestState.FAILED and failed.failure is not None
    assert failed.failure.kind == "internal-error" and failed.due_at == request.due_at
    assert failed.deadline_state == "open"
    harness.subjects.crashes = 0  # type: ignore[attr-defined]
    retried = harness.service.execute(request.id, OFFICER)
    assert retried.state is RequestState.IN_PROGRESS and retried.attempts == 2
    assert harness.service.run(request.id).state is RequestState.COMPLETED


def test_an_erasure_takes_the_identifier_off_earlier_closed_requests(harness: Harness) -> None:
    access = harness.approved(type="access")
    harness.service.execute(access.id, OFFICER)
    assert harness.service.run(access.id).subject is not None
    other = harness.file(type="access", subject={"email": "bo@fabrikam.example"})
    erasure = harness.approved()
    harness.service.execute(erasure.id, OFFICER)
    harness.service.run(erasure.id)
    assert harness.service.get(access.id).subject is None
    assert harness.service.get(other.id).subject is not None


def test_a_lost_job_message_is_sent_again_by_asking_again(harness: Harness) -> None:
    request = harness.approved()
    harness.service.execute(request.id, OFFICER)
    harness.queued.clear()  # the message never arrived
    still = harness.service.execute(request.id, OFFICER)
    assert still.state is RequestState.IN_PROGRESS and still.attempts == 1
    assert [m.request_id for m in harness.queued] == [request.id]


def test_an_event_whose_writer_died_is_appended_by_the_next_reader(harness: Harness) -> None:
    request = harness.file()
    log = harness.service.audit
    append = log.append

    def die(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("worker lost between the state write and the audit append")

    log.append = die  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        harness.service.verify(request.id, VerifyIn(method="controllerConfirmed", note="ok"), OFFICER)
    log.append = append  # type: ignore[method-assign]
    assert harness.service.table.get_entity(harness.partner_id, request.id)["state"] == "awaitingApproval"
    harness.service.get(request.id)  # a moment later: the writer may still be appending
    assert "privacy.request.verified" not in [e["action"] for e in harness.events()]
    harness.clock.moment += timedelta(minutes=5)
    harness.service.get(request.id)
    harness.service.get(request.id)
    assert [e["action"] for e in harness.events()].count("privacy.request.verified") == 1
    assert harness.service.table.get_entity(harness.partner_id, request.id)["pendingEvents"] == "[]"


def test_a_terminated_partners_requests_go_24_months_after_the_end(router: StorageRouter) -> None:
    from functions import deps
    from shared.privacy.retention import RetentionRegistry, RetentionSweeper
    from tests.integration.rigs import terminated_partner

    assert "privacyrequests.rows" in {rule.name for rule in deps.retention_registry().rules()}
    router.region("eu").table("privacysweeps").delete_entity("sweep", "state")
    partner = terminated_partner(router, MovableClock(datetime(1951, 1, 10, tzinfo=UTC)))
    assert partner.subscription.deletion_schedule is not None
    goes_at = partner.subscription.deletion_schedule.personnel_data_at
    harness = Harness(router)
    harness.partner_id = harness.service.partner_id = partner.id
    request = harness.file()

    def sweep(at: datetime) -> int:
        registry = RetentionRegistry(dsr.request_rules())
        report = RetentionSweeper(registry, router, MovableClock(at), budget_seconds=60).sweep("eu")
        assert report.complete
        return report.run_counts.get("data-subject requests", 0)

    assert sweep(goes_at - timedelta(days=1)) == 0
    assert harness.service.get(request.id).id == request.id
    assert sweep(goes_at + timedelta(days=1)) == 2  # the request and its open-request slot
    with pytest.raises(ProblemError):
        harness.service.get(request.id)


def test_a_slot_left_by_a_filer_that_crashed_is_taken_over_once_old(harness: Harness) -> None:
    first = harness.file()
    harness.service.cancel(first.id, CancelIn(), OFFICER)
    # A filer took the subject's open slot, then died before writing its request.
    slot = f"~open~{first.subject_hash}~erasure"
    ghost = {"PartitionKey": harness.partner_id, "RowKey": slot, "requestId": "01GHOST"}
    harness.service.table.create_entity({**ghost, "claimedAt": "2026-03-02T09:00:00Z"})
    harness.clock.moment = START + timedelta(seconds=30)
    assert harness.file().state is RequestState.LINKED  # it may still be writing
    harness.clock.moment = START + timedelta(minutes=5)
    assert harness.file().state is RequestState.RECEIVED

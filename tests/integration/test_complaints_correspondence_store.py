"""The complaint register and contact correspondence under a moved clock: the 4-week deadline watch,
the retention rules (a day before kept, a day after gone, a second sweep deletes nothing) and a
data-subject export and erasure that reach the complainant and the correspondent.

A private Azurite: the watch and the sweeps (which see a whole region) meet only what these tests
made; each test works in its own stretch of the past.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions import deps
from shared.access.principals import Actor
from shared.alerts.rules import Severity, evaluate
from shared.audit.context import ActionContext
from shared.audit.log import AuditLog, iter_all
from shared.errors import ProblemError
from shared.ids import new_id
from shared.keys import pepper_ring
from shared.notifications.subjects import OrgSubjects
from shared.partners.directory import PartnerDirectory
from shared.partners.service import PartnerService
from shared.partners.subscription import add_months
from shared.privacy import complaints
from shared.privacy.complaints import AnswerIn, CloseIn, ComplaintIn, ComplaintRegister
from shared.privacy.contact_records import ContactRecords
from shared.privacy.correspondence import Correspondence, EndedCorrespondence, MessageIn, ThreadIn
from shared.privacy.retention import RetentionRegistry, RetentionRule, RetentionSweeper
from shared.privacy.subjects import EXPORTS, SubjectData, SubjectIdentifier, SubjectScope
from shared.privacy.subjects.holdings import SubjectHolders
from shared.storage.router import AccountStorage, StorageRouter
from shared.tenants.subjects import TenantSubjects
from tests.clocks import MovableClock
from tests.integration.rigs import PEPPER, terminated_partner

STAFF = ActionContext(Actor("personnel", "service-desk"))
DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def router(private_router: StorageRouter) -> StorageRouter:
    return private_router


def app_rule(name: str) -> RetentionRule:
    """The rule as the app registers it (functions/deps.py), not a copy made for the test."""
    return next(rule for rule in deps.retention_registry().rules() if rule.name == name)


def sweep(router: StorageRouter, at: datetime, *rules: RetentionRule) -> dict[str, int]:
    """Sweeps the eu region to the end of a run at `at`; what went, per rule."""
    registry = RetentionRegistry(rules)
    report = RetentionSweeper(registry, router, MovableClock(at), budget_seconds=60).sweep("eu")
    assert report.complete
    return report.per_rule


def complaint(email: str = "cleo@fabrikam.example", **extra: Any) -> ComplaintIn:
    return ComplaintIn.model_validate(
        {
            "contact": {"name": "Cleo Park", "email": email, "phone": "+31 6 1111 2222"},
            "subject": "Slow answers to our tickets",
            "channel": "email",
            "details": "Cleo Park waited three weeks for a reply.",
            **extra,
        }
    )


def thread(email: str = "dirk@contoso.example", body: str = "Could you call me back?") -> ThreadIn:
    return ThreadIn.model_validate(
        {
            "contact": {"name": "Dirk Visser", "email": email},
            "topic": "Contract renewal",
            "firstMessage": {"direction": "inbound", "body": body},
        }
    )


def rows(account: AccountStorage, table: str, partition_key: str) -> list[Any]:
    return list(account.table(table).query_entities("PartitionKey eq @pk", parameters={"pk": partition_key}))


def actions(account: AccountStorage, partner_id: str) -> list[tuple[str, str]]:
    log = AuditLog(account, MovableClock(datetime.now(UTC)))
    return sorted((e["action"], e["target"]["id"]) for e in iter_all(log, partner_id))


def test_the_watch_raises_nearing_and_passed_once_each_and_an_answer_ends_it(router: StorageRouter) -> None:
    account = router.region("eu")
    # Far ahead: the sweeps of the tests below (in the past) must not meet what this one leaves.
    received = datetime(2091, 3, 2, 9, tzinfo=UTC)
    clock = MovableClock(received)
    partner_id = f"p-{uuid.uuid4().hex}"
    register = ComplaintRegister(account, partner_id, clock, PEPPER)
    late = register.create_complaint(complaint(), STAFF)
    on_time = register.create_complaint(complaint("eva@fabrikam.example"), STAFF)
    assert late.due_at - late.received_at == timedelta(weeks=4)
    assert late.deadline_state == "open"

    def watch_at(moment: datetime) -> list[tuple[str, str, str]]:
        clock.moment = moment
        return complaints.watch(account, clock)

    # Three weeks in, a week is left: not nearing yet until the last 7 days begin.
    assert watch_at(received + timedelta(days=20)) == []
    clock.moment = received + timedelta(days=20, hours=1)
    register.answer_complaint(on_time.id, AnswerIn(summary="We added a second agent."), STAFF)
    nearing = watch_at(received + timedelta(days=21, hours=1))
    assert nearing == [(partner_id, late.id, "complaint.deadlineNearing")]
    assert watch_at(received + timedelta(days=22)) == []  # raised once
    assert register.get_complaint(late.id).deadline_state == "nearing"
    passed = watch_at(received + timedelta(weeks=4, minutes=1))
    assert passed == [(partner_id, late.id, "complaint.deadlinePassed")]
    assert watch_at(received + timedelta(weeks=5)) == []

    # Answered after its date: the register says it was missed; the one answered in time met it.
    clock.moment = received + timedelta(weeks=5, days=1)
    answered = register.answer_complaint(late.id, AnswerIn(summary="Apologies; fixed."), STAFF)
    assert (answered.status, answered.deadline_state) == ("answered", "missed")
    assert register.get_complaint(on_time.id).deadline_state == "met"
    with pytest.raises(ProblemError) as twice:
        register.answer_complaint(late.id, AnswerIn(summary="again"), STAFF)
    assert twice.value.status == 409

    # The events are the partner's, name the complaint and never the person; the alert rules read them.
    events = [
        e for e in iter_all(AuditLog(account, clock), partner_id) if e["action"].startswith("complaint.")
    ]
    assert {e["action"] for e in events} >= {"complaint.deadlineNearing", "complaint.deadlinePassed"}
    assert "Cleo" not in json.dumps(events) and "fabrikam" not in json.dumps(events)
    overdue = next(e for e in events if e["action"] == "complaint.deadlinePassed")
    alert = evaluate(partner_id, overdue).alerts
    assert [(a.type, a.severity) for a in alert] == [("complaint.deadlinePassed", Severity.CRITICAL)]
    assert alert[0].link == f"/api/partners/{partner_id}/complaints/{late.id}"


def test_complaints_go_24_months_after_they_close(router: StorageRouter) -> None:
    account = router.region("eu")
    start = datetime(1983, 6, 1, tzinfo=UTC)
    clock = MovableClock(start)
    partner_id = f"p-{uuid.uuid4().hex}"
    register = ComplaintRegister(account, partner_id, clock, PEPPER)
    closed = register.create_complaint(complaint(), STAFF)
    register.answer_complaint(closed.id, AnswerIn(summary="Refunded."), STAFF)
    clock.moment = start + timedelta(days=40)
    ended = register.close_complaint(closed.id, CloseIn(), STAFF).closed_at
    still_open = register.create_complaint(complaint("open@fabrikam.example"), STAFF)
    assert ended is not None
    rule = app_rule("complaints.concluded")

    assert sweep(router, add_months(ended, 24) - DAY, rule) == {}
    assert {r["RowKey"] for r in rows(account, "complaints", partner_id)} == {closed.id, still_open.id}
    assert sweep(router, add_months(ended, 24) + DAY, rule) == {"complaints.concluded": 1}
    # An open complaint is never due by age: it goes with a terminated partner (the next test).
    assert [r["RowKey"] for r in rows(account, "complaints", partner_id)] == [still_open.id]
    assert sweep(router, add_months(ended, 24) + 2 * DAY, rule) == {}


def test_correspondence_goes_30_days_after_its_conclusion_or_12_months_untouched(
    router: StorageRouter,
) -> None:
    account = router.region("eu")
    start = datetime(1985, 1, 10, tzinfo=UTC)
    clock = MovableClock(start)
    partner_id = f"p-{uuid.uuid4().hex}"
    threads = Correspondence(account, partner_id, clock, PEPPER)
    concluded = threads.create_thread(thread(), STAFF)
    abandoned = threads.create_thread(thread("ghost@contoso.example"), STAFF)
    lively = threads.create_thread(thread("lively@contoso.example"), STAFF)
    clock.moment = start + timedelta(days=2)
    threads.add_message(
        concluded.id, MessageIn.model_validate({"direction": "outbound", "body": "Done."}), STAFF
    )
    done = threads.conclude_thread(concluded.id, STAFF)
    assert done.concluded_at is not None and done.delete_after == done.concluded_at + timedelta(days=30)
    with pytest.raises(ProblemError) as closed:
        threads.add_message(
            concluded.id, MessageIn.model_validate({"direction": "inbound", "body": "x"}), STAFF
        )
    assert closed.value.status == 409
    # A message eleven months on keeps a thread alive for twelve more.
    clock.moment = add_months(start, 11)
    threads.add_message(
        lively.id, MessageIn.model_validate({"direction": "inbound", "body": "Still there?"}), STAFF
    )
    rule = app_rule(EndedCorrespondence.name)

    def held() -> set[str]:
        return {str(r["RowKey"]) for r in rows(account, "correspondence", partner_id)}

    assert sweep(router, done.concluded_at + timedelta(days=30) - DAY, rule) == {}
    assert held() == {concluded.id, abandoned.id, lively.id}
    assert sweep(router, done.concluded_at + timedelta(days=30) + DAY, rule) == {EndedCorrespondence.name: 1}
    assert held() == {abandoned.id, lively.id}
    assert rows(account, "correspondence", f"{partner_id}~{concluded.id}") == []  # its messages too

    assert sweep(router, add_months(start, 12) - DAY, rule) == {}
    assert sweep(router, add_months(start, 12) + DAY, rule) == {EndedCorrespondence.name: 1}
    assert held() == {lively.id}
    assert sweep(router, add_months(start, 12) + 2 * DAY, rule) == {}
    assert sweep(router, add_months(start, 23) + DAY, rule) == {EndedCorrespondence.name: 1}
    assert held() == set()
    assert rows(account, "correspondence", f"{partner_id}~{lively.id}") == []


def test_a_terminated_partners_complaints_and_threads_go(router: StorageRouter) -> None:
    account = router.region("eu")
    clock = MovableClock(datetime(1987, 2, 3, tzinfo=UTC))
    partner = terminated_partner(router, clock)
    ComplaintRegister(account, partner.id, clock, PEPPER).create_complaint(complaint(), STAFF)
    schedule = partner.subscription.deletion_schedule
    assert schedule is not None
    rule = app_rule("complaints.terminated-partner")

    # An open complaint of a partner whose service ended goes with its personnel data.
    assert sweep(router, schedule.personnel_data_at - DAY, rule) == {}
    assert len(rows(account, "complaints", partner.id)) == 1
    assert sweep(router, schedule.personnel_data_at + DAY, rule) == {"complaints.terminated-partner": 1}
    assert rows(account, "complaints", partner.id) == []
    assert sweep(router, schedule.personnel_data_at + 2 * DAY, rule) == {}
    # The partner record is still there for the rules that run after this one.
    service = PartnerService(router, PartnerDirectory(router), clock, pepper_ring(PEPPER))
    assert service.get(partner.id).id == partner.id


def test_an_export_holds_and_an_erasure_removes_the_complainant_and_correspondent(
    router: StorageRouter,
) -> None:
    account = router.region("eu")
    clock = MovableClock(datetime.now(UTC))
    partner_id = f"p-{uuid.uuid4().hex}"
    email = f"iris-{uuid.uuid4().hex[:8]}@fabrikam.example"
    register = ComplaintRegister(account, partner_id, clock, PEPPER)
    made = register.create_complaint(complaint(email.upper()), STAFF)  # found case-insensitively
    register.answer_complaint(made.id, AnswerIn(summary="Iris got a refund."), STAFF)
    body = f"Hello, this is {email}, please delete my data."
    talk = Correspondence(account, partner_id, clock, PEPPER).create_thread(thread(email, body), STAFF)
    other = register.create_complaint(complaint("someone.else@fabrikam.example"), STAFF)
    subjects = SubjectData(
        router,
        clock,
        deps.settings().subject_key_master.get_secret_value(),
        pepper=PEPPER,
        holders=SubjectHolders(tenant_users=TenantSubjects(), org_users=OrgSubjects()),
        contacts=lambda region: ContactRecords(router.region(region), PEPPER),
    )
    scope = SubjectScope(partner_id, "eu", tenant_id=str(uuid.uuid4()))
    who = SubjectIdentifier(email=email)

    exported = subjects.export(scope, who, request_id=new_id())
    assert exported.counts == {"complaints": 1, "correspondence": 1}
    package = json.loads(account.container(EXPORTS).download_blob(exported.blob_name).readall())
    assert package["categories"]["complaints"][0]["id"] == made.id
    assert package["categories"]["correspondence"][0]["items"][0]["body"] == body

    certificate = subjects.erase(scope, who, request_id=new_id())
    assert certificate.deleted == {"complaints": 1, "correspondence": 1}
    assert [k.category for k in certificate.kept] == ["complaints"]
    left = register.get_complaint(made.id)
    assert left.contact == {} and left.subject == "[erased]" and left.details is None
    assert (left.status, left.deadline_state) == ("answered", "met")  # the register's evidence stays
    assert register.get_complaint(other.id).contact["email"] == "someone.else@fabrikam.example"
    with pytest.raises(ProblemError):
        Correspondence(account, partner_id, clock, PEPPER).get_thread(talk.id)
    # Nothing in the account names them any more, in any letter case.
    for table in ("complaints", "correspondence"):
        for row in account.table(table).list_entities():
            text = json.dumps(dict(row), default=str).lower()
            assert email not in text and "iris" not in text, table
    assert subjects.export(scope, who, request_id=new_id()).counts == {}

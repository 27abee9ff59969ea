"""The composition root: builds settings and adapters once per process and hands them to services."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from shared.access.tokens import TokenValidator
from shared.adapters.fcm import FcmSender
from shared.audit.calls import CallLog
from shared.audit.log import add_watcher
from shared.clock import Clock, SystemClock
from shared.keys import KeyRing, MasterKey, pepper_ring
from shared.notifications.devices import DeviceLimits, DeviceRegistry
from shared.notifications.fanout import FanOut, FanoutSettings
from shared.notifications.orgs import OrgDirectory, OrgService
from shared.notifications.secrets import TokenCipher
from shared.notifications.service import NotificationService
from shared.partners.authenticate import Authenticator
from shared.partners.directory import PartnerDirectory
from shared.partners.me import MeService
from shared.partners.service import Partner, PartnerService
from shared.privacy.breaches import BreachRegister
from shared.privacy.consent import ConsentKeys, ConsentLedger, consent_rules
from shared.privacy.retention import RetentionRegistry, RetentionSweeper, builtin_rules
from shared.privacy.settings import PrivacySettingsService
from shared.settings import Settings, get_settings
from shared.storage.router import AccountStorage, StorageRouter
from shared.usage import UsageMeter

if TYPE_CHECKING:
    # Imported at first use: the Graph adapter's models cost cold start, and only tenant calls need them.
    from shared.adapters.email import EmailSender
    from shared.adapters.identity import IdentityPlatform
    from shared.alerts.delivery import DeliveryRunner
    from shared.alerts.destinations import OutboundPolicy
    from shared.alerts.digest import DigestRunner
    from shared.alerts.notices import NoticeBoard
    from shared.alerts.outbound import HttpSender
    from shared.alerts.routing import AlertRouter
    from shared.alerts.service import AlertService
    from shared.alerts.subscriptions import SubscriptionStore
    from shared.alerts.sync_watch import RequestDueWatch, SyncWatch
    from shared.audit.poison import PoisonMessages
    from shared.billing.invoices import InvoiceService
    from shared.idempotency import IdempotencyStore
    from shared.notifications.enrolment import DeviceEnrolment
    from shared.notifications.ingest import DataverseWebhook
    from shared.notifications.sending import DirectSend
    from shared.privacy.complaints import ComplaintRegister
    from shared.privacy.contact_records import ContactRecords
    from shared.privacy.correspondence import Correspondence
    from shared.privacy.data_return import DataReturns
    from shared.privacy.subject_requests import PrivacyRequestService
    from shared.privacy.subjects import SubjectData
    from shared.privacy.subprocessors import Announced, SubprocessorChanges
    from shared.privacy.transfers import TransferApprovals
    from shared.reports.service import ReportService
    from shared.standards.assignments import StandardAssignments
    from shared.standards.runs import StandardRuns
    from shared.standards.service import StandardService
    from shared.storage.rekeying import MasterInUse, Rekeying
    from shared.tenants.graph_access import GraphAccess
    from shared.tenants.offboarding import OffboardingService
    from shared.tenants.proof import TenantProof
    from shared.tenants.service import TenantService
    from shared.tenants.signin import StateSigner
    from shared.tenants.user_templates import UserTemplates


def settings() -> Settings:
    config = get_settings()
    _remember_secrets(config)
    return config


_remembered: list[Settings] = []


def key_ring(config: Settings) -> KeyRing:
    """The pepper's versions (API_KEY_PEPPER and API_KEY_PEPPER_VERSIONS) as one key ring."""
    return pepper_ring(
        config.api_key_pepper.get_secret_value(), config.api_key_pepper_versions.get_secret_value()
    )


def _remember_secrets(config: Settings) -> None:
    # The literal secrets are redacted from logs whatever shape they appear in.
    if _remembered and _remembered[0] is config:
        return
    from functions.logsafe import remember_settings_secrets

    remember_settings_secrets(
        [
            config.operator_api_key.get_secret_value(),
            config.api_key_pepper.get_secret_value(),
            *key_ring(config).master.secrets(),
            *config.consent_token_keys.get_secret_value().split(","),
            *_subject_master(config).secrets(),
        ]
    )
    _remembered[:] = [config]


def _subject_master(config: Settings) -> MasterKey:
    from shared.audit.seal import subject_master as from_settings

    return from_settings(
        config.subject_key_master.get_secret_value(), config.subject_key_master_versions.get_secret_value()
    )


@cache
def subject_master() -> MasterKey:
    """SUBJECT_KEY_MASTER (version 1) and SUBJECT_KEY_MASTER_VERSIONS as one versioned master."""
    return _subject_master(settings())


@cache
def clock() -> Clock:
    return SystemClock()


@cache
def storage() -> StorageRouter:
    return StorageRouter(settings())


@cache
def partners() -> PartnerService:
    return PartnerService(
        storage(),
        PartnerDirectory(storage()),
        clock(),
        key_ring(settings()),
        tenant_count=_tenants_held,
    )


@cache
def me() -> MeService:
    return MeService(partners(), partners().directory, clock(), key_ring(settings()))


def _tenants_held(partner: Partner) -> int:
    from shared.tenants.metering import count_partner_tenants  # only a plan change needs it

    return count_partner_tenants(storage().region(partner.region), partner.id)


def invoices(partner: Partner) -> InvoiceService:
    """One partner's invoices, in its region; the past-due grace from the settings."""
    from shared.billing.invoices import InvoiceService

    grace = timedelta(days=settings().invoice_grace_days)
    return InvoiceService(storage().region(partner.region), partner, partners(), clock(), grace=grace)


@cache
def authenticator() -> Authenticator:
    config = settings()
    validator = TokenValidator(
        config.entra_jwks_url,
        config.entra_audience,
        config.entra_client_id,
        authority_host=config.entra_authority_host,
        v1_issuer_host=config.entra_v1_issuer_host,
    )
    return Authenticator(
        partners(),
        validator,
        clock(),
        operator_key=config.operator_api_key.get_secret_value(),
        ring=key_ring(config),
        operator_tenant_id=config.operator_tenant_id,
    )


@cache
def usage(region: str) -> UsageMeter:
    return UsageMeter(storage().region(region), clock())


@cache
def call_log() -> CallLog:
    """The process's API call log: buffered, written by its own thread (shared/audit/calls.py)."""
    return CallLog(lambda region: storage().region(region))


@cache
def retention_registry() -> RetentionRegistry:
    """Every retention rule a sweep applies. Areas add theirs here (see shared/privacy/retention.py)."""
    from shared.alerts.retention import alert_rules
    from shared.audit.anchors import ANCHOR_DAYS
    from shared.billing.retention import InvoiceRecords
    from shared.notifications.retention import (
        DynamicsDataAtSubscriptionEnd,
        NotificationHistory,
        UnsubscribedDevices,
    )
    from shared.privacy.breaches import breach_rules
    from shared.privacy.call_retention import call_log_rules
    from shared.privacy.complaints import complaint_rules
    from shared.privacy.correspondence import EndedCorrespondence
    from shared.privacy.idempotency_retention import IdempotencyRecords
    from shared.privacy.lifetimes import (
        BlobsOlderThan,
        PoisonRecords,
        QueueMessageLifetime,
        RekeyRunState,
        SweepRunState,
        UnusedSubjectKeys,
    )
    from shared.privacy.plan_retention import SupersededPlanVersions
    from shared.privacy.subject_requests import request_rules
    from shared.standards.retention import StandardRunHistory, assignment_rows
    from shared.tenants.retention import EndUserDataAtSubscriptionEnd, ExpiredSignIns, PartnerTenantRecords
    from shared.tenants.snapshots import SnapshotHistory

    blobs = "tests/integration/test_retention_rules.py::test_transient_blobs_go_after_their_days"
    # The order is the sweep's, except that the administration records (the partner row) go last.
    return RetentionRegistry(
        [
            *builtin_rules(),
            UnsubscribedDevices(),
            NotificationHistory(),
            DynamicsDataAtSubscriptionEnd(),
            EndUserDataAtSubscriptionEnd(),
            PartnerTenantRecords(),
            ExpiredSignIns(),
            SnapshotHistory(),
            StandardRunHistory(),
            assignment_rows(),
            UnusedSubjectKeys(),
            BlobsOlderThan("privacyexports.age", "privacyexports", "end-user data", 7, tested_by=blobs),
            BlobsOlderThan(
                "partnerexports.age",
                "partnerexports",
                "data-return packages",
                30,
                tested_by="tests/integration/test_data_return.py::test_packages_go_30_days_after_they_were_written",
            ),
            BlobsOlderThan(
                "notifypayloads.age", "notifypayloads", "notification metadata", 1, tested_by=blobs
            ),
            BlobsOlderThan(
                "auditanchors.age",
                "auditanchors",
                "event / audit log integrity",
                ANCHOR_DAYS,
                tested_by="tests/integration/test_audit_anchors.py::test_anchors_go_when_the_log_they_anchor_is_gone",
            ),
            QueueMessageLifetime(),
            PoisonRecords(),
            SweepRunState(),
            RekeyRunState(),
            IdempotencyRecords(),
            *call_log_rules(),
            *breach_rules(),
            *complaint_rules(),
            EndedCorrespondence(),
            *consent_rules(),
            *request_rules(),
            *alert_rules(),
            SupersededPlanVersions(),
            InvoiceRecords(),
        ]
    )


@cache
def retention_sweeper() -> RetentionSweeper:
    return RetentionSweeper(
        retention_registry(),
        storage(),
        clock(),
        budget_seconds=settings().privacy_sweep_budget_seconds,
        lease_margin_seconds=settings().work_lease_seconds,
    )


def data_returns(**options: Any) -> DataReturns:
    """Termination choices and data-return packages; `options` (page size, hook) tune tests, benches."""
    from shared.privacy.data_return import DataReturns

    return DataReturns(storage(), clock(), partners(), **options)


def privacy_settings(account: AccountStorage) -> PrivacySettingsService:
    return PrivacySettingsService(account, clock())


@cache
def graph_access() -> GraphAccess:
    """Graph for the tenants area: one app credential per process, made at first use."""
    from pydantic import SecretStr

    from shared.adapters.graph import GraphSettings
    from shared.tenants.graph_access import GraphAccess

    config = settings()
    return GraphAccess(
        GraphSettings(
            client_id=config.graph_client_id,
            client_secret=SecretStr(config.graph_client_secret.get_secret_value()),
            authority_host=config.graph_authority_host,
            base_url=config.graph_base_url,
            ca_bundle=config.graph_ca_bundle,
        )
    )


def tenants(partner: Partner, *, graph: GraphAccess | None = None, **options: Any) -> TenantService:
    """One partner's tenants; `graph` and `options` (sync workers, dispatch) let tests and benches tune."""
    from shared.privacy.subjects.index import index_key
    from shared.standards.baseline import SyncBaseline
    from shared.tenants.service import TenantService

    access = graph or graph_access()
    account = storage().region(partner.region)
    return TenantService(
        account,
        partner,
        clock(),
        access,
        index_key=index_key(key_ring(settings())),
        proof=tenant_proof(partner, graph=access),
        # The sync checks the baseline through the standards engine (standards rank above tenants).
        baseline_checker=SyncBaseline(account, partner.id, clock()),
        **{"sync_lease": timedelta(seconds=settings().work_lease_seconds), **options},
    )


def offboarding(partner: Partner) -> OffboardingService:
    """One partner's offboarding operations (start, status, the queue worker's run)."""
    from shared.tenants.offboarding import OffboardingService

    return OffboardingService(tenants(partner).directory, clock())


def user_templates(partner: Partner) -> UserTemplates:
    """One partner's per-tenant user templates and users created from them."""
    from shared.tenants.user_templates import UserTemplates

    return UserTemplates(tenants(partner).directory, clock())


def standards(partner: Partner) -> StandardService:
    """One partner's standards, applied through the tenants' Graph access and guards."""
    from shared.standards.service import StandardService

    service = tenants(partner)
    return StandardService(
        storage().region(partner.region), partner, clock(), service.audit, graph_access(), rows=service.rows
    )


def standard_runs(partner: Partner) -> StandardRuns:
    """One partner's standard runs over many tenants (long operations: start, status, worker)."""
    from shared.standards.runs import StandardRuns

    return StandardRuns(standards(partner))


def standard_assignments(partner: Partner) -> StandardAssignments:
    """One partner's saved assignments; groups resolved from the partner's tenant groups at each run."""
    from shared.partners.access import AccessService
    from shared.standards.assignments import StandardAssignments

    access = AccessService(storage().region(partner.region), partner.id, clock(), key_ring(settings()))
    return StandardAssignments(standard_runs(partner), access.list_group_members)


def reports(partner: Partner) -> ReportService:
    """One partner's reports and end-user search; a tenant it does not have answers 404."""
    from shared.reports.service import ReportService

    return ReportService(
        storage().region(partner.region), partner.id, check_tenant=lambda t: tenants(partner).get(t)
    )


@cache
def identity_platform() -> IdentityPlatform:
    from shared.adapters.identity import IdentityPlatform

    return IdentityPlatform(graph_access().settings)


@cache
def sign_in_states() -> StateSigner:
    from shared.tenants.signin import StateSigner, state_keys

    return StateSigner(state_keys(key_ring(settings())))


def tenant_proof(partner: Partner, *, graph: GraphAccess | None = None) -> TenantProof:
    """Proofs and claims of one partner's tenants (GDAP, admin consent), wired to every other partner's."""
    from shared.errors import ProblemError
    from shared.tenants.claims import TenantClaimStore
    from shared.tenants.proof import TenantProof

    def other_partner(partner_id: str) -> TenantProof | None:
        try:
            return tenant_proof(partners().get(partner_id), graph=graph)
        except ProblemError:
            return None  # the holder no longer exists: its claim holds nothing

    return TenantProof(
        storage().region(partner.region),
        partner,
        clock(),
        graph=graph or graph_access(),
        identity=identity_platform(),
        claims=TenantClaimStore(storage(), clock()),
        signer=sign_in_states(),
        other_partner=other_partner,
    )


@cache
def consent_keys() -> ConsentKeys:
    config = settings()
    return ConsentKeys(
        config.consent_token_keys.get_secret_value(),
        config.api_key_pepper.get_secret_value(),
        ring=key_ring(config),
    )


def consent_ledger(region: str) -> ConsentLedger:
    """The consent ledger of one region (a partner's newsletter consents live in its region)."""
    return ConsentLedger(storage().region(region), clock(), consent_keys())


def privacy_requests(
    partner: Partner, scope_exists: Callable[[str | None, str | None], bool] | None = None
) -> PrivacyRequestService:
    """One partner's data-subject requests; `scope_exists` is needed to file one, not to run it."""
    from shared.privacy.subject_requests import Executors, PrivacyRequestService

    return PrivacyRequestService(
        storage().region(partner.region),
        partner.id,
        partner.region,
        clock(),
        settings().api_key_pepper.get_secret_value(),
        scope_exists=scope_exists,
        executors=Executors(subjects=subject_data, consent=lambda: consent_ledger(partner.region)),
        ring=key_ring(settings()),
    )


@cache
def subject_data() -> SubjectData:
    """One data subject's holdings in any region: locate, export, erase, rectify, restrict."""
    from shared.alerts.subjects import AlertRecipients, RectifyingAlertRecipients
    from shared.notifications.subjects import OrgSubjects
    from shared.privacy.subjects import SubjectData
    from shared.privacy.subjects.holdings import SubjectHolders
    from shared.tenants.subjects import TenantSubjects

    return SubjectData(
        storage(),
        clock(),
        subject_master(),
        consents=consent_ledger,
        pepper=settings().api_key_pepper.get_secret_value(),
        ring=key_ring(settings()),
        # Both scopes: a request naming an address also reaches the partner's alert e-mail recipients.
        holders=SubjectHolders(
            tenant_users=AlertRecipients(TenantSubjects(), clock()),
            org_users=RectifyingAlertRecipients(OrgSubjects(), clock()),
        ),
        contacts=contact_records,
    )


def contact_records(region: str) -> ContactRecords:
    """A region's complaints and correspondence as data-subject requests reach them (by address)."""
    from shared.privacy.contact_records import ContactRecords

    config = settings()
    return ContactRecords(
        storage().region(region), config.api_key_pepper.get_secret_value(), ring=key_ring(config)
    )


def complaints(partner: Partner) -> ComplaintRegister:
    """One partner's complaint register (4-week answer deadline), in its region."""
    from shared.privacy.complaints import ComplaintRegister

    pepper = settings().api_key_pepper.get_secret_value()
    return ComplaintRegister(
        storage().region(partner.region), partner.id, clock(), pepper, ring=key_ring(settings())
    )


def correspondence(partner: Partner) -> Correspondence:
    """One partner's correspondence threads with contact persons, in its region."""
    from shared.privacy.correspondence import Correspondence

    pepper = settings().api_key_pepper.get_secret_value()
    return Correspondence(
        storage().region(partner.region), partner.id, clock(), pepper, ring=key_ring(settings())
    )


def controller_requests(region: str) -> PrivacyRequestService:
    """Requests about data Tenantry holds as controller, in one region: the operator handles them."""
    from shared.privacy.subject_requests import CONTROLLER_PARTITION, PrivacyRequestService

    return PrivacyRequestService(
        storage().region(region),
        CONTROLLER_PARTITION,
        region,
        clock(),
        settings().api_key_pepper.get_secret_value(),
        ring=key_ring(settings()),
    )


def breach_register(region: str) -> BreachRegister:
    def partner_exists(partner_id: str, in_region: str) -> bool:
        return partners().directory.region_of(partner_id) == in_region

    return BreachRegister(storage().region(region), clock(), partner_exists)


def idempotency(principal: Any, body: bytes) -> tuple[IdempotencyStore, str]:
    """Where a caller's Idempotency-Key records live, and the scope that keeps partners apart.

    A partner's records are in its region. The operator's (creating partners, breaches, notices)
    go in the region the request names, else the first; every region is read, so the key is found
    wherever its first request was kept.
    """
    from shared.idempotency import OPERATOR_SCOPE, IdempotencyStore
    from shared.jsonbody import parse_json

    partner = getattr(principal, "partner", None)
    if isinstance(partner, Partner):
        return IdempotencyStore([storage().region(partner.region)], clock(), token_cipher()), partner.id
    regions = storage().regions
    try:
        named = parse_json(body) if body else None
    except Exception:  # an unreadable body is refused by the handler; the record goes anywhere
        named = None
    wanted = named.get("region") if isinstance(named, dict) else None
    home = wanted if wanted in regions else regions[0]
    ordered = [home, *(region for region in regions if region != home)]
    return IdempotencyStore([storage().region(r) for r in ordered], clock(), token_cipher()), OPERATOR_SCOPE


# --- Dynamics 365 push notifications (shared/notifications/) ---------------------------------


@cache
def org_directory() -> OrgDirectory:
    return OrgDirectory(storage())


@cache
def token_cipher() -> TokenCipher:
    return TokenCipher(settings().device_token_key.get_secret_value())


def orgs(partner_id: str, region: str) -> OrgService:
    from shared.notifications.cascade import org_cascade
    from shared.privacy.subjects import forget_org_subjects

    account = storage().region(region)
    return OrgService(
        account,
        partner_id,
        region,
        org_directory(),
        clock(),
        settings().api_key_pepper.get_secret_value(),
        cascade=org_cascade(account, forget_org_subjects),
        ring=key_ring(settings()),
    )


def device_limits() -> DeviceLimits:
    config = settings()
    return DeviceLimits(
        per_user=config.devices_per_user,
        per_org=config.devices_per_org,
        registrations_per_minute=config.device_registrations_per_minute,
    )


def devices(region: str) -> DeviceRegistry:
    return DeviceRegistry(
        storage().region(region),
        clock(),
        token_cipher(),
        settings().api_key_pepper.get_secret_value(),
        device_limits(),
        ring=key_ring(settings()),
    )


@cache
def device_enrolment() -> DeviceEnrolment:
    """Device registration for Dynamics users, checked with the product's token validation."""
    from shared.notifications.enrolment import DeviceEnrolment, TokenCheck

    access = authenticator()
    return DeviceEnrolment(
        org_directory(),
        orgs,
        storage().region,
        devices,
        tokens=TokenCheck(claims_of=access.token_claims, issued_by=access.validator.issued_by),
        clock=clock(),
        limits=device_limits(),
        usage=usage,
    )


def notifications(partner_id: str, region: str) -> NotificationService:
    return NotificationService(storage().region(region), partner_id, clock(), token_cipher())


@cache
def dataverse_webhook() -> DataverseWebhook:
    from shared.notifications.ingest import DataverseWebhook

    return DataverseWebhook(org_directory(), orgs, notifications)


def direct_send(partner: Partner) -> DirectSend:
    from shared.notifications.sending import DirectSend

    return DirectSend(orgs(partner.id, partner.region), notifications(partner.id, partner.region))


@cache
def fcm_sender() -> FcmSender:
    """One firebase-admin app per process, set up at the first send."""
    from shared.adapters.fcm import FcmSettings

    config = settings()
    return FcmSender(
        FcmSettings(
            project_id=config.firebase_project_id,
            service_account=config.firebase_service_account.get_secret_value(),
            fcm_url=config.firebase_fcm_url,
        ),
        clock=clock(),
    )


def fanout(region: str) -> FanOut:
    from shared.privacy.flags import restricted_in_org

    return FanOut(
        storage().region(region),
        clock(),
        devices(region),
        fcm_sender(),
        usage(region),
        FanoutSettings(claim_lease_seconds=settings().work_lease_seconds),
        restricted=restricted_in_org,
    )


# --- queues ------------------------------------------------------------------------------------


def poison_messages(region: str) -> PoisonMessages:
    """Why the region's queue messages were given up on; the partner a message names sees an event
    when it is held in this region."""
    from shared.audit.poison import PoisonMessages
    from shared.privacy.redact import redact

    def partner_here(partner_id: str) -> bool:
        return partners().directory.region_of(partner_id) == region

    return PoisonMessages(storage().region(region), clock(), redact=redact, partner_here=partner_here)


# --- alerts (shared/alerts/) -------------------------------------------------------------------


def _watch_for_alerts(account: AccountStorage, partner_id: str, bucket: str, entity: dict[str, Any]) -> None:
    """The audit log's watcher: events an alert rule reads go to the region's `alertevents` queue."""
    from shared.alerts.watch import enqueue_event

    enqueue_event(account, partner_id, bucket, entity)


add_watcher(_watch_for_alerts)


@cache
def outbound_policy() -> OutboundPolicy:
    from shared.alerts.destinations import OutboundPolicy, parse_ports

    return OutboundPolicy(parse_ports(settings().alerts_loopback_ports))


@cache
def http_sender() -> HttpSender:
    from shared.alerts.outbound import HttpSender

    return HttpSender(outbound_policy())


@cache
def mailer() -> EmailSender | None:
    """Alert e-mail through Azure Communication Services; None when the stamp has none configured."""
    from shared.adapters.email import EmailSender, EmailSettings

    config = settings()
    email = EmailSettings(
        config.email_connection_string.get_secret_value(),
        config.email_sender,
        config.email_ca_bundle,
        endpoint=config.email_endpoint,
    )
    return EmailSender(email) if email.configured else None


def alert_subscription_store(partner_id: str, region: str) -> SubscriptionStore:
    from shared.alerts.subscriptions import SubscriptionStore

    return SubscriptionStore(storage().region(region), partner_id, clock(), token_cipher())


def _owner_addresses(partner_id: str) -> list[str]:
    from shared.alerts.service import owner_addresses
    from shared.partners.access import AccessService

    partner = partners().get(partner_id)
    access = AccessService(storage().region(partner.region), partner.id, clock(), key_ring(settings()))
    return owner_addresses(access)


def alert_runner(region: str) -> DeliveryRunner:
    from shared.alerts.delivery import Channels, DeliveryRunner
    from shared.alerts.service import OwnerMail

    origin = settings().public_url
    return DeliveryRunner(
        storage().region(region),
        clock(),
        Channels(http_sender(), mailer(), origin),
        lambda partner_id: alert_subscription_store(partner_id, region),
        owners_told=OwnerMail(mailer(), _owner_addresses, origin),
    )


def alert_router(region: str) -> AlertRouter:
    from shared.alerts.routing import AlertRouter

    def group_members(partner_id: str) -> dict[str, frozenset[str]]:
        from shared.partners.access import AccessService

        access = AccessService(storage().region(region), partner_id, clock(), key_ring(settings()))
        return access.list_group_members()

    return AlertRouter(
        storage().region(region),
        clock(),
        lambda partner_id: alert_subscription_store(partner_id, region),
        group_members,
    )


def alerts(partner: Partner) -> AlertService:
    """One partner's alert subscriptions and their delivery log."""
    from shared.alerts.service import AlertService
    from shared.alerts.subscriptions import AlertSubscriptions
    from shared.audit.log import AuditLog

    account = storage().region(partner.region)
    subscriptions = AlertSubscriptions(
        alert_subscription_store(partner.id, partner.region), outbound_policy(), AuditLog(account, clock())
    )
    return AlertService(subscriptions, alert_runner(partner.region))


def notice_board() -> NoticeBoard:
    from shared.alerts.notices import NoticeBoard

    return NoticeBoard(storage(), settings().regions, clock())


def transfer_approvals(region: str) -> TransferApprovals:
    """A region's partners' approvals of third-country transfers (Firebase for pushes)."""
    from shared.privacy.transfers import TransferApprovals

    return TransferApprovals(storage().region(region), clock())


class SubprocessorNotices:
    """The notice board as the privacy area's `NoticeChannel`: privacy sits below alerts."""

    def __init__(self, board: NoticeBoard, now: Clock):
        self.board = board
        self.clock = now

    def announce(
        self, title: str, description: str, starts_at: Any, regions: list[str], context: Any
    ) -> Announced:
        from shared.alerts.notices import NoticeIn, NoticeKind

        notice = self.board.create_notice(
            NoticeIn(
                kind=NoticeKind.SUBPROCESSOR,
                title=title,
                description=description,
                starts_at=starts_at,
                regions=regions,
            ),
            context,
        )
        return self._announced(notice)

    def list_announced(self) -> list[Announced]:
        from shared.alerts.notices import NoticeKind

        now = self.clock.now()
        items = self.board.list_notices().items
        return [self._announced(n) for n in items if n.kind is NoticeKind.SUBPROCESSOR and n.starts_at > now]

    @staticmethod
    def _announced(notice: Any) -> Announced:
        from shared.privacy.subprocessors import Announced

        regions = tuple(notice.regions)
        return Announced(
            notice.id, notice.title, notice.description, notice.starts_at, regions, notice.created_at
        )


def subprocessor_changes() -> SubprocessorChanges:
    from shared.privacy.subprocessors import SubprocessorChanges

    return SubprocessorChanges(SubprocessorNotices(notice_board(), clock()), clock())


def alert_digests(region: str) -> DigestRunner:
    from shared.alerts.digest import DigestRunner

    return DigestRunner(storage().region(region), clock())


def sync_watch(region: str) -> SyncWatch:
    from shared.alerts.sync_watch import SyncWatch

    return SyncWatch(storage().region(region), clock())


def request_due_watch(region: str) -> RequestDueWatch:
    from shared.alerts.sync_watch import RequestDueWatch

    return RequestDueWatch(storage().region(region), clock())


# --- keys: re-keying and the report of key versions (shared/storage/rekeying.py) ---------------


def rekeyings(region: str) -> list[tuple[str, Rekeying]]:
    """What the re-keying job of one region walks, by name (the name keys its saved cursor)."""
    from shared.alerts.subscriptions import SubscriptionSecretRekey
    from shared.audit.seal import SubjectKeyRewrap, SubjectKeyStore
    from shared.notifications.devices import DeviceTokenRekey
    from shared.notifications.subjects import OrgSubjects
    from shared.privacy.subjects.index import index_key
    from shared.privacy.subjects.reindex import IndexedRows, SubjectIndexRekey
    from shared.tenants.subjects import TenantSubjects

    account = storage().region(region)
    # The subject index last: the largest table, so it does not hold the others back a day.
    pointed = IndexedRows(TenantSubjects.indexed_by, OrgSubjects.indexed_by, OrgSubjects.device_user)
    return [
        ("subjectkeys", SubjectKeyRewrap(SubjectKeyStore(account, subject_master()))),
        ("devices", DeviceTokenRekey(token_cipher())),
        ("alertsubscriptions", SubscriptionSecretRekey(token_cipher())),
        ("subjectindex", SubjectIndexRekey(index_key(key_ring(settings())), account, pointed)),
    ]


def key_masters() -> list[MasterInUse]:
    """Every configured master, its versions and the counters of what depends on each."""
    import hashlib

    from shared.audit.log import AuditLog, mac_key_dependencies
    from shared.keys import LEGACY, PEPPER, key_id
    from shared.notifications.devices import device_secret_dependencies, device_target_dependencies
    from shared.notifications.orgs import org_key_dependencies
    from shared.partners.access import api_key_dependencies
    from shared.privacy.complaints import contact_dependencies
    from shared.privacy.consent import consent_dependencies
    from shared.privacy.subject_requests import request_dependencies
    from shared.privacy.subjects.index import index_dependencies
    from shared.storage.rekeying import KeyIdCounts, MasterInUse, count_key_ids

    config = settings()

    def whole(count: Callable[[AccountStorage], dict[str, int]]) -> Callable[[AccountStorage], KeyIdCounts]:
        return lambda account: KeyIdCounts(count(account))

    def bounded(count: Callable[[AccountStorage], dict[str, int]]) -> Callable[[AccountStorage], KeyIdCounts]:
        # These read at most 100,000 rows (a table), one value each: as many means the scan stopped.
        def counts(account: AccountStorage) -> KeyIdCounts:
            found = count(account)
            return KeyIdCounts(found, complete=sum(found.values()) < 100_000)

        return counts

    def contacts(table: str) -> Callable[[AccountStorage], dict[str, int]]:
        return lambda account: contact_dependencies(account.table(table))

    def walked(name: str) -> Callable[[AccountStorage], KeyIdCounts]:
        return lambda account: count_key_ids(account, dict(rekeyings(account.label))[name])

    def macs(account: AccountStorage) -> KeyIdCounts:
        found, complete = mac_key_dependencies(AuditLog(account, clock()))
        return KeyIdCounts(found, complete)

    pepper = key_ring(config).master
    subject = subject_master()
    mac_spec = config.audit_mac_keys.get_secret_value()
    consent = [k.strip() for k in config.consent_token_keys.get_secret_value().split(",") if k.strip()]
    return [
        MasterInUse(
            PEPPER,
            "API_KEY_PEPPER, API_KEY_PEPPER_VERSIONS",
            [key_id(PEPPER, v) for v in sorted(pepper.versions, reverse=True)],
            "one-way hashes: re-keyed when their secret is next presented, or when it expires; "
            "subject-index entries by the daily re-keying job (erasure marks when a sync presents the user)",
            [
                whole(api_key_dependencies),
                whole(org_key_dependencies),
                whole(device_secret_dependencies),
                bounded(device_target_dependencies),
                bounded(index_dependencies),
                bounded(consent_dependencies),
                bounded(request_dependencies),
                bounded(contacts("complaints")),
                bounded(contacts("correspondence")),
            ],
            aliases={LEGACY: key_id(PEPPER, 1)},
        ),
        MasterInUse(
            subject.name,
            "SUBJECT_KEY_MASTER, SUBJECT_KEY_MASTER_VERSIONS",
            [key_id(subject.name, v) for v in sorted(subject.versions, reverse=True)],
            "wrapped subject keys: wrapped again by the daily re-keying job",
            [walked("subjectkeys")],
        ),
        MasterInUse(
            "tokencipher",
            "DEVICE_TOKEN_KEY",
            token_cipher().key_ids(),
            "device tokens and alert receivers' URLs and secrets: sealed again by the daily re-keying "
            "job; idempotency answers and notification payloads (not counted) end within a day",
            [walked("devices"), walked("alertsubscriptions")],
        ),
        MasterInUse(
            "auditmac",
            "AUDIT_MAC_KEYS",
            [part.partition("=")[0].strip() for part in mac_spec.split(",") if part.strip()],
            "never: a key stays while events it MACed are kept (24 months)",
            [macs],
        ),
        MasterInUse(
            "consenttoken",
            "CONSENT_TOKEN_KEYS",
            [hashlib.sha256(key.encode()).hexdigest()[:8] for key in consent],
            "nothing stored: links in sent mails verify under every listed key (drop one 400 days "
            "after it stopped signing)",
        ),
    ]

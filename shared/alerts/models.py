"""API models of alert subscriptions, their delivery log and the queue messages of delivery."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AnyUrl, BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.alias_generators import to_camel

from shared.alerts.rules import DEFAULT_UNASSIGNED_THRESHOLD, Severity
from shared.models import ApiInput, ApiModel, UtcDateTime, one_of
from shared.partners.models import Email, TenantScopeIn, TenantScopeOut

EVENTS_QUEUE = "alertevents"  # one message per recorded event a rule reads: where to find it
DELIVERY_QUEUE = "alertsend"  # first attempts of healthy subscriptions
RETRY_QUEUE = "alertretry"  # retries, and every attempt of a subscription that is failing

EventPattern = Annotated[
    str,
    StringConstraints(pattern=r"^(\*|[a-z][A-Za-z0-9-]*(\.[a-z][A-Za-z0-9-]*)*(\.\*)?)$", max_length=100),
]


class Channel(StrEnum):
    WEBHOOK = "webhook"  # Standard Webhooks, signed
    TEAMS = "teams"  # a Teams Workflows (Power Automate) webhook URL: an Adaptive Card
    EMAIL = "email"  # Azure Communication Services Email


class SubscriptionState(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"  # its endpoint failed a whole retry schedule, or the partner turned it off


class DeliveryState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    RETRYING = "retrying"
    DELIVERED = "delivered"
    FAILED = "failed"  # refused by the receiver (4xx), or the retry schedule ran out
    REFUSED = "refused"  # the destination is not allowed (SSRF rules): nothing was sent
    DIGEST = "digest"  # waits for the subscription's daily digest


class SubscriptionIn(ApiInput):
    # E-mail takes recipients and no url; webhook and teams take a url and no recipients.
    model_config = ConfigDict(
        json_schema_extra=one_of(
            [
                {
                    "required": ["channel", "recipients"],
                    "properties": {
                        "channel": {"type": "string", "enum": ["email"]},
                        "recipients": {"type": "array", "minItems": 1},
                        "url": {"type": "null"},
                    },
                },
                {
                    "required": ["channel", "url"],
                    "properties": {
                        "channel": {"type": "string", "enum": ["webhook", "teams"]},
                        "url": {"type": "string"},
                        "recipients": {"type": "array", "maxItems": 0},
                    },
                },
            ]
        )
    )

    channel: Channel
    url: AnyUrl | None = Field(
        default=None, description="The receiver (webhook, teams): https, a public address. Not for email."
    )
    recipients: list[Email] = Field(
        default_factory=list, max_length=20, description="Addresses the email channel writes to."
    )
    event_types: list[EventPattern] = Field(
        min_length=1,
        max_length=50,
        description="Alert types: exact, a prefix such as `tenant.drift.*`, or `*`.",
    )
    tenant_scope: TenantScopeIn | None = Field(
        default=None, description="Only alerts about these tenants (and groups); none: every tenant."
    )
    min_severity: Severity = Severity.INFO
    digest: bool = Field(default=False, description="One daily message per channel instead of one per alert.")
    description: str | None = Field(default=None, max_length=200)
    unassigned_licences_threshold: int = Field(
        default=DEFAULT_UNASSIGNED_THRESHOLD,
        ge=0,
        le=1_000_000,
        description="`tenant.drift.licencesUnassigned` only when more paid licences of one SKU than "
        "this became unassigned since the tenant's previous sync.",
    )

    @model_validator(mode="after")
    def _destination_fits_channel(self) -> SubscriptionIn:
        if self.channel is Channel.EMAIL:
            if not self.recipients or self.url is not None:
                raise ValueError("the email channel takes recipients and no url")
        elif self.url is None or self.recipients:
            raise ValueError("webhook and teams channels take a url and no recipients")
        return self


class SubscriptionPatch(ApiInput):
    event_types: list[EventPattern] | None = Field(default=None, min_length=1, max_length=50)
    min_severity: Severity | None = None
    digest: bool | None = None
    state: SubscriptionState | None = Field(default=None, description="`active` re-enables a disabled one.")
    description: str | None = Field(default=None, max_length=200)
    unassigned_licences_threshold: int | None = Field(default=None, ge=0, le=1_000_000)


class SubscriptionOut(ApiModel):
    id: str
    channel: Channel
    url: str | None = Field(description="The receiver without its query string (which may hold a signature).")
    recipients: list[str]
    event_types: list[str]
    tenant_scope: TenantScopeOut | None
    min_severity: Severity
    digest: bool
    description: str | None
    unassigned_licences_threshold: int
    state: SubscriptionState
    disabled_reason: str | None
    created_at: UtcDateTime
    secret_rotated_at: UtcDateTime | None


class SubscriptionCreated(SubscriptionOut):
    secret: str | None = Field(
        description="`whsec_...` (webhook channel), shown once: verify signatures with it."
    )


class SubscriptionList(ApiModel):
    items: list[SubscriptionOut]
    continuation_token: str | None = None


class SecretRotateIn(ApiInput):
    overlap_hours: int = Field(
        default=24,
        ge=0,
        le=168,
        description="How long deliveries are signed with the previous secret as well.",
    )


class SecretRotated(ApiModel):
    secret: str = Field(description="The new `whsec_...` secret, shown once.")
    previous_valid_until: UtcDateTime


class AttemptOut(ApiModel):
    at: UtcDateTime
    status_code: int | None
    latency_ms: int | None
    error: str | None


class DeliveryOut(ApiModel):
    id: str
    webhook_id: str = Field(description="The `webhook-id` the receiver sees, the same on every attempt.")
    alert_type: str
    severity: Severity
    tenant_id: str | None
    event_id: str
    title: str
    state: DeliveryState
    attempts: int
    status_code: int | None
    latency_ms: int | None
    error: str | None
    created_at: UtcDateTime
    next_attempt_at: UtcDateTime | None
    history: list[AttemptOut]


class DeliveryList(ApiModel):
    items: list[DeliveryOut]
    continuation_token: str | None = None


class _Message(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class EventMessage(_Message):
    """Where a recorded event is (its monthly table and row), for the rules to read."""

    partner_id: str
    bucket: str
    row_key: str


class DeliveryMessage(_Message):
    partner_id: str
    subscription_id: str
    delivery_id: str
    attempt: int  # the attempt this message is for: a stale duplicate finds it taken

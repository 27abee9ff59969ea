"""API models of the notifications area (camelCase on the wire). No model here ever carries a body
back out: notification bodies exist only in requests and in the transient payload."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, get_args
from uuid import UUID

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from shared.models import ApiInput, ApiModel, PageQuery, UtcDateTime, one_of

_TEXT = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
_SHORT = Annotated[str, StringConstraints(strip_whitespace=True, max_length=256)]
_LOGICAL_NAME = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,99}$")]
_HEADER_NAME = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9\-]{0,63}$")]
_TEMPLATE = Annotated[str, StringConstraints(min_length=1, max_length=1000)]
# What templates.problems accepts, for the document: text, `{{` and `}}`, and placeholders of a
# logical name or a built-in (tests/unit/test_openapi_document.py holds the two together).
_TEMPLATE_BODY = (
    r"(?:[^{}]|\{\{|\}\}|\{(?:[a-z][a-z0-9_]{0,99}"
    r"|\$(?:entity|message|recordId|organizationId|initiatingUserId))\})*"
)
TEMPLATE_PATTERN = f"^{_TEMPLATE_BODY}$"

WebhookAuthType = Literal["WebhookKey", "HttpHeader"]
OrgAccessState = Literal["pendingProof", "proven"]
RecipientType = Literal["owner", "initiatingUser", "users", "everyone"]
DeliveryState = Literal["sending", "retrying", "sent", "failed"]
NotificationState = Literal["accepted", "sending", "completed"]


# --- organisations ------------------------------------------------------------------------------


class Business(ApiInput):
    name: _TEXT
    phone: _SHORT | None = None
    email: _SHORT | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None
    address: Annotated[str, StringConstraints(max_length=1000)] | None = None


class Administrator(ApiInput):
    full_name: _TEXT
    email: _SHORT | None = None
    mobile_phone: _SHORT | None = None


class WebhookAuth(ApiInput):
    """How Dataverse authenticates: WebhookKey (`?code=`) or HttpHeader (`headerName: <key>`)."""

    # headerName comes with HttpHeader, and only with it.
    model_config = ConfigDict(
        json_schema_extra=one_of(
            [
                {
                    "required": ["type", "headerName"],
                    "properties": {
                        "type": {"type": "string", "enum": ["HttpHeader"]},
                        "headerName": {"type": "string"},
                    },
                },
                {
                    "properties": {
                        "type": {"type": "string", "enum": ["WebhookKey"]},
                        "headerName": {"type": "null"},
                    },
                },
            ]
        )
    )

    type: WebhookAuthType = "WebhookKey"
    header_name: _HEADER_NAME | None = None

    @model_validator(mode="after")
    def _header_for_header_auth(self) -> WebhookAuth:
        if self.type == "HttpHeader" and not self.header_name:
            raise ValueError("headerName is required for HttpHeader authentication")
        if self.type == "WebhookKey" and self.header_name:
            raise ValueError("headerName is only for HttpHeader authentication")
        return self


class OrgIn(ApiInput):
    organization_id: UUID = Field(description="The Dynamics 365 organization id (GUID).")
    unique_name: _TEXT
    name: _TEXT
    language_code: int = Field(ge=1, le=99999)
    business: Business
    administrators: list[Administrator] = Field(default_factory=list, max_length=50)
    webhook_auth: WebhookAuth = Field(default_factory=WebhookAuth)
    tenant_id: UUID | None = Field(
        default=None,
        description="The customer's Entra tenant the organisation belongs to; device registration "
        "checks the Dynamics user's token against it.",
    )


class OrgPatch(ApiInput):
    name: _TEXT | None = None
    unique_name: _TEXT | None = None
    language_code: int | None = Field(default=None, ge=1, le=99999)
    business: Business | None = None
    administrators: list[Administrator] | None = Field(default=None, max_length=50)
    webhook_auth: WebhookAuth | None = None
    tenant_id: UUID | None = Field(default=None, description="The customer's Entra tenant; null clears it.")


class OrgAccess(ApiModel):
    """Whether the organisation is proven to be the partner's: by its first authenticated delivery."""

    state: OrgAccessState = Field(
        description="pendingProof: waiting for a webhook delivery, authenticated with this "
        "registration's key, that carries this OrganizationId; proven: that delivery came and the "
        "org id is claimed for this partner."
    )
    since: UtcDateTime = Field(description="When the organisation entered this state.")
    reason: str | None = Field(default=None, description="What a pending organisation waits for.")


class OrgOut(ApiModel):
    id: str
    unique_name: str
    name: str
    language_code: int
    business: Business
    administrators: list[Administrator]
    webhook_auth: WebhookAuth
    webhook_url: str
    tenant_id: str | None = None
    access: OrgAccess
    created_at: UtcDateTime
    updated_at: UtcDateTime | None = None
    previous_webhook_key_valid_until: UtcDateTime | None = Field(
        default=None,
        description="When the webhook key replaced by the last rotation stops (or stopped) working; "
        "null when it stopped at once.",
    )


class OrgCreated(OrgOut):
    webhook_key: str = Field(description="Shown once: the WebhookKey value or the header's value.")
    device_key: str = Field(description="Publishable device-registration key (x-device-key).")


class OrgSecretOut(ApiModel):
    """A rotated secret, shown once."""

    id: str
    webhook_key: str | None = None
    device_key: str | None = None
    previous_valid_until: UtcDateTime | None = Field(
        default=None,
        description="Until when the replaced webhook key still works (deliveries in flight while "
        "Dataverse is updated); null when it stopped at once.",
    )


class WebhookKeyRotateIn(ApiInput):
    """An empty body (as before the overlap existed) takes the stamp's grace window."""

    body_optional: ClassVar[bool] = True

    overlap_hours: int | None = Field(
        default=None,
        ge=0,
        le=168,
        description="How long the replaced key keeps working; 0 ends it at once (a leaked key). "
        "Default: the stamp's WEBHOOK_KEY_GRACE_HOURS (24).",
    )


class OrgList(ApiModel):
    items: list[OrgOut]
    continuation_token: str | None = None


# --- system users -------------------------------------------------------------------------------


class SystemUserIn(ApiInput):
    system_user_id: UUID
    domain_name: _SHORT | None = None
    full_name: _SHORT | None = None
    email: _SHORT | None = None
    windows_live_id: _SHORT | None = None
    mobile_phone: _SHORT | None = None
    azure_active_directory_object_id: UUID | None = Field(
        default=None,
        description="The user's Entra object id (Dataverse's systemuser.azureactivedirectoryobjectid): "
        "a device is registered for this user only with an access token of this object id.",
    )


class SystemUsersIn(ApiInput):
    items: list[SystemUserIn] = Field(min_length=1, max_length=1000)


class SystemUserOut(ApiModel):
    system_user_id: str
    domain_name: str | None = None
    full_name: str | None = None
    email: str | None = None
    windows_live_id: str | None = None
    mobile_phone: str | None = None
    azure_active_directory_object_id: str | None = None


class SystemUsersUpserted(ApiModel):
    upserted: int


class SystemUserList(ApiModel):
    items: list[SystemUserOut]
    continuation_token: str | None = None


# --- rules ----------------------------------------------------------------------------------------


# A list of system-user ids, as the "exactly one of" schemas below restate it (a generator needs
# the items of every array it meets).
_UUIDS: dict[str, Any] = {"type": "array", "items": {"type": "string", "format": "uuid"}}


class Recipients(ApiInput):
    # `users` lists the system users for type users, and only then.
    model_config = ConfigDict(
        json_schema_extra=one_of(
            [
                {
                    "required": ["type", "users"],
                    "properties": {
                        "type": {"type": "string", "enum": ["users"]},
                        "users": {**_UUIDS, "minItems": 1},
                    },
                },
                {
                    "required": ["type"],
                    "properties": {
                        "type": {
                            "type": "string",
                            "enum": [t for t in get_args(RecipientType) if t != "users"],
                        },
                        "users": {"anyOf": [{"type": "null"}, {**_UUIDS, "maxItems": 0}]},
                    },
                },
            ]
        )
    )

    type: RecipientType
    users: list[UUID] | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _users_for_users(self) -> Recipients:
        if self.type == "users" and not self.users:
            raise ValueError("users lists the system users for type 'users'")
        if self.type != "users" and self.users:
            raise ValueError("users is only for type 'users'")
        return self


class RuleIn(ApiInput):
    entity: _LOGICAL_NAME = Field(description="Table logical name, e.g. incident.")
    message: Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z_]{0,63}$")] = Field(
        description="Message name, e.g. Create, Update, Assign."
    )
    filtering_attributes: list[_LOGICAL_NAME] | None = Field(default=None, max_length=100)
    title: _TEMPLATE = Field(json_schema_extra={"pattern": TEMPLATE_PATTERN})
    body: Annotated[str, StringConstraints(max_length=1000)] = Field(
        default="", json_schema_extra={"pattern": TEMPLATE_PATTERN}
    )
    link: Annotated[str, StringConstraints(max_length=2000)] | None = Field(
        default=None, json_schema_extra={"pattern": f"^https://{_TEMPLATE_BODY}$"}
    )
    recipients: Recipients
    enabled: bool = True


class RuleOut(ApiModel):
    id: str
    entity: str
    message: str
    filtering_attributes: list[str] | None = None
    title: str
    body: str
    link: str | None = None
    recipients: Recipients
    enabled: bool
    created_at: UtcDateTime
    updated_at: UtcDateTime | None = None


class RuleList(ApiModel):
    items: list[RuleOut]
    continuation_token: str | None = None


# --- devices --------------------------------------------------------------------------------------


class DeviceIn(ApiInput):
    system_user_id: UUID
    token: Annotated[str, StringConstraints(min_length=1, max_length=4096)] | None = Field(
        default=None, description="An FCM registration token, or"
    )
    fid: Annotated[str, StringConstraints(min_length=1, max_length=512)] | None = Field(
        default=None, description="a Firebase installation id (firebase-admin 7.5+)."
    )
    footprint: Annotated[str, StringConstraints(max_length=2000)] | None = None

    @model_validator(mode="after")
    def _one_target(self) -> DeviceIn:
        if (self.token is None) == (self.fid is None):
            raise ValueError("give exactly one of token or fid")
        return self


class DeviceCreated(ApiModel):
    id: str
    device_secret: str = Field(description="Shown once; x-device-secret to unregister or acknowledge.")
    created_at: UtcDateTime


class DeliveredIn(ApiInput):
    delivered_at: UtcDateTime | None = Field(default=None, description="When the client showed it.")


class DeliveredOut(ApiModel):
    notification_id: str
    device_id: str
    delivered_at: UtcDateTime


# --- notifications --------------------------------------------------------------------------------


class NotificationIn(ApiInput):
    # Exactly one of: recipients (at least one), or everyone=true.
    model_config = ConfigDict(
        json_schema_extra=one_of(
            [
                {
                    "required": ["recipients"],
                    "properties": {
                        "recipients": {**_UUIDS, "minItems": 1},
                        "everyone": {"type": "boolean", "enum": [False]},
                    },
                },
                {
                    "required": ["everyone"],
                    "properties": {
                        "everyone": {"type": "boolean", "enum": [True]},
                        "recipients": {"anyOf": [{"type": "null"}, {**_UUIDS, "maxItems": 0}]},
                    },
                },
            ]
        )
    )

    recipients: list[UUID] | None = Field(
        default=None, max_length=1000, description="System users; omit with everyone=true."
    )
    everyone: bool = False
    title: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    body: Annotated[str, StringConstraints(max_length=4000)] = ""
    data: dict[str, Annotated[str, StringConstraints(max_length=1000)]] = Field(
        default_factory=dict, max_length=20
    )
    link: Annotated[str, StringConstraints(pattern=r"^https://", max_length=2000)] | None = None

    @model_validator(mode="after")
    def _someone(self) -> NotificationIn:
        if not self.everyone and not self.recipients:
            raise ValueError("name recipients or set everyone")
        if self.everyone and self.recipients:
            raise ValueError("recipients and everyone exclude each other")
        return self


class NotificationCounts(ApiModel):
    devices: int = 0
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    pending: int = 0


class DeviceOutcome(ApiModel):
    device_id: str
    system_user_id: str | None = None
    state: DeliveryState
    attempts: int
    message_id: str | None = Field(default=None, description="Firebase's message name.")
    sent_at: UtcDateTime | None = None
    delivered_at: UtcDateTime | None = None
    error_code: str | None = None
    reason: str | None = None
    device_deleted: bool = False


class NotificationOut(ApiModel):
    id: str
    org_id: str
    source: Literal["webhook", "partner"]
    state: NotificationState
    rule_id: str | None = None
    entity: str | None = None
    message: str | None = None
    record_id: str | None = None
    needs_record: bool = False
    recipients: list[str] | Literal["everyone"]
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    pending: int = 0
    device_count: int = 0
    created_at: UtcDateTime
    completed_at: UtcDateTime | None = None
    devices: list[DeviceOutcome] | None = None
    devices_continuation_token: str | None = None


class NotificationList(ApiModel):
    items: list[NotificationOut]
    continuation_token: str | None = None


class NotificationQuery(PageQuery):
    """`top` and `continuationToken` page the per-device outcomes."""


class FanoutJob(ApiModel):
    """The queue message: ids, a shard, and the transient payload sealed (or in its blob)."""

    partner_id: str
    org_id: str
    notification_id: str
    shard: int | None = None  # None: the planning job that cuts the recipients' devices into shards
    round: int = 0
    # The sealed (AES-GCM) title/body/link when small enough; else it is in the transient blob.
    payload: str | None = Field(default=None, repr=False)


class FanoutJobs(ApiModel):
    """One queue message for the planning jobs of notifications accepted together (group commit)."""

    jobs: list[FanoutJob]


class WebhookAccepted(ApiModel):
    accepted: int = Field(description="Notifications this delivery made (0 when no rule matched).")
    notification_ids: list[str]
    duplicate: bool = Field(default=False, description="Dataverse sent this delivery before.")
    refused: str | None = Field(
        default=None,
        description="Why nothing was sent although the delivery was taken (202, so Dataverse does not "
        "retry): `transfer-not-approved` until the partner approves the Firebase transfer.",
    )

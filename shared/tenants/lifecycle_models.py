"""API and queue models of a user's lifecycle: offboarding operations, user templates, created users."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from shared.models import ApiInput, ApiModel, UtcDateTime
from shared.tenants.models import LicenceAdd, UserOut

LIFECYCLE = "tenantlifecycle"  # operations, their steps and the user template, per tenant
OFFBOARD_QUEUE = "tenantoffboard"  # one per region, in the region's account

_GUID = Annotated[
    str,
    StringConstraints(
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ),
]
_MESSAGE = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
_NAME = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
_COUNTRY = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]

StepName = Literal[
    "blockSignIn",
    "revokeSessions",
    "automaticReply",
    "oneDriveHandover",
    "hideFromAddressList",
    "convertMailbox",
    "removeGroups",
    "removeRoles",
    "removeLicences",
]
StepState = Literal["pending", "done", "skipped", "manual", "failed"]
OperationState = Literal["queued", "running", "succeeded", "failed"]


class AutoReplyIn(ApiInput):
    internal_message: _MESSAGE = Field(description="Sent to senders inside the organisation.")
    external_message: _MESSAGE | None = Field(
        default=None, description="Sent to everyone else; the internal message when absent."
    )


class OffboardingIn(ApiInput):
    auto_reply: AutoReplyIn | None = Field(
        default=None, description="Automatic reply to set on the mailbox; none: the step is skipped."
    )
    one_drive_to: _GUID | None = Field(
        default=None,
        description="User id of the colleague who gets write access to the leaver's OneDrive; none: skipped.",
    )


class FreedLicence(ApiModel):
    sku_id: str
    sku_part_number: str | None = None


class OffboardingStep(ApiModel):
    name: StepName
    state: StepState = Field(
        description="pending: not done yet; done; skipped: nothing to do; manual: Graph cannot do it, "
        "`instructions` say what to do; failed: Graph refused, `detail` says why."
    )
    detail: str | None = None
    instructions: str | None = None
    freed_licences: list[FreedLicence] | None = Field(
        default=None, description="removeLicences only: the licences the user no longer holds."
    )
    finished_at: UtcDateTime | None = None


class OffboardingOut(ApiModel):
    id: str
    tenant_id: str
    user_id: str
    state: OperationState
    created_at: UtcDateTime
    started_at: UtcDateTime | None = None
    finished_at: UtcDateTime | None = None
    attempts: int = 0
    error: str | None = None
    steps: list[OffboardingStep]


class OffboardingMessage(ApiModel):
    """The queue message: ids only."""

    partner_id: str
    tenant_id: str
    operation_id: str


class UserTemplateIn(ApiInput):
    licences: list[LicenceAdd] = Field(default_factory=list, max_length=20)
    groups: list[_GUID] = Field(default_factory=list, max_length=50, description="Group ids to join.")
    usage_location: _COUNTRY | None = Field(
        default=None, description="Two-letter country; licences need one."
    )


class UserTemplateOut(ApiModel):
    tenant_id: str
    licences: list[LicenceAdd]
    groups: list[str]
    usage_location: str | None = None
    updated_at: UtcDateTime


class UserCreateIn(ApiInput):
    display_name: _NAME
    user_principal_name: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True,
            to_lower=True,
            max_length=113,
            pattern=r"^[A-Za-z0-9._'-]{1,64}@[A-Za-z0-9.-]{1,48}$",
        ),
    ]
    given_name: _NAME | None = None
    surname: _NAME | None = None
    usage_location: _COUNTRY | None = Field(default=None, description="Overrides the template's.")


class UserCreatedOut(ApiModel):
    """Shown once: Tenantry keeps the password nowhere (not in a table, a log or the audit event)."""

    user: UserOut
    temporary_password: str = Field(description="One-time password; the user must change it at next sign-in.")
    force_change_password_next_sign_in: bool = True
    licences: list[str] = Field(description="SKU ids assigned from the template.")
    groups: list[str] = Field(description="Groups joined from the template.")

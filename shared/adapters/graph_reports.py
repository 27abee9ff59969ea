"""Graph's report resources as Tenantry reads them: MFA registration, sign-in activity, Secure Score.

Shapes as Microsoft Graph v1.0 declares them (msgraph-metadata, clean_v10_metadata): the entity
`userRegistrationDetails`, the complex type `signInActivity` on `user`, the entity `secureScore`.
Registration details and sign-in activity need Entra ID P1 in the customer tenant: without it Graph
answers 403 `Authentication_RequestFromNonPremiumTenantOrB2CTenant`, which the report shows per tenant.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from shared.adapters.graph import GraphModel

REGISTRATION_PATH = "reports/authenticationMethods/userRegistrationDetails"
SECURE_SCORES_PATH = "security/secureScores"
SIGN_IN_SELECT = "id,displayName,userPrincipalName,accountEnabled,userType,signInActivity"
SECURE_SCORE_SELECT = (
    "id,azureTenantId,createdDateTime,currentScore,maxScore,activeUserCount,licensedUserCount"
)
SECURE_SCORE_DAYS = 30  # Graph keeps one score a day for 90 days; the trend shows the last 30


class UserRegistrationDetails(GraphModel):
    id: str
    user_principal_name: str | None = None
    user_display_name: str | None = None
    user_type: str | None = None
    is_admin: bool | None = None
    is_mfa_registered: bool = False
    is_mfa_capable: bool = False
    is_sspr_registered: bool = False
    methods_registered: list[str] = Field(default_factory=list)
    last_updated_date_time: datetime | None = None


class SignInActivity(GraphModel):
    last_sign_in_date_time: datetime | None = None
    last_non_interactive_sign_in_date_time: datetime | None = None
    last_successful_sign_in_date_time: datetime | None = None


class UserSignIns(GraphModel):
    """A user with `signInActivity` ($select'ed: it is not among the default properties)."""

    id: str
    display_name: str | None = None
    user_principal_name: str | None = None
    account_enabled: bool | None = None
    user_type: str | None = None
    sign_in_activity: SignInActivity | None = None


class SecureScore(GraphModel):
    id: str
    created_date_time: datetime
    current_score: float = 0.0
    max_score: float = 0.0
    active_user_count: int | None = None
    licensed_user_count: int | None = None

"""Microsoft Graph writes of a user's lifecycle (create, offboard) through msgraph-sdk's typed client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.adapters.graph import GraphNotFoundError, GraphWriter

_GROUP = "#microsoft.graph.group"


@dataclass(frozen=True)
class Membership:
    """A group the user is a direct member of; a dynamic group's members come from its rule."""

    id: str
    display_name: str | None
    dynamic: bool


@dataclass(frozen=True)
class RoleHeld:
    assignment_id: str
    role_definition_id: str


@dataclass(frozen=True)
class CreatedUser:
    id: str
    user_principal_name: str


class LifecycleWriter(GraphWriter):
    """GraphWriter plus the calls of creating and offboarding a user (each safe to repeat)."""

    async def create_user(
        self,
        *,
        display_name: str,
        mail_nickname: str,
        user_principal_name: str,
        password: str,
        usage_location: str | None = None,
        given_name: str | None = None,
        surname: str | None = None,
    ) -> CreatedUser:
        """POST /users with a one-time password the user must change (never kept by us)."""
        from msgraph.generated.models.password_profile import PasswordProfile
        from msgraph.generated.models.user import User

        body = User(
            account_enabled=True,
            display_name=display_name,
            mail_nickname=mail_nickname,
            user_principal_name=user_principal_name,
            usage_location=usage_location,
            given_name=given_name,
            surname=surname,
            password_profile=PasswordProfile(password=password, force_change_password_next_sign_in=True),
        )
        created = await self._call(self.client().users.post(body))
        return CreatedUser(str(created.id), str(created.user_principal_name or user_principal_name))

    async def delete_user(self, user_id: str) -> None:
        """Deletes the user (to the recycle bin, restorable for 30 days)."""
        await self._call(self.client().users.by_user_id(user_id).delete())

    async def list_group_memberships(self, user_id: str) -> list[Membership]:
        """The groups the user is a direct member of (memberOf, every page; roles are left out)."""
        builder = self.client().users.by_user_id(user_id).member_of
        found: list[Membership] = []
        page = await self._call(builder.get())
        while page is not None:
            for item in page.value or []:
                if getattr(item, "odata_type", None) != _GROUP or not item.id:
                    continue
                types = [str(t) for t in getattr(item, "group_types", None) or []]
                found.append(
                    Membership(
                        str(item.id),
                        getattr(item, "display_name", None),
                        "DynamicMembership" in types or bool(getattr(item, "membership_rule", None)),
                    )
                )
            link = page.odata_next_link
            page = await self._call(builder.with_url(link).get()) if link else None
        return found

    async def list_role_assignments(self, user_id: str) -> list[RoleHeld]:
        """The user's directory role assignments (roleManagement/directory, filtered on principalId)."""
        from kiota_abstractions.base_request_configuration import RequestConfiguration
        from msgraph.generated.role_management.directory.role_assignments.role_assignments_request_builder import (  # noqa: E501
            RoleAssignmentsRequestBuilder,
        )

        builder = self.client().role_management.directory.role_assignments
        query = RoleAssignmentsRequestBuilder.RoleAssignmentsRequestBuilderGetQueryParameters(
            filter=f"principalId eq '{user_id.replace(chr(39), '')}'"
        )
        page = await self._call(
            builder.get(request_configuration=RequestConfiguration(query_parameters=query))
        )
        held: list[RoleHeld] = []
        while page is not None:
            held += [RoleHeld(str(a.id), str(a.role_definition_id)) for a in page.value or [] if a.id]
            link = page.odata_next_link
            page = await self._call(builder.with_url(link).get()) if link else None
        return held

    async def delete_role_assignment(self, assignment_id: str) -> bool:
        """False when the assignment was already gone (a repeated step)."""
        assignments = self.client().role_management.directory.role_assignments
        try:
            await self._call(assignments.by_unified_role_assignment_id(assignment_id).delete())
        except GraphNotFoundError:
            return False
        return True

    async def leave_group(self, group_id: str, user_id: str) -> bool:
        """False when the user was no longer a member (a repeated step)."""
        try:
            await self.remove_group_member(group_id, user_id)
        except GraphNotFoundError:
            return False
        return True

    async def set_automatic_replies(self, user_id: str, *, internal: str, external: str) -> bool:
        """Turns automatic replies on (to everyone); False when the user has no Exchange Online mailbox."""
        from msgraph.generated.models.automatic_replies_setting import AutomaticRepliesSetting
        from msgraph.generated.models.automatic_replies_status import AutomaticRepliesStatus
        from msgraph.generated.models.external_audience_scope import ExternalAudienceScope
        from msgraph.generated.models.mailbox_settings import MailboxSettings

        body = MailboxSettings(
            automatic_replies_setting=AutomaticRepliesSetting(
                status=AutomaticRepliesStatus.AlwaysEnabled,
                external_audience=ExternalAudienceScope.All,
                internal_reply_message=internal,
                external_reply_message=external,
            )
        )
        try:
            await self._call(self.client().users.by_user_id(user_id).mailbox_settings.patch(body))
        except GraphNotFoundError:
            return False
        return True

    async def get_drive_id(self, user_id: str) -> str | None:
        """The user's OneDrive, or None when none is provisioned."""
        try:
            drive: Any = await self._call(self.client().users.by_user_id(user_id).drive.get())
        except GraphNotFoundError:
            return None
        return str(drive.id) if drive is not None and drive.id else None

    async def grant_drive_access(self, drive_id: str, colleague_id: str) -> str:
        """Gives the colleague write access to the whole OneDrive (its root), without an e-mail;
        the permission's id. Granting again answers the same permission."""
        from msgraph.generated.drives.item.items.item.invite.invite_post_request_body import (
            InvitePostRequestBody,
        )
        from msgraph.generated.models.drive_recipient import DriveRecipient

        body = InvitePostRequestBody(
            recipients=[DriveRecipient(object_id=colleague_id)],
            roles=["write"],
            require_sign_in=True,
            send_invitation=False,
        )
        root = self.client().drives.by_drive_id(drive_id).items.by_drive_item_id("root")
        answer = await self._call(root.invite.post(body))
        granted = [p for p in getattr(answer, "value", None) or [] if p.id]
        return str(granted[0].id) if granted else ""

    async def list_sku_names(self) -> dict[str, str]:
        """skuId -> skuPartNumber of the tenant's subscriptions (to say which licences were freed)."""
        skus = await self._call(self.client().subscribed_skus.get())
        return {
            str(s.sku_id).lower(): str(s.sku_part_number or s.sku_id)
            for s in getattr(skus, "value", None) or []
            if s.sku_id is not None
        }

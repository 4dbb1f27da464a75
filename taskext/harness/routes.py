"""The fake REST API's default route table and its answers about users, the application and guilds."""

from __future__ import annotations

from typing import Any

from .command_routes import _CommandRoutesMixin
from .common import JSON
from .fakes import FakeUser
from .message_routes import _MessageRoutesMixin
from .results import RecordedRequest, RouteHandler
from .world import _WorldMixin


class _RoutesMixin(_CommandRoutesMixin, _MessageRoutesMixin, _WorldMixin):
    """The routes a fresh harness answers (:meth:`BotHarness.add_route` adds more)."""

    def _install_default_routes(self) -> None:
        routes: list[tuple[str, str, RouteHandler]] = [
            ("GET", "/users/@me", self._get_me),
            ("GET", "/gateway", lambda r: {"url": "wss://gateway.discord.gg"}),
            ("GET", "/gateway/bot", self._get_gateway_bot),
            ("GET", "/oauth2/applications/@me", self._get_application),
            ("GET", "/applications/@me", self._get_application),
            ("GET", "/soundboard-default-sounds", lambda r: []),
            ("GET", "/applications/{application_id}/emojis", lambda r: {"items": []}),
            ("GET", "/applications/{application_id}/commands", self._list_commands),
            ("PUT", "/applications/{application_id}/commands", self._bulk_commands),
            ("POST", "/applications/{application_id}/commands", self._upsert_command),
            ("GET", "/applications/{application_id}/commands/{command_id}", self._get_command),
            ("PATCH", "/applications/{application_id}/commands/{command_id}", self._edit_command),
            ("DELETE", "/applications/{application_id}/commands/{command_id}", self._delete_command),
            ("GET", "/applications/{application_id}/guilds/{guild_id}/commands", self._list_commands),
            ("PUT", "/applications/{application_id}/guilds/{guild_id}/commands", self._bulk_commands),
            ("POST", "/applications/{application_id}/guilds/{guild_id}/commands", self._upsert_command),
            ("GET", "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}", self._get_command),
            ("PATCH", "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}", self._edit_command),
            ("DELETE", "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}", self._delete_command),
            ("GET", "/applications/{application_id}/guilds/{guild_id}/commands/permissions", lambda r: []),
            ("POST", "/interactions/{interaction_id}/{interaction_token}/callback", self._interaction_callback),
            ("GET", "/webhooks/{application_id}/{interaction_token}/messages/@original", self._get_response),
            ("PATCH", "/webhooks/{application_id}/{interaction_token}/messages/@original", self._edit_response),
            ("DELETE", "/webhooks/{application_id}/{interaction_token}/messages/@original", self._delete_response),
            ("POST", "/webhooks/{application_id}/{interaction_token}", self._followup),
            ("GET", "/webhooks/{application_id}/{interaction_token}/messages/{message_id}", self._get_response),
            ("PATCH", "/webhooks/{application_id}/{interaction_token}/messages/{message_id}", self._edit_response),
            ("DELETE", "/webhooks/{application_id}/{interaction_token}/messages/{message_id}", self._delete_response),
            ("POST", "/channels/{channel_id}/messages", self._create_message),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self._edit_message),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}", lambda r: None),
            ("POST", "/channels/{channel_id}/typing", lambda r: None),
            ("PUT", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me", lambda r: None),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me", lambda r: None),
            ("GET", "/channels/{channel_id}", self._get_channel),
            ("GET", "/guilds/{guild_id}", self._get_guild),
            ("GET", "/guilds/{guild_id}/members/{user_id}", self._get_member),
            ("GET", "/users/{user_id}", self._get_user),
            ("POST", "/users/@me/channels", self._create_dm),
        ]
        for method, template, handler in routes:
            self._routes.append((method, template, template.strip("/").split("/"), handler))

    def _get_me(self, request: RecordedRequest) -> Any:
        if request.headers.get("Authorization") != f"Bot {self.token}":
            return self._error(401, 0, "401: Unauthorized")
        user = self.bot_user.to_payload()
        user.update(verified=True, mfa_enabled=False, email=None, locale="en-US")
        return user

    def _get_gateway_bot(self, request: RecordedRequest) -> Any:
        return {
            "url": "wss://gateway.discord.gg",
            "shards": 1,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1},
        }

    def _get_application(self, request: RecordedRequest) -> Any:
        team: JSON | None = None
        owner = self.owner
        if self.team_member_ids:
            team_id = str(self.application_id + 1)
            members = []
            for index, member_id in enumerate(self.team_member_ids):
                user = self._users.get(member_id) or FakeUser(member_id, f"member{index}")
                members.append(
                    {
                        "membership_state": 2,
                        "team_id": team_id,
                        "user": user.to_payload(),
                        "role": "admin" if index else "developer",
                        "permissions": ["*"],
                    }
                )
            team = {
                "id": team_id,
                "name": "Team",
                "icon": None,
                "owner_user_id": str(self.team_member_ids[0]),
                "members": members,
            }
            owner = FakeUser(int(team_id), f"team{team_id}")
        return {
            "id": str(self.application_id),
            "name": self.bot_user.name,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "rpc_origins": [],
            "bot_public": True,
            "bot_require_code_grant": False,
            "bot": self.bot_user.to_payload(),
            "owner": owner.to_payload(),
            "team": team,
            "verify_key": "0" * 64,
            "flags": 0,
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "approximate_guild_count": len(self.guilds),
        }

    def _get_channel(self, request: RecordedRequest) -> Any:
        channel_id = request.path_params["channel_id"]
        entry = self._channels.get(int(channel_id)) if channel_id.isdigit() else None
        if entry is None:
            return self._error(404, 10003, "Unknown Channel")
        return self._channel_payload(entry[1], entry[0])

    def _get_guild(self, request: RecordedRequest) -> Any:
        guild_id = request.path_params["guild_id"]
        guild = self._guilds_by_id.get(int(guild_id)) if guild_id.isdigit() else None
        if guild is None:
            return self._error(404, 10004, "Unknown Guild")
        payload = self.guild_payload(guild)
        for key in ("members", "channels", "threads", "presences", "voice_states", "joined_at", "large"):
            payload.pop(key, None)
        return payload

    def _get_member(self, request: RecordedRequest) -> Any:
        guild_id, user_id = request.path_params["guild_id"], request.path_params["user_id"]
        guild = self._guilds_by_id.get(int(guild_id)) if guild_id.isdigit() else None
        if guild is None:
            return self._error(404, 10004, "Unknown Guild")
        member = self._guild_members[guild.id].get(int(user_id)) if user_id.isdigit() else None
        if member is None:
            return self._error(404, 10007, "Unknown Member")
        return self.member_payload(guild, member)

    def _get_user(self, request: RecordedRequest) -> Any:
        user_id = request.path_params["user_id"]
        user = self._users.get(int(user_id)) if user_id.isdigit() else None
        if user is None:
            return self._error(404, 10013, "Unknown User")
        return user.to_payload()

    def _create_dm(self, request: RecordedRequest) -> Any:
        recipient = str((request.json or {}).get("recipient_id", ""))
        user = self._users.get(int(recipient)) if recipient.isdigit() else None
        if user is None:
            return self._error(400, 50007, "Cannot send messages to this user")
        return self._channel_payload(self.dm_channel(user), None)

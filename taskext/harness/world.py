"""The fake Discord's view of guilds, members, roles and channels, and their JSON."""

from __future__ import annotations

from .common import _ALL_PERMISSIONS, ADMINISTRATOR, JSON
from .errors import HarnessError
from .fakes import FakeChannel, FakeGuild, FakeMember, FakeRole, FakeUser
from .state import _HarnessState


class _WorldMixin(_HarnessState):
    """Guilds, members, roles and channels as Discord knows them."""

    def _remember_user(self, user: FakeUser) -> None:
        self._users.setdefault(user.id, user)

    def _add_guild_config(self, guild: FakeGuild) -> None:
        self._guilds_by_id[guild.id] = guild
        roles = {guild.id: FakeRole(guild.id, "@everyone", guild.everyone_permissions, position=0)}
        roles.update({role.id: role for role in guild.roles})
        bot_role = FakeRole(
            self._snowflake(), self.bot_user.name, self.bot_permissions, managed=True, bot_id=self.bot_user.id
        )
        roles[bot_role.id] = bot_role
        self._roles[guild.id] = roles
        self._announced_roles[guild.id] = set()
        self._guild_members[guild.id] = {}
        bot_member = FakeMember(self.bot_user, roles=(bot_role.id,))
        self._guild_members[guild.id][self.bot_user.id] = bot_member
        for member in guild.members:
            self._guild_members[guild.id][member.id] = member
            self._remember_user(member.user)
            self._member_role_ids(guild, member)  # create synthetic roles now
        for channel in guild.channels:
            self._channels[channel.id] = (guild, channel)

    def guild(self, guild_id: int | None = None) -> FakeGuild:
        """The configured guild with this id (the only one when ``None``)."""
        if guild_id is None:
            if len(self.guilds) != 1:
                raise HarnessError("several guilds are configured: pass guild_id")
            return self.guilds[0]
        try:
            return self._guilds_by_id[guild_id]
        except KeyError:
            raise HarnessError(f"guild {guild_id} is not configured") from None

    def guild_owner_id(self, guild: FakeGuild) -> int:
        """The owner of ``guild``: ``guild.owner_id``, or the application owner when unset."""
        return guild.owner_id if guild.owner_id is not None else self.owner.id

    def dm_channel(self, user: FakeUser | FakeMember) -> FakeChannel:
        """The DM channel between ``user`` and the bot."""
        base = user.user if isinstance(user, FakeMember) else user
        channel = self._dm_channels.get(base.id)
        if channel is None:
            channel = FakeChannel(self._snowflake(), "", type=1, recipient=base)
            self._dm_channels[base.id] = channel
            self._channels[channel.id] = (None, channel)
        return channel

    def _member_role_ids(self, guild: FakeGuild, member: FakeMember) -> list[int]:
        roles = self._roles[guild.id]
        ids: list[int] = []
        for role_id in member.roles:
            if role_id not in roles:
                raise HarnessError(f"member {member.id} has role {role_id}, which guild {guild.id} does not have")
            ids.append(role_id)
        if member.administrator:
            ids.append(self._synthetic_role(guild, ADMINISTRATOR, "Administrator").id)
        extra = member.extra_permissions
        if extra is not None:
            ids.append(self._synthetic_role(guild, extra, f"Permissions {extra}").id)
        return ids

    def _synthetic_role(self, guild: FakeGuild, permissions: int, name: str) -> FakeRole:
        key = (guild.id, permissions)
        role = self._synthetic_roles.get(key)
        if role is None:
            role = FakeRole(self._snowflake(), name, permissions, position=1)
            self._synthetic_roles[key] = role
            self._roles[guild.id][role.id] = role
        return role

    def member_permissions(self, guild: FakeGuild, member: FakeMember) -> int:
        """The permissions Discord computes for ``member`` in ``guild`` (all of them for owners and admins)."""
        if member.id == self.guild_owner_id(guild):
            return _ALL_PERMISSIONS
        roles = self._roles[guild.id]
        value = roles[guild.id].permissions
        for role_id in self._member_role_ids(guild, member):
            value |= roles[role_id].permissions
        return _ALL_PERMISSIONS if value & ADMINISTRATOR else value

    def member_payload(self, guild: FakeGuild, member: FakeMember, *, with_user: bool = True) -> JSON:
        """The guild member object Discord sends for ``member``."""
        payload: JSON = {
            "roles": [str(role_id) for role_id in self._member_role_ids(guild, member)],
            "nick": member.nick,
            "avatar": None,
            "banner": None,
            "joined_at": member.joined_at.isoformat(),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_user:
            payload["user"] = member.user.to_payload()
        return payload

    def guild_payload(self, guild: FakeGuild) -> JSON:
        """The GUILD_CREATE data for ``guild`` as this bot's intents get it."""
        intents = self.bot.intents
        members = [self._guild_members[guild.id][self.bot_user.id]]
        if intents.presences:
            members += [m for m in self._guild_members[guild.id].values() if m.id != self.bot_user.id]
        self._announced_roles[guild.id].update(self._roles[guild.id])
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.guild_owner_id(guild)),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "preferred_locale": guild.preferred_locale,
            "features": [],
            "roles": [role.to_payload() for role in self._roles[guild.id].values()],
            "emojis": [],
            "stickers": [],
            "max_members": 500000,
            "max_video_channel_users": 25,
            "vanity_url_code": None,
            "application_id": None,
            "joined_at": "2024-01-01T00:00:00+00:00",
            "large": False,
            "unavailable": False,
            "member_count": len(self._guild_members[guild.id]),
            "members": [self.member_payload(guild, member) for member in members],
            "channels": [channel.to_payload() for channel in guild.channels],
            "threads": [],
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def _channel_payload(self, channel: FakeChannel, guild: FakeGuild | None) -> JSON:
        return channel.to_payload(guild.id if guild is not None else None)

"""The fake world a test configures: users, members, roles, channels, attachments, guilds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import discord

from .common import DEFAULT_EVERYONE_PERMISSIONS, JSON, UTC
from .errors import HarnessError


@dataclass(frozen=True)
class FakeUser:
    """A Discord user.

    Parameters
    ----------
    id:
        The user's snowflake.
    name:
        The username.
    global_name:
        The display name, if any.
    bot:
        Whether the account is a bot.
    locale:
        The client locale sent with this user's interactions.
    """

    id: int
    name: str = "user"
    global_name: str | None = None
    bot: bool = False
    locale: str = "en-US"

    def to_payload(self) -> JSON:
        """The user object Discord sends for this user."""
        return {
            "id": str(self.id),
            "username": self.name,
            "global_name": self.global_name,
            "discriminator": "0",
            "avatar": None,
            "bot": self.bot,
            "system": False,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
        }


@dataclass(frozen=True)
class FakeMember:
    """A user's membership in a guild (reusable across guilds).

    Parameters
    ----------
    user:
        The user.
    roles:
        Ids of :class:`FakeRole` of the guild the member has.
    administrator:
        Give the member an "Administrator" role (the ADMINISTRATOR permission, so every
        permission).
    permissions:
        Give the member a role granting exactly this permission bitfield (an ``int`` or a
        :class:`discord.Permissions`), on top of ``@everyone``'s.
    nick:
        The member's nickname in the guild.
    """

    user: FakeUser
    roles: tuple[int, ...] = ()
    administrator: bool = False
    permissions: int | discord.Permissions | None = None
    nick: str | None = None
    joined_at: datetime = field(default_factory=lambda: datetime(2024, 1, 1, tzinfo=UTC))

    @property
    def id(self) -> int:
        """The user's id."""
        return self.user.id

    @property
    def name(self) -> str:
        """The user's name."""
        return self.user.name

    @property
    def extra_permissions(self) -> int | None:
        """:attr:`permissions` as an int (``None`` when not set)."""
        if self.permissions is None:
            return None
        if isinstance(self.permissions, discord.Permissions):
            return self.permissions.value
        return int(self.permissions)


@dataclass(frozen=True)
class FakeRole:
    """A guild role.

    Parameters
    ----------
    id:
        The role's snowflake (the ``@everyone`` role's id is the guild's id).
    name:
        The role's name.
    permissions:
        The permission bitfield the role grants.
    position:
        Its position in the role hierarchy.
    """

    id: int
    name: str
    permissions: int = 0
    position: int = 1
    color: int = 0
    hoist: bool = False
    mentionable: bool = False
    managed: bool = False
    bot_id: int | None = None

    def to_payload(self) -> JSON:
        """The role object Discord sends for this role."""
        payload: JSON = {
            "id": str(self.id),
            "name": self.name,
            "color": self.color,
            "colors": {"primary_color": self.color, "secondary_color": None, "tertiary_color": None},
            "hoist": self.hoist,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": self.mentionable,
            "flags": 0,
        }
        if self.bot_id is not None:
            payload["tags"] = {"bot_id": str(self.bot_id)}
        return payload


@dataclass(frozen=True)
class FakeChannel:
    """A channel.

    Parameters
    ----------
    id:
        The channel's snowflake.
    name:
        The channel's name.
    type:
        The Discord channel type: 0 text (default), 1 DM, 2 voice, 4 category, 5 news,
        13 stage, 15 forum.
    """

    id: int
    name: str = "general"
    type: int = 0
    topic: str | None = None
    position: int = 0
    nsfw: bool = False
    parent_id: int | None = None
    recipient: FakeUser | None = None

    def to_payload(self, guild_id: int | None = None) -> JSON:
        """The channel object Discord sends for this channel."""
        if self.type in (1, 3):
            recipients = [self.recipient.to_payload()] if self.recipient is not None else []
            return {
                "id": str(self.id),
                "type": self.type,
                "recipients": recipients,
                "last_message_id": None,
                "flags": 0,
            }
        payload: JSON = {
            "id": str(self.id),
            "type": self.type,
            "name": self.name,
            "position": self.position,
            "permission_overwrites": [],
            "nsfw": self.nsfw,
            "parent_id": str(self.parent_id) if self.parent_id is not None else None,
            "flags": 0,
        }
        if guild_id is not None:
            payload["guild_id"] = str(guild_id)
        if self.type in (0, 5, 15):
            payload.update(topic=self.topic, last_message_id=None, rate_limit_per_user=0)
        if self.type in (2, 13):
            payload.update(bitrate=64000, user_limit=0, rtc_region=None)
        return payload


@dataclass(frozen=True)
class FakeAttachment:
    """A file a user attaches to an ATTACHMENT option."""

    filename: str
    data: bytes = b""
    content_type: str | None = None
    id: int | None = None


@dataclass
class FakeGuild:
    """A guild the bot is in.

    Parameters
    ----------
    id:
        The guild's snowflake; also the id of its ``@everyone`` role.
    name:
        The guild's name.
    owner_id:
        The guild owner (every permission). Default: the application owner.
    channels:
        Its channels. Default: one text channel ``#general`` with id ``id + 1``.
    roles:
        Its roles besides ``@everyone`` (the harness adds the bot's role and the roles
        :class:`FakeMember` flags need).
    members:
        Members Discord knows about (sent at startup when the bot has the ``members``
        intent, answered by ``GET /guilds/{id}/members/{id}``).
    everyone_permissions:
        What ``@everyone`` grants.
    """

    id: int
    name: str = "Test Guild"
    owner_id: int | None = None
    channels: list[FakeChannel] = field(default_factory=list)
    roles: list[FakeRole] = field(default_factory=list)
    members: list[FakeMember] = field(default_factory=list)
    everyone_permissions: int = DEFAULT_EVERYONE_PERMISSIONS
    preferred_locale: str = "en-US"

    def __post_init__(self) -> None:
        if not self.channels:
            self.channels = [FakeChannel(self.id + 1, "general")]

    @property
    def text_channel(self) -> FakeChannel:
        """The first text channel (where interactions happen by default)."""
        for channel in self.channels:
            if channel.type in (0, 5):
                return channel
        raise HarnessError(f"guild {self.id} has no text channel")

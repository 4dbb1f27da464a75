"""The state every part of :class:`BotHarness` shares, declared once for the mixins."""

from __future__ import annotations

import asyncio

import discord

from .common import JSON, _Snowflakes
from .fakes import FakeChannel, FakeGuild, FakeMember, FakeRole, FakeUser
from .results import CapturedError, RecordedRequest, RouteHandler, _InteractionState
from .transport import _FakeGatewaySocket, _FakeSession


class _HarnessState:
    """The attributes :meth:`BotHarness.__init__` sets (see there), typed for the mixins that use them."""

    # Configuration.
    bot: discord.Client
    bot_user: FakeUser
    owner: FakeUser
    team_member_ids: list[int]
    guilds: list[FakeGuild]
    bot_permissions: int
    token: str
    heartbeat_interval: float
    guild_ready_timeout: float | None
    timeout: float
    response_deadline: float | None
    compress: bool

    # What a test looks at.
    requests: list[RecordedRequest]
    gateway_received: list[JSON]
    errors: list[CapturedError]
    commands: dict[int | None, dict[int, JSON]]
    channel_messages: dict[int, list[JSON]]

    # Transport and lifecycle.
    _snowflake: _Snowflakes
    _session: _FakeSession
    _routes: list[tuple[str, str, list[str], RouteHandler]]
    _request_event: asyncio.Event
    _socket: _FakeGatewaySocket | None
    _sockets: list[_FakeGatewaySocket]
    _resume_waiter: asyncio.Future[None] | None
    _session_id: str
    _bot_task: asyncio.Task[None] | None
    _observer: asyncio.Future[None] | None
    _patched: dict[str, tuple[object, bool]]
    _saved_guild_ready_timeout: float | None
    _started: bool
    _closed: bool

    # The fake Discord's data.
    _interactions: dict[int, _InteractionState]
    _interactions_by_token: dict[str, _InteractionState]
    _roles: dict[int, dict[int, FakeRole]]
    _announced_roles: dict[int, set[int]]
    _synthetic_roles: dict[tuple[int, int], FakeRole]
    _guild_members: dict[int, dict[int, FakeMember]]
    _users: dict[int, FakeUser]
    _dm_channels: dict[int, FakeChannel]
    _guilds_by_id: dict[int, FakeGuild]
    _channels: dict[int, tuple[FakeGuild | None, FakeChannel]]

    @property
    def application_id(self) -> int:
        """The application id (the bot user's id, as py-cord assumes)."""
        return self.bot_user.id

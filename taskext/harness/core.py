"""The :class:`BotHarness` itself: its configuration and state, assembled from the mixins."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterable, Sequence

import discord

from .common import DEFAULT_BOT_PERMISSIONS, _Snowflakes
from .fakes import FakeGuild, FakeUser
from .interactions import _InteractionsMixin
from .routes import _RoutesMixin
from .transport import _FakeSession


class BotHarness(_InteractionsMixin, _RoutesMixin):
    """Run ``bot`` against an in-process fake Discord.

    Use it as an async context manager (or call :meth:`start` and :meth:`close`).

    Parameters
    ----------
    bot:
        The bot, created inside the running event loop, not started.
    owner_id:
        The application owner's id (``GET /oauth2/applications/@me``, so
        :meth:`discord.Bot.is_owner`). Default: 100000000000000002.
    team_member_ids:
        Make the application team-owned by these users (the first is the team owner);
        ``is_owner`` then accepts any of them.
    guilds:
        The guilds the bot is in. Default: one :class:`FakeGuild` with id 100000000000000100.
    bot_user:
        The bot's user; its id is also the application id. Default: ``TestBot`` 100000000000000001.
    bot_permissions:
        What the bot's managed role grants in every guild (``app_permissions``).
    token:
        The token the bot logs in with.
    heartbeat_interval:
        Seconds between heartbeats announced in HELLO (Discord's 41.25 by default).
    guild_ready_timeout:
        Overrides the bot's ``guild_ready_timeout`` (py-cord waits this long after the last
        GUILD_CREATE before ``on_ready``; 2 s by default) while the harness runs.
    timeout:
        Seconds to wait for startup and for the bot to finish handling anything pushed.
    response_deadline:
        Seconds after which an interaction callback is refused with "Unknown interaction"
        (10062) as Discord does (3 s); ``None`` disables the check.
    compress:
        Send gateway frames as a ``zlib-stream`` (as Discord does for py-cord) instead of text.
    """

    def __init__(
        self,
        bot: discord.Client,
        *,
        owner_id: int | None = None,
        team_member_ids: Sequence[int] | None = None,
        guilds: Iterable[FakeGuild] | None = None,
        bot_user: FakeUser | None = None,
        bot_permissions: int = DEFAULT_BOT_PERMISSIONS,
        token: str = "harness.bot.token",
        heartbeat_interval: float = 41.25,
        guild_ready_timeout: float | None = 0.05,
        timeout: float = 5.0,
        response_deadline: float | None = 3.0,
        compress: bool = True,
    ) -> None:
        self.bot = bot
        self.bot_user = bot_user or FakeUser(100000000000000001, "TestBot", bot=True)
        if not self.bot_user.bot:
            raise ValueError("bot_user must be a bot account (bot=True)")
        self.owner = FakeUser(owner_id if owner_id is not None else 100000000000000002, "owner")
        self.team_member_ids = list(team_member_ids) if team_member_ids else []
        self.guilds = list(guilds) if guilds is not None else [FakeGuild(100000000000000100)]
        self.bot_permissions = bot_permissions
        self.token = token
        self.heartbeat_interval = heartbeat_interval
        self.guild_ready_timeout = guild_ready_timeout
        self.timeout = timeout
        self.response_deadline = response_deadline
        self.compress = compress

        self.requests = []
        """Every HTTP request the bot made, in order."""
        self.gateway_received = []
        """Every frame the bot sent on the gateway, in order."""
        self.errors = []
        """Every exception the bot's command and event handlers raised, in order."""
        self.commands = {}
        """Registered commands: ``{guild_id or None: {command_id: command}}``."""
        self.channel_messages = {}
        """Messages the bot posted, per channel id."""

        self._snowflake = _Snowflakes()
        self._session = _FakeSession(self)
        self._routes = []
        self._request_event = asyncio.Event()
        self._socket = None
        self._sockets = []
        self._resume_waiter = None
        self._session_id = secrets.token_hex(16)
        self._interactions = {}
        self._interactions_by_token = {}
        self._roles = {}
        self._announced_roles = {}
        self._synthetic_roles = {}
        self._guild_members = {}
        self._users = {}
        self._dm_channels = {}
        self._bot_task = None
        self._observer = None
        self._patched = {}
        self._saved_guild_ready_timeout = None
        self._started = False
        self._closed = False
        self._guilds_by_id = {}
        self._channels = {}

        self._remember_user(self.bot_user)
        self._remember_user(self.owner)
        for guild in self.guilds:
            self._add_guild_config(guild)
        self._install_default_routes()

    async def __aenter__(self) -> BotHarness:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        await self.close(raise_errors=exc_type is None)

"""Drive a real Pycord bot offline: gateway frames in, HTTP requests out.

:class:`BotHarness` runs an unmodified :class:`discord.Bot` (py-cord 2.8) against a fake
Discord that lives in the test process. The bot logs in and connects exactly as it does in
production (:meth:`discord.Client.start` -> ``login`` -> ``connect`` ->
:meth:`discord.gateway.DiscordWebSocket.from_client`), but the aiohttp session py-cord
creates at login is replaced by an in-memory one:

* its ``ws_connect`` returns a fake gateway socket that sends HELLO, answers IDENTIFY with
  READY and one GUILD_CREATE per configured guild, acknowledges heartbeats, answers RESUME,
  member-chunk and soundboard requests, and carries every frame a test pushes (compressed
  with ``zlib-stream`` like Discord's, so py-cord's real decoder runs);
* its ``request`` answers every REST call, both from :class:`discord.http.HTTPClient` and
  from the interaction webhooks (:class:`discord.webhook.async_.AsyncWebhookAdapter`), with
  realistic JSON from a small stateful fake API: the bot user, the application (with a
  configurable owner or team), command registration (bulk overwrite and single upserts,
  with Discord's validation), interaction callbacks, followups, original-response edits,
  channel messages, users, members, channels and DM channels. Every request is recorded
  with its JSON body (``payload_json`` of multipart bodies included) and attached files.

Slash commands are then used the way a Discord client uses them: :meth:`BotHarness.invoke`
looks the command up in what the bot *registered* at sync, refuses it like the client would
(hidden by ``default_member_permissions``, wrong context, options out of range, missing or
unknown options), builds a complete APPLICATION_COMMAND interaction (nested subcommand
groups, typed option values, ``resolved`` users/members/roles/channels/attachments, the
member's permissions as a string, ``app_permissions``, ``authorizing_integration_owners``,
``context``, ...), pushes it as an INTERACTION_CREATE gateway frame and waits until the
bot's handlers are done, returning what the bot answered.

Usage
-----
Create the bot inside the running event loop (in the test or an async fixture, not at
import time), add your cogs, and enter the harness: it starts the bot and returns once
``on_ready`` fired and the startup handlers (``on_connect``, which syncs the commands, and
``on_ready``) returned. With pytest-asyncio::

    import discord
    import pytest

    from taskext.testing import BotHarness, CommandNotAvailable, FakeGuild, FakeMember, FakeUser

    OWNER = FakeUser(42, "owner")
    ALICE = FakeMember(FakeUser(7, "alice"))
    ADMIN = FakeMember(FakeUser(8, "root"), administrator=True)
    GUILD = FakeGuild(1000, "Test Guild", members=[ALICE, ADMIN])


    @pytest.fixture
    async def harness():
        bot = discord.Bot(intents=discord.Intents.default())
        bot.load_extension("cogs.leaderboard")
        async with BotHarness(bot, owner_id=OWNER.id, guilds=[GUILD]) as h:
            yield h  # on exit: await bot.close(), wait for it, undo the hooks


    async def test_leaderboard(harness: BotHarness) -> None:
        reply = await harness.invoke("leaderboard view", user=ALICE, options={"page": 2})
        assert reply.ephemeral and "Page 2" in reply.content

        choices = await harness.autocomplete("tasks info", user=ALICE, focused="name", value="lea")
        assert choices[0]["value"] == "leaderboard"

        with pytest.raises(CommandNotAvailable):  # hidden by default_member_permissions
            await harness.invoke("tasks reset", user=ALICE)
        reply = await harness.invoke("tasks reset", user=ADMIN)  # an admin, but not the owner
        assert reply.content == "Only the bot owner can do that."

        sent = await harness.send_message(GUILD.text_channel.id, ALICE, "hello")
        assert sent.delivered and sent.replies == []

        assert harness.find_requests("PUT", "/applications/{application_id}/commands")

What a test can look at:

* :class:`InteractionResult`: ``.content``, ``.embeds``, ``.ephemeral`` (flag 64),
  ``.type`` (the callback type: 4 message, 5 deferred, 8 autocomplete, 9 modal), ``.payload``
  (the raw callback body), ``.followups``, ``.message`` (the original response after edits),
  ``.errors`` (exceptions raised while the bot handled it), ``.requests``.
* :attr:`BotHarness.requests`: every HTTP request (:class:`RecordedRequest`: ``method``,
  ``path``, ``route`` template, ``json``, ``files``, ``query``, ``status``, ``response``);
  :meth:`BotHarness.find_requests` filters them.
* :attr:`BotHarness.gateway_received`: every frame the bot sent on the gateway (IDENTIFY with
  its intents, heartbeats, ...); :attr:`BotHarness.commands`: the registered commands.
* :attr:`BotHarness.errors`: every exception the bot's command and event handlers raised.

Components: ``await h.click(result, "confirm", user=ALICE)`` presses a button (or, with
``values=[...]``, chooses in a select) of a message the bot sent; ``await
h.submit_modal(result, {"comment": "great"}, user=ALICE)`` fills in the modal a callback
opened. Both return an :class:`InteractionResult` like :meth:`BotHarness.invoke`.

Members and permissions: a :class:`FakeMember` has ``roles`` (ids of :class:`FakeRole` in the
guild), ``administrator=True`` (gets an "Administrator" role) or ``permissions=<bitfield>``
(gets a role granting exactly that), so ``ctx.author.guild_permissions``, the interaction's
``member.permissions`` and the client-side ``default_member_permissions`` check all agree. The
guild owner (``FakeGuild.owner_id``, the application owner by default) has every permission.

Intents are honoured as Discord honours them: without ``message_content`` a guild message's
content reaches the bot empty unless it mentions the bot; without ``guild_messages`` it is not
delivered at all; with ``members`` the bot chunks members at startup and gets them all.

How it hooks py-cord
--------------------
Only instance attributes of the bot under test are replaced, and they are restored on close:

* ``bot.http.static_login``: the same steps as ``HTTPClient.static_login`` (store the
  token, ``GET /users/@me``, 401 -> :class:`discord.LoginFailure`) but with the fake session
  in ``HTTPClient.__session`` instead of a new ``aiohttp.ClientSession``. Everything else
  (``HTTPClient.request``, ``AsyncWebhookAdapter.request``, ``HTTPClient.ws_connect``,
  ``DiscordWebSocket``) is py-cord's own code running against that session.
* ``bot.http.recreate``: re-installs the fake session (``Client.clear``).
* ``bot.on_error``: records the exception of a failing event handler, then calls the original.
* ``bot._connection.guild_ready_timeout``: see ``guild_ready_timeout`` below.
* A never-resolving entry in ``bot._listeners["application_command_error"]`` (the mechanism
  of ``bot.wait_for``) records command errors without silencing py-cord's default printing.

Limitations
-----------
* Startup waits for ``on_connect``/``on_ready`` handlers to return: a handler that runs
  forever makes :meth:`BotHarness.start` time out (start such work with ``loop.start()``
  or ``asyncio.create_task``).
* One shard; :class:`discord.AutoShardedBot` is not supported.
* The harness waits for the event handler tasks py-cord starts (``Client._tasks``) and for
  autocomplete, view and modal callbacks; work a handler hands to its own ``asyncio.create_task`` is not
  awaited: use :meth:`BotHarness.wait_for_request` for it.
* No rate limits, no voice; components are limited to :meth:`BotHarness.click` (buttons,
  selects) and :meth:`BotHarness.submit_modal` (push anything else raw with
  :meth:`BotHarness.send_interaction`); unknown REST routes answer 404 (add them with
  :meth:`BotHarness.add_route`). A custom route answering 5xx makes py-cord retry with its
  real back-off (seconds).
* The fake answers realistic but minimal objects: fields py-cord needs, not every field
  Discord sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import json
import re
import secrets
import sys
import threading
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any, TypeAlias, cast
from urllib.parse import parse_qsl, unquote, urlsplit

import aiohttp
import discord
from discord.errors import HTTPException, LoginFailure
from discord.gateway import KeepAliveHandler
from discord.http import Route
from multidict import CIMultiDict, CIMultiDictProxy

__all__ = [
    "ADMINISTRATOR",
    "DEFAULT_BOT_PERMISSIONS",
    "DEFAULT_EVERYONE_PERMISSIONS",
    "BotHarness",
    "CapturedError",
    "CommandNotAvailable",
    "FakeAttachment",
    "FakeChannel",
    "FakeGuild",
    "FakeMember",
    "FakeRole",
    "FakeUser",
    "HarnessError",
    "InteractionNotAnswered",
    "InteractionResult",
    "InvalidCommandInput",
    "RecordedFile",
    "RecordedRequest",
    "Reply",
    "SentMessage",
]

JSON: TypeAlias = dict[str, Any]
RouteHandler: TypeAlias = Callable[["RecordedRequest"], Any]

UTC = timezone.utc

ADMINISTRATOR = 1 << 3
"""The ADMINISTRATOR permission bit."""

DEFAULT_EVERYONE_PERMISSIONS: int = discord.Permissions(
    create_instant_invite=True,
    add_reactions=True,
    stream=True,
    view_channel=True,
    send_messages=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
    mention_everyone=False,
    external_emojis=True,
    connect=True,
    speak=True,
    use_voice_activation=True,
    change_nickname=True,
    use_slash_commands=True,
    request_to_speak=True,
    create_public_threads=True,
    create_private_threads=True,
    external_stickers=True,
    send_messages_in_threads=True,
    start_embedded_activities=True,
).value
"""What a new server grants ``@everyone`` (roughly Discord's default)."""

DEFAULT_BOT_PERMISSIONS: int = DEFAULT_EVERYONE_PERMISSIONS | discord.Permissions(manage_messages=True).value
"""What the bot's own managed role grants by default."""

_ALL_PERMISSIONS: int = discord.Permissions.all().value
_EPHEMERAL = 1 << 6
_LOADING = 1 << 7
_API_PREFIX = re.compile(r"^/api(?:/v\d+)?")
_USER_MENTION = re.compile(r"<@!?(\d+)>")
_NAME_RE = re.compile(r"^[-_'\w\u0900-\u097f\u0e00-\u0e7f]{1,32}$")
_SESSION_ATTR = "_HTTPClient__session"  # py-cord's name-mangled HTTPClient.__session
_IGNORED_TASK_NAMES = frozenset({"pycord: on_application_command_auto_complete"})
_AUTOCOMPLETE_CALLBACK = "on_application_command_auto_complete.<locals>.callback"

# Gateway opcodes.
_DISPATCH, _HEARTBEAT, _IDENTIFY, _PRESENCE, _VOICE_STATE = 0, 1, 2, 3, 4
_RESUME, _RECONNECT, _REQUEST_MEMBERS, _HELLO, _HEARTBEAT_ACK = 6, 7, 8, 10, 11
_REQUEST_SOUNDBOARD_SOUNDS = 31

# Application command option types.
_SUB_COMMAND, _SUB_COMMAND_GROUP, _STRING, _INTEGER, _BOOLEAN = 1, 2, 3, 4, 5
_USER, _CHANNEL, _ROLE, _MENTIONABLE, _NUMBER, _ATTACHMENT = 6, 7, 8, 9, 10, 11

# Interaction callback types.
_CHANNEL_MESSAGE, _DEFERRED_CHANNEL_MESSAGE, _DEFERRED_UPDATE, _UPDATE_MESSAGE = 4, 5, 6, 7
_AUTOCOMPLETE_RESULT, _MODAL = 8, 9


def _is_autocomplete_callback(task: asyncio.Task[Any]) -> bool:
    return str(getattr(task.get_coro(), "__qualname__", "")).endswith(_AUTOCOMPLETE_CALLBACK)


def _is_untracked_handler(task: asyncio.Task[Any]) -> bool:
    """Handler tasks py-cord starts outside ``Client._tasks``: autocomplete, view and modal callbacks."""
    return (
        _is_autocomplete_callback(task)
        or task.get_name().startswith("discord-ui-view-dispatch-")
        or str(getattr(task.get_coro(), "__qualname__", "")) == "ModalStore.dispatch"
    )


def _walk_components(components: Iterable[JSON]) -> Iterable[JSON]:
    for component in components:
        yield component
        yield from _walk_components(component.get("components") or [])
        for key in ("component", "accessory"):
            child = component.get(key)
            if isinstance(child, dict):
                yield from _walk_components([child])


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


class _Snowflakes:
    """Discord-style ids: current time in the high bits, strictly increasing."""

    def __init__(self) -> None:
        self._last = 0

    def __call__(self) -> int:
        value = discord.utils.time_snowflake(datetime.now(UTC))
        self._last = max(value, self._last + 1)
        return self._last


# ---------------------------------------------------------------------------------------
# The fake world: users, members, roles, channels, guilds.
# ---------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------
# Errors and results.
# ---------------------------------------------------------------------------------------


class HarnessError(Exception):
    """Something the harness could not do (startup failure, timeout, misuse)."""


class CommandNotAvailable(HarnessError):
    """The command is not registered, or a Discord client would not offer it to this user here."""


class InvalidCommandInput(HarnessError, ValueError):
    """Options a Discord client would refuse to send (missing, unknown, wrong type, out of range)."""


class InteractionNotAnswered(HarnessError):
    """The bot did not answer the interaction ("The application did not respond")."""


@dataclass(frozen=True)
class CapturedError:
    """An exception one of the bot's command or event handlers raised.

    Attributes
    ----------
    event:
        ``"application_command_error"``, ``"autocomplete"`` or the failing event method
        (``"on_message"``, ...).
    error:
        The exception, unwrapped from :class:`discord.ApplicationCommandInvokeError`.
    raw:
        The exception as py-cord reported it.
    command:
        The qualified command name, for command errors.
    """

    event: str
    error: BaseException
    raw: BaseException
    command: str | None = None


@dataclass(frozen=True)
class RecordedFile:
    """A file uploaded in a multipart request."""

    field: str
    filename: str | None
    data: bytes
    content_type: str | None


@dataclass
class RecordedRequest:
    """One HTTP request the bot made.

    Attributes
    ----------
    method:
        ``GET``, ``POST``, ...
    path:
        The API path without the ``/api/v10`` prefix, e.g. ``/channels/1/messages``.
    route:
        The matched route template, e.g. ``/channels/{channel_id}/messages`` (``None`` when no
        route matched and the request was answered 404).
    path_params:
        The values of the template's placeholders.
    query:
        Query parameters.
    json:
        The decoded JSON body, or the ``payload_json`` part of a multipart body.
    files:
        Files of a multipart body.
    status:
        The status the fake answered.
    response:
        The JSON the fake answered.
    """

    method: str
    path: str
    url: str
    headers: dict[str, str]
    query: dict[str, str]
    json: Any = None
    files: list[RecordedFile] = field(default_factory=list)
    route: str | None = None
    path_params: dict[str, str] = field(default_factory=dict)
    status: int = 0
    response: Any = None

    @property
    def reason(self) -> str | None:
        """The audit log reason, if the request carried one."""
        value = self.headers.get("X-Audit-Log-Reason")
        return unquote(value) if value is not None else None


@dataclass(frozen=True)
class Reply:
    """An HTTP answer from a route handler (return plain JSON for a 200, ``None`` for a 204)."""

    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class _InteractionState:
    id: int
    token: str
    type: int
    channel_id: int | None
    user: FakeUser
    created: float
    message_id: int | None = None
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    callback: JSON | None = None
    original: JSON | None = None
    followups: dict[int, JSON] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)


class InteractionResult:
    """What the bot answered to one interaction (a live view: later edits show up).

    Attributes
    ----------
    interaction_id:
        The interaction's id.
    token:
        The interaction's token.
    interaction:
        The INTERACTION_CREATE payload that was sent to the bot.
    errors:
        Exceptions the bot's handlers raised while handling it.
    """

    def __init__(self, state: _InteractionState, interaction: JSON, errors: list[CapturedError]) -> None:
        self._state = state
        self.interaction_id = state.id
        self.token = state.token
        self.interaction = interaction
        self.errors = errors

    def __repr__(self) -> str:
        return (
            f"<InteractionResult type={self.type} ephemeral={self.ephemeral} content={self.content!r}"
            f" embeds={len(self.embeds)} followups={len(self.followups)} errors={len(self.errors)}>"
        )

    @property
    def responded(self) -> bool:
        """Whether the bot sent the interaction callback."""
        return self._state.callback is not None

    @property
    def payload(self) -> JSON | None:
        """The raw callback body ``{"type": ..., "data": {...}}`` (``None`` if unanswered)."""
        return self._state.callback

    @property
    def type(self) -> int | None:
        """The callback type: 4 message, 5 deferred, 6 deferred update, 7 update, 8 choices, 9 modal."""
        return None if self._state.callback is None else int(self._state.callback["type"])

    @property
    def data(self) -> JSON:
        """The callback's ``data`` (empty when unanswered)."""
        if self._state.callback is None:
            return {}
        return cast(JSON, self._state.callback.get("data") or {})

    @property
    def deferred(self) -> bool:
        """Whether the bot deferred (callback type 5)."""
        return self.type == _DEFERRED_CHANNEL_MESSAGE

    @property
    def flags(self) -> int:
        """Message flags of the original response."""
        message = self.message
        return int(message.get("flags") or 0) if message is not None else int(self.data.get("flags") or 0)

    @property
    def ephemeral(self) -> bool:
        """Whether the original response is ephemeral (flag 64)."""
        return bool(self.flags & _EPHEMERAL)

    @property
    def message(self) -> JSON | None:
        """The original response message as Discord holds it now (after edits), if any."""
        return self._state.original

    @property
    def content(self) -> str | None:
        """Content of the original response (after edits)."""
        message = self._state.original
        return None if message is None else cast("str | None", message.get("content"))

    @property
    def embeds(self) -> list[JSON]:
        """Embeds of the original response (after edits)."""
        message = self._state.original
        return [] if message is None else list(message.get("embeds") or [])

    @property
    def components(self) -> list[JSON]:
        """Components of the original response (after edits)."""
        message = self._state.original
        return [] if message is None else list(message.get("components") or [])

    @property
    def followups(self) -> list[JSON]:
        """Followup messages (``ctx.respond`` after the first response, ``ctx.followup.send``)."""
        return list(self._state.followups.values())

    @property
    def messages(self) -> list[JSON]:
        """The original response (if it is a message) followed by the followups."""
        original = [self._state.original] if self._state.original is not None else []
        return original + self.followups

    @property
    def choices(self) -> list[JSON]:
        """Autocomplete choices (callback type 8)."""
        return list(self.data.get("choices") or [])

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every HTTP request made with this interaction's id or token."""
        return list(self._state.requests)


@dataclass
class SentMessage:
    """A message a user sent, as the bot received it.

    Attributes
    ----------
    id:
        The message's id.
    payload:
        The MESSAGE_CREATE data the bot received (content blanked without the
        ``message_content`` intent).
    delivered:
        ``False`` when the bot's intents kept Discord from sending it.
    requests:
        HTTP requests the bot made while handling it.
    errors:
        Exceptions the bot's handlers raised while handling it.
    """

    id: int
    payload: JSON
    delivered: bool
    requests: list[RecordedRequest]
    errors: list[CapturedError]

    @property
    def replies(self) -> list[JSON]:
        """Messages the bot posted (``POST /channels/{id}/messages``) while handling it."""
        return [
            r.response
            for r in self.requests
            if r.route == "/channels/{channel_id}/messages" and r.method == "POST" and r.status == 200
        ]


# ---------------------------------------------------------------------------------------
# HTTP transport: an aiohttp.ClientSession stand-in.
# ---------------------------------------------------------------------------------------


class _FakeResponse:
    """Enough of :class:`aiohttp.ClientResponse` for py-cord."""

    def __init__(self, method: str, url: str, status: int, body: Any, headers: Mapping[str, str]) -> None:
        self.method = method
        self.url = url
        self.status = status
        try:
            self.reason = HTTPStatus(status).phrase
        except ValueError:
            self.reason = ""
        raw_headers: CIMultiDict[str] = CIMultiDict(headers)
        if body is None:
            self._body = b""
        elif isinstance(body, bytes):
            self._body = body
            raw_headers.setdefault("Content-Type", "application/octet-stream")
        else:
            self._body = json.dumps(body).encode()
            raw_headers.setdefault("Content-Type", "application/json")
        self.headers = CIMultiDictProxy(raw_headers)

    async def text(self, encoding: str = "utf-8") -> str:
        return self._body.decode(encoding)

    async def read(self) -> bytes:
        return self._body

    async def json(self) -> Any:
        return json.loads(self._body) if self._body else None

    def release(self) -> None:
        pass

    def close(self) -> None:
        pass


class _RequestContext:
    def __init__(self, session: _FakeSession, method: str, url: str, kwargs: dict[str, Any]) -> None:
        self._session = session
        self._method = method
        self._url = url
        self._kwargs = kwargs

    async def __aenter__(self) -> _FakeResponse:
        return await self._session.handle(self._method, self._url, self._kwargs)

    async def __aexit__(self, *exc: object) -> None:
        return None

    def __await__(self) -> Any:
        return self._session.handle(self._method, self._url, self._kwargs).__await__()


class _FakeSession:
    """What py-cord finds in ``HTTPClient.__session`` (and passes to the webhook adapter)."""

    def __init__(self, harness: BotHarness) -> None:
        self._harness = harness
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def reopen(self) -> None:
        self._closed = False

    async def close(self) -> None:
        self._closed = True

    def request(self, method: str, url: str, **kwargs: Any) -> _RequestContext:
        return _RequestContext(self, method.upper(), str(url), kwargs)

    def get(self, url: str, **kwargs: Any) -> _RequestContext:
        return self.request("GET", url, **kwargs)

    async def handle(self, method: str, url: str, kwargs: dict[str, Any]) -> _FakeResponse:
        if self._closed:
            raise RuntimeError("Session is closed")
        await asyncio.sleep(0)  # a network round trip is never synchronous
        return await self._harness._handle_http(method, url, kwargs)

    async def ws_connect(self, url: str, **kwargs: Any) -> _FakeGatewaySocket:
        if self._closed:
            raise RuntimeError("Session is closed")
        return self._harness._open_gateway(url)


def _read_form(form: aiohttp.FormData) -> tuple[Any, list[RecordedFile]]:
    payload: Any = None
    files: list[RecordedFile] = []
    for type_options, headers, value in getattr(form, "_fields", []):
        name = type_options.get("name")
        if name == "payload_json":
            payload = json.loads(value)
            continue
        if hasattr(value, "read"):
            position = value.tell() if hasattr(value, "tell") else None
            data = value.read()
            if position is not None:
                value.seek(position)
        else:
            data = value
        if isinstance(data, str):
            data = data.encode()
        files.append(RecordedFile(name, type_options.get("filename"), bytes(data), headers.get("Content-Type")))
    return payload, files


# ---------------------------------------------------------------------------------------
# Gateway transport: an aiohttp.ClientWebSocketResponse stand-in.
# ---------------------------------------------------------------------------------------


_Frame: TypeAlias = tuple[aiohttp.WSMessage, "asyncio.Future[None] | None"]


class _FakeGatewaySocket:
    """The socket ``DiscordWebSocket`` polls; frames are queued by the harness."""

    def __init__(self, harness: BotHarness, *, compress: bool) -> None:
        self._harness = harness
        self._queue: asyncio.Queue[_Frame] = asyncio.Queue()
        self._compress = zlib.compressobj() if compress else None
        self._in_flight: asyncio.Future[None] | None = None
        self.closed = False
        self.close_code: int | None = None
        self.sequence = 0

    def exception(self) -> BaseException | None:
        return None

    def queue_json(self, payload: JSON, *, track: bool = False) -> asyncio.Future[None] | None:
        """Queue a frame; with ``track``, return a future set once py-cord has processed it."""
        raw = json.dumps(payload)
        if self._compress is not None:
            data = self._compress.compress(raw.encode()) + self._compress.flush(zlib.Z_SYNC_FLUSH)
            message = aiohttp.WSMessage(aiohttp.WSMsgType.BINARY, data, None)
        else:
            message = aiohttp.WSMessage(aiohttp.WSMsgType.TEXT, raw, None)
        future: asyncio.Future[None] | None = asyncio.get_running_loop().create_future() if track else None
        self._queue.put_nowait((message, future))
        return future

    def queue_dispatch(self, event: str, data: JSON, *, track: bool = False) -> asyncio.Future[None] | None:
        self.sequence += 1
        return self.queue_json({"op": _DISPATCH, "t": event, "s": self.sequence, "d": data}, track=track)

    def _finish_in_flight(self) -> None:
        # py-cord handles a frame completely (parsers are synchronous) before it polls again.
        if self._in_flight is not None and not self._in_flight.done():
            self._in_flight.set_result(None)
        self._in_flight = None

    async def receive(self, timeout: float | None = None) -> aiohttp.WSMessage:
        self._finish_in_flight()
        if self.closed and self._queue.empty():
            return aiohttp.WSMessage(aiohttp.WSMsgType.CLOSED, None, None)
        message, future = await asyncio.wait_for(self._queue.get(), timeout)
        self._in_flight = future
        return message

    async def send_str(self, data: str, compress: int | None = None) -> None:
        if self.closed:
            return
        await self._harness._on_gateway_frame(self, json.loads(data))

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        if self.closed:
            return False
        self.closed = True
        self.close_code = code
        self._finish_in_flight()
        self._queue.put_nowait((aiohttp.WSMessage(aiohttp.WSMsgType.CLOSE, code, message.decode() or None), None))
        return True

    def drop_pending(self) -> None:
        """Resolve the futures of frames py-cord will never read."""
        self._finish_in_flight()
        while not self._queue.empty():
            _, future = self._queue.get_nowait()
            if future is not None and not future.done():
                future.set_result(None)


# ---------------------------------------------------------------------------------------
# Command validation (what Discord checks when commands are registered).
# ---------------------------------------------------------------------------------------


def _put_error(errors: JSON, path: Sequence[str], code: str, message: str) -> None:
    node = errors
    for key in path:
        node = node.setdefault(key, {})
    node.setdefault("_errors", []).append({"code": code, "message": message})


def _validate_name(errors: JSON, path: list[str], name: Any, *, chat_input: bool) -> None:
    if not isinstance(name, str) or not 1 <= len(name) <= 32:
        _put_error(errors, [*path, "name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length.")
    elif chat_input and (not _NAME_RE.match(name) or name != name.lower()):
        _put_error(errors, [*path, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")


def _validate_description(errors: JSON, path: list[str], description: Any) -> None:
    if not isinstance(description, str) or not 1 <= len(description) <= 100:
        _put_error(errors, [*path, "description"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")


def _validate_options(errors: JSON, path: list[str], options: Any, depth: int) -> None:
    if not isinstance(options, list):
        return
    if len(options) > 25:
        _put_error(errors, [*path, "options"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    seen: set[str] = set()
    optional_seen = False
    kinds = {o.get("type") in (_SUB_COMMAND, _SUB_COMMAND_GROUP) for o in options if isinstance(o, dict)}
    if len(kinds) > 1:
        _put_error(errors, [*path, "options"], "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID", "Cannot mix subcommands")
    for index, option in enumerate(options):
        here = [*path, "options", str(index)]
        if not isinstance(option, dict):
            _put_error(errors, here, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        name = option.get("name")
        _validate_name(errors, here, name, chat_input=True)
        _validate_description(errors, here, option.get("description"))
        if name in seen:
            _put_error(errors, [*here, "name"], "APPLICATION_COMMAND_OPTION_NAME_ALREADY_EXISTS", "Duplicate name")
        seen.add(str(name))
        kind = option.get("type")
        if kind in (_SUB_COMMAND, _SUB_COMMAND_GROUP):
            if depth >= 2 or (kind == _SUB_COMMAND_GROUP and depth >= 1):
                _put_error(errors, [*here, "type"], "APPLICATION_COMMAND_OPTION_TYPE_INVALID", "Nested too deep")
            sub = option.get("options") or []
            if kind == _SUB_COMMAND_GROUP and any(o.get("type") != _SUB_COMMAND for o in sub):
                _put_error(errors, [*here, "options"], "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID", "Subcommands only")
            _validate_options(errors, here, sub, depth + 1)
            continue
        if option.get("required"):
            if optional_seen:
                _put_error(
                    errors, here, "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID", "Required options must be first"
                )
        else:
            optional_seen = True
        choices = option.get("choices") or []
        if len(choices) > 25:
            _put_error(errors, [*here, "choices"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        if choices and option.get("autocomplete"):
            _put_error(
                errors,
                [*here, "autocomplete"],
                "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_INVALID",
                "Autocomplete cannot be set with choices",
            )
        low, high = option.get("min_value"), option.get("max_value")
        if low is not None and high is not None and low > high:
            _put_error(errors, [*here, "min_value"], "NUMBER_TYPE_MAX", "min_value must not exceed max_value")
        low, high = option.get("min_length"), option.get("max_length")
        if low is not None and not 0 <= low <= 6000:
            _put_error(errors, [*here, "min_length"], "NUMBER_TYPE_MAX", "Must be between 0 and 6000.")
        if high is not None and not 1 <= high <= 6000:
            _put_error(errors, [*here, "max_length"], "NUMBER_TYPE_MAX", "Must be between 1 and 6000.")


def _validate_command(command: Any) -> JSON:
    """Discord's "Invalid Form Body" errors for one command payload (empty when valid)."""
    errors: JSON = {}
    if not isinstance(command, dict):
        _put_error(errors, [], "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
        return errors
    kind = command.get("type", 1)
    _validate_name(errors, [], command.get("name"), chat_input=kind == 1)
    if kind == 1:
        _validate_description(errors, [], command.get("description"))
        _validate_options(errors, [], command.get("options"), 0)
    elif command.get("description"):
        _put_error(errors, ["description"], "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION", "Must be empty")
    return errors


# ---------------------------------------------------------------------------------------
# The harness.
# ---------------------------------------------------------------------------------------


class BotHarness:
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
        self.guilds: list[FakeGuild] = list(guilds) if guilds is not None else [FakeGuild(100000000000000100)]
        self.bot_permissions = bot_permissions
        self.token = token
        self.heartbeat_interval = heartbeat_interval
        self.guild_ready_timeout = guild_ready_timeout
        self.timeout = timeout
        self.response_deadline = response_deadline
        self.compress = compress

        self.requests: list[RecordedRequest] = []
        """Every HTTP request the bot made, in order."""
        self.gateway_received: list[JSON] = []
        """Every frame the bot sent on the gateway, in order."""
        self.errors: list[CapturedError] = []
        """Every exception the bot's command and event handlers raised, in order."""
        self.commands: dict[int | None, dict[int, JSON]] = {}
        """Registered commands: ``{guild_id or None: {command_id: command}}``."""
        self.channel_messages: dict[int, list[JSON]] = {}
        """Messages the bot posted, per channel id."""

        self._snowflake = _Snowflakes()
        self._session = _FakeSession(self)
        self._routes: list[tuple[str, str, list[str], RouteHandler]] = []
        self._request_event = asyncio.Event()
        self._socket: _FakeGatewaySocket | None = None
        self._sockets: list[_FakeGatewaySocket] = []
        self._resume_waiter: asyncio.Future[None] | None = None
        self._session_id = secrets.token_hex(16)
        self._interactions: dict[int, _InteractionState] = {}
        self._interactions_by_token: dict[str, _InteractionState] = {}
        self._roles: dict[int, dict[int, FakeRole]] = {}
        self._announced_roles: dict[int, set[int]] = {}
        self._synthetic_roles: dict[tuple[int, int], FakeRole] = {}
        self._guild_members: dict[int, dict[int, FakeMember]] = {}
        self._users: dict[int, FakeUser] = {}
        self._dm_channels: dict[int, FakeChannel] = {}
        self._bot_task: asyncio.Task[None] | None = None
        self._observer: asyncio.Future[None] | None = None
        self._patched: dict[str, tuple[object, bool]] = {}
        self._saved_guild_ready_timeout: float | None = None
        self._started = False
        self._closed = False
        self._guilds_by_id: dict[int, FakeGuild] = {}
        self._channels: dict[int, tuple[FakeGuild | None, FakeChannel]] = {}

        self._remember_user(self.bot_user)
        self._remember_user(self.owner)
        for guild in self.guilds:
            self._add_guild_config(guild)
        self._install_default_routes()

    # -- lifecycle ----------------------------------------------------------------------

    async def __aenter__(self) -> BotHarness:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        await self.close(raise_errors=exc_type is None)

    @property
    def application_id(self) -> int:
        """The application id (the bot user's id, as py-cord assumes)."""
        return self.bot_user.id

    async def start(self) -> None:
        """Start the bot and wait until ``on_ready`` fired and its startup handlers (command sync) finished.

        Raises
        ------
        HarnessError
            The bot was created outside the running loop, crashed, did not get ready in
            time, or failed to sync its commands.
        """
        if self._started:
            raise HarnessError("a BotHarness can only be started once")
        self._started = True
        loop = asyncio.get_running_loop()
        if self.bot.loop is not loop:
            raise HarnessError("create the bot inside the running event loop (in the test, not at import time)")
        if self.bot.is_closed():
            raise HarnessError("the bot is closed")
        if isinstance(self.bot, discord.AutoShardedClient):
            raise HarnessError("sharded clients (AutoShardedBot) are not supported")
        self._install()
        self._bot_task = loop.create_task(self.bot.start(self.token), name="taskext-harness: bot.start")
        try:
            await self._wait_ready()
            await self.settle()
        except BaseException:
            await self.close(raise_errors=False)
            raise
        failed = [e for e in self.errors if e.event in ("on_connect", "on_ready")]
        if failed:
            await self.close(raise_errors=False)
            raise HarnessError(f"the bot failed while starting up ({failed[0].event}): {failed[0].error!r}") from (
                failed[0].error
            )

    async def _wait_ready(self) -> None:
        assert self._bot_task is not None
        ready = asyncio.ensure_future(self.bot.wait_until_ready())
        try:
            done, _ = await asyncio.wait(
                {ready, self._bot_task}, timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            if not ready.done():
                ready.cancel()
                await asyncio.gather(ready, return_exceptions=True)
        if self._bot_task in done:
            error = self._bot_task.exception()
            raise HarnessError(f"the bot stopped while starting up: {error!r}") from error
        if ready not in done:
            raise HarnessError(f"the bot did not get ready within {self.timeout}s")

    async def close(self, *, raise_errors: bool = True) -> None:
        """Close the bot (``await bot.close()``), wait for it to stop and undo the harness's hooks.

        Parameters
        ----------
        raise_errors:
            Raise :class:`HarnessError` if the bot's gateway loop had crashed.
        """
        if self._closed:
            return
        self._closed = True
        crash: BaseException | None = None
        keep_alive_threads = self._keep_alive_threads()
        try:
            if not self.bot.is_closed():
                await self.bot.close()
            task = self._bot_task
            if task is not None:
                done, _ = await asyncio.wait({task}, timeout=self.timeout)
                if not done:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
                elif not task.cancelled():
                    crash = task.exception()
            leftovers = [t for t in self._client_tasks() if not t.done()]
            for task in leftovers:
                task.cancel()
            await asyncio.gather(*leftovers, return_exceptions=True)
            for socket in self._sockets:
                socket.drop_pending()
            await self._join_keep_alive_threads(keep_alive_threads + self._keep_alive_threads())
        finally:
            self._uninstall()
        if crash is not None and raise_errors:
            raise HarnessError(f"the bot's gateway loop crashed: {crash!r}") from crash

    def _keep_alive_threads(self) -> list[threading.Thread]:
        """py-cord's heartbeat threads (``KeepAliveHandler``) of the sockets the harness handed out."""
        return [
            thread
            for thread in threading.enumerate()
            if isinstance(thread, KeepAliveHandler) and getattr(thread.ws, "socket", None) in self._sockets
        ]

    async def _join_keep_alive_threads(self, threads: list[threading.Thread]) -> None:
        # A KeepAliveHandler exits as soon as ``DiscordWebSocket.close`` stops it.
        remaining = self.timeout
        for thread in threads:
            while thread.is_alive() and remaining > 0:
                await asyncio.sleep(0.005)
                remaining -= 0.005

    # -- hooks into the bot -------------------------------------------------------------

    def _install(self) -> None:
        http = self.bot.http
        session = self._session

        async def static_login(token: str) -> Any:
            # HTTPClient.static_login, minus creating a real aiohttp.ClientSession.
            setattr(http, _SESSION_ATTR, session)
            session.reopen()
            old_token = http.token
            http.token = token
            try:
                return await http.request(Route("GET", "/users/@me"))
            except HTTPException as exc:
                http.token = old_token
                if exc.status == 401:
                    raise LoginFailure("Improper token has been passed.") from exc
                raise

        def recreate() -> None:
            setattr(http, _SESSION_ATTR, session)
            session.reopen()

        original_on_error = self.bot.on_error

        async def on_error(event_method: str, *args: Any, **kwargs: Any) -> None:
            error = sys.exc_info()[1]
            if error is not None:
                self.errors.append(CapturedError(event_method, error, error))
            await original_on_error(event_method, *args, **kwargs)

        self._patch(http, "static_login", static_login)
        self._patch(http, "recreate", recreate)
        self._patch(self.bot, "on_error", on_error)

        state = self.bot._connection
        if self.guild_ready_timeout is not None:
            self._saved_guild_ready_timeout = state.guild_ready_timeout
            state.guild_ready_timeout = self.guild_ready_timeout

        # Observe command errors the way ``bot.wait_for`` does (a listener that never
        # resolves), so py-cord's default error printing is left alone.
        self._observer = asyncio.get_running_loop().create_future()
        self.bot._listeners.setdefault("application_command_error", []).append(
            (self._observer, self._observe_command_error)
        )

    def _patch(self, target: object, name: str, value: object) -> None:
        key = f"{id(target)}.{name}"
        had = name in vars(target)
        self._patched[key] = (vars(target).get(name), had)
        setattr(target, name, value)

    def _uninstall(self) -> None:
        for target in (self.bot.http, self.bot):
            for name in ("static_login", "recreate", "on_error"):
                key = f"{id(target)}.{name}"
                if key not in self._patched:
                    continue
                previous, had = self._patched.pop(key)
                if had:
                    setattr(target, name, previous)
                elif name in vars(target):
                    delattr(target, name)
        if self._saved_guild_ready_timeout is not None:
            self.bot._connection.guild_ready_timeout = self._saved_guild_ready_timeout
            self._saved_guild_ready_timeout = None
        if self._observer is not None:
            listeners = self.bot._listeners.get("application_command_error", [])
            listeners[:] = [entry for entry in listeners if entry[0] is not self._observer]
            if not listeners:
                self.bot._listeners.pop("application_command_error", None)
            self._observer.cancel()
            self._observer = None

    def _observe_command_error(self, *args: Any) -> bool:
        try:
            ctx, error = args[0], args[1]
            original = getattr(error, "original", None) or error
            command = getattr(getattr(ctx, "command", None), "qualified_name", None)
            self.errors.append(CapturedError("application_command_error", original, error, command))
        except Exception:  # pragma: no cover - never break the bot's dispatch
            pass
        return False

    def _client_tasks(self) -> set[asyncio.Task[Any]]:
        return set(cast("set[asyncio.Task[Any]]", self.bot._tasks))

    def _event_tasks(self) -> set[asyncio.Task[Any]]:
        tasks = self._client_tasks()
        tasks.update(task for task in asyncio.all_tasks() if _is_untracked_handler(task))
        return {task for task in tasks if task.get_name() not in _IGNORED_TASK_NAMES}

    async def settle(self, *, timeout: float | None = None, baseline: set[asyncio.Task[Any]] | None = None) -> None:
        """Wait until the event handlers the bot is running have finished.

        Parameters
        ----------
        timeout:
            Seconds to wait (default: the harness's ``timeout``).
        baseline:
            Tasks to ignore (those running before something was pushed).

        Raises
        ------
        HarnessError
            Handlers were still running after ``timeout``, or the gateway loop crashed.
        """
        loop = asyncio.get_running_loop()
        limit = self.timeout if timeout is None else timeout
        deadline = loop.time() + limit
        ignore = baseline or set()
        while True:
            for _ in range(3):
                await asyncio.sleep(0)
            self._raise_if_crashed()
            pending = {task for task in self._event_tasks() - ignore if not task.done()}
            if not pending:
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                names = sorted(task.get_name() for task in pending)
                raise HarnessError(f"the bot was still busy after {limit}s: {names}")
            await asyncio.wait(pending, timeout=remaining)

    def _raise_if_crashed(self) -> None:
        task = self._bot_task
        if task is not None and task.done() and not self._closed:
            error = None if task.cancelled() else task.exception()
            raise HarnessError(f"the bot's gateway loop stopped: {error!r}") from error

    async def wait_for_request(
        self, predicate: Callable[[RecordedRequest], bool], *, timeout: float | None = None
    ) -> RecordedRequest:
        """Wait for a request matching ``predicate`` (already made ones count).

        Raises
        ------
        HarnessError
            No such request within ``timeout``.
        """
        loop = asyncio.get_running_loop()
        limit = self.timeout if timeout is None else timeout
        deadline = loop.time() + limit
        checked = 0
        while True:
            for request in self.requests[checked:]:
                if predicate(request):
                    return request
            checked = len(self.requests)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise HarnessError(f"no matching request within {limit}s")
            self._request_event.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._request_event.wait(), remaining)

    # -- the fake world -----------------------------------------------------------------

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

    async def _announce_member(self, guild: FakeGuild, member: FakeMember) -> None:
        """Make Discord (and, through GUILD_ROLE_CREATE, the bot) know ``member`` and its roles."""
        self._remember_user(member.user)
        self._guild_members[guild.id][member.id] = member
        announced = self._announced_roles[guild.id]
        for role_id in self._member_role_ids(guild, member):
            if role_id not in announced:
                announced.add(role_id)
                role = self._roles[guild.id][role_id]
                await self._push("GUILD_ROLE_CREATE", {"guild_id": str(guild.id), "role": role.to_payload()})

    # -- gateway ------------------------------------------------------------------------

    def _open_gateway(self, url: str) -> _FakeGatewaySocket:
        socket = _FakeGatewaySocket(self, compress=self.compress and "compress=zlib-stream" in url)
        self._sockets.append(socket)
        self._socket = socket
        socket.queue_json({"op": _HELLO, "d": {"heartbeat_interval": int(self.heartbeat_interval * 1000)}})
        return socket

    async def _on_gateway_frame(self, socket: _FakeGatewaySocket, frame: JSON) -> None:
        self.gateway_received.append(frame)
        op = frame.get("op")
        raw = frame.get("d")
        data: JSON = raw if isinstance(raw, dict) else {}
        if op == _HEARTBEAT:
            socket.queue_json({"op": _HEARTBEAT_ACK})
        elif op == _IDENTIFY:
            if data.get("token") != self.token:
                await socket.close(code=4004)
                return
            socket.sequence = 0
            socket.queue_dispatch("READY", self._ready_payload())
            for guild in self.guilds:
                socket.queue_dispatch("GUILD_CREATE", self.guild_payload(guild))
        elif op == _RESUME:
            socket.sequence = int(data.get("seq") or 0)
            resumed = socket.queue_dispatch("RESUMED", {"_trace": ["taskext-harness"]}, track=True)
            waiter = self._resume_waiter
            if resumed is not None and waiter is not None:

                def release(_: asyncio.Future[None], waiter: asyncio.Future[None] = waiter) -> None:
                    if not waiter.done():
                        waiter.set_result(None)

                resumed.add_done_callback(release)
        elif op == _REQUEST_MEMBERS:
            socket.queue_dispatch("GUILD_MEMBERS_CHUNK", self._members_chunk(data))
        elif op == _REQUEST_SOUNDBOARD_SOUNDS:
            for guild_id in data.get("guild_ids", []):
                socket.queue_dispatch("SOUNDBOARD_SOUNDS", {"guild_id": str(guild_id), "soundboard_sounds": []})

    def _ready_payload(self) -> JSON:
        user = self.bot_user.to_payload()
        user.update(verified=True, mfa_enabled=False, email=None)
        return {
            "v": 10,
            "user": user,
            "guilds": [{"id": str(guild.id), "unavailable": True} for guild in self.guilds],
            "session_id": self._session_id,
            "resume_gateway_url": "wss://gateway.discord.gg",
            "session_type": "normal",
            "shard": [0, 1],
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
            "auth": {},
            "_trace": ["taskext-harness"],
        }

    def _members_chunk(self, data: JSON) -> JSON:
        guild_id = int(data["guild_id"])
        members = list(self._guild_members.get(guild_id, {}).values())
        guild = self._guilds_by_id[guild_id]
        wanted = {int(i) for i in data.get("user_ids") or []}
        query = str(data.get("query") or "").lower()
        if wanted:
            members = [m for m in members if m.id in wanted]
        elif query:
            members = [m for m in members if m.name.lower().startswith(query)]
        limit = int(data.get("limit") or 0)
        if limit:
            members = members[:limit]
        chunk: JSON = {
            "guild_id": str(guild_id),
            "members": [self.member_payload(guild, m) for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        return chunk

    async def _push(self, event: str, data: JSON) -> None:
        """Send one dispatch frame and wait until py-cord has parsed it."""
        socket = self._socket
        if socket is None or socket.closed or self._bot_task is None:
            raise HarnessError("the bot is not connected")
        future = socket.queue_dispatch(event, data, track=True)
        assert future is not None
        done, _ = await asyncio.wait(
            {future, self._bot_task}, timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if future not in done:
            self._raise_if_crashed()
            raise HarnessError(f"the bot did not read the {event} frame within {self.timeout}s")

    async def push_event(self, event: str, data: JSON, *, timeout: float | None = None) -> list[RecordedRequest]:
        """Send a dispatch frame (``"GUILD_MEMBER_ADD"``, ...) and wait for the bot's handlers.

        Returns
        -------
        list[RecordedRequest]
            The HTTP requests the bot made while handling it.
        """
        baseline = self._event_tasks()
        start = len(self.requests)
        await self._push(event, data)
        await self.settle(timeout=timeout, baseline=baseline)
        return self.requests[start:]

    async def reconnect(self) -> None:
        """Ask the bot to reconnect (opcode 7) and wait until it resumed the session."""
        socket = self._socket
        if socket is None:
            raise HarnessError("the bot is not connected")
        assert self._bot_task is not None
        waiter = self._resume_waiter = asyncio.get_running_loop().create_future()
        try:
            socket.queue_json({"op": _RECONNECT, "d": None})
            done, _ = await asyncio.wait(
                {waiter, self._bot_task}, timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            self._resume_waiter = None
            waiter.cancel()
        self._raise_if_crashed()
        if waiter not in done:
            raise HarnessError("the bot did not resume after a reconnect request")

    async def add_guild(self, guild: FakeGuild) -> list[RecordedRequest]:
        """Make the bot join ``guild`` (GUILD_CREATE, so ``on_guild_join``)."""
        if guild.id in self._guilds_by_id:
            raise HarnessError(f"guild {guild.id} is already configured")
        self.guilds.append(guild)
        self._add_guild_config(guild)
        return await self.push_event("GUILD_CREATE", self.guild_payload(guild))

    # -- messages -----------------------------------------------------------------------

    async def send_message(
        self,
        channel_id: int,
        author: FakeUser | FakeMember,
        content: str,
        *,
        embeds: Sequence[JSON] = (),
        timeout: float | None = None,
    ) -> SentMessage:
        """A user sends a message (MESSAGE_CREATE); wait until the bot's handlers are done.

        Parameters
        ----------
        channel_id:
            A configured guild channel, or :meth:`dm_channel` for a DM.
        author:
            Who sends it (a :class:`FakeUser` is a member with no roles in a guild).
        content:
            The text. ``<@id>`` mentions of known users are resolved.
        embeds:
            Embed objects.
        """
        if channel_id not in self._channels:
            raise HarnessError(f"channel {channel_id} is not a configured guild channel or DM channel")
        guild, _ = self._channels[channel_id]
        user = author.user if isinstance(author, FakeMember) else author
        member = author if isinstance(author, FakeMember) else FakeMember(author)
        self._remember_user(user)
        message_id = self._snowflake()
        mentioned = [self._users[int(i)] for i in _USER_MENTION.findall(content) if int(i) in self._users]
        payload: JSON = {
            "id": str(message_id),
            "channel_id": str(channel_id),
            "author": user.to_payload(),
            "content": content,
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": "@everyone" in content,
            "mentions": [u.to_payload() for u in mentioned],
            "mention_roles": [],
            "attachments": [],
            "embeds": list(embeds),
            "pinned": False,
            "type": 0,
            "flags": 0,
            "components": [],
            "nonce": str(message_id),
        }
        intents = self.bot.intents
        if guild is not None:
            await self._announce_member(guild, member)
            payload["guild_id"] = str(guild.id)
            payload["member"] = self.member_payload(guild, member, with_user=False)
            for entry, mentioned_user in zip(payload["mentions"], mentioned, strict=True):
                known = self._guild_members[guild.id].get(mentioned_user.id)
                if known is not None:
                    entry["member"] = self.member_payload(guild, known, with_user=False)
            delivered = bool(intents.guild_messages)
        else:
            delivered = bool(intents.dm_messages)
        mentions_bot = any(u.id == self.bot_user.id for u in mentioned)
        if not (intents.message_content or guild is None or mentions_bot or user.id == self.bot_user.id):
            payload.update(content="", embeds=[], attachments=[], components=[])
        errors_start = len(self.errors)
        if not delivered:
            return SentMessage(message_id, payload, False, [], [])
        requests = await self.push_event("MESSAGE_CREATE", payload, timeout=timeout)
        return SentMessage(message_id, payload, True, requests, self.errors[errors_start:])

    # -- interactions -------------------------------------------------------------------

    def find_command(self, name: str, *, guild_id: int | None = None, type: int = 1) -> JSON:
        """The registered command called ``name`` (a guild command of ``guild_id`` first).

        Raises
        ------
        CommandNotAvailable
            No such command is registered.
        """
        scopes = ([guild_id] if guild_id is not None else []) + [None]
        for scope in scopes:
            for command in self.commands.get(scope, {}).values():
                if command["name"] == name and command.get("type", 1) == type:
                    return command
        registered = sorted(c["name"] for scope in scopes for c in self.commands.get(scope, {}).values())
        raise CommandNotAvailable(f"no command {name!r} is registered here (registered: {registered})")

    def _check_visible(self, command: JSON, guild: FakeGuild | None, member: FakeMember) -> None:
        contexts = command.get("contexts")
        context = 0 if guild is not None else 1
        if contexts is not None and context not in contexts:
            where = "in a server" if guild is not None else "in DMs"
            raise CommandNotAvailable(f"/{command['name']} is not available {where} (contexts={contexts})")
        if guild is None and command.get("dm_permission") is False:
            raise CommandNotAvailable(f"/{command['name']} is not available in DMs")
        required = command.get("default_member_permissions")
        if guild is None or required is None:
            return
        have = self.member_permissions(guild, member)
        if have & ADMINISTRATOR:
            return
        needed = int(required)
        if needed == 0 or have & needed != needed:
            raise CommandNotAvailable(
                f"/{command['name']} is hidden from {member.name} (default_member_permissions={needed},"
                f" member permissions={have}); pass check_permissions=False to simulate a server override"
            )

    def _resolve_target(self, command: JSON, path: Sequence[str]) -> tuple[list[JSON], list[JSON], list[JSON]]:
        """Walk ``path`` down subcommand groups; return (top options, leaf container, leaf schema options)."""
        top: list[JSON] = []
        container = top
        schema_options: list[JSON] = list(command.get("options") or [])
        walked = [command["name"]]
        for part in path:
            sub = next(
                (o for o in schema_options if o["name"] == part and o["type"] in (_SUB_COMMAND, _SUB_COMMAND_GROUP)),
                None,
            )
            if sub is None:
                names = [o["name"] for o in schema_options if o["type"] in (_SUB_COMMAND, _SUB_COMMAND_GROUP)]
                raise CommandNotAvailable(f"/{' '.join(walked)} has no subcommand {part!r} (has: {names})")
            entry: JSON = {"name": part, "type": sub["type"], "options": []}
            container.append(entry)
            container = entry["options"]
            schema_options = list(sub.get("options") or [])
            walked.append(part)
        subs = [o["name"] for o in schema_options if o["type"] in (_SUB_COMMAND, _SUB_COMMAND_GROUP)]
        if subs:
            raise CommandNotAvailable(f"/{' '.join(walked)} needs a subcommand: one of {subs}")
        return top, container, schema_options

    def _typed_value(
        self,
        schema: JSON,
        value: Any,
        resolved: dict[str, dict[str, JSON]],
        guild: FakeGuild | None,
        permissions: int,
    ) -> Any:
        """Check ``value`` against the registered option like a client; return its JSON form.

        ``permissions`` are the invoking user's, reported for resolved channels.
        """
        name, kind = schema["name"], schema["type"]

        def bad(reason: str) -> InvalidCommandInput:
            return InvalidCommandInput(f"option {name!r}: {reason}")

        if kind in (_STRING, _INTEGER, _NUMBER):
            if kind == _STRING and not isinstance(value, str):
                raise bad(f"expected a string, got {value!r}")
            if kind == _INTEGER and (isinstance(value, bool) or not isinstance(value, int)):
                raise bad(f"expected an integer, got {value!r}")
            if kind == _NUMBER and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise bad(f"expected a number, got {value!r}")
            choices = schema.get("choices") or []
            if choices and value not in [c["value"] for c in choices]:
                raise bad(f"{value!r} is not one of the choices {[c['value'] for c in choices]}")
            if kind == _STRING:
                low, high = schema.get("min_length"), schema.get("max_length")
                if (low is not None and len(value) < low) or (high is not None and len(value) > high):
                    raise bad(f"length {len(value)} is outside [{low}, {high}]")
                if len(value) > 6000:
                    raise bad("longer than 6000 characters")
            else:
                low, high = schema.get("min_value"), schema.get("max_value")
                if low is not None and value < low:
                    raise bad(f"{value!r} is below the minimum {low}")
                if high is not None and value > high:
                    raise bad(f"{value!r} is above the maximum {high}")
                if kind == _INTEGER and abs(value) > 2**53:
                    raise bad("outside Discord's integer range")
            return value
        if kind == _BOOLEAN:
            if not isinstance(value, bool):
                raise bad(f"expected a bool, got {value!r}")
            return value
        if kind in (_USER, _MENTIONABLE) and isinstance(value, FakeUser | FakeMember):
            return self._resolve_user(value, resolved, guild)
        if kind in (_ROLE, _MENTIONABLE) and isinstance(value, FakeRole):
            if guild is None or value.id not in self._roles[guild.id]:
                raise bad(f"role {value.id} is not a role of this guild")
            resolved.setdefault("roles", {})[str(value.id)] = value.to_payload()
            return str(value.id)
        if kind == _CHANNEL and isinstance(value, FakeChannel):
            types = schema.get("channel_types")
            if types and value.type not in types:
                raise bad(f"channel type {value.type} is not one of {types}")
            owner, _ = self._channels.get(value.id, (None, value))
            payload = self._channel_payload(value, owner)
            payload["permissions"] = str(permissions)
            resolved.setdefault("channels", {})[str(value.id)] = payload
            return str(value.id)
        if kind == _ATTACHMENT and isinstance(value, FakeAttachment):
            attachment_id = value.id or self._snowflake()
            resolved.setdefault("attachments", {})[str(attachment_id)] = {
                "id": str(attachment_id),
                "filename": value.filename,
                "size": len(value.data),
                "url": f"https://cdn.discordapp.com/attachments/0/{attachment_id}/{value.filename}",
                "proxy_url": f"https://media.discordapp.net/attachments/0/{attachment_id}/{value.filename}",
                "content_type": value.content_type,
                "ephemeral": True,
            }
            return str(attachment_id)
        if isinstance(value, int) and not isinstance(value, bool) and kind in (_USER, _ROLE, _CHANNEL, _MENTIONABLE):
            known: Any = None
            if kind in (_USER, _MENTIONABLE):
                known = (self._guild_members.get(guild.id, {}).get(value) if guild else None) or self._users.get(value)
            if known is None and kind in (_ROLE, _MENTIONABLE) and guild is not None:
                known = self._roles[guild.id].get(value)
            if known is None and kind == _CHANNEL and value in self._channels:
                known = self._channels[value][1]
            if known is not None:
                return self._typed_value(schema, known, resolved, guild, permissions)
            what = {_USER: "user", _ROLE: "role", _CHANNEL: "channel"}.get(kind, "user or role")
            raise bad(f"no known {what} with id {value}")
        raise bad(f"a value of type {type(value).__name__} does not fit option type {kind}")

    def _invoker_permissions(self, guild: FakeGuild | None, user: FakeUser | FakeMember) -> int:
        if guild is None:
            return _ALL_PERMISSIONS
        return self.member_permissions(guild, user if isinstance(user, FakeMember) else FakeMember(user))

    def _resolve_user(
        self, value: FakeUser | FakeMember, resolved: dict[str, dict[str, JSON]], guild: FakeGuild | None
    ) -> str:
        user = value.user if isinstance(value, FakeMember) else value
        self._remember_user(user)
        resolved.setdefault("users", {})[str(user.id)] = user.to_payload()
        if guild is not None:
            member = value if isinstance(value, FakeMember) else self._guild_members[guild.id].get(user.id)
            if member is not None:
                self._guild_members[guild.id].setdefault(member.id, member)
                payload = self.member_payload(guild, member, with_user=False)
                payload["permissions"] = str(self.member_permissions(guild, member))
                resolved.setdefault("members", {})[str(user.id)] = payload
        return str(user.id)

    def _fill_options(
        self,
        container: list[JSON],
        schema_options: list[JSON],
        given: Mapping[str, Any],
        resolved: dict[str, dict[str, JSON]],
        guild: FakeGuild | None,
        permissions: int,
        *,
        focused: str | None = None,
    ) -> None:
        known = {o["name"] for o in schema_options}
        unknown = sorted(set(given) - known - ({focused} if focused else set()))
        if unknown:
            raise InvalidCommandInput(f"unknown option(s) {unknown}; the command has {sorted(known)}")
        for schema in schema_options:
            name = schema["name"]
            if name == focused:
                if not schema.get("autocomplete"):
                    raise InvalidCommandInput(f"option {name!r} has no autocomplete")
                container.append({"name": name, "type": schema["type"], "value": str(given[name]), "focused": True})
                continue
            if name not in given:
                if schema.get("required") and focused is None:
                    raise InvalidCommandInput(f"option {name!r} is required")
                continue
            value = self._typed_value(schema, given[name], resolved, guild, permissions)
            container.append({"name": name, "type": schema["type"], "value": value})

    def _new_interaction(
        self,
        interaction_type: int,
        data: JSON,
        user: FakeUser | FakeMember,
        *,
        guild: FakeGuild | None,
        channel: FakeChannel,
        locale: str | None,
    ) -> JSON:
        base_user = user.user if isinstance(user, FakeMember) else user
        interaction_id = self._snowflake()
        payload: JSON = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": interaction_type,
            "data": data,
            "channel_id": str(channel.id),
            "token": f"aW50ZXJhY3Rpb24{secrets.token_urlsafe(48)}",
            "version": 1,
            "locale": locale or base_user.locale,
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if guild is not None:
            member = user if isinstance(user, FakeMember) else FakeMember(user)
            member_perms = self.member_permissions(guild, member)
            member_payload = self.member_payload(guild, member)
            member_payload["permissions"] = str(member_perms)
            channel_payload = self._channel_payload(channel, guild)
            channel_payload["permissions"] = str(member_perms)
            bot_member = self._guild_members[guild.id][self.bot_user.id]
            payload.update(
                guild_id=str(guild.id),
                guild={"id": str(guild.id), "locale": guild.preferred_locale, "features": []},
                guild_locale=guild.preferred_locale,
                member=member_payload,
                channel=channel_payload,
                app_permissions=str(self.member_permissions(guild, bot_member)),
                authorizing_integration_owners={"0": str(guild.id)},
                context=0,
            )
        else:
            channel_payload = self._channel_payload(channel, None)
            channel_payload["permissions"] = str(_ALL_PERMISSIONS)
            payload.update(
                user=base_user.to_payload(),
                channel=channel_payload,
                app_permissions=str(DEFAULT_BOT_PERMISSIONS),
                authorizing_integration_owners={"0": "0"},
                context=1,
            )
        return payload

    def _where(
        self, user: FakeUser | FakeMember, guild_id: int | None, channel_id: int | None, dm: bool
    ) -> tuple[FakeGuild | None, FakeChannel]:
        if dm:
            if guild_id is not None:
                raise HarnessError("dm=True and guild_id are exclusive")
            return None, self.dm_channel(user)
        if channel_id is not None and channel_id in self._channels:
            owner, channel = self._channels[channel_id]
            if owner is None:
                return None, channel
            if guild_id is not None and owner.id != guild_id:
                raise HarnessError(f"channel {channel_id} is not in guild {guild_id}")
            return owner, channel
        if channel_id is not None:
            raise HarnessError(f"channel {channel_id} is not configured")
        guild = self.guild(guild_id)
        return guild, guild.text_channel

    async def _prepare(
        self,
        command_path: str,
        user: FakeUser | FakeMember,
        guild_id: int | None,
        channel_id: int | None,
        dm: bool,
        check_permissions: bool,
    ) -> tuple[FakeGuild | None, FakeChannel, JSON, list[str]]:
        parts = command_path.split()
        if not parts:
            raise ValueError("empty command name")
        guild, channel = self._where(user, guild_id, channel_id, dm)
        command = self.find_command(parts[0], guild_id=guild.id if guild else None)
        if check_permissions:
            member = user if isinstance(user, FakeMember) else FakeMember(user)
            self._check_visible(command, guild, member)
        if guild is not None:
            await self._announce_member(guild, user if isinstance(user, FakeMember) else FakeMember(user))
        else:
            self._remember_user(user.user if isinstance(user, FakeMember) else user)
        return guild, channel, command, parts[1:]

    @staticmethod
    def _command_data(command: JSON, options: list[JSON], resolved: dict[str, dict[str, JSON]]) -> JSON:
        data: JSON = {"id": str(command["id"]), "name": command["name"], "type": command.get("type", 1)}
        if options:
            data["options"] = options
        if resolved:
            data["resolved"] = resolved
        if command.get("guild_id") is not None:
            data["guild_id"] = str(command["guild_id"])
        return data

    async def invoke(
        self,
        command: str,
        *,
        user: FakeUser | FakeMember,
        options: Mapping[str, Any] | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
        dm: bool = False,
        locale: str | None = None,
        check_permissions: bool = True,
        expect_response: bool = True,
        timeout: float | None = None,
    ) -> InteractionResult:
        """Use a slash command like a Discord client: INTERACTION_CREATE type 2.

        Parameters
        ----------
        command:
            The command as typed, subcommands included: ``"leaderboard view"``,
            ``"admin tasks reset"``.
        user:
            Who invokes it (a :class:`FakeUser` in a guild is a member without roles).
        options:
            Option values by option name: ``str``/``int``/``float``/``bool``, or
            :class:`FakeUser`/:class:`FakeMember`/:class:`FakeRole`/:class:`FakeChannel`/
            :class:`FakeAttachment` (or their ids) for entity options.
        guild_id:
            The guild; default the only configured one (or the guild of ``channel_id``).
        channel_id:
            The channel; default the guild's first text channel.
        dm:
            Invoke in the bot's DM with ``user`` instead of a guild.
        locale:
            The user's client locale (default ``user.locale``).
        check_permissions:
            Refuse, like the client, commands hidden by ``default_member_permissions``. Pass
            ``False`` to simulate a server override in Server Settings -> Integrations.
        expect_response:
            Raise :class:`InteractionNotAnswered` when the bot sends no callback.
        timeout:
            Seconds to wait for the bot's handlers.

        Raises
        ------
        CommandNotAvailable
            Not registered, or a client would not offer it to ``user`` here.
        InvalidCommandInput
            A client would not send these options.
        InteractionNotAnswered
            ``expect_response`` and the bot did not answer.
        """
        guild, channel, registered, path = await self._prepare(
            command, user, guild_id, channel_id, dm, check_permissions
        )
        resolved: dict[str, dict[str, JSON]] = {}
        top, container, schema_options = self._resolve_target(registered, path)
        permissions = self._invoker_permissions(guild, user)
        self._fill_options(container, schema_options, options or {}, resolved, guild, permissions)
        data = self._command_data(registered, top, resolved)
        payload = self._new_interaction(2, data, user, guild=guild, channel=channel, locale=locale)
        return await self.send_interaction(payload, expect_response=expect_response, timeout=timeout)

    async def autocomplete(
        self,
        command: str,
        *,
        user: FakeUser | FakeMember,
        focused: str,
        value: str = "",
        options: Mapping[str, Any] | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
        dm: bool = False,
        locale: str | None = None,
        check_permissions: bool = True,
        timeout: float | None = None,
    ) -> list[JSON]:
        """Type into an autocomplete option: INTERACTION_CREATE type 4; return the bot's choices.

        Parameters
        ----------
        command:
            The command as typed, subcommands included.
        focused:
            The option being typed into (it must have autocomplete).
        value:
            What has been typed so far (always a string, as Discord sends it).
        options:
            Other options already filled in.

        Raises
        ------
        InteractionNotAnswered
            The bot sent no choices.
        """
        guild, channel, registered, path = await self._prepare(
            command, user, guild_id, channel_id, dm, check_permissions
        )
        resolved: dict[str, dict[str, JSON]] = {}
        top, container, schema_options = self._resolve_target(registered, path)
        given = dict(options or {})
        given[focused] = value
        if focused not in {o["name"] for o in schema_options}:
            raise InvalidCommandInput(f"the command has no option {focused!r}")
        permissions = self._invoker_permissions(guild, user)
        self._fill_options(container, schema_options, given, resolved, guild, permissions, focused=focused)
        data = self._command_data(registered, top, resolved)
        payload = self._new_interaction(4, data, user, guild=guild, channel=channel, locale=locale)
        result = await self.send_interaction(payload, expect_response=True, timeout=timeout)
        return result.choices

    def interaction_payload(
        self,
        interaction_type: int,
        data: JSON,
        *,
        user: FakeUser | FakeMember,
        guild_id: int | None = None,
        channel_id: int | None = None,
        dm: bool = False,
        locale: str | None = None,
    ) -> JSON:
        """A complete INTERACTION_CREATE payload around ``data``, for :meth:`send_interaction`.

        Parameters
        ----------
        interaction_type:
            2 command, 3 component, 4 autocomplete, 5 modal submit.
        data:
            The interaction's ``data``.
        user, guild_id, channel_id, dm, locale:
            As for :meth:`invoke`.
        """
        guild, channel = self._where(user, guild_id, channel_id, dm)
        return self._new_interaction(interaction_type, data, user, guild=guild, channel=channel, locale=locale)

    async def send_interaction(
        self, payload: JSON, *, expect_response: bool = True, timeout: float | None = None
    ) -> InteractionResult:
        """Push an INTERACTION_CREATE payload and wait until the bot's handlers are done.

        Build the payload with :meth:`interaction_payload`; members it mentions should have
        been announced (:meth:`invoke`, :meth:`send_message` and :meth:`click` do that).

        Raises
        ------
        InteractionNotAnswered
            ``expect_response`` and the bot did not answer.
        """
        loop = asyncio.get_running_loop()
        base_user = payload.get("user") or payload.get("member", {}).get("user") or {}
        state = _InteractionState(
            id=int(payload["id"]),
            token=str(payload["token"]),
            type=int(payload["type"]),
            channel_id=int(payload["channel_id"]) if payload.get("channel_id") else None,
            user=self._users.get(int(base_user.get("id", 0)), FakeUser(int(base_user.get("id", 0)))),
            created=loop.time(),
            message_id=int(payload["message"]["id"]) if payload.get("message") else None,
        )
        self._interactions[state.id] = state
        self._interactions_by_token[state.token] = state
        errors_start = len(self.errors)
        baseline = self._event_tasks()
        await self._push("INTERACTION_CREATE", copy.deepcopy(payload))
        limit = self.timeout if timeout is None else timeout
        callbacks: set[asyncio.Task[Any]] = set()
        if state.type == 4:
            callbacks = await self._wait_for_autocomplete(state, baseline, limit)
        await self.settle(timeout=limit, baseline=baseline)
        self._collect_autocomplete_errors(callbacks)
        errors = self.errors[errors_start:]
        result = InteractionResult(state, payload, errors)
        if expect_response and not result.responded:
            detail = "; ".join(f"{e.event}: {e.error!r}" for e in errors) or "no error was raised"
            raise InteractionNotAnswered(f"the bot did not answer interaction {state.id} ({detail})") from (
                errors[0].error if errors else None
            )
        return result

    async def _wait_for_autocomplete(
        self, state: _InteractionState, baseline: set[asyncio.Task[Any]], limit: float
    ) -> set[asyncio.Task[Any]]:
        """py-cord answers autocompletes from a task it does not track: wait for the answer or that task.

        Returns the autocomplete callback tasks seen (``asyncio.all_tasks`` forgets finished ones).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        seen: set[asyncio.Task[Any]] = set()
        answered = asyncio.ensure_future(state.answered.wait())
        try:
            while not answered.done() and loop.time() < deadline:
                seen.update(t for t in self._event_tasks() - baseline if _is_autocomplete_callback(t))
                if seen and all(t.done() for t in seen):
                    break
                # Look again for the callback task every few milliseconds until it exists.
                await asyncio.wait({answered, *seen}, timeout=0.005, return_when=asyncio.FIRST_COMPLETED)
        finally:
            answered.cancel()
            await asyncio.gather(answered, return_exceptions=True)
        return seen

    async def click(
        self,
        message: InteractionResult | JSON,
        custom_id: str,
        *,
        user: FakeUser | FakeMember,
        values: Sequence[str] | None = None,
        locale: str | None = None,
        expect_response: bool = True,
        timeout: float | None = None,
    ) -> InteractionResult:
        """Click a button or choose in a select menu of a message the bot sent (type 3 interaction).

        Parameters
        ----------
        message:
            An :class:`InteractionResult` (its original response) or a message JSON the bot sent
            (``result.followups[0]``, ``harness.channel_messages[channel_id][-1]``, ...).
        custom_id:
            The component's ``custom_id``.
        values:
            For select menus: the chosen values.

        Raises
        ------
        InvalidCommandInput
            The message has no such component, it is disabled, or the values do not fit.
        """
        payload_message = message.message if isinstance(message, InteractionResult) else message
        if payload_message is None:
            raise HarnessError("that interaction has no message to click on")
        component = next(
            (c for c in _walk_components(payload_message.get("components") or []) if c.get("custom_id") == custom_id),
            None,
        )
        if component is None:
            raise InvalidCommandInput(f"the message has no component with custom_id {custom_id!r}")
        if component.get("disabled"):
            raise InvalidCommandInput(f"component {custom_id!r} is disabled")
        kind = int(component["type"])
        data: JSON = {"custom_id": custom_id, "component_type": kind}
        if kind in (3, 5, 6, 7, 8):
            chosen = list(values or [])
            low, high = component.get("min_values", 1), component.get("max_values", 1)
            if not low <= len(chosen) <= high:
                raise InvalidCommandInput(f"select {custom_id!r} takes {low} to {high} values, got {len(chosen)}")
            offered = [o["value"] for o in component.get("options") or []]
            if kind == 3 and any(v not in offered for v in chosen):
                raise InvalidCommandInput(f"select {custom_id!r} offers {offered}, got {chosen}")
            data["values"] = chosen
        elif values is not None:
            raise InvalidCommandInput(f"component {custom_id!r} is not a select menu")
        guild, channel = self._where(user, None, int(payload_message["channel_id"]), False)
        if guild is not None:
            await self._announce_member(guild, user if isinstance(user, FakeMember) else FakeMember(user))
        payload = self._new_interaction(3, data, user, guild=guild, channel=channel, locale=locale)
        payload["message"] = copy.deepcopy(payload_message)
        return await self.send_interaction(payload, expect_response=expect_response, timeout=timeout)

    async def submit_modal(
        self,
        opened: InteractionResult,
        values: Mapping[str, str | Sequence[str]],
        *,
        user: FakeUser | FakeMember,
        locale: str | None = None,
        expect_response: bool = True,
        timeout: float | None = None,
    ) -> InteractionResult:
        """Fill in and submit the modal the bot opened (callback type 9): a type 5 interaction.

        Parameters
        ----------
        opened:
            The result whose callback opened the modal.
        values:
            Text input values (and select values) by ``custom_id``.
        user:
            Who submits it: the user the modal was shown to.

        Raises
        ------
        InvalidCommandInput
            A required input is missing, a value's length is out of bounds, or a ``custom_id``
            is not in the modal.
        """
        if opened.type != _MODAL:
            raise HarnessError(f"the bot did not open a modal (callback type {opened.type})")
        modal = opened.data
        known: set[str] = set()

        def answer(component: JSON) -> JSON:
            kind = int(component["type"])
            out: JSON = {"type": kind}
            if component.get("id") is not None:
                out["id"] = component["id"]
            if kind == 1:
                out["components"] = [answer(child) for child in component.get("components") or []]
            elif kind == 18:
                out["component"] = answer(component["component"])
            elif kind == 4:
                custom_id = str(component["custom_id"])
                known.add(custom_id)
                text = values.get(custom_id, component.get("value") or "")
                if not isinstance(text, str):
                    raise InvalidCommandInput(f"text input {custom_id!r} takes a string")
                if component.get("required", True) and not text:
                    raise InvalidCommandInput(f"text input {custom_id!r} is required")
                low, high = component.get("min_length"), component.get("max_length")
                if text and ((low is not None and len(text) < low) or (high is not None and len(text) > high)):
                    raise InvalidCommandInput(f"text input {custom_id!r}: length {len(text)} outside [{low}, {high}]")
                out.update(custom_id=custom_id, value=text)
            elif "custom_id" in component:
                custom_id = str(component["custom_id"])
                known.add(custom_id)
                chosen = values.get(custom_id, [])
                out.update(custom_id=custom_id, values=[chosen] if isinstance(chosen, str) else list(chosen))
            return out

        components = [answer(component) for component in modal.get("components") or []]
        unknown = sorted(set(values) - known)
        if unknown:
            raise InvalidCommandInput(f"the modal has no input(s) {unknown}; it has {sorted(known)}")
        channel_id = opened.interaction.get("channel_id")
        guild, channel = (
            self._where(user, None, int(channel_id), False) if channel_id else (None, self.dm_channel(user))
        )
        data = {"custom_id": modal["custom_id"], "components": components}
        payload = self._new_interaction(5, data, user, guild=guild, channel=channel, locale=locale)
        return await self.send_interaction(payload, expect_response=expect_response, timeout=timeout)

    def _collect_autocomplete_errors(self, tasks: set[asyncio.Task[Any]]) -> None:
        for task in tasks:
            if task.done() and not task.cancelled() and (error := task.exception()) is not None:
                self.errors.append(CapturedError("autocomplete", error, error))

    # -- HTTP ---------------------------------------------------------------------------

    def add_route(self, method: str, template: str, handler: RouteHandler) -> None:
        """Answer ``method template`` (e.g. ``"GET", "/guilds/{guild_id}/bans"``) with ``handler``.

        ``handler(request)`` gets the :class:`RecordedRequest` (``request.path_params``,
        ``request.json``, ...) and returns JSON (200), ``None`` (204) or a :class:`Reply`; it
        may be a coroutine function. An exception it raises is raised from the bot's HTTP
        call (and recorded in :attr:`errors`). The template with the most literal segments
        wins; among equals, the one added last, so ``add_route`` overrides built-in routes.
        """
        segments = template.strip("/").split("/")
        self._routes.insert(0, (method.upper(), template, segments, handler))

    def find_requests(self, method: str | None = None, route: str | None = None) -> list[RecordedRequest]:
        """Recorded requests with this method and route template (or path)."""
        return [
            r
            for r in self.requests
            if (method is None or r.method == method.upper()) and (route is None or route in (r.route, r.path))
        ]

    def _match(self, method: str, path: str) -> tuple[str, RouteHandler, dict[str, str]] | None:
        parts = path.strip("/").split("/")
        best: tuple[int, str, RouteHandler, dict[str, str]] | None = None
        for route_method, template, segments, handler in self._routes:
            if route_method != method or len(segments) != len(parts):
                continue
            params: dict[str, str] = {}
            literal = 0
            for segment, part in zip(segments, parts, strict=True):
                if segment.startswith("{") and segment.endswith("}"):
                    params[segment[1:-1]] = unquote(part)
                elif segment == part:
                    literal += 1
                else:
                    break
            else:
                if best is None or literal > best[0]:
                    best = (literal, template, handler, params)
        return None if best is None else best[1:]

    async def _handle_http(self, method: str, url: str, kwargs: dict[str, Any]) -> _FakeResponse:
        split = urlsplit(url)
        path = _API_PREFIX.sub("", split.path) or "/"
        query = dict(parse_qsl(split.query))
        for key, value in (kwargs.get("params") or {}).items():
            query[str(key)] = str(value).lower() if isinstance(value, bool) else str(value)
        body: Any = None
        files: list[RecordedFile] = []
        data = kwargs.get("data")
        if isinstance(data, aiohttp.FormData):
            body, files = _read_form(data)
        elif isinstance(data, str | bytes) and data:
            try:
                body = json.loads(data)
            except ValueError:
                body = data
        elif kwargs.get("json") is not None:
            body = kwargs["json"]
        headers = {str(k): str(v) for k, v in (kwargs.get("headers") or {}).items()}
        request = RecordedRequest(method, path, url, headers, query, body, files)
        self.requests.append(request)
        matched = self._match(method, path)
        reply: Reply
        if matched is None:
            reply = Reply(404, {"message": "404: Not Found", "code": 0})
        else:
            request.route, handler, request.path_params = matched
            try:
                outcome = handler(request)
                if inspect.isawaitable(outcome):
                    outcome = await outcome
            except Exception as error:
                # Raised from the bot's HTTP call: a 5xx would make py-cord retry for seconds.
                self.errors.append(CapturedError(f"route {method} {request.route}", error, error))
                self._request_event.set()
                raise
            reply = outcome if isinstance(outcome, Reply) else Reply(200 if outcome is not None else 204, outcome)
        request.status = reply.status
        request.response = reply.body
        for state in self._states_for(path):
            state.requests.append(request)
        self._request_event.set()
        return _FakeResponse(method, url, reply.status, reply.body, reply.headers)

    def _states_for(self, path: str) -> list[_InteractionState]:
        parts = path.strip("/").split("/")
        if len(parts) >= 3 and parts[0] == "interactions":
            state = self._interactions.get(int(parts[1])) if parts[1].isdigit() else None
            return [state] if state is not None else []
        if len(parts) >= 3 and parts[0] == "webhooks":
            state = self._interactions_by_token.get(unquote(parts[2]))
            return [state] if state is not None else []
        return []

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
            ("GET", "/webhooks/{application_id}/{interaction_token}/messages/@original", self._get_original),
            ("PATCH", "/webhooks/{application_id}/{interaction_token}/messages/@original", self._edit_original),
            ("DELETE", "/webhooks/{application_id}/{interaction_token}/messages/@original", self._delete_original),
            ("POST", "/webhooks/{application_id}/{interaction_token}", self._followup),
            ("GET", "/webhooks/{application_id}/{interaction_token}/messages/{message_id}", self._get_followup),
            ("PATCH", "/webhooks/{application_id}/{interaction_token}/messages/{message_id}", self._edit_followup),
            ("DELETE", "/webhooks/{application_id}/{interaction_token}/messages/{message_id}", self._delete_followup),
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

    @staticmethod
    def _error(status: int, code: int, message: str, errors: JSON | None = None) -> Reply:
        body: JSON = {"message": message, "code": code}
        if errors:
            body["errors"] = errors
        return Reply(status, body)

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

    # commands

    def _scope(self, request: RecordedRequest) -> tuple[int | None, Reply | None]:
        if request.path_params.get("application_id") != str(self.application_id):
            return None, self._error(404, 10002, "Unknown Application")
        guild_id = request.path_params.get("guild_id")
        if guild_id is None:
            return None, None
        if int(guild_id) not in self._guilds_by_id:
            return None, self._error(403, 50001, "Missing Access")
        return int(guild_id), None

    def _store_command(self, scope: int | None, payload: JSON, command_id: int | None = None) -> JSON:
        commands = self.commands.setdefault(scope, {})
        kind = payload.get("type", 1)
        if command_id is None:
            command_id = next(
                (int(c["id"]) for c in commands.values() if c["name"] == payload["name"] and c["type"] == kind),
                None,
            )
        command = copy.deepcopy(payload)
        command.update(
            id=str(command_id if command_id is not None else self._snowflake()),
            application_id=str(self.application_id),
            version=str(self._snowflake()),
            type=kind,
        )
        permissions = command.get("default_member_permissions")
        command["default_member_permissions"] = None if permissions is None else str(permissions)  # Discord's form
        command.setdefault("nsfw", False)
        if kind != 1:
            command.setdefault("description", "")
        if scope is not None:
            command["guild_id"] = str(scope)
        commands[int(command["id"])] = command
        return command

    def _list_commands(self, request: RecordedRequest) -> Any:
        scope, error = self._scope(request)
        if error is not None:
            return error
        return [copy.deepcopy(c) for c in self.commands.get(scope, {}).values()]

    def _bulk_commands(self, request: RecordedRequest) -> Any:
        scope, error = self._scope(request)
        if error is not None:
            return error
        payloads = request.json
        if not isinstance(payloads, list):
            return self._error(400, 50035, "Invalid Form Body", {"_errors": [{"code": "LIST_TYPE_CONVERT"}]})
        errors: JSON = {}
        for index, payload in enumerate(payloads):
            problems = _validate_command(payload)
            if problems:
                errors[str(index)] = problems
        names = [(p.get("type", 1), p.get("name")) for p in payloads if isinstance(p, dict)]
        for index, key in enumerate(names):
            if names.index(key) != index:
                _put_error(errors, [str(index), "name"], "APPLICATION_COMMANDS_DUPLICATE_NAME", "Duplicate name")
        if sum(1 for kind, _ in names if kind == 1) > 100:
            _put_error(errors, [], "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
        if errors:
            return self._error(400, 50035, "Invalid Form Body", errors)
        previous = self.commands.get(scope, {})
        self.commands[scope] = {}
        stored = []
        for payload in payloads:
            kind = payload.get("type", 1)
            same = next(
                (int(c["id"]) for c in previous.values() if c["name"] == payload["name"] and c["type"] == kind), None
            )
            stored.append(copy.deepcopy(self._store_command(scope, payload, same)))
        return stored

    def _upsert_command(self, request: RecordedRequest) -> Any:
        scope, error = self._scope(request)
        if error is not None:
            return error
        problems = _validate_command(request.json)
        if problems:
            return self._error(400, 50035, "Invalid Form Body", problems)
        return copy.deepcopy(self._store_command(scope, request.json))

    def _find_command_by_id(self, request: RecordedRequest) -> tuple[int | None, JSON | None, Reply | None]:
        scope, error = self._scope(request)
        if error is not None:
            return scope, None, error
        command_id = request.path_params["command_id"]
        command = self.commands.get(scope, {}).get(int(command_id)) if command_id.isdigit() else None
        if command is None:
            return scope, None, self._error(404, 10063, "Unknown application command")
        return scope, command, None

    def _get_command(self, request: RecordedRequest) -> Any:
        _, command, error = self._find_command_by_id(request)
        return error if error is not None else copy.deepcopy(command)

    def _edit_command(self, request: RecordedRequest) -> Any:
        scope, command, error = self._find_command_by_id(request)
        if error is not None or command is None:
            return error
        merged = {**command, **(request.json or {})}
        problems = _validate_command(merged)
        if problems:
            return self._error(400, 50035, "Invalid Form Body", problems)
        return copy.deepcopy(self._store_command(scope, merged, int(command["id"])))

    def _delete_command(self, request: RecordedRequest) -> Any:
        scope, command, error = self._find_command_by_id(request)
        if error is not None or command is None:
            return error
        del self.commands[scope][int(command["id"])]
        return None

    # interactions

    def _message_payload(
        self,
        body: JSON,
        *,
        channel_id: int | None,
        files: Sequence[RecordedFile] = (),
        interaction: _InteractionState | None = None,
        message_type: int = 0,
        flags: int | None = None,
    ) -> JSON:
        message_id = self._snowflake()
        attachments = []
        for entry in body.get("attachments") or []:
            index = entry.get("id")
            upload = next((f for f in files if f.field == f"files[{index}]"), None)
            attachment_id = self._snowflake()
            filename = entry.get("filename") or (upload.filename if upload else "file")
            attachments.append(
                {
                    "id": str(attachment_id),
                    "filename": filename,
                    "description": entry.get("description"),
                    "size": len(upload.data) if upload else 0,
                    "url": f"https://cdn.discordapp.com/attachments/{channel_id}/{attachment_id}/{filename}",
                    "proxy_url": f"https://media.discordapp.net/attachments/{channel_id}/{attachment_id}/{filename}",
                    "content_type": upload.content_type if upload else None,
                }
            )
        embeds = [{"type": "rich", **embed} for embed in body.get("embeds") or []]
        message: JSON = {
            "id": str(message_id),
            "channel_id": str(channel_id) if channel_id is not None else None,
            "author": self.bot_user.to_payload(),
            "content": body.get("content") or "",
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts", False)),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": attachments,
            "embeds": embeds,
            "pinned": False,
            "type": message_type,
            "flags": int(body.get("flags") or 0) if flags is None else flags,
            "components": list(body.get("components") or []),
        }
        if body.get("poll") is not None:
            message["poll"] = body["poll"]
        if interaction is not None:
            message["webhook_id"] = str(self.application_id)
            message["application_id"] = str(self.application_id)
            message["interaction_metadata"] = {
                "id": str(interaction.id),
                "type": interaction.type,
                "user": interaction.user.to_payload(),
                "authorizing_integration_owners": {},
            }
        return message

    @staticmethod
    def _apply_edit(message: JSON, body: JSON | None) -> None:
        for key in ("content", "components", "flags", "attachments", "poll"):
            if body and key in body and body[key] is not None:
                message[key] = body[key]
        if body and body.get("embeds") is not None:
            message["embeds"] = [{"type": "rich", **embed} for embed in body["embeds"]]
        message["flags"] = int(message.get("flags") or 0) & ~_LOADING
        message["edited_timestamp"] = _now_iso()

    def _interaction_callback(self, request: RecordedRequest) -> Any:
        state = self._interactions.get(int(request.path_params["interaction_id"]))
        if state is None or state.token != request.path_params["interaction_token"]:
            return self._error(404, 10062, "Unknown interaction")
        loop = asyncio.get_running_loop()
        if self.response_deadline is not None and loop.time() - state.created > self.response_deadline:
            return self._error(404, 10062, "Unknown interaction")
        if state.callback is not None:
            return self._error(400, 40060, "Interaction has already been acknowledged.")
        body = request.json or {}
        kind = int(body.get("type", 0))
        data = body.get("data") or {}
        state.callback = body
        state.answered.set()
        response: JSON = {
            "interaction": {
                "id": str(state.id),
                "type": state.type,
                "response_message_loading": kind == _DEFERRED_CHANNEL_MESSAGE,
                "response_message_ephemeral": bool(int(data.get("flags") or 0) & _EPHEMERAL),
            }
        }
        if kind in (_CHANNEL_MESSAGE, _DEFERRED_CHANNEL_MESSAGE):
            flags = int(data.get("flags") or 0)
            if kind == _DEFERRED_CHANNEL_MESSAGE:
                flags = (flags & _EPHEMERAL) | _LOADING
                message = self._message_payload({}, channel_id=state.channel_id, interaction=state, flags=flags)
            else:
                message = self._message_payload(
                    data, channel_id=state.channel_id, files=request.files, interaction=state, message_type=20
                )
            state.original = message
            response["interaction"]["response_message_id"] = message["id"]
            response["resource"] = {"type": kind, "message": message}
        elif kind == _UPDATE_MESSAGE:
            target = self._find_message(state.message_id) if state.message_id is not None else None
            if target is not None:
                self._apply_edit(target, data)
                state.original = target
                response["resource"] = {"type": kind, "message": copy.deepcopy(target)}
            else:
                response["resource"] = {"type": kind}
        return response

    def _find_message(self, message_id: int) -> JSON | None:
        """A message the bot sent, wherever it lives (channel, interaction response, followup)."""
        wanted = str(message_id)
        for messages in self.channel_messages.values():
            for message in messages:
                if message["id"] == wanted:
                    return message
        for state in self._interactions.values():
            if state.original is not None and state.original["id"] == wanted:
                return state.original
            if message_id in state.followups:
                return state.followups[message_id]
        return None

    def _interaction_for(self, request: RecordedRequest) -> tuple[_InteractionState | None, Reply | None]:
        state = self._interactions_by_token.get(request.path_params["interaction_token"])
        if request.path_params.get("application_id") != str(self.application_id) or state is None:
            return None, self._error(404, 10015, "Unknown Webhook")
        if state.callback is None:
            return None, self._error(404, 10015, "Unknown Webhook")
        return state, None

    def _get_original(self, request: RecordedRequest) -> Any:
        state, error = self._interaction_for(request)
        if state is None:
            return error
        if state.original is None:
            return self._error(404, 10008, "Unknown Message")
        return copy.deepcopy(state.original)

    def _edit_original(self, request: RecordedRequest) -> Any:
        state, error = self._interaction_for(request)
        if state is None:
            return error
        if state.original is None:
            return self._error(404, 10008, "Unknown Message")
        self._apply_edit(state.original, request.json)
        return copy.deepcopy(state.original)

    def _delete_original(self, request: RecordedRequest) -> Any:
        state, error = self._interaction_for(request)
        if state is None:
            return error
        if state.original is None:
            return self._error(404, 10008, "Unknown Message")
        state.original = None
        return None

    def _followup(self, request: RecordedRequest) -> Any:
        state, error = self._interaction_for(request)
        if state is None:
            return error
        message = self._message_payload(
            request.json or {}, channel_id=state.channel_id, files=request.files, interaction=state
        )
        state.followups[int(message["id"])] = message
        return copy.deepcopy(message) if request.query.get("wait", "").lower() in ("1", "true") else None

    def _find_followup(self, request: RecordedRequest) -> tuple[_InteractionState | None, JSON | None, Reply | None]:
        state, error = self._interaction_for(request)
        if state is None:
            return None, None, error
        message_id = request.path_params["message_id"]
        message = state.followups.get(int(message_id)) if message_id.isdigit() else None
        if message is None and state.original is not None and state.original["id"] == message_id:
            message = state.original
        if message is None:
            return state, None, self._error(404, 10008, "Unknown Message")
        return state, message, None

    def _get_followup(self, request: RecordedRequest) -> Any:
        _, message, error = self._find_followup(request)
        return error if message is None else copy.deepcopy(message)

    def _edit_followup(self, request: RecordedRequest) -> Any:
        _, message, error = self._find_followup(request)
        if message is None:
            return error
        self._apply_edit(message, request.json)
        return copy.deepcopy(message)

    def _delete_followup(self, request: RecordedRequest) -> Any:
        state, message, error = self._find_followup(request)
        if state is None or message is None:
            return error
        if message is state.original:
            state.original = None
        else:
            del state.followups[int(message["id"])]
        return None

    # channels, users, guilds

    def _create_message(self, request: RecordedRequest) -> Any:
        channel_id = int(request.path_params["channel_id"])
        if channel_id not in self._channels:
            return self._error(404, 10003, "Unknown Channel")
        body = request.json or {}
        if not any(body.get(key) for key in ("content", "embeds", "attachments", "components", "sticker_ids", "poll")):
            return self._error(400, 50006, "Cannot send an empty message")
        message = self._message_payload(body, channel_id=channel_id, files=request.files)
        guild, _ = self._channels[channel_id]
        if guild is not None:
            message["guild_id"] = str(guild.id)
        self.channel_messages.setdefault(channel_id, []).append(message)
        return copy.deepcopy(message)

    def _edit_message(self, request: RecordedRequest) -> Any:
        channel_id = int(request.path_params["channel_id"])
        for message in self.channel_messages.get(channel_id, []):
            if message["id"] == request.path_params["message_id"]:
                self._apply_edit(message, request.json)
                return copy.deepcopy(message)
        return self._error(404, 10008, "Unknown Message")

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

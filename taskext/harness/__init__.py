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

# Layout: ``fakes`` (the world a test configures), ``results`` and ``errors`` (what it looks at),
# ``transport`` (the aiohttp session and websocket stand-ins) and ``core.BotHarness``, assembled from
# mixins over ``state._HarnessState``: ``lifecycle``, ``world``, ``gateway``, ``options``,
# ``interactions``, ``router``, ``command_routes``, ``message_routes`` and ``routes``; ``common``
# holds the shared constants.

from __future__ import annotations

from .common import ADMINISTRATOR, DEFAULT_BOT_PERMISSIONS, DEFAULT_EVERYONE_PERMISSIONS
from .core import BotHarness
from .errors import CommandNotAvailable, HarnessError, InteractionNotAnswered, InvalidCommandInput
from .fakes import FakeAttachment, FakeChannel, FakeGuild, FakeMember, FakeRole, FakeUser
from .results import CapturedError, InteractionResult, RecordedFile, RecordedRequest, Reply, SentMessage

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

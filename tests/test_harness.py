"""Tests of taskext.harness: a real py-cord bot driven through fake gateway frames and HTTP."""

import asyncio
import io
import threading
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest
from discord.ext import commands

from taskext.testing import (
    BotHarness,
    CommandNotAvailable,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeRole,
    FakeUser,
    HarnessError,
    InteractionNotAnswered,
    InvalidCommandInput,
    RecordedRequest,
    Reply,
)

OWNER = FakeUser(4242, "owner")
ALICE = FakeMember(FakeUser(7001, "alice"))
ROOT = FakeMember(FakeUser(7002, "root"), administrator=True)
MODERATOR_ROLE = FakeRole(5001, "Moderators", discord.Permissions(manage_messages=True).value)
MOD = FakeMember(FakeUser(7003, "mod"), roles=(MODERATOR_ROLE.id,))
OWNER_MEMBER = FakeMember(OWNER)
GUILD = FakeGuild(1000, "Test Guild", roles=[MODERATOR_ROLE], members=[ALICE, ROOT, MOD, OWNER_MEMBER])
GENERAL = GUILD.channels[0].id
FRUITS = ["apple", "apricot", "banana", "blueberry", "cherry"]


class VoteView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Yes", custom_id="vote:yes", style=discord.ButtonStyle.green)
    async def yes(self, button: discord.ui.Button[Any], interaction: discord.Interaction) -> None:
        await interaction.response.edit_message(content=f"{interaction.user.name} voted yes", view=None)

    @discord.ui.button(label="Closed", custom_id="vote:closed", disabled=True)
    async def closed(self, button: discord.ui.Button[Any], interaction: discord.Interaction) -> None:
        raise AssertionError("a disabled button cannot be clicked")

    @discord.ui.select(
        custom_id="vote:colour",
        options=[discord.SelectOption(label="Red", value="red"), discord.SelectOption(label="Blue", value="blue")],
    )
    async def colour(self, select: discord.ui.Select[Any], interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"picked {select.values}", ephemeral=True)


class FeedbackModal(discord.ui.Modal):
    def __init__(self) -> None:
        super().__init__(
            discord.ui.InputText(label="Comment", custom_id="comment", max_length=40),
            discord.ui.InputText(label="Email", custom_id="email", required=False),
            title="Feedback",
            custom_id="feedback",
        )

    async def callback(self, interaction: discord.Interaction) -> None:
        comment, email = (child.value for child in self.children)
        await interaction.response.send_message(f"thanks for {comment!r} ({email or 'no email'})", ephemeral=True)


class Demo(commands.Cog):
    demo = discord.SlashCommandGroup("demo", "Demo commands")
    admin = discord.SlashCommandGroup(
        "admin", "Admin commands", default_member_permissions=discord.Permissions(administrator=True)
    )
    admin_tasks = admin.create_subgroup("tasks", "Task administration")
    moderate = discord.SlashCommandGroup(
        "moderate", "Moderation", default_member_permissions=discord.Permissions(manage_messages=True)
    )

    def __init__(self, bot: discord.Bot) -> None:
        self.bot = bot
        self.messages: list[discord.Message] = []
        self.authors: list[Any] = []
        self.joined: list[discord.Member] = []
        self.background: set[asyncio.Task[None]] = set()

    @demo.command(name="secret", description="Reply only to the caller")
    async def secret(self, ctx: discord.ApplicationContext) -> None:
        await ctx.respond(f"only you, {ctx.author.name}", ephemeral=True)

    @demo.command(name="card", description="Reply with an embed")
    @discord.option("title", str, description="The title", max_length=20)
    @discord.option("shiny", bool, description="Gold or grey", required=False, default=False)
    async def card(self, ctx: discord.ApplicationContext, title: str, shiny: bool) -> None:
        colour = discord.Colour.gold() if shiny else discord.Colour.light_grey()
        await ctx.respond(embed=discord.Embed(title=title, description="a card", colour=colour))

    @demo.command(name="slow", description="Defer, then follow up")
    async def slow(self, ctx: discord.ApplicationContext) -> None:
        await ctx.defer(ephemeral=True)
        await ctx.respond("done")
        await ctx.followup.send("and one more", ephemeral=True)

    @demo.command(name="edit", description="Answer, then edit the answer")
    async def edit(self, ctx: discord.ApplicationContext) -> None:
        await ctx.respond("draft")
        await ctx.edit(content="final")

    @demo.command(name="file", description="Reply with a file")
    async def file(self, ctx: discord.ApplicationContext) -> None:
        await ctx.respond("see attached", file=discord.File(io.BytesIO(b"hello"), "hello.txt"))

    @demo.command(name="later", description="Answer now, post later")
    async def later(self, ctx: discord.ApplicationContext) -> None:
        await ctx.respond("working on it")
        channel = ctx.channel

        async def post() -> None:
            await asyncio.sleep(0.01)
            await channel.send("finished")

        task = asyncio.create_task(post())
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    @demo.command(name="vote", description="Buttons and a select menu")
    async def vote(self, ctx: discord.ApplicationContext) -> None:
        await ctx.respond("Vote!", view=VoteView())

    @demo.command(name="feedback", description="Open a modal")
    async def feedback(self, ctx: discord.ApplicationContext) -> None:
        await ctx.send_modal(FeedbackModal())

    @demo.command(name="where", description="Channel and role options")
    @discord.option("channel", discord.TextChannel, description="A channel")
    @discord.option("role", discord.Role, description="A role", required=False)
    async def where(self, ctx: discord.ApplicationContext, channel: discord.TextChannel, role: Any) -> None:
        await ctx.respond(f"#{channel.name} {getattr(role, 'name', None)}")

    @demo.command(name="whois", description="Describe a member")
    @discord.option("member", discord.Member, description="Who")
    async def whois(self, ctx: discord.ApplicationContext, member: discord.Member) -> None:
        roles = sorted(role.name for role in member.roles if not role.is_default())
        await ctx.respond(f"{member.name}: {roles}, admin={member.guild_permissions.administrator}")

    @admin_tasks.command(name="reset", description="Reset every task (owner only)")
    async def reset(self, ctx: discord.ApplicationContext) -> None:
        if not await self.bot.is_owner(ctx.author):
            await ctx.respond("Only the bot owner can do that.", ephemeral=True)
            return
        await ctx.respond("All tasks reset.", ephemeral=True)

    @moderate.command(name="purge", description="Delete messages")
    async def purge(self, ctx: discord.ApplicationContext) -> None:
        await ctx.respond(f"perms={ctx.interaction.permissions.manage_messages}", ephemeral=True)

    @discord.slash_command(name="roll", description="Roll a die")
    @discord.option("sides", int, description="How many sides", min_value=2, max_value=100)
    async def roll(self, ctx: discord.ApplicationContext, sides: int) -> None:
        await ctx.respond(f"rolled a d{sides}")

    @staticmethod
    async def fruit_names(ctx: discord.AutocompleteContext) -> list[str]:
        return [fruit for fruit in FRUITS if fruit.startswith(str(ctx.value))]

    @discord.slash_command(name="pick", description="Pick a fruit")
    @discord.option("fruit", str, description="The fruit", autocomplete=fruit_names)
    @discord.option("count", int, description="How many", required=False, default=1)
    async def pick(self, ctx: discord.ApplicationContext, fruit: str, count: int) -> None:
        await ctx.respond(f"{count} x {fruit}")

    @staticmethod
    async def broken_names(ctx: discord.AutocompleteContext) -> list[str]:
        raise LookupError("the fruit database is down")

    @discord.slash_command(name="eat", description="Eat a fruit")
    @discord.option("fruit", str, description="The fruit", autocomplete=broken_names)
    async def eat(self, ctx: discord.ApplicationContext, fruit: str) -> None:
        await ctx.respond(f"ate {fruit}")

    @discord.slash_command(name="boom", description="Fails, handled by the cog")
    async def boom(self, ctx: discord.ApplicationContext) -> None:
        raise ValueError("kaboom")

    async def cog_command_error(self, ctx: discord.ApplicationContext, error: Exception) -> None:
        original = getattr(error, "original", error)
        await ctx.respond(f"Something went wrong: {original}", ephemeral=True)

    @commands.Cog.listener()
    async def on_member_join(self, member: discord.Member) -> None:
        self.joined.append(member)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot:
            return
        self.messages.append(message)
        self.authors.append(message.author)
        if message.content == "!ping":
            await message.channel.send("pong")


def make_bot(**kwargs: Any) -> tuple[discord.Bot, Demo]:
    intents = kwargs.pop("intents", None) or discord.Intents.default()
    bot = discord.Bot(intents=intents, **kwargs)
    cog = Demo(bot)
    bot.add_cog(cog)

    @bot.slash_command(name="crash", description="Fails with no handler")
    async def crash(ctx: discord.ApplicationContext) -> None:
        raise RuntimeError("unhandled crash")

    return bot, cog


@pytest.fixture
async def demo() -> AsyncIterator[tuple[BotHarness, Demo]]:
    intents = discord.Intents.default()
    intents.message_content = True
    bot, cog = make_bot(intents=intents)
    async with BotHarness(bot, owner_id=OWNER.id, guilds=[GUILD]) as harness:
        yield harness, cog


async def test_startup_logs_in_connects_and_syncs_commands(demo: tuple[BotHarness, Demo]) -> None:
    h, _ = demo
    bot = h.bot
    assert bot.is_ready()
    assert bot.user is not None and bot.user.id == h.application_id
    assert [g.id for g in bot.guilds] == [GUILD.id]
    guild = bot.get_guild(GUILD.id)
    assert guild is not None and guild.me is not None and guild.get_channel(GENERAL) is not None

    paths = [(r.method, r.route) for r in h.requests]
    assert paths[:2] == [("GET", "/users/@me"), ("GET", "/gateway")]
    assert ("GET", "/soundboard-default-sounds") in paths
    (sync,) = h.find_requests("PUT", "/applications/{application_id}/commands")
    assert sync.path == f"/applications/{h.application_id}/commands"
    assert sync.status == 200
    sent = {c["name"]: c for c in sync.json}
    assert set(sent) == {"demo", "admin", "moderate", "roll", "pick", "eat", "boom", "crash"}
    assert len(sent["demo"]["options"]) == 10
    echoed = {c["name"]: c for c in sync.response}
    assert all(c["id"] and c["type"] == 1 and c["application_id"] == str(h.application_id) for c in echoed.values())
    # py-cord adopted the ids Discord gave the commands: the invocations below route through them.
    assert {str(cmd.id) for cmd in bot.pending_application_commands} == {c["id"] for c in echoed.values()}
    assert sent["admin"]["default_member_permissions"] == 8
    assert echoed["admin"]["default_member_permissions"] == "8"  # Discord answers permissions as strings

    identify = next(frame for frame in h.gateway_received if frame["op"] == 2)
    assert identify["d"]["token"] == h.token
    assert identify["d"]["intents"] == bot.intents.value


async def test_subcommand_replies_ephemeral(demo: tuple[BotHarness, Demo]) -> None:
    h, _ = demo
    result = await h.invoke("demo secret", user=ALICE)
    assert result.type == 4
    assert result.content == "only you, alice"
    assert result.ephemeral
    assert result.payload == {"type": 4, "data": result.data}
    assert result.data["flags"] == 64
    assert result.errors == []
    (callback,) = result.requests
    assert callback.method == "POST"
    assert callback.path == f"/interactions/{result.interaction_id}/{result.token}/callback"
    assert callback.query == {"with_response": "true"}

    sent = result.interaction
    assert sent["type"] == 2 and sent["version"] == 1
    assert sent["application_id"] == str(h.application_id)
    assert sent["guild_id"] == str(GUILD.id) and sent["channel_id"] == str(GENERAL)
    assert sent["data"]["options"] == [{"name": "secret", "type": 1, "options": []}]
    assert sent["data"]["name"] == "demo" and sent["data"]["type"] == 1
    assert sent["data"]["id"] == h.find_command("demo")["id"]
    assert sent["member"]["user"]["id"] == str(ALICE.id)
    assert isinstance(sent["member"]["permissions"], str)
    assert sent["authorizing_integration_owners"] == {"0": str(GUILD.id)}
    assert sent["context"] == 0 and sent["entitlements"] == [] and "app_permissions" in sent


async def test_subcommand_replies_with_embed(demo: tuple[BotHarness, Demo]) -> None:
    h, _ = demo
    result = await h.invoke("demo card", user=ALICE, options={"title": "Hello", "shiny": True})
    assert not result.ephemeral
    (embed,) = result.embeds
    assert embed["title"] == "Hello" and embed["description"] == "a card"
    assert embed["color"] == discord.Colour.gold().value
    options = result.interaction["data"]["options"][0]["options"]
    assert options == [{"name": "title", "type": 3, "value": "Hello"}, {"name": "shiny", "type": 5, "value": True}]

    with pytest.raises(InvalidCommandInput, match="length"):
        await h.invoke("demo card", user=ALICE, options={"title": "x" * 21})
    with pytest.raises(InvalidCommandInput, match="required"):
        await h.invoke("demo card", user=ALICE)
    with pytest.raises(InvalidCommandInput, match="unknown option"):
        await h.invoke("demo card", user=ALICE, options={"title": "x", "colour": "red"})
    with pytest.raises(CommandNotAvailable, match="needs a subcommand"):
        await h.invoke("demo", user=ALICE)
    with pytest.raises(CommandNotAvailable, match="no subcommand"):
        await h.invoke("demo nope", user=ALICE)
    with pytest.raises(CommandNotAvailable, match="no command"):
        await h.invoke("nope", user=ALICE)


async def test_int_option_with_min_and_max(demo: tuple[BotHarness, Demo]) -> None:
    h, _ = demo
    assert (await h.invoke("roll", user=ALICE, options={"sides": 20})).content == "rolled a d20"
    assert (await h.invoke("roll", user=ALICE, options={"sides": 100})).content == "rolled a d100"
    for bad in (1, 101):
        with pytest.raises(InvalidCommandInput, match=r"minimum|maximum"):
            await h.invoke("roll", user=ALICE, options={"sides": bad})
    for wrong in ("6", 6.0, True):
        with pytest.raises(InvalidCommandInput, match="integer"):
            await h.invoke("roll", user=ALICE, options={"sides": wrong})
    (option,) = h.find_command("roll")["options"]
    assert (option["min_value"], option["max_value"]) == (2, 100)


async def test_autocomplete(demo: tuple[BotHarness, Demo]) -> None:
    h, _ = demo
    choices = await h.autocomplete("pick", user=ALICE, focused="fruit", value="ap")
    assert choices == [{"name": "apple", "value": "apple"}, {"name": "apricot", "value": "apricot"}]
    assert await h.autocomplete("pick", user=ALICE, focused="fruit", value="b", options={"count": 2}) == [
        {"name": "banana", "value": "banana"},
        {"name": "blueberry", "value": "blueberry"},
    ]
    callback = h.requests[-1]
    assert callback.json["type"] == 8 and callback.json["data"]["choices"][0] == {"name": "banana", "value": "banana"}
    with pytest.raises(InvalidCommandInput, match="no autocomplete"):
        await h.autocomplete("pick", user=ALICE, focused="count", value="1")
    assert (await h.invoke("pick", user=ALICE, options={"fruit": "cherry", "count": 3})).content == "3 x cherry"


async def test_failing_autocomplete_is_reported(demo: tuple[BotHarness, Demo]) -> None:
    h, _ = demo
    with pytest.raises(InteractionNotAnswered, match="fruit database is down"):
        await h.autocomplete("eat", user=ALICE, focused="fruit", value="a", timeout=1.0)
    assert [(e.event, type(e.error)) for e in h.errors] == [("autocomplete", LookupError)]


async def test_default_member_permissions_and_owner_check(demo: tuple[BotHarness, Demo]) -> None:
    h, _ = demo
    with pytest.raises(CommandNotAvailable, match="hidden from alice"):
        await h.invoke("admin tasks reset", user=ALICE)
    # A server admin can grant the command to anyone; the bot's own owner check still applies.
    result = await h.invoke("admin tasks reset", user=ALICE, check_permissions=False)
    assert result.content == "Only the bot owner can do that."
    assert (await h.invoke("admin tasks reset", user=ROOT)).content == "Only the bot owner can do that."
    # The guild owner (the application owner by default) sees everything and passes the owner check.
    assert (await h.invoke("admin tasks reset", user=OWNER_MEMBER)).content == "All tasks reset."
    assert h.find_requests("GET", "/oauth2/applications/@me")
    sent = h.requests[-1]
    assert sent.route == "/interactions/{interaction_id}/{interaction_token}/callback"

    assert (await h.invoke("moderate purge", user=MOD)).content == "perms=True"
    assert (await h.invoke("moderate purge", user=ROOT)).content == "perms=True"
    with pytest.raises(CommandNotAvailable):
        await h.invoke("moderate purge", user=ALICE)
    custom = FakeMember(FakeUser(7010, "custom"), permissions=discord.Permissions(manage_messages=True))
    assert (await h.invoke("moderate purge", user=custom)).content == "perms=True"


async def test_application_owner_lookup(demo: tuple[BotHarness, Demo]) -> None:
    h, _ = demo
    guild = h.bot.get_guild(GUILD.id)
    assert guild is not None
    # Without the members intent, members reach the cache through interactions.
    await h.invoke("roll", user=OWNER_MEMBER, options={"sides": 2})
    await h.invoke("roll", user=ALICE, options={"sides": 2})
    owner, alice = guild.get_member(OWNER.id), guild.get_member(ALICE.id)
    assert owner is not None and alice is not None
    assert await h.bot.is_owner(owner)
    assert not await h.bot.is_owner(alice)
    info = await h.bot.application_info()
    assert info.owner is not None and info.owner.id == OWNER.id and info.team is None


async def test_team_owned_application() -> None:
    bot, _ = make_bot()
    async with BotHarness(bot, team_member_ids=[ALICE.id, ROOT.id]) as h:
        assert h.bot.owner_id is None
        await h.invoke("admin tasks reset", user=ROOT)
        assert h.bot.owner_ids == {ALICE.id, ROOT.id}
        assert (await h.invoke("admin tasks reset", user=ROOT)).content == "All tasks reset."


async def test_member_option_is_resolved(demo: tuple[BotHarness, Demo]) -> None:
    h, _ = demo
    result = await h.invoke("demo whois", user=ALICE, options={"member": MOD})
    assert result.content == "mod: ['Moderators'], admin=False"
    resolved = result.interaction["data"]["resolved"]
    assert set(resolved) == {"users", "members"} and str(MOD.id) in resolved["members"]
    assert (await h.invoke("demo whois", user=ALICE, options={"member": ROOT.id})).content == (
        "root: ['Administrator'], admin=True"
    )
    with pytest.raises(InvalidCommandInput, match="no known"):
        await h.invoke("demo whois", user=ALICE, options={"member": 999})


async def test_deferred_response_and_followups(demo: tuple[BotHarness, Demo]) -> None:
    h, _ = demo
    result = await h.invoke("demo slow", user=ALICE)
    assert result.deferred and result.type == 5 and result.ephemeral
    assert result.content == "" and [m["content"] for m in result.followups] == ["done", "and one more"]
    assert [r.route for r in result.requests] == [
        "/interactions/{interaction_id}/{interaction_token}/callback",
        "/webhooks/{application_id}/{interaction_token}",
        "/webhooks/{application_id}/{interaction_token}",
    ]
    assert result.followups[1]["flags"] == 64

    edited = await h.invoke("demo edit", user=ALICE)
    assert edited.data["content"] == "draft" and edited.content == "final"
    assert edited.requests[-1].method == "PATCH" and edited.requests[-1].path.endswith("/messages/@original")


async def test_multipart_response_is_recorded(demo: tuple[BotHarness, Demo]) -> None:
    h, _ = demo
    result = await h.invoke("demo file", user=ALICE)
    (callback,) = result.requests
    assert callback.json["data"]["content"] == "see attached"
    assert callback.json["data"]["attachments"][0]["filename"] == "hello.txt"
    (upload,) = callback.files
    assert (upload.field, upload.filename, upload.data) == ("files[0]", "hello.txt", b"hello")
    assert result.message is not None and result.message["attachments"][0]["size"] == 5


async def test_background_work_and_raw_events(demo: tuple[BotHarness, Demo]) -> None:
    h, cog = demo
    assert (await h.invoke("demo later", user=ALICE)).content == "working on it"
    posted = await h.wait_for_request(lambda r: r.method == "POST" and (r.json or {}).get("content") == "finished")
    assert posted.path == f"/channels/{GENERAL}/messages"

    newcomer = FakeMember(FakeUser(7100, "newcomer"))
    await h.push_event("GUILD_MEMBER_ADD", {"guild_id": str(GUILD.id), **h.member_payload(GUILD, newcomer)})
    assert [m.name for m in cog.joined] == ["newcomer"]


async def test_channel_and_role_options(demo: tuple[BotHarness, Demo]) -> None:
    h, _ = demo
    general = GUILD.channels[0]
    result = await h.invoke("demo where", user=ALICE, options={"channel": general, "role": MODERATOR_ROLE})
    assert result.content == "#general Moderators"
    resolved = result.interaction["data"]["resolved"]
    assert resolved["channels"][str(general.id)]["permissions"] == result.interaction["member"]["permissions"]
    assert (await h.invoke("demo where", user=ALICE, options={"channel": general.id})).content == "#general None"
    with pytest.raises(InvalidCommandInput, match="channel type"):
        await h.invoke("demo where", user=ALICE, options={"channel": FakeChannel(1500, "voice", type=2)})


async def test_buttons_and_selects(demo: tuple[BotHarness, Demo]) -> None:
    h, _ = demo
    vote = await h.invoke("demo vote", user=ALICE)
    assert [c["custom_id"] for c in vote.components[0]["components"]] == ["vote:yes", "vote:closed"]

    picked = await h.click(vote, "vote:colour", user=ROOT, values=["blue"])
    assert picked.content == "picked ['blue']" and picked.ephemeral
    assert picked.interaction["type"] == 3 and picked.interaction["message"]["id"] == vote.message["id"]
    with pytest.raises(InvalidCommandInput, match="offers"):
        await h.click(vote, "vote:colour", user=ROOT, values=["green"])
    with pytest.raises(InvalidCommandInput, match="disabled"):
        await h.click(vote, "vote:closed", user=ROOT)

    clicked = await h.click(vote, "vote:yes", user=ROOT)
    assert clicked.type == 7
    assert vote.content == clicked.content == "root voted yes" and vote.components == []
    with pytest.raises(InvalidCommandInput, match="no component"):
        await h.click(vote, "vote:yes", user=ROOT)


async def test_modal_submission(demo: tuple[BotHarness, Demo]) -> None:
    h, _ = demo
    opened = await h.invoke("demo feedback", user=ALICE)
    assert opened.type == 9 and opened.data["title"] == "Feedback" and opened.content is None
    with pytest.raises(InvalidCommandInput, match="required"):
        await h.submit_modal(opened, {"email": "a@example.com"}, user=ALICE)
    with pytest.raises(InvalidCommandInput, match="length"):
        await h.submit_modal(opened, {"comment": "x" * 41}, user=ALICE)
    thanks = await h.submit_modal(opened, {"comment": "great bot"}, user=ALICE)
    assert thanks.content == "thanks for 'great bot' (no email)" and thanks.ephemeral
    assert thanks.interaction["data"]["custom_id"] == "feedback"


async def test_error_in_command(demo: tuple[BotHarness, Demo]) -> None:
    h, _ = demo
    handled = await h.invoke("boom", user=ALICE)
    assert handled.content == "Something went wrong: kaboom" and handled.ephemeral
    (error,) = handled.errors
    assert isinstance(error.error, ValueError) and isinstance(error.raw, discord.ApplicationCommandInvokeError)
    assert error.event == "application_command_error" and error.command == "boom"

    with pytest.raises(InteractionNotAnswered, match="unhandled crash") as raised:
        await h.invoke("crash", user=ALICE)
    assert isinstance(raised.value.__cause__, RuntimeError)
    silent = await h.invoke("crash", user=ALICE, expect_response=False)
    assert not silent.responded and silent.content is None
    assert [type(e.error) for e in silent.errors] == [RuntimeError]
    assert [e.command for e in h.errors] == ["boom", "crash", "crash"]


async def test_on_message_listener(demo: tuple[BotHarness, Demo]) -> None:
    h, cog = demo
    sent = await h.send_message(GENERAL, ALICE, "hello there")
    assert sent.delivered and sent.replies == []
    (message,) = cog.messages
    assert message.content == "hello there" and message.id == sent.id
    assert message.channel.id == GENERAL and message.guild is not None and message.guild.id == GUILD.id
    assert isinstance(cog.authors[0], discord.Member) and cog.authors[0].id == ALICE.id

    ping = await h.send_message(GENERAL, ALICE, "!ping")
    (reply,) = ping.replies
    assert reply["content"] == "pong" and reply["author"]["id"] == str(h.application_id)
    assert h.channel_messages[GENERAL][-1]["content"] == "pong"

    dm = h.dm_channel(ALICE)
    await h.send_message(dm.id, ALICE, "psst")
    assert cog.messages[-1].content == "psst" and cog.messages[-1].guild is None


async def test_message_content_intent_is_enforced() -> None:
    bot, cog = make_bot()  # Intents.default(): no message_content
    async with BotHarness(bot, guilds=[GUILD]) as h:
        plain = await h.send_message(GENERAL, ALICE, "secret plans")
        mention = await h.send_message(GENERAL, ALICE, f"<@{h.application_id}> hi")
        assert [m.content for m in cog.messages] == ["", f"<@{h.application_id}> hi"]
        assert plain.payload["content"] == "" and mention.payload["mentions"][0]["id"] == str(h.application_id)

    intents = discord.Intents.default()
    intents.guild_messages = False
    bot, cog = make_bot(intents=intents)
    async with BotHarness(bot, guilds=[GUILD]) as h:
        assert not (await h.send_message(GENERAL, ALICE, "anyone?")).delivered
        assert cog.messages == []


async def test_members_intent_chunks_members() -> None:
    intents = discord.Intents.default()
    intents.members = True
    bot, _ = make_bot(intents=intents)
    async with BotHarness(bot, owner_id=OWNER.id, guilds=[GUILD]) as h:
        guild = h.bot.get_guild(GUILD.id)
        assert guild is not None and guild.chunked
        assert {m.id for m in guild.members} == {h.application_id, ALICE.id, ROOT.id, MOD.id, OWNER.id}
        root = guild.get_member(ROOT.id)
        assert root is not None and root.guild_permissions.administrator
        assert any(frame["op"] == 8 for frame in h.gateway_received)


async def test_dm_invocation_and_contexts() -> None:
    bot, _ = make_bot()

    @bot.slash_command(name="serveronly", description="Guild only", contexts={discord.InteractionContextType.guild})
    async def serveronly(ctx: discord.ApplicationContext) -> None:
        await ctx.respond("ok")

    async with BotHarness(bot, guilds=[GUILD]) as h:
        result = await h.invoke("roll", user=ALICE, dm=True, options={"sides": 6})
        assert result.content == "rolled a d6"
        assert result.interaction["context"] == 1 and "member" not in result.interaction
        assert result.interaction["user"]["id"] == str(ALICE.id)
        with pytest.raises(CommandNotAvailable, match="DMs"):
            await h.invoke("serveronly", user=ALICE, dm=True)
        assert (await h.invoke("serveronly", user=ALICE)).content == "ok"


async def test_guild_commands_and_other_channels() -> None:
    other = FakeGuild(2000, "Other", channels=[FakeChannel(2001, "lobby"), FakeChannel(2002, "bots")])
    bot, _ = make_bot()

    @bot.slash_command(name="local", description="Guild command", guild_ids=[other.id])
    async def local(ctx: discord.ApplicationContext) -> None:
        await ctx.respond(f"in #{getattr(ctx.channel, 'name', '?')}")

    async with BotHarness(bot, guilds=[GUILD, other]) as h:
        (put,) = h.find_requests("PUT", "/applications/{application_id}/guilds/{guild_id}/commands")
        assert put.path_params["guild_id"] == str(other.id)
        assert put.response[0]["guild_id"] == str(other.id)
        assert (await h.invoke("local", user=ALICE, channel_id=2002)).content == "in #bots"
        with pytest.raises(CommandNotAvailable):
            await h.invoke("local", user=ALICE, guild_id=GUILD.id)
        with pytest.raises(HarnessError, match="several guilds"):
            await h.invoke("roll", user=ALICE, options={"sides": 2})


async def test_heartbeats_are_acknowledged() -> None:
    bot, _ = make_bot()
    async with BotHarness(bot, heartbeat_interval=0.01) as h:
        for _ in range(200):
            beats = [frame for frame in h.gateway_received if frame["op"] == 1]
            if len(beats) >= 4:
                break
            await asyncio.sleep(0.01)
        assert len(beats) >= 4
        assert bot.latency < 1.0
        assert (await h.invoke("roll", user=ALICE, options={"sides": 3})).content == "rolled a d3"


async def test_reconnect_resumes_the_session(demo: tuple[BotHarness, Demo]) -> None:
    h, _ = demo
    await h.reconnect()
    resume = next(frame for frame in h.gateway_received if frame["op"] == 6)
    assert resume["d"]["token"] == h.token and resume["d"]["session_id"]
    assert len(h.find_requests("GET", "/gateway")) == 2
    assert (await h.invoke("roll", user=ALICE, options={"sides": 4})).content == "rolled a d4"


async def test_custom_routes_and_unknown_routes(demo: tuple[BotHarness, Demo]) -> None:
    h, _ = demo

    def bans(request: RecordedRequest) -> Any:
        return Reply(403, {"message": "Missing Permissions", "code": 50013})

    h.add_route("GET", "/guilds/{guild_id}/bans", bans)
    guild = h.bot.get_guild(GUILD.id)
    assert guild is not None
    with pytest.raises(discord.Forbidden, match="Missing Permissions"):
        await guild.bans().flatten()
    assert h.requests[-1].path_params == {"guild_id": str(GUILD.id)}

    with pytest.raises(discord.NotFound):
        await guild.fetch_emojis()
    assert h.requests[-1].route is None and h.requests[-1].status == 404
    fetched = await h.bot.fetch_user(ALICE.id)
    assert fetched.name == "alice"


async def test_invalid_command_payload_is_rejected(demo: tuple[BotHarness, Demo]) -> None:
    h, _ = demo
    bad = {"name": "Bad Name", "description": "", "type": 1}
    with pytest.raises(discord.HTTPException, match="Invalid Form Body") as raised:
        await h.bot.http.bulk_upsert_global_commands(h.application_id, [bad])
    assert raised.value.status == 400 and raised.value.code == 50035
    assert "0.name" in raised.value.text and "0.description" in raised.value.text
    assert "demo" in {c["name"] for c in h.commands[None].values()}  # a rejected overwrite changes nothing


async def test_teardown_is_clean() -> None:
    bot, _ = make_bot()
    harness = BotHarness(bot)
    with pytest.raises(RuntimeError, match="test body failed"):
        async with harness:
            keep_alive = bot.ws._keep_alive
            assert isinstance(keep_alive, threading.Thread) and keep_alive.is_alive()
            raise RuntimeError("test body failed")
    assert bot.is_closed()
    assert not keep_alive.is_alive()
    assert all(task.done() for task in bot._tasks)
    assert "static_login" not in vars(bot.http) and "on_error" not in vars(bot)
    assert bot._listeners.get("application_command_error") is None
    with pytest.raises(HarnessError, match="only be started once"):
        await harness.start()


async def test_bot_created_outside_the_loop_is_refused() -> None:
    loop = asyncio.new_event_loop()
    try:
        bot = discord.Bot(loop=loop)
        with pytest.raises(HarnessError, match="inside the running event loop"):
            await BotHarness(bot).start()
    finally:
        loop.close()


async def test_sync_failure_fails_startup() -> None:
    bot, _ = make_bot()
    harness = BotHarness(bot)
    harness.add_route(
        "PUT", "/applications/{application_id}/commands", lambda r: Reply(400, {"message": "nope", "code": 50035})
    )
    with pytest.raises(HarnessError, match="on_connect"):
        await harness.start()
    assert bot.is_closed()

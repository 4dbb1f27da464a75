"""The sample LeaderboardCog end to end: gateway messages -> points -> the update loop -> ``/leaderboard``.

A real py-cord bot runs against BotHarness; the loop and the message cooldown run on a FakeClock; points
and task state live in SQLite files under tmp_path.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import discord
import pytest

from cogs.leaderboard import LeaderboardCog
from taskext.clock import SystemClock, get_default_clock
from taskext.manager import TaskManager
from taskext.testing import (
    BotHarness,
    CommandNotAvailable,
    FakeClock,
    FakeGuild,
    FakeMember,
    FakeUser,
    InteractionResult,
    InvalidCommandInput,
    use_clock,
)

UTC = timezone.utc
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # on the loop's 10-minute grid
TASK = "Leaderboard.update_leaderboard"

OWNER = FakeUser(4242, "owner")
OWNER_MEMBER = FakeMember(OWNER)
ROOT = FakeMember(FakeUser(7000, "root"), administrator=True)  # a server administrator, not a bot owner
ALICE = FakeMember(FakeUser(7001, "alice"))
BOB = FakeMember(FakeUser(7002, "bob"))
CAROL = FakeMember(FakeUser(7003, "carol"), nick="Caz")  # ranked under her display name
DAVE = FakeMember(FakeUser(7004, "dave"))
HELPER = FakeMember(FakeUser(7100, "helper", bot=True))
GUILD = FakeGuild(1000, "Test Guild", members=[OWNER_MEMBER, ROOT, ALICE, BOB, CAROL, DAVE, HELPER])
GENERAL = GUILD.text_channel.id
OTHER = FakeGuild(2000, "Other Guild", members=[OWNER_MEMBER, BOB])

REFUSAL = "Only the bot's owners can change the leaderboard settings."
RANKING = "🥇 **alice**: 3 points\n🥈 **Caz**: 2 points\n🥉 **bob**: 1 point\n`4.` **dave**: 1 point"


def ts(moment: datetime) -> str:
    return f"<t:{int(moment.timestamp())}:R>"


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait in real time: the points database is read in aiosqlite's thread, which a FakeClock cannot see."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.002)


def info_text(
    last: datetime | None,
    upcoming: datetime | None,
    between: str = "10m",
    updates: int = 1,
    running: bool = True,
    failed: bool = False,
) -> str:
    return (
        "***Leaderboard Info***\n"
        f"Last update: {ts(last) if last else 'not yet'}\n"
        f"Next update: {ts(upcoming) if upcoming else 'not scheduled'}\n"
        f"Time between updates: {between}\n"
        f"Times updated this session: {updates}\n"
        f"Running? {running}\n"
        f"Failed? {failed}"
    )


def flags(result: InteractionResult) -> int:
    assert result.payload is not None and result.payload["type"] == 4
    return int(result.payload["data"].get("flags") or 0)


def ephemeral_text(result: InteractionResult) -> str:
    assert flags(result) == 64 and result.ephemeral
    assert result.embeds == []
    return str(result.content)


@dataclass
class Board:
    harness: BotHarness
    bot: discord.Bot
    cog: LeaderboardCog
    manager: TaskManager | None
    clock: FakeClock

    @property
    def loop(self) -> Any:
        return self.cog.update_leaderboard

    async def invoke(self, command: str, user: FakeMember = OWNER_MEMBER, **options: Any) -> InteractionResult:
        result = await self.harness.invoke(command, user=user, options=options)
        await self.clock.settle()
        return result

    async def say(self, author: FakeMember, count: int = 1, channel: int = GENERAL) -> None:
        for _ in range(count):
            sent = await self.harness.send_message(channel, author, "hello")
            assert sent.errors == []
        await self.clock.settle()

    async def updated(self, count: int) -> None:
        """Wait until the loop has updated the leaderboard ``count`` times and planned its next update."""
        await eventually(lambda: self.cog.updates_this_session >= count)
        await self.clock.settle()
        assert self.cog.updates_this_session == count

    async def update_at(self, moment: datetime) -> None:
        """Move the clock to ``moment``, when the next update is due, and wait for that update."""
        count = self.cog.updates_this_session
        assert self.loop.next_iteration == moment
        await self.clock.advance_to(moment)
        await self.updated(count + 1)
        assert self.cog.last_update == moment

    async def override(self) -> str | None:
        assert self.manager is not None
        return (await self.manager.task(TASK)).state.override_schedule


@contextlib.asynccontextmanager
async def board(
    clock: FakeClock,
    db: Path,
    *,
    managed: bool = True,
    guilds: list[FakeGuild] | None = None,
) -> AsyncIterator[Board]:
    """A bot with the cog (and a task manager on ``db``), started against the harness, closed on exit."""
    with use_clock(clock):  # the loop reads the default clock when the cog starts it
        bot = discord.Bot(intents=discord.Intents.default())
        manager = TaskManager(f"sqlite:///{db}", align_intervals=True).setup(bot) if managed else None
        cog = LeaderboardCog(bot, database=str(db.with_name("points.db")))
        bot.add_cog(cog)
        async with BotHarness(bot, owner_id=OWNER.id, guilds=guilds or [GUILD]) as harness:
            await clock.settle()
            try:
                yield Board(harness, bot, cog, manager, clock)
            finally:
                if manager is None:  # (a task manager stops its loops when the bot closes; a plain loop runs on)
                    bot.remove_cog("Leaderboard")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
async def managed(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Board]:
    async with board(clock, tmp_path / "taskext.db") as started:
        await started.updated(1)  # the first update runs as soon as the bot is ready
        yield started


async def chat(b: Board) -> None:
    """Messages over two minutes: alice earns 3 points, carol 2, bob and dave 1; bots and DMs earn nothing."""
    await b.say(ALICE, 3)  # one point per cooldown, however many messages
    await b.say(CAROL, 2)
    await b.say(BOB)
    await b.say(DAVE)
    await b.say(HELPER, 5)  # a bot
    await b.say(ALICE, channel=b.harness.dm_channel(ALICE).id)  # not in a guild
    await b.clock.advance(60)  # the cooldown is over exactly 60 s later
    await b.say(ALICE)
    await b.say(CAROL)
    await b.clock.advance(59)  # 59 s after alice's last point: still cooling down
    await b.say(ALICE)
    await b.clock.advance(1)
    await b.say(ALICE)


# ---------------------------------------------------------------------------- points and the loop


async def test_messages_become_a_ranking_when_the_loop_runs(managed: Board) -> None:
    b = managed
    assert b.loop.manager is b.manager and b.loop.name == TASK
    assert (b.cog.updates_this_session, b.cog.last_update) == (1, T0)  # the first update runs once ready

    first = await b.invoke("leaderboard view", user=ALICE)
    assert flags(first) == 0 and not first.ephemeral  # the leaderboard is shown to the channel
    (empty,) = first.embeds
    assert (empty["title"], empty["description"]) == ("Leaderboard", "No activity yet.")
    assert empty["fields"] == [{"name": "Computed", "value": ts(T0), "inline": True}]

    await chat(b)
    assert b.clock.now() == T0 + timedelta(minutes=2)
    still = await b.invoke("leaderboard view", user=ALICE)  # cached: nothing changes until the loop runs
    assert still.embeds[0]["description"] == "No activity yet."

    await b.update_at(T0 + timedelta(minutes=10))
    result = await b.invoke("leaderboard view", user=ALICE)
    (embed,) = result.embeds
    assert embed["title"] == "Leaderboard"
    assert embed["description"] == RANKING
    assert embed["color"] == discord.Colour.gold().value
    assert embed["fields"] == [{"name": "Computed", "value": ts(T0 + timedelta(minutes=10)), "inline": True}]

    info = await b.invoke("leaderboard info", user=ALICE)
    assert ephemeral_text(info) == info_text(T0 + timedelta(minutes=10), T0 + timedelta(minutes=20), updates=2)
    assert b.harness.errors == []


async def test_each_guild_gets_its_own_ranking(tmp_path: Path, clock: FakeClock) -> None:
    async with board(clock, tmp_path / "taskext.db", guilds=[GUILD, OTHER]) as b:
        await b.updated(1)
        await b.say(ALICE)
        await b.say(BOB, channel=OTHER.text_channel.id)
        await b.say(OWNER_MEMBER, channel=OTHER.text_channel.id)
        await b.clock.advance(60)
        await b.say(BOB, channel=OTHER.text_channel.id)
        await b.update_at(T0 + timedelta(minutes=10))
        here = await b.harness.invoke("leaderboard view", user=ALICE, guild_id=GUILD.id)
        there = await b.harness.invoke("leaderboard view", user=BOB, guild_id=OTHER.id)
        assert here.embeds[0]["description"] == "🥇 **alice**: 1 point"
        assert there.embeds[0]["description"] == "🥇 **bob**: 2 points\n🥈 **owner**: 1 point"


async def test_info_tracks_every_update(managed: Board) -> None:
    b = managed
    assert ephemeral_text(await b.invoke("leaderboard info", user=ALICE)) == info_text(T0, T0 + timedelta(minutes=10))
    for minutes in (10, 20, 30):
        await b.update_at(T0 + timedelta(minutes=minutes))
    assert ephemeral_text(await b.invoke("leaderboard info", user=ALICE)) == info_text(
        T0 + timedelta(minutes=30), T0 + timedelta(minutes=40), updates=4
    )


def swap(points: Path, aside: Path) -> None:
    """Put the points database aside (a directory takes its place), or back."""
    if aside.exists():
        points.rmdir()
        aside.rename(points)
    else:
        points.rename(aside)
        points.mkdir()


async def test_a_failing_update_is_reported(managed: Board, tmp_path: Path) -> None:
    b = managed
    points, aside = Path(b.cog.points.path), tmp_path / "aside.db"
    swap(points, aside)  # the points "database" is now a directory: SQLite cannot open it
    await b.clock.advance_to(T0 + timedelta(minutes=10))
    await eventually(b.loop.failed)
    await b.clock.settle()
    assert b.loop.is_running()
    retry = T0 + timedelta(minutes=11)  # the task manager retries after Moodle's first fail delay, 60 s
    assert ephemeral_text(await b.invoke("leaderboard info", user=ALICE)) == info_text(T0, retry, failed=True)
    assert b.manager is not None
    state = (await b.manager.task(TASK)).state
    assert state.failures == 1 and "unable to open database file" in (state.last_error or "")
    view = await b.invoke("leaderboard view", user=ALICE)
    assert view.embeds[0]["fields"][0]["value"] == ts(T0)  # the last good leaderboard is still shown

    swap(points, aside)  # repaired
    await b.update_at(retry)
    assert not b.loop.failed()
    assert ephemeral_text(await b.invoke("leaderboard info", user=ALICE)) == info_text(
        retry, T0 + timedelta(minutes=20), updates=2
    )


# ---------------------------------------------------------------------------- /leaderboard_config


async def test_set_time_between_updates_is_stored_and_survives_a_restart(tmp_path: Path, clock: FakeClock) -> None:
    db = tmp_path / "taskext.db"
    async with board(clock, db) as b:
        await b.updated(1)
        await chat(b)
        await b.update_at(T0 + timedelta(minutes=10))
        result = await b.invoke("leaderboard_config set_time_between_updates", minutes=30)
        assert ephemeral_text(result) == "Set time between updates to 30 minutes."
        assert await b.override() == "30m"  # an owner override in the task manager
        assert b.loop.schedule.to_text() == "30m"
        assert b.loop.next_iteration == T0 + timedelta(minutes=40)  # counted from the last update
        assert ephemeral_text(await b.invoke("leaderboard info")) == info_text(
            T0 + timedelta(minutes=10), T0 + timedelta(minutes=40), between="30m", updates=2
        )
    assert b.bot.is_closed() and not b.loop.is_running()

    await clock.advance(minutes=5)  # the bot is down for a while
    async with board(clock, db) as again:
        assert again.manager is not b.manager and TaskManager.of(again.bot) is again.manager
        assert await again.override() == "30m"
        assert again.loop.schedule.to_text() == "30m"
        upcoming = T0 + timedelta(minutes=40)  # the last update's schedule carries over the restart
        assert again.loop.next_iteration == upcoming
        assert ephemeral_text(await again.invoke("leaderboard info", user=ALICE)) == info_text(
            None, upcoming, between="30m", updates=0
        )
        before = await again.invoke("leaderboard view", user=ALICE)
        assert (
            ephemeral_text(before) == f"The leaderboard has not been computed yet. The next update is {ts(upcoming)}."
        )

        await again.update_at(upcoming)
        after = await again.invoke("leaderboard view", user=ALICE)
        assert after.embeds[0]["description"] == RANKING  # the points were kept too
        assert ephemeral_text(await again.invoke("leaderboard info", user=ALICE)) == info_text(
            upcoming, upcoming + timedelta(minutes=30), between="30m", updates=1
        )


async def test_without_a_task_manager_the_interval_changes_in_memory(tmp_path: Path, clock: FakeClock) -> None:
    async with board(clock, tmp_path / "taskext.db", managed=False) as b:
        assert TaskManager.of(b.bot) is None and b.loop.manager is None
        await b.updated(1)
        await chat(b)
        await b.update_at(T0 + timedelta(minutes=10))
        assert (await b.invoke("leaderboard view", user=ALICE)).embeds[0]["description"] == RANKING

        result = await b.invoke("leaderboard_config set_time_between_updates", minutes=45)
        assert ephemeral_text(result) == "Set time between updates to 45 minutes."
        assert b.loop.schedule.to_text() == "45m"
        assert ephemeral_text(await b.invoke("leaderboard info")) == info_text(
            T0 + timedelta(minutes=10), T0 + timedelta(minutes=55), between="45m", updates=2
        )
        await b.update_at(T0 + timedelta(minutes=55))

        assert ephemeral_text(await b.invoke("leaderboard_config restart")) == "Restarted the leaderboard update."
        await b.updated(4)
        now = b.clock.now()
        assert (b.cog.updates_this_session, b.cog.last_update) == (4, now)  # a plain loop runs at once
        assert ephemeral_text(await b.invoke("leaderboard info")) == info_text(
            now, now + timedelta(minutes=45), between="45m", updates=4
        )
    assert not (tmp_path / "taskext.db").exists()  # nothing was persisted


async def test_stop_and_restart(managed: Board) -> None:
    b = managed
    assert ephemeral_text(await b.invoke("leaderboard_config stop")) == "Stopped the leaderboard update."
    assert not b.loop.is_running()
    assert ephemeral_text(await b.invoke("leaderboard info")) == info_text(T0, None, running=False)
    await b.clock.advance(minutes=25)
    assert b.cog.updates_this_session == 1

    assert ephemeral_text(await b.invoke("leaderboard_config restart")) == "Restarted the leaderboard update."
    assert b.loop.is_running()
    # Managed: the update missed at 12:20 (within the misfire grace) runs once, now; then back on the grid.
    await b.updated(2)
    assert b.cog.last_update == T0 + timedelta(minutes=25)
    assert ephemeral_text(await b.invoke("leaderboard info")) == info_text(
        T0 + timedelta(minutes=25), T0 + timedelta(minutes=30), updates=2
    )
    await b.update_at(T0 + timedelta(minutes=30))


CONFIG: dict[str, dict[str, Any]] = {
    "set_time_between_updates": {"minutes": 5},
    "stop": {},
    "restart": {},
}


def test_every_config_command_is_covered() -> None:
    assert {command.name for command in LeaderboardCog.leaderboard_config.subcommands} == set(CONFIG)


@pytest.mark.parametrize("command", sorted(CONFIG))
async def test_config_commands_refuse_non_owners(managed: Board, command: str) -> None:
    b = managed
    options = CONFIG[command]
    task = b.loop.get_task()
    before = (b.loop.schedule, b.loop.next_iteration, b.cog.updates_this_session)

    refused = await b.invoke(f"leaderboard_config {command}", user=ROOT, **options)
    assert ephemeral_text(refused) == REFUSAL
    with pytest.raises(CommandNotAvailable, match="hidden from alice"):
        await b.invoke(f"leaderboard_config {command}", user=ALICE, **options)
    override = await b.harness.invoke(
        f"leaderboard_config {command}", user=ALICE, options=options, check_permissions=False
    )
    await b.clock.settle()
    assert ephemeral_text(override) == REFUSAL

    assert b.loop.get_task() is task and b.loop.is_running()
    assert (b.loop.schedule, b.loop.next_iteration, b.cog.updates_this_session) == before
    assert await b.override() is None
    assert b.harness.find_command("leaderboard_config")["default_member_permissions"] == "8"


async def test_view_and_info_are_for_everyone(managed: Board) -> None:
    assert managed.harness.find_command("leaderboard").get("default_member_permissions") is None
    for user in (ALICE, ROOT, OWNER_MEMBER):
        assert ephemeral_text(await managed.invoke("leaderboard info", user=user)).startswith("***Leaderboard Info***")


@pytest.mark.parametrize("minutes", [0, 1441])
async def test_minutes_out_of_range_are_refused(managed: Board, minutes: int) -> None:
    b = managed
    before = (b.loop.schedule, b.loop.next_iteration)
    # A Discord client refuses to send it (min_value 1, max_value 1440)...
    with pytest.raises(InvalidCommandInput, match=r"minimum|maximum"):
        await b.invoke("leaderboard_config set_time_between_updates", minutes=minutes)
    # ...and the bot refuses it too, should it arrive anyway.
    command = b.harness.find_command("leaderboard_config")
    option = {"name": "minutes", "type": 4, "value": minutes}
    data = {
        "id": command["id"],
        "name": "leaderboard_config",
        "type": 1,
        "options": [{"name": "set_time_between_updates", "type": 1, "options": [option]}],
    }
    await b.invoke("leaderboard info")  # (the owner's member is known to the bot)
    result = await b.harness.send_interaction(b.harness.interaction_payload(2, data, user=OWNER_MEMBER))
    await b.clock.settle()
    assert ephemeral_text(result) == f"minutes must be between 1 and 1440, not {minutes}"
    assert (b.loop.schedule, b.loop.next_iteration) == before
    assert await b.override() is None


async def test_the_extension_reads_its_database_from_the_environment(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    points = tmp_path / "from-env" / "points.db"
    monkeypatch.setenv("LEADERBOARD_DATABASE", str(points))
    with use_clock(clock):
        bot = discord.Bot(intents=discord.Intents.default())
        bot.load_extension("cogs.leaderboard")
        cog: Any = bot.get_cog("Leaderboard")  # (load_extension executes the module afresh: another class object)
        assert type(cog).__name__ == "LeaderboardCog" and cog.points.path == str(points)
        async with BotHarness(bot, owner_id=OWNER.id, guilds=[GUILD]) as harness:
            await eventually(lambda: cog.updates_this_session == 1)
            await harness.send_message(GENERAL, BOB, "hi")
            assert await cog.points.top() == {GUILD.id: [("bob", 1)]}
            bot.remove_cog("Leaderboard")  # stops the loop (no task manager here to stop it)
    assert points.is_file()


@pytest.fixture(autouse=True)
async def nothing_left_running() -> AsyncIterator[None]:
    """Every bot a test starts is closed with its loop, and the default clock is restored."""
    yield
    await asyncio.sleep(0)
    assert isinstance(get_default_clock(), SystemClock)
    assert [t for t in asyncio.all_tasks() if t.get_name().startswith("taskext-loop-") and not t.done()] == []

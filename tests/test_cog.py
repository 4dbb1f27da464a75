"""``/tasks`` (taskext.cog) through a real py-cord bot: BotHarness interactions, a TaskManager on SQLite, a FakeClock.

Every command is used the way a Discord client uses it (INTERACTION_CREATE in, the callback out); what the
bot answered is checked in the callback payload and what it did is checked in the store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import discord
import pytest
from discord.ext import commands

import taskext
from taskext.handlers import _handlers
from taskext.manager import TaskManager
from taskext.store import AdhocStatus
from taskext.testing import (
    BotHarness,
    CommandNotAvailable,
    FakeClock,
    FakeGuild,
    FakeMember,
    FakeUser,
    InteractionResult,
    InvalidCommandInput,
    RecordedRequest,
    use_clock,
)

UTC = timezone.utc
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # on every grid the loops below use

OWNER = FakeUser(4242, "owner")
OWNER_MEMBER = FakeMember(OWNER)  # the application owner, also the guild owner: every permission
ROOT = FakeMember(FakeUser(7002, "root"), administrator=True)  # a server administrator, not a bot owner
ALICE = FakeMember(FakeUser(7001, "alice"))  # a plain member
GUILD = FakeGuild(1000, "Test Guild", members=[OWNER_MEMBER, ROOT, ALICE])
GENERAL = GUILD.text_channel.id

ALPHA, BETA, BROKEN = "test_cog.alpha", "test_cog.beta", "test_cog.broken"
ECHO, EXPLODE, GATE = "test_cog.echo", "test_cog.explode", "test_cog.gate"
BLURPLE = discord.Colour.blurple().value
RED = discord.Colour.red().value
REFUSAL = "Only the bot's owners can use `/tasks`."


def ts(moment: datetime) -> str:
    """A Discord relative timestamp, as the cog shows times."""
    return f"<t:{int(moment.timestamp())}:R>"


class Chores(commands.Cog):
    """Scheduled loops and ad hoc handlers for ``/tasks`` to act on."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, datetime]] = []
        self.echoed: list[Any] = []
        self.exploded: list[Any] = []
        self.explode_fails = True
        self.gate = asyncio.Event()
        self.alpha.start()

    def cog_unload(self) -> None:
        self.alpha.cancel()

    def _ran(self, name: str) -> None:
        self.runs.append((name, self.alpha.clock.now()))

    @taskext.loop(minutes=10, name=ALPHA)
    async def alpha(self) -> None:
        self._ran("alpha")

    @taskext.loop(hours=1, name=BETA)
    async def beta(self) -> None:
        self._ran("beta")

    @taskext.loop(minutes=5, name=BROKEN, retry=taskext.FailDelay(first=1, maximum=2))
    async def broken(self) -> None:
        self._ran("broken")
        raise RuntimeError("disk on fire")

    @taskext.adhoc(name=ECHO)
    async def echo(self, data: Any, ctx: taskext.AdhocContext) -> None:
        self.echoed.append(data)

    @taskext.adhoc(name=EXPLODE, max_attempts=1)
    async def explode(self, data: Any, ctx: taskext.AdhocContext) -> None:
        self.exploded.append(data)
        if self.explode_fails:
            raise RuntimeError(f"cannot {data}")

    @taskext.adhoc(name=GATE, concurrency=1)
    async def gated(self, data: Any, ctx: taskext.AdhocContext) -> None:
        await self.gate.wait()


async def eventually(predicate: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    """Wait in real time for work done by the worker and the database thread."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


@dataclass
class Env:
    harness: BotHarness
    manager: TaskManager
    chores: Chores
    clock: FakeClock

    async def invoke(self, command: str, user: FakeMember = OWNER_MEMBER, **options: Any) -> InteractionResult:
        result = await self.harness.invoke(f"tasks {command}", user=user, options=options)
        await self.clock.settle()  # let what the command started (loops, the worker) do its work
        return result

    async def status(self, task_id: int) -> AdhocStatus | None:
        try:
            return (await self.manager.get(task_id)).status
        except taskext.TaskNotFound:
            return None

    async def failed_adhoc(self, data: str = "fly") -> int:
        """An ad hoc task that failed its only attempt."""
        task_id = await self.manager.enqueue(EXPLODE, data)

        async def failed() -> bool:
            return await self.status(task_id) is AdhocStatus.FAILED

        await eventually(failed)
        return task_id

    async def snapshot(self) -> tuple[Any, ...]:
        """What a refused command must leave alone: task rows, loops, the ad hoc queue, the runs."""
        await self.clock.settle()
        tasks = [
            (
                info.name,
                info.state.override_schedule,
                info.state.disabled,
                info.state.paused,
                info.state.run_count,
                info.state.failures,
                info.running,
                info.next_run,
            )
            for info in await self.manager.tasks()
        ]
        loop_tasks = [self.manager.loop_named(name).get_task() for name in (ALPHA, BETA, BROKEN)]
        queue = [(t.id, t.name, t.status, t.attempts, t.run_at) for t in await self.manager.queue()]
        return tasks, loop_tasks, queue, list(self.chores.runs)


@pytest.fixture(autouse=True)
def restore_handlers() -> Iterator[None]:
    """The ad hoc handlers bound by a test do not outlive it."""
    saved = dict(_handlers)
    yield
    _handlers.clear()
    _handlers.update(saved)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    clock = FakeClock(T0)
    with use_clock(clock):
        bot = discord.Bot(intents=discord.Intents.default())
        manager = TaskManager(
            f"sqlite:///{tmp_path / 'taskext.db'}", adhoc_poll_interval=0.02, align_intervals=True
        ).setup(bot)
        chores = Chores()
        bot.add_cog(chores)
        bot.load_extension("taskext.cog")
        async with BotHarness(bot, owner_id=OWNER.id, guilds=[GUILD]) as harness:
            ready = Env(harness, manager, chores, clock)

            async def alpha_ran() -> bool:
                await clock.settle()
                return chores.runs == [("alpha", T0)]

            await eventually(alpha_ran)
            try:
                yield ready
            finally:
                chores.gate.set()  # a gated handler would hold the worker's shutdown


def reply(result: InteractionResult) -> dict[str, Any]:
    """The single embed of an ephemeral reply."""
    assert result.payload is not None and result.payload["type"] == 4
    assert result.payload["data"]["flags"] == 64, "every /tasks reply is ephemeral"
    assert result.ephemeral
    (embed,) = result.embeds
    return embed


def success(result: InteractionResult, title: str, description: str | None = None) -> dict[str, Any]:
    embed = reply(result)
    assert (embed["title"], embed["color"]) == (title, BLURPLE), embed
    if description is not None:
        assert embed["description"] == description
    assert result.errors == []
    return embed


def failure(result: InteractionResult) -> str:
    """The text of an error reply ("Not done", red)."""
    embed = reply(result)
    assert (embed["title"], embed["color"]) == ("Not done", RED), embed
    assert embed.get("fields", []) == []
    return str(embed["description"])


def fields(embed: dict[str, Any]) -> dict[str, str]:
    return {field["name"]: field["value"] for field in embed.get("fields", [])}


# ---------------------------------------------------------------------------- the scheduled tasks


async def test_list_shows_every_task_with_schedule_runs_and_status(env: Env) -> None:
    embed = success(await env.invoke("list"), "Tasks", "✅ All tasks healthy, no ad hoc task waiting.")
    assert fields(embed) == {
        ALPHA: f"`10m` default\nlast {ts(T0)} (succeeded) · next {ts(T0 + timedelta(minutes=10))}\nstatus **running**",
        BETA: "`1h` default\nlast never · next —\nstatus **stopped**",
        BROKEN: "`5m` default\nlast never · next —\nstatus **stopped**",
    }
    assert [field["inline"] for field in embed["fields"]] == [False, False, False]
    assert embed["footer"]["text"] == "taskext · page 1/1"


async def test_list_health_line_reports_failing_tasks_and_the_ad_hoc_queue(env: Env) -> None:
    env.manager.start_loop(BROKEN)

    async def broken_failed() -> bool:
        return (await env.manager.task(BROKEN)).state.failures == 1

    await eventually(broken_failed)
    running = await env.manager.enqueue(GATE, "first")

    async def gate_running() -> bool:
        return await env.status(running) is AdhocStatus.RUNNING

    await eventually(gate_running)
    # The gate handler runs one task at a time: this one stays due, enqueued 5 minutes late.
    waiting = await env.manager.enqueue(GATE, "second", run_at=T0 - timedelta(minutes=5))
    failed = await env.failed_adhoc()
    assert await env.status(waiting) is AdhocStatus.PENDING

    embed = success(await env.invoke("list"), "Tasks")
    assert embed["description"] == (
        f"⚠️ 1 failing: {BROKEN} · ⏳ 1 ad hoc due, oldest {ts(T0 - timedelta(minutes=5))} · ❌ 1 ad hoc failed"
    )
    assert fields(embed)[BROKEN] == (
        f"`5m` default\nlast {ts(T0)} (failed) · next {ts(T0 + timedelta(seconds=1))}\n"
        "status **failing (1 in a row)** · fail delay 1s"
    )

    queue = success(await env.invoke("queue"), "Ad hoc queue", "1 pending (1 due) · 1 running · 1 failed")
    assert fields(queue) == {
        "Pending": f"`#{waiting}` **{GATE}** {ts(T0 - timedelta(minutes=5))} · attempt 0/5",
        "Failed": f"`#{failed}` **{EXPLODE}** {ts(T0)} · attempt 1/1 — `RuntimeError: cannot fly`",
    }
    env.chores.gate.set()


async def test_list_pages_hold_eight_tasks(env: Env) -> None:
    async def noop() -> None:
        pass

    for index in range(6):  # 3 + 6 = 9 tasks: two pages
        await env.manager.register(taskext.loop(hours=1, name=f"test_cog.page{index}")(noop))

    first = success(await env.invoke("list"), "Tasks")
    assert list(fields(first)) == [ALPHA, BETA, BROKEN] + [f"test_cog.page{index}" for index in range(5)]
    assert first["footer"]["text"] == "taskext · page 1/2"
    assert success(await env.invoke("list", page=1), "Tasks") == first

    second = success(await env.invoke("list", page=2), "Tasks", first["description"])
    assert list(fields(second)) == ["test_cog.page5"]
    assert second["footer"]["text"] == "taskext · page 2/2"

    assert failure(await env.invoke("list", page=3)) == "page 3 does not exist: there are 2 page(s)"
    with pytest.raises(InvalidCommandInput, match="minimum"):
        await env.invoke("list", page=0)


async def test_info_of_a_running_task(env: Env) -> None:
    embed = success(await env.invoke("info", name=ALPHA), ALPHA, "`10m` default")
    assert fields(embed) == {
        "Status": "running",
        "Next run": ts(T0 + timedelta(minutes=10)),
        "Runs": "1",
        "Last run": f"{ts(T0)} (succeeded)",
        "Fail delay": "none",
        "Kept runs": "succeeded 1; mean 0.000 s",
    }
    never = success(await env.invoke("info", name=BETA), BETA, "`1h` default")
    assert fields(never) == {
        "Status": "stopped",
        "Next run": "—",
        "Runs": "0",
        "Last run": "never",
        "Fail delay": "none",
        "Kept runs": "none kept; mean —",
    }


async def test_info_of_a_failing_task_shows_its_error(env: Env) -> None:
    env.manager.start_loop(BROKEN)

    async def failed() -> bool:
        return (await env.manager.task(BROKEN)).state.failures == 1

    await eventually(failed)
    embed = success(await env.invoke("info", name=BROKEN), BROKEN, "`5m` default")
    shown = fields(embed)
    assert shown["Status"] == "failing (1 in a row)"
    assert shown["Next run"] == ts(T0 + timedelta(seconds=1))
    assert shown["Fail delay"] == "1s"
    assert shown["Last run"] == f"{ts(T0)} (failed)"
    assert shown["Kept runs"] == "failed 1; mean 0.000 s"
    assert shown["Last error"].startswith("```") and "RuntimeError: disk on fire" in shown["Last error"]


@pytest.mark.parametrize(
    ("expression", "stored", "next_run"),
    [
        ("15m", "15m", T0 + timedelta(minutes=15)),
        ("*/7 * * * *", "*/7 * * * *", T0 + timedelta(minutes=7)),
        # 09:00 in Paris is 08:00 UTC in March (before the switch to summer time).
        ("09:00 Europe/Paris", "09:00 Europe/Paris", datetime(2026, 3, 3, 8, 0, tzinfo=UTC)),
    ],
)
async def test_schedule_overrides_and_reset_restores_the_default(
    env: Env, expression: str, stored: str, next_run: datetime
) -> None:
    result = await env.invoke("schedule", name=ALPHA, expression=expression)
    success(result, "Schedule overridden", f"**{ALPHA}** now runs on `{stored}`.")
    info = await env.manager.task(ALPHA)
    assert info.state.override_schedule == stored
    loop = env.manager.loop_named(ALPHA)
    assert loop.schedule is not None and loop.schedule.to_text() == stored
    assert loop.next_iteration == next_run
    shown = success(await env.invoke("info", name=ALPHA), ALPHA, f"`{stored}` overridden, default `10m`")
    assert fields(shown)["Next run"] == ts(next_run)

    result = await env.invoke("reset", name=ALPHA)
    success(result, "Schedule reset", f"**{ALPHA}** runs on its default `10m` again.")
    assert (await env.manager.task(ALPHA)).state.override_schedule is None
    assert loop.schedule is not None and loop.schedule.to_text() == "10m"
    assert loop.next_iteration == T0 + timedelta(minutes=10)


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("10x", "invalid schedule '10x': unknown unit 'x'"),
        ("0m", "invalid schedule '0m': an interval must be longer than zero"),
        ("99 * * * *", "invalid cron expression '99 * * * *': bad minute field '99'"),
        ("25:00", "invalid schedule '25:00': hour 25"),
    ],
)
async def test_schedule_refuses_invalid_text_and_changes_nothing(env: Env, expression: str, problem: str) -> None:
    before = await env.snapshot()
    text = failure(await env.invoke("schedule", name=ALPHA, expression=expression))
    assert text.startswith(problem)
    assert await env.snapshot() == before
    assert (await env.manager.task(ALPHA)).state.override_schedule is None


async def test_run_wakes_a_running_loop_or_runs_a_stopped_task_in_place(env: Env) -> None:
    await env.clock.advance(30)  # (a run is a tick: one at the very instant of the last would be a duplicate)
    now = T0 + timedelta(seconds=30)
    result = await env.invoke("run", name=ALPHA)
    success(result, "Run requested", f"**{ALPHA}**: It is running now.")
    assert env.chores.runs == [("alpha", T0), ("alpha", now)]
    loop = env.manager.loop_named(ALPHA)
    assert loop.next_iteration == T0 + timedelta(minutes=10)  # the schedule is unchanged
    assert (await env.manager.task(ALPHA)).state.run_count == 2

    result = await env.invoke("run", name=BETA)
    success(result, "Run requested", f"**{BETA}**: It ran: succeeded.")
    assert env.chores.runs[-1] == ("beta", now)
    assert (await env.manager.task(BETA)).state.run_count == 1
    assert not env.manager.loop_named(BETA).is_running()

    result = await env.invoke("run", name=BROKEN)
    success(result, "Run requested", f"**{BROKEN}**: It ran: failed.")
    assert (await env.manager.task(BROKEN)).state.failures == 1


async def test_stop_start_and_restart_loops(env: Env) -> None:
    alpha = env.manager.loop_named(ALPHA)
    beta = env.manager.loop_named(BETA)

    success(await env.invoke("stop", name=ALPHA), "Stopped", f"**{ALPHA}** stops.")
    assert not alpha.is_running()
    assert fields(success(await env.invoke("info", name=ALPHA), ALPHA))["Status"] == "stopped"
    success(await env.invoke("stop", name=BETA), "Not running", f"**{BETA}** was not running.")

    success(await env.invoke("start", name=BETA), "Started", f"**{BETA}**.")
    assert beta.is_running()
    assert env.chores.runs[-1] == ("beta", T0)  # an interval loop runs at once when started
    success(await env.invoke("start", name=BETA), "Already running", f"**{BETA}**.")

    task = beta.get_task()
    success(await env.invoke("restart", name=BETA), "Restarted", f"**{BETA}** restarts.")
    assert beta.is_running() and beta.get_task() is not task
    success(await env.invoke("restart", name=ALPHA), "Restarted", f"**{ALPHA}** restarts.")
    assert alpha.is_running()  # a stopped loop is simply started


async def test_disable_holds_a_task_until_enabled(env: Env) -> None:
    loop = env.manager.loop_named(ALPHA)
    success(await env.invoke("disable", name=ALPHA), "Disabled", f"**{ALPHA}** will not run until enabled.")
    assert (await env.manager.task(ALPHA)).state.disabled
    assert loop.next_iteration is None
    assert fields(success(await env.invoke("info", name=ALPHA), ALPHA))["Status"] == "disabled"
    await env.clock.advance(minutes=30)
    assert env.chores.runs == [("alpha", T0)]

    success(await env.invoke("enable", name=ALPHA), "Enabled", f"**{ALPHA}** is scheduled again.")
    assert not (await env.manager.task(ALPHA)).state.disabled
    assert loop.next_iteration == T0 + timedelta(minutes=40)  # from now on, no catch-up
    await env.clock.advance(minutes=10)
    assert env.chores.runs == [("alpha", T0), ("alpha", T0 + timedelta(minutes=40))]


async def test_history_lists_the_latest_runs_newest_first(env: Env) -> None:
    await env.clock.advance(minutes=10)
    later = T0 + timedelta(minutes=10)
    result = await env.invoke("history", name=ALPHA)
    success(result, f"History of {ALPHA}", f"{ts(later)} **succeeded** in 0.00s\n{ts(T0)} **succeeded** in 0.00s")
    success(
        await env.invoke("history", name=ALPHA, limit=1), f"History of {ALPHA}", f"{ts(later)} **succeeded** in 0.00s"
    )
    success(await env.invoke("history", name=BETA), f"History of {BETA}", "No runs kept.")

    await env.invoke("run", name=BROKEN)
    success(
        await env.invoke("history", name=BROKEN),
        f"History of {BROKEN}",
        f"{ts(later)} **failed** in 0.00s — `RuntimeError: disk on fire`",
    )
    with pytest.raises(InvalidCommandInput, match="maximum"):
        await env.invoke("history", name=ALPHA, limit=21)


NAMED = ["info", "schedule", "reset", "run", "stop", "start", "restart", "enable", "disable", "history"]


@pytest.mark.parametrize("command", NAMED)
async def test_unknown_task_name_is_named_in_the_error(env: Env, command: str) -> None:
    options: dict[str, Any] = {"name": "test_cog.nope"}
    if command == "schedule":
        options["expression"] = "10m"
    before = await env.snapshot()
    text = failure(await env.invoke(command, **options))
    assert "'test_cog.nope'" in text
    assert text in ("no task named 'test_cog.nope'", "task 'test_cog.nope' is not defined in this process")
    assert await env.snapshot() == before
    assert "test_cog.nope" not in [info.name for info in await env.manager.tasks()]


async def test_autocomplete_offers_task_names_to_owners_only(env: Env) -> None:
    harness = env.harness
    everything = await harness.autocomplete("tasks info", user=OWNER_MEMBER, focused="name", value="")
    assert everything == [{"name": name, "value": name} for name in (ALPHA, BETA, BROKEN)]
    assert await harness.autocomplete("tasks history", user=OWNER_MEMBER, focused="name", value="BRO") == [
        {"name": BROKEN, "value": BROKEN}
    ]
    assert await harness.autocomplete("tasks run", user=OWNER_MEMBER, focused="name", value="zzz") == []
    assert await harness.autocomplete("tasks info", user=ROOT, focused="name", value="") == []
    with pytest.raises(CommandNotAvailable, match="hidden from alice"):
        await harness.autocomplete("tasks info", user=ALICE, focused="name", value="")
    assert await harness.autocomplete("tasks info", user=ALICE, focused="name", value="", check_permissions=False) == []


# ---------------------------------------------------------------------------- the ad hoc queue


async def test_queue_shows_pending_and_failed_ad_hoc_tasks(env: Env) -> None:
    empty = success(await env.invoke("queue"), "Ad hoc queue", "0 pending (0 due) · 0 running · 0 failed")
    assert fields(empty) == {"Pending": "none", "Failed": "none"}

    pending = await env.manager.enqueue(ECHO, {"n": 1}, delay=3600)
    failed = await env.failed_adhoc()
    embed = success(await env.invoke("queue"), "Ad hoc queue", "1 pending (0 due) · 0 running · 1 failed")
    assert fields(embed) == {
        "Pending": f"`#{pending}` **{ECHO}** {ts(T0 + timedelta(hours=1))} · attempt 0/5",
        "Failed": f"`#{failed}` **{EXPLODE}** {ts(T0)} · attempt 1/1 — `RuntimeError: cannot fly`",
    }


async def test_retry_queues_a_failed_task_again(env: Env) -> None:
    failed = await env.failed_adhoc()
    await env.clock.advance(minutes=3)
    env.chores.explode_fails = False
    result = await env.invoke("retry", id=failed)
    success(result, "Queued again", f"`#{failed}` **{EXPLODE}** runs {ts(T0 + timedelta(minutes=3))}.")

    async def done() -> bool:
        return await env.status(failed) is None  # a task that succeeded leaves the queue

    await eventually(done)
    assert env.chores.exploded == ["fly", "fly"]


async def test_retry_refuses_a_task_that_has_not_failed(env: Env) -> None:
    pending = await env.manager.enqueue(ECHO, "later", delay=3600)
    before = await env.snapshot()
    text = failure(await env.invoke("retry", id=pending))
    assert text == f"ad hoc task {pending} is pending, not failed; nothing to retry"
    assert await env.snapshot() == before


async def test_cancel_removes_a_pending_or_failed_task(env: Env) -> None:
    pending = await env.manager.enqueue(ECHO, "later", delay=3600)
    failed = await env.failed_adhoc()
    success(await env.invoke("cancel", id=pending), "Cancelled", f"`#{pending}` **{ECHO}** was removed.")
    assert await env.status(pending) is None
    success(await env.invoke("cancel", id=failed), "Cancelled", f"`#{failed}` **{EXPLODE}** was removed.")
    assert await env.manager.queue() == []
    assert env.chores.echoed == []


async def test_cancel_refuses_a_running_task(env: Env) -> None:
    running = await env.manager.enqueue(GATE, "hold")

    async def started() -> bool:
        return await env.status(running) is AdhocStatus.RUNNING

    await eventually(started)
    text = failure(await env.invoke("cancel", id=running))
    assert text.startswith(f"ad hoc task {running} is running on ") and text.endswith("; it cannot be cancelled")
    assert await env.status(running) is AdhocStatus.RUNNING
    env.chores.gate.set()


@pytest.mark.parametrize("command", ["retry", "cancel"])
async def test_unknown_ad_hoc_id_is_named_in_the_error(env: Env, command: str) -> None:
    failed = await env.failed_adhoc()
    before = await env.snapshot()
    assert failure(await env.invoke(command, id=failed + 100)) == f"no ad hoc task with id {failed + 100}"
    assert await env.snapshot() == before
    with pytest.raises(InvalidCommandInput, match="minimum"):
        await env.invoke(command, id=0)


# ---------------------------------------------------------------------------- who may use /tasks

SUBCOMMANDS: dict[str, Callable[[dict[str, int]], dict[str, Any]]] = {
    "list": lambda ids: {},
    "info": lambda ids: {"name": ALPHA},
    "schedule": lambda ids: {"name": ALPHA, "expression": "1m"},
    "reset": lambda ids: {"name": ALPHA},
    "run": lambda ids: {"name": BETA},
    "stop": lambda ids: {"name": ALPHA},
    "start": lambda ids: {"name": BROKEN},
    "restart": lambda ids: {"name": ALPHA},
    "enable": lambda ids: {"name": BETA},
    "disable": lambda ids: {"name": ALPHA},
    "history": lambda ids: {"name": ALPHA},
    "queue": lambda ids: {},
    "retry": lambda ids: {"id": ids["failed"]},
    "cancel": lambda ids: {"id": ids["pending"]},
}


def test_every_subcommand_is_covered() -> None:
    from taskext.cog import TasksCog

    assert {command.name for command in TasksCog.tasks.subcommands} == set(SUBCOMMANDS)


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
async def test_non_owners_are_refused_and_nothing_changes(env: Env, command: str) -> None:
    # Something for each command to change: an override to reset, a disabled task to enable,
    # a failed task to retry and a pending one to cancel.
    await env.manager.set_schedule(ALPHA, "20m")
    await env.manager.disable(BETA)
    ids = {"failed": await env.failed_adhoc(), "pending": await env.manager.enqueue(ECHO, "x", delay=3600)}
    options = SUBCOMMANDS[command](ids)
    before = await env.snapshot()

    # A server administrator sees the group, but is not a bot owner.
    admin = await env.invoke(command, user=ROOT, **options)
    assert failure(admin) == REFUSAL
    assert admin.message is not None and admin.message["content"] == ""
    assert await env.snapshot() == before

    # A plain member does not even see it (default_member_permissions)...
    with pytest.raises(CommandNotAvailable, match="hidden from alice"):
        await env.invoke(command, user=ALICE, **options)
    # ...and if a server override shows it to them, the owner check inside the bot still refuses.
    override = await env.harness.invoke(f"tasks {command}", user=ALICE, options=options, check_permissions=False)
    assert failure(override) == REFUSAL
    assert await env.snapshot() == before
    assert [type(error.error) for error in admin.errors + override.errors] == [discord.CheckFailure] * 2


async def test_the_group_is_registered_for_administrators_only(env: Env) -> None:
    registered = env.harness.find_command("tasks")
    assert registered["default_member_permissions"] == str(discord.Permissions(administrator=True).value)
    assert {option["name"] for option in registered["options"]} == set(SUBCOMMANDS)


# ---------------------------------------------------------------------------- alerts


def alert_posts(harness: BotHarness, channel_id: int) -> list[RecordedRequest]:
    return [
        request
        for request in harness.find_requests("POST", "/channels/{channel_id}/messages")
        if request.path_params["channel_id"] == str(channel_id)
    ]


def alert_text(request: RecordedRequest) -> str:
    (embed,) = request.json["embeds"]
    assert (embed["title"], embed["color"]) == ("taskext alert", RED)
    return str(embed["description"])


async def test_a_task_reaching_its_maximum_fail_delay_is_sent_to_the_owner(env: Env) -> None:
    harness = env.harness
    success(await env.invoke("start", name=BROKEN), "Started", f"**{BROKEN}**.")
    assert env.chores.runs[-1] == ("broken", T0)
    await harness.settle()
    assert harness.find_requests("POST", "/users/@me/channels") == []  # one failure: a fail delay of 1 s, no alert

    await env.clock.advance(1)  # the second failure reaches the maximum fail delay (2 s)
    dm = harness.dm_channel(OWNER)
    await harness.wait_for_request(lambda r: r.method == "POST" and r.path == f"/channels/{dm.id}/messages")
    (opened,) = harness.find_requests("POST", "/users/@me/channels")
    assert str(opened.json["recipient_id"]) == str(OWNER.id)
    (posted,) = alert_posts(harness, dm.id)
    text = alert_text(posted)
    assert text.startswith(f"Task **{BROKEN}** keeps failing: 2 failures in a row, now retried every 2s.\n```")
    assert "RuntimeError: disk on fire" in text

    await env.clock.advance(2)  # a third failure: still at the maximum, no second alert
    assert [run for run in env.chores.runs if run[0] == "broken"] == [
        ("broken", T0),
        ("broken", T0 + timedelta(seconds=1)),
        ("broken", T0 + timedelta(seconds=3)),
    ]
    await harness.settle()
    assert len(alert_posts(harness, dm.id)) == 1
    assert alert_posts(harness, GENERAL) == []


async def test_an_ad_hoc_task_out_of_attempts_is_sent_to_the_owner(env: Env) -> None:
    harness = env.harness
    failed = await env.failed_adhoc("swim")
    dm = harness.dm_channel(OWNER)
    posted = await harness.wait_for_request(lambda r: r.method == "POST" and r.path == f"/channels/{dm.id}/messages")
    text = alert_text(posted)
    assert text.startswith(
        f"Ad hoc task `#{failed}` **{EXPLODE}** failed 1 time and is kept as failed (`/tasks retry {failed}`).\n```"
    )
    assert "RuntimeError: cannot swim" in text


async def test_alerts_go_to_the_alert_channel_when_one_is_set(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKEXT_ALERT_CHANNEL_ID", str(GENERAL))
    harness = env.harness
    failed = await env.failed_adhoc("dive")
    posted = await harness.wait_for_request(lambda r: r.method == "POST" and r.path == f"/channels/{GENERAL}/messages")
    assert f"`#{failed}` **{EXPLODE}**" in alert_text(posted)

    success(await env.invoke("start", name=BROKEN), "Started")
    await env.clock.advance(1)
    await harness.wait_for_request(lambda r: len(alert_posts(harness, GENERAL)) == 2)
    assert alert_text(alert_posts(harness, GENERAL)[1]).startswith(f"Task **{BROKEN}** keeps failing")
    assert harness.find_requests("POST", "/users/@me/channels") == []  # no DM


async def test_an_undeliverable_alert_is_logged(
    env: Env, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TASKEXT_ALERT_CHANNEL_ID", "999")  # no such channel: Discord answers 404
    with caplog.at_level(logging.WARNING, logger="taskext.cog"):
        await env.failed_adhoc()
        await env.harness.wait_for_request(lambda r: r.method == "GET" and r.path == "/channels/999")
        await env.harness.settle()

        async def logged() -> bool:
            return (
                "taskext: could not deliver an alert: 404 Not Found (error code: 10003): Unknown Channel" in caplog.text
            )

        await eventually(logged)
    assert env.harness.find_requests("POST", "/channels/{channel_id}/messages") == []
    assert [type(error.error) for error in env.harness.errors] == []

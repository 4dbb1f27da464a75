"""TaskManager on real SQLite files, driven by a fake clock."""

from __future__ import annotations

import asyncio
import itertools
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import discord
import pytest

import taskext as tasks
from taskext.manager import TaskManager
from taskext.store import Outcome, SQLiteStore, StoreError
from taskext.testing import FakeClock, use_clock

UTC = timezone.utc
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait in real time for work done in the database thread."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.002)


class Harness:
    """One database file; managers and loops come and go as in bot restarts."""

    def __init__(self, tmp_path: Path) -> None:
        self.url = f"sqlite:///{tmp_path}/data/taskext.db"
        self.path = tmp_path / "data" / "taskext.db"
        self.clock = FakeClock(T0)
        self.managers: list[TaskManager] = []
        self.runs: list[tuple[str, datetime]] = []

    async def manager(self, **options: Any) -> TaskManager:
        options.setdefault("align_intervals", True)  # expected instants below are on the epoch grid
        manager = TaskManager(self.url, clock=self.clock, **options)
        await manager.open()
        self.managers.append(manager)
        return manager

    def loop(self, name: str = "report", fail: Callable[[], bool] = lambda: False, **options: Any) -> tasks.Loop[Any]:
        clock = self.clock

        async def body() -> None:
            self.runs.append((name, clock.now()))
            if fail():
                raise RuntimeError("boom")

        options.setdefault("minutes", 10)
        return tasks.loop(name=name, clock=clock, **options)(body)

    async def start(self, loop: tasks.Loop[Any]) -> None:
        loop.start()
        await eventually(lambda: loop.next_iteration is not None)
        await self.clock.settle()

    async def restart(self, manager: TaskManager) -> None:
        await manager.close()

    async def close(self) -> None:
        for manager in self.managers:
            # Bodies may be parked on the fake clock: do not wait for them.
            await manager.close(timeout=0.1)


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    h = Harness(tmp_path)
    yield h
    await h.close()


async def test_store_file_and_folder_created_on_first_use(harness: Harness) -> None:
    assert not harness.path.parent.exists()
    await harness.manager()
    assert harness.path.exists()


async def test_interval_task_resumes_from_persisted_last_run(harness: Harness) -> None:
    manager = await harness.manager()
    loop = harness.loop()
    await harness.start(loop)
    await harness.clock.advance(minutes=25)  # runs at 0, 10, 20
    assert [t for _, t in harness.runs] == [T0, T0 + timedelta(minutes=10), T0 + timedelta(minutes=20)]
    await manager.close()
    assert not loop.is_running()

    await harness.clock.advance(minutes=4)  # down from :25 to :29
    await harness.manager()
    again = harness.loop()
    await harness.start(again)
    # Not early at restart: the grid continues from the last run at :20.
    assert again.next_iteration == T0 + timedelta(minutes=30)
    await harness.clock.advance(minutes=10)  # to :39
    assert [t for _, t in harness.runs][3:] == [T0 + timedelta(minutes=30)]


async def test_cron_task_does_not_run_at_restart(harness: Harness) -> None:
    manager = await harness.manager()
    loop = harness.loop(minutes=None, cron="0 * * * *")
    await harness.start(loop)
    await harness.clock.advance(hours=2)
    assert len(harness.runs) == 2
    await manager.close()
    await harness.clock.advance(minutes=10)
    await harness.manager()
    again = harness.loop(minutes=None, cron="0 * * * *")
    await harness.start(again)
    assert again.next_iteration == T0 + timedelta(hours=3)
    assert len(harness.runs) == 2


async def test_missed_runs_within_grace_coalesce_into_one_run_at_startup(harness: Harness) -> None:
    manager = await harness.manager()
    await harness.start(harness.loop())
    await harness.clock.advance(minutes=1)  # ran at :00
    await manager.close()
    await harness.clock.advance(minutes=34)  # missed :10, :20, :30; now :35
    await harness.manager()
    again = harness.loop()
    await harness.start(again)
    await harness.clock.advance(seconds=1)
    assert [t for _, t in harness.runs] == [T0, T0 + timedelta(minutes=35)]
    assert again.last_iteration == T0 + timedelta(minutes=30)  # the latest missed slot
    assert again.next_iteration == T0 + timedelta(minutes=40)  # back on the grid


async def test_missed_run_beyond_grace_is_recorded_as_missed(harness: Harness) -> None:
    manager = await harness.manager()
    await harness.start(harness.loop(misfire_grace=60))
    await harness.clock.advance(minutes=1)
    await manager.close()
    await harness.clock.advance(minutes=34)  # latest missed :30 is 5 minutes late > 60 s
    manager = await harness.manager()
    again = harness.loop(misfire_grace=60)
    await harness.start(again)
    await harness.clock.advance(seconds=1)
    assert len(harness.runs) == 1
    assert again.next_iteration == T0 + timedelta(minutes=40)
    history = await manager.history("report")
    assert [run.outcome for run in history] == [Outcome.MISSED, Outcome.SUCCEEDED]
    assert history[0].scheduled == T0 + timedelta(minutes=30)


async def test_override_survives_restart_and_reset_restores_default(harness: Harness) -> None:
    manager = await harness.manager()
    loop = harness.loop()
    await harness.start(loop)
    await harness.clock.advance(minutes=1)
    state = await manager.set_schedule("report", "3m")
    assert state.override_schedule == "3m"
    # The pending 10-minute sleep is re-planned at once, from the last run.
    assert loop.next_iteration == T0 + timedelta(minutes=3)
    assert loop.minutes == 0 and loop.seconds == 180
    await manager.close()

    manager = await harness.manager()
    again = harness.loop()
    await harness.start(again)
    info = await manager.task("report")
    assert info.state.override_schedule == "3m" and info.state.default_schedule == "10m"
    assert again.seconds == 180
    await manager.reset_schedule("report")
    assert again.minutes == 10
    assert (await manager.task("report")).state.override_schedule is None


async def test_changed_default_applies_unless_overridden(harness: Harness) -> None:
    manager = await harness.manager()
    await manager.register(harness.loop("a"))
    await manager.register(harness.loop("b"))
    await manager.set_schedule("b", "1h")
    await manager.close()

    manager = await harness.manager()
    await manager.register(harness.loop("a", minutes=20))
    await manager.register(harness.loop("b", minutes=20))
    a, b = (await manager.task("a")).state, (await manager.task("b")).state
    assert (a.schedule_text, a.default_changed) == ("20m", False)
    assert (b.schedule_text, b.default_changed, b.default_schedule) == ("1h", True, "20m")


async def test_disable_survives_restart_and_enable_resumes_without_catch_up(harness: Harness) -> None:
    manager = await harness.manager()
    loop = harness.loop()
    await harness.start(loop)
    await harness.clock.advance(minutes=1)
    await manager.disable("report")
    assert loop.next_iteration is None
    await harness.clock.advance(minutes=30)
    assert len(harness.runs) == 1
    await manager.close()

    manager = await harness.manager()
    again = harness.loop()
    again.start()
    await eventually(lambda: again.manager is not None and "report" in again.manager._managed)
    await harness.clock.settle()
    assert again.is_running() and again.next_iteration is None
    await harness.clock.advance(hours=2)
    assert len(harness.runs) == 1
    await manager.enable("report")
    # Enabling plans the next grid time from now, without catching up.
    assert again.next_iteration == T0 + timedelta(hours=2, minutes=40)
    await harness.clock.advance(minutes=10)
    assert len(harness.runs) == 2


async def test_pause_then_resume_catches_up_once(harness: Harness) -> None:
    manager = await harness.manager()
    loop = harness.loop()
    await harness.start(loop)
    await harness.clock.advance(minutes=1)
    await manager.pause("report")
    await harness.clock.advance(minutes=25)
    assert len(harness.runs) == 1
    await manager.resume("report")
    await harness.clock.advance(seconds=1)
    assert len(harness.runs) == 2  # the missed :20 runs once
    assert loop.next_iteration == T0 + timedelta(minutes=30)


async def test_run_now_runs_once_and_keeps_the_schedule(harness: Harness) -> None:
    manager = await harness.manager()
    loop = harness.loop()
    await harness.start(loop)
    await harness.clock.advance(minutes=3)
    await manager.run_now("report")
    await harness.clock.advance(seconds=1)
    assert [t for _, t in harness.runs] == [T0, T0 + timedelta(minutes=3)]
    assert loop.next_iteration == T0 + timedelta(minutes=10)


async def test_fail_delay_grows_to_a_day_and_resets_on_success(harness: Harness) -> None:
    failing = True
    manager = await harness.manager()
    events: list[tuple[str, float]] = []

    async def on_failed(run: Any, state: Any) -> None:
        events.append(("failed", state.fail_delay))

    async def on_max(run: Any, state: Any) -> None:
        events.append(("max", state.fail_delay))

    manager.add_listener("task_failed", on_failed)
    manager.add_listener("task_max_fail_delay", on_max)
    loop = harness.loop(fail=lambda: failing)
    await harness.start(loop)
    delays = []
    for _ in range(14):
        await harness.clock.run_until(lambda: len(harness.runs) > len(delays))
        await harness.clock.settle()
        delays.append(manager._managed["report"].state.fail_delay)
    assert delays == [60, 120, 240, 480, 960, 1920, 3840, 7680, 15360, 30720, 61440, 86400, 86400, 86400]
    # While failing, the next run follows the delay, not the schedule.
    times = [t for _, t in harness.runs]
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(times)] == delays[:-1]
    assert loop.failed() and loop.is_running()
    assert [e for e in events if e[0] == "max"] == [("max", 86400)]
    failing = False
    await harness.clock.run_until(lambda: len(harness.runs) > 14)
    await harness.clock.settle()
    state = manager._managed["report"].state
    assert (state.failures, state.fail_delay, state.last_error) == (0, 0.0, None)
    assert not loop.failed()
    stored = (await manager.task("report")).state
    assert stored.failures == 0 and stored.run_count == 15
    failed = [run for run in await manager.history("report", limit=20) if run.outcome is Outcome.FAILED]
    assert len(failed) == 14 and "RuntimeError: boom" in (failed[0].error or "")


async def test_failing_state_survives_restart(harness: Harness) -> None:
    manager = await harness.manager()
    await harness.start(harness.loop(fail=lambda: True))
    await harness.clock.advance(seconds=1)
    await manager.close()
    manager = await harness.manager()
    again = harness.loop(fail=lambda: True)
    await harness.start(again)
    state = (await manager.task("report")).state
    assert (state.failures, state.fail_delay) == (1, 60)
    assert again.next_iteration == T0 + timedelta(seconds=60)


async def test_run_log_keeps_task_output_and_retention(harness: Harness) -> None:
    manager = await harness.manager(keep_runs=5, keep_days=1)
    clock = harness.clock

    @tasks.loop(minutes=10, name="chatty", clock=clock)
    async def chatty() -> None:
        logging.getLogger("taskext.task.chatty").warning("processed %d items", 42)

    await harness.start(chatty)
    await clock.advance(hours=30)  # 181 runs, most older than a day
    manager._last_prune = None
    await manager.flush()
    runs = await manager.history("chatty", limit=500)
    assert "processed 42 items" in runs[0].output
    # Older than a day are deleted, but never a task's newest 5.
    assert all(run.started and run.started >= clock.now() - timedelta(days=1, minutes=10) for run in runs)
    assert len(runs) in (144, 145)
    stats = await manager.stats("chatty")
    assert stats.by_outcome == {"succeeded": len(runs)}


async def test_exclusive_group_never_runs_two_at_once(harness: Harness) -> None:
    await harness.manager()
    clock = harness.clock
    in_group = 0
    peak = 0

    def make(name: str) -> tasks.Loop[Any]:
        async def body() -> None:
            nonlocal in_group, peak
            in_group += 1
            peak = max(peak, in_group)
            await clock.sleep(90)
            in_group -= 1

        return tasks.loop(minutes=1, name=name, exclusive="db-heavy", clock=clock)(body)

    loops = [make("a"), make("b"), make("c")]
    for loop in loops:
        await harness.start(loop)
    await clock.advance(minutes=20)
    assert peak == 1


async def test_write_lock_held_elsewhere_loses_nothing(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    store = SQLiteStore(harness.url, busy_timeout=0.05)
    manager = TaskManager(store=store, clock=harness.clock, align_intervals=True)
    harness.managers.append(manager)
    await manager.open()
    loop = harness.loop(minutes=1, scope="process")  # results are written behind, in batches
    await harness.start(loop)
    other = sqlite3.connect(harness.path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        await harness.clock.advance(minutes=5)
        with caplog.at_level(logging.WARNING, logger="taskext"):
            await manager.flush()
        assert any("locked" in r.getMessage() for r in caplog.records)
        with pytest.raises(StoreError, match="locked"):
            await manager.set_schedule("report", "2m")
        other.execute("ROLLBACK")
    finally:
        other.close()
    assert loop.is_running()
    await manager.flush()
    history = await manager.history("report", limit=50)
    assert len(history) == 6 == len(harness.runs)
    assert (await manager.task("report")).state.override_schedule is None


async def test_cluster_tick_waits_out_a_short_lock_and_skips_under_a_long_one(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    store = SQLiteStore(harness.url, busy_timeout=0.3)
    manager = TaskManager(store=store, clock=harness.clock, align_intervals=True)
    harness.managers.append(manager)
    await manager.open()
    loop = harness.loop(minutes=1)  # cluster scope: each tick is claimed in the database
    await harness.start(loop)
    assert len(harness.runs) == 1
    other = sqlite3.connect(harness.path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        # Released well within the busy timeout: the claim waits and the tick runs.
        asyncio.get_running_loop().call_later(0.05, other.execute, "ROLLBACK")
        await harness.clock.advance(minutes=1)
        assert len(harness.runs) == 2
        other.execute("BEGIN IMMEDIATE")
        with caplog.at_level(logging.WARNING, logger="taskext"):
            await harness.clock.advance(minutes=1)
        assert len(harness.runs) == 2  # not claimed: skipped here rather than maybe run twice
        assert any("could not claim" in r.getMessage() and "locked" in r.getMessage() for r in caplog.records)
        other.execute("ROLLBACK")
    finally:
        other.close()
    await harness.clock.advance(minutes=1)
    assert len(harness.runs) == 3 and loop.is_running()
    history = await manager.history("report", limit=50)
    assert [run.scheduled for run in history] == [T0 + timedelta(minutes=m) for m in (3, 1, 0)]


async def test_invalid_override_changes_nothing(harness: Harness) -> None:
    manager = await harness.manager()
    loop = harness.loop()
    await harness.start(loop)
    with pytest.raises(ValueError, match="unit"):
        await manager.set_schedule("report", "10x")
    with pytest.raises(tasks.TaskNotFound):
        await manager.set_schedule("nope", "10m")
    with pytest.raises(TypeError):
        await manager.set_schedule("report", 10)  # type: ignore[arg-type]
    assert (await manager.task("report")).state.override_schedule is None
    assert loop.minutes == 10


async def test_change_interval_on_managed_loop_is_an_override(harness: Harness) -> None:
    manager = await harness.manager()
    loop = harness.loop()
    await harness.start(loop)
    loop.change_interval(minutes=2)
    await eventually(lambda: manager._managed["report"].state.override_schedule == "2m")
    await harness.clock.settle()
    assert (await manager.task("report")).state.override_schedule == "2m"


async def test_change_from_another_process_reaches_the_running_loop(harness: Harness) -> None:
    manager = await harness.manager()
    loop = harness.loop()
    await harness.start(loop)
    other = TaskManager(harness.url, clock=harness.clock, align_intervals=True)
    harness.managers.append(other)
    await other.set_schedule("report", "1h")
    assert await manager.sync()
    assert loop.hours == 0 and loop.seconds == 3600
    assert loop.next_iteration == T0 + timedelta(hours=1)


async def test_orphans_reported_and_purged(harness: Harness) -> None:
    manager = await harness.manager()
    await manager.register(harness.loop("old"))
    await manager.close()
    await harness.clock.advance(minutes=1)
    manager = await harness.manager()
    await manager.register(harness.loop("new"))
    await manager.store.mark_scan(manager._session_start)  # what setup(bot) does on_ready
    assert await manager.orphaned() == ["old"]
    assert await manager.purge_orphans() == ["old"]
    assert [info.name for info in await manager.tasks()] == ["new"]


async def test_persist_false_and_no_manager_stay_in_memory(harness: Harness) -> None:
    manager = await harness.manager()
    loop = harness.loop("memory", persist=False)
    loop.start()
    await harness.clock.advance(minutes=1)
    assert loop.manager is None and len(harness.runs) == 1
    with pytest.raises(tasks.TaskNotFound):
        await manager.task("memory")
    loop.cancel()


async def test_overlap_cap_holds_for_managed_loops(harness: Harness) -> None:
    manager = await harness.manager()
    clock = harness.clock
    in_flight = 0
    peak = 0

    @tasks.loop(seconds=10, overlap=2, name="slow", clock=clock)
    async def slow() -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await clock.sleep(35)
        in_flight -= 1

    await harness.start(slow)
    await clock.advance(minutes=5)
    assert peak == 2
    await manager.flush()
    runs = await manager.history("slow", limit=100)
    assert len(runs) >= 8 and all(run.outcome is Outcome.SUCCEEDED for run in runs)
    assert all(run.duration == timedelta(seconds=35) for run in runs)


async def test_setup_wires_a_pycord_bot(harness: Harness) -> None:
    from discord.ext import commands

    bot = discord.Bot()
    manager = TaskManager(harness.url, clock=harness.clock, align_intervals=True)
    manager.setup(bot)
    assert TaskManager.of(bot) is manager
    seen: list[tuple[str, str]] = []

    class Reports(commands.Cog):
        def __init__(self) -> None:
            self.fail = True

        @tasks.loop(minutes=5)
        async def build(self) -> None:
            if self.fail:
                raise ValueError("no data")

        @tasks.loop(hours=1)
        async def idle(self) -> None:
            pass

    async def on_failed(run: Any, state: Any) -> None:
        seen.append(("failed", run.task))

    async def on_succeeded(run: Any, state: Any) -> None:
        seen.append(("succeeded", run.task))

    bot.add_listener(on_failed, "on_taskext_task_failed")
    bot.add_listener(on_succeeded, "on_taskext_task_succeeded")
    cog = Reports()
    bot.add_cog(cog)
    with use_clock(harness.clock):
        cog.build.start()
    await eventually(lambda: cog.build.next_iteration is not None)
    await harness.clock.advance(seconds=1)
    await eventually(lambda: len(seen) == 1)
    assert seen == [("failed", "Reports.build")]
    cog.fail = False
    await harness.clock.advance(seconds=60)
    await eventually(lambda: len(seen) == 2)
    assert seen[1] == ("succeeded", "Reports.build")
    bot.dispatch("ready")  # registers every cog loop, started or not
    await eventually(lambda: "Reports.idle" in manager._managed)
    await bot.close()
    assert not cog.build.is_running()
    # State was flushed and the store closed by bot.close().
    check = TaskManager(harness.url, clock=harness.clock, align_intervals=True)
    harness.managers.append(check)
    names = [info.name for info in await check.tasks()]
    assert names == ["Reports.build", "Reports.idle"]
    assert [run.outcome for run in await check.history("Reports.build")] == [
        Outcome.SUCCEEDED,
        Outcome.FAILED,
    ]

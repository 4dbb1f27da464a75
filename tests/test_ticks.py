"""Cluster scope at run time: the shared grid, and ticks claimed ahead with the previous result.

Real SQLite files and the fake clock; "processes" are managers on one file.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from test_manager import T0, Harness

import taskext as tasks
from taskext.manager import TaskManager
from taskext.schedules import Interval
from taskext.store import SQLiteStore, Store, StoreError
from taskext.ticks import CLAIM_AHEAD, EPOCH, cluster_grid


class CountingStore(SQLiteStore):
    """A real SQLite store that counts the claims made before a tick and ahead of it."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.claimed_at_tick: list[str] = []
        self.claimed_ahead: list[str] = []

    async def claim_ticks(self, claims: Any, *, worker: str, now: Any) -> Any:
        self.claimed_at_tick += [claim.name for claim in claims]
        return await super().claim_ticks(claims, worker=worker, now=now)

    async def save_and_claim(self, states: Any, runs: Any, claims: Any, *, worker: str, now: Any) -> list[bool]:
        self.claimed_ahead += [claim.name for claim in claims]
        return await super().save_and_claim(states, runs, claims, worker=worker, now=now)


@pytest.fixture
async def harness(tmp_path: Path) -> Any:
    h = Harness(tmp_path)
    yield h
    await h.close()


def lease_row(path: Path, name: str) -> tuple[Any, ...]:
    with sqlite3.connect(path) as conn:
        row = conn.execute(
            "SELECT last_scheduled, acquired_by, acquired_until FROM taskext_tasks WHERE name = ?", (name,)
        ).fetchone()
    assert row is not None
    return tuple(row)


def run_rows(path: Path, name: str) -> list[float]:
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT scheduled FROM taskext_runs WHERE task = ? ORDER BY id", (name,))]


# ---------------------------------------------------------------- the shared grid


def test_cluster_grid_is_the_same_in_every_process_and_spreads_equal_periods() -> None:
    every_second = Interval(1.0)
    grids = [cluster_grid(f"task-{n}", every_second) for n in range(1000)]
    # Derived from the name alone: another process computes the same grid.
    assert grids == [cluster_grid(f"task-{n}", Interval(1.0)) for n in range(1000)]
    offsets = sorted((grid.anchor - EPOCH).total_seconds() % 1.0 for grid in grids if grid.anchor)
    assert len(offsets) == 1000 and all(0 <= o < 1 for o in offsets)
    # Spread over the period: every tenth of a second holds some, none holds a third.
    tenths = Counter(int(o * 10) for o in offsets)
    assert set(tenths) == set(range(10)) and max(tenths.values()) < 333
    assert cluster_grid("task-1", every_second, aligned=True).anchor == EPOCH


async def test_default_grid_runs_the_latest_slot_at_once_then_follows_the_task_offset(harness: Harness) -> None:
    manager = TaskManager(harness.url, clock=harness.clock)  # the default: spread
    harness.managers.append(manager)
    await manager.open()
    loop = harness.loop("spread", minutes=10)
    await harness.start(loop)
    grid = cluster_grid("spread", Interval(600.0))
    first = grid.latest_at_or_before(grid.anchor or EPOCH, T0)
    assert loop.last_iteration == first and first <= T0 < first + timedelta(minutes=10)
    assert loop.next_iteration == first + timedelta(minutes=10)
    await harness.clock.advance(minutes=25)
    assert [when for _, when in harness.runs][1:] == [first + timedelta(minutes=m) for m in (10, 20)]


def test_align_intervals_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="align_intervals"):
        TaskManager("sqlite:///unused.db", align_intervals="yes")  # type: ignore[arg-type]


# ---------------------------------------------------------------- claimed ahead


async def test_near_tick_is_claimed_with_the_previous_result_not_at_the_tick(harness: Harness) -> None:
    store = CountingStore(harness.url)
    manager = TaskManager(store=store, clock=harness.clock, align_intervals=True)
    harness.managers.append(manager)
    await manager.open()
    loop = harness.loop("fast", minutes=None, seconds=1)
    await harness.start(loop)  # ran the T0 tick, claimed at the tick
    assert store.claimed_at_tick == ["fast"]
    await harness.clock.advance(seconds=0.5)
    # The T0 result and the claim of the T0+1s tick went to the store in one write.
    last, holder, until = lease_row(harness.path, "fast")
    assert last == (T0 + timedelta(seconds=1)).timestamp()
    assert holder == manager.worker_id
    assert until == (T0 + timedelta(seconds=61)).timestamp()
    assert run_rows(harness.path, "fast") == [T0.timestamp()]

    await harness.clock.advance(seconds=10)
    assert [when for _, when in harness.runs] == [T0 + timedelta(seconds=s) for s in range(11)]
    assert store.claimed_at_tick == ["fast"], "ticks after the first must not wait for a claim"
    assert len(store.claimed_ahead) == 11
    await manager.close()
    assert run_rows(harness.path, "fast") == [(T0 + timedelta(seconds=s)).timestamp() for s in range(11)]
    # Closing gave up the tick claimed ahead: another process may take the task at once.
    assert lease_row(harness.path, "fast")[1] is None


async def test_far_tick_is_claimed_when_due(harness: Harness) -> None:
    store = CountingStore(harness.url)
    manager = TaskManager(store=store, clock=harness.clock, align_intervals=True)
    harness.managers.append(manager)
    await manager.open()
    loop = harness.loop("slow", minutes=None, seconds=CLAIM_AHEAD + 1)
    await harness.start(loop)
    await harness.clock.advance(seconds=3 * (CLAIM_AHEAD + 1))
    assert len(harness.runs) == 4
    assert store.claimed_ahead == [] and store.claimed_at_tick == ["slow"] * 4
    assert lease_row(harness.path, "slow")[1] is None  # released after each run


async def test_two_processes_run_each_near_tick_once_and_hand_over_on_close(harness: Harness) -> None:
    first = await harness.manager()
    loop_a = harness.loop("shared", minutes=None, seconds=1)
    await harness.start(loop_a)
    second = await harness.manager()
    loop_b = harness.loop("shared", minutes=None, seconds=1)
    await harness.start(loop_b)
    await harness.clock.advance(seconds=5)
    # The process holding the claim keeps the task; the other one's claims fail.
    assert len(harness.runs) == 6
    await first.close()
    await harness.clock.advance(seconds=5)
    await second.close()
    scheduled = run_rows(harness.path, "shared")
    assert len(scheduled) == len(set(scheduled)), "a tick ran twice"
    expected = [(T0 + timedelta(seconds=s)).timestamp() for s in range(11)]
    # Handing over costs at most the one tick the closing process had claimed ahead.
    assert set(scheduled) <= set(expected) and len(expected) - len(scheduled) <= 1


async def test_run_now_before_a_tick_claimed_ahead_keeps_that_tick(harness: Harness) -> None:
    manager = await harness.manager()
    loop = harness.loop("fast", minutes=None, seconds=2)
    await harness.start(loop)
    await harness.clock.advance(seconds=0.5)  # T0 ran; T0+2s claimed ahead
    assert await manager.run_now("fast") is None
    await harness.clock.advance(seconds=0.1)
    await harness.clock.advance(seconds=2)
    assert [when for _, when in harness.runs] == [
        T0,
        T0 + timedelta(seconds=0.5),
        T0 + timedelta(seconds=2),
    ]


async def test_failed_write_ahead_keeps_the_result_and_claims_at_the_tick(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = CountingStore(harness.url)
    manager = TaskManager(store=store, clock=harness.clock, align_intervals=True)
    harness.managers.append(manager)
    await manager.open()

    async def unavailable(*args: Any, **kwargs: Any) -> list[bool]:
        raise StoreError("database unavailable")

    monkeypatch.setattr(store, "save_and_claim", unavailable)
    loop = harness.loop("fast", minutes=None, seconds=1)
    await harness.start(loop)
    await harness.clock.advance(seconds=3)
    assert [when for _, when in harness.runs] == [T0 + timedelta(seconds=s) for s in range(4)]
    assert store.claimed_at_tick == ["fast"] * 4  # each tick claimed when due instead
    await manager.flush()
    assert run_rows(harness.path, "fast")[:3] == [(T0 + timedelta(seconds=s)).timestamp() for s in range(3)]


# ---------------------------------------------------------------- regressions found in review


class TwoStepStore(SQLiteStore):
    """A real SQLite store that uses the base class's two-transaction ``save_and_claim``
    (as PostgreSQL does), whose claim transaction can be made to fail."""

    fail_claims = False

    async def save_and_claim(self, states: Any, runs: Any, claims: Any, *, worker: str, now: Any) -> list[bool]:
        return await Store.save_and_claim(self, states, runs, claims, worker=worker, now=now)

    async def claim_ticks(self, claims: Any, *, worker: str, now: Any) -> Any:
        if self.fail_claims:
            raise StoreError("connection lost")
        return await super().claim_ticks(claims, worker=worker, now=now)


async def test_claims_failing_after_the_results_were_saved_write_no_run_twice(harness: Harness) -> None:
    store = TwoStepStore(harness.url)
    manager = TaskManager(store=store, clock=harness.clock, align_intervals=True)
    harness.managers.append(manager)
    await manager.open()
    await harness.start(harness.loop("fast", minutes=None, seconds=1))
    store.fail_claims = True
    await harness.clock.advance(seconds=0.5)  # results saved, the claim of T0+1s failed
    store.fail_claims = False
    await harness.clock.advance(seconds=2)
    await manager.flush()
    assert run_rows(harness.path, "fast") == [(T0 + timedelta(seconds=s)).timestamp() for s in range(3)]


async def test_a_loop_stopping_after_a_failure_writes_it_before_giving_up_the_task(harness: Harness) -> None:
    first = await harness.manager(flush_interval=30)  # nothing written behind before the next tick
    ended = harness.loop("once", minutes=None, seconds=1, count=1, fail=lambda: True)
    ended.start()  # runs T0, fails, and stops: its count is reached
    for _ in range(50):
        await harness.clock.settle()
        if not ended.is_running():
            break
    assert not ended.is_running()
    second = await harness.manager()
    again = harness.loop("once", minutes=None, seconds=1)
    await harness.start(again)
    await harness.clock.advance(seconds=1.5)
    # Failed once at T0: a fail delay of 60 s, which the other process must see and respect.
    assert [when for _, when in harness.runs] == [T0]
    assert (await second.task("once")).state.failures == 1
    assert first is not second


async def test_a_failure_is_in_the_store_when_the_error_hook_runs(harness: Harness) -> None:
    manager = await harness.manager()
    seen: list[tuple[int, int]] = []
    loop = harness.loop("broken", minutes=None, seconds=10, fail=lambda: True)

    @loop.error
    async def on_error(exc: BaseException) -> None:
        stored = await manager.store.get_task("broken")
        seen.append((stored.failures, len(await manager.history("broken"))))

    await harness.start(loop)
    assert seen == [(1, 1)]


async def test_a_shorter_schedule_runs_every_tick_up_to_the_one_claimed_ahead(harness: Harness) -> None:
    await harness.manager()
    loop = harness.loop("quicker", minutes=None, seconds=4)
    await harness.start(loop)
    await harness.clock.advance(seconds=0.5)  # T0 ran; T0+4s claimed ahead
    loop.change_interval(seconds=1)
    await harness.clock.advance(seconds=6)
    assert [(when - T0).total_seconds() for _, when in harness.runs] == [0, 1, 2, 3, 4, 5, 6]


async def test_a_tick_claimed_ahead_waits_out_a_fail_delay_set_since(harness: Harness) -> None:
    manager = await harness.manager()
    failing = False
    loop = harness.loop("flaky", minutes=None, seconds=2, fail=lambda: failing)
    await harness.start(loop)
    await harness.clock.advance(seconds=0.5)  # T0 ran; T0+2s claimed ahead
    failing = True
    assert await manager.run_now("flaky") is None
    await harness.clock.advance(seconds=0.1)  # the extra run fails: a fail delay of 60 s
    failing = False
    await harness.clock.advance(seconds=3)
    assert [(when - T0).total_seconds() for _, when in harness.runs] == [0, 0.5]


async def test_run_now_where_another_process_holds_the_task_says_so(harness: Harness) -> None:
    await harness.manager()
    await harness.start(harness.loop("held", minutes=None, seconds=4))  # ran T0; T0+4s claimed ahead
    other = await harness.manager()
    await harness.start(harness.loop("held", minutes=None, seconds=4))
    await harness.clock.advance(seconds=1)
    with pytest.raises(tasks.TaskBusy, match="held by"):
        await other.run_now("held")
    await harness.clock.advance(seconds=1)
    assert [when for _, when in harness.runs] == [T0]

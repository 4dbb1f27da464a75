"""The ad hoc worker on real SQLite files: timing, restarts, retries, limits, leases, shutdown.

A FakeClock drives task times; real time is used only where the worker must react to
something other than the clock (wake-ups, heartbeats, a killed process), and kept short.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import taskext
from taskext.handlers import _handlers
from taskext.manager import TaskManager
from taskext.store import AdhocResult, AdhocStatus, AdhocTask, SQLiteStore
from taskext.testing import FakeClock
from taskext.worker import AdhocWorker

UTC = timezone.utc
T0 = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
TESTS = Path(__file__).parent


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait in real time for work done in the database thread."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.002)


async def until(predicate: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    """Like :func:`eventually`, for a predicate that reads the database."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


@pytest.fixture(autouse=True)
def restore_registry() -> Iterator[None]:
    saved = dict(_handlers)
    yield
    _handlers.clear()
    _handlers.update(saved)


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    """A handler name unique to this test."""
    return f"test_worker.{request.node.name}"


class Queue:
    """One SQLite file and a fake clock; managers come and go as in bot restarts."""

    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "data" / "queue.db"
        self.url = f"sqlite:///{self.path}"
        self.clock = FakeClock(T0)
        self.opened: list[TaskManager] = []

    async def manager(self, **options: Any) -> TaskManager:
        options.setdefault("clock", self.clock)
        options.setdefault("adhoc_poll_interval", 0.02)
        options.setdefault("adhoc_lease", 600.0)
        manager = TaskManager(self.url, **options)
        self.opened.append(manager)
        await manager.open()
        return manager

    def rows(self) -> dict[int, tuple[Any, ...]]:
        """``id -> (status, attempts, run_at, acquired_by, lease, last_error)``, read from the file."""
        with contextlib.closing(sqlite3.connect(self.path)) as conn:
            found = conn.execute(
                "SELECT id, status, attempts, run_at, acquired_by, lease, last_error FROM taskext_adhoc ORDER BY id"
            ).fetchall()
        return {row[0]: (row[1], row[2], datetime.fromtimestamp(row[3], UTC), *row[4:]) for row in found}

    async def close(self) -> None:
        for manager in reversed(self.opened):
            await manager.close(timeout=0.2)


@pytest.fixture
async def queue(tmp_path: Path) -> AsyncIterator[Queue]:
    made = Queue(tmp_path)
    yield made
    await made.close()


async def task_is(manager: TaskManager, task_id: int, check: Callable[[AdhocTask], bool]) -> bool:
    return check(await manager.get(task_id))


async def idle(manager: TaskManager) -> None:
    """Wait until the worker has nothing running and every result is written."""
    worker = manager.worker
    assert worker is not None
    await eventually(lambda: not worker._inflight and not worker._results)
    # Results taken by the flusher are already queued on the store's connection, which
    # runs calls in order: one more call returns after they are written.
    await manager.store.list_adhoc(limit=1)


# ---------------------------------------------------------------- timing


async def test_tasks_run_at_their_time_not_before(queue: Queue, name: str) -> None:
    ran: list[tuple[str, datetime, datetime]] = []
    clock = queue.clock

    @taskext.adhoc(name=name)
    async def handler(data: str, ctx: taskext.AdhocContext) -> None:
        ran.append((data, ctx.run_at, clock.now()))

    # A long poll: only the worker's timer at the next due time can wake it.
    manager = await queue.manager(adhoc_poll_interval=30)
    await manager.enqueue(name, "b", delay=60)
    await manager.enqueue(name, "a", delay=30)
    await manager.enqueue(name, "c", run_at=at(90))
    for data, offset in (("a", 30), ("b", 60), ("c", 90)):
        await eventually(lambda offset=offset: at(offset) in clock.pending())  # type: ignore[misc]
        await clock.advance_to(at(offset) - timedelta(milliseconds=1))
        await asyncio.sleep(0.05)
        assert [entry[0] for entry in ran] == [entry[0] for entry in ran if entry[0] < data], "ran early"
        await clock.advance_to(at(offset))
        await eventually(lambda data=data: data in [entry[0] for entry in ran])  # type: ignore[misc]
    assert ran == [("a", at(30), at(30)), ("b", at(60), at(60)), ("c", at(90), at(90))]
    await idle(manager)
    assert queue.rows() == {}


async def test_due_tasks_start_in_run_time_order(queue: Queue, name: str) -> None:
    started: list[int] = []

    @taskext.adhoc(name=name)
    async def handler(data: int, ctx: taskext.AdhocContext) -> None:
        started.append(data)

    writer = await queue.manager(run_worker=False)
    await writer.enqueue_many(name, [{"data": n, "run_at": at(-n)} for n in range(6)])
    await writer.close()
    manager = await queue.manager()
    await eventually(lambda: len(started) == 6)
    assert started == [5, 4, 3, 2, 1, 0]
    await idle(manager)


async def test_enqueue_in_process_wakes_the_worker_at_once(queue: Queue, name: str) -> None:
    ran: list[str] = []

    @taskext.adhoc(name=name)
    async def handler(data: str, ctx: taskext.AdhocContext) -> None:
        ran.append(data)

    loop = asyncio.get_running_loop()
    manager = await queue.manager(adhoc_poll_interval=30)
    await asyncio.sleep(0.05)  # the worker is now waiting for its 30 s poll
    # A task queued by another process is only seen at the next poll...
    other = await queue.manager(run_worker=False)
    await other.enqueue(name, "other process")
    await asyncio.sleep(0.3)
    assert ran == []
    # ...one queued here wakes the worker, which then runs everything due.
    started = loop.time()
    await manager.enqueue(name, "here")
    await eventually(lambda: len(ran) == 2, timeout=2.0)
    assert loop.time() - started < 0.5
    assert sorted(ran) == ["here", "other process"]


async def test_tasks_queued_by_another_process_are_found_by_polling(queue: Queue, name: str) -> None:
    ran: list[str] = []

    @taskext.adhoc(name=name)
    async def handler(data: str, ctx: taskext.AdhocContext) -> None:
        ran.append(data)

    await queue.manager(adhoc_poll_interval=0.05)
    other = await queue.manager(run_worker=False)
    await other.enqueue(name, "elsewhere")
    await eventually(lambda: ran == ["elsewhere"], timeout=2.0)


# ---------------------------------------------------------------- restarts


async def test_restart_runs_every_task_at_its_time_once(queue: Queue, name: str) -> None:
    ran: list[tuple[str, datetime]] = []
    clock = queue.clock

    @taskext.adhoc(name=name)
    async def handler(data: str, ctx: taskext.AdhocContext) -> None:
        ran.append((data, clock.now()))

    first = await queue.manager()
    ids = {
        data: await first.enqueue(name, data, delay=delay)
        for data, delay in (("now", 0), ("10", 10), ("20", 20), ("100", 100), ("30", 30))
    }
    await eventually(lambda: len(ran) == 1)
    await clock.advance_to(at(10))
    await eventually(lambda: len(ran) == 2)
    await clock.advance_to(at(15))
    await first.close()
    assert ran == [("now", T0), ("10", at(10))]
    assert sorted(queue.rows()) == sorted([ids["20"], ids["30"], ids["100"]])
    assert all(row[0] == "pending" and row[1] == 0 for row in queue.rows().values())

    await clock.advance_to(at(50))  # down from 15 to 50: "20" and "30" are overdue
    second = await queue.manager()
    await eventually(lambda: len(ran) == 4)
    assert sorted(ran[2:]) == [("20", at(50)), ("30", at(50))]
    await clock.advance_to(at(99))
    await asyncio.sleep(0.1)
    assert len(ran) == 4
    await clock.advance_to(at(100))
    await eventually(lambda: len(ran) == 5)
    assert ran[4] == ("100", at(100))
    await idle(second)
    await clock.advance(minutes=30)
    await asyncio.sleep(0.05)
    assert Counter(data for data, _ in ran) == dict.fromkeys(("now", "10", "20", "30", "100"), 1)
    assert queue.rows() == {}


# ---------------------------------------------------------------- failures and retries


async def test_failures_are_retried_after_the_policy_delay_then_kept_as_failed(queue: Queue, name: str) -> None:
    runs: list[tuple[int, datetime, datetime]] = []
    clock = queue.clock
    succeed = False
    failed_events: list[tuple[Any, str]] = []

    @taskext.adhoc(name=name, max_attempts=5, retry=taskext.FailDelay(first=10, maximum=40))
    async def handler(data: Any, ctx: taskext.AdhocContext) -> None:
        runs.append((ctx.attempt, ctx.run_at, clock.now()))
        if not succeed:
            raise RuntimeError(f"boom on attempt {ctx.attempt}")

    async def on_failed(claim: Any, error: str) -> None:
        failed_events.append((claim, error))

    manager = await queue.manager()
    manager.add_listener("adhoc_failed", on_failed)
    task_id = await manager.enqueue(name, {"x": 1})
    # Delays 10, 20, 40, 40 (capped): runs at 0, 10, 30, 70, 110.
    expected = [0, 10, 30, 70, 110]
    for attempt, offset in enumerate(expected, start=1):
        if attempt > 1:
            await until(
                lambda offset=offset: task_is(  # type: ignore[misc]
                    manager, task_id, lambda t: t.status is AdhocStatus.PENDING and t.run_at == at(offset)
                )
            )
            task = await manager.get(task_id)
            assert task.attempts == attempt - 1
            assert f"boom on attempt {attempt - 1}" in (task.last_error or "")
            await clock.advance_to(at(offset) - timedelta(milliseconds=1))
            await asyncio.sleep(0.05)
            assert len(runs) == attempt - 1, f"attempt {attempt} ran before {offset}"
            await clock.advance_to(at(offset))
        await eventually(lambda attempt=attempt: len(runs) == attempt)  # type: ignore[misc]
    assert runs == [(n, at(offset), at(offset)) for n, offset in enumerate(expected, start=1)]

    await until(lambda: task_is(manager, task_id, lambda t: t.status is AdhocStatus.FAILED))
    failed = await manager.get(task_id)
    assert failed.attempts == 5
    assert failed.last_error is not None
    assert "RuntimeError: boom on attempt 5" in failed.last_error
    assert failed.run_at == at(110)
    await eventually(lambda: len(failed_events) == 1)
    assert failed_events[0][0].id == task_id and "boom on attempt 5" in failed_events[0][1]
    # Kept, not retried any more.
    await clock.advance(hours=3)
    await asyncio.sleep(0.1)
    assert len(runs) == 5
    assert (await manager.get(task_id)).status is AdhocStatus.FAILED
    assert [t.id for t in await manager.queue("failed")] == [task_id]

    succeed = True
    await manager.retry(task_id)
    await eventually(lambda: len(runs) == 6)
    assert runs[5][0] == 1  # a fresh attempt count
    await idle(manager)
    assert queue.rows() == {}


async def test_a_task_that_fails_then_succeeds_is_done(queue: Queue, name: str) -> None:
    attempts: list[int] = []

    @taskext.adhoc(name=name, max_attempts=5, retry=taskext.FailDelay(first=10, maximum=40))
    async def handler(data: Any, ctx: taskext.AdhocContext) -> None:
        attempts.append(ctx.attempt)
        if ctx.attempt < 3:
            raise ValueError("not yet")

    manager = await queue.manager()
    task_id = await manager.enqueue(name)
    await eventually(lambda: len(attempts) == 1)
    await until(lambda: task_is(manager, task_id, lambda t: t.run_at == at(10)))
    await queue.clock.advance_to(at(10))
    await eventually(lambda: len(attempts) == 2)
    await until(lambda: task_is(manager, task_id, lambda t: t.run_at == at(30)))
    await queue.clock.advance_to(at(30))
    await eventually(lambda: len(attempts) == 3)
    await idle(manager)
    assert attempts == [1, 2, 3]
    assert queue.rows() == {}


async def test_a_handler_timeout_counts_as_a_failure(queue: Queue, name: str) -> None:
    cancelled: list[int] = []

    @taskext.adhoc(name=name, max_attempts=2, timeout=0.05, retry=taskext.FailDelay(first=10))
    async def slow(data: Any, ctx: taskext.AdhocContext) -> None:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.append(ctx.attempt)
            raise

    @taskext.adhoc(name=name + ".quick", timeout=2)
    async def quick(data: Any, ctx: taskext.AdhocContext) -> None:
        await asyncio.sleep(0.01)

    loop = asyncio.get_running_loop()
    manager = await queue.manager()
    started = loop.time()
    task_id = await manager.enqueue(name)
    quick_id = await manager.enqueue(quick.name)
    await until(lambda: task_is(manager, task_id, lambda t: t.status is AdhocStatus.PENDING and t.attempts == 1))
    assert loop.time() - started < 2
    assert cancelled == [1]
    task = await manager.get(task_id)
    assert task.run_at == at(10)
    assert "TimeoutError" in (task.last_error or "")
    await queue.clock.advance_to(at(10))
    await until(lambda: task_is(manager, task_id, lambda t: t.status is AdhocStatus.FAILED))
    assert cancelled == [1, 2]
    assert (await manager.get(task_id)).attempts == 2
    assert quick_id not in queue.rows()  # finished within its timeout


async def test_a_cancelled_error_from_the_handler_is_a_failure_not_a_release(queue: Queue, name: str) -> None:
    """Only shutdown releases a task; a handler's own CancelledError must not make it spin."""
    attempts: list[int] = []

    @taskext.adhoc(name=name, max_attempts=2, retry=taskext.FailDelay(first=10))
    async def handler(data: Any, ctx: taskext.AdhocContext) -> None:
        attempts.append(ctx.attempt)
        inner = asyncio.ensure_future(asyncio.sleep(10))
        inner.cancel()
        await inner  # a task cancelled by someone else: CancelledError escapes the handler

    manager = await queue.manager()
    task_id = await manager.enqueue(name)
    await until(lambda: task_is(manager, task_id, lambda t: t.status is AdhocStatus.PENDING and t.attempts == 1))
    await asyncio.sleep(0.1)
    assert attempts == [1]
    task = await manager.get(task_id)
    assert task.run_at == at(10)
    assert "CancelledError" in (task.last_error or "")
    await queue.clock.advance_to(at(10))
    await until(lambda: task_is(manager, task_id, lambda t: t.status is AdhocStatus.FAILED))
    assert attempts == [1, 2]


async def test_a_task_whose_handler_is_gone_is_kept_as_failed(queue: Queue, name: str) -> None:
    ran: list[str] = []

    @taskext.adhoc(name=name)
    async def handler(data: str, ctx: taskext.AdhocContext) -> None:
        ran.append(data)

    @taskext.adhoc(name=name + ".kept")
    async def kept(data: str, ctx: taskext.AdhocContext) -> None:
        ran.append(data)

    manager = await queue.manager()  # sweeps once when it starts, at T0
    orphan = await manager.enqueue(name, "orphan", delay=10)
    await manager.enqueue(kept.name, "kept", delay=10)
    _handlers.pop(name)  # the code was removed
    await queue.clock.advance_to(at(10))
    await eventually(lambda: ran == ["kept"])
    await asyncio.sleep(0.1)
    # Not swept yet: at most once a minute.
    assert (await manager.get(orphan)).status is AdhocStatus.PENDING
    manager.handlers_ready = False  # e.g. a bot whose cogs are not loaded yet
    await queue.clock.advance_to(at(400))  # due for over 5 minutes: no other worker took it
    await asyncio.sleep(0.1)
    assert (await manager.get(orphan)).status is AdhocStatus.PENDING
    manager.handlers_ready = True
    await until(lambda: task_is(manager, orphan, lambda t: t.status is AdhocStatus.FAILED))
    task = await manager.get(orphan)
    assert name in (task.last_error or "")
    assert "handler" in (task.last_error or "")
    assert task.attempts == 0
    assert ran == ["kept"]
    # Not spinning: time passes, nothing changes.
    await queue.clock.advance(minutes=10)
    await asyncio.sleep(0.1)
    again = await manager.get(orphan)
    assert (again.status, again.attempts, again.last_error) == (AdhocStatus.FAILED, 0, task.last_error)
    # Once the code is back, an admin can retry it.
    _handlers[name] = handler
    await manager.retry(orphan)
    await eventually(lambda: ran == ["kept", "orphan"])


async def test_the_sweep_is_at_most_once_a_minute_after_a_grace(queue: Queue, name: str) -> None:
    @taskext.adhoc(name=name)
    async def handler(data: str, ctx: taskext.AdhocContext) -> None:
        pass

    manager = await queue.manager()  # swept at T0, then every minute
    first = await manager.enqueue(name, "1", delay=5)
    _handlers.pop(name)
    # A sweep at 300 s sees it due for 295 s: under the 5-minute grace another process gets.
    await queue.clock.advance_to(at(300))
    await asyncio.sleep(0.1)
    assert (await manager.get(first)).status is AdhocStatus.PENDING
    # At 340 s the grace has passed, but the last sweep was under a minute ago.
    await queue.clock.advance_to(at(340))
    await asyncio.sleep(0.1)
    assert (await manager.get(first)).status is AdhocStatus.PENDING
    await queue.clock.advance_to(at(360))
    await until(lambda: task_is(manager, first, lambda t: t.status is AdhocStatus.FAILED))


async def test_old_failed_tasks_are_purged(queue: Queue, name: str) -> None:
    @taskext.adhoc(name=name, max_attempts=1)
    async def handler(data: str, ctx: taskext.AdhocContext) -> None:
        raise RuntimeError("no")

    manager = await queue.manager(adhoc_keep_days=1, adhoc_lease=7200)
    task_id = await manager.enqueue(name)
    await until(lambda: task_is(manager, task_id, lambda t: t.status is AdhocStatus.FAILED))
    await queue.clock.advance(hours=23)
    await asyncio.sleep(0.1)
    assert task_id in queue.rows()
    await queue.clock.advance(hours=1, minutes=2)
    await eventually(lambda: task_id not in queue.rows())


# ---------------------------------------------------------------- concurrency


async def test_global_concurrency_limit(queue: Queue, name: str) -> None:
    inflight = 0
    peak = 0
    done: list[int] = []

    @taskext.adhoc(name=name)
    async def handler(data: int, ctx: taskext.AdhocContext) -> None:
        nonlocal inflight, peak
        inflight += 1
        peak = max(peak, inflight)
        await asyncio.sleep(0.01)
        inflight -= 1
        done.append(data)

    manager = await queue.manager(adhoc_concurrency=3)
    await manager.enqueue_many(name, list(range(20)))
    await eventually(lambda: len(done) == 20)
    assert peak == 3
    assert manager.worker is not None and manager.worker.peak_inflight == 3
    assert sorted(done) == list(range(20))
    await idle(manager)
    assert queue.rows() == {}


async def test_per_handler_concurrency_limit(queue: Queue, name: str) -> None:
    inflight = Counter[str]()
    peak = Counter[str]()
    done: list[str] = []

    def make(label: str, limit: int | None) -> None:
        @taskext.adhoc(name=f"{name}.{label}", concurrency=limit)
        async def handler(data: int, ctx: taskext.AdhocContext) -> None:
            inflight[label] += 1
            peak[label] = max(peak[label], inflight[label])
            await asyncio.sleep(0.01)
            inflight[label] -= 1
            done.append(label)

    make("capped", 2)
    make("free", None)
    manager = await queue.manager()
    await manager.enqueue_many(f"{name}.capped", list(range(15)))
    await manager.enqueue_many(f"{name}.free", list(range(5)))
    await eventually(lambda: len(done) == 20)
    assert peak["capped"] == 2
    assert peak["free"] == 5
    await idle(manager)
    assert queue.rows() == {}


async def test_a_saturated_handler_does_not_hold_global_slots(queue: Queue, name: str) -> None:
    release = asyncio.Event()
    ran: list[str] = []

    @taskext.adhoc(name=name + ".slow", concurrency=1)
    async def slow(data: int, ctx: taskext.AdhocContext) -> None:
        ran.append("slow")
        await release.wait()

    @taskext.adhoc(name=name + ".fast")
    async def fast(data: int, ctx: taskext.AdhocContext) -> None:
        ran.append("fast")

    manager = await queue.manager(adhoc_concurrency=3)
    await manager.enqueue_many(slow.name, [1, 2, 3])
    await eventually(lambda: ran == ["slow"])
    await manager.enqueue_many(fast.name, [1, 2, 3])
    # One slow task runs; the two others wait unclaimed, leaving two slots for the fast ones.
    await eventually(lambda: ran.count("fast") == 3, timeout=0.5)
    assert ran.count("slow") == 1
    assert len(await manager.queue("running")) == 1
    release.set()
    await eventually(lambda: ran.count("slow") == 3)


# ---------------------------------------------------------------- leases and fencing


async def test_a_worker_that_lost_its_lease_cannot_complete_the_task(queue: Queue, name: str) -> None:
    release = asyncio.Event()
    ran: list[int] = []

    @taskext.adhoc(name=name)
    async def handler(data: Any, ctx: taskext.AdhocContext) -> None:
        ran.append(ctx.attempt)
        await release.wait()

    clock = queue.clock
    manager = await queue.manager(adhoc_lease=30)
    task_id = await manager.enqueue(name)
    await eventually(lambda: ran == [1])
    assert queue.rows()[task_id][2] == at(0)  # run_at
    lease_a = queue.rows()[task_id][4]
    assert queue.rows()[task_id][3] == manager.worker_id

    def acquired_until() -> datetime:
        return datetime.fromtimestamp(
            sqlite3_value(queue.path, "SELECT acquired_until FROM taskext_adhoc WHERE id = ?", task_id), UTC
        )

    assert acquired_until() == at(30)
    await clock.advance(10)  # a heartbeat renews the lease
    await eventually(lambda: acquired_until() == at(40))

    # The bot hangs (no heartbeats reach the database): worker B takes the task over.
    other = SQLiteStore(queue.url)
    await other.open()
    try:
        (claim,) = await other.claim("worker-b", [name], now=at(41), lease_until=at(100), limit=10)
        assert claim.id == task_id and claim.lease > lease_a and claim.attempt == 2
        await clock.advance(10)  # A's heartbeat for its old lease must not extend B's
        await asyncio.sleep(0.1)
        assert acquired_until() == at(100)
        release.set()  # A's handler returns: its success must be ignored
        await idle(manager)
        status, attempts, _, owner, lease, _ = queue.rows()[task_id]
        assert (status, attempts, owner, lease) == ("running", 2, "worker-b", claim.lease)
        assert await other.finish("worker-b", [AdhocResult(task_id, claim.lease)], now=at(50)) == 1
    finally:
        await other.close()
    assert queue.rows() == {}
    assert ran == [1]


def sqlite3_value(path: Path, sql: str, *args: Any) -> Any:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql, args).fetchone()[0]


async def test_heartbeats_keep_a_long_task_from_being_taken_again(queue: Queue, name: str) -> None:
    """Real time: a run three times longer than its lease still runs once."""
    runs: list[int] = []

    @taskext.adhoc(name=name)
    async def handler(data: Any, ctx: taskext.AdhocContext) -> None:
        runs.append(ctx.attempt)
        await asyncio.sleep(1.2)

    manager = await queue.manager(clock=taskext.SystemClock(), adhoc_lease=0.4, adhoc_poll_interval=0.02)
    task_id = await manager.enqueue(name)
    await eventually(lambda: runs == [1])
    other = SQLiteStore(queue.url)
    await other.open()
    try:
        while runs and task_id in queue.rows():
            now = datetime.now(UTC)
            assert await other.claim("worker-b", [name], now=now, lease_until=now, limit=1) == []
            await asyncio.sleep(0.05)
    finally:
        await other.close()
    await idle(manager)
    assert runs == [1]
    assert queue.rows() == {}


# ---------------------------------------------------------------- shutdown


async def test_close_lets_running_tasks_finish_and_releases_the_rest(queue: Queue, name: str) -> None:
    ran: list[tuple[str, int]] = []
    cancelled: list[str] = []
    stuck_forever = True

    @taskext.adhoc(name=name)
    async def handler(data: str, ctx: taskext.AdhocContext) -> None:
        ran.append((data, ctx.attempt))
        try:
            if data == "quick":
                await asyncio.sleep(0.1)
            elif stuck_forever:
                await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(data)
            raise

    loop = asyncio.get_running_loop()
    manager = await queue.manager()
    quick = await manager.enqueue(name, "quick")
    stuck = await manager.enqueue(name, "stuck")
    later = await manager.enqueue(name, "later", delay=60)
    await eventually(lambda: len(ran) == 2)
    started = loop.time()
    await manager.close(timeout=0.5)
    assert 0.4 < loop.time() - started < 2.0
    assert cancelled == ["stuck"]
    rows = queue.rows()
    assert quick not in rows  # finished within the timeout: done
    status, attempts, run_at, owner, _, error = rows[stuck]
    assert (status, attempts, run_at, owner, error) == ("pending", 0, T0, None, None)  # released, not counted
    assert rows[later][:2] == ("pending", 0)

    stuck_forever = False
    again = await queue.manager()
    await eventually(lambda: ("stuck", 1) in ran[2:])
    await queue.clock.advance(60)
    await eventually(lambda: ("later", 1) in ran)
    await idle(again)
    assert queue.rows() == {}
    assert sorted(ran) == [("later", 1), ("quick", 1), ("stuck", 1), ("stuck", 1)]


async def test_close_waits_for_tasks_that_finish_in_time(queue: Queue, name: str) -> None:
    done: list[int] = []

    @taskext.adhoc(name=name)
    async def handler(data: int, ctx: taskext.AdhocContext) -> None:
        await asyncio.sleep(0.05 * data)
        done.append(data)

    manager = await queue.manager()
    await manager.enqueue_many(name, [1, 2, 3])
    await eventually(lambda: manager.worker is not None and len(manager.worker._inflight) == 3)
    await manager.close(timeout=2)
    assert sorted(done) == [1, 2, 3]
    assert queue.rows() == {}


# ---------------------------------------------------------------- a killed process


async def test_tasks_of_a_killed_process_run_again_after_their_lease(tmp_path: Path) -> None:
    """SIGKILL mid-task (no cleanup at all): the tasks run again elsewhere, each exactly once more."""
    url = f"sqlite:///{tmp_path}/killed.db"
    markers = tmp_path / "markers"
    markers.mkdir()
    name = "test_worker.sigkill"  # the handler name in tests/adhoc_worker_proc.py
    ran: list[tuple[int, int]] = []

    @taskext.adhoc(name=name, max_attempts=3)
    async def quick(data: Any, ctx: taskext.AdhocContext) -> None:
        ran.append((ctx.id, ctx.attempt))

    writer = TaskManager(url, run_worker=False)
    try:
        ids = await writer.enqueue_many(name, [1, 2, 3])
    finally:
        await writer.close()
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(TESTS / "adhoc_worker_proc.py"), url, str(markers),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        expected = {f"{task_id}-1" for task_id in ids}
        await eventually(lambda: expected <= {p.name for p in markers.iterdir()}, timeout=10)
        os.kill(process.pid, signal.SIGKILL)
        await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        stderr = await process.stderr.read() if process.stderr else b""
    assert process.returncode == -signal.SIGKILL, stderr.decode(errors="replace")

    rows = {task.id: task for task in await _all(url)}
    assert sorted(rows) == sorted(ids)
    assert all(task.status is AdhocStatus.RUNNING and task.attempts == 1 for task in rows.values())

    after = TaskManager(url, adhoc_poll_interval=0.05)
    try:
        late = await after.enqueue(name, 4)  # queued after the crash: runs at once
        await eventually(lambda: (late, 1) in ran, timeout=2)
        await eventually(lambda: len(ran) == 4, timeout=4)  # the others after their 1 s lease
        await idle(after)
        assert await after.queue() == []
    finally:
        await after.close()
    assert sorted(ran) == sorted([(task_id, 2) for task_id in ids] + [(late, 1)])
    assert {p.name for p in markers.iterdir()} == expected | {"ready"}


async def _all(url: str) -> list[AdhocTask]:
    store = SQLiteStore(url)
    await store.open()
    try:
        return await store.list_adhoc(limit=1000)
    finally:
        await store.close()


# ---------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    "options",
    [
        {"concurrency": 0},
        {"concurrency": 1.5},
        {"batch_size": 0},
        {"batch_size": True},
        {"lease": 0},
        {"lease": -1.0},
        {"poll_interval": 0},
        {"poll_interval": "1"},
    ],
)
async def test_worker_options_are_checked(queue: Queue, options: dict[str, Any]) -> None:
    manager = TaskManager(queue.url, clock=queue.clock, run_worker=False)
    with pytest.raises(ValueError):
        AdhocWorker(manager, **options)


async def test_bad_worker_options_are_refused_by_the_manager(queue: Queue) -> None:
    made: TaskManager | None = None
    try:
        with pytest.raises(ValueError, match="concurrency"):
            made = TaskManager(queue.url, clock=queue.clock, adhoc_concurrency=0)
    finally:
        if made is not None:
            queue.opened.append(made)
            with contextlib.suppress(ValueError):
                await made.open()


async def test_a_manager_without_a_worker_runs_nothing(queue: Queue, name: str) -> None:
    ran: list[int] = []

    @taskext.adhoc(name=name)
    async def handler(data: int, ctx: taskext.AdhocContext) -> None:
        ran.append(data)

    manager = await queue.manager(run_worker=False)
    assert manager.worker is None
    task_id = await manager.enqueue(name, 1)
    await queue.clock.advance(60)
    await asyncio.sleep(0.1)
    assert ran == []
    assert (await manager.get(task_id)).status is AdhocStatus.PENDING

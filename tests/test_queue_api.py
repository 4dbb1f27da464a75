"""The ad hoc queue API of TaskManager: enqueue, dedupe, debounce, cancel, retry, listings.

Most tests run the manager without its worker (``run_worker=False``) so the queue holds
still; the rows are then checked both through the API and straight from the SQLite file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

import taskext
from taskext import TaskNotFound
from taskext.handlers import _handlers
from taskext.manager import TaskManager
from taskext.store import AdhocResult, AdhocStatus
from taskext.testing import FakeClock

UTC = timezone.utc
T0 = datetime(2026, 7, 1, 9, 30, tzinfo=UTC)
PLUS2 = timezone(timedelta(hours=2))


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait in real time for work done in the database thread."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.002)


@pytest.fixture(autouse=True)
def restore_registry() -> Iterator[None]:
    saved = dict(_handlers)
    yield
    _handlers.clear()
    _handlers.update(saved)


class Queue:
    """One SQLite file, a fake clock, and the managers opened on them."""

    def __init__(self, tmp_path: Path, name: str) -> None:
        self.path = tmp_path / "queue.db"
        self.url = f"sqlite:///{self.path}"
        self.clock = FakeClock(T0)
        self.name = name
        self.opened: list[TaskManager] = []
        self.ran: list[tuple[Any, taskext.AdhocContext]] = []

        @taskext.adhoc(name=name, max_attempts=3)
        async def handler(data: Any, ctx: taskext.AdhocContext) -> None:
            self.ran.append((data, ctx))

        self.handler = handler

    async def manager(self, **options: Any) -> TaskManager:
        options.setdefault("run_worker", False)
        options.setdefault("adhoc_poll_interval", 0.02)
        options.setdefault("adhoc_lease", 600.0)
        manager = TaskManager(self.url, clock=self.clock, **options)
        self.opened.append(manager)
        await manager.open()
        return manager

    def rows(self) -> list[tuple[Any, ...]]:
        """Every queue row, read from the file by a separate connection."""
        if not self.path.exists():
            return []
        with contextlib.closing(sqlite3.connect(self.path)) as conn:
            try:
                return conn.execute(
                    "SELECT id, name, data, status, run_at, attempts, user_id, guild_id FROM taskext_adhoc ORDER BY id"
                ).fetchall()
            except sqlite3.OperationalError:  # not created yet
                return []


@pytest.fixture
async def queue(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Queue]:
    made = Queue(tmp_path, f"test_queue_api.{request.node.name}")
    yield made
    for manager in reversed(made.opened):
        await manager.close(timeout=0.2)


@pytest.fixture
async def manager(queue: Queue) -> TaskManager:
    return await queue.manager()


async def make_failed(manager: TaskManager, task_id: int, error: str = "boom") -> None:
    """Fail ``task_id`` for good through the store, as a worker would."""
    store = manager.store
    now = manager.clock.now()
    claims = await store.claim("tester", [(await store.get_adhoc(task_id)).name], now=now, lease_until=now, limit=100)
    for claim in claims:
        if claim.id == task_id:
            await store.finish("tester", [AdhocResult(task_id, claim.lease, error=error)], now=now)
        else:
            await store.finish("tester", [AdhocResult(claim.id, claim.lease, release=True)], now=now)


async def make_running(manager: TaskManager, task_id: int) -> None:
    """Claim ``task_id`` (and only it) as another worker would, whatever its run time."""
    store = manager.store
    task = await store.get_adhoc(task_id)
    now = max(manager.clock.now(), task.run_at)
    claims = await store.claim("tester", [task.name], now=now, lease_until=now + timedelta(hours=1), limit=100)
    assert task_id in [c.id for c in claims]
    others = [AdhocResult(c.id, c.lease, release=True) for c in claims if c.id != task_id]
    await store.finish("tester", others, now=now)


# ---------------------------------------------------------------- enqueue


async def test_enqueue_returns_an_id_and_stores_the_task(queue: Queue, manager: TaskManager) -> None:
    first = await manager.enqueue(queue.name, {"b": 2, "a": [1, "x"]}, user_id=5, guild_id=6)
    second = await manager.enqueue(queue.name, "plain")
    assert isinstance(first, int) and isinstance(second, int) and second > first
    task = await manager.get(first)
    assert task.id == first
    assert task.name == queue.name
    assert json.loads(task.data) == {"b": 2, "a": [1, "x"]}
    assert task.status is AdhocStatus.PENDING
    assert task.run_at == T0  # default: now
    assert task.enqueued_at == T0
    assert (task.attempts, task.max_attempts) == (0, 3)  # max_attempts comes from the handler
    assert (task.user_id, task.guild_id) == (5, 6)
    assert [row[0] for row in queue.rows()] == [first, second]


async def test_enqueue_when_run_at_or_delay(queue: Queue, manager: TaskManager) -> None:
    at_utc = await manager.enqueue(queue.name, 1, run_at=T0 + timedelta(hours=3))
    at_local = await manager.enqueue(queue.name, 2, run_at=datetime(2026, 7, 1, 13, 0, tzinfo=PLUS2))
    in_seconds = await manager.enqueue(queue.name, 3, delay=90)
    in_fraction = await manager.enqueue(queue.name, 4, delay=0.25)
    in_timedelta = await manager.enqueue(queue.name, 5, delay=timedelta(days=2))
    zero = await manager.enqueue(queue.name, 6, delay=0)
    past = await manager.enqueue(queue.name, 7, run_at=T0 - timedelta(days=1))
    expected = {
        at_utc: T0 + timedelta(hours=3),
        at_local: datetime(2026, 7, 1, 11, 0, tzinfo=UTC),
        in_seconds: T0 + timedelta(seconds=90),
        in_fraction: T0 + timedelta(seconds=0.25),
        in_timedelta: T0 + timedelta(days=2),
        zero: T0,
        past: T0 - timedelta(days=1),
    }
    for task_id, when in expected.items():
        stored = (await manager.get(task_id)).run_at
        assert abs(stored - when) < timedelta(milliseconds=1), task_id
        assert stored.utcoffset() == timedelta(0)


async def test_enqueue_opens_the_manager_itself(queue: Queue) -> None:
    manager = TaskManager(queue.url, clock=queue.clock, run_worker=False)
    queue.opened.append(manager)
    task_id = await manager.enqueue(queue.name, None)
    assert [row[0] for row in queue.rows()] == [task_id]


# ---------------------------------------------------------------- dedupe


async def test_dedupe_returns_the_pending_task_with_same_name_data_and_user(queue: Queue, manager: TaskManager) -> None:
    first = await manager.enqueue(queue.name, {"a": 1, "b": 2}, user_id=10, delay=60, dedupe=True)
    assert await manager.enqueue(queue.name, {"a": 1, "b": 2}, user_id=10, delay=60, dedupe=True) == first
    # The same data in another key order is the same data.
    assert await manager.enqueue(queue.name, {"b": 2, "a": 1}, user_id=10, dedupe=True) == first
    # Dedupe does not move the existing task.
    assert (await manager.get(first)).run_at == T0 + timedelta(seconds=60)
    other_user = await manager.enqueue(queue.name, {"a": 1, "b": 2}, user_id=11, dedupe=True)
    no_user = await manager.enqueue(queue.name, {"a": 1, "b": 2}, dedupe=True)
    other_data = await manager.enqueue(queue.name, {"a": 1, "b": 3}, user_id=10, dedupe=True)
    assert len({first, other_user, no_user, other_data}) == 4
    # Without dedupe, a duplicate is queued.
    duplicate = await manager.enqueue(queue.name, {"a": 1, "b": 2}, user_id=10)
    assert duplicate not in (first, other_user, no_user, other_data)
    assert len(queue.rows()) == 5


async def test_dedupe_is_per_handler(queue: Queue, manager: TaskManager) -> None:
    @taskext.adhoc(name=queue.name + ".other")
    async def other(data: Any, ctx: taskext.AdhocContext) -> None:
        pass

    first = await manager.enqueue(queue.name, "same", dedupe=True)
    second = await manager.enqueue(other.name, "same", dedupe=True)
    assert first != second


async def test_dedupe_after_the_first_task_ran_queues_a_new_one(queue: Queue) -> None:
    manager = await queue.manager(run_worker=True)
    first = await manager.enqueue(queue.name, {"report": 1}, dedupe=True)
    await eventually(lambda: len(queue.ran) == 1)
    await eventually(lambda: queue.rows() == [])  # done: deleted
    second = await manager.enqueue(queue.name, {"report": 1}, dedupe=True)
    assert second != first
    await eventually(lambda: len(queue.ran) == 2)
    assert [ctx.id for _, ctx in queue.ran] == [first, second]


async def test_dedupe_does_not_match_a_failed_task(queue: Queue, manager: TaskManager) -> None:
    first = await manager.enqueue(queue.name, "x", dedupe=True)
    await make_failed(manager, first)
    second = await manager.enqueue(queue.name, "x", dedupe=True)
    assert second != first


# ---------------------------------------------------------------- enqueue_many


async def test_enqueue_many_returns_ids_in_order(queue: Queue, manager: TaskManager) -> None:
    ids = await manager.enqueue_many(queue.name, [{"n": n} for n in range(5)], delay=30, user_id=3)
    assert len(set(ids)) == 5 and ids == sorted(ids)
    for n, task_id in enumerate(ids):
        task = await manager.get(task_id)
        assert json.loads(task.data) == {"n": n}
        assert task.run_at == T0 + timedelta(seconds=30)
        assert task.user_id == 3


async def test_enqueue_many_per_item_options(queue: Queue, manager: TaskManager) -> None:
    ids = await manager.enqueue_many(
        queue.name,
        [
            "plain",
            {"data": "later", "delay": 60},
            {"data": "at", "run_at": T0 + timedelta(hours=1), "user_id": 9, "guild_id": 8},
            {"no data key": "is data"},
        ],
        delay=10,
        guild_id=1,
    )
    tasks = [await manager.get(task_id) for task_id in ids]
    assert [json.loads(t.data) for t in tasks] == ["plain", "later", "at", {"no data key": "is data"}]
    assert [t.run_at - T0 for t in tasks] == [
        timedelta(seconds=10),
        timedelta(seconds=60),
        timedelta(hours=1),  # an item's run_at replaces the call's delay
        timedelta(seconds=10),
    ]
    assert [(t.user_id, t.guild_id) for t in tasks] == [(None, 1), (None, 1), (9, 8), (None, 1)]


async def test_enqueue_many_of_nothing(queue: Queue, manager: TaskManager) -> None:
    assert await manager.enqueue_many(queue.name, []) == []
    assert await manager.enqueue_many(queue.name, iter(())) == []
    assert queue.rows() == []


async def test_enqueue_many_with_dedupe(queue: Queue, manager: TaskManager) -> None:
    existing = await manager.enqueue(queue.name, "a")
    ids = await manager.enqueue_many(queue.name, ["a", "b", "b", "c"], dedupe=True)
    assert ids[0] == existing
    assert ids[1] == ids[2]
    assert len(set(ids)) == 3
    assert len(queue.rows()) == 3


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (object(), TypeError),
        (float("nan"), TypeError),
        ({"data": 1, "delay": -5}, ValueError),
        ({"data": 1, "run_at": datetime(2026, 7, 2)}, ValueError),
        ({"data": 1, "user_id": "me"}, TypeError),
        ({"data": 1, "colour": "red"}, TypeError),
        ({"data": 1, "delay": 5, "run_at": T0}, TypeError),
    ],
)
async def test_enqueue_many_writes_nothing_if_one_item_is_invalid(
    queue: Queue, manager: TaskManager, bad: Any, error: type[Exception]
) -> None:
    await manager.enqueue(queue.name, "before")
    before = queue.rows()
    with pytest.raises(error):
        await manager.enqueue_many(queue.name, ["ok-1", {"data": "ok-2"}, bad, "ok-3"])
    assert queue.rows() == before


async def test_enqueue_many_unknown_handler_writes_nothing(queue: Queue, manager: TaskManager) -> None:
    with pytest.raises(TaskNotFound):
        await manager.enqueue_many(queue.name + ".missing", [1, 2])
    assert queue.rows() == []


# ---------------------------------------------------------------- reschedule_or_enqueue


async def test_reschedule_or_enqueue_debounces(queue: Queue, manager: TaskManager) -> None:
    first = await manager.reschedule_or_enqueue(queue.name, {"guild": 1}, user_id=4, delay=60)
    assert (await manager.get(first)).run_at == T0 + timedelta(seconds=60)
    await queue.clock.advance(30)
    again = await manager.reschedule_or_enqueue(queue.name, {"guild": 1}, user_id=4, delay=60)
    assert again == first
    assert (await manager.get(first)).run_at == T0 + timedelta(seconds=90)
    earlier = await manager.reschedule_or_enqueue(
        queue.name, {"guild": 1}, user_id=4, run_at=T0 + timedelta(seconds=40)
    )
    assert earlier == first
    assert (await manager.get(first)).run_at == T0 + timedelta(seconds=40)
    assert len(queue.rows()) == 1
    # Different data or user: another task.
    other = await manager.reschedule_or_enqueue(queue.name, {"guild": 2}, user_id=4, delay=60)
    other_user = await manager.reschedule_or_enqueue(queue.name, {"guild": 1}, user_id=5, delay=60)
    assert len({first, other, other_user}) == 3
    assert len(queue.rows()) == 3


async def test_reschedule_or_enqueue_queues_again_once_the_task_is_gone(queue: Queue, manager: TaskManager) -> None:
    first = await manager.reschedule_or_enqueue(queue.name, "x", delay=60)
    await manager.cancel(first)
    second = await manager.reschedule_or_enqueue(queue.name, "x", delay=60)
    assert second != first
    await make_running(manager, second)
    third = await manager.reschedule_or_enqueue(queue.name, "x", delay=10)
    assert third != second
    assert (await manager.get(second)).status is AdhocStatus.RUNNING


async def test_debounced_task_runs_once_at_its_last_time(queue: Queue) -> None:
    manager = await queue.manager(run_worker=True)
    clock = queue.clock
    task_id = await manager.reschedule_or_enqueue(queue.name, "save", delay=10)
    for _ in range(3):
        await clock.advance(5)
        assert await manager.reschedule_or_enqueue(queue.name, "save", delay=10) == task_id
    # Last call at T0+15: due at T0+25.
    await clock.advance_to(T0 + timedelta(seconds=24))
    await asyncio.sleep(0.1)
    assert queue.ran == []
    await clock.advance_to(T0 + timedelta(seconds=25))
    await eventually(lambda: len(queue.ran) == 1)
    assert queue.ran[0][1].run_at == T0 + timedelta(seconds=25)
    await asyncio.sleep(0.05)
    assert len(queue.ran) == 1


# ---------------------------------------------------------------- get / cancel / retry


async def test_get_unknown_and_bad_ids(queue: Queue, manager: TaskManager) -> None:
    with pytest.raises(TaskNotFound):
        await manager.get(12345)
    for bad in ("1", 1.0, True, None):
        with pytest.raises(TypeError):
            await manager.get(bad)  # type: ignore[arg-type]


async def test_cancel_removes_a_pending_task(queue: Queue, manager: TaskManager) -> None:
    keep = await manager.enqueue(queue.name, "keep")
    drop = await manager.enqueue(queue.name, "drop", delay=60)
    cancelled = await manager.cancel(drop)
    assert cancelled.id == drop and json.loads(cancelled.data) == "drop"
    assert cancelled.status is AdhocStatus.PENDING
    with pytest.raises(TaskNotFound):
        await manager.get(drop)
    assert [row[0] for row in queue.rows()] == [keep]


async def test_cancel_removes_a_failed_task(queue: Queue, manager: TaskManager) -> None:
    task_id = await manager.enqueue(queue.name, "x")
    await make_failed(manager, task_id)
    assert (await manager.cancel(task_id)).status is AdhocStatus.FAILED
    assert queue.rows() == []


async def test_cancel_refuses_a_running_task(queue: Queue, manager: TaskManager) -> None:
    task_id = await manager.enqueue(queue.name, "x")
    await make_running(manager, task_id)
    before = queue.rows()
    with pytest.raises(ValueError, match="running"):
        await manager.cancel(task_id)
    assert queue.rows() == before


async def test_cancel_unknown_id(queue: Queue, manager: TaskManager) -> None:
    with pytest.raises(TaskNotFound) as caught:
        await manager.cancel(999)
    assert isinstance(caught.value, LookupError)
    with pytest.raises(TypeError):
        await manager.cancel("999")  # type: ignore[arg-type]


async def test_retry_queues_a_failed_task_again(queue: Queue, manager: TaskManager) -> None:
    task_id = await manager.enqueue(queue.name, "x", delay=5)
    await queue.clock.advance(10)
    await make_failed(manager, task_id, error="it broke")
    failed = await manager.get(task_id)
    assert (failed.status, failed.attempts, failed.last_error) == (AdhocStatus.FAILED, 1, "it broke")
    await queue.clock.advance(100)
    again = await manager.retry(task_id)
    assert again.id == task_id
    assert again.status is AdhocStatus.PENDING
    assert again.attempts == 0
    assert again.run_at == T0 + timedelta(seconds=110)  # now
    assert (await manager.get(task_id)).status is AdhocStatus.PENDING


async def test_retry_refuses_a_task_that_is_not_failed(queue: Queue, manager: TaskManager) -> None:
    pending = await manager.enqueue(queue.name, "p", delay=100)
    running = await manager.enqueue(queue.name, "r")
    await make_running(manager, running)
    before = queue.rows()
    for task_id in (pending, running):
        with pytest.raises(ValueError, match="not failed"):
            await manager.retry(task_id)
    assert queue.rows() == before
    with pytest.raises(TaskNotFound):
        await manager.retry(running + 100)


# ---------------------------------------------------------------- listings and health


async def test_queue_lists_by_run_time_and_status(queue: Queue, manager: TaskManager) -> None:
    @taskext.adhoc(name=queue.name + ".other")
    async def other(data: Any, ctx: taskext.AdhocContext) -> None:
        pass

    late = await manager.enqueue(queue.name, "late", delay=300)
    soon = await manager.enqueue(queue.name, "soon", delay=100)
    broken = await manager.enqueue(other.name, "broken")
    running = await manager.enqueue(queue.name, "running")
    await make_failed(manager, broken)
    await make_running(manager, running)
    assert [t.id for t in await manager.queue()] == [broken, running, soon, late]
    assert [t.id for t in await manager.queue("pending")] == [soon, late]
    assert [t.id for t in await manager.queue(AdhocStatus.PENDING)] == [soon, late]
    assert [t.id for t in await manager.queue("running")] == [running]
    assert [t.id for t in await manager.queue("failed")] == [broken]
    assert [t.id for t in await manager.queue(name=other.name)] == [broken]
    assert [t.id for t in await manager.queue("pending", name=other.name)] == []
    assert [t.id for t in await manager.queue(limit=2)] == [broken, running]
    with pytest.raises(ValueError):
        await manager.queue("done")
    with pytest.raises(ValueError):
        await manager.queue(limit=0)


async def test_queue_health(queue: Queue, manager: TaskManager) -> None:
    assert await manager.queue_health() == {"pending": 0, "due": 0, "running": 0, "failed": 0, "oldest_due": None}
    await manager.enqueue(queue.name, 1, delay=10)
    await manager.enqueue(queue.name, 2, delay=20)
    await manager.enqueue(queue.name, 3, delay=600)
    assert await manager.queue_health() == {"pending": 3, "due": 0, "running": 0, "failed": 0, "oldest_due": None}
    await queue.clock.advance(25)
    assert await manager.queue_health() == {
        "pending": 3,
        "due": 2,
        "running": 0,
        "failed": 0,
        "oldest_due": T0 + timedelta(seconds=10),
    }
    failing = await manager.enqueue(queue.name, 4, run_at=T0)
    await make_failed(manager, failing)
    health = await manager.queue_health()
    assert (health["pending"], health["failed"]) == (3, 1)


# ---------------------------------------------------------------- bad input writes nothing


BAD_DATA = [
    pytest.param(object(), "object", id="object"),
    pytest.param(float("nan"), "float", id="nan"),
    pytest.param({"n": math.inf}, "float", id="inf"),
    pytest.param({1, 2}, "set", id="set"),
    pytest.param({"nested": [{"deep": {3}}]}, "set", id="nested-set"),
    pytest.param(b"bytes", "bytes", id="bytes"),
    pytest.param({"when": T0}, "datetime", id="datetime"),
    pytest.param({1: "a", "b": 2}, "not supported", id="mixed-keys"),
]


@pytest.mark.parametrize(("data", "problem"), BAD_DATA)
async def test_data_that_is_not_json_is_refused(queue: Queue, manager: TaskManager, data: Any, problem: str) -> None:
    await manager.enqueue(queue.name, "before")
    before = queue.rows()
    for call in (
        lambda: manager.enqueue(queue.name, data),
        lambda: manager.enqueue(queue.name, data, dedupe=True),
        lambda: manager.reschedule_or_enqueue(queue.name, data, delay=5),
        lambda: manager.enqueue_many(queue.name, [data]),
    ):
        with pytest.raises(TypeError) as caught:
            await call()
        message = str(caught.value)
        assert "JSON" in message and queue.name in message
        assert problem.lower() in message.lower(), message
    assert queue.rows() == before


BAD_ARGUMENTS = [
    pytest.param({"run_at": datetime(2026, 7, 1, 12, 0)}, ValueError, "timezone-aware", id="naive-run_at"),
    pytest.param({"run_at": "2026-07-01T12:00:00+00:00"}, TypeError, "datetime", id="text-run_at"),
    pytest.param({"run_at": 1767225600}, TypeError, "datetime", id="number-run_at"),
    pytest.param({"delay": -1}, ValueError, "negative", id="negative-delay"),
    pytest.param({"delay": -0.001}, ValueError, "negative", id="slightly-negative-delay"),
    pytest.param({"delay": timedelta(seconds=-5)}, ValueError, "negative", id="negative-timedelta"),
    pytest.param({"delay": math.nan}, TypeError, "delay", id="nan-delay"),
    pytest.param({"delay": math.inf}, TypeError, "delay", id="inf-delay"),
    pytest.param({"delay": "10"}, TypeError, "delay", id="text-delay"),
    pytest.param({"delay": True}, TypeError, "delay", id="bool-delay"),
    pytest.param({"run_at": T0, "delay": 5}, TypeError, "not both", id="run_at-and-delay"),
    pytest.param({"run_at": datetime(2026, 7, 1), "delay": 5}, TypeError, "not both", id="naive-and-delay"),
    pytest.param({"user_id": "123"}, TypeError, "user_id", id="text-user"),
    pytest.param({"user_id": 1.0}, TypeError, "user_id", id="float-user"),
    pytest.param({"user_id": True}, TypeError, "user_id", id="bool-user"),
    pytest.param({"guild_id": "9"}, TypeError, "guild_id", id="text-guild"),
]


@pytest.mark.parametrize(("options", "error", "words"), BAD_ARGUMENTS)
async def test_bad_arguments_are_refused(
    queue: Queue, manager: TaskManager, options: dict[str, Any], error: type[Exception], words: str
) -> None:
    await manager.enqueue(queue.name, "before", delay=1)
    before = queue.rows()
    with pytest.raises(error, match=words):
        await manager.enqueue(queue.name, "x", **options)
    with pytest.raises(error, match=words):
        await manager.enqueue(queue.name, "before", dedupe=True, **options)
    with pytest.raises(error, match=words):
        await manager.reschedule_or_enqueue(queue.name, "before", **options)
    with pytest.raises(error, match=words):
        await manager.enqueue_many(queue.name, ["x", "y"], **options)
    assert queue.rows() == before


async def test_unknown_handler_is_refused(queue: Queue, manager: TaskManager) -> None:
    for call in (
        lambda: manager.enqueue("test_queue_api.nobody", {}),
        lambda: manager.reschedule_or_enqueue("test_queue_api.nobody", {}),
        lambda: manager.enqueue_many("test_queue_api.nobody", [{}]),
    ):
        with pytest.raises(TaskNotFound, match="nobody") as caught:
            await call()
        assert isinstance(caught.value, LookupError)
        assert queue.name in str(caught.value)  # the message lists the known handlers
    with pytest.raises(TypeError):
        await manager.enqueue(42, {})  # type: ignore[arg-type]
    assert queue.rows() == []


async def test_an_unbound_cog_handler_cannot_be_enqueued(queue: Queue, manager: TaskManager) -> None:
    from discord.ext import commands

    class QueueApiUnboundCog(commands.Cog):
        @taskext.adhoc(name="test_queue_api.unbound")
        async def work(self, data: Any, ctx: taskext.AdhocContext) -> None:
            pass

    with pytest.raises(TaskNotFound):
        await manager.enqueue("test_queue_api.unbound", 1)
    assert queue.rows() == []
    QueueApiUnboundCog().work  # noqa: B018 - attribute access binds the handler
    assert isinstance(await manager.enqueue("test_queue_api.unbound", 1), int)

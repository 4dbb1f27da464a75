"""Parity suite: the same scenarios against py-cord's ``discord.ext.tasks`` and ``taskext``.

py-cord reads the real clock, so these scenarios use short real intervals (20-50 ms),
few iterations and tolerant timing assertions. The first part holds scenarios where
both libraries must behave the same; the second part ("intended differences") asserts
each library's own behaviour, with a comment naming the difference (docs/migration.md).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import time as real_time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, time, timedelta, timezone
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import discord
import discord.ext.tasks as pycord_tasks
import pytest

import taskext
from taskext import FailDelay

UTC = timezone.utc
TICK = 0.02  # seconds: the interval of most scenarios
WAIT = 2.0  # seconds: upper bound when waiting for a loop to end (never reached when passing)

LIBS = [pytest.param(pycord_tasks, id="pycord"), pytest.param(taskext, id="taskext")]


@pytest.fixture(params=LIBS)
def lib(request: pytest.FixtureRequest) -> ModuleType:
    module: ModuleType = request.param
    return module


class _InstantBackoff:
    """Stands in for py-cord's ExponentialBackoff (up to 2 s at random) in retry scenarios."""

    def delay(self) -> float:
        return 0.01


@pytest.fixture
def fast_retry(monkeypatch: pytest.MonkeyPatch) -> Callable[[ModuleType], dict[str, Any]]:
    """Keyword arguments giving ``lib.loop`` a 10 ms retry delay (py-cord: patched in)."""
    monkeypatch.setattr(pycord_tasks, "ExponentialBackoff", _InstantBackoff)

    def kwargs(lib: ModuleType) -> dict[str, Any]:
        return {"backoff": FailDelay(first=0.01, maximum=0.01)} if lib is taskext else {}

    return kwargs


@pytest.fixture
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """What asyncio reports to the event loop's exception handler during the test."""
    contexts: list[dict[str, Any]] = []
    event_loop = asyncio.get_running_loop()
    event_loop.set_exception_handler(lambda _loop, ctx: contexts.append(ctx))
    yield contexts
    event_loop.set_exception_handler(None)


def never_retrieved(contexts: list[dict[str, Any]]) -> int:
    gc.collect()
    return sum("never retrieved" in str(c.get("message")) for c in contexts)


async def finish(task: asyncio.Task[Any] | None, timeout: float = WAIT) -> object:
    """Wait for a loop task to end; return "cancelled", its exception, or None."""
    assert task is not None
    await asyncio.wait([task], timeout=timeout)
    assert task.done(), "the loop did not end"
    if task.cancelled():
        return "cancelled"
    return task.exception()


async def cleanup(*loops: Any) -> None:
    """Cancel the loops and wait for their tasks and overlapped runs to end."""
    for lp in loops:
        lp.cancel()
    for lp in loops:
        task = lp.get_task()
        if task is not None:
            await finish(task)
        if lp._tasks:  # py-cord leaves overlapped runs behind after a normal end
            await asyncio.wait(list(lp._tasks), timeout=WAIT)


async def wait_for(predicate: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = real_time.monotonic() + timeout
    while not predicate():
        assert real_time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


class FakeResponse:
    def __init__(self, status: int, reason: str = "Testing") -> None:
        self.status = status
        self.reason = reason


async def body() -> None:
    pass


def sync_body() -> None:
    pass


# =========================================================================== same behaviour


async def test_count_runs_n_times_with_hooks_in_order(lib: ModuleType) -> None:
    events: list[tuple[str, int]] = []

    @lib.loop(seconds=TICK, count=3)
    async def lp() -> None:
        events.append(("run", lp.current_loop))

    @lp.before_loop
    async def before() -> None:
        events.append(("before", lp.current_loop))

    @lp.after_loop
    async def after() -> None:
        events.append(("after", lp.current_loop))

    assert await finish(lp.start()) is None
    assert events == [("before", 0), ("run", 0), ("run", 1), ("run", 2), ("after", 3)]
    assert lp.current_loop == 0
    assert not lp.is_running() and not lp.failed()


async def test_start_passes_arguments(lib: ModuleType) -> None:
    seen: list[tuple[Any, ...]] = []

    @lib.loop(seconds=TICK, count=2)
    async def lp(a: int, *, b: str) -> None:
        seen.append((a, b))

    assert await finish(lp.start(1, b="x")) is None
    assert seen == [(1, "x"), (1, "x")]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"seconds": 5}, (5.0, 0.0, 0.0, None)),
        ({"minutes": 2, "hours": 1}, (0.0, 2.0, 1.0, None)),
        ({}, (0.0, 0.0, 0.0, None)),
        ({"time": time(12)}, (None, None, None, [time(12, tzinfo=UTC)])),
        (
            {"time": [time(18), time(6, 30), time(18)]},
            (None, None, None, [time(6, 30, tzinfo=UTC), time(18, tzinfo=UTC)]),
        ),
        (
            {"time": time(9, tzinfo=ZoneInfo("Europe/Paris"))},
            (None, None, None, [time(9, tzinfo=ZoneInfo("Europe/Paris"))]),
        ),
    ],
)
def test_interval_properties(lib: ModuleType, kwargs: dict[str, Any], expected: tuple[Any, ...]) -> None:
    lp = lib.loop(**kwargs)(body)
    assert (lp.seconds, lp.minutes, lp.hours, lp.time) == expected
    if lp.time is not None:
        lp.time.append(time(1))  # a copy
        assert lp.time == expected[3]


def test_change_interval_properties(lib: ModuleType) -> None:
    lp = lib.loop(seconds=5)(body)
    lp.change_interval(minutes=3)
    assert (lp.seconds, lp.minutes, lp.hours, lp.time) == (0.0, 3.0, 0.0, None)
    lp.change_interval(time=time(4))
    assert (lp.seconds, lp.minutes, lp.hours, lp.time) == (None, None, None, [time(4, tzinfo=UTC)])


async def test_is_running_and_get_task(lib: ModuleType) -> None:
    @lib.loop(seconds=TICK, count=2)
    async def lp() -> None:
        pass

    assert not lp.is_running()
    assert lp.get_task() is None
    assert lp.next_iteration is None
    task = lp.start()
    assert isinstance(task, asyncio.Task)
    assert lp.get_task() is task
    assert lp.is_running()
    assert not lp.is_being_cancelled()
    with pytest.raises(RuntimeError):
        lp.start()
    assert await finish(task) is None
    assert not lp.is_running()
    assert lp.get_task() is task
    assert lp.next_iteration is None


def test_exception_type_management(lib: ModuleType) -> None:
    lp = lib.loop(seconds=1)(body)
    assert lp.add_exception_type(KeyError, LookupError) is None
    assert lp.remove_exception_type(KeyError) is True
    assert lp.remove_exception_type(KeyError) is False  # no longer there
    assert lp.remove_exception_type(IndexError) is False  # never there
    assert lp.remove_exception_type(OSError, aiohttp.ClientError) is True
    assert lp.remove_exception_type(LookupError, OSError) is False  # partly there
    with pytest.raises(TypeError):
        lp.add_exception_type(42)
    with pytest.raises(TypeError):
        lp.add_exception_type(int)
    with pytest.raises(TypeError):
        lp.add_exception_type(KeyError())
    assert lp.clear_exception_types() is None
    assert lp.remove_exception_type(asyncio.TimeoutError) is False
    assert lp._valid_exception == ()


MISUSE: list[Any] = [
    pytest.param({"seconds": 1, "count": 0}, ValueError, id="count=0"),
    pytest.param({"seconds": 1, "count": -1}, ValueError, id="count<0"),
    pytest.param({"seconds": -1}, ValueError, id="negative-seconds"),
    pytest.param({"minutes": -1}, ValueError, id="negative-minutes"),
    pytest.param({"seconds": 5, "time": time(1)}, TypeError, id="time+seconds"),
    pytest.param({"hours": 1, "time": [time(1)]}, TypeError, id="time+hours"),
    pytest.param({"time": []}, ValueError, id="empty-time-list"),
    pytest.param({"time": "12:00"}, TypeError, id="time-str"),
    pytest.param({"time": 12}, TypeError, id="time-int"),
    pytest.param({"time": [time(1), "02:00"]}, TypeError, id="time-list-bad-item"),
    pytest.param({"seconds": 1, "overlap": 1}, ValueError, id="overlap=1"),
    pytest.param({"seconds": 1, "overlap": 0}, ValueError, id="overlap=0"),
    pytest.param({"seconds": 1, "overlap": -3}, ValueError, id="overlap<0"),
    pytest.param({"seconds": 1, "overlap": "yes"}, TypeError, id="overlap-str"),
    pytest.param({"seconds": 1, "overlap": 1.5}, TypeError, id="overlap-float"),
]


@pytest.mark.parametrize(("kwargs", "error"), MISUSE)
def test_misuse_raises_the_same_exception(lib: ModuleType, kwargs: dict[str, Any], error: type) -> None:
    with pytest.raises(error) as info:
        lib.loop(**kwargs)(body)
    assert type(info.value) is error


def test_misuse_at_call_and_hooks(lib: ModuleType) -> None:
    with pytest.raises(TypeError):
        lib.loop(seconds=1, no_such_option=True)
    with pytest.raises(TypeError):
        lib.loop(seconds=1)(sync_body)
    lp = lib.loop(seconds=1)(body)
    for hook in (lp.before_loop, lp.after_loop, lp.error):
        with pytest.raises(TypeError):
            hook(sync_body)
    with pytest.raises(TypeError):
        lp.change_interval(seconds=1, time=time(1))
    with pytest.raises(ValueError):
        lp.change_interval(seconds=-1)


async def test_awaiting_the_loop_calls_the_body_once(lib: ModuleType) -> None:
    calls: list[tuple[Any, ...]] = []

    @lib.loop(seconds=TICK)
    async def lp(*args: Any, **kwargs: Any) -> str:
        calls.append((args, kwargs))
        return "result"

    assert await lp(1, k=2) == "result"
    assert calls == [((1,), {"k": 2})]
    assert not lp.is_running() and lp.get_task() is None

    class Cog:
        def __init__(self) -> None:
            self.calls = 0

        @lib.loop(seconds=TICK)
        async def job(self) -> None:
            self.calls += 1

    cog = Cog()
    await cog.job()
    assert cog.calls == 1


async def test_descriptor_gives_a_loop_per_instance(lib: ModuleType) -> None:
    class Cog:
        def __init__(self, label: str) -> None:
            self.label = label
            self.seen: list[str] = []

        @lib.loop(seconds=TICK, count=1)
        async def job(self) -> None:
            self.seen.append(self.label)

        @job.after_loop
        async def done(self) -> None:
            self.seen.append(f"after-{self.label}")

    a, b = Cog("a"), Cog("b")
    assert isinstance(Cog.job, lib.Loop)
    assert a.job is not b.job
    assert a.job is a.job
    assert a.job is not Cog.job
    assert type(a.job) is type(Cog.job)
    assert await finish(a.job.start()) is None
    assert a.seen == ["a", "after-a"] and b.seen == []
    assert not b.job.is_running() and b.job.get_task() is None


async def test_error_handler_receives_the_exception(lib: ModuleType) -> None:
    handled: list[BaseException] = []

    @lib.loop(seconds=TICK)
    async def lp() -> None:
        raise ValueError("boom")

    @lp.error
    async def on_error(exc: BaseException) -> None:
        handled.append(exc)

    exc = await finish(lp.start())
    assert isinstance(exc, ValueError)
    assert handled == [exc]
    assert not lp.is_running()


async def test_error_handler_in_a_cog_receives_self(lib: ModuleType) -> None:
    class Cog:
        def __init__(self) -> None:
            self.handled: list[tuple[Any, BaseException]] = []

        @lib.loop(seconds=TICK)
        async def job(self) -> None:
            raise KeyError("k")

        @job.error
        async def on_error(self, exc: BaseException) -> None:
            self.handled.append((self, exc))

    cog = Cog()
    exc = await finish(cog.job.start())
    assert isinstance(exc, KeyError)
    assert cog.handled == [(cog, exc)]


async def test_reconnect_false_makes_network_errors_fatal(lib: ModuleType) -> None:
    handled: list[BaseException] = []

    @lib.loop(seconds=TICK, reconnect=False)
    async def lp() -> None:
        raise OSError("down")

    @lp.error
    async def on_error(exc: BaseException) -> None:
        handled.append(exc)

    assert isinstance(await finish(lp.start()), OSError)
    assert len(handled) == 1


@pytest.mark.parametrize("error", [OSError, aiohttp.ClientError, asyncio.TimeoutError, KeyError])
async def test_network_errors_and_added_types_are_retried(
    lib: ModuleType, fast_retry: Callable[[ModuleType], dict[str, Any]], error: type[Exception]
) -> None:
    calls: list[int] = []
    handled: list[BaseException] = []

    @lib.loop(seconds=10, **fast_retry(lib))
    async def lp() -> None:
        calls.append(lp.current_loop)
        if len(calls) <= 2:
            raise error()

    @lp.error
    async def on_error(exc: BaseException) -> None:
        handled.append(exc)

    lp.add_exception_type(KeyError)
    lp.start()
    await wait_for(lambda: len(calls) >= 3)
    assert calls == [0, 0, 0]  # the same iteration, retried
    assert handled == [] and lp.is_running() and not lp.failed()
    await cleanup(lp)


async def test_current_loop_and_next_iteration_inside_body(lib: ModuleType) -> None:
    seen: list[tuple[int, float]] = []

    @lib.loop(seconds=0.03, count=3)
    async def lp() -> None:
        nxt = lp.next_iteration
        assert nxt is not None and nxt.utcoffset() == timedelta(0)
        seen.append((lp.current_loop, (nxt - datetime.now(UTC)).total_seconds()))

    assert await finish(lp.start()) is None
    assert [n for n, _ in seen] == [0, 1, 2]
    # Inside the body, next_iteration is the following run: one interval minus the
    # wake-up latency ahead (not the run in progress, which would be <= 0).
    assert all(ahead <= 0.031 for _, ahead in seen), seen
    assert max(ahead for _, ahead in seen) > 0.015, seen


async def test_next_iteration_of_a_time_loop(lib: ModuleType) -> None:
    target = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)

    @lib.loop(time=target.timetz())
    async def lp() -> None:
        pass

    lp.start()
    await asyncio.sleep(0.01)
    assert lp.next_iteration == target
    await cleanup(lp)
    assert lp.next_iteration is None


async def test_stop_from_body_ends_after_the_current_iteration(lib: ModuleType) -> None:
    events: list[str] = []

    @lib.loop(seconds=TICK)
    async def lp() -> None:
        events.append(f"run{lp.current_loop}")
        if lp.current_loop == 1:
            lp.stop()
            assert lp.next_iteration is None

    @lp.after_loop
    async def after() -> None:
        events.append(f"after(cancelled={lp.is_being_cancelled()})")

    assert await finish(lp.start()) is None
    assert events == ["run0", "run1", "after(cancelled=False)"]
    assert not lp.failed()


async def test_cancel_runs_after_loop_and_marks_cancelling(lib: ModuleType) -> None:
    events: list[str] = []

    @lib.loop(seconds=10)
    async def lp() -> None:
        events.append("run")

    @lp.after_loop
    async def after() -> None:
        events.append(f"after(cancelled={lp.is_being_cancelled()})")

    task = lp.start()
    await asyncio.sleep(0.01)
    lp.cancel()
    assert await finish(task) == "cancelled"
    assert events == ["run", "after(cancelled=True)"]
    assert not lp.failed() and not lp.is_being_cancelled()


async def test_restart_of_a_running_loop(lib: ModuleType) -> None:
    events: list[str] = []

    @lib.loop(seconds=10)
    async def lp() -> None:
        events.append("run")

    @lp.before_loop
    async def before() -> None:
        events.append("before")

    @lp.after_loop
    async def after() -> None:
        events.append("after")

    first = lp.start()
    await asyncio.sleep(0.01)
    lp.restart()
    await wait_for(lambda: len(events) >= 5)
    assert first.cancelled()
    assert lp.get_task() is not first and lp.is_running()
    assert events == ["before", "run", "after", "before", "run"]
    await cleanup(lp)


async def test_change_interval_while_sleeping(lib: ModuleType) -> None:
    runs: list[float] = []

    @lib.loop(seconds=10)
    async def lp() -> None:
        runs.append(real_time.monotonic())

    lp.start()
    await wait_for(lambda: len(runs) == 1)
    lp.change_interval(seconds=TICK)
    assert lp.seconds == TICK
    await wait_for(lambda: len(runs) >= 3)  # the 10 s sleep was re-planned at once
    assert runs[2] - runs[0] < 1.0
    await cleanup(lp)


async def test_overlap_runs_concurrently_up_to_the_cap(lib: ModuleType) -> None:
    running = 0
    peak = {True: 0, 2: 0}

    def make(overlap: bool | int) -> Any:
        @lib.loop(seconds=0.01, count=4, overlap=overlap)
        async def lp() -> None:
            nonlocal running
            running += 1
            peak[overlap] = max(peak[overlap], running)
            await asyncio.sleep(0.045)
            running -= 1

        return lp

    unlimited, capped = make(True), make(2)
    await finish(unlimited.start())
    await cleanup(unlimited)
    assert peak[True] >= 3
    await finish(capped.start(), timeout=WAIT)
    await cleanup(capped)
    assert peak[2] == 2


# =========================================================================== intended differences


async def test_difference_failed_after_death(lib: ModuleType) -> None:
    """Difference: after the loop died from an exception, failed() is True in taskext.

    py-cord sets it, calls the error handler, then resets it to False in ``finally``.
    """
    seen_in_handler: list[bool] = []

    @lib.loop(seconds=TICK)
    async def lp() -> None:
        raise ValueError("boom")

    @lp.error
    async def on_error(exc: BaseException) -> None:
        seen_in_handler.append(lp.failed())

    assert isinstance(await finish(lp.start()), ValueError)
    assert seen_in_handler == [True]  # same in both while the handler runs
    if lib is taskext:
        assert lp.failed() is True
    else:
        assert lp.failed() is False


async def test_difference_cancel_then_start(lib: ModuleType) -> None:
    """Difference: start() right after cancel() works in taskext; py-cord raises RuntimeError."""
    runs: list[int] = []

    @lib.loop(seconds=10)
    async def lp() -> None:
        runs.append(1)

    first = lp.start()
    await asyncio.sleep(0.01)
    lp.cancel()
    if lib is taskext:
        second = lp.start()
        await wait_for(lambda: len(runs) == 2)
        assert first.cancelled() and lp.get_task() is second and lp.is_running()
        await cleanup(lp)
    else:
        with pytest.raises(RuntimeError):
            lp.start()
        assert await finish(first) == "cancelled"


def test_difference_mixed_zone_time_list(lib: ModuleType) -> None:
    """Difference: a time list mixing ZoneInfo and UTC times.

    py-cord raises TypeError at decoration (it sorts naive-offset and aware times).
    """
    times = [time(9, tzinfo=ZoneInfo("Europe/Berlin")), time(12, tzinfo=UTC)]
    if lib is taskext:
        lp = lib.loop(time=times)(body)
        assert lp.time is not None and len(lp.time) == 2
    else:
        with pytest.raises(TypeError):
            lib.loop(time=times)(body)


def test_difference_time_property_with_fixed_offsets(lib: ModuleType) -> None:
    """Difference: the ``time`` list for fixed-offset times.

    py-cord sorts by instant and drops times equal as instants (13:00+01:00 == 12:00 UTC);
    taskext sorts by wall-clock time, then zone, and keeps both (they fire once).
    """
    plus1, plus5 = timezone(timedelta(hours=1)), timezone(timedelta(hours=5))
    lp = lib.loop(time=[time(13, tzinfo=plus1), time(12, tzinfo=UTC), time(10, tzinfo=plus5)])(body)
    if lib is taskext:
        assert lp.time == [time(10, tzinfo=plus5), time(12, tzinfo=UTC), time(13, tzinfo=plus1)]
    else:
        assert lp.time is not None and len(lp.time) == 2
        assert lp.time[0] == time(10, tzinfo=plus5)


async def test_difference_stop_does_not_wait_out_the_next_sleep(lib: ModuleType) -> None:
    """Difference: after stop(), taskext ends right after the current iteration.

    py-cord sleeps until the next iteration would be due before it notices stop().
    """
    after_at: list[float] = []

    @lib.loop(seconds=0.15)
    async def lp() -> None:
        lp.stop()

    @lp.after_loop
    async def after() -> None:
        after_at.append(real_time.monotonic())

    began = real_time.monotonic()
    assert await finish(lp.start()) is None
    elapsed = after_at[0] - began
    if lib is taskext:
        assert elapsed < 0.08
    else:
        assert elapsed >= 0.12


async def test_difference_count_after_loop_timing(lib: ModuleType) -> None:
    """Difference: with count=, taskext calls after_loop right after the last run.

    py-cord sleeps one more interval first.
    """
    marks: list[float] = []

    @lib.loop(seconds=0.15, count=1)
    async def lp() -> None:
        marks.append(real_time.monotonic())

    @lp.after_loop
    async def after() -> None:
        marks.append(real_time.monotonic())

    assert await finish(lp.start()) is None
    gap = marks[1] - marks[0]
    if lib is taskext:
        assert gap < 0.08
    else:
        assert gap >= 0.12


async def test_difference_stop_in_before_loop(lib: ModuleType) -> None:
    """Difference: stop() in before_loop prevents the first run in taskext.

    py-cord still runs the body once (and sleeps an interval) before ending.
    """
    events: list[str] = []

    @lib.loop(seconds=TICK)
    async def lp() -> None:
        events.append("run")

    @lp.before_loop
    async def before() -> None:
        events.append("before")
        lp.stop()

    @lp.after_loop
    async def after() -> None:
        events.append("after")

    assert await finish(lp.start()) is None
    if lib is taskext:
        assert events == ["before", "after"]
    else:
        assert events == ["before", "run", "after"]


async def test_difference_restart_of_a_stopped_loop(lib: ModuleType) -> None:
    """Difference: restart() of a loop that is not running starts it in taskext.

    py-cord's restart() only acts on a running task.
    """
    runs: list[int] = []

    @lib.loop(seconds=TICK, count=1)
    async def lp() -> None:
        runs.append(1)

    assert await finish(lp.start()) is None
    lp.restart()
    if lib is taskext:
        assert lp.is_running()
        assert await finish(lp.get_task()) is None
        assert runs == [1, 1]
    else:
        assert not lp.is_running()
        await asyncio.sleep(0.05)
        assert runs == [1]


async def test_difference_current_loop_between_iterations(lib: ModuleType) -> None:
    """Difference: current_loop read while the loop sleeps between runs.

    py-cord still shows the index of the run that finished (it increments after the
    sleep); taskext shows the number of finished runs, i.e. the index of the next one.
    Inside the body both give the same 0-based index.
    """

    @lib.loop(seconds=10)
    async def lp() -> None:
        pass

    lp.start()
    await asyncio.sleep(0.02)  # the first run is over, the loop sleeps
    if lib is taskext:
        assert lp.current_loop == 1
    else:
        assert lp.current_loop == 0
    await cleanup(lp)


async def test_difference_class_level_exception_types_reach_instances(
    lib: ModuleType, fast_retry: Callable[[ModuleType], dict[str, Any]]
) -> None:
    """Difference: add_exception_type on the class-level loop applies to instances in taskext.

    py-cord's per-instance copy starts again from the default exception types.
    """

    class FlakyError(Exception):
        pass

    class Cog:
        def __init__(self) -> None:
            self.calls = 0

        @lib.loop(seconds=10, **fast_retry(lib))
        async def job(self) -> None:
            self.calls += 1
            if self.calls == 1:
                raise FlakyError

        @job.error
        async def on_error(self, exc: BaseException) -> None:
            pass

    Cog.job.add_exception_type(FlakyError)
    cog = Cog()
    cog.job.start()
    if lib is taskext:
        await wait_for(lambda: cog.calls == 2)
        assert cog.job.is_running()
        await cleanup(cog.job)
    else:
        assert isinstance(await finish(cog.job.get_task()), FlakyError)
        assert cog.calls == 1


async def test_difference_overlapped_exceptions(lib: ModuleType, loop_errors: list[dict[str, Any]]) -> None:
    """Difference: an exception in an overlapped run reaches taskext's error handler.

    py-cord never retrieves it ("Task exception was never retrieved") and keeps looping.
    """
    handled: list[BaseException] = []

    @lib.loop(seconds=TICK, overlap=True)
    async def lp() -> None:
        raise ValueError("in an overlapped run")

    @lp.error
    async def on_error(exc: BaseException) -> None:
        handled.append(exc)

    task = lp.start()
    if lib is taskext:
        assert isinstance(await finish(task), ValueError)
        assert [type(e) for e in handled] == [ValueError]
        assert lp.failed()
        assert never_retrieved(loop_errors) == 0
    else:
        await asyncio.sleep(0.05)
        assert lp.is_running()
        assert handled == []
        await cleanup(lp)
        assert never_retrieved(loop_errors) >= 1


@pytest.mark.parametrize(
    "make_error",
    [
        pytest.param(lambda: discord.DiscordServerError(FakeResponse(503), "unavailable"), id="5xx"),
        pytest.param(lambda: discord.HTTPException(FakeResponse(429), "slow down"), id="429"),
    ],
)
async def test_difference_discord_5xx_and_429_are_retried(
    lib: ModuleType,
    fast_retry: Callable[[ModuleType], dict[str, Any]],
    make_error: Callable[[], Exception],
) -> None:
    """Difference: taskext retries Discord 5xx answers and 429 rate limits.

    py-cord only retries network-level errors: these kill its loop at once.
    """
    calls: list[int] = []

    @lib.loop(seconds=10, **fast_retry(lib))
    async def lp() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise make_error()

    @lp.error
    async def on_error(exc: BaseException) -> None:
        pass

    task = lp.start()
    if lib is taskext:
        await wait_for(lambda: len(calls) == 2)
        assert lp.is_running()
        await cleanup(lp)
    else:
        assert isinstance(await finish(task), discord.HTTPException)
        assert calls == [1]


def test_difference_default_exception_types(lib: ModuleType) -> None:
    """Difference: DiscordServerError is one of taskext's default retried types."""
    lp = lib.loop(seconds=1)(body)
    assert lp.remove_exception_type(discord.DiscordServerError) is (lib is taskext)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="needs Task.cancelling()")
async def test_difference_cancelled_error_inside_body(lib: ModuleType) -> None:
    """Difference: a CancelledError raised inside the body (not a cancel of the loop).

    py-cord treats it as a cancel and the loop ends (discord.py #9074); taskext logs it
    and carries on.
    """
    runs: list[int] = []

    @lib.loop(seconds=TICK)
    async def lp() -> None:
        runs.append(1)
        if len(runs) == 1:
            raise asyncio.CancelledError()

    task = lp.start()
    if lib is taskext:
        await wait_for(lambda: len(runs) >= 2)
        assert lp.is_running()
        await cleanup(lp)
    else:
        assert await finish(task) == "cancelled"
        assert runs == [1]


async def test_difference_stop_during_retry_backoff(
    lib: ModuleType, fast_retry: Callable[[ModuleType], dict[str, Any]]
) -> None:
    """Difference: stop() during a retry backoff ends a taskext loop without the retry.

    py-cord retries the failing iteration until it succeeds before it stops.
    """
    calls: list[int] = []

    @lib.loop(seconds=TICK, **fast_retry(lib))
    async def lp() -> None:
        calls.append(1)
        if len(calls) == 1:
            lp.stop()
            raise OSError("down")

    assert await finish(lp.start()) is None
    assert calls == ([1] if lib is taskext else [1, 1])


async def test_difference_default_error_handler_output(
    lib: ModuleType, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """Difference: the default error handler logs on logger ``taskext.loop`` (level ERROR).

    py-cord prints the traceback to stderr.
    """

    @lib.loop(seconds=TICK)
    async def lp() -> None:
        raise ZeroDivisionError("oops")

    with caplog.at_level(logging.ERROR, logger="taskext.loop"):
        assert isinstance(await finish(lp.start()), ZeroDivisionError)
    stderr = capsys.readouterr().err
    logged = [r for r in caplog.records if r.name == "taskext.loop" and r.levelno == logging.ERROR]
    if lib is taskext:
        assert len(logged) == 1 and "ZeroDivisionError" not in stderr
    else:
        assert logged == [] and "ZeroDivisionError" in stderr


async def test_difference_slow_run_keeps_the_grid(lib: ModuleType) -> None:
    """Difference: after a run that overruns its slots taskext stays on the original grid.

    py-cord re-anchors the schedule at the moment the late run starts.
    """
    interval = 0.04
    next_seen: list[datetime] = []

    @lib.loop(seconds=interval, count=2)
    async def lp() -> None:
        nxt = lp.next_iteration
        assert nxt is not None
        next_seen.append(nxt)
        if len(next_seen) == 1:
            await asyncio.sleep(2.5 * interval)

    assert await finish(lp.start()) is None
    start = next_seen[0] - timedelta(seconds=interval)  # when run 0 was due
    ahead = (next_seen[1] - start).total_seconds()
    if lib is taskext:
        # On the grid: slots 1 and 2 coalesced into run 1, slot 3 (or a later one under
        # load) is next.
        slots = ahead / interval
        assert slots == pytest.approx(round(slots), abs=1e-6) and round(slots) >= 3
    else:
        assert ahead >= 3.5 * interval - 0.005  # when the late run started + interval


def test_difference_taskext_only_keywords(lib: ModuleType) -> None:
    """Difference: taskext's extra keywords (cron, tz, name, jitter, ...) are unknown to py-cord."""
    extras: list[dict[str, Any]] = [
        {"cron": "* * * * *"},
        {"seconds": 1, "tz": "UTC"},
        {"seconds": 1, "name": "job"},
        {"seconds": 1, "jitter": 1},
        {"seconds": 1, "max_retries": 3},
        {"seconds": 1, "backoff": FailDelay()},
        {"seconds": 1, "clock": taskext.SystemClock()},
    ]
    for kwargs in extras:
        if lib is taskext:
            lib.loop(**kwargs)(body)
        else:
            with pytest.raises(TypeError):
                lib.loop(**kwargs)


async def test_difference_exception_in_before_loop(lib: ModuleType) -> None:
    """Difference: an exception in before_loop is handled like one in the body by taskext.

    taskext calls the error handler and after_loop and sets failed(); py-cord lets the
    exception end the task with neither hook called.
    """
    events: list[str] = []

    @lib.loop(seconds=TICK)
    async def lp() -> None:
        events.append("run")

    @lp.before_loop
    async def before() -> None:
        events.append("before")
        raise RuntimeError("not ready")

    @lp.error
    async def on_error(exc: BaseException) -> None:
        events.append("error")

    @lp.after_loop
    async def after() -> None:
        events.append("after")

    assert isinstance(await finish(lp.start()), RuntimeError)
    if lib is taskext:
        assert events == ["before", "error", "after"]
        assert lp.failed()
    else:
        assert events == ["before"]
        assert not lp.failed()

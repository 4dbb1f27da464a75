"""Regression tests for ``taskext.loop`` / ``taskext.Loop``.

Time is driven by :class:`taskext.testing.FakeClock` unless a test says otherwise.
Each test in the "defect" sections fails against py-cord 2.8.1's ``discord.ext.tasks``
(or against the naive implementation named in its docstring).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import sys
import time as real_time
from collections.abc import Callable, Iterator
from datetime import datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import discord
import pytest

import taskext
from taskext import FailDelay, Loop
from taskext.clock import Clock, SystemClock, Timer
from taskext.testing import FakeClock, use_clock

UTC = timezone.utc
START = datetime(2026, 1, 1, tzinfo=UTC)  # a Thursday
NEW_YORK = ZoneInfo("America/New_York")
# Telling a stray CancelledError from a real cancel needs Task.cancelling() (3.11+).
NEEDS_CANCELLING = pytest.mark.skipif(sys.version_info < (3, 11), reason="needs Task.cancelling()")


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    fake = FakeClock(START)
    with use_clock(fake):
        yield fake


def outcome(task: asyncio.Task[Any] | None) -> object:
    """The end state of a finished loop task, retrieving its exception."""
    assert task is not None
    assert task.done(), "the loop task is still running"
    if task.cancelled():
        return "cancelled"
    return task.exception()


async def shutdown(clock: FakeClock, *loops: Loop[Any]) -> None:
    """Cancel the loops and retrieve their outcome, so nothing is left behind."""
    for lp in loops:
        lp.cancel()
    await clock.settle()
    for lp in loops:
        task = lp.get_task()
        if task is not None:
            outcome(task)


class FakeResponse:
    """Just enough of an aiohttp response for discord.HTTPException."""

    def __init__(self, status: int, reason: str = "Testing") -> None:
        self.status = status
        self.reason = reason


def retry_records(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "taskext.loop" and r.levelno == logging.WARNING and "retry" in r.getMessage()
    ]


def assert_retry_logged(message: str, attempt: int, delay: float) -> None:
    assert re.search(rf"attempt {attempt}\b", message), message
    assert re.search(rf"\b{delay:g}(\.0+)?s\b", message), message


def collect_loop_errors() -> list[dict[str, Any]]:
    """Record what asyncio reports to the loop's exception handler (never-retrieved errors)."""
    contexts: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: contexts.append(ctx))
    return contexts


def never_retrieved(contexts: list[dict[str, Any]]) -> list[str]:
    gc.collect()
    return [str(c.get("message")) for c in contexts if "never retrieved" in str(c.get("message"))]


async def module_level_body() -> None:
    pass


# --------------------------------------------------------------------------- 1. failed()


async def test_failed_stays_true_after_death_and_resets_on_start(clock: FakeClock) -> None:
    """py-cord resets failed() to False in ``finally``, so it is never True afterwards."""
    attempts: list[int] = []
    handled: list[BaseException] = []

    @taskext.loop(seconds=10)
    async def lp() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise ValueError("boom")

    @lp.error
    async def on_error(exc: BaseException) -> None:
        handled.append(exc)
        assert lp.failed()  # already set while the error handler runs

    task = lp.start()
    await clock.settle()
    assert isinstance(outcome(task), ValueError)
    assert [type(e) for e in handled] == [ValueError]
    assert lp.failed()
    assert not lp.is_running()

    lp.start()
    assert not lp.failed()  # reset at once, not only when the task gets to run
    await clock.settle()
    assert not lp.failed()
    assert lp.is_running()
    assert len(attempts) == 2
    await shutdown(clock, lp)
    assert not lp.failed()  # a cancel is not a failure


async def test_failed_false_after_normal_end_and_stop(clock: FakeClock) -> None:
    @taskext.loop(seconds=1, count=2)
    async def lp() -> None:
        pass

    lp.start()
    await clock.advance(5)
    assert outcome(lp.get_task()) is None
    assert not lp.failed()

    lp.change_interval(seconds=1)
    lp.count = None
    lp.start()
    await clock.advance(3)
    lp.stop()
    await clock.settle()
    assert outcome(lp.get_task()) is None
    assert not lp.failed()


# --------------------------------------------------------------------------- 2. overlap errors


@pytest.mark.parametrize("overlap", [True, 3])
async def test_overlap_fatal_exception_reaches_error_handler(clock: FakeClock, overlap: bool | int) -> None:
    """py-cord only keeps overlapped runs in a set: their exceptions are never retrieved."""
    contexts = collect_loop_errors()
    handled: list[BaseException] = []
    starts: list[int] = []

    @taskext.loop(seconds=1, overlap=overlap)
    async def lp() -> None:
        n = len(starts)
        starts.append(n)
        await clock.sleep(2.5)  # runs overlap: each lasts 2.5 intervals
        if n == 2:
            raise ValueError(f"run {n} failed")

    @lp.error
    async def on_error(exc: BaseException) -> None:
        handled.append(exc)

    task = lp.start()
    await clock.advance(10)
    assert [str(e) for e in handled] == ["run 2 failed"]
    exc = outcome(task)
    assert isinstance(exc, ValueError)
    assert lp.failed()
    # The run failed at 4.5 s: runs 0..4 had started by then, none after.
    assert starts == [0, 1, 2, 3, 4]
    assert not lp._tasks  # the other runs in flight were cancelled, not orphaned
    handled.clear()
    del task, exc
    assert never_retrieved(contexts) == []
    asyncio.get_running_loop().set_exception_handler(None)


@pytest.mark.parametrize("overlap", [True, 3])
async def test_overlap_retryable_exception_is_retried_and_logged(
    clock: FakeClock, caplog: pytest.LogCaptureFixture, overlap: bool | int
) -> None:
    contexts = collect_loop_errors()
    handled: list[BaseException] = []
    calls: list[tuple[int, datetime]] = []

    @taskext.loop(seconds=10, overlap=overlap, backoff=FailDelay(first=1, maximum=8))
    async def lp() -> None:
        calls.append((lp.current_loop, clock.now()))
        await clock.sleep(3)
        if len(calls) == 2:
            raise OSError("network down")

    @lp.error
    async def on_error(exc: BaseException) -> None:
        handled.append(exc)

    with caplog.at_level(logging.WARNING, logger="taskext.loop"):
        lp.start()
        await clock.advance(35)
    # Run 1 started at 10 s and failed at 13 s; retried after the 1 s backoff.
    assert [(n, (t - START).total_seconds()) for n, t in calls] == [
        (0, 0.0),
        (1, 10.0),
        (1, 14.0),
        (2, 20.0),
        (3, 30.0),
    ]
    assert handled == []
    assert lp.is_running() and not lp.failed()
    records = retry_records(caplog)
    assert len(records) == 1
    assert "OSError" in records[0]
    assert_retry_logged(records[0], attempt=1, delay=1)
    await shutdown(clock, lp)
    assert never_retrieved(contexts) == []
    asyncio.get_running_loop().set_exception_handler(None)


async def test_overlap_stop_waits_for_runs_in_flight_and_reports_their_error(clock: FakeClock) -> None:
    """stop() must not return while an overlapped run is still going (and lose its error)."""
    events: list[tuple[str, float]] = []
    handled: list[BaseException] = []

    def at() -> float:
        return (clock.now() - START).total_seconds()

    @taskext.loop(seconds=10, overlap=True)
    async def lp() -> None:
        events.append(("run", at()))
        await clock.sleep(25)
        raise KeyError("late failure")

    @lp.error
    async def on_error(exc: BaseException) -> None:
        events.append(("error", at()))
        handled.append(exc)

    @lp.after_loop
    async def after() -> None:
        events.append(("after", at()))

    task = lp.start()
    await clock.advance(5)
    lp.stop()
    await clock.settle()
    assert not task.done()  # the run in flight is awaited
    await clock.advance(30)
    assert events == [("run", 0.0), ("error", 25.0), ("after", 25.0)]
    assert isinstance(outcome(task), KeyError)
    assert lp.failed()


async def test_overlap_retry_after_last_count_runs_before_after_loop(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    events: list[tuple[str, float]] = []

    def at() -> float:
        return (clock.now() - START).total_seconds()

    @taskext.loop(seconds=10, count=1, overlap=True, backoff=FailDelay(first=1, maximum=8))
    async def lp() -> None:
        events.append(("run", at()))
        await clock.sleep(5)
        if len(events) < 3:
            raise OSError("flaky")

    @lp.after_loop
    async def after() -> None:
        events.append(("after", at()))

    with caplog.at_level(logging.WARNING, logger="taskext.loop"):
        task = lp.start()
        await clock.advance(60)
    # 0: run fails at 5; retry at 6 fails at 11; retry at 13 succeeds at 18.
    assert events == [("run", 0.0), ("run", 6.0), ("run", 13.0), ("after", 18.0)]
    assert outcome(task) is None
    assert not lp.failed()
    assert len(retry_records(caplog)) == 2


# --------------------------------------------------------------------------- 3. early timers


class EarlyClock(FakeClock):
    """A FakeClock whose timers fire early: half-way to ``when`` until less than 1 ms remains.

    Models a real timer that wakes a little before its deadline, repeatedly.
    """

    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self.early_arms = 0

    def call_at(self, when: datetime, callback: Callable[[], object]) -> Timer:
        gap = when - self.now()
        if gap > timedelta(milliseconds=1):
            self.early_arms += 1
            when = self.now() + gap / 2
        return super().call_at(when, callback)


def _check_fires(fires: list[tuple[datetime, datetime]]) -> None:
    for index, (now, scheduled) in enumerate(fires):
        assert now >= scheduled, f"fire {index} ran at {now}, before its scheduled {scheduled}"
        if index:
            previous_scheduled = fires[index - 1][1]
            assert now > previous_scheduled
            assert scheduled > previous_scheduled, f"scheduled time {scheduled} fired twice"


async def test_early_timer_never_fires_a_time_of_day_twice() -> None:
    """A naive loop woken early computes "next time after now" = the same slot again."""
    early = EarlyClock(START)
    fires: list[tuple[datetime, datetime]] = []

    @taskext.loop(time=[time(6), time(18, 30)], clock=early)
    async def lp() -> None:
        assert lp.last_iteration is not None
        fires.append((early.now(), lp.last_iteration))

    lp.start()
    await early.advance(days=5)
    _check_fires(fires)
    expected = [
        START + timedelta(days=d, hours=h, minutes=m) for d in range(5) for h, m in ((6, 0), (18, 30))
    ]
    assert [scheduled for _, scheduled in fires] == expected
    assert [now for now, _ in fires] == expected  # no early run, no late run
    assert early.early_arms > 0  # the clock really did fire early
    await shutdown(early, lp)


async def test_early_timer_never_fires_an_interval_or_cron_slot_twice() -> None:
    early = EarlyClock(START)
    interval_fires: list[tuple[datetime, datetime]] = []
    cron_fires: list[tuple[datetime, datetime]] = []

    @taskext.loop(minutes=7, clock=early)
    async def every() -> None:
        assert every.last_iteration is not None
        interval_fires.append((early.now(), every.last_iteration))

    @taskext.loop(cron="*/15 * * * *", clock=early)
    async def cron() -> None:
        assert cron.last_iteration is not None
        cron_fires.append((early.now(), cron.last_iteration))

    every.start()
    cron.start()
    await early.advance(hours=3)
    _check_fires(interval_fires)
    _check_fires(cron_fires)
    assert [s for s, _ in interval_fires] == [START + timedelta(minutes=7 * k) for k in range(26)]
    assert [s for s, _ in cron_fires] == [START + timedelta(minutes=15 * k) for k in range(1, 13)]
    await shutdown(early, every, cron)


# --------------------------------------------------------------------------- 4. no drift


async def test_interval_stays_on_grid_over_10000_iterations(clock: FakeClock) -> None:
    """Run k is at start + k * interval even though every body takes time.

    A naive ``await sleep(interval)`` after the body drifts by the body's duration each run.
    """
    period = timedelta(seconds=1.5)
    offsets: list[timedelta] = []
    scheduled: list[datetime | None] = []

    @taskext.loop(seconds=1.5, count=10_000)
    async def lp() -> None:
        offsets.append(clock.now() - START)
        scheduled.append(lp.last_iteration)
        await clock.sleep(0.4)  # the body takes a while

    task = lp.start()
    await clock.run_until(task.done)
    assert outcome(task) is None
    assert len(offsets) == 10_000
    bad = [k for k, off in enumerate(offsets) if off != k * period]
    assert bad == [], f"first off-grid run: {bad[:1]} at {offsets[bad[0]] if bad else None}"
    assert all(s == START + k * period for k, s in enumerate(scheduled))
    # after_loop comes right after the last body: no extra sleep.
    assert clock.now() == START + 9_999 * period + timedelta(seconds=0.4)


async def test_slow_body_coalesces_missed_slots_and_keeps_the_grid(clock: FakeClock) -> None:
    """py-cord re-anchors the schedule at the end of a late run (``_next_iteration = now``)."""
    runs: list[tuple[float, float | None, int]] = []

    @taskext.loop(seconds=10)
    async def lp() -> None:
        last = lp.last_iteration
        runs.append(
            (
                (clock.now() - START).total_seconds(),
                (last - START).total_seconds() if last else None,
                lp.current_loop,
            )
        )
        if len(runs) == 1:
            await clock.sleep(25)  # 2.5 intervals: the 10 s and 20 s slots are missed

    lp.start()
    await clock.advance(55)
    assert runs == [
        (0.0, 0.0, 0),
        (25.0, 20.0, 1),  # ONE catch-up run for the missed slots, at once
        (30.0, 30.0, 2),  # back on the original grid
        (40.0, 40.0, 3),
        (50.0, 50.0, 4),
    ]
    await shutdown(clock, lp)


# --------------------------------------------------------------------------- 5. mixed zones


async def test_time_list_mixing_zoneinfo_and_utc(clock: FakeClock) -> None:
    """py-cord raises TypeError while sorting such a list (naive vs aware time compare)."""
    berlin = ZoneInfo("Europe/Berlin")
    fires: list[datetime] = []

    @taskext.loop(time=[time(12), time(9, tzinfo=berlin), time(9, tzinfo=UTC), time(6, tzinfo=NEW_YORK)])
    async def lp() -> None:
        fires.append(clock.now())

    assert lp.time is not None and len(lp.time) == 4
    lp.start()
    await clock.advance(days=2)
    # January: Berlin is UTC+1, New York UTC-5.
    day = [timedelta(hours=8), timedelta(hours=9), timedelta(hours=11), timedelta(hours=12)]
    assert fires == [START + timedelta(days=d) + t for d in range(2) for t in day]
    await shutdown(clock, lp)


# --------------------------------------------------------------------------- 6. DST


async def test_dst_fall_back_day_fires_once() -> None:
    clock = FakeClock(datetime(2026, 10, 30, 12, tzinfo=UTC))
    fires: list[datetime] = []
    ambiguous: list[datetime] = []

    @taskext.loop(time=time(2, 30, tzinfo=NEW_YORK), clock=clock)
    async def lp() -> None:
        fires.append(clock.now())

    # 01:30 happens twice on 2026-11-01: it fires once, at its first occurrence.
    @taskext.loop(time=time(1, 30), tz="America/New_York", clock=clock)
    async def early_morning() -> None:
        ambiguous.append(clock.now())

    lp.start()
    early_morning.start()
    await clock.advance_to(datetime(2026, 11, 3, 5, tzinfo=UTC))
    local = [f.astimezone(NEW_YORK) for f in fires]
    assert [f.date().isoformat() for f in local] == ["2026-10-31", "2026-11-01", "2026-11-02"]
    assert all((f.hour, f.minute) == (2, 30) for f in local)
    assert fires[1] == datetime(2026, 11, 1, 7, 30, tzinfo=UTC)  # 02:30 EST
    assert [a.isoformat() for a in ambiguous] == [
        "2026-10-31T05:30:00+00:00",
        "2026-11-01T05:30:00+00:00",  # 01:30 EDT, the first of the two
        "2026-11-02T06:30:00+00:00",
    ]
    await shutdown(clock, lp, early_morning)


async def test_dst_spring_forward_day_fires_at_end_of_gap() -> None:
    clock = FakeClock(datetime(2026, 3, 6, 12, tzinfo=UTC))
    fires: list[datetime] = []

    @taskext.loop(time=time(2, 30, tzinfo=NEW_YORK), clock=clock)
    async def lp() -> None:
        fires.append(clock.now())

    lp.start()
    await clock.advance_to(datetime(2026, 3, 10, 5, tzinfo=UTC))
    local = [f.astimezone(NEW_YORK).isoformat() for f in fires]
    assert local == [
        "2026-03-07T02:30:00-05:00",
        "2026-03-08T03:00:00-04:00",  # 02:30 does not exist: fires when the gap ends
        "2026-03-09T02:30:00-04:00",
    ]
    await shutdown(clock, lp)


async def test_fixed_offset_tzinfo_is_honoured(clock: FakeClock) -> None:
    ist = timezone(timedelta(hours=5, minutes=30))
    fires: list[datetime] = []
    naive_in_tz: list[datetime] = []

    @taskext.loop(time=time(9, tzinfo=ist))
    async def lp() -> None:
        fires.append(clock.now())

    @taskext.loop(time=time(9), tz="-03:00")
    async def other() -> None:
        naive_in_tz.append(clock.now())

    lp.start()
    other.start()
    await clock.advance(days=2)
    assert fires == [START + timedelta(days=d, hours=3, minutes=30) for d in range(2)]
    assert naive_in_tz == [START + timedelta(days=d, hours=12) for d in range(2)]
    await shutdown(clock, lp, other)


# --------------------------------------------------------------------------- 7. stop / cancel / restart


async def test_stop_in_body_ends_at_once_without_sleeping(clock: FakeClock) -> None:
    """py-cord sleeps until the next iteration before it notices stop()."""
    events: list[tuple[str, float]] = []

    def at() -> float:
        return (clock.now() - START).total_seconds()

    @taskext.loop(seconds=100)
    async def lp() -> None:
        events.append(("run", at()))
        if len(events) == 2:
            lp.stop()
            assert lp.next_iteration is None

    @lp.after_loop
    async def after() -> None:
        events.append(("after", at()))

    task = lp.start()
    await clock.advance(100)
    assert task.done()
    assert events == [("run", 0.0), ("run", 100.0), ("after", 100.0)]
    assert clock.pending() == []  # nothing left armed
    await clock.advance(1000)
    assert len(events) == 3
    assert outcome(task) is None


async def test_stop_while_sleeping_ends_at_once(clock: FakeClock) -> None:
    events: list[tuple[str, float]] = []

    @taskext.loop(hours=1)
    async def lp() -> None:
        events.append(("run", (clock.now() - START).total_seconds()))

    @lp.after_loop
    async def after() -> None:
        events.append(("after", (clock.now() - START).total_seconds()))

    task = lp.start()
    await clock.advance(60)
    lp.stop()
    await clock.settle()
    assert task.done()
    assert events == [("run", 0.0), ("after", 60.0)]
    assert outcome(task) is None


async def test_stop_in_before_loop_prevents_first_run(clock: FakeClock) -> None:
    """py-cord runs the body once (and sleeps an interval) after a stop() in before_loop."""
    events: list[str] = []

    @taskext.loop(seconds=5)
    async def lp() -> None:
        events.append("run")

    @lp.before_loop
    async def before() -> None:
        events.append("before")
        lp.stop()

    @lp.after_loop
    async def after() -> None:
        events.append("after")

    task = lp.start()
    await clock.settle()
    assert task.done()
    assert events == ["before", "after"]
    assert outcome(task) is None


async def test_cancel_then_start_at_once(clock: FakeClock) -> None:
    """py-cord's start() raises RuntimeError: the cancelled task is not done yet."""
    events: list[str] = []

    @taskext.loop(seconds=10)
    async def lp() -> None:
        events.append(f"run{lp.current_loop}")

    @lp.before_loop
    async def before() -> None:
        events.append("before")

    @lp.after_loop
    async def after() -> None:
        events.append(f"after(cancelled={lp.is_being_cancelled()})")

    first = lp.start()
    await clock.advance(10)
    lp.cancel()
    second = lp.start()  # no RuntimeError
    assert second is not first
    assert lp.get_task() is second
    await clock.settle()
    assert first.cancelled()
    assert lp.is_running()
    # The old run finishes its cleanup before the new one begins.
    assert events == ["before", "run0", "run1", "after(cancelled=True)", "before", "run0"]
    await shutdown(clock, lp)


async def test_start_while_running_still_raises(clock: FakeClock) -> None:
    @taskext.loop(seconds=10)
    async def lp() -> None:
        pass

    lp.start()
    with pytest.raises(RuntimeError):
        lp.start()
    lp.stop()
    with pytest.raises(RuntimeError):  # stop() is graceful: the task is not done yet
        lp.start()
    await clock.settle()
    outcome(lp.get_task())


async def test_restart_starts_a_stopped_or_never_started_loop(clock: FakeClock) -> None:
    """py-cord's restart() does nothing unless the task is running."""
    runs: list[str] = []

    @taskext.loop(seconds=10, count=1)
    async def lp(tag: str) -> None:
        runs.append(tag)

    lp.restart("a")  # never started
    await clock.settle()
    assert runs == ["a"]
    assert not lp.is_running()
    lp.restart("b")  # finished (count reached)
    await clock.settle()
    assert runs == ["a", "b"]
    outcome(lp.get_task())


async def test_restart_of_running_loop(clock: FakeClock) -> None:
    events: list[str] = []

    @taskext.loop(seconds=10)
    async def lp() -> None:
        events.append("run")

    @lp.after_loop
    async def after() -> None:
        events.append("after")

    first = lp.start()
    await clock.advance(5)
    lp.restart()
    await clock.settle()
    assert first.cancelled()
    assert lp.get_task() is not first and lp.is_running()
    assert events == ["run", "after", "run"]
    await shutdown(clock, lp)


# --------------------------------------------------------------------------- 8. reconnect


def _transient_errors() -> list[Any]:
    return [
        pytest.param(lambda: discord.DiscordServerError(FakeResponse(503), "unavailable"), id="5xx"),
        pytest.param(lambda: discord.HTTPException(FakeResponse(429), "slow down"), id="429"),
        pytest.param(lambda: OSError("connection reset"), id="OSError"),
        pytest.param(lambda: asyncio.TimeoutError(), id="timeout"),
    ]


@pytest.mark.parametrize("make_error", _transient_errors())
async def test_transient_errors_are_retried_with_logged_backoff(
    clock: FakeClock, caplog: pytest.LogCaptureFixture, make_error: Callable[[], Exception]
) -> None:
    """py-cord only retries network errors; a 5xx or 429 HTTPException kills its loop."""
    calls: list[float] = []

    @taskext.loop(minutes=1, backoff=FailDelay(first=1, maximum=8))
    async def lp() -> None:
        calls.append((clock.now() - START).total_seconds())
        if len(calls) <= 2:
            raise make_error()

    with caplog.at_level(logging.WARNING, logger="taskext.loop"):
        lp.start()
        await clock.advance(61)
    assert calls == [0.0, 1.0, 3.0, 60.0]  # backoff 1 s, then 2 s; the grid is kept
    records = retry_records(caplog)
    assert len(records) == 2
    assert_retry_logged(records[0], attempt=1, delay=1)
    assert_retry_logged(records[1], attempt=2, delay=2)
    assert lp.is_running() and not lp.failed()
    await shutdown(clock, lp)


@pytest.mark.parametrize("status", [400, 403, 404])
async def test_client_http_errors_are_fatal(clock: FakeClock, status: int) -> None:
    handled: list[BaseException] = []

    @taskext.loop(seconds=10, backoff=FailDelay(first=1, maximum=8))
    async def lp() -> None:
        raise discord.HTTPException(FakeResponse(status), "nope")

    @lp.error
    async def on_error(exc: BaseException) -> None:
        handled.append(exc)

    task = lp.start()
    await clock.advance(5)
    assert len(handled) == 1
    assert isinstance(outcome(task), discord.HTTPException)
    assert lp.failed()


async def test_max_retries_bounds_consecutive_failures(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[float] = []
    handled: list[BaseException] = []

    @taskext.loop(seconds=100, max_retries=3, backoff=FailDelay(first=1, maximum=8))
    async def lp() -> None:
        calls.append((clock.now() - START).total_seconds())
        raise discord.DiscordServerError(FakeResponse(502), "bad gateway")

    @lp.error
    async def on_error(exc: BaseException) -> None:
        handled.append(exc)

    with caplog.at_level(logging.WARNING, logger="taskext.loop"):
        task = lp.start()
        await clock.advance(50)
    assert calls == [0.0, 1.0, 3.0, 7.0]  # max_retries + 1 attempts
    assert len(handled) == 1 and isinstance(handled[0], discord.DiscordServerError)
    assert isinstance(outcome(task), discord.DiscordServerError)
    assert lp.failed()
    records = retry_records(caplog)
    for attempt, (message, delay) in enumerate(zip(records, [1, 2, 4], strict=True), start=1):
        assert_retry_logged(message, attempt, delay)
        assert f"{attempt} of 3" in message


async def test_max_retries_zero_means_no_retry(clock: FakeClock) -> None:
    calls: list[int] = []

    @taskext.loop(seconds=10, max_retries=0, backoff=FailDelay(first=1, maximum=8))
    async def lp() -> None:
        calls.append(1)
        raise OSError("down")

    @lp.error
    async def on_error(exc: BaseException) -> None:
        pass

    task = lp.start()
    await clock.advance(30)
    assert calls == [1]
    assert isinstance(outcome(task), OSError)


async def test_backoff_and_attempts_reset_after_success(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    plan = {0: 2, 1: 1, 2: 2}  # iteration -> failures before it succeeds
    failures: dict[int, int] = {}

    @taskext.loop(seconds=100, max_retries=2, backoff=FailDelay(first=1, maximum=8))
    async def lp() -> None:
        n = lp.current_loop
        if failures.get(n, 0) < plan.get(n, 0):
            failures[n] = failures.get(n, 0) + 1
            raise OSError(f"iteration {n}")

    with caplog.at_level(logging.WARNING, logger="taskext.loop"):
        lp.start()
        await clock.advance(250)
    # Each iteration is within max_retries=2, so the loop survives 5 failures in all.
    assert lp.is_running() and not lp.failed()
    assert failures == plan
    records = retry_records(caplog)
    attempts = [int(re.search(r"attempt (\d+)", m).group(1)) for m in records]  # type: ignore[union-attr]
    assert attempts == [1, 2, 1, 1, 2]
    for message, attempt, delay in zip(records, attempts, [1, 2, 1, 1, 2], strict=True):
        assert_retry_logged(message, attempt, delay)
    await shutdown(clock, lp)


async def test_reconnect_false_and_removed_types_are_fatal(clock: FakeClock) -> None:
    @taskext.loop(seconds=10, reconnect=False)
    async def no_reconnect() -> None:
        raise OSError("down")

    @taskext.loop(seconds=10, backoff=FailDelay(first=1, maximum=8))
    async def no_http() -> None:
        raise discord.HTTPException(FakeResponse(429), "slow down")

    assert no_http.remove_exception_type(discord.DiscordServerError)  # also drops 429
    for lp in (no_reconnect, no_http):

        @lp.error
        async def quiet(exc: BaseException) -> None:
            pass

    t1, t2 = no_reconnect.start(), no_http.start()
    await clock.advance(5)
    assert isinstance(outcome(t1), OSError)
    assert isinstance(outcome(t2), discord.HTTPException)


async def test_stop_during_backoff_ends_the_loop(clock: FakeClock) -> None:
    calls: list[float] = []

    @taskext.loop(seconds=10, backoff=FailDelay(first=5, maximum=8))
    async def lp() -> None:
        calls.append((clock.now() - START).total_seconds())
        raise OSError("down")

    task = lp.start()
    await clock.advance(2)
    lp.stop()
    await clock.settle()
    assert task.done() and outcome(task) is None
    assert calls == [0.0]


async def test_change_interval_does_not_cut_a_backoff_short(clock: FakeClock) -> None:
    calls: list[float] = []

    @taskext.loop(seconds=100, backoff=FailDelay(first=50, maximum=50))
    async def lp() -> None:
        calls.append((clock.now() - START).total_seconds())
        if len(calls) == 2:
            raise OSError("down")

    lp.start()
    await clock.advance(110)  # run at 0, run at 100 fails; retry due at 150
    lp.change_interval(seconds=200)
    await clock.advance(30)
    assert calls == [0.0, 100.0]
    await clock.advance(20)
    assert calls == [0.0, 100.0, 150.0]
    await shutdown(clock, lp)


# --------------------------------------------------------------------------- 9. CancelledError


@NEEDS_CANCELLING
async def test_cancelled_error_from_inside_body_does_not_kill_loop(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """discord.py #9074: a CancelledError that is not a cancel of the loop ends it."""
    runs: list[int] = []
    after: list[str] = []

    @taskext.loop(seconds=10)
    async def lp() -> None:
        runs.append(lp.current_loop)
        if lp.current_loop == 1:
            # e.g. awaiting a future that some other code cancelled
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            future.cancel()
            await future
        if lp.current_loop == 2:
            raise asyncio.CancelledError()

    @lp.after_loop
    async def after_loop() -> None:
        after.append("after")

    with caplog.at_level(logging.WARNING, logger="taskext.loop"):
        lp.start()
        await clock.advance(35)
    assert runs == [0, 1, 2, 3]
    assert lp.is_running() and after == []
    warnings = [r for r in caplog.records if r.name == "taskext.loop" and "CancelledError" in r.getMessage()]
    assert len(warnings) == 2
    await shutdown(clock, lp)
    assert after == ["after"]


@pytest.mark.parametrize("how", ["loop.cancel", "task.cancel"])
@pytest.mark.parametrize("where", ["body", "sleep"])
async def test_real_cancel_still_stops_the_loop(clock: FakeClock, how: str, where: str) -> None:
    runs: list[int] = []
    after: list[bool] = []

    @taskext.loop(seconds=10)
    async def lp() -> None:
        runs.append(1)
        await clock.sleep(5)

    @lp.after_loop
    async def after_loop() -> None:
        after.append(lp.is_being_cancelled())

    task = lp.start()
    await clock.advance(2 if where == "body" else 7)
    if how == "loop.cancel":
        lp.cancel()
    else:
        task.cancel()
    await clock.settle()
    assert task.cancelled()
    assert after == [True]
    await clock.advance(100)
    assert runs == [1]


# --------------------------------------------------------------------------- 10. class-level exception types


async def test_add_exception_type_on_class_loop_applies_to_instances(clock: FakeClock) -> None:
    """py-cord's __get__ copy starts from the default exception types."""

    class FlakyError(Exception):
        pass

    class Reporter:
        def __init__(self) -> None:
            self.calls: list[float] = []

        @taskext.loop(seconds=60, backoff=FailDelay(first=1, maximum=8))
        async def report(self) -> None:
            self.calls.append((clock.now() - START).total_seconds())
            if len(self.calls) == 1:
                raise FlakyError

    Reporter.report.add_exception_type(FlakyError)
    first, second = Reporter(), Reporter()
    first.report.start()
    second.report.start()
    await clock.advance(5)
    assert first.calls == [0.0, 1.0]
    assert second.calls == [0.0, 1.0]
    assert first.report.is_running() and second.report.is_running()
    await shutdown(clock, first.report, second.report)


# --------------------------------------------------------------------------- descriptor and names


class Greeter:
    def __init__(self, label: str) -> None:
        self.label = label
        self.seen: list[str] = []

    @taskext.loop(seconds=10)
    async def greet(self) -> None:
        self.seen.append(self.label)

    @taskext.loop(seconds=10, name="custom-name")
    async def named(self) -> None:
        pass


class LoudGreeter(Greeter):
    pass


class GreeterCog(discord.Cog, name="Greetings"):
    @taskext.loop(seconds=10)
    async def greet(self) -> None:
        pass


def test_class_access_returns_the_class_loop() -> None:
    loop_obj = Greeter.__dict__["greet"]
    assert Greeter.greet is loop_obj
    assert isinstance(loop_obj, Loop)
    assert loop_obj.name == "Greeter.greet"


async def test_each_instance_has_its_own_loop(clock: FakeClock) -> None:
    a, b = Greeter("a"), Greeter("b")
    assert a.greet is not b.greet
    assert a.greet is a.greet  # cached on the instance
    assert a.greet is not Greeter.greet
    a.greet.start()
    await clock.settle()
    assert a.greet.is_running() and not b.greet.is_running()
    assert a.seen == ["a"] and b.seen == []
    b.greet.start()
    await clock.advance(10)
    assert a.seen == ["a", "a"] and b.seen == ["b", "b"]
    await shutdown(clock, a.greet, b.greet)


def test_default_and_explicit_names() -> None:
    assert Greeter("x").greet.name == "Greeter.greet"
    assert LoudGreeter("x").greet.name == "LoudGreeter.greet"
    assert GreeterCog().greet.name == "Greetings.greet"  # the cog's name
    assert Greeter.named.name == "custom-name"
    assert Greeter("x").named.name == "custom-name"  # explicit name= wins
    assert taskext.loop(seconds=1)(module_level_body).name == "module_level_body"
    assert taskext.loop(seconds=1, name="job")(module_level_body).name == "job"


async def test_descriptor_copies_settings(clock: FakeClock) -> None:
    class Cog:
        @taskext.loop(minutes=5, count=3, overlap=2, jitter=1.5, max_retries=4, reconnect=False)
        async def job(self) -> None:
            pass

        @job.before_loop
        async def before(self) -> None:
            pass

    copy = Cog().job
    original = Cog.job
    assert (copy.minutes, copy.count, copy.overlap, copy.jitter, copy.max_retries, copy.reconnect) == (
        5.0,
        3,
        2,
        1.5,
        4,
        False,
    )
    assert copy.backoff is original.backoff
    assert copy._before_loop is original._before_loop


# --------------------------------------------------------------------------- cron and tz


async def test_cron_loop_fires_on_the_right_instants(clock: FakeClock) -> None:
    fires: list[datetime] = []

    @taskext.loop(cron="*/15 * * * *")
    async def lp() -> None:
        fires.append(clock.now())

    assert lp.cron == "*/15 * * * *"
    assert (lp.seconds, lp.minutes, lp.hours, lp.time) == (None, None, None, None)
    await clock.advance(minutes=7)
    lp.start()
    await clock.settle()
    assert lp.next_iteration == START + timedelta(minutes=15)
    await clock.advance(minutes=55)
    assert fires == [START + timedelta(minutes=m) for m in (15, 30, 45, 60)]
    await shutdown(clock, lp)


async def test_cron_with_tz_weekdays(clock: FakeClock) -> None:
    fires: list[datetime] = []

    @taskext.loop(cron="0 9 * * MON-FRI", tz="America/New_York")
    async def lp() -> None:
        fires.append(clock.now())

    assert lp.tz == NEW_YORK
    lp.start()
    await clock.advance_to(datetime(2026, 1, 8, tzinfo=UTC))
    # Thu 1, Fri 2, Mon 5, Tue 6, Wed 7 January at 09:00 EST (14:00 UTC).
    assert fires == [datetime(2026, 1, d, 14, tzinfo=UTC) for d in (1, 2, 5, 6, 7)]
    await shutdown(clock, lp)


async def test_time_with_tz_reads_naive_times_in_zone(clock: FakeClock) -> None:
    fires: list[datetime] = []

    @taskext.loop(time=[time(9), time(21)], tz="Asia/Kolkata")
    async def lp() -> None:
        fires.append(clock.now())

    assert lp.time == [time(9, tzinfo=ZoneInfo("Asia/Kolkata")), time(21, tzinfo=ZoneInfo("Asia/Kolkata"))]
    lp.start()
    await clock.advance(days=1)
    assert fires == [START + timedelta(hours=3, minutes=30), START + timedelta(hours=15, minutes=30)]
    await shutdown(clock, lp)


# --------------------------------------------------------------------------- jitter


async def test_jitter_keeps_each_fire_before_the_next_slot(clock: FakeClock) -> None:
    fires: list[tuple[datetime, datetime]] = []

    @taskext.loop(seconds=10, jitter=30)  # jitter larger than the interval is capped
    async def lp() -> None:
        assert lp.last_iteration is not None
        fires.append((clock.now(), lp.last_iteration))

    lp.start()
    await clock.advance(2000)
    assert len(fires) >= 199
    assert fires[0] == (START, START)  # the first interval run is at once
    for k, (now, scheduled) in enumerate(fires):
        assert scheduled == START + k * timedelta(seconds=10)
        assert scheduled <= now < scheduled + timedelta(seconds=10)
    assert any(now > scheduled for now, scheduled in fires)  # jitter is really applied
    await shutdown(clock, lp)


async def test_jitter_on_times_of_day(clock: FakeClock) -> None:
    fires: list[tuple[datetime, datetime]] = []

    @taskext.loop(time=[time(6), time(6, 1)], jitter=600)
    async def lp() -> None:
        assert lp.last_iteration is not None
        fires.append((clock.now(), lp.last_iteration))

    lp.start()
    await clock.advance(days=20)
    assert len(fires) == 40
    schedule = lp.schedule
    assert schedule is not None
    for now, scheduled in fires:
        assert scheduled <= now < schedule.next_after(scheduled)
        assert now - scheduled <= timedelta(seconds=600)
    await shutdown(clock, lp)


async def test_next_iteration_includes_jitter(clock: FakeClock) -> None:
    @taskext.loop(minutes=10, jitter=60)
    async def lp() -> None:
        pass

    lp.start()
    await clock.settle()
    nxt = lp.next_iteration
    assert nxt is not None
    assert START + timedelta(minutes=10) <= nxt < START + timedelta(minutes=11)
    await clock.advance_to(nxt - timedelta(microseconds=1))
    assert lp.last_iteration == START
    await clock.advance_to(nxt)
    assert lp.last_iteration == START + timedelta(minutes=10)
    await shutdown(clock, lp)


# --------------------------------------------------------------------------- count


async def test_count_runs_exactly_and_after_loop_follows_at_once(clock: FakeClock) -> None:
    """py-cord sleeps one more interval after the last run before calling after_loop."""
    events: list[tuple[str, float, int]] = []

    @taskext.loop(seconds=10, count=3)
    async def lp() -> None:
        events.append(("run", (clock.now() - START).total_seconds(), lp.current_loop))

    @lp.after_loop
    async def after() -> None:
        events.append(("after", (clock.now() - START).total_seconds(), lp.current_loop))

    task = lp.start()
    await clock.run_until(task.done)
    # In after_loop current_loop equals count, as in py-cord.
    assert events == [("run", 0.0, 0), ("run", 10.0, 1), ("run", 20.0, 2), ("after", 20.0, 3)]
    assert clock.now() == START + timedelta(seconds=20)
    assert outcome(task) is None
    assert lp.current_loop == 0
    assert lp.next_iteration is None


# --------------------------------------------------------------------------- change_interval


async def test_change_interval_while_sleeping_replans_from_last_iteration(clock: FakeClock) -> None:
    fires: list[float] = []

    @taskext.loop(seconds=100)
    async def lp() -> None:
        fires.append((clock.now() - START).total_seconds())

    lp.start()
    await clock.advance(10)
    lp.change_interval(seconds=30)
    assert lp.seconds == 30
    assert lp.next_iteration == START + timedelta(seconds=30)
    await clock.advance(60)
    assert fires == [0.0, 30.0, 60.0]

    # Shorter than the time already waited: the due run happens at once, on the new grid.
    await clock.advance(15)  # now 85, last iteration 60
    lp.change_interval(seconds=10)
    await clock.settle()
    assert fires == [0.0, 30.0, 60.0, 85.0]
    assert lp.last_iteration == START + timedelta(seconds=80)
    await clock.advance(5)
    assert fires[-1] == 90.0
    await shutdown(clock, lp)


async def test_change_interval_to_time_and_cron(clock: FakeClock) -> None:
    fires: list[datetime] = []

    @taskext.loop(hours=1)
    async def lp() -> None:
        fires.append(clock.now())

    lp.start()
    await clock.advance(60)
    lp.change_interval(time=time(12))
    assert lp.time == [time(12, tzinfo=UTC)] and lp.seconds is None
    assert lp.next_iteration == START + timedelta(hours=12)
    await clock.advance(hours=13)
    assert fires == [START, START + timedelta(hours=12)]
    lp.change_interval(cron="30 * * * *")
    assert lp.cron == "30 * * * *"
    await clock.advance(hours=1)
    assert fires[-1] == START + timedelta(hours=13, minutes=30)
    await shutdown(clock, lp)


async def test_change_interval_after_restart_uses_no_stale_last_iteration(clock: FakeClock) -> None:
    fires: list[datetime] = []

    @taskext.loop(time=time(12))
    async def lp() -> None:
        fires.append(clock.now())

    lp.start()
    await clock.advance(hours=13)
    await shutdown(clock, lp)
    await clock.advance(hours=17)  # now 2026-01-02 06:00
    lp.start()
    await clock.settle()
    lp.change_interval(time=time(13))
    await clock.settle()
    assert fires == [START + timedelta(hours=12)]  # no immediate run
    assert lp.next_iteration == START + timedelta(days=1, hours=13)
    await clock.advance(hours=8)
    assert fires[-1] == START + timedelta(days=1, hours=13)
    await shutdown(clock, lp)


# --------------------------------------------------------------------------- next_iteration / current_loop


async def test_next_iteration_values(clock: FakeClock) -> None:
    inside: list[datetime | None] = []

    @taskext.loop(seconds=30)
    async def lp() -> None:
        inside.append(lp.next_iteration)

    assert lp.next_iteration is None  # not started
    lp.start()
    await clock.settle()
    assert inside == [START + timedelta(seconds=30)]  # inside the body: the following run
    assert lp.next_iteration == START + timedelta(seconds=30)
    assert lp.next_iteration.tzinfo is not None
    await clock.advance(30)
    assert inside[-1] == START + timedelta(seconds=60)
    lp.stop()
    assert lp.next_iteration is None  # stopping
    await clock.settle()
    assert lp.next_iteration is None  # stopped
    outcome(lp.get_task())


async def test_next_iteration_of_time_loop_before_first_run(clock: FakeClock) -> None:
    @taskext.loop(time=[time(18), time(6)])
    async def lp() -> None:
        pass

    lp.start()
    await clock.settle()
    assert lp.next_iteration == START + timedelta(hours=6)
    await clock.advance(hours=6)
    assert lp.next_iteration == START + timedelta(hours=18)
    await shutdown(clock, lp)


async def test_current_loop_values(clock: FakeClock) -> None:
    inside: list[int] = []

    @taskext.loop(seconds=5, count=4)
    async def lp() -> None:
        inside.append(lp.current_loop)
        await clock.sleep(1)
        inside.append(lp.current_loop)  # unchanged across awaits

    assert lp.current_loop == 0
    lp.start()
    await clock.advance(30)
    assert inside == [0, 0, 1, 1, 2, 2, 3, 3]
    assert lp.current_loop == 0
    outcome(lp.get_task())


async def test_current_loop_per_overlapped_run(clock: FakeClock) -> None:
    seen: list[tuple[int, int]] = []

    @taskext.loop(seconds=1, overlap=True, count=3)
    async def lp() -> None:
        start = lp.current_loop
        await clock.sleep(2.5)
        seen.append((start, lp.current_loop))

    lp.start()
    await clock.advance(10)
    assert sorted(seen) == [(0, 0), (1, 1), (2, 2)]
    outcome(lp.get_task())


# --------------------------------------------------------------------------- misc behaviour


async def test_awaiting_the_loop_calls_the_body_once(clock: FakeClock) -> None:
    calls: list[tuple[Any, ...]] = []

    @taskext.loop(seconds=1)
    async def lp(*args: Any, **kwargs: Any) -> str:
        calls.append((args, kwargs))
        return "done"

    assert await lp(1, x=2) == "done"
    assert calls == [((1,), {"x": 2})]
    assert not lp.is_running() and lp.get_task() is None

    g = Greeter("me")
    await g.greet()
    assert g.seen == ["me"]


async def test_start_passes_arguments(clock: FakeClock) -> None:
    seen: list[tuple[Any, ...]] = []

    @taskext.loop(seconds=1, count=2)
    async def lp(a: int, *, b: str) -> None:
        seen.append((a, b))

    lp.start(1, b="x")
    await clock.advance(2)
    assert seen == [(1, "x"), (1, "x")]
    outcome(lp.get_task())


async def test_clock_argument_wins_over_default(clock: FakeClock) -> None:
    other = FakeClock(START + timedelta(days=100))
    fires: list[datetime] = []

    @taskext.loop(seconds=10, clock=other, count=2)
    async def lp() -> None:
        fires.append(other.now())

    assert lp.clock is other
    lp.start()
    await clock.advance(100)  # the default clock does not drive it
    assert fires == [other.now()]
    await other.advance(10)
    assert len(fires) == 2
    outcome(lp.get_task())


async def test_default_error_handler_logs(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    @taskext.loop(seconds=1)
    async def lp() -> None:
        raise RuntimeError("kaput")

    with caplog.at_level(logging.ERROR, logger="taskext.loop"):
        task = lp.start()
        await clock.settle()
    assert isinstance(outcome(task), RuntimeError)
    records = [r for r in caplog.records if r.name == "taskext.loop" and r.levelno == logging.ERROR]
    assert len(records) == 1
    assert "lp" in records[0].getMessage()
    assert records[0].exc_info is not None and records[0].exc_info[0] is RuntimeError


async def test_error_handler_in_cog_gets_self_and_exception(clock: FakeClock) -> None:
    class Cog:
        def __init__(self) -> None:
            self.errors: list[BaseException] = []

        @taskext.loop(seconds=1)
        async def job(self) -> None:
            raise LookupError("x")

        @job.error
        async def on_job_error(self, exc: BaseException) -> None:
            self.errors.append(exc)

    cog = Cog()
    task = cog.job.start()
    await clock.settle()
    assert [type(e) for e in cog.errors] == [LookupError]
    assert isinstance(outcome(task), LookupError)


async def test_zero_interval_loop_yields_to_others(clock: FakeClock) -> None:
    other: list[int] = []
    runs: list[int] = []

    @taskext.loop(seconds=0, count=200)
    async def lp() -> None:
        runs.append(1)

    async def neighbour() -> None:
        for _ in range(5):
            other.append(len(runs))
            await asyncio.sleep(0)

    task = lp.start()
    helper = asyncio.create_task(neighbour())
    await clock.settle()
    await helper
    assert len(runs) == 200 and task.done()
    assert other[0] < 200  # the neighbour ran while the loop was going
    assert clock.now() == START


async def test_use_clock_applies_at_start(clock: FakeClock) -> None:
    @taskext.loop(seconds=1)
    async def lp() -> None:
        pass

    later = FakeClock(START + timedelta(days=1))
    with use_clock(later):
        lp.start()
    assert lp.clock is later
    await shutdown(later, lp)


def test_properties() -> None:
    lp = taskext.loop(minutes=2, hours=1)(module_level_body)
    assert (lp.seconds, lp.minutes, lp.hours, lp.time, lp.cron) == (0.0, 2.0, 1.0, None, None)
    t = taskext.loop(time=[time(12), time(1), time(12)])(module_level_body)
    assert t.time == [time(1, tzinfo=UTC), time(12, tzinfo=UTC)]
    assert (t.seconds, t.minutes, t.hours) == (None, None, None)
    times = t.time
    times.append(time(3))
    assert t.time is not None and len(t.time) == 2  # a copy


def test_manager_options_are_accepted() -> None:
    lp = taskext.loop(seconds=1, misfire_grace=30, exclusive="g")(module_level_body)
    assert lp.options == {"misfire_grace": 30, "exclusive": "g"}


# --------------------------------------------------------------------------- misuse


def _sync_body() -> None:
    pass


MISUSE: list[Any] = [
    pytest.param({"seconds": 1, "count": 0}, ValueError, id="count=0"),
    pytest.param({"seconds": 1, "count": -3}, ValueError, id="count<0"),
    pytest.param({"seconds": -1}, ValueError, id="negative-interval"),
    pytest.param({"seconds": 5, "time": time(1)}, TypeError, id="time+seconds"),
    pytest.param({"time": []}, ValueError, id="empty-time"),
    pytest.param({"time": "12:00"}, TypeError, id="time-str"),
    pytest.param({"time": [time(1), 5]}, TypeError, id="time-list-bad-item"),
    pytest.param({"cron": "* * * * *", "time": time(1)}, TypeError, id="cron+time"),
    pytest.param({"cron": "* * * * *", "minutes": 1}, TypeError, id="cron+minutes"),
    pytest.param({"cron": "61 * * * *"}, ValueError, id="bad-cron"),
    pytest.param({"seconds": 1, "tz": "Mars/Base"}, ValueError, id="unknown-tz"),
    pytest.param({"seconds": 1, "overlap": 1}, ValueError, id="overlap=1"),
    pytest.param({"seconds": 1, "overlap": 0}, ValueError, id="overlap=0"),
    pytest.param({"seconds": 1, "overlap": -2}, ValueError, id="overlap<0"),
    pytest.param({"seconds": 1, "overlap": "2"}, TypeError, id="overlap-str"),
    pytest.param({"seconds": 1, "overlap": 2.5}, TypeError, id="overlap-float"),
    pytest.param({"seconds": 1, "jitter": -1}, ValueError, id="jitter<0"),
    pytest.param({"seconds": 1, "max_retries": -1}, ValueError, id="max_retries<0"),
    pytest.param({"seconds": 1, "backoff": 5}, TypeError, id="backoff-not-policy"),
    pytest.param({"seconds": 1, "name": " "}, ValueError, id="blank-name"),
]


@pytest.mark.parametrize(("kwargs", "error"), MISUSE)
def test_misuse_errors(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        taskext.loop(**kwargs)(module_level_body)


def test_misuse_errors_at_call_or_decoration() -> None:
    with pytest.raises(TypeError):
        taskext.loop(seconds=1, bogus=True)  # unknown keyword: at once, like py-cord
    with pytest.raises(TypeError):
        taskext.loop(seconds=1)(_sync_body)  # type: ignore[type-var]


@pytest.mark.parametrize("decorator", ["before_loop", "after_loop", "error"])
def test_hook_decorators_reject_non_coroutines(decorator: str) -> None:
    lp = taskext.loop(seconds=1)(module_level_body)
    with pytest.raises(TypeError):
        getattr(lp, decorator)(_sync_body)
    with pytest.raises(TypeError):
        getattr(lp, decorator)(lambda: None)


def test_change_interval_misuse() -> None:
    lp = taskext.loop(seconds=1)(module_level_body)
    with pytest.raises(TypeError):
        lp.change_interval(seconds=1, time=time(1))
    with pytest.raises(ValueError):
        lp.change_interval(seconds=-5)
    with pytest.raises(TypeError):
        lp.change_interval(cron="* * * * *", hours=1)


def test_exception_type_management() -> None:
    lp = taskext.loop(seconds=1)(module_level_body)
    with pytest.raises(TypeError):
        lp.add_exception_type(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        lp.add_exception_type(int)
    assert lp.add_exception_type(KeyError) is None
    assert lp.remove_exception_type(KeyError) is True
    assert lp.remove_exception_type(KeyError) is False
    assert lp.remove_exception_type(OSError, discord.DiscordServerError) is True
    lp.clear_exception_types()
    assert lp.remove_exception_type(asyncio.TimeoutError) is False


# --------------------------------------------------------------------------- real time (few, short)


async def test_system_clock_interval_on_grid_and_never_early() -> None:
    fires: list[tuple[datetime, datetime]] = []

    @taskext.loop(seconds=0.03, count=4, clock=SystemClock())
    async def lp() -> None:
        assert lp.last_iteration is not None
        fires.append((datetime.now(UTC), lp.last_iteration))

    began = real_time.monotonic()
    task = lp.start()
    await asyncio.wait_for(task, timeout=5)
    elapsed = real_time.monotonic() - began
    assert len(fires) == 4
    first = fires[0][1]
    assert [s for _, s in fires] == [first + k * timedelta(seconds=0.03) for k in range(4)]
    assert all(now >= scheduled for now, scheduled in fires)
    assert 0.08 <= elapsed < 2.0


async def test_system_clock_stop_is_prompt() -> None:
    @taskext.loop(seconds=30, clock=SystemClock())
    async def lp() -> None:
        pass

    task = lp.start()
    await asyncio.sleep(0.01)
    began = real_time.monotonic()
    lp.stop()
    await asyncio.wait_for(task, timeout=2)
    assert real_time.monotonic() - began < 0.5


def test_clock_is_abstract() -> None:
    with pytest.raises(TypeError):
        Clock()  # type: ignore[abstract]


# ---------------------------------------------------------------- late wake-ups (machine stalls)


async def stall(clock: FakeClock, seconds: float) -> None:
    """The process froze: time moved on without timers firing; then they fire, late."""
    clock._now += timedelta(seconds=seconds)
    await clock.advance(0)


@pytest.mark.parametrize(("stalled", "expected_slots"), [(2.5, [0, 1, 2, 3, 4, 5]), (7.5, [0, 1, 8])])
async def test_a_late_wake_up_catches_up_slot_by_slot_unless_the_backlog_is_long(
    stalled: float, expected_slots: list[int]
) -> None:
    clock = FakeClock()
    start = clock.now()
    scheduled: list[datetime] = []

    @taskext.loop(seconds=1, clock=clock)
    async def quick() -> None:
        assert quick.last_iteration is not None
        scheduled.append(quick.last_iteration)

    quick.start()
    await clock.advance(0.5)  # ran slot 0; the next timer is for slot 1
    await stall(clock, stalled)  # wakes at 3.0 (or 8.0) instead of 1.0
    await clock.advance_to(start + timedelta(seconds=expected_slots[-1], milliseconds=500))
    quick.cancel()
    await clock.settle()
    # A short stall: the missed slots run one by one, so the run count matches the grid.
    # A long one (over 4 periods): they coalesce into one run, as after an overrun.
    assert [round((t - start).total_seconds()) for t in scheduled] == expected_slots

"""The run engine behind :class:`taskext.Loop`: sleeping, planning, retries, overlap.

Kept apart from the public surface in :mod:`taskext.loop`. The engine reads the clock
once per wake-up and hands the instant to the pure schedules.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime
import functools
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import timedelta, timezone
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import discord

from .clock import Clock, Timer
from .retry import RetryPolicy
from .schedules import Interval, Schedule

if TYPE_CHECKING:
    from .registry import ManagerHooks

__all__ = ["NEVER", "LoopEngine"]

log = logging.getLogger("taskext.loop")

_func = Callable[..., Awaitable[Any]]
LF = TypeVar("LF", bound=_func)

current_loop_ctx: contextvars.ContextVar[int | None] = contextvars.ContextVar("taskext_current_loop", default=None)
UTC = timezone.utc
# What a task manager plans for a loop that must not run (disabled or paused).
NEVER = datetime.datetime(9999, 1, 1, tzinfo=UTC)

# After a late wake-up, missed slots up to this many periods behind run one by one.
CATCH_UP_PERIODS = 4

# Why a sleep ended: the timer fired, or the plan changed / the loop must react.
_TIMER = 1
_INTERRUPT = 2


def _wake(future: asyncio.Future[int], reason: int) -> None:
    if not future.done():
        future.set_result(reason)


def _is_transient_http(exc: BaseException) -> bool:
    """5xx and 429 answers from Discord are worth retrying, like network errors."""
    return isinstance(exc, discord.HTTPException) and (
        isinstance(exc, discord.DiscordServerError) or getattr(exc, "status", None) == 429
    )


class LoopEngine(Generic[LF]):
    """Run machinery shared by every :class:`~taskext.Loop` (attributes set by Loop)."""

    coro: LF
    reconnect: bool
    overlap: bool | int
    count: int | None
    jitter: float
    max_retries: int | None
    backoff: RetryPolicy
    manager: ManagerHooks | None
    _name: str
    _current_loop: int
    _task: asyncio.Task[None]
    _injected: Any
    _valid_exception: tuple[type[BaseException], ...]
    _before_loop: Callable[..., Awaitable[Any]] | None
    _after_loop: Callable[..., Awaitable[Any]] | None
    _before_loop_running: bool
    _after_loop_running: bool
    _is_being_cancelled: bool
    _cancel_requested: bool
    _has_failed: bool
    _stop_next_iteration: bool
    _tasks: set[asyncio.Task[Any]]
    _overlap_errors: list[tuple[int, BaseException]]
    _overlap_failures: int
    _sleeper: asyncio.Future[int] | None
    _rng: random.Random | None
    _body_started: datetime.datetime
    _running_clock: Clock
    _semaphore: asyncio.Semaphore | None
    _schedule: Schedule | None
    _last_iteration: datetime.datetime | None
    _next_iteration: datetime.datetime | None
    _wake_at: datetime.datetime | None

    def is_running(self) -> bool:
        raise NotImplementedError

    async def _call_loop_function(self, name: str, *args: Any, **kwargs: Any) -> None:
        coro = getattr(self, f"_{name}")
        if coro is None:
            return
        if name.endswith("_loop"):
            setattr(self, f"_{name}_running", True)
        try:
            if self._injected is not None:
                await coro(self._injected, *args, **kwargs)
            else:
                await coro(*args, **kwargs)
        finally:
            if name.endswith("_loop"):
                setattr(self, f"_{name}_running", False)

    def _interrupt(self) -> None:
        if self._sleeper is not None:
            _wake(self._sleeper, _INTERRUPT)

    async def _sleep_until(self, when: datetime.datetime) -> bool:
        """Sleep until ``when``; False if interrupted first. Never returns early."""
        clock = self._running_clock
        if clock.now() >= when:
            await asyncio.sleep(0)  # always yield, so overdue loops cannot starve others
            return True
        while True:
            future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            self._sleeper = future
            timer: Timer = clock.call_at(when, functools.partial(_wake, future, _TIMER))
            try:
                reason = await future
            finally:
                timer.cancel()
                self._sleeper = None
            if reason == _INTERRUPT:
                return False
            # A timer can fire a little before `when`: re-arm instead of running early.
            if clock.now() >= when:
                return True

    def _following(self, scheduled: datetime.datetime) -> datetime.datetime:
        schedule = self._schedule
        if schedule is None:
            return max(scheduled, self._running_clock.now())
        return schedule.next_after(scheduled)

    def _plan(self, scheduled: datetime.datetime) -> None:
        """Make ``scheduled`` the next iteration, with jitter bounded below the one after."""
        self._next_iteration = scheduled
        wake = scheduled
        if self.jitter > 0 and self._schedule is not None and scheduled < NEVER:
            gap = (self._schedule.next_after(scheduled) - scheduled).total_seconds()
            bound = min(self.jitter, gap * 0.999)
            if self._rng is None:  # made on first use: most loops have no jitter
                self._rng = random.Random()
            wake = scheduled + timedelta(seconds=self._rng.uniform(0.0, bound))
        self._wake_at = wake

    def _plan_first(self, now: datetime.datetime) -> None:
        schedule = self._schedule
        if schedule is None or isinstance(schedule, Interval):
            # Interval loops run at once, then on the grid start + k * interval.
            if isinstance(schedule, Interval):
                self._schedule = schedule.anchored(now)
            self._next_iteration = self._wake_at = now
        else:
            self._plan(schedule.next_after(now))

    def _plan_after_run(self, scheduled: datetime.datetime, now: datetime.datetime) -> None:
        """Plan the fire after ``scheduled`` (computed before the body, or re-planned since).

        Missed slots coalesce into one run now when the body overran its period or the
        backlog is long; after a late wake-up (the machine stalled) with a quick body, the
        few missed slots run one by one, so the run count keeps matching the grid.
        """
        following = self._next_iteration
        if following is None or following < scheduled:
            following = self._following(scheduled)
        schedule = self._schedule
        if schedule is not None and following <= now:
            period = following - scheduled
            overran = now - self._body_started >= period
            if overran or now - following > CATCH_UP_PERIODS * period:
                following = schedule.latest_at_or_before(following, now)
        self._plan(following)

    def _is_retryable(self, exc: BaseException) -> bool:
        return isinstance(exc, self._valid_exception) or (
            discord.DiscordServerError in self._valid_exception and _is_transient_http(exc)
        )

    def _cancel_is_ours(self) -> bool:
        if self._cancel_requested:
            return True
        task = asyncio.current_task()
        cancelling = getattr(task, "cancelling", None)
        # Before Python 3.11 an outside cancel cannot be told apart: honour it.
        return cancelling is None or cancelling() > 0

    async def _retry_wait(self, failures: int, exc: BaseException, iteration: int) -> None:
        delay = self.backoff.delay(failures)
        log.warning(
            "Loop %r: iteration %d failed with %s: %s; retry attempt %d%s in %.2fs",
            self._name,
            iteration,
            type(exc).__name__,
            exc,
            failures,
            f" of {self.max_retries}" if self.max_retries is not None else "",
            delay,
        )
        deadline = self._running_clock.now() + timedelta(seconds=delay)
        # Only stop() may cut a backoff short: change_interval() or an overlapped run's
        # failure also interrupt the sleep, but must not make the retry come early.
        while not await self._sleep_until(deadline) and not self._stop_next_iteration:
            pass

    def _can_retry(self, exc: BaseException, failures: int) -> bool:
        return self.reconnect and self._is_retryable(exc) and (self.max_retries is None or failures <= self.max_retries)

    async def _capped(self, run: Callable[[], Awaitable[Any]]) -> None:
        if self._semaphore is not None:
            async with self._semaphore:
                await run()
        else:
            await run()

    def _spawn_overlapped(self, run: Callable[[], Awaitable[Any]], iteration: int | None = None) -> None:
        """Start ``run()`` as an overlapped run under the overlap cap; its errors reach the loop."""
        if iteration is None:
            iteration = self._current_loop
        token = current_loop_ctx.set(iteration)
        try:
            task = asyncio.create_task(self._capped(run), name=f"taskext-loop-{self._name}-{iteration}")
        finally:
            current_loop_ctx.reset(token)
        self._tasks.add(task)
        task.add_done_callback(functools.partial(self._on_overlapped_done, iteration))

    def _on_overlapped_done(self, iteration: int, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self._overlap_errors.append((iteration, exc))
            self._interrupt()

    async def _run_iteration(self, args: tuple[Any, ...], kwargs: dict[str, Any], iteration: int | None = None) -> None:
        """Run the body once: spawned when overlapping, else awaited with retries.

        ``iteration`` is the number of the run being retried (overlapped runs are retried
        after the loop has moved on); by default the current one.
        """
        if self.overlap:
            self._spawn_overlapped(functools.partial(self.coro, *args, **kwargs), iteration)
        else:
            await self._invoke(args, kwargs, iteration)

    async def _invoke(self, args: tuple[Any, ...], kwargs: dict[str, Any], iteration: int | None = None) -> None:
        """Await the body in this task, retrying transient failures; raise anything fatal."""
        if iteration is None:
            iteration = self._current_loop
        failures = 0
        while True:
            token = current_loop_ctx.set(iteration)
            try:
                await self.coro(*args, **kwargs)
                return
            except asyncio.CancelledError:
                if self._cancel_is_ours():
                    raise
                # discord.py #9074: a CancelledError from inside the body is not a
                # request to stop the loop.
                log.warning(
                    "Loop %r: iteration %d raised CancelledError that did not come from cancel(); the loop carries on",
                    self._name,
                    iteration,
                )
                return
            except Exception as exc:
                failures += 1
                if not self._can_retry(exc, failures):
                    raise
                await self._retry_wait(failures, exc, iteration)
                if self._stop_next_iteration:
                    return
            finally:
                current_loop_ctx.reset(token)

    async def _handle_overlap_errors(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Route exceptions of overlapped runs through the same retry logic."""
        while self._overlap_errors:
            iteration, exc = self._overlap_errors.pop(0)
            self._overlap_failures += 1
            if not self._can_retry(exc, self._overlap_failures):
                raise exc
            if self._stop_next_iteration:
                continue  # stopping: no retry, as for a stop() during a backoff
            await self._retry_wait(self._overlap_failures, exc, iteration)
            if self._stop_next_iteration:
                return
            await self._run_iteration(args, kwargs, iteration)

    async def _loop(self, previous: asyncio.Task[None] | None, *args: Any, **kwargs: Any) -> None:
        if previous is not None:
            # cancel() then start(): let the old run finish its cleanup first.
            await asyncio.wait([previous])
        self._has_failed = False
        self._cancel_requested = False
        self._overlap_failures = 0
        self._overlap_errors.clear()
        manager = self.manager
        try:
            await self._call_loop_function("before_loop")
            if self._stop_next_iteration:
                return
            if manager is not None:
                await manager._loop_starting(self)
            else:
                self._plan_first(self._running_clock.now())
            while True:
                assert self._wake_at is not None and self._next_iteration is not None
                woke = await self._sleep_until(self._wake_at)
                if self._stop_next_iteration:
                    break  # not return: overlapped runs still in flight are awaited below
                if self._overlap_errors:
                    await self._handle_overlap_errors(args, kwargs)
                    continue
                if not woke:
                    continue  # the plan changed while sleeping
                scheduled = self._next_iteration
                self._last_iteration = scheduled
                # next_iteration read inside the body is the following run, as in py-cord.
                self._next_iteration = self._wake_at = self._following(scheduled)
                self._body_started = self._running_clock.now()
                if manager is not None:
                    await manager._run_managed(self, scheduled, args, kwargs)
                else:
                    await self._run_iteration(args, kwargs)
                    self._overlap_failures = 0
                self._current_loop += 1
                if self._current_loop == self.count or self._stop_next_iteration:
                    break
                if manager is not None:
                    await manager._plan_managed(self, scheduled)
                else:
                    self._plan_after_run(scheduled, self._running_clock.now())
            # Wait for overlapped runs, and for the retries their failures start, so that
            # after_loop comes last and no failure is lost.
            while self._tasks or self._overlap_errors:
                if self._tasks:
                    await asyncio.gather(*self._tasks, return_exceptions=True)
                if self._overlap_errors:
                    await self._handle_overlap_errors(args, kwargs)
        except asyncio.CancelledError:
            self._is_being_cancelled = True
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            raise
        except Exception as exc:
            self._has_failed = True
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._call_loop_function("error", exc)
            raise
        finally:
            try:
                await self._call_loop_function("after_loop")
            finally:
                if manager is not None:
                    manager._loop_stopped(self)
                self._is_being_cancelled = False
                self._cancel_requested = False
                self._current_loop = 0
                self._stop_next_iteration = False

    def _replan(self) -> None:
        """Re-plan the next iteration after a schedule change (not inside before/after hooks)."""
        if not self.is_running() or self._before_loop_running or self._after_loop_running:
            return
        if self._wake_at is None:
            return
        now = self._running_clock.now()
        # Only an iteration of the current run anchors the new plan: last_iteration may
        # be left over from before a restart (it would make the loop fire at once).
        base = self._last_iteration if self._current_loop > 0 else None
        schedule = self._schedule
        if isinstance(schedule, Interval) and base is not None:
            self._schedule = schedule = schedule.anchored(base)
        if base is None:
            self._plan(schedule.next_after(now) if schedule is not None else now)
        else:
            following = self._following(base)
            if schedule is not None and following <= now:
                following = schedule.latest_at_or_before(following, now)
            self._plan(following)
        self._interrupt()

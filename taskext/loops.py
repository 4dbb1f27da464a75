"""``taskext.loop``: a drop-in for ``discord.ext.tasks.loop`` without its defects.

The public surface matches py-cord 2.8.1 (see docs/migration.md for every intended
difference). Scheduling is delegated to the pure objects in :mod:`taskext.schedules`;
the loop reads its :class:`~taskext.clock.Clock` once per wake-up and passes the
instant down.
"""

from __future__ import annotations

import asyncio
import datetime
import inspect
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import timezone, tzinfo
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp
import discord
from discord.utils import MISSING

from .clock import Clock, get_default_clock
from .engine import NEVER, LoopEngine, current_loop_ctx
from .registry import MANAGER_OPTIONS, find_manager
from .retry import ExponentialBackoff, RetryPolicy
from .schedules import Cron, Interval, Schedule, TimesOfDay, parse_zone

if TYPE_CHECKING:
    from .registry import ManagerHooks

__all__ = ["Loop", "loop"]

log = logging.getLogger("taskext.loop")

T = TypeVar("T")
_func = Callable[..., Awaitable[Any]]
LF = TypeVar("LF", bound=_func)
FT = TypeVar("FT", bound=_func)
ET = TypeVar("ET", bound=Callable[[Any, BaseException], Awaitable[Any]])

UTC = timezone.utc
# Shared by every loop given no backoff= (it holds no per-loop state).
DEFAULT_BACKOFF = ExponentialBackoff(base=1.0, maximum=1024.0)
# MISSING typed as Any, so that mypy does not narrow it at identity checks.
_UNSET: Any = MISSING


def _default_name(coro: Callable[..., Any]) -> str:
    return coro.__qualname__.replace("<locals>.", "")


class Loop(LoopEngine[LF]):
    """A background task helper that abstracts the loop and reconnection logic for you.

    The main interface to create this is through :func:`loop`. It behaves like
    :class:`discord.ext.tasks.Loop` and adds cron schedules, time zones, names,
    jitter, bounded retries of transient failures and an injectable clock.
    """

    def __init__(
        self,
        coro: LF,
        seconds: float = MISSING,
        hours: float = MISSING,
        minutes: float = MISSING,
        time: datetime.time | Sequence[datetime.time] = MISSING,
        count: int | None = None,
        reconnect: bool = True,
        loop: asyncio.AbstractEventLoop = MISSING,
        overlap: bool | int = False,
        *,
        cron: str | None = None,
        tz: str | tzinfo | None = None,
        name: str | None = None,
        jitter: float = 0.0,
        max_retries: int | None = None,
        backoff: RetryPolicy | None = None,
        clock: Clock | None = None,
        persist: bool = True,
        options: dict[str, Any] | None = None,
    ) -> None:
        self.coro: LF = coro
        self.reconnect: bool = reconnect
        self.loop: asyncio.AbstractEventLoop = loop
        self.overlap: bool | int = overlap
        self.count: int | None = count
        self.persist: bool = persist
        # Settings for a task manager (misfire grace, retry policy, exclusive group...).
        self.options: dict[str, Any] = dict(options or {})
        self._current_loop = 0
        self._task: asyncio.Task[None] = MISSING
        self._injected: Any = None
        self._valid_exception: tuple[type[BaseException], ...] = (
            OSError,
            discord.GatewayNotFound,
            discord.ConnectionClosed,
            aiohttp.ClientError,
            asyncio.TimeoutError,
            discord.DiscordServerError,
        )
        self._before_loop: Callable[..., Awaitable[Any]] | None = None
        self._after_loop: Callable[..., Awaitable[Any]] | None = None
        self._before_loop_running = False
        self._after_loop_running = False
        self._is_being_cancelled = False
        self._cancel_requested = False
        self._has_failed = False
        self._stop_next_iteration = False
        self._tasks: set[asyncio.Task[Any]] = set()
        # (iteration, exception) of failed overlapped runs, so a retry keeps its number.
        self._overlap_errors: list[tuple[int, BaseException]] = []
        self._sleeper: asyncio.Future[int] | None = None
        self._rng: random.Random | None = None
        self._clock: Clock | None = clock
        self._running_clock: Clock = clock or get_default_clock()
        self.manager: ManagerHooks | None = None

        if self.count is not None and self.count <= 0:
            raise ValueError("count must be greater than 0 or None.")
        if not inspect.iscoroutinefunction(self.coro):
            raise TypeError(f"Expected coroutine function, not {type(self.coro).__name__!r}.")
        if isinstance(jitter, bool) or not isinstance(jitter, (int, float)) or jitter < 0:
            raise ValueError(f"jitter must be a non-negative number of seconds (got {jitter!r})")
        if max_retries is not None and (
            isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0
        ):
            raise ValueError(f"max_retries must be a non-negative int or None (got {max_retries!r})")
        if backoff is not None and not isinstance(backoff, RetryPolicy):
            raise TypeError(f"backoff must be a RetryPolicy, not {type(backoff).__name__}")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise ValueError("name must be a non-empty string")
        self.jitter: float = float(jitter)
        self.max_retries: int | None = max_retries
        self.backoff: RetryPolicy = backoff or DEFAULT_BACKOFF
        self._name: str = name or _default_name(coro)
        self._explicit_name = name is not None
        self._tz: tzinfo | None = parse_zone(tz) if tz is not None else None

        if isinstance(overlap, bool):
            pass
        elif isinstance(overlap, int):
            if overlap <= 1:
                raise ValueError("overlap as an integer must be greater than 1.")
        else:
            raise TypeError("overlap must be a bool or a positive integer.")
        self._semaphore: asyncio.Semaphore | None = (
            asyncio.Semaphore(overlap) if not isinstance(overlap, bool) else None
        )

        self._seconds: float = MISSING
        self._minutes: float = MISSING
        self._hours: float = MISSING
        self._time: list[datetime.time] = MISSING
        self._cron: str | None = None
        self._last_iteration: datetime.datetime | None = None
        self._next_iteration: datetime.datetime | None = None
        self._wake_at: datetime.datetime | None = None
        self._set_schedule(seconds=seconds, minutes=minutes, hours=hours, time=time, cron=cron)

    # ------------------------------------------------------------------ schedule

    def _set_schedule(
        self,
        *,
        seconds: float,
        minutes: float,
        hours: float,
        time: datetime.time | Sequence[datetime.time],
        cron: str | None,
    ) -> None:
        relative = any((seconds, minutes, hours))
        if cron is not None:
            if time is not MISSING or relative:
                raise TypeError("Cannot mix cron with explicit time or relative time")
            schedule: Schedule | None = Cron(cron, tz=self._tz, seed=self._name)
            self._seconds = self._minutes = self._hours = _UNSET
            self._time = _UNSET
            self._cron = cron
        elif time is MISSING:
            seconds = seconds or 0
            minutes = minutes or 0
            hours = hours or 0
            sleep = seconds + (minutes * 60.0) + (hours * 3600.0)
            if sleep < 0:
                raise ValueError("Total number of seconds cannot be less than zero.")
            schedule = Interval(sleep) if sleep > 0 else None
            self._seconds = float(seconds)
            self._minutes = float(minutes)
            self._hours = float(hours)
            self._time = _UNSET
            self._cron = None
        else:
            if relative:
                raise TypeError("Cannot mix explicit time with relative time")
            times = TimesOfDay(time, tz=self._tz)
            schedule = times
            self._time = times.times
            self._seconds = self._minutes = self._hours = _UNSET
            self._cron = None
        # None means a zero interval: run back to back, yielding to the event loop.
        self._schedule: Schedule | None = schedule

    def _schedule_fields(self) -> tuple[Any, ...]:
        """The schedule as given in code, for :meth:`_restore_schedule_fields`."""
        return (self._seconds, self._minutes, self._hours, self._time, self._cron, self._schedule)

    def _restore_schedule_fields(self, fields: tuple[Any, ...]) -> None:
        self._seconds, self._minutes, self._hours, self._time, self._cron, self._schedule = fields

    def _apply_schedule(self, schedule: Schedule) -> None:
        """Adopt ``schedule`` (set by a task manager) without re-planning."""
        self._seconds = self._minutes = self._hours = _UNSET
        self._time = _UNSET
        self._cron = None
        if isinstance(schedule, Interval):
            self._seconds = schedule.period.total_seconds()
            self._minutes = self._hours = 0.0
        elif isinstance(schedule, TimesOfDay):
            self._time = list(schedule.times)
        elif isinstance(schedule, Cron):
            self._cron = schedule.expression
        self._schedule = schedule

    @property
    def seconds(self) -> float | None:
        """Seconds between iterations; ``None`` for ``time=`` or ``cron=`` loops."""
        return self._seconds if self._seconds is not MISSING else None

    @property
    def minutes(self) -> float | None:
        """Minutes between iterations; ``None`` for ``time=`` or ``cron=`` loops."""
        return self._minutes if self._minutes is not MISSING else None

    @property
    def hours(self) -> float | None:
        """Hours between iterations; ``None`` for ``time=`` or ``cron=`` loops."""
        return self._hours if self._hours is not MISSING else None

    @property
    def time(self) -> list[datetime.time] | None:
        """The exact times this loop runs at; ``None`` for relative or cron loops."""
        return self._time.copy() if self._time is not MISSING else None

    @property
    def cron(self) -> str | None:
        """The cron expression this loop follows, if any."""
        return self._cron

    @property
    def tz(self) -> tzinfo | None:
        """The zone for naive ``time=`` values and cron fields (``None``: UTC)."""
        return self._tz

    @property
    def name(self) -> str:
        """The task name: ``name=``, else ``CogName.method`` or the function's qualified name."""
        return self._name

    @property
    def schedule(self) -> Schedule | None:
        """The pure schedule object in force (``None`` for a zero interval)."""
        return self._schedule

    @property
    def logger(self) -> logging.Logger:
        """The task's logger, ``taskext.task.<name>``; a task manager keeps its output per run."""
        return logging.getLogger(f"taskext.task.{self._name}")

    @property
    def clock(self) -> Clock:
        """The clock this loop waits on (the default clock unless one was given)."""
        return self._clock or self._running_clock

    @property
    def current_loop(self) -> int:
        """The current iteration of the loop (0-based while the first run executes)."""
        value = current_loop_ctx.get()
        return value if value is not None else self._current_loop

    @property
    def next_iteration(self) -> datetime.datetime | None:
        """When the next iteration will run (aware, UTC); ``None`` when not running."""
        if self._task is MISSING or self._task.done() or self._stop_next_iteration:
            return None
        if self._wake_at is not None and self._wake_at >= NEVER:
            return None  # held by a task manager (disabled or paused)
        return self._wake_at

    @property
    def last_iteration(self) -> datetime.datetime | None:
        """The scheduled time of the most recent iteration (aware, UTC), if any."""
        return self._last_iteration

    # ------------------------------------------------------------------ descriptor

    def __get__(self, obj: T, objtype: type[T]) -> Loop[LF]:
        if obj is None:
            return self
        name = self._name
        if not self._explicit_name:
            cog_name = getattr(obj, "__cog_name__", None) or type(obj).__name__
            name = f"{cog_name}.{self.coro.__name__}"
        copy: Loop[LF] = Loop(
            self.coro,
            seconds=self._seconds,
            hours=self._hours,
            minutes=self._minutes,
            time=self._time,
            count=self.count,
            reconnect=self.reconnect,
            loop=self.loop,
            overlap=self.overlap,
            cron=self._cron,
            tz=self._tz,
            name=name,
            jitter=self.jitter,
            max_retries=self.max_retries,
            backoff=self.backoff,
            clock=self._clock,
            persist=self.persist,
            options=self.options,
        )
        copy._explicit_name = self._explicit_name
        copy._injected = obj
        copy._before_loop = self._before_loop
        copy._after_loop = self._after_loop
        copy._error = self._error  # type: ignore[method-assign]
        copy._valid_exception = self._valid_exception
        setattr(obj, self.coro.__name__, copy)
        return copy

    # ------------------------------------------------------------------ running

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        r"""|coro|

        Calls the internal callback that the task holds, once.
        """
        if self._injected is not None:
            args = (self._injected, *args)
        return await self.coro(*args, **kwargs)

    def start(self, *args: Any, **kwargs: Any) -> asyncio.Task[None]:
        r"""Starts the internal task in the event loop.

        Parameters
        ----------
        \*args, \*\*kwargs
            Passed to the loop body at each iteration.

        Raises
        ------
        RuntimeError
            A task has already been launched and is running (and is not being cancelled).

        Returns
        -------
        :class:`asyncio.Task`
            The task that has been created.
        """
        previous: asyncio.Task[None] | None = None
        if self._task is not MISSING and not self._task.done():
            if not self._cancel_requested:
                raise RuntimeError("Task is already launched and is not completed.")
            previous = self._task
        if self._injected is not None:
            args = (self._injected, *args)
        if self.loop is MISSING:
            self.loop = discord.utils._get_event_loop()
        self._running_clock = self._clock or get_default_clock()
        self._stop_next_iteration = False
        self._has_failed = False  # failed() is about the run now starting
        if self.manager is None:
            self.manager = find_manager(self)
        self._task = self.loop.create_task(self._loop(previous, *args, **kwargs), name=f"taskext-loop-{self._name}")
        return self._task

    def stop(self) -> None:
        r"""Gracefully stops the task: the current iteration finishes, no further one starts.

        Unlike py-cord, the loop ends right after the current iteration instead of
        sleeping until the next one first. Called from ``before_loop``, it prevents the
        first run.
        """
        if self._task is not MISSING and not self._task.done():
            self._stop_next_iteration = True
            self._interrupt()

    def _can_be_cancelled(self) -> bool:
        return bool(not self._is_being_cancelled and self._task and not self._task.done())

    def cancel(self) -> None:
        """Cancels the internal task, if it is running."""
        if self._can_be_cancelled():
            self._cancel_requested = True
            self._task.cancel()

    def restart(self, *args: Any, **kwargs: Any) -> None:
        r"""Restart the internal task: cancel it if running, then start it again.

        A loop that is not running (stopped, failed or never started) is simply started.
        """

        def restart_when_over(fut: Any, *, args: Any = args, kwargs: Any = kwargs) -> None:
            self._task.remove_done_callback(restart_when_over)
            self.start(*args, **kwargs)

        if self._can_be_cancelled():
            self._task.add_done_callback(restart_when_over)
            self.cancel()
        elif self._task is MISSING or self._task.done():
            self.start(*args, **kwargs)

    def add_exception_type(self, *exceptions: type[BaseException]) -> None:
        r"""Adds exception types to be handled during the reconnect logic.

        Raises
        ------
        TypeError
            An exception passed is either not a class or not inherited from :class:`BaseException`.
        """
        for exc in exceptions:
            if not inspect.isclass(exc):
                raise TypeError(f"{exc!r} must be a class.")
            if not issubclass(exc, BaseException):
                raise TypeError(f"{exc!r} must inherit from BaseException.")
        self._valid_exception = (*self._valid_exception, *exceptions)

    def clear_exception_types(self) -> None:
        """Removes all exception types that are handled."""
        self._valid_exception = ()

    def remove_exception_type(self, *exceptions: type[BaseException]) -> bool:
        r"""Removes exception types from being handled during the reconnect logic.

        Returns
        -------
        :class:`bool`
            Whether all exceptions were successfully removed.
        """
        old_length = len(self._valid_exception)
        self._valid_exception = tuple(x for x in self._valid_exception if x not in exceptions)
        return len(self._valid_exception) == old_length - len(exceptions)

    def get_task(self) -> asyncio.Task[None] | None:
        """Fetches the internal task or ``None`` if there isn't one running."""
        return self._task if self._task is not MISSING else None

    def is_being_cancelled(self) -> bool:
        """Whether the task is being cancelled."""
        return self._is_being_cancelled

    def failed(self) -> bool:
        """Whether the loop ended because of an unhandled exception (until it is started again)."""
        return self._has_failed

    def is_running(self) -> bool:
        """Check if the task is currently running."""
        return not self._task.done() if self._task is not MISSING else False

    async def _error(self, *args: Any) -> None:
        exception: BaseException = args[-1]
        log.error(
            "Unhandled exception in internal background task %r.",
            self._name,
            exc_info=(type(exception), exception, exception.__traceback__),
        )

    def _check_coroutine(self, coro: Any) -> None:
        if not inspect.iscoroutinefunction(coro):
            raise TypeError(f"Expected coroutine function, received {coro.__class__.__name__!r}.")

    def before_loop(self, coro: FT) -> FT:
        """A decorator that registers a coroutine to be called before the loop starts running.

        Raises
        ------
        TypeError
            The function was not a coroutine.
        """
        self._check_coroutine(coro)
        self._before_loop = coro
        return coro

    def after_loop(self, coro: FT) -> FT:
        """A decorator that registers a coroutine to be called after the loop finished running.

        Raises
        ------
        TypeError
            The function was not a coroutine.
        """
        self._check_coroutine(coro)
        self._after_loop = coro
        return coro

    def error(self, coro: ET) -> ET:
        """A decorator that registers a coroutine to be called on an unhandled exception.

        By default the exception is logged on the ``taskext.loop`` logger.

        Raises
        ------
        TypeError
            The function was not a coroutine.
        """
        self._check_coroutine(coro)
        self._error = coro  # type: ignore[method-assign,assignment]
        return coro

    def change_interval(
        self,
        *,
        seconds: float = 0,
        minutes: float = 0,
        hours: float = 0,
        time: datetime.time | Sequence[datetime.time] = MISSING,
        cron: str | None = None,
    ) -> None:
        """Changes the schedule; a running loop re-plans its pending sleep at once.

        The new interval counts from the last iteration, as in py-cord. On a loop run by
        a task manager this is an override that survives restarts.

        Raises
        ------
        ValueError
            An invalid value was given.
        TypeError
            ``time`` or ``cron`` was combined with relative time, or ``time`` has the wrong type.
        """
        self._set_schedule(seconds=seconds, minutes=minutes, hours=hours, time=time, cron=cron)
        if self.manager is not None and self.is_running():
            self.manager._loop_schedule_changed(self)
        self._replan()


def loop(
    *,
    seconds: float = MISSING,
    minutes: float = MISSING,
    hours: float = MISSING,
    time: datetime.time | Sequence[datetime.time] = MISSING,
    count: int | None = None,
    reconnect: bool = True,
    loop: asyncio.AbstractEventLoop = MISSING,
    overlap: bool | int = False,
    cron: str | None = None,
    tz: str | tzinfo | None = None,
    name: str | None = None,
    jitter: float = 0.0,
    max_retries: int | None = None,
    backoff: RetryPolicy | None = None,
    clock: Clock | None = None,
    persist: bool = True,
    **options: Any,
) -> Callable[[LF], Loop[LF]]:
    """A decorator that schedules a task in the background for you.

    The parameters of :func:`discord.ext.tasks.loop` keep their meaning; the rest are
    taskext's additions.

    Parameters
    ----------
    seconds, minutes, hours:
        Time between iterations (added together). Interval loops run at once when
        started, then on the grid ``start + k * interval`` without drift.
    time:
        A :class:`datetime.time` or a non-empty sequence of them; naive times are read
        in ``tz`` (default UTC). Zones may be mixed.
    count:
        Number of iterations, ``None`` for an endless loop.
    reconnect:
        Retry the iteration, with exponential backoff, on network errors, Discord 5xx
        and 429 answers, and exception types added with :meth:`Loop.add_exception_type`.
    loop:
        The event loop to create the task in (default: the running one).
    overlap:
        ``False`` (one run at a time), ``True`` (unlimited) or an int cap.
    cron:
        A five-field cron expression (``"*/5 * * * *"``); ``R`` picks a value fixed per
        task name.
    tz:
        IANA zone for ``time=`` and ``cron=``.
    name:
        Task name (default ``CogName.method`` or the function's qualified name).
    jitter:
        Random delay in seconds added to each fire, kept below the next fire.
    max_retries:
        Bound on consecutive retries of one iteration; ``None`` is unbounded.
    backoff:
        Retry delay policy (default: exponential with full jitter, capped at 1024 s).
    clock:
        Clock to schedule on (default: :func:`taskext.clock.get_default_clock` at start).
    persist:
        With a task manager, ``False`` keeps this loop in memory only.
    **options:
        Task-manager settings, e.g. ``misfire_grace``, ``retry``, ``exclusive``.

    Raises
    ------
    ValueError
        An invalid value was given (count <= 0, negative interval, bad cron text...).
    TypeError
        The function was not a coroutine, ``time`` had the wrong type, or absolute and
        relative schedules were mixed.
    """

    unknown = sorted(set(options) - MANAGER_OPTIONS)
    if unknown:
        raise TypeError(f"loop() got an unexpected keyword argument {unknown[0]!r}")

    def decorator(func: LF) -> Loop[LF]:
        return Loop[LF](
            func,
            seconds=seconds,
            minutes=minutes,
            hours=hours,
            count=count,
            time=time,
            reconnect=reconnect,
            loop=loop,
            overlap=overlap,
            cron=cron,
            tz=tz,
            name=name,
            jitter=jitter,
            max_retries=max_retries,
            backoff=backoff,
            clock=clock,
            persist=persist,
            options=options,
        )

    return decorator

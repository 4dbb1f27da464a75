"""Injectable time: every wait in taskext goes through a :class:`Clock`.

The clock is read once at the edge (the loop) and the instant is passed down to the
pure schedules. Tests swap in :class:`taskext.testing.FakeClock`.
"""

from __future__ import annotations

import abc
import asyncio
import functools
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol, TypeVar

R = TypeVar("R")

__all__ = ["Clock", "SystemClock", "Timer", "get_default_clock", "pending_io", "set_default_clock", "track_io"]

UTC = timezone.utc


class Timer(Protocol):
    """A scheduled callback that can be cancelled."""

    def cancel(self) -> None: ...


class Clock(abc.ABC):
    """Source of the current time and of timers at absolute instants."""

    @abc.abstractmethod
    def now(self) -> datetime:
        """The current instant, an aware datetime in UTC."""

    @abc.abstractmethod
    def call_at(self, when: datetime, callback: Callable[[], object]) -> Timer:
        """Call ``callback`` in the running event loop once ``when`` is reached.

        A timer may fire slightly early on a real clock; callers that must not run
        before ``when`` re-check :meth:`now` (the loop does).
        """

    async def sleep_until(self, when: datetime) -> None:
        """Sleep until ``when`` (returns at once if it has passed)."""
        while self.now() < when:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            timer = self.call_at(when, functools.partial(_resolve, future))
            try:
                await future
            finally:
                timer.cancel()

    async def sleep(self, seconds: float) -> None:
        """Sleep for ``seconds`` of this clock's time."""
        await self.sleep_until(self.now() + timedelta(seconds=max(seconds, 0.0)))


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class SystemClock(Clock):
    """The wall clock, with timers on the running asyncio loop."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def call_at(self, when: datetime, callback: Callable[[], object]) -> Timer:
        delay = (when - datetime.now(UTC)).total_seconds()
        return asyncio.get_running_loop().call_later(delay, callback)


_default_clock: Clock = SystemClock()


def get_default_clock() -> Clock:
    """The clock used by loops and managers that were not given one."""
    return _default_clock


def set_default_clock(clock: Clock) -> Clock:
    """Replace the default clock; returns the previous one (see ``taskext.testing.use_clock``)."""
    global _default_clock
    if not isinstance(clock, Clock):
        raise TypeError(f"clock must be a taskext Clock, not {type(clock).__name__}")
    previous, _default_clock = _default_clock, clock
    return previous


# I/O awaited outside the event loop (database threads, sockets), tracked only while a
# test clock is in use so that FakeClock.settle() can wait for it.
_tracking = False
_pending_io: set[asyncio.Future[Any]] = set()


def enable_io_tracking() -> None:
    """Start tracking (FakeClock does this); costs nothing until then."""
    global _tracking
    _tracking = True


async def track_io(awaitable: Awaitable[R]) -> R:
    """Await ``awaitable``; while a FakeClock exists, let ``settle()`` wait for it."""
    if not _tracking:
        return await awaitable
    future = asyncio.ensure_future(awaitable)
    _pending_io.add(future)
    try:
        return await future
    finally:
        _pending_io.discard(future)


def pending_io() -> list[asyncio.Future[Any]]:
    """Tracked I/O still in flight."""
    return [future for future in _pending_io if not future.done()]

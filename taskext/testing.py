"""Test helpers for taskext users and for taskext's own tests.

:class:`FakeClock` is a clock tests can jump: ``await clock.advance(days=30)`` runs a
daily loop's month in milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import importlib
import itertools
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from .clock import Clock, Timer, enable_io_tracking, pending_io, set_default_clock

if TYPE_CHECKING:
    from .harness import (
        ADMINISTRATOR,
        DEFAULT_BOT_PERMISSIONS,
        DEFAULT_EVERYONE_PERMISSIONS,
        BotHarness,
        CapturedError,
        CommandNotAvailable,
        FakeAttachment,
        FakeChannel,
        FakeGuild,
        FakeMember,
        FakeRole,
        FakeUser,
        HarnessError,
        InteractionNotAnswered,
        InteractionResult,
        InvalidCommandInput,
        RecordedFile,
        RecordedRequest,
        Reply,
        SentMessage,
    )

__all__ = [
    "ADMINISTRATOR",
    "DEFAULT_BOT_PERMISSIONS",
    "DEFAULT_EVERYONE_PERMISSIONS",
    "BotHarness",
    "CapturedError",
    "CommandNotAvailable",
    "FakeAttachment",
    "FakeChannel",
    "FakeClock",
    "FakeGuild",
    "FakeMember",
    "FakeRole",
    "FakeUser",
    "HarnessError",
    "InteractionNotAnswered",
    "InteractionResult",
    "InvalidCommandInput",
    "RecordedFile",
    "RecordedRequest",
    "Reply",
    "SentMessage",
    "use_clock",
]

UTC = timezone.utc

# The bot harness imports py-cord: load it on first use, so FakeClock alone stays light.
_HARNESS_NAMES = frozenset(__all__) - {"FakeClock", "use_clock"}


def __getattr__(name: str) -> Any:
    if name not in _HARNESS_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(".harness", __package__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


class _FakeTimer:
    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: datetime, callback: Callable[[], object]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock(Clock):
    """A clock that only moves when told to.

    Parameters
    ----------
    start:
        The initial instant (aware). Default: 2026-01-01 00:00 UTC.
    settle_seconds:
        Real seconds to wait, after each timer fires, for work that runs outside the
        event loop (database threads) before the next timer is considered. Pure-asyncio
        code needs none.
    """

    def __init__(self, start: datetime | None = None, *, settle_seconds: float = 0.0) -> None:
        start = start or datetime(2026, 1, 1, tzinfo=UTC)
        if start.tzinfo is None or start.utcoffset() is None:
            raise ValueError("FakeClock start must be an aware datetime")
        self._now = start.astimezone(UTC)
        self._timers: list[tuple[datetime, int, _FakeTimer]] = []
        self._sequence = itertools.count()
        self.settle_seconds = settle_seconds
        enable_io_tracking()

    def now(self) -> datetime:
        return self._now

    def call_at(self, when: datetime, callback: Callable[[], object]) -> Timer:
        timer = _FakeTimer(when, callback)
        heapq.heappush(self._timers, (when, next(self._sequence), timer))
        return timer

    def pending(self) -> list[datetime]:
        """Instants of the timers still armed, earliest first."""
        return sorted(when for when, _, timer in self._timers if not timer.cancelled)

    async def settle(self) -> None:
        """Run every runnable task, and wait (in real time) for tracked database I/O, until
        nothing is left to do but wait for this clock."""
        loop = asyncio.get_running_loop()
        ready = getattr(loop, "_ready", None)
        while True:
            quiet_spins = 0
            for _ in range(10_000):
                await asyncio.sleep(0)
                if ready is None:
                    quiet_spins += 1
                    if quiet_spins >= 50:
                        break
                elif not ready:
                    quiet_spins += 1
                    if quiet_spins >= 3:
                        break
                else:
                    quiet_spins = 0
            waiting = pending_io()
            if waiting:
                await asyncio.wait(waiting)
                continue
            if self.settle_seconds > 0:
                await asyncio.sleep(self.settle_seconds)
            return

    async def advance(
        self, seconds: float = 0.0, *, minutes: float = 0.0, hours: float = 0.0, days: float = 0.0
    ) -> None:
        """Move time forward, firing every timer due on the way, in order."""
        delta = timedelta(seconds=seconds, minutes=minutes, hours=hours, days=days)
        if delta < timedelta(0):
            raise ValueError("a FakeClock cannot go backwards")
        await self.advance_to(self._now + delta)

    async def advance_to(self, target: datetime) -> None:
        """Move time forward to ``target``, firing every timer due on the way, in order."""
        if target.tzinfo is None:
            raise ValueError("advance_to() needs an aware datetime")
        await self.settle()
        while self._timers and self._timers[0][0] <= target:
            when, _, timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            if when > self._now:
                self._now = when.astimezone(UTC)
            timer.callback()
            await self.settle()
        if target > self._now:
            self._now = target.astimezone(UTC)
        await self.settle()

    async def run_until(self, predicate: Callable[[], bool], *, limit: timedelta = timedelta(days=366)) -> None:
        """Jump from timer to timer until ``predicate()`` is true (or ``limit`` passes).

        Raises
        ------
        TimeoutError
            The predicate stayed false for ``limit`` of fake time.
        """
        deadline = self._now + limit
        await self.settle()
        while not predicate():
            live = [entry for entry in self._timers if not entry[2].cancelled]
            if not live or min(live)[0] > deadline:
                raise TimeoutError(f"condition not met within {limit} of fake time")
            await self.advance_to(max(min(live)[0], self._now))


@contextlib.contextmanager
def use_clock(clock: Clock) -> Iterator[Clock]:
    """Make ``clock`` the default for loops started inside the ``with`` block."""
    previous = set_default_clock(clock)
    try:
        yield clock
    finally:
        set_default_clock(previous)

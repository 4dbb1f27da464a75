"""Requests gathered over a short window, served together by one call."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from .clock import Timer

__all__ = ["Batch"]

Item = TypeVar("Item")
Result = TypeVar("Result")


class Batch(Generic[Item, Result]):
    """Requests gathered over a short window, served together by one call.

    Without ``after`` the window is one turn of the event loop: loops that fire at the same
    instant each ask for a claim, and one transaction answers all. With ``after`` (a
    function that arms a timer, such as one on the manager's clock) the window lasts
    until that timer fires (write-behind).
    """

    def __init__(
        self,
        serve: Callable[[list[Item]], Awaitable[Sequence[Result]]],
        *,
        after: Callable[[Callable[[], None]], Timer] | None = None,
    ) -> None:
        self._serve = serve
        self._after = after
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._timer: Timer | None = None
        self._flushing: set[asyncio.Task[None]] = set()

    def submit(self, item: Item) -> asyncio.Future[Result]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        self._waiting.append((item, future))
        if self._timer is None:
            self._timer = self._after(self._start) if self._after is not None else loop.call_soon(self._start)
        return future

    async def drain(self) -> None:
        """Serve what is waiting now, and wait until every call under way has ended."""
        if self._timer is not None:
            self._timer.cancel()
            self._start()
        if self._flushing:
            await asyncio.wait(self._flushing)

    def _start(self) -> None:
        self._timer = None
        waiting, self._waiting = self._waiting, []
        task = asyncio.ensure_future(self._flush(waiting))
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _flush(self, waiting: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._serve([item for item, _ in waiting])
        except BaseException as exc:
            for _, future in waiting:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), result in zip(waiting, results, strict=True):
            if not future.done():
                future.set_result(result)

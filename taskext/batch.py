"""Requests made in one turn of the event loop, served together by one call."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["Batch"]

Item = TypeVar("Item")
Result = TypeVar("Result")


class Batch(Generic[Item, Result]):
    """Requests made in one turn of the event loop, served together by one call.

    Loops that fire at the same instant each ask for a claim; one transaction answers all.
    """

    def __init__(self, serve: Callable[[list[Item]], Awaitable[Sequence[Result]]]) -> None:
        self._serve = serve
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._scheduled = False
        self._flushing: set[asyncio.Task[None]] = set()

    def submit(self, item: Item) -> asyncio.Future[Result]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        self._waiting.append((item, future))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._start)
        return future

    def _start(self) -> None:
        self._scheduled = False
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

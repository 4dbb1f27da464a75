"""The ad hoc queue API of :class:`~taskext.TaskManager`: enqueue, debounce, inspect, retry."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from .clock import Clock
from .errors import TaskNotFound
from .handlers import Adhoc, handlers
from .store import AdhocStatus, AdhocTask, NewAdhoc, Store
from .store.queue import dedupe_key
from .worker import AdhocWorker

__all__ = ["QueueAPI"]


def _json(data: Any, name: str) -> str:
    try:
        return json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"data for ad hoc task {name!r} must be JSON-serialisable (dict, list, str, int, float, bool, None): {exc}"
        ) from None


def _optional_id(label: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{label} must be an int or None, not {type(value).__name__}")
    return value


class QueueAPI:
    """Mixed into :class:`~taskext.TaskManager`."""

    store: Store
    worker: AdhocWorker | None

    @property
    def clock(self) -> Clock:
        raise NotImplementedError

    async def open(self) -> None:
        raise NotImplementedError

    def _handler(self, name: str) -> Adhoc[Any]:
        if not isinstance(name, str):
            raise TypeError(f"ad hoc task name must be a str, not {type(name).__name__}")
        found = handlers().get(name)
        if found is None:
            known = ", ".join(sorted(handlers())) or "none"
            raise TaskNotFound(f"no ad hoc handler named {name!r} (known: {known})")
        return found

    def _new(
        self,
        name: str,
        data: Any,
        *,
        run_at: datetime | None,
        delay: float | timedelta | None,
        user_id: int | None,
        guild_id: int | None,
        now: datetime,
    ) -> NewAdhoc:
        handler = self._handler(name)
        text = _json(data, name)
        if run_at is not None and delay is not None:
            raise TypeError("pass run_at or delay, not both")
        when = now
        if run_at is not None:
            if not isinstance(run_at, datetime):
                raise TypeError(f"run_at must be a datetime, not {type(run_at).__name__}")
            if run_at.tzinfo is None or run_at.utcoffset() is None:
                raise ValueError(f"run_at must be timezone-aware, got naive {run_at.isoformat()}")
            when = run_at
        elif delay is not None:
            seconds = delay.total_seconds() if isinstance(delay, timedelta) else delay
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
                raise TypeError(f"delay must be a number of seconds or a timedelta, not {delay!r}")
            if seconds < 0:
                raise ValueError(f"delay cannot be negative (got {seconds} s)")
            when = now + timedelta(seconds=seconds)
        user = _optional_id("user_id", user_id)
        guild = _optional_id("guild_id", guild_id)
        key = dedupe_key(name, text, user)
        return NewAdhoc(
            name=name,
            data=text,
            run_at=when,
            enqueued_at=now,
            max_attempts=handler.max_attempts,
            dedupe_key=key,
            user_id=user,
            guild_id=guild,
        )

    def _wake_worker(self, run_at: datetime) -> None:
        if self.worker is not None:
            self.worker.wake()

    async def enqueue(
        self,
        name: str,
        data: Any = None,
        *,
        run_at: datetime | None = None,
        delay: float | timedelta | None = None,
        user_id: int | None = None,
        guild_id: int | None = None,
        dedupe: bool = False,
    ) -> int:
        """Queue an ad hoc task; returns its id. Durable once this returns.

        Parameters
        ----------
        name:
            A handler declared with :func:`taskext.adhoc`.
        data:
            JSON-serialisable custom data handed to the handler.
        run_at, delay:
            When to run: an aware datetime, or seconds (or a timedelta) from now. Default now.
        user_id, guild_id:
            Who and where the task is for (available to the handler).
        dedupe:
            Return the id of a pending task with the same name, data and user instead of
            queueing another (Moodle's check for an existing task).

        Raises
        ------
        TaskNotFound
            No handler has that name.
        TypeError
            ``data`` is not JSON-serialisable, or an argument has the wrong type.
        ValueError
            A naive ``run_at`` or a negative ``delay``.
        """
        await self.open()
        item = self._new(
            name, data, run_at=run_at, delay=delay, user_id=user_id, guild_id=guild_id, now=self.clock.now()
        )
        (task_id,) = await self.store.enqueue([item], dedupe=dedupe)
        self._wake_worker(item.run_at)
        return task_id

    async def enqueue_many(
        self,
        name: str,
        items: Iterable[Any],
        *,
        run_at: datetime | None = None,
        delay: float | timedelta | None = None,
        user_id: int | None = None,
        guild_id: int | None = None,
        dedupe: bool = False,
    ) -> list[int]:
        """Queue one task per element of ``items`` (its data), in one transaction.

        An element may also be a mapping with ``data`` and any of ``run_at``, ``delay``,
        ``user_id``, ``guild_id`` to set them per task. Nothing is written if any element
        is invalid.
        """
        await self.open()
        now = self.clock.now()
        batch = []
        for element in items:
            options: dict[str, Any] = {"run_at": run_at, "delay": delay, "user_id": user_id, "guild_id": guild_id}
            data = element
            if isinstance(element, Mapping) and "data" in element:
                unknown = set(element) - {"data", *options}
                if unknown:
                    raise TypeError(f"unknown keys in an enqueue_many item: {', '.join(sorted(unknown))}")
                if "run_at" in element and "delay" in element:
                    raise TypeError("an enqueue_many item can have run_at or delay, not both")
                data = element["data"]
                options.update({key: element[key] for key in options if key in element})
                if "run_at" in element:
                    options["delay"] = None
                elif "delay" in element:
                    options["run_at"] = None
            batch.append(self._new(name, data, now=now, **options))
        if not batch:
            return []
        ids = await self.store.enqueue(batch, dedupe=dedupe)
        self._wake_worker(min(item.run_at for item in batch))
        return ids

    async def reschedule_or_enqueue(
        self,
        name: str,
        data: Any = None,
        *,
        run_at: datetime | None = None,
        delay: float | timedelta | None = None,
        user_id: int | None = None,
        guild_id: int | None = None,
    ) -> int:
        """Debounce: move the pending task with this name, data and user to the new time, or queue it."""
        await self.open()
        item = self._new(
            name, data, run_at=run_at, delay=delay, user_id=user_id, guild_id=guild_id, now=self.clock.now()
        )
        task_id, _ = await self.store.reschedule_or_enqueue(item)
        self._wake_worker(item.run_at)
        return task_id

    async def get(self, task_id: int) -> AdhocTask:
        """One ad hoc task. Raises :class:`~taskext.TaskNotFound` (a finished task is gone)."""
        await self.open()
        return await self.store.get_adhoc(self._task_id(task_id))

    async def cancel(self, task_id: int) -> AdhocTask:
        """Remove a pending or failed task. Raises TaskNotFound, or ValueError if it is running."""
        await self.open()
        return await self.store.cancel_adhoc(self._task_id(task_id))

    async def retry(self, task_id: int) -> AdhocTask:
        """Queue a failed task again now, with a fresh attempt count."""
        await self.open()
        task = await self.store.retry_adhoc(self._task_id(task_id), now=self.clock.now())
        self._wake_worker(task.run_at)
        return task

    async def queue(
        self, status: AdhocStatus | str | None = None, *, name: str | None = None, limit: int = 100
    ) -> list[AdhocTask]:
        """Ad hoc tasks by run time: all, or ``pending``, ``running`` or ``failed`` ones."""
        await self.open()
        wanted = AdhocStatus(status) if status is not None else None
        return await self.store.list_adhoc(status=wanted, name=name, limit=limit)

    async def queue_health(self) -> dict[str, int | datetime | None]:
        """Counts of pending, due, running and failed tasks and the oldest due run time."""
        await self.open()
        return await self.store.adhoc_counts(now=self.clock.now())

    @staticmethod
    def _task_id(task_id: Any) -> int:
        if isinstance(task_id, bool) or not isinstance(task_id, int):
            raise TypeError(f"an ad hoc task id is an int, not {type(task_id).__name__}")
        return task_id

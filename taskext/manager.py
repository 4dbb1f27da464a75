"""The task manager: persistent, overridable, logged scheduled tasks (Moodle's model).

Every ``taskext.loop`` started while a manager is active becomes a managed task under
its name. Admin changes are written at once; run results are written behind, in
batches, every ``flush_interval`` seconds and when the manager closes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any

from . import capture, registry
from .clock import Clock, get_default_clock
from .engine import NEVER
from .errors import TaskBusy, TaskNotFound
from .handlers import Adhoc
from .loops import Loop
from .managed import _Managed
from .parsing import parse_schedule
from .queue_api import QueueAPI
from .retry import FailDelay, RetryPolicy
from .runtime import ManagerRuntime
from .schedules import Schedule
from .store import RunRecord, RunStats, Store, TaskState, default_database_url, store_for_url
from .worker import AdhocWorker

__all__ = ["TaskInfo", "TaskManager"]

log = logging.getLogger(__name__)
UTC = timezone.utc
Listener = Callable[..., Awaitable[Any]]


@dataclass(slots=True)
class TaskInfo:
    """A task as the manager sees it: the stored state plus what this process knows."""

    state: TaskState
    running: bool
    orphaned: bool
    next_run: datetime | None

    @property
    def name(self) -> str:
        return self.state.name


def cog_loops(cog: Any) -> list[Loop[Any]]:
    """The ``taskext.loop`` loops defined on ``cog``'s class (and its bases), bound to it."""
    return [
        getattr(cog, attribute) for attribute in dir(type(cog)) if isinstance(getattr(type(cog), attribute, None), Loop)
    ]


def bind_handlers(cog: Any) -> list[str]:
    """Bind the ``@taskext.adhoc`` methods of ``cog`` so the worker can run them."""
    names = []
    for attribute in dir(type(cog)):
        if isinstance(getattr(type(cog), attribute, None), Adhoc):
            names.append(getattr(cog, attribute).name)
    return names


class TaskManager(QueueAPI, ManagerRuntime):
    """Runs ``taskext.loop`` loops as persistent, overridable, logged tasks.

    Parameters
    ----------
    url:
        Database URL; default ``TASKEXT_DATABASE_URL`` or ``sqlite:///data/taskext.db``.
    store:
        A ready :class:`~taskext.store.Store` instead of a URL.
    clock:
        Clock for scheduling (default: the default clock when opened).
    retry:
        Default retry policy for failing tasks (Moodle's :class:`~taskext.FailDelay`).
    keep_runs, keep_days:
        Run-log retention: each task's newest ``keep_runs`` runs are kept whatever
        their age; older runs are deleted after ``keep_days`` days.
    flush_interval:
        Seconds between batched writes of run results.
    watch_interval:
        Seconds between checks for changes made by other processes (the CLI).
    output_limit:
        Characters of log output kept per run.
    worker_id:
        How this process signs its leases and runs (default ``host:pid:random``).
    run_worker:
        Run the ad hoc worker in this process (the CLI turns it off).
    adhoc_concurrency, adhoc_batch_size, adhoc_lease, adhoc_poll_interval:
        Ad hoc worker settings: tasks at once, tasks per claim, lease seconds (renewed
        while running), seconds between checks for tasks queued elsewhere.
    adhoc_keep_days:
        Days a failed ad hoc task is kept.
    tick_lease:
        Seconds a cluster-scope tick's lease lasts (others see it as running meanwhile).
    align_intervals:
        Put the grid of cluster-scope interval tasks on ``k * period`` since the epoch
        (``:00``, ``:10`` ... for ten minutes) instead of at a fixed per-task offset. Aligned
        tasks of equal period all fall due in the same instant.
    """

    _by_bot: weakref.WeakKeyDictionary[Any, TaskManager] = weakref.WeakKeyDictionary()

    def __init__(
        self,
        url: str | None = None,
        *,
        store: Store | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        keep_runs: int = 20,
        keep_days: float = 28.0,
        flush_interval: float = 0.25,
        watch_interval: float = 0.5,
        output_limit: int = 4096,
        worker_id: str | None = None,
        run_worker: bool = True,
        adhoc_concurrency: int = 100,
        adhoc_batch_size: int = 100,
        adhoc_lease: float = 60.0,
        adhoc_poll_interval: float = 0.5,
        adhoc_keep_days: float = 28.0,
        tick_lease: float = 60.0,
        align_intervals: bool = False,
    ) -> None:
        if url is not None and store is not None:
            raise TypeError("pass either url or store, not both")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise TypeError(f"retry must be a RetryPolicy, not {type(retry).__name__}")
        for label, value in (("flush_interval", flush_interval), ("watch_interval", watch_interval)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{label} must be a positive number of seconds (got {value!r})")
        if isinstance(keep_runs, bool) or not isinstance(keep_runs, int) or keep_runs < 0:
            raise ValueError(f"keep_runs must be a non-negative int (got {keep_runs!r})")
        if isinstance(keep_days, bool) or not isinstance(keep_days, (int, float)) or keep_days <= 0:
            raise ValueError(f"keep_days must be positive (got {keep_days!r})")
        if isinstance(output_limit, bool) or not isinstance(output_limit, int) or output_limit < 0:
            raise ValueError(f"output_limit must be a non-negative int (got {output_limit!r})")
        self.store: Store = store or store_for_url(url or default_database_url())
        self._clock = clock
        self.retry_policy: RetryPolicy = retry or FailDelay()
        self.keep_runs = keep_runs
        self.keep_days = float(keep_days)
        self.flush_interval = float(flush_interval)
        self.watch_interval = float(watch_interval)
        self.output_limit = output_limit
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.bot: Any = None
        self._managed: dict[str, _Managed] = {}
        self._registering: dict[str, asyncio.Lock] = {}
        self._dirty: dict[str, TaskState] = {}
        self._pending_runs: list[RunRecord] = []
        self._groups: dict[str, asyncio.Lock] = {}
        self._listeners: dict[str, list[Listener]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._open_lock: asyncio.Lock | None = None
        self._opened = False
        self._closing = False
        self._session_start: datetime | None = None
        self._seen_changes = -1
        self._last_prune: datetime | None = None
        if isinstance(adhoc_keep_days, bool) or not isinstance(adhoc_keep_days, (int, float)) or adhoc_keep_days <= 0:
            raise ValueError(f"adhoc_keep_days must be positive (got {adhoc_keep_days!r})")
        self.adhoc_keep_days = float(adhoc_keep_days)
        if isinstance(tick_lease, bool) or not isinstance(tick_lease, (int, float)) or tick_lease <= 0:
            raise ValueError(f"tick_lease must be a positive number of seconds (got {tick_lease!r})")
        self.tick_lease = float(tick_lease)
        if not isinstance(align_intervals, bool):
            raise TypeError(f"align_intervals must be a bool, not {type(align_intervals).__name__}")
        self.align_intervals = align_intervals
        self._init_batches()
        # Validated now, created when opened (it needs the running event loop).
        self._worker_options = {
            "concurrency": adhoc_concurrency,
            "batch_size": adhoc_batch_size,
            "lease": adhoc_lease,
            "poll_interval": adhoc_poll_interval,
        }
        self.run_worker = run_worker
        # Built now so that bad options fail here, not half-way through open().
        self.worker: AdhocWorker | None = (
            AdhocWorker(self, **self._worker_options) if run_worker else None  # type: ignore[arg-type]
        )
        self.pushed_changes = False
        # Without a bot every handler is declared at import; with one, cogs bind theirs.
        self.handlers_ready = True

    # ------------------------------------------------------------------ lifecycle

    @property
    def clock(self) -> Clock:
        return self._clock or get_default_clock()

    @classmethod
    def of(cls, bot: Any) -> TaskManager | None:
        """The manager set up on ``bot``, if any."""
        return cls._by_bot.get(bot)

    async def open(self) -> None:
        """Open the store (idempotent); loops call this before their first run."""
        if self._opened:
            return
        if self._open_lock is None:
            self._open_lock = asyncio.Lock()
        async with self._open_lock:
            if self._opened:
                return
            await self.store.open()
            self._session_start = self.clock.now()
            self._seen_changes = await self.store.change_counter()
            capture.install()
            self._opened = True
            self._closing = False
            registry.activate(self)
            self._spawn(self._flush_forever())
            self._spawn(self._watch_forever())
            if self.worker is not None:
                self.worker.start()
            # PostgreSQL pushes changes (LISTEN/NOTIFY); SQLite is polled by the watcher.
            self.pushed_changes = await self.store.listen(self._on_store_change)
            log.info("taskext: store %s opened (worker %s)", self.store.url, self.worker_id)

    async def close(self, *, timeout: float = 10.0) -> None:
        """Stop managed loops (running iterations get ``timeout`` seconds), flush, close the store."""
        if self._closing:
            return
        self._closing = True
        registry.deactivate(self)
        loops = [m.loop for m in self._managed.values() if m.loop.is_running()]
        for running in loops:
            running.stop()
        pending = [task for running in loops if (task := running.get_task()) is not None]
        if pending:
            _, late = await asyncio.wait(pending, timeout=timeout)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
        if self.worker is not None:
            await self.worker.stop(timeout=timeout)
        for batch in (self._tick_claims, self._tick_results, self._claims_ahead):
            await batch.drain()
        if self._releasing:
            await asyncio.wait(self._releasing)
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self._opened:
            await self.flush()
            await self.store.close()
        self._opened = False

    async def __aenter__(self) -> TaskManager:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def setup(self, bot: Any) -> TaskManager:
        """Wire the manager into a Pycord bot's lifecycle.

        Loops started from now on are managed; the store opens before the first of them
        runs; on ``bot.close()`` loops stop, state is flushed and the store closed. Events
        are dispatched on the bot (``on_taskext_task_failed`` ...).
        """
        self.bot = bot
        self.handlers_ready = False  # until on_ready has bound the cogs' ad hoc handlers
        TaskManager._by_bot[bot] = self
        registry.activate(self)
        original_close = bot.close
        original_add_cog = bot.add_cog

        def add_cog(cog: Any, *args: Any, **kwargs: Any) -> Any:
            result = original_add_cog(cog, *args, **kwargs)
            bind_handlers(cog)
            return result

        bot.add_cog = add_cog

        async def close() -> None:
            await self.close()
            await original_close()

        bot.close = close

        async def on_ready() -> None:
            await self.open()
            await self.scan(bot)
            self.handlers_ready = True
            if self.worker is not None:
                self.worker.wake()

        bot.add_listener(on_ready, "on_ready")
        return self

    def _on_store_change(self, kind: str) -> None:
        if self._closing:
            return
        if kind == "adhoc" and self.worker is not None:
            self.worker.wake()
        elif kind == "admin":
            self._spawn(self.sync())

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ------------------------------------------------------------------ events

    def add_listener(self, event: str, listener: Listener) -> None:
        """Call ``listener(*args)`` on ``event`` (``task_failed``, ``task_succeeded``...)."""
        self._listeners.setdefault(event.removeprefix("on_").removeprefix("taskext_"), []).append(listener)

    def _has_audience(self) -> bool:
        return self.bot is not None or bool(self._listeners)

    def _emit(self, event: str, *args: Any) -> None:
        if self.bot is not None:
            self.bot.dispatch(f"taskext_{event}", *args)
        for listener in self._listeners.get(event, ()):
            self._spawn(listener(*args))

    # ------------------------------------------------------------------ registration

    async def register(self, loop: Loop[Any]) -> TaskState:
        """Record ``loop`` as a task without starting it (for orphan detection and the CLI)."""
        managed = await self._register(loop)
        return managed.state.copy()

    async def scan(self, bot: Any) -> list[str]:
        """Register every loop defined on ``bot``'s cogs; tasks not seen are then orphans."""
        names: list[str] = []
        for cog in list(getattr(bot, "cogs", {}).values()):
            bind_handlers(cog)
            for found in cog_loops(cog):
                if found.persist and found.schedule is not None:
                    await self._register(found)
                    names.append(found.name)
        if self._session_start is not None:
            await self.store.mark_scan(self._session_start)
        return names

    # ------------------------------------------------------------------ queries

    async def tasks(self) -> list[TaskInfo]:
        """Every task in the store, with what this process knows about it."""
        await self.open()
        await self.flush()
        scanned = await self.store.last_scan()
        return [self._info(state, scanned) for state in await self.store.list_tasks()]

    async def task(self, name: str) -> TaskInfo:
        """One task. Raises :class:`~taskext.TaskNotFound`."""
        await self.open()
        await self.flush()
        return self._info(await self.store.get_task(name), await self.store.last_scan())

    def _info(self, state: TaskState, scanned: datetime | None) -> TaskInfo:
        managed = self._managed.get(state.name)
        running = managed is not None and managed.loop.is_running()
        orphaned = managed is None and scanned is not None and (state.seen_at is None or state.seen_at < scanned)
        next_run = managed.loop.next_iteration if managed is not None and running else state.next_run
        return TaskInfo(state=state, running=running, orphaned=orphaned, next_run=next_run)

    async def history(self, name: str | None = None, *, limit: int = 20) -> list[RunRecord]:
        """The newest ``limit`` runs of ``name`` (or of every task), newest first."""
        await self.open()
        await self.flush()
        if name is not None:
            await self.store.get_task(name)
        return await self.store.runs(name, limit=limit)

    async def stats(self, name: str) -> RunStats:
        """Counts by outcome and durations over the kept runs of ``name``."""
        await self.open()
        await self.flush()
        await self.store.get_task(name)
        return await self.store.run_stats(name)

    async def orphaned(self) -> list[str]:
        """Names of stored tasks whose code was not seen by the last scan."""
        return [info.name for info in await self.tasks() if info.orphaned]

    async def purge_orphans(self) -> list[str]:
        """Delete orphaned tasks and their runs; returns their names."""
        names = await self.orphaned()
        for name in names:
            await self.store.delete_task(name)
        return names

    # ------------------------------------------------------------------ admin

    async def _admin(self, name: str, **changes: Any) -> TaskState:
        await self.open()
        state = await self.store.update_admin(name, **changes)
        managed = self._managed.get(name)
        if managed is not None:
            for key, value in changes.items():
                setattr(managed.state, key, value)
        return state

    async def set_schedule(self, name: str, schedule: Schedule | str) -> TaskState:
        """Override the schedule of ``name``; takes effect at once and survives restarts.

        Raises
        ------
        TaskNotFound
            No task has that name.
        ScheduleError
            The schedule text is invalid (nothing is changed).
        """
        if isinstance(schedule, str):
            parsed = parse_schedule(schedule, seed=name)
        elif isinstance(schedule, Schedule):
            parsed = schedule
        else:
            raise TypeError(f"schedule must be a Schedule or schedule text, not {type(schedule).__name__}")
        state = await self._admin(name, override_schedule=parsed.to_text())
        managed = self._managed.get(name)
        if managed is not None:
            self._apply_override(managed)
            self._replan(managed)
        self._emit("schedule_changed", state)
        return state

    async def reset_schedule(self, name: str) -> TaskState:
        """Drop the override of ``name``: the default from code applies again."""
        state = await self._admin(name, override_schedule=None, default_changed=False)
        managed = self._managed.get(name)
        if managed is not None:
            self._apply_override(managed)
            self._replan(managed)
        self._emit("schedule_changed", state)
        return state

    async def disable(self, name: str) -> TaskState:
        """Stop scheduling ``name`` until :meth:`enable` (no catch-up on enable)."""
        return await self._set_flag(name, "disabled", True)

    async def enable(self, name: str) -> TaskState:
        """Schedule ``name`` again from now on."""
        return await self._set_flag(name, "disabled", False)

    async def pause(self, name: str) -> TaskState:
        """Hold ``name``; on :meth:`resume` a run missed meanwhile runs once (within the grace)."""
        return await self._set_flag(name, "paused", True)

    async def resume(self, name: str) -> TaskState:
        """Release a paused task."""
        return await self._set_flag(name, "paused", False)

    async def _set_flag(self, name: str, flag: str, value: bool) -> TaskState:
        managed = self._managed.get(name)
        was_held = managed is not None and (managed.state.disabled or managed.state.paused)
        state = await self._admin(name, **{flag: value})
        if managed is not None:
            self._replan(managed, catch_up=was_held and flag == "paused")
        self._emit("task_" + (flag if value else {"disabled": "enabled", "paused": "resumed"}[flag]), state)
        return state

    async def run_now(self, name: str) -> RunRecord | None:
        """Run ``name`` now, outside its schedule; its schedule is unchanged.

        A loop running in this process is woken (returns ``None``; the run is logged as
        usual). A task registered here but not running is run once in place and its
        record returned. Raises :class:`~taskext.TaskBusy` for a cluster-scope task that
        another process holds (running it, or with its next tick claimed ahead).
        """
        await self.open()
        managed = self._managed.get(name)
        if managed is None:
            await self.store.get_task(name)  # TaskNotFound for unknown names
            raise TaskNotFound(f"task {name!r} is not defined in this process; run it where its code is loaded")
        loop = managed.loop
        if loop.is_running():
            if managed.in_run:
                managed.run_again = True
            else:
                now = self.clock.now()
                last = managed.state.last_scheduled
                if managed.cluster and managed.ahead is None:
                    # Another process may hold the task (running it, or with its next tick
                    # claimed ahead): say so rather than plan a run whose claim must fail.
                    stored = await self.store.get_task(name)
                    held_until = stored.acquired_until
                    if stored.acquired_by not in (None, self.worker_id) and held_until and held_until > now:
                        raise TaskBusy(
                            f"task {name!r} is held by {stored.acquired_by} until {held_until.isoformat()};"
                            " run it from that process"
                        )
                    if stored.last_scheduled is not None and (last is None or stored.last_scheduled > last):
                        last = stored.last_scheduled
                if managed.manual_resume is None and loop._next_iteration not in (None, NEVER):
                    managed.manual_resume = loop._next_iteration
                # A tick is claimed once: never ask again for the instant of the last one.
                self._plan(managed, max(now, last + timedelta(microseconds=1)) if last is not None else now)
                loop._interrupt()
            return None
        args = (loop._injected,) if loop._injected is not None else ()
        run = await self._execute(managed, self.clock.now(), args, {})
        await self.flush()
        return run

    # ------------------------------------------------------------------ loops by name

    def loop_named(self, name: str) -> Loop[Any]:
        """The loop object of a task defined in this process. Raises TaskNotFound."""
        managed = self._managed.get(name)
        if managed is None:
            raise TaskNotFound(f"task {name!r} is not defined in this process")
        return managed.loop

    def stop_loop(self, name: str) -> bool:
        """Stop the loop of ``name`` after its current iteration; False if it was not running."""
        loop = self.loop_named(name)
        running = loop.is_running()
        loop.stop()
        return running

    def start_loop(self, name: str) -> bool:
        """Start the loop of ``name``; False if it was already running."""
        loop = self.loop_named(name)
        if loop.is_running():
            return False
        loop.start()
        return True

    def restart_loop(self, name: str) -> None:
        """Restart the loop of ``name`` (start it if it is not running)."""
        self.loop_named(name).restart()

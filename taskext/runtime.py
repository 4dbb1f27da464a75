"""The runtime half of the task manager: what runs when a managed loop starts, runs
and plans, and the write-behind of run results.

:class:`~taskext.TaskManager` (in :mod:`taskext.manager`) adds the public API on top;
the claims of cluster-scope ticks are in :mod:`taskext.ticks`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable
from datetime import datetime, timedelta
from typing import Any

from . import capture
from .engine import NEVER
from .errors import ScheduleError
from .loops import Loop
from .managed import _Managed, _short_traceback, _validate_grace
from .parsing import parse_schedule
from .retry import RetryPolicy
from .schedules import Cron, Interval
from .store import Outcome, RunRecord, Store, TaskState
from .ticks import ClusterTicks, cluster_grid

__all__ = ["ManagerRuntime"]


log = logging.getLogger("taskext.manager")


class ManagerRuntime(ClusterTicks):
    """Loop hooks, planning, recording and write-behind of :class:`~taskext.TaskManager`."""

    store: Store
    retry_policy: RetryPolicy
    worker_id: str
    output_limit: int
    keep_runs: int
    keep_days: float
    flush_interval: float
    watch_interval: float
    _managed: dict[str, _Managed]
    _dirty: dict[str, TaskState]
    _pending_runs: list[RunRecord]
    _groups: dict[str, asyncio.Lock]
    _seen_changes: int
    _last_prune: datetime | None
    _closing: bool
    _registering: dict[str, asyncio.Lock]

    async def open(self) -> None:
        raise NotImplementedError

    def _emit(self, event: str, *args: Any) -> None:
        raise NotImplementedError

    def _has_audience(self) -> bool:
        raise NotImplementedError

    def _spawn(self, coro: Awaitable[Any]) -> None:
        raise NotImplementedError

    def wants(self, loop: Loop[Any]) -> bool:
        return not self._closing and loop.schedule is not None

    async def _register(self, loop: Loop[Any]) -> _Managed:
        await self.open()
        existing = self._managed.get(loop.name)
        if existing is not None and existing.loop is loop:
            return existing
        # A loop starting and the on_ready scan may register the same task at once: one wins.
        lock = self._registering.setdefault(loop.name, asyncio.Lock())
        async with lock:
            existing = self._managed.get(loop.name)
            if existing is not None and existing.loop is loop:
                return existing
            return await self._register_now(loop, existing)

    async def _register_now(self, loop: Loop[Any], existing: _Managed | None) -> _Managed:
        default = existing.default if existing is not None and existing.loop is loop else loop.schedule
        if default is None:
            raise ScheduleError(f"task {loop.name!r} has no schedule to persist (zero interval)")
        grace = _validate_grace(loop.options.get("misfire_grace"))
        state = await self.store.register_task(
            loop.name,
            default.to_text(),
            now=self.clock.now(),
            exclusive=loop.options.get("exclusive"),
            misfire_grace=grace,
            random_fields=default.resolved if isinstance(default, Cron) else None,
        )
        policy = loop.options.get("retry") or self.retry_policy
        if not isinstance(policy, RetryPolicy):
            raise TypeError(f"retry for task {loop.name!r} must be a RetryPolicy, not {type(policy).__name__}")
        managed = _Managed(loop, default, state, policy)
        managed.grace = grace
        self._managed[loop.name] = managed
        loop.manager = self
        self._apply_override(managed)
        if state.default_changed:
            log.warning(
                "taskext: the default schedule of %r changed in code to %r; its override %r stays in force",
                loop.name,
                state.default_schedule,
                state.override_schedule,
            )
        return managed

    def _apply_override(self, managed: _Managed) -> None:
        text = managed.state.override_schedule
        if text is not None:
            try:
                managed.loop._apply_schedule(parse_schedule(text, seed=managed.loop.name))
                return
            except ScheduleError as exc:
                log.error(
                    "taskext: stored override of %r is invalid (%s); using the default",
                    managed.loop.name,
                    exc,
                )
        managed.loop._restore_schedule_fields(managed.default_fields)

    # ------------------------------------------------------------------ loop hooks

    async def _loop_starting(self, loop: Loop[Any]) -> None:
        managed = await self._register(loop)
        now = self.clock.now()
        state = managed.state
        if state.disabled or state.paused:
            self._plan(managed, NEVER)
            return
        if state.failures and state.last_finished is not None:
            self._plan(managed, state.last_finished + timedelta(seconds=state.fail_delay))
            return
        schedule = loop.schedule
        if state.last_scheduled is None and managed.cluster and isinstance(schedule, Interval):
            # Processes starting at different moments must share one grid to claim the
            # same ticks; run the slot that began last, now.
            grid = cluster_grid(loop.name, schedule, aligned=self.align_intervals)
            loop._schedule = grid
            assert grid.anchor is not None
            self._plan(managed, grid.latest_at_or_before(grid.anchor, now))
            return
        if state.last_scheduled is None:
            loop._plan_first(now)
            self._remember_plan(managed)
            return
        self._plan_catch_up(managed, state.last_scheduled, now)

    def _plan_catch_up(self, managed: _Managed, last: datetime, now: datetime) -> None:
        """Plan after downtime: a missed run within the grace runs once now, else is skipped."""
        loop = managed.loop
        schedule = loop.schedule
        assert schedule is not None
        if isinstance(schedule, Interval):
            schedule = schedule.anchored(last)
            loop._schedule = schedule
        due = schedule.next_after(last)
        if due > now:
            self._plan(managed, due)
            return
        latest = schedule.latest_at_or_before(due, now)
        following = schedule.next_after(latest)
        grace = managed.grace if managed.grace is not None else (following - latest).total_seconds()
        if (now - latest).total_seconds() <= grace:
            self._plan(managed, latest)
            return
        log.info("taskext: %r missed its run at %s (beyond the misfire grace); skipped", loop.name, latest)
        run = RunRecord(task=loop.name, outcome=Outcome.MISSED, scheduled=latest, worker=self.worker_id)
        managed.state.last_scheduled = latest
        self._pending_runs.append(run)
        self._plan(managed, following)
        self._emit("task_missed", run, managed.state.copy())

    def _plan(self, managed: _Managed, when: datetime) -> None:
        managed.loop._plan(when)
        self._remember_plan(managed)

    def _remember_plan(self, managed: _Managed) -> None:
        next_run = managed.loop._next_iteration
        managed.state.next_run = None if next_run == NEVER else next_run
        if managed.ran_last:  # in a cluster, only the process that ran writes the row
            self._dirty[managed.state.name] = managed.state

    async def _run_managed(
        self, loop: Loop[Any], scheduled: datetime, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        managed = self._managed[loop.name]
        if managed.cluster and not await self._claim(managed, scheduled):
            return
        if loop.overlap:
            loop._spawn_overlapped(functools.partial(self._execute, managed, scheduled, args, kwargs))
        else:
            await self._execute(managed, scheduled, args, kwargs, defer_save=True)

    async def _execute(
        self,
        managed: _Managed,
        scheduled: datetime,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        defer_save: bool = False,
    ) -> RunRecord:
        """Run the body once with recording, fail delays and events."""
        loop = managed.loop
        group = None
        if managed.group:
            group = self._groups.get(managed.group) or self._groups.setdefault(managed.group, asyncio.Lock())
        if group is not None:
            await group.acquire()
        run = RunRecord(task=loop.name, outcome=Outcome.SUCCEEDED, scheduled=scheduled, worker=self.worker_id)
        managed.in_run = True
        run.started = self.clock.now()
        error: Exception | None = None
        output, token = capture.begin(self.output_limit)
        try:
            await loop._invoke(args, kwargs)
        except asyncio.CancelledError:
            run.outcome = Outcome.CANCELLED
            raise
        except Exception as exc:
            error = exc
            run.outcome = Outcome.FAILED
            run.error = _short_traceback(exc)
        finally:
            capture.end(token)
            managed.in_run = False
            if group is not None:
                group.release()
            run.finished = self.clock.now()
            run.output = output.text()
            self._record(managed, run, write_behind=not managed.cluster or run.outcome is Outcome.CANCELLED)
        if managed.cluster:
            if defer_save and error is None:  # written when the next tick is planned, with its claim if near
                managed.unsaved = run
            else:  # failures are written before the error hook runs: it may look them up
                await self._save_now(managed, run)
        if error is not None:
            loop._has_failed = True
            await loop._call_loop_function("error", error)
        else:
            loop._has_failed = False
        return run

    def _record(self, managed: _Managed, run: RunRecord, *, write_behind: bool = True) -> None:
        state = managed.state
        state.last_scheduled = run.scheduled
        state.last_started = run.started
        state.last_finished = run.finished
        state.last_outcome = run.outcome
        state.run_count += 1
        reached_max = False
        if run.outcome is Outcome.FAILED:
            previous = state.fail_delay
            state.failures += 1
            state.fail_delay = managed.policy.delay(state.failures)
            state.last_error = run.error
            reached_max = state.fail_delay >= managed.policy.maximum > previous
        elif run.outcome is Outcome.SUCCEEDED:
            state.failures = 0
            state.fail_delay = 0.0
            state.last_error = None
        if write_behind:
            self._dirty[state.name] = state
            self._pending_runs.append(run)
        # Listeners get a copy; skip the cost when nobody listens.
        snapshot = state.copy() if self._has_audience() else state
        if run.outcome is Outcome.FAILED:
            log.warning(
                "taskext: %r failed (%d in a row); next attempt in %gs",
                state.name,
                state.failures,
                state.fail_delay,
            )
            self._emit("task_failed", run, snapshot)
            if reached_max:
                self._emit("task_max_fail_delay", run, snapshot)
        elif run.outcome is Outcome.SUCCEEDED:
            self._emit("task_succeeded", run, snapshot)
        elif run.outcome is Outcome.CANCELLED:
            self._emit("task_cancelled", run, snapshot)

    async def _plan_managed(self, loop: Loop[Any], scheduled: datetime) -> None:
        managed = self._managed[loop.name]
        state = managed.state
        now = self.clock.now()
        if state.disabled or state.paused:
            self._plan(managed, NEVER)
        elif managed.run_again:
            managed.run_again = False
            self._plan(managed, now)
        elif managed.manual_resume is not None:
            # A run_now() run: go back to the plan it interrupted.
            resume, managed.manual_resume = managed.manual_resume, None
            schedule = loop.schedule
            if schedule is not None and resume <= now:
                resume = schedule.latest_at_or_before(resume, now)
            self._plan(managed, resume)
        elif state.failures and state.last_finished is not None:
            # Moodle: while failing, the next run follows the fail delay, not the schedule.
            self._plan(managed, state.last_finished + timedelta(seconds=state.fail_delay))
        else:
            loop._plan_after_run(scheduled, now)
            self._remember_plan(managed)
        run, managed.unsaved = managed.unsaved, None
        if run is not None:
            await self._save_cluster_run(managed, run, now)

    def _loop_schedule_changed(self, loop: Loop[Any]) -> None:
        schedule = loop.schedule
        managed = self._managed.get(loop.name)
        if managed is None or schedule is None:
            return
        text = schedule.to_text()
        managed.state.override_schedule = text
        self._spawn(self._persist_override(loop.name, text))

    async def _persist_override(self, name: str, text: str) -> None:
        state = await self.store.update_admin(name, override_schedule=text)
        self._emit("schedule_changed", state)

    def _loop_stopped(self, loop: Loop[Any]) -> None:
        managed = self._managed.get(loop.name)
        if managed is not None and managed.loop is loop:
            managed.state.next_run = None
            if managed.ran_last:  # in a cluster, only the process that ran writes the row
                self._dirty[loop.name] = managed.state
            ahead, managed.ahead = managed.ahead, None
            unsaved, managed.unsaved = managed.unsaved, None
            if ahead is not None or unsaved is not None:
                task = asyncio.ensure_future(self._settle(managed, unsaved, ahead))
                self._releasing.add(task)
                task.add_done_callback(self._releasing.discard)

    # ------------------------------------------------------------------ persistence

    async def flush(self) -> None:
        """Write pending run results now (also done every ``flush_interval`` seconds), and
        prune the run log every ten minutes (cluster runs are written elsewhere, so pruning
        does not wait for results to be pending here)."""
        if (self._dirty or self._pending_runs) and not await self._write_pending():
            return  # the store is unusable now (logged); prune on a later flush
        now = self.clock.now()
        if self._last_prune is None or now - self._last_prune > timedelta(minutes=10):
            self._last_prune = now
            try:
                await self.store.prune_runs(keep_last=self.keep_runs, older_than=now - timedelta(days=self.keep_days))
            except Exception as exc:  # the flush loop must outlive a locked database
                log.warning("taskext: could not prune the run log, will retry: %s", exc)
                self._last_prune = None

    async def _write_pending(self) -> bool:
        """Write dirty states and pending runs; False (and kept for later) if the store failed."""
        # Stores read the states before their first await, so no copies are needed.
        states = list(self._dirty.values())
        runs, self._pending_runs = self._pending_runs, []
        self._dirty = {}
        try:
            await self.store.save_results(states, runs)
        except asyncio.CancelledError:  # closing: keep them for the final flush
            for state in states:
                self._dirty.setdefault(state.name, state)
            self._pending_runs[:0] = runs
            raise
        except Exception as exc:
            # Keep everything for the next attempt; newer changes win over the retried copy.
            for state in states:
                self._dirty.setdefault(state.name, state)
            self._pending_runs[:0] = runs
            log.warning("taskext: could not save %d run result(s), will retry: %s", len(runs) + len(states), exc)
            return False
        return True

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            await self.flush()

    async def _watch_forever(self) -> None:
        while True:
            await asyncio.sleep(self.watch_interval)
            try:
                await self.sync()
            except Exception as exc:
                log.warning("taskext: could not check the store for changes: %s", exc)

    async def sync(self) -> bool:
        """Apply owner changes made by other processes (the CLI). True if any were found."""
        counter = await self.store.change_counter()
        if counter == self._seen_changes:
            return False
        self._seen_changes = counter
        for stored in await self.store.list_tasks():
            managed = self._managed.get(stored.name)
            if managed is None:
                continue
            state = managed.state
            if (stored.override_schedule, stored.disabled, stored.paused) == (
                state.override_schedule,
                state.disabled,
                state.paused,
            ):
                continue
            was_stopped = state.disabled or state.paused
            state.override_schedule, state.default_changed = stored.override_schedule, stored.default_changed
            state.disabled, state.paused = stored.disabled, stored.paused
            self._apply_override(managed)
            self._replan(managed, catch_up=was_stopped and not stored.disabled)
            log.info("taskext: applied a change to %r made by another process", stored.name)
        return True

    def _replan(self, managed: _Managed, *, catch_up: bool = False) -> None:
        loop = managed.loop
        if not loop.is_running() or managed.in_run:
            return
        state = managed.state
        now = self.clock.now()
        if state.disabled or state.paused:
            self._plan(managed, NEVER)
        elif catch_up and loop.last_iteration is not None:
            self._plan_catch_up(managed, loop.last_iteration, now)
        elif loop._next_iteration == NEVER:
            schedule = loop.schedule
            assert schedule is not None
            last = loop.last_iteration or state.last_scheduled
            if isinstance(schedule, Interval) and last is not None:
                schedule = schedule.anchored(last)
                loop._schedule = schedule
            self._plan(managed, schedule.next_after(now))
        else:
            loop._replan()
            self._remember_plan(managed)
        loop._interrupt()

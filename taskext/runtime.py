"""The runtime half of the task manager: what runs when a managed loop starts, runs
and plans, and the write-behind of run results.

:class:`~taskext.TaskManager` (in :mod:`taskext.manager`) adds the public API on top.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from . import capture
from .batch import Batch
from .clock import Clock, Timer
from .engine import NEVER
from .errors import ScheduleError
from .loops import Loop
from .managed import _Managed, _short_traceback, _validate_grace
from .parsing import parse_schedule
from .retry import RetryPolicy
from .schedules import Cron, Interval
from .store import Outcome, RunRecord, Store, TaskState, TickClaim
from .store.base import RUNTIME_FIELDS

__all__ = ["ManagerRuntime", "cluster_grid"]


log = logging.getLogger("taskext.manager")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# Cluster scope: a tick due within CLAIM_AHEAD seconds of the end of the previous one (and
# at least two flush intervals after it) is claimed in the same write as that run's result;
# those writes are gathered over one flush interval.
CLAIM_AHEAD = 5.0


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a future's exception as seen (it was logged where it arose)."""
    if not future.cancelled():
        future.exception()


def cluster_grid(name: str, schedule: Interval, *, aligned: bool = False) -> Interval:
    """The grid every process derives alike for a cluster-scope interval task.

    ``k * period`` since the epoch, shifted (unless ``aligned``) by a fixed fraction of the
    period taken from a hash of the task's name: processes agree on it without talking,
    and tasks of equal period fall due at different instants, not all in one millisecond.
    """
    if aligned:
        return schedule.anchored(EPOCH)
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    fraction = int.from_bytes(digest, "big") / 2**64
    offset = timedelta(microseconds=int(schedule.period / timedelta(microseconds=1) * fraction))
    return schedule.anchored(EPOCH + offset)


class ManagerRuntime:
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
    tick_lease: float
    align_intervals: bool
    _tick_claims: Batch[TickClaim, tuple[bool, TaskState]]
    _tick_results: Batch[tuple[TaskState, RunRecord], None]
    _claims_ahead: Batch[tuple[TaskState, RunRecord, TickClaim], bool]
    _releasing: set[asyncio.Task[None]]

    def _init_batches(self) -> None:
        async def claim(items: list[TickClaim]) -> list[tuple[bool, TaskState]]:
            return await self.store.claim_ticks(items, worker=self.worker_id, now=self.clock.now())

        async def save(items: list[tuple[TaskState, RunRecord]]) -> list[None]:
            release = [(run.task, run.scheduled) for _, run in items if run.scheduled is not None]
            await self.store.save_results(
                [state for state, _ in items], [run for _, run in items], release=release, worker=self.worker_id
            )
            return [None] * len(items)

        async def save_and_claim(items: list[tuple[TaskState, RunRecord, TickClaim]]) -> list[bool]:
            try:
                return await self.store.save_and_claim(
                    [state for state, _, _ in items],
                    [run for _, run, _ in items],
                    [claim for _, _, claim in items],
                    worker=self.worker_id,
                    now=self.clock.now(),
                )
            except Exception as exc:
                # Nothing was written: the results go to the write-behind, the ticks are claimed when due.
                log.warning("taskext: could not save %d run result(s) now, will retry: %s", len(items), exc)
                for state, run, _ in items:
                    self._dirty[state.name] = state
                    self._pending_runs.append(run)
                raise

        self._tick_claims = Batch(claim)
        self._tick_results = Batch(save)

        def after_delay(callback: Callable[[], None]) -> Timer:
            clock = self.clock
            return clock.call_at(clock.now() + timedelta(seconds=self.flush_interval), callback)

        self._claims_ahead = Batch(save_and_claim, after=after_delay)
        self._releasing = set()

    @property
    def clock(self) -> Clock:
        raise NotImplementedError

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

    async def _claim(self, managed: _Managed, scheduled: datetime) -> bool:
        """Cluster scope: take the tick for this process, or learn another one has it."""
        if await self._held_ahead(managed, scheduled):
            # The lease on the tick claimed ahead keeps every other process out until it
            # ends, so runs before it (run_now, a shorter schedule) are covered by it too.
            lease_tick = managed.ahead[0] if managed.ahead is not None else scheduled
        else:
            if not await self._claim_now(managed, scheduled):
                return False
            lease_tick = scheduled
        managed.ran_last = True
        state = managed.state
        if state.failures and state.last_finished is not None:
            retry_at = state.last_finished + timedelta(seconds=state.fail_delay)
            if scheduled < retry_at:  # still inside a fail delay (set here or by another process)
                if lease_tick == scheduled:
                    await self.store.release_tick(state.name, self.worker_id, scheduled)
                    managed.ran_last = False
                return False
        return True

    async def _held_ahead(self, managed: _Managed, scheduled: datetime) -> bool:
        """Whether a claim made ahead (with the previous result) covers ``scheduled``."""
        ahead = managed.ahead
        if ahead is None:
            return False
        tick, future = ahead
        if scheduled > tick:
            managed.ahead = None  # re-planned past the claimed tick; its lease is ours anyway
            future.add_done_callback(_retrieve)  # nobody awaits it now
            return False
        try:
            # Shielded: a loop cancelled while waiting here leaves the claim for _settle to give up.
            won = await asyncio.shield(future)
        except Exception:
            won = False  # logged where the write failed; claimed when due instead
        if scheduled == tick or not won:
            managed.ahead = None
        return won

    async def _claim_now(self, managed: _Managed, scheduled: datetime) -> bool:
        """Claim ``scheduled`` in the store, and adopt what earlier ticks recorded."""
        state = managed.state
        lease_until = self.clock.now() + timedelta(seconds=self.tick_lease)
        try:
            claimed, fresh = await self._tick_claims.submit(TickClaim(state.name, scheduled, lease_until))
        except Exception as exc:
            log.warning("taskext: could not claim the %s run of %r; skipped here: %s", scheduled, state.name, exc)
            managed.ran_last = False
            return False
        # Adopt what the processes that ran the previous ticks recorded.
        for field in RUNTIME_FIELDS:
            if field != "next_run":
                setattr(state, field, getattr(fresh, field))
        managed.ran_last = claimed
        return claimed

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

    async def _save_now(self, managed: _Managed, run: RunRecord, *, stopped: bool = False) -> None:
        """Cluster scope: the row is written by the process that ran, before the next claim."""
        state = managed.state
        following = managed.loop._next_iteration
        state.next_run = None if stopped or following == NEVER else following
        try:
            await self._tick_results.submit((state, run))
        except Exception as exc:
            log.warning("taskext: could not save the run of %r now, will retry: %s", state.name, exc)
            self._dirty[state.name] = state
            self._pending_runs.append(run)

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

    async def _save_cluster_run(self, managed: _Managed, run: RunRecord, now: datetime) -> None:
        """Write a cluster-scope run's result; claim the next tick with it when it is near.

        The lease on the tick just run keeps other processes out until the write is made,
        so the next tick then starts on time, without a round trip to the store.
        """
        following = managed.loop._next_iteration
        state = managed.state
        # Runs up to a tick claimed ahead are covered by its lease (after run_now or a shorter schedule).
        already = managed.ahead is not None and following is not None and following <= managed.ahead[0]
        quiet = run.outcome is Outcome.SUCCEEDED and not (state.disabled or state.paused)
        if following is not None and following != NEVER and quiet and not already:
            lead = (following - now).total_seconds()
            if 2 * self.flush_interval <= lead <= CLAIM_AHEAD:
                state.next_run = following
                self._dirty.pop(state.name, None)  # written with the claim
                claim = TickClaim(state.name, following, following + timedelta(seconds=self.tick_lease))
                managed.ahead = (following, self._claims_ahead.submit((state, run, claim)))
                return
        await self._save_now(managed, run)

    async def _settle(
        self, managed: _Managed, unsaved: RunRecord | None, ahead: tuple[datetime, asyncio.Future[bool]] | None
    ) -> None:
        """A cluster loop stopped: write its last result, releasing the lease of that tick in
        the same write, then give up the tick it claimed ahead, if any."""
        name = managed.state.name
        if unsaved is not None:
            await self._save_now(managed, unsaved, stopped=True)
        if ahead is None:
            return
        tick, future = ahead
        try:
            won = await future
        except Exception:
            return  # nothing was claimed (logged where the write failed)
        if won:
            try:
                await self.store.release_tick(name, self.worker_id, tick)
            except Exception as exc:
                log.warning("taskext: could not give up the %s run of %r: %s", tick, name, exc)

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
        """Write pending run results now (also done every ``flush_interval`` seconds)."""
        if not self._dirty and not self._pending_runs:
            return
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
            return
        now = self.clock.now()
        if self._last_prune is None or now - self._last_prune > timedelta(minutes=10):
            self._last_prune = now
            await self.store.prune_runs(keep_last=self.keep_runs, older_than=now - timedelta(days=self.keep_days))

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

"""Cluster-scope ticks: the grid every process derives alike, the claim of each tick (when
due, or ahead, with the previous run's result), and the writing of a cluster run's result.

:class:`ClusterTicks` is a part of :class:`~taskext.runtime.ManagerRuntime`; see
docs/cluster.md for what it guarantees.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from .batch import Batch
from .clock import Clock, Timer
from .engine import NEVER
from .managed import _Managed
from .schedules import Interval
from .store import Outcome, RunRecord, Store, TaskState, TickClaim
from .store.base import RUNTIME_FIELDS

__all__ = ["CLAIM_AHEAD", "EPOCH", "ClusterTicks", "cluster_grid"]

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


class ClusterTicks:
    """Claims and result writes of cluster-scope loops (a part of the manager's runtime)."""

    store: Store
    worker_id: str
    flush_interval: float
    tick_lease: float
    align_intervals: bool
    _dirty: dict[str, TaskState]
    _pending_runs: list[RunRecord]
    _tick_claims: Batch[TickClaim, tuple[bool, TaskState]]
    _tick_results: Batch[tuple[TaskState, RunRecord], None]
    _claims_ahead: Batch[tuple[TaskState, RunRecord, TickClaim], bool]
    _releasing: set[asyncio.Task[None]]

    @property
    def clock(self) -> Clock:
        raise NotImplementedError

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

    async def _save_cluster_run(self, managed: _Managed, run: RunRecord, now: datetime) -> None:
        """Write a cluster-scope run's result; claim the next tick with it when it is near.

        The lease on the tick just run keeps other processes out until the write is made,
        so the next tick then starts on time, without a round trip to the store.
        """
        following = managed.loop._next_iteration
        state = managed.state
        self._dirty.pop(state.name, None)  # written below, with the run
        # Runs up to a tick claimed ahead are covered by its lease (after run_now or a shorter schedule).
        already = managed.ahead is not None and following is not None and following <= managed.ahead[0]
        quiet = run.outcome is Outcome.SUCCEEDED and not (state.disabled or state.paused)
        if following is not None and following != NEVER and quiet and not already:
            lead = (following - now).total_seconds()
            if 2 * self.flush_interval <= lead <= CLAIM_AHEAD:
                state.next_run = following
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

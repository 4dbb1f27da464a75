"""The ad hoc worker: claims due tasks in batches with leases and runs them in the bot process.

At-least-once: a task is deleted only after its handler returned, and a task whose
worker died is claimed again once its lease expires. Each claim carries a fencing token
(``lease``); a worker that lost its lease cannot complete the task.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import traceback
from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .clock import Timer
from .handlers import Adhoc, AdhocContext, handlers
from .store import AdhocResult, Claim

if TYPE_CHECKING:
    from .manager import TaskManager

__all__ = ["AdhocWorker"]

log = logging.getLogger("taskext.worker")
UNHANDLED = "no ad hoc handler named '{name}' in any worker (was its code removed?)"
UNHANDLED_GRACE = timedelta(minutes=5)


class AdhocWorker:
    """Runs due ad hoc tasks for a :class:`~taskext.TaskManager`.

    Parameters
    ----------
    manager:
        The manager whose store holds the queue.
    concurrency:
        Tasks running at once in this process, over all handlers.
    batch_size:
        Tasks claimed per query.
    lease:
        Seconds a claim is held; renewed every third of it while the task runs.
    poll_interval:
        Real seconds between checks for tasks queued by other processes.
    """

    def __init__(
        self,
        manager: TaskManager,
        *,
        concurrency: int = 100,
        batch_size: int = 100,
        lease: float = 60.0,
        poll_interval: float = 1.0,
    ) -> None:
        for label, value in (("concurrency", concurrency), ("batch_size", batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{label} must be a positive int (got {value!r})")
        for label, number in (("lease", lease), ("poll_interval", poll_interval)):
            if isinstance(number, bool) or not isinstance(number, (int, float)) or number <= 0:
                raise ValueError(f"{label} must be a positive number of seconds (got {number!r})")
        self.manager = manager
        self.concurrency = concurrency
        self.batch_size = batch_size
        self.lease = float(lease)
        self.poll_interval = float(poll_interval)
        self._inflight: dict[asyncio.Task[None], Claim] = {}
        self._per_handler: Counter[str] = Counter()
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._results: list[AdhocResult] = []
        self._wakeup = asyncio.Event()
        self._flushed = asyncio.Event()
        self._flush_needed = asyncio.Event()
        self._stopping = False
        self._main: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._timer: Timer | None = None
        self._heartbeat_timer: Timer | None = None
        self._last_sweep: datetime | None = None
        self.peak_inflight = 0

    @property
    def running(self) -> bool:
        return self._main is not None and not self._main.done()

    def start(self) -> None:
        """Start claiming tasks (idempotent)."""
        if self.running:
            return
        self._stopping = False
        self._main = asyncio.ensure_future(self._run())
        self._flusher = asyncio.ensure_future(self._flush_forever())
        self._arm_heartbeat()

    def wake(self) -> None:
        """Look for due tasks now (called when a task is queued in this process)."""
        self._wakeup.set()

    async def stop(self, *, timeout: float = 10.0) -> None:
        """Stop claiming; running tasks get ``timeout`` seconds, then are released unrun."""
        if self._main is None:
            return
        self._stopping = True
        self._wakeup.set()
        await asyncio.gather(self._main, return_exceptions=True)
        if self._inflight:
            _, late = await asyncio.wait(list(self._inflight), timeout=timeout)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
        for timer in (self._timer, self._heartbeat_timer):
            if timer is not None:
                timer.cancel()
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
        await self.flush()
        self._main = None

    # ------------------------------------------------------------------ claiming

    def _claim_groups(self, known: dict[str, Adhoc[Any]], free: int) -> list[tuple[list[str], int]]:
        """(names, limit) per claim: one for uncapped handlers, one per capped handler with
        room, so a handler at its cap never holds global slots or leases it cannot use."""
        limit = min(free, self.batch_size)
        uncapped = [name for name, handler in known.items() if handler.concurrency is None]
        groups = [(uncapped, limit)] if uncapped else []
        for name, handler in known.items():
            if handler.concurrency is not None:
                room = min(handler.concurrency - self._per_handler[name], limit)
                if room > 0:
                    groups.append(([name], room))
        return groups

    async def _claim(self, known: dict[str, Adhoc[Any]], now: datetime) -> tuple[list[Claim], bool]:
        """Claim within the free slots; the flag says some claim came back full (more may be due)."""
        claims: list[Claim] = []
        full = False
        for names, limit in self._claim_groups(known, self.concurrency - len(self._inflight)):
            limit = min(limit, self.concurrency - len(self._inflight) - len(claims))
            if limit <= 0:
                break
            try:
                got = await self.manager.store.claim(
                    self.manager.worker_id,
                    names,
                    now=now,
                    lease_until=now + timedelta(seconds=self.lease),
                    limit=limit,
                )
            except Exception as exc:
                log.warning("taskext: could not claim ad hoc tasks: %s", exc)
                return claims, False
            claims.extend(got)
            full = full or len(got) == limit
        return claims, full

    async def _run(self) -> None:
        while not self._stopping:
            self._wakeup.clear()
            known = handlers()
            now = self.manager.clock.now()
            await self._sweep(known, now)
            claims, full = await self._claim(known, now)
            for claim in claims:
                handler = known[claim.name]
                self._per_handler[claim.name] += 1
                task = asyncio.ensure_future(self._execute(claim, handler))
                self._inflight[task] = claim
            self.peak_inflight = max(self.peak_inflight, len(self._inflight))
            if full:
                await asyncio.sleep(0)  # a full batch: more may be due right now
                continue
            free = self.concurrency - len(self._inflight)
            await self._sleep(
                [names for group, _ in self._claim_groups(known, free) for names in group] if free else []
            )

    async def _sleep(self, names: list[str]) -> None:
        """Wait for the next due task, a wake-up (enqueue, freed slot) or the poll interval."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if names:
            try:
                due = await self.manager.store.next_due(names)
            except Exception as exc:
                log.warning("taskext: could not read the ad hoc queue: %s", exc)
                due = None
            if due is not None:
                self._timer = self.manager.clock.call_at(due, self._wakeup.set)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout=self.poll_interval)

    async def _sweep(self, known: dict[str, Adhoc[Any]], now: datetime) -> None:
        """Fail due tasks whose handler is gone (code removed): kept, visible, not spinning."""
        if not self.manager.handlers_ready:
            return
        if self._last_sweep is not None and now - self._last_sweep < timedelta(minutes=1):
            return
        self._last_sweep = now
        store = self.manager.store
        try:
            # Due for a while with no taker: another process with the handler would have claimed it.
            failed = await store.fail_unhandled(sorted(known), now=now - UNHANDLED_GRACE, reason=UNHANDLED)
            retention = timedelta(days=self.manager.adhoc_keep_days)
            await store.purge_adhoc(failed_before=now - retention)
        except Exception as exc:
            log.warning("taskext: could not sweep the ad hoc queue: %s", exc)
            return
        if failed:
            log.warning("taskext: %d ad hoc task(s) have no handler in this process; kept as failed", failed)

    # ------------------------------------------------------------------ running

    async def _execute(self, claim: Claim, handler: Adhoc[Any]) -> None:
        manager = self.manager
        result = AdhocResult(claim.id, claim.lease)
        semaphore = None
        if handler.concurrency is not None:
            semaphore = self._semaphores.setdefault(claim.name, asyncio.Semaphore(handler.concurrency))
        try:
            context = AdhocContext(
                id=claim.id,
                name=claim.name,
                attempt=claim.attempt,
                max_attempts=claim.max_attempts,
                user_id=claim.user_id,
                guild_id=claim.guild_id,
                enqueued_at=claim.enqueued_at,
                run_at=claim.run_at,
                bot=manager.bot,
                manager=manager,
            )
            data = json.loads(claim.data)
            if semaphore is not None:
                await semaphore.acquire()
            try:
                if handler.timeout is not None:
                    await asyncio.wait_for(handler(data, context), timeout=handler.timeout)
                else:
                    await handler(data, context)
            finally:
                if semaphore is not None:
                    semaphore.release()
        except asyncio.CancelledError as exc:
            if self._stopping:
                result.release = True  # shutdown: hand it back unrun, the attempt does not count
            else:  # raised by the handler itself: a failure (released, it would run again at once, forever)
                self._failed(claim, handler, result, exc)
        except Exception as exc:
            self._failed(claim, handler, result, exc)
        except BaseException:  # SystemExit, KeyboardInterrupt...: not a success; hand it back
            result.release = True
            raise
        finally:
            self._per_handler[claim.name] -= 1
            self._inflight.pop(asyncio.current_task(), None)  # type: ignore[arg-type]
            self._results.append(result)
            self._flush_needed.set()
            self._wakeup.set()

    def _failed(self, claim: Claim, handler: Adhoc[Any], result: AdhocResult, exc: BaseException) -> None:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-4))
        result.error = text[-2000:]
        if claim.attempt >= claim.max_attempts:
            log.error(
                "taskext: ad hoc task %d (%s) failed on attempt %d of %d; kept as failed: %r",
                claim.id,
                claim.name,
                claim.attempt,
                claim.max_attempts,
                exc,
            )
            self.manager._emit("adhoc_failed", claim, result.error)
            return
        delay = handler.retry.delay(claim.attempt)
        result.retry_at = self.manager.clock.now() + timedelta(seconds=delay)
        log.warning(
            "taskext: ad hoc task %d (%s) failed on attempt %d of %d, retrying in %gs: %r",
            claim.id,
            claim.name,
            claim.attempt,
            claim.max_attempts,
            delay,
            exc,
        )

    # ------------------------------------------------------------------ results

    async def flush(self) -> None:
        """Write finished results now (batched: one transaction for all of them)."""
        if not self._results:
            return
        results, self._results = self._results, []
        try:
            await self.manager.store.finish(self.manager.worker_id, results, now=self.manager.clock.now())
        except asyncio.CancelledError:
            # stop() cancels the flusher, maybe before the write reached the store: keep the
            # results for stop()'s own flush. Writing one twice is harmless (fenced by lease).
            self._results[:0] = results
            raise
        except Exception as exc:
            self._results[:0] = results
            log.warning("taskext: could not record %d ad hoc result(s), will retry: %s", len(results), exc)
            await asyncio.sleep(0.05)
            self._flush_needed.set()

    async def _flush_forever(self) -> None:
        while True:
            await self._flush_needed.wait()
            self._flush_needed.clear()
            await asyncio.sleep(0)  # let runs finishing in this tick join the batch
            await self.flush()

    def _arm_heartbeat(self) -> None:
        clock = self.manager.clock
        self._heartbeat_timer = clock.call_at(
            clock.now() + timedelta(seconds=self.lease / 3), lambda: asyncio.ensure_future(self._heartbeat())
        )

    async def _heartbeat(self) -> None:
        if self._stopping:
            return
        self._arm_heartbeat()
        leases = [(claim.id, claim.lease) for claim in self._inflight.values()]
        if not leases:
            return
        until = self.manager.clock.now() + timedelta(seconds=self.lease)
        try:
            await self.manager.store.heartbeat(self.manager.worker_id, leases, until=until)
        except Exception as exc:
            log.warning("taskext: could not extend %d ad hoc lease(s): %s", len(leases), exc)

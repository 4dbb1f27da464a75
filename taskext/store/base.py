"""The storage contract: records and the abstract :class:`Store` every backend implements.

One contract test suite (tests/store/test_contract.py) runs against every store.
"""

from __future__ import annotations

import abc
import enum
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from ..errors import TaskextError
from .queue import QueueStore

log = logging.getLogger("taskext.store")

__all__ = [
    "ADMIN_FIELDS",
    "NotATaskextDatabase",
    "Outcome",
    "RunRecord",
    "RunStats",
    "SchemaTooNew",
    "Store",
    "StoreError",
    "TaskState",
    "TickClaim",
]


class StoreError(TaskextError, RuntimeError):
    """The store cannot be used (unreachable, locked for too long, wrong content)."""


class NotATaskextDatabase(StoreError):
    """The database holds something else; taskext leaves it untouched."""


class SchemaTooNew(StoreError):
    """The database was written by a newer taskext; this version leaves it untouched."""


class Outcome(str, enum.Enum):
    """How a run ended."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    MISSED = "missed"
    CANCELLED = "cancelled"


@dataclass(slots=True)
class TaskState:
    """Everything persisted about one scheduled task."""

    name: str
    default_schedule: str | None = None
    override_schedule: str | None = None
    default_changed: bool = False
    disabled: bool = False
    paused: bool = False
    exclusive: str | None = None
    misfire_grace: float | None = None
    random_fields: str | None = None
    next_run: datetime | None = None
    last_scheduled: datetime | None = None
    last_started: datetime | None = None
    last_finished: datetime | None = None
    last_outcome: Outcome | None = None
    failures: int = 0
    fail_delay: float = 0.0
    last_error: str | None = None
    run_count: int = 0
    seen_at: datetime | None = None
    acquired_by: str | None = None
    acquired_until: datetime | None = None

    @property
    def overridden(self) -> bool:
        """Whether an owner override is in force."""
        return self.override_schedule is not None

    @property
    def schedule_text(self) -> str | None:
        """The schedule in force: the override, else the default from code."""
        return self.override_schedule if self.override_schedule is not None else self.default_schedule

    def copy(self) -> TaskState:
        return replace(self)


# Columns owners change; run results never write them, so the two cannot overwrite each other.
ADMIN_FIELDS = frozenset({"override_schedule", "default_changed", "disabled", "paused"})
RUNTIME_FIELDS = (
    "next_run",
    "last_scheduled",
    "last_started",
    "last_finished",
    "last_outcome",
    "failures",
    "fail_delay",
    "last_error",
    "run_count",
)


@dataclass(slots=True)
class RunRecord:
    """One run of a scheduled task, as kept in the run log."""

    task: str
    outcome: Outcome
    scheduled: datetime | None = None
    started: datetime | None = None
    finished: datetime | None = None
    error: str | None = None
    output: str = ""
    worker: str | None = None
    id: int | None = None

    @property
    def duration(self) -> timedelta | None:
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started


@dataclass(frozen=True, slots=True)
class TickClaim:
    """A scheduled tick a process wants to run (see :meth:`Store.claim_ticks`)."""

    name: str
    scheduled: datetime
    lease_until: datetime


@dataclass(slots=True)
class RunStats:
    """Aggregates over the runs kept for one task."""

    task: str
    runs: int = 0
    by_outcome: dict[str, int] = field(default_factory=dict)
    mean_duration: float | None = None
    max_duration: float | None = None
    last_success: datetime | None = None
    last_failure: datetime | None = None


class Store(QueueStore):
    """Persistence for task state and run logs. Use ``async with store:``."""

    url: str

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect, check the schema version, create or migrate the schema."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the connection. Safe to call twice."""

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @abc.abstractmethod
    async def register_task(
        self,
        name: str,
        default_schedule: str | None,
        *,
        now: datetime,
        exclusive: str | None = None,
        misfire_grace: float | None = None,
        random_fields: str | None = None,
    ) -> TaskState:
        """Insert the task or refresh its code defaults; return the stored state.

        When the default in code differs from the stored one and an override is in
        force, the override stays and ``default_changed`` is set (Moodle's upgrade rule).
        """

    @abc.abstractmethod
    async def get_task(self, name: str) -> TaskState:
        """The state of ``name``. Raises :class:`~taskext.TaskNotFound`."""

    @abc.abstractmethod
    async def list_tasks(self) -> list[TaskState]:
        """Every task, ordered by name."""

    @abc.abstractmethod
    async def update_admin(self, name: str, **changes: Any) -> TaskState:
        """Set owner-controlled fields (:data:`ADMIN_FIELDS`) of ``name`` atomically.

        Bumps the change counter. Raises :class:`~taskext.TaskNotFound`, or
        ``ValueError`` for a field that is not an admin field.
        """

    @abc.abstractmethod
    async def save_results(
        self,
        states: Sequence[TaskState],
        runs: Sequence[RunRecord],
        *,
        release: Sequence[tuple[str, datetime]] = (),
        worker: str | None = None,
    ) -> None:
        """In one transaction: write the run-result fields of ``states`` and append ``runs``.

        ``last_scheduled`` never moves backwards (a slow process cannot undo a newer
        claim made by another). ``release`` lists ``(task, scheduled)`` ticks whose lease
        ``worker`` drops in the same transaction (see :meth:`release_tick`).

        Implementations read every value of ``states`` and ``runs`` before their first
        ``await``: the manager passes live objects, not copies.
        """

    @abc.abstractmethod
    async def runs(self, task: str | None = None, *, limit: int = 20) -> list[RunRecord]:
        """The newest ``limit`` runs (of ``task``, or of all tasks), newest first."""

    @abc.abstractmethod
    async def run_stats(self, task: str) -> RunStats:
        """Counts by outcome and durations over the kept runs of ``task``."""

    @abc.abstractmethod
    async def prune_runs(self, *, keep_last: int, older_than: datetime) -> int:
        """Delete runs older than ``older_than`` except each task's newest ``keep_last``."""

    @abc.abstractmethod
    async def delete_task(self, name: str) -> None:
        """Forget a task and its runs. Raises :class:`~taskext.TaskNotFound`."""

    @abc.abstractmethod
    async def claim_tick(
        self, name: str, scheduled: datetime, *, worker: str, now: datetime, lease_until: datetime
    ) -> bool:
        """Claim the run of ``name`` scheduled at ``scheduled``, atomically, for ``worker``.

        True for exactly one caller per (task, scheduled time) across every process
        sharing the store: it sets ``last_scheduled`` to ``scheduled`` when that is newer
        than the stored one, and takes the task's lease until ``lease_until``. False when
        the tick was already claimed (or a later one was), or while another worker holds an
        unexpired lease on the task (a run still going, or ``taskext run``). Raises TaskNotFound.
        """

    async def claim_ticks(
        self, claims: Sequence[TickClaim], *, worker: str, now: datetime
    ) -> list[tuple[bool, TaskState]]:
        """:meth:`claim_tick` for several ticks; each result also carries the task's state
        just after its claim (what the processes that ran earlier ticks recorded).

        Stores override this to use one transaction; this default makes one call per tick.
        """
        results = []
        for claim in claims:
            won = await self.claim_tick(
                claim.name, claim.scheduled, worker=worker, now=now, lease_until=claim.lease_until
            )
            results.append((won, await self.get_task(claim.name)))
        return results

    async def save_and_claim(
        self,
        states: Sequence[TaskState],
        runs: Sequence[RunRecord],
        claims: Sequence[TickClaim],
        *,
        worker: str,
        now: datetime,
    ) -> list[bool]:
        """:meth:`save_results` of ticks ``worker`` ran, and :meth:`claim_tick` of their
        next ticks; one result per claim: whether it was won.

        The manager calls this for cluster-scope loops whose next tick is near, so that the
        tick starts on time without a round trip to the store. The lease ``worker`` holds on
        the tick it ran keeps other processes out until the claim is made. Stores may
        override this to use one transaction; this default makes two.
        """
        await self.save_results(states, runs)
        try:
            return [won for won, _ in await self.claim_ticks(claims, worker=worker, now=now)]
        except Exception as exc:
            # The results are saved: report the claims as lost (the ticks are claimed when
            # due), so that the caller does not write the results again.
            log.warning("taskext: results saved, but claiming %d next tick(s) failed: %s", len(claims), exc)
            return [False] * len(claims)

    @abc.abstractmethod
    async def release_tick(self, name: str, worker: str, scheduled: datetime) -> None:
        """Drop the lease ``worker`` took with :meth:`claim_tick` for ``scheduled``."""

    async def listen(self, callback: Callable[[str], None]) -> bool:
        """Call ``callback("admin")`` or ``callback("adhoc")`` when another process changes
        tasks or queues ad hoc work. Returns False when the store cannot push changes (the
        manager then polls :meth:`change_counter` and the queue)."""
        return False

    @abc.abstractmethod
    async def acquire_task(self, name: str, worker: str, *, now: datetime, until: datetime) -> str | None:
        """Take the lease of ``name`` for ``worker`` until ``until``.

        Returns ``None`` when taken (or already held by ``worker``), else the id of the
        worker that holds an unexpired lease. Raises :class:`~taskext.TaskNotFound`.
        """

    @abc.abstractmethod
    async def release_task(self, name: str, worker: str) -> None:
        """Give up the lease of ``name`` if ``worker`` holds it."""

    @abc.abstractmethod
    async def mark_scan(self, now: datetime) -> None:
        """Record that a process registered every task its code defines at ``now``."""

    @abc.abstractmethod
    async def last_scan(self) -> datetime | None:
        """When a process last registered all its tasks (orphans were not seen then)."""

    @abc.abstractmethod
    async def change_counter(self) -> int:
        """A number that grows whenever an admin change is committed (by any process)."""

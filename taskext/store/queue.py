"""The ad hoc queue part of the storage contract: records and abstract methods."""

from __future__ import annotations

import abc
import enum
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

__all__ = ["AdhocResult", "AdhocStatus", "AdhocTask", "Claim", "NewAdhoc", "QueueStore", "dedupe_key"]


def dedupe_key(name: str, data: str, user_id: int | None) -> str:
    """What makes two ad hoc tasks "the same" for dedupe and debounce: name, data, user."""
    return hashlib.sha256(f"{name}\0{data}\0{user_id}".encode()).hexdigest()[:32]


class AdhocStatus(str, enum.Enum):
    """Where an ad hoc task is. Succeeded tasks are deleted (Moodle does the same)."""

    PENDING = "pending"
    RUNNING = "running"
    FAILED = "failed"


@dataclass(slots=True)
class NewAdhoc:
    """An ad hoc task to enqueue; ``data`` is already JSON text."""

    name: str
    data: str
    run_at: datetime
    enqueued_at: datetime
    max_attempts: int
    dedupe_key: str
    user_id: int | None = None
    guild_id: int | None = None


@dataclass(slots=True)
class AdhocTask:
    """An ad hoc task as stored."""

    id: int
    name: str
    data: str
    status: AdhocStatus
    run_at: datetime
    enqueued_at: datetime
    attempts: int
    max_attempts: int
    user_id: int | None = None
    guild_id: int | None = None
    last_error: str | None = None
    acquired_by: str | None = None
    acquired_until: datetime | None = None
    lease: int = 0
    finished_at: datetime | None = None


@dataclass(slots=True)
class Claim:
    """A task claimed by a worker: ``lease`` is the fencing token its outcome must carry."""

    id: int
    name: str
    data: str
    user_id: int | None
    guild_id: int | None
    enqueued_at: datetime
    run_at: datetime
    attempt: int
    max_attempts: int
    lease: int


@dataclass(slots=True)
class AdhocResult:
    """The result of one claimed run, written in batches."""

    id: int
    lease: int
    error: str | None = None
    retry_at: datetime | None = None  # with error: when to try again (None: failed for good)
    release: bool = False  # handed back unrun (shutdown): the attempt does not count


class QueueStore(abc.ABC):
    """Persistence of ad hoc tasks, with leases and fencing."""

    @abc.abstractmethod
    async def enqueue(self, items: Sequence[NewAdhoc], *, dedupe: bool) -> list[int]:
        """Insert ``items`` in one transaction; return their ids in order.

        With ``dedupe``, an item whose ``dedupe_key`` matches a pending task returns that
        task's id instead of inserting (Moodle's check for an existing task).
        """

    @abc.abstractmethod
    async def reschedule_or_enqueue(self, item: NewAdhoc) -> tuple[int, bool]:
        """Move the pending task with ``item.dedupe_key`` to ``item.run_at``, or insert it.

        Returns ``(id, created)``.
        """

    @abc.abstractmethod
    async def claim(
        self, worker: str, names: Sequence[str], *, now: datetime, lease_until: datetime, limit: int
    ) -> list[Claim]:
        """Atomically take up to ``limit`` due tasks of ``names``: pending ones whose time
        has come, and running ones whose lease expired (their worker died). Each claim
        counts an attempt and gets a new fencing ``lease``. Claims are returned by
        ``run_at``, then ``id``."""

    @abc.abstractmethod
    async def finish(self, worker: str, outcomes: Sequence[AdhocResult], *, now: datetime) -> int:
        """Record outcomes in one transaction; success deletes the task.

        An outcome whose ``lease`` is no longer the task's (another worker re-claimed it)
        is ignored: a stale worker cannot complete what it no longer owns. Returns how
        many outcomes were applied.
        """

    @abc.abstractmethod
    async def heartbeat(self, worker: str, leases: Sequence[tuple[int, int]], *, until: datetime) -> int:
        """Extend the leases ``(id, lease)`` held by ``worker`` to ``until``."""

    @abc.abstractmethod
    async def next_due(self, names: Sequence[str]) -> datetime | None:
        """The earliest ``run_at`` of a pending task of ``names``, or the earliest lease expiry."""

    @abc.abstractmethod
    async def get_adhoc(self, task_id: int) -> AdhocTask:
        """One task. Raises :class:`~taskext.TaskNotFound`."""

    @abc.abstractmethod
    async def list_adhoc(
        self, *, status: AdhocStatus | None = None, name: str | None = None, limit: int = 100
    ) -> list[AdhocTask]:
        """Tasks by ``run_at``, optionally of one status or handler."""

    @abc.abstractmethod
    async def adhoc_counts(self, *, now: datetime) -> dict[str, int | datetime | None]:
        """``pending``, ``due``, ``running``, ``failed`` counts and ``oldest_due`` run time."""

    @abc.abstractmethod
    async def cancel_adhoc(self, task_id: int) -> AdhocTask:
        """Delete a pending or failed task; returns it. Raises TaskNotFound, or
        ``ValueError`` for a running task (its worker owns it)."""

    @abc.abstractmethod
    async def retry_adhoc(self, task_id: int, *, now: datetime) -> AdhocTask:
        """Queue a failed task again with a fresh attempt count. Raises TaskNotFound, or
        ``ValueError`` unless it is failed."""

    @abc.abstractmethod
    async def fail_unhandled(self, known: Sequence[str], *, now: datetime, reason: str) -> int:
        """Mark due tasks whose handler is not in ``known`` as failed: due pending ones, and
        running ones whose lease expired (their worker died; nobody here can run them).

        ``{name}`` in ``reason`` is replaced by the task's handler name.
        """

    @abc.abstractmethod
    async def purge_adhoc(self, *, failed_before: datetime) -> int:
        """Delete failed tasks that finished before ``failed_before``."""

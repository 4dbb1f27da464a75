"""The PostgreSQL store, through an asyncpg connection pool.

Every database call goes through :meth:`PostgresStore._call`, which borrows one pool
connection, runs one coroutine on it (inside a transaction when asked) and turns driver
errors into :class:`StoreError`. Changes are pushed to other processes with
``LISTEN``/``NOTIFY`` on the channel ``taskext_changes``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from ..clock import track_io
from ..errors import TaskNotFound
from .base import (
    ADMIN_FIELDS,
    Outcome,
    RunRecord,
    RunStats,
    Store,
    StoreError,
    TaskState,
    TickClaim,
)
from .postgres_notify import CONNECT_ERRORS, DRIVER_ERRORS, PostgresListener
from .postgres_queue import CHANNEL, PostgresQueue, affected, aware, aware_or_none
from .postgres_schema import _SCHEMA_V1, MIGRATIONS, SCHEMA_VERSION, prepare_schema

__all__ = ["CHANNEL", "MIGRATIONS", "SCHEMA_VERSION", "_SCHEMA_V1", "PostgresStore"]

log = logging.getLogger("taskext.store.postgres")

UTC = timezone.utc
R = TypeVar("R")

# Bumps the change counter and tells listeners, inside the admin change's transaction.
_ADMIN_CHANGED = (
    f"UPDATE taskext_meta SET value = (value::bigint + 1)::text WHERE key = 'changes'; NOTIFY {CHANNEL}, 'admin'"
)

_TASK_COLUMNS = (
    "name, default_schedule, override_schedule, default_changed, disabled, paused, exclusive,"
    " misfire_grace, random_fields, next_run, last_scheduled, last_started, last_finished,"
    " last_outcome, failures, fail_delay, last_error, run_count, seen_at, acquired_by, acquired_until"
)
_RUN_COLUMNS = "id, task, scheduled, started, finished, outcome, error, output, worker"
_BOOLEAN_FIELDS = frozenset({"default_changed", "disabled", "paused"})

# last_scheduled only moves forward (GREATEST ignores NULL): a slow process must not undo another's claim.
_SAVE_RESULTS = (
    "UPDATE taskext_tasks SET next_run = $2, last_scheduled = GREATEST(last_scheduled, $3), last_started = $4,"
    " last_finished = $5, last_outcome = $6, failures = $7, fail_delay = $8, last_error = $9, run_count = $10"
    " WHERE name = $1"
)
# A task deleted meanwhile (purged) gets no orphan runs.
_RELEASE_TICK = (
    "UPDATE taskext_tasks SET acquired_by = NULL, acquired_until = NULL"
    " WHERE name = $1 AND acquired_by = $2 AND last_scheduled = $3"
)
_INSERT_RUN = (
    "INSERT INTO taskext_runs (task, scheduled, started, finished, outcome, error, output, worker)"
    " SELECT $1::text, $2::timestamptz, $3::timestamptz, $4::timestamptz, $5::text, $6::text, $7::text, $8::text"
    " WHERE EXISTS (SELECT 1 FROM taskext_tasks WHERE name = $1::text)"
)


def _task_from_row(row: Any) -> TaskState:
    return TaskState(
        name=row[0],
        default_schedule=row[1],
        override_schedule=row[2],
        default_changed=row[3],
        disabled=row[4],
        paused=row[5],
        exclusive=row[6],
        misfire_grace=row[7],
        random_fields=row[8],
        next_run=row[9],
        last_scheduled=row[10],
        last_started=row[11],
        last_finished=row[12],
        last_outcome=Outcome(row[13]) if row[13] else None,
        failures=row[14],
        fail_delay=row[15],
        last_error=row[16],
        run_count=row[17],
        seen_at=row[18],
        acquired_by=row[19],
        acquired_until=row[20],
    )


def _run_from_row(row: Any) -> RunRecord:
    return RunRecord(
        id=row[0],
        task=row[1],
        scheduled=row[2],
        started=row[3],
        finished=row[4],
        outcome=Outcome(row[5]),
        error=row[6],
        output=row[7],
        worker=row[8],
    )


async def _keep_session(conn: Any) -> None:
    """The pool's reset between borrowers: nothing to undo.

    asyncpg still rolls back an unfinished transaction; taskext sets no session settings,
    takes only transaction-scoped advisory locks and LISTENs on its own connection, so
    the default reset query (one more round trip per call) has nothing to do.
    """


def redacted(url: str) -> str:
    """``url`` without its password, fit for error messages and logs."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.rsplit("@", 1)[1]
        user = parts.username or ""
        return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))
    except ValueError:
        return "<unparsable PostgreSQL URL>"


class PostgresStore(PostgresListener, PostgresQueue, Store):
    """A :class:`Store` in a PostgreSQL database, shared safely by any number of processes.

    Parameters
    ----------
    url:
        ``postgresql://user:password@host:5432/database`` (or ``postgres://``); any
        option asyncpg understands may follow as query parameters. The tables are created
        in the connection's current schema (the first of its ``search_path``).
    min_size, max_size:
        Connections the pool keeps open, and the most it opens.
    command_timeout:
        Seconds one statement may take before it is cancelled (``None``: no limit).
    connect_timeout:
        Seconds to wait for a new connection.
    """

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        command_timeout: float | None = 30.0,
        connect_timeout: float = 10.0,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("postgresql://", "postgres://")):
            raise ValueError(f"not a PostgreSQL URL: {url!r} (expected postgresql://user@host/database)")
        if isinstance(min_size, bool) or not isinstance(min_size, int) or min_size < 0:
            raise ValueError(f"min_size must be an int >= 0 (got {min_size!r})")
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1 or max_size < min_size:
            raise ValueError(f"max_size must be an int >= 1 and >= min_size (got {max_size!r})")
        if command_timeout is not None and command_timeout <= 0:
            raise ValueError("command_timeout must be positive (or None for no limit)")
        if connect_timeout <= 0:
            raise ValueError("connect_timeout must be positive")
        self.url = url
        self.label = redacted(url)
        self.min_size = min_size
        self.max_size = max_size
        self.command_timeout = command_timeout
        self.connect_timeout = connect_timeout
        self._pool: Any = None
        self._listener: Any = None
        self._callbacks: list[Callable[[str], None]] = []
        self._listen_lock = asyncio.Lock()
        self._relisten_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ plumbing

    def _describe(self, exc: BaseException) -> str:
        if isinstance(exc, asyncio.TimeoutError):
            limit = f"within {self.command_timeout:g} s" if self.command_timeout else "in time"
            return f"PostgreSQL {self.label} did not answer {limit} (command_timeout)"
        if isinstance(exc, (OSError, asyncpg.exceptions.PostgresConnectionError)):
            return f"lost or cannot reach PostgreSQL at {self.label}: {exc}"
        return f"PostgreSQL {self.label}: {type(exc).__name__}: {exc}"

    # The one narrow method every database call goes through.
    async def _call(self, work: Callable[[Any], Awaitable[R]], *, transaction: bool = False) -> R:
        return await track_io(self._run(work, transaction=transaction))

    async def _run(self, work: Callable[[Any], Awaitable[R]], *, transaction: bool) -> R:
        pool = self._pool
        if pool is None:
            raise StoreError(f"store {self.label} is not open")
        try:
            async with pool.acquire() as conn:
                if not transaction:
                    return await work(conn)
                async with conn.transaction():
                    return await work(conn)
        except DRIVER_ERRORS as exc:
            raise StoreError(self._describe(exc)) from exc

    async def open(self) -> None:
        if self._pool is not None:
            return
        try:
            pool = await asyncpg.create_pool(
                self.url,
                min_size=self.min_size,
                max_size=self.max_size,
                command_timeout=self.command_timeout,
                timeout=self.connect_timeout,
                server_settings={"application_name": "taskext"},
                reset=_keep_session,
            )
        except CONNECT_ERRORS as exc:
            raise StoreError(f"cannot connect to PostgreSQL at {self.label}: {exc}") from exc
        self._pool = pool
        try:
            await self._call(self._prepare)
        except BaseException:
            await self.close()
            raise

    async def _prepare(self, conn: Any) -> None:
        await prepare_schema(conn, self.label)

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        self._callbacks.clear()
        task, self._relisten_task = self._relisten_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        listener, self._listener = self._listener, None
        if listener is not None:
            await self._close_connection(listener)
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), timeout=self.connect_timeout)
            except DRIVER_ERRORS:
                pool.terminate()

    # ------------------------------------------------------------------ tasks

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
        seen = aware(now)

        async def work(conn: Any) -> TaskState:
            row = await conn.fetchrow(
                "INSERT INTO taskext_tasks AS t (name, default_schedule, exclusive, misfire_grace, random_fields,"
                " seen_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO UPDATE SET"
                " default_changed = t.default_changed OR (t.override_schedule IS NOT NULL"
                " AND t.default_schedule IS DISTINCT FROM EXCLUDED.default_schedule),"
                " default_schedule = EXCLUDED.default_schedule, exclusive = EXCLUDED.exclusive,"
                " misfire_grace = EXCLUDED.misfire_grace, random_fields = EXCLUDED.random_fields,"
                f" seen_at = EXCLUDED.seen_at RETURNING {_TASK_COLUMNS}",
                name,
                default_schedule,
                exclusive,
                misfire_grace,
                random_fields,
                seen,
            )
            return _task_from_row(row)

        return await self._call(work)

    async def get_task(self, name: str) -> TaskState:
        async def work(conn: Any) -> TaskState:
            row = await conn.fetchrow(f"SELECT {_TASK_COLUMNS} FROM taskext_tasks WHERE name = $1", name)
            if row is None:
                raise TaskNotFound(f"no task named {name!r}")
            return _task_from_row(row)

        return await self._call(work)

    async def list_tasks(self) -> list[TaskState]:
        async def work(conn: Any) -> list[TaskState]:
            rows = await conn.fetch(f"SELECT {_TASK_COLUMNS} FROM taskext_tasks ORDER BY name")
            return [_task_from_row(row) for row in rows]

        return await self._call(work)

    async def update_admin(self, name: str, **changes: Any) -> TaskState:
        unknown = set(changes) - ADMIN_FIELDS
        if unknown:
            raise ValueError(f"not owner-controlled fields: {', '.join(sorted(unknown))}")
        columns = sorted(changes)
        values = [
            bool(changes[c]) if c in _BOOLEAN_FIELDS and isinstance(changes[c], int) else changes[c] for c in columns
        ]

        async def work(conn: Any) -> TaskState:
            if columns:
                assignments = ", ".join(f"{c} = ${i}" for i, c in enumerate(columns, start=2))
                row = await conn.fetchrow(
                    f"UPDATE taskext_tasks SET {assignments} WHERE name = $1 RETURNING {_TASK_COLUMNS}", name, *values
                )
            else:
                row = await conn.fetchrow(f"SELECT {_TASK_COLUMNS} FROM taskext_tasks WHERE name = $1 FOR UPDATE", name)
            if row is None:
                raise TaskNotFound(f"no task named {name!r}")  # rolls back: nothing changed
            await conn.execute(_ADMIN_CHANGED)
            return _task_from_row(row)

        return await self._call(work, transaction=True)

    async def save_results(
        self,
        states: Sequence[TaskState],
        runs: Sequence[RunRecord],
        *,
        release: Sequence[tuple[str, datetime]] = (),
        worker: str | None = None,
    ) -> None:
        released = [(name, worker, aware(scheduled)) for name, scheduled in release]
        # Everything is read here, before the first await: the caller passes live objects.
        # Rows are written in name order so that concurrent saves lock tasks in one order.
        task_rows = sorted(
            (
                (
                    s.name,
                    aware_or_none(s.next_run),
                    aware_or_none(s.last_scheduled),
                    aware_or_none(s.last_started),
                    aware_or_none(s.last_finished),
                    s.last_outcome.value if s.last_outcome else None,
                    s.failures,
                    s.fail_delay,
                    s.last_error,
                    s.run_count,
                )
                for s in states
            ),
            key=lambda row: row[0],
        )
        run_rows = [
            (
                r.task,
                aware_or_none(r.scheduled),
                aware_or_none(r.started),
                aware_or_none(r.finished),
                r.outcome.value,
                r.error,
                r.output,
                r.worker,
            )
            for r in runs
        ]
        names = sorted({row[0] for row in task_rows} | {row[0] for row in run_rows} | {row[0] for row in released})

        async def work(conn: Any) -> None:
            if not names:
                return
            # Lock the tasks first, in name order: no deadlock with another save, and a task
            # cannot be deleted between the check for its existence and the run's insertion.
            await conn.execute(
                "SELECT 1 FROM taskext_tasks WHERE name = ANY($1::text[]) ORDER BY name FOR UPDATE", names
            )
            if task_rows:
                await conn.executemany(_SAVE_RESULTS, task_rows)
            if run_rows:
                await conn.executemany(_INSERT_RUN, run_rows)
            if released:
                await conn.executemany(_RELEASE_TICK, released)

        await self._call(work, transaction=bool(names))

    async def delete_task(self, name: str) -> None:
        async def work(conn: Any) -> None:
            if await conn.fetchval("DELETE FROM taskext_tasks WHERE name = $1 RETURNING 1", name) is None:
                raise TaskNotFound(f"no task named {name!r}")
            await conn.execute("DELETE FROM taskext_runs WHERE task = $1", name)
            await conn.execute(_ADMIN_CHANGED)

        await self._call(work, transaction=True)

    async def mark_scan(self, now: datetime) -> None:
        value = aware(now).astimezone(UTC).isoformat()

        async def work(conn: Any) -> None:
            await conn.execute(
                "INSERT INTO taskext_meta (key, value) VALUES ('last_scan', $1)"
                " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                value,
            )

        await self._call(work)

    async def last_scan(self) -> datetime | None:
        async def work(conn: Any) -> datetime | None:
            value = await conn.fetchval("SELECT value FROM taskext_meta WHERE key = 'last_scan'")
            return datetime.fromisoformat(value).astimezone(UTC) if value is not None else None

        return await self._call(work)

    async def change_counter(self) -> int:
        async def work(conn: Any) -> int:
            value = await conn.fetchval("SELECT value FROM taskext_meta WHERE key = 'changes'")
            return int(value) if value is not None else 0

        return await self._call(work)

    async def claim_tick(
        self, name: str, scheduled: datetime, *, worker: str, now: datetime, lease_until: datetime
    ) -> bool:
        tick, until = aware(scheduled), aware(lease_until)
        aware(now)

        async def work(conn: Any) -> bool:
            # One conditional UPDATE (compare-and-set on last_scheduled): concurrent claims of
            # the same tick queue on the row lock and re-check the condition, so one wins.
            row = await conn.fetchrow(
                "WITH claimed AS (UPDATE taskext_tasks SET last_scheduled = $2, acquired_by = $3, acquired_until = $4"
                " WHERE name = $1 AND (last_scheduled IS NULL OR last_scheduled < $2)"
                " AND (acquired_by IS NULL OR acquired_by = $3 OR acquired_until < $5) RETURNING 1)"
                " SELECT EXISTS (SELECT 1 FROM claimed), EXISTS (SELECT 1 FROM taskext_tasks WHERE name = $1)",
                name,
                tick,
                worker,
                until,
                aware(now),
            )
            if not row[1]:
                raise TaskNotFound(f"no task named {name!r}")
            return bool(row[0])

        return await self._call(work)

    async def release_tick(self, name: str, worker: str, scheduled: datetime) -> None:
        tick = aware(scheduled)

        async def work(conn: Any) -> None:
            await conn.execute(_RELEASE_TICK, name, worker, tick)

        await self._call(work)

    async def claim_ticks(
        self, claims: Sequence[TickClaim], *, worker: str, now: datetime
    ) -> list[tuple[bool, TaskState]]:
        moment = aware(now)
        rows = [(c.name, aware(c.scheduled), aware(c.lease_until)) for c in claims]

        async def work(conn: Any) -> list[tuple[bool, TaskState]]:
            results = []
            for name, tick, until in rows:
                won = affected(
                    await conn.execute(
                        "UPDATE taskext_tasks SET last_scheduled = $2, acquired_by = $3, acquired_until = $4"
                        " WHERE name = $1 AND (last_scheduled IS NULL OR last_scheduled < $2)"
                        " AND (acquired_by IS NULL OR acquired_by = $3 OR acquired_until < $5)",
                        name,
                        tick,
                        worker,
                        until,
                        moment,
                    )
                )
                row = await conn.fetchrow(f"SELECT {_TASK_COLUMNS} FROM taskext_tasks WHERE name = $1", name)
                if row is None:
                    raise TaskNotFound(f"no task named {name!r}")
                results.append((won > 0, _task_from_row(row)))
            return results

        return await self._call(work, transaction=True)

    async def acquire_task(self, name: str, worker: str, *, now: datetime, until: datetime) -> str | None:
        moment, end = aware(now), aware(until)

        async def work(conn: Any) -> str | None:
            row = await conn.fetchrow(
                "SELECT acquired_by, acquired_until FROM taskext_tasks WHERE name = $1 FOR UPDATE", name
            )
            if row is None:
                raise TaskNotFound(f"no task named {name!r}")
            holder, held_until = row[0], row[1]
            if holder is not None and holder != worker and (held_until is None or held_until >= moment):
                return str(holder)
            await conn.execute(
                "UPDATE taskext_tasks SET acquired_by = $2, acquired_until = $3 WHERE name = $1", name, worker, end
            )
            return None

        return await self._call(work, transaction=True)

    async def release_task(self, name: str, worker: str) -> None:
        async def work(conn: Any) -> None:
            await conn.execute(
                "UPDATE taskext_tasks SET acquired_by = NULL, acquired_until = NULL"
                " WHERE name = $1 AND acquired_by = $2",
                name,
                worker,
            )

        await self._call(work)

    # ------------------------------------------------------------------ runs

    async def runs(self, task: str | None = None, *, limit: int = 20) -> list[RunRecord]:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be a positive int (got {limit!r})")

        async def work(conn: Any) -> list[RunRecord]:
            if task is None:
                rows = await conn.fetch(f"SELECT {_RUN_COLUMNS} FROM taskext_runs ORDER BY id DESC LIMIT $1", limit)
            else:
                rows = await conn.fetch(
                    f"SELECT {_RUN_COLUMNS} FROM taskext_runs WHERE task = $1 ORDER BY id DESC LIMIT $2", task, limit
                )
            return [_run_from_row(row) for row in rows]

        return await self._call(work)

    async def run_stats(self, task: str) -> RunStats:
        async def work(conn: Any) -> RunStats:
            stats = RunStats(task=task)
            for outcome, count in await conn.fetch(
                "SELECT outcome, COUNT(*) FROM taskext_runs WHERE task = $1 GROUP BY outcome", task
            ):
                stats.by_outcome[outcome] = count
                stats.runs += count
            row = await conn.fetchrow(
                "SELECT AVG(EXTRACT(EPOCH FROM finished - started))::float8,"
                " MAX(EXTRACT(EPOCH FROM finished - started))::float8,"
                " MAX(started) FILTER (WHERE outcome = 'succeeded'), MAX(started) FILTER (WHERE outcome = 'failed')"
                " FROM taskext_runs WHERE task = $1 AND finished IS NOT NULL",
                task,
            )
            stats.mean_duration, stats.max_duration = row[0], row[1]
            stats.last_success, stats.last_failure = row[2], row[3]
            return stats

        # One snapshot for both queries.
        return await self._call(lambda conn: self._snapshot(conn, work))

    @staticmethod
    async def _snapshot(conn: Any, work: Callable[[Any], Awaitable[R]]) -> R:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            return await work(conn)

    async def prune_runs(self, *, keep_last: int, older_than: datetime) -> int:
        if keep_last < 0:
            raise ValueError("keep_last cannot be negative")
        cutoff = aware(older_than)

        async def work(conn: Any) -> int:
            status = await conn.execute(
                "DELETE FROM taskext_runs AS r USING (SELECT id, ROW_NUMBER() OVER (PARTITION BY task ORDER BY id DESC)"
                " AS n FROM taskext_runs) AS k WHERE r.id = k.id AND k.n > $2"
                " AND COALESCE(r.started, r.finished, r.scheduled, 'epoch'::timestamptz) < $1",
                cutoff,
                keep_last,
            )
            return affected(status)

        return await self._call(work)

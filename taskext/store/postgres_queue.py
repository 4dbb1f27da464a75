"""The ad hoc queue on PostgreSQL: claims are one ``UPDATE`` over rows picked ``FOR UPDATE SKIP LOCKED``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from ..errors import TaskNotFound
from .base import StoreError
from .queue import AdhocResult, AdhocStatus, AdhocTask, Claim, NewAdhoc, QueueStore

__all__ = ["CHANNEL", "QUEUE_SCHEMA", "PostgresQueue", "affected", "aware", "aware_or_none"]

R = TypeVar("R")

# Schema version 2 adds the queue (a forward migration from version 1).
QUEUE_SCHEMA = """
CREATE TABLE taskext_adhoc (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL,
    data TEXT NOT NULL,
    dedupe_key TEXT NOT NULL,
    user_id BIGINT,
    guild_id BIGINT,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'failed')),
    run_at TIMESTAMPTZ NOT NULL,
    enqueued_at TIMESTAMPTZ NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    last_error TEXT,
    acquired_by TEXT,
    acquired_until TIMESTAMPTZ,
    lease BIGINT NOT NULL DEFAULT 0,
    finished_at TIMESTAMPTZ
);
-- Partial indexes: claims walk the due pending tasks in (run_at, id) order and look up expired
-- leases without reading the rest; dedupe only ever looks for pending tasks.
CREATE INDEX taskext_adhoc_pending ON taskext_adhoc (run_at, id) WHERE status = 'pending';
CREATE INDEX taskext_adhoc_running ON taskext_adhoc (acquired_until) WHERE status = 'running';
CREATE INDEX taskext_adhoc_dedupe ON taskext_adhoc (dedupe_key, id) WHERE status = 'pending';
"""

# Listeners hear "admin" and "adhoc" on this channel, sent inside the changing transaction.
CHANNEL = "taskext_changes"
_NOTIFY_ADHOC = f"NOTIFY {CHANNEL}, 'adhoc'"
# pg_advisory_xact_lock(class, hashtext(dedupe_key)): enqueues of one key take turns.
DEDUPE_LOCK_CLASS = 0x7461736C

_COLUMNS = (
    "id, name, data, status, run_at, enqueued_at, attempts, max_attempts, user_id, guild_id,"
    " last_error, acquired_by, acquired_until, lease, finished_at"
)
_INSERT_MANY = (
    "INSERT INTO taskext_adhoc (name, data, dedupe_key, user_id, guild_id, run_at, enqueued_at, max_attempts)"
    " SELECT name, data, dedupe_key, user_id, guild_id, run_at, enqueued_at, max_attempts"
    " FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::timestamptz[],"
    " $7::timestamptz[], $8::int[]) WITH ORDINALITY"
    " AS u(name, data, dedupe_key, user_id, guild_id, run_at, enqueued_at, max_attempts, n)"
    " ORDER BY n RETURNING id"
)
_LOCK_KEYS = (
    "SELECT pg_advisory_xact_lock($1, h)"
    " FROM (SELECT DISTINCT hashtext(k) AS h FROM unnest($2::text[]) AS k ORDER BY h) AS keys"
)
_FIND_PENDING = "SELECT id FROM taskext_adhoc WHERE dedupe_key = $1 AND status = 'pending' ORDER BY id LIMIT 1"


# The claims of ``$3`` among (id, lease) pairs, found one by one through the primary key:
# the worker check runs after the lookup, so the plan does not depend on the statistics of
# acquired_by (all NULL when a full queue is analyzed, which made the planner scan it all).
_MINE = (
    "mine AS MATERIALIZED (SELECT u.id FROM unnest($1::bigint[], $2::bigint[]) AS u(id, lease)"
    " CROSS JOIN LATERAL (SELECT 1 FROM taskext_adhoc AS a WHERE a.id = u.id AND a.lease = u.lease"
    " AND a.acquired_by = $3 AND a.status = 'running') AS found)"
)


def aware(value: datetime) -> datetime:
    """``value``, checked to be aware: a naive time is ambiguous across processes and zones."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"taskext stores aware datetimes only, got naive {value.isoformat()}")
    return value


def aware_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else aware(value)


def _task(row: Any) -> AdhocTask:
    return AdhocTask(
        id=row[0],
        name=row[1],
        data=row[2],
        status=AdhocStatus(row[3]),
        run_at=row[4],
        enqueued_at=row[5],
        attempts=row[6],
        max_attempts=row[7],
        user_id=row[8],
        guild_id=row[9],
        last_error=row[10],
        acquired_by=row[11],
        acquired_until=row[12],
        lease=row[13],
        finished_at=row[14],
    )


def affected(status: str) -> int:
    """The row count of a command status such as ``UPDATE 3`` or ``INSERT 0 3``."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows turned into ``width`` column lists (the arrays ``unnest`` takes)."""
    return [[row[i] for row in rows] for i in range(width)]


def _first_of_each(rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The first row for each (id, lease): a repeated outcome cannot apply twice."""
    seen: dict[tuple[Any, Any], tuple[Any, ...]] = {}
    for row in rows:
        seen.setdefault((row[0], row[1]), row)
    return list(seen.values())


class PostgresQueue(QueueStore):
    """Queue methods of :class:`~taskext.store.postgres.PostgresStore` (mixed in)."""

    async def _call(self, work: Callable[[Any], Awaitable[R]], *, transaction: bool = False) -> R:
        raise NotImplementedError

    @staticmethod
    async def _select(conn: Any, task_id: int, *, lock: bool = False) -> AdhocTask:
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM taskext_adhoc WHERE id = $1{' FOR UPDATE' if lock else ''}", task_id
        )
        if row is None:
            raise TaskNotFound(f"no ad hoc task with id {task_id}")
        return _task(row)

    async def enqueue(self, items: Sequence[NewAdhoc], *, dedupe: bool) -> list[int]:
        rows = [
            (i.name, i.data, i.dedupe_key, i.user_id, i.guild_id, aware(i.run_at), aware(i.enqueued_at),
             i.max_attempts)
            for i in items
        ]  # fmt: skip

        async def insert(conn: Any, new: Sequence[tuple[Any, ...]]) -> list[int]:
            # Identity values are drawn in ORDER BY n order, so sorted ids follow the items.
            ids = sorted(row[0] for row in await conn.fetch(_INSERT_MANY, *_columns(new, 8)))
            if len(ids) != len(new):
                raise StoreError(f"inserted {len(ids)} ad hoc tasks instead of {len(new)}")
            await conn.execute(_NOTIFY_ADHOC)
            return ids

        async def work(conn: Any) -> list[int]:
            if not rows:
                return []
            if not dedupe:
                return await insert(conn, rows)
            keys = [row[2] for row in rows]
            # Concurrent enqueues of one key take turns, so the second finds the first's task.
            await conn.execute(_LOCK_KEYS, DEDUPE_LOCK_CLASS, keys)
            found: dict[str, int] = {
                row[0]: row[1]
                for row in await conn.fetch(
                    "SELECT DISTINCT ON (dedupe_key) dedupe_key, id FROM taskext_adhoc"
                    " WHERE dedupe_key = ANY($1::text[]) AND status = 'pending' ORDER BY dedupe_key, id",
                    keys,
                )
            }
            new: list[tuple[Any, ...]] = []
            first_new: dict[str, int] = {}  # key -> index in ``new`` (a batch dedupes itself too)
            for row in rows:
                if row[2] not in found and row[2] not in first_new:
                    first_new[row[2]] = len(new)
                    new.append(row)
            new_ids = await insert(conn, new) if new else []
            return [found[k] if k in found else new_ids[first_new[k]] for k in keys]

        return await self._call(work, transaction=True)

    async def reschedule_or_enqueue(self, item: NewAdhoc) -> tuple[int, bool]:
        row = (item.name, item.data, item.dedupe_key, item.user_id, item.guild_id, aware(item.run_at),
               aware(item.enqueued_at), item.max_attempts)  # fmt: skip

        async def work(conn: Any) -> tuple[int, bool]:
            await conn.execute(_LOCK_KEYS, DEDUPE_LOCK_CLASS, [item.dedupe_key])
            moved = await conn.fetchval(
                "UPDATE taskext_adhoc SET run_at = $2 WHERE id = (SELECT id FROM taskext_adhoc"
                " WHERE dedupe_key = $1 AND status = 'pending' ORDER BY id LIMIT 1 FOR UPDATE) RETURNING id",
                item.dedupe_key,
                row[5],
            )
            if moved is not None:
                result = (int(moved), False)
            else:
                (new_id,) = await conn.fetch(_INSERT_MANY, *_columns([row], 8))
                result = (int(new_id[0]), True)
            await conn.execute(_NOTIFY_ADHOC)
            return result

        return await self._call(work, transaction=True)

    async def claim(
        self, worker: str, names: Sequence[str], *, now: datetime, lease_until: datetime, limit: int
    ) -> list[Claim]:
        if not names or limit <= 0:
            return []
        moment, until = aware(now), aware(lease_until)

        async def work(conn: Any) -> list[Claim]:
            # Each MATERIALIZED CTE runs once: it walks its partial index in (run_at, id) order
            # and locks up to ``limit`` due rows, skipping rows another claim holds (SKIP
            # LOCKED). The first ``limit`` of both are claimed; the rest are unlocked at commit.
            rows = await conn.fetch(
                "WITH pending AS MATERIALIZED (SELECT id, run_at FROM taskext_adhoc"
                " WHERE status = 'pending' AND run_at <= $4 AND name = ANY($3::text[])"
                " ORDER BY run_at, id LIMIT $5 FOR UPDATE SKIP LOCKED),"
                " expired AS MATERIALIZED (SELECT id, run_at FROM taskext_adhoc"
                " WHERE status = 'running' AND acquired_until < $4 AND name = ANY($3::text[])"
                " ORDER BY run_at, id LIMIT $5 FOR UPDATE SKIP LOCKED),"
                " picked AS MATERIALIZED (SELECT id FROM (SELECT * FROM pending UNION ALL SELECT * FROM expired) AS due"
                " ORDER BY run_at, id LIMIT $5)"
                " UPDATE taskext_adhoc AS t SET status = 'running', acquired_by = $1, acquired_until = $2,"
                " lease = t.lease + 1, attempts = t.attempts + 1 FROM picked WHERE t.id = picked.id"
                " RETURNING t.id, t.name, t.data, t.user_id, t.guild_id, t.enqueued_at, t.run_at, t.attempts,"
                " t.max_attempts, t.lease",
                worker,
                until,
                list(names),
                moment,
                limit,
            )
            # RETURNING does not follow the sub-select's ORDER BY: sort the claims by (run_at, id).
            rows = sorted(rows, key=lambda row: (row[6], row[0]))
            return [
                Claim(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], row[9]) for row in rows
            ]

        return await self._call(work)

    async def finish(self, worker: str, outcomes: Sequence[AdhocResult], *, now: datetime) -> int:
        moment = aware(now)
        done = _first_of_each([(o.id, o.lease) for o in outcomes if o.error is None and not o.release])
        released = _first_of_each([(o.id, o.lease) for o in outcomes if o.release])
        failed = _first_of_each(
            [
                (
                    o.id,
                    o.lease,
                    "pending" if o.retry_at is not None else "failed",
                    aware_or_none(o.retry_at),
                    o.error,
                )
                for o in outcomes
                if o.error is not None and not o.release
            ]
        )

        async def work(conn: Any) -> int:
            applied = requeued = 0
            if done:
                applied += affected(
                    await conn.execute(
                        f"WITH {_MINE} DELETE FROM taskext_adhoc AS t USING mine WHERE t.id = mine.id",
                        *_columns(done, 2),
                        worker,
                    )
                )
            if failed:
                statuses = await conn.fetch(
                    "WITH mine AS MATERIALIZED (SELECT u.* FROM unnest($1::bigint[], $2::bigint[], $3::text[],"
                    " $4::timestamptz[], $5::text[]) AS u(id, lease, status, retry_at, error)"
                    " CROSS JOIN LATERAL (SELECT 1 FROM taskext_adhoc AS a WHERE a.id = u.id AND a.lease = u.lease"
                    " AND a.acquired_by = $7 AND a.status = 'running') AS found)"
                    " UPDATE taskext_adhoc AS t SET status = mine.status, run_at = COALESCE(mine.retry_at, t.run_at),"
                    " last_error = mine.error, finished_at = $6, acquired_by = NULL, acquired_until = NULL"
                    " FROM mine WHERE t.id = mine.id RETURNING t.status",
                    *_columns(failed, 5),
                    moment,
                    worker,
                )
                applied += len(statuses)
                requeued += sum(1 for row in statuses if row[0] == "pending")
            if released:
                count = affected(
                    await conn.execute(
                        f"WITH {_MINE} UPDATE taskext_adhoc AS t SET status = 'pending', attempts = t.attempts - 1,"
                        " acquired_by = NULL, acquired_until = NULL FROM mine WHERE t.id = mine.id",
                        *_columns(released, 2),
                        worker,
                    )
                )
                applied += count
                requeued += count
            if requeued:  # work is pending again: other workers may take it
                await conn.execute(_NOTIFY_ADHOC)
            return applied

        return await self._call(work, transaction=True)

    async def heartbeat(self, worker: str, leases: Sequence[tuple[int, int]], *, until: datetime) -> int:
        if not leases:
            return 0
        end = aware(until)
        ids, lease_numbers = _columns(_first_of_each(list(leases)), 2)

        async def work(conn: Any) -> int:
            return affected(
                await conn.execute(
                    "UPDATE taskext_adhoc AS t SET acquired_until = $3"
                    " FROM unnest($1::bigint[], $2::bigint[]) AS u(id, lease)"
                    " WHERE t.id = u.id AND t.lease = u.lease AND t.acquired_by = $4 AND t.status = 'running'",
                    ids,
                    lease_numbers,
                    end,
                    worker,
                )
            )

        return await self._call(work)

    async def next_due(self, names: Sequence[str]) -> datetime | None:
        if not names:
            return None
        handlers = list(names)

        async def work(conn: Any) -> datetime | None:
            # LEAST ignores NULLs.
            value: datetime | None = await conn.fetchval(
                "SELECT LEAST("
                "(SELECT MIN(run_at) FROM taskext_adhoc WHERE status = 'pending' AND name = ANY($1::text[])),"
                " (SELECT MIN(acquired_until) FROM taskext_adhoc WHERE status = 'running' AND name = ANY($1::text[])))",
                handlers,
            )
            return value

        return await self._call(work)

    async def get_adhoc(self, task_id: int) -> AdhocTask:
        return await self._call(lambda conn: self._select(conn, task_id))

    async def list_adhoc(
        self, *, status: AdhocStatus | None = None, name: str | None = None, limit: int = 100
    ) -> list[AdhocTask]:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be a positive int (got {limit!r})")
        clauses: list[str] = []
        params: list[Any] = []
        if status is not None:
            params.append(AdhocStatus(status).value)
            clauses.append(f"status = ${len(params)}")
        if name is not None:
            params.append(name)
            clauses.append(f"name = ${len(params)}")
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        params.append(limit)
        sql = f"SELECT {_COLUMNS} FROM taskext_adhoc{where} ORDER BY run_at, id LIMIT ${len(params)}"

        async def work(conn: Any) -> list[AdhocTask]:
            return [_task(row) for row in await conn.fetch(sql, *params)]

        return await self._call(work)

    async def adhoc_counts(self, *, now: datetime) -> dict[str, int | datetime | None]:
        moment = aware(now)

        async def work(conn: Any) -> dict[str, int | datetime | None]:
            row = await conn.fetchrow(
                "SELECT COUNT(*) FILTER (WHERE status = 'pending'),"
                " COUNT(*) FILTER (WHERE status = 'pending' AND run_at <= $1),"
                " COUNT(*) FILTER (WHERE status = 'running'), COUNT(*) FILTER (WHERE status = 'failed'),"
                " MIN(run_at) FILTER (WHERE status = 'pending' AND run_at <= $1) FROM taskext_adhoc",
                moment,
            )
            return {"pending": row[0], "due": row[1], "running": row[2], "failed": row[3], "oldest_due": row[4]}

        return await self._call(work)

    async def cancel_adhoc(self, task_id: int) -> AdhocTask:
        async def work(conn: Any) -> AdhocTask:
            task = await self._select(conn, task_id, lock=True)
            if task.status is AdhocStatus.RUNNING:
                raise ValueError(f"ad hoc task {task_id} is running on {task.acquired_by}; it cannot be cancelled")
            await conn.execute("DELETE FROM taskext_adhoc WHERE id = $1", task_id)
            await conn.execute(_NOTIFY_ADHOC)
            return task

        return await self._call(work, transaction=True)

    async def retry_adhoc(self, task_id: int, *, now: datetime) -> AdhocTask:
        moment = aware(now)

        async def work(conn: Any) -> AdhocTask:
            task = await self._select(conn, task_id, lock=True)
            if task.status is not AdhocStatus.FAILED:
                raise ValueError(f"ad hoc task {task_id} is {task.status.value}, not failed; nothing to retry")
            row = await conn.fetchrow(
                "UPDATE taskext_adhoc SET status = 'pending', attempts = 0, run_at = $2, finished_at = NULL"
                f" WHERE id = $1 RETURNING {_COLUMNS}",
                task_id,
                moment,
            )
            await conn.execute(_NOTIFY_ADHOC)
            return _task(row)

        return await self._call(work, transaction=True)

    async def fail_unhandled(self, known: Sequence[str], *, now: datetime, reason: str) -> int:
        moment = aware(now)
        handlers = list(known)

        async def work(conn: Any) -> int:
            return affected(
                await conn.execute(
                    "UPDATE taskext_adhoc SET status = 'failed', last_error = replace($1, '{name}', name),"
                    " finished_at = $2, acquired_by = NULL, acquired_until = NULL"
                    " WHERE ((status = 'pending' AND run_at <= $2) OR (status = 'running' AND acquired_until < $2))"
                    " AND name <> ALL($3::text[])",
                    reason,
                    moment,
                    handlers,
                )
            )

        return await self._call(work)

    async def purge_adhoc(self, *, failed_before: datetime) -> int:
        cutoff = aware(failed_before)

        async def work(conn: Any) -> int:
            return affected(
                await conn.execute(
                    "DELETE FROM taskext_adhoc WHERE status = 'failed' AND finished_at < $1",
                    cutoff,
                )
            )

        return await self._call(work)

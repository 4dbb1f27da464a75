"""The ad hoc queue on SQLite: claims are one ``UPDATE ... RETURNING`` statement."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from ..errors import TaskNotFound
from .queue import AdhocResult, AdhocStatus, AdhocTask, Claim, NewAdhoc, QueueStore
from .sqlite_time import from_seconds as _dt
from .sqlite_time import optional_seconds as _ts
from .sqlite_time import seconds

__all__ = ["QUEUE_SCHEMA", "SQLiteQueue"]

R = TypeVar("R")

# Schema version 2 adds the queue (a forward migration from version 1).
QUEUE_SCHEMA = """
CREATE TABLE taskext_adhoc (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    data TEXT NOT NULL,
    dedupe_key TEXT NOT NULL,
    user_id INTEGER,
    guild_id INTEGER,
    status TEXT NOT NULL DEFAULT 'pending',
    run_at REAL NOT NULL,
    enqueued_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    last_error TEXT,
    acquired_by TEXT,
    acquired_until REAL,
    lease INTEGER NOT NULL DEFAULT 0,
    finished_at REAL
);
CREATE INDEX taskext_adhoc_due ON taskext_adhoc (status, run_at);
CREATE INDEX taskext_adhoc_dedupe ON taskext_adhoc (dedupe_key, status);
"""

_COLUMNS = (
    "id, name, data, status, run_at, enqueued_at, attempts, max_attempts, user_id, guild_id,"
    " last_error, acquired_by, acquired_until, lease, finished_at"
)


def _task(row: tuple[Any, ...]) -> AdhocTask:
    return AdhocTask(
        id=row[0],
        name=row[1],
        data=row[2],
        status=AdhocStatus(row[3]),
        run_at=_dt(row[4]),
        enqueued_at=_dt(row[5]),
        attempts=row[6],
        max_attempts=row[7],
        user_id=row[8],
        guild_id=row[9],
        last_error=row[10],
        acquired_by=row[11],
        acquired_until=_dt(row[12]) if row[12] is not None else None,
        lease=row[13],
        finished_at=_dt(row[14]) if row[14] is not None else None,
    )


def _placeholders(count: int) -> str:
    return ",".join("?" * count)


class SQLiteQueue(QueueStore):
    """Queue methods of :class:`~taskext.store.SQLiteStore` (mixed in)."""

    async def _call(self, fn: Callable[[sqlite3.Connection], R]) -> R:
        raise NotImplementedError

    @staticmethod
    def _write(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], R]) -> R:
        raise NotImplementedError

    async def _transaction(self, work: Callable[[sqlite3.Connection], R]) -> R:
        return await self._call(lambda conn: self._write(conn, work))

    @staticmethod
    def _select(conn: sqlite3.Connection, task_id: int) -> AdhocTask:
        row = conn.execute(f"SELECT {_COLUMNS} FROM taskext_adhoc WHERE id = ?", (task_id,)).fetchone()
        if row is None:
            raise TaskNotFound(f"no ad hoc task with id {task_id}")
        return _task(row)

    async def enqueue(self, items: Sequence[NewAdhoc], *, dedupe: bool) -> list[int]:
        rows = [
            (i.name, i.data, i.dedupe_key, i.user_id, i.guild_id, seconds(i.run_at), seconds(i.enqueued_at),
             i.max_attempts)
            for i in items
        ]  # fmt: skip
        insert = (
            "INSERT INTO taskext_adhoc (name, data, dedupe_key, user_id, guild_id, run_at, enqueued_at,"
            " max_attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        )

        def work(conn: sqlite3.Connection) -> list[int]:
            if not dedupe:
                conn.executemany(insert, rows)
                # AUTOINCREMENT inside one write transaction hands out consecutive ids.
                last = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
                return list(range(last - len(rows) + 1, last + 1))
            ids: list[int] = []
            for row in rows:
                found = conn.execute(
                    "SELECT id FROM taskext_adhoc WHERE dedupe_key = ? AND status = 'pending' ORDER BY id LIMIT 1",
                    (row[2],),
                ).fetchone()
                ids.append(found[0] if found else int(conn.execute(insert, row).lastrowid or 0))
            return ids

        return await self._transaction(work)

    async def reschedule_or_enqueue(self, item: NewAdhoc) -> tuple[int, bool]:
        def work(conn: sqlite3.Connection) -> tuple[int, bool]:
            found = conn.execute(
                "SELECT id FROM taskext_adhoc WHERE dedupe_key = ? AND status = 'pending' ORDER BY id LIMIT 1",
                (item.dedupe_key,),
            ).fetchone()
            if found:
                conn.execute("UPDATE taskext_adhoc SET run_at = ? WHERE id = ?", (seconds(item.run_at), found[0]))
                return found[0], False
            cursor = conn.execute(
                "INSERT INTO taskext_adhoc (name, data, dedupe_key, user_id, guild_id, run_at, enqueued_at,"
                " max_attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (item.name, item.data, item.dedupe_key, item.user_id, item.guild_id, seconds(item.run_at),
                 seconds(item.enqueued_at), item.max_attempts),
            )  # fmt: skip
            assert cursor.lastrowid is not None
            return cursor.lastrowid, True

        return await self._transaction(work)

    async def claim(
        self, worker: str, names: Sequence[str], *, now: datetime, lease_until: datetime, limit: int
    ) -> list[Claim]:
        if not names or limit <= 0:
            return []
        moment = seconds(now)
        sql = (
            "UPDATE taskext_adhoc SET status = 'running', acquired_by = ?, acquired_until = ?,"
            " lease = lease + 1, attempts = attempts + 1"
            f" WHERE id IN (SELECT id FROM taskext_adhoc WHERE name IN ({_placeholders(len(names))}) AND ("
            " (status = 'pending' AND run_at <= ?) OR (status = 'running' AND acquired_until < ?))"
            " ORDER BY run_at, id LIMIT ?)"
            " RETURNING id, name, data, user_id, guild_id, enqueued_at, run_at, attempts, max_attempts, lease"
        )
        params = (worker, seconds(lease_until), *names, moment, moment, limit)

        def work(conn: sqlite3.Connection) -> list[Claim]:
            # RETURNING does not follow the subquery's ORDER BY: sort the claims by (run_at, id).
            rows = sorted(conn.execute(sql, params).fetchall(), key=lambda row: (row[6], row[0]))
            return [
                Claim(row[0], row[1], row[2], row[3], row[4], _dt(row[5]), _dt(row[6]), row[7], row[8], row[9])
                for row in rows
            ]

        return await self._transaction(work)

    async def finish(self, worker: str, outcomes: Sequence[AdhocResult], *, now: datetime) -> int:
        done = [(o.id, o.lease, worker) for o in outcomes if o.error is None and not o.release]
        released = [(o.id, o.lease, worker) for o in outcomes if o.release]
        moment = seconds(now)
        failed = [
            (
                "pending" if o.retry_at is not None else "failed",
                _ts(o.retry_at) if o.retry_at is not None else None,
                o.error,
                moment,
                o.id,
                o.lease,
                worker,
            )
            for o in outcomes
            if o.error is not None and not o.release
        ]

        def work(conn: sqlite3.Connection) -> int:
            applied = 0
            if done:
                applied += conn.executemany(
                    "DELETE FROM taskext_adhoc WHERE id = ? AND lease = ? AND acquired_by = ?", done
                ).rowcount
            if failed:
                applied += conn.executemany(
                    "UPDATE taskext_adhoc SET status = ?, run_at = COALESCE(?, run_at), last_error = ?,"
                    " finished_at = ?, acquired_by = NULL, acquired_until = NULL"
                    " WHERE id = ? AND lease = ? AND acquired_by = ? AND status = 'running'",
                    failed,
                ).rowcount
            if released:
                applied += conn.executemany(
                    "UPDATE taskext_adhoc SET status = 'pending', attempts = attempts - 1, acquired_by = NULL,"
                    " acquired_until = NULL WHERE id = ? AND lease = ? AND acquired_by = ? AND status = 'running'",
                    released,
                ).rowcount
            return applied

        return await self._transaction(work)

    async def heartbeat(self, worker: str, leases: Sequence[tuple[int, int]], *, until: datetime) -> int:
        if not leases:
            return 0
        rows = [(seconds(until), task_id, lease, worker) for task_id, lease in leases]

        def work(conn: sqlite3.Connection) -> int:
            return conn.executemany(
                "UPDATE taskext_adhoc SET acquired_until = ?"
                " WHERE id = ? AND lease = ? AND acquired_by = ? AND status = 'running'",
                rows,
            ).rowcount

        return await self._transaction(work)

    async def next_due(self, names: Sequence[str]) -> datetime | None:
        if not names:
            return None
        marks = _placeholders(len(names))

        def work(conn: sqlite3.Connection) -> datetime | None:
            row = conn.execute(
                f"SELECT MIN(t) FROM (SELECT MIN(run_at) AS t FROM taskext_adhoc WHERE status = 'pending'"
                f" AND name IN ({marks}) UNION ALL SELECT MIN(acquired_until) FROM taskext_adhoc"
                f" WHERE status = 'running' AND name IN ({marks}))",
                (*names, *names),
            ).fetchone()
            return _dt(row[0]) if row and row[0] is not None else None

        return await self._call(work)

    async def get_adhoc(self, task_id: int) -> AdhocTask:
        return await self._call(lambda conn: self._select(conn, task_id))

    async def list_adhoc(
        self, *, status: AdhocStatus | None = None, name: str | None = None, limit: int = 100
    ) -> list[AdhocTask]:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be a positive int (got {limit!r})")
        clauses, params = [], []
        if status is not None:
            clauses.append("status = ?")
            params.append(AdhocStatus(status).value)
        if name is not None:
            clauses.append("name = ?")
            params.append(name)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""

        def work(conn: sqlite3.Connection) -> list[AdhocTask]:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM taskext_adhoc{where} ORDER BY run_at, id LIMIT ?", (*params, limit)
            ).fetchall()
            return [_task(row) for row in rows]

        return await self._call(work)

    async def adhoc_counts(self, *, now: datetime) -> dict[str, int | datetime | None]:
        moment = seconds(now)

        def work(conn: sqlite3.Connection) -> dict[str, int | datetime | None]:
            row = conn.execute(
                "SELECT COALESCE(SUM(status = 'pending'), 0), COALESCE(SUM(status = 'pending' AND run_at <= ?), 0),"
                " COALESCE(SUM(status = 'running'), 0), COALESCE(SUM(status = 'failed'), 0),"
                " MIN(CASE WHEN status = 'pending' AND run_at <= ? THEN run_at END) FROM taskext_adhoc",
                (moment, moment),
            ).fetchone()
            return {
                "pending": row[0],
                "due": row[1],
                "running": row[2],
                "failed": row[3],
                "oldest_due": _dt(row[4]) if row[4] is not None else None,
            }

        return await self._call(work)

    async def cancel_adhoc(self, task_id: int) -> AdhocTask:
        def work(conn: sqlite3.Connection) -> AdhocTask:
            task = self._select(conn, task_id)
            if task.status is AdhocStatus.RUNNING:
                raise ValueError(f"ad hoc task {task_id} is running on {task.acquired_by}; it cannot be cancelled")
            conn.execute("DELETE FROM taskext_adhoc WHERE id = ?", (task_id,))
            return task

        return await self._transaction(work)

    async def retry_adhoc(self, task_id: int, *, now: datetime) -> AdhocTask:
        def work(conn: sqlite3.Connection) -> AdhocTask:
            task = self._select(conn, task_id)
            if task.status is not AdhocStatus.FAILED:
                raise ValueError(f"ad hoc task {task_id} is {task.status.value}, not failed; nothing to retry")
            conn.execute(
                "UPDATE taskext_adhoc SET status = 'pending', attempts = 0, run_at = ?, finished_at = NULL"
                " WHERE id = ?",
                (seconds(now), task_id),
            )
            return self._select(conn, task_id)

        return await self._transaction(work)

    async def fail_unhandled(self, known: Sequence[str], *, now: datetime, reason: str) -> int:
        marks = _placeholders(len(known))
        condition = f" AND name NOT IN ({marks})" if known else ""

        def work(conn: sqlite3.Connection) -> int:
            moment = seconds(now)
            return conn.execute(
                "UPDATE taskext_adhoc SET status = 'failed', last_error = REPLACE(?, '{name}', name), finished_at = ?,"
                " acquired_by = NULL, acquired_until = NULL"
                " WHERE ((status = 'pending' AND run_at <= ?) OR (status = 'running' AND acquired_until < ?))"
                f"{condition}",
                (reason, moment, moment, moment, *known),
            ).rowcount

        return await self._transaction(work)

    async def purge_adhoc(self, *, failed_before: datetime) -> int:
        def work(conn: sqlite3.Connection) -> int:
            return conn.execute(
                "DELETE FROM taskext_adhoc WHERE status = 'failed' AND finished_at < ?",
                (seconds(failed_before),),
            ).rowcount

        return await self._transaction(work)

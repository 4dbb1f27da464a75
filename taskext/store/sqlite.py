"""The SQLite store, through aiosqlite.

Every database call goes through :meth:`SQLiteStore._call`, which runs one Python
function in aiosqlite's thread, so a transaction is a single hop and cannot
interleave with another coroutine's statements.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

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
from .sqlite_queue import SQLiteQueue
from .sqlite_results import CLAIM_TICK, RELEASE_TICK, SAVE_AND_CLAIM, SAVE_STATE, claim_row, results_writer, state_row
from .sqlite_schema import _SCHEMA_V1, MIGRATIONS, SCHEMA_VERSION, prepare_schema
from .sqlite_time import optional_datetime as _dt
from .sqlite_time import optional_seconds as _ts
from .sqlite_time import seconds

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "_SCHEMA_V1", "SQLiteStore"]

R = TypeVar("R")

_TASK_COLUMNS = (
    "name, default_schedule, override_schedule, default_changed, disabled, paused, exclusive,"
    " misfire_grace, random_fields, next_run, last_scheduled, last_started, last_finished,"
    " last_outcome, failures, fail_delay, last_error, run_count, seen_at, acquired_by, acquired_until"
)
_RUN_COLUMNS = "id, task, scheduled, started, finished, outcome, error, output, worker"


def _task_from_row(row: sqlite3.Row | tuple[Any, ...]) -> TaskState:
    return TaskState(
        name=row[0],
        default_schedule=row[1],
        override_schedule=row[2],
        default_changed=bool(row[3]),
        disabled=bool(row[4]),
        paused=bool(row[5]),
        exclusive=row[6],
        misfire_grace=row[7],
        random_fields=row[8],
        next_run=_dt(row[9]),
        last_scheduled=_dt(row[10]),
        last_started=_dt(row[11]),
        last_finished=_dt(row[12]),
        last_outcome=Outcome(row[13]) if row[13] else None,
        failures=row[14],
        fail_delay=row[15],
        last_error=row[16],
        run_count=row[17],
        seen_at=_dt(row[18]),
        acquired_by=row[19],
        acquired_until=_dt(row[20]),
    )


def _run_from_row(row: sqlite3.Row | tuple[Any, ...]) -> RunRecord:
    return RunRecord(
        id=row[0],
        task=row[1],
        scheduled=_dt(row[2]),
        started=_dt(row[3]),
        finished=_dt(row[4]),
        outcome=Outcome(row[5]),
        error=row[6],
        output=row[7],
        worker=row[8],
    )


def sqlite_path(url: str) -> str:
    """The file path of a ``sqlite:///relative`` or ``sqlite:////absolute`` URL."""
    if not url.startswith("sqlite:///"):
        raise ValueError(f"not a SQLite URL: {url!r} (expected sqlite:///path/to/file.db)")
    path = url[len("sqlite:///") :]
    if not path:
        raise ValueError(f"SQLite URL {url!r} has no file path")
    return path


class SQLiteStore(SQLiteQueue, Store):
    """A :class:`Store` in one SQLite file (WAL, busy timeout, short transactions).

    Parameters
    ----------
    url:
        ``sqlite:///data/taskext.db`` (relative) or ``sqlite:////abs/path.db``.
    busy_timeout:
        Seconds a statement waits for another connection's write lock.
    """

    def __init__(self, url: str, *, busy_timeout: float = 5.0) -> None:
        self.url = url
        self.path = sqlite_path(url)
        if busy_timeout < 0:
            raise ValueError("busy_timeout cannot be negative")
        self.busy_timeout = busy_timeout
        self._conn: aiosqlite.Connection | None = None

    # The one narrow method every database call goes through.
    async def _call(self, fn: Callable[[sqlite3.Connection], R]) -> R:
        if self._conn is None:
            raise StoreError(f"store {self.url} is not open")
        try:
            result: R = await track_io(self._conn._execute(fn, self._conn._conn))  # type: ignore[no-untyped-call]
        except sqlite3.Error as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreError(
                    f"database {self.path} is locked by another connection (waited {self.busy_timeout:g} s): {exc}"
                ) from exc
            raise StoreError(f"database {self.path}: {exc}") from exc
        return result

    async def open(self) -> None:
        if self._conn is not None:
            return
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = await aiosqlite.connect(self.path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite database {self.path}: {exc}") from exc
        try:
            await self._call(self._prepare)
        except BaseException:
            await self.close()
            raise

    def _prepare(self, conn: sqlite3.Connection) -> None:
        prepare_schema(conn, self.path, busy_timeout=self.busy_timeout)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _write(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], R]) -> R:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = work(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    @staticmethod
    def _select_task(conn: sqlite3.Connection, name: str) -> TaskState:
        row = conn.execute(f"SELECT {_TASK_COLUMNS} FROM taskext_tasks WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise TaskNotFound(f"no task named {name!r}")
        return _task_from_row(row)

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
        def work(conn: sqlite3.Connection) -> TaskState:
            row = conn.execute(
                "SELECT default_schedule, override_schedule, default_changed FROM taskext_tasks WHERE name = ?",
                (name,),
            ).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO taskext_tasks (name, default_schedule, exclusive, misfire_grace,"
                    " random_fields, seen_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (name, default_schedule, exclusive, misfire_grace, random_fields, _ts(now)),
                )
            else:
                changed = bool(row[2]) or (row[1] is not None and row[0] != default_schedule)
                conn.execute(
                    "UPDATE taskext_tasks SET default_schedule = ?, default_changed = ?, exclusive = ?,"
                    " misfire_grace = ?, random_fields = ?, seen_at = ?"
                    " WHERE name = ?",
                    (default_schedule, int(changed), exclusive, misfire_grace, random_fields, _ts(now), name),
                )
            return self._select_task(conn, name)

        return await self._call(lambda conn: self._write(conn, work))

    async def get_task(self, name: str) -> TaskState:
        return await self._call(lambda conn: self._select_task(conn, name))

    async def list_tasks(self) -> list[TaskState]:
        def work(conn: sqlite3.Connection) -> list[TaskState]:
            rows = conn.execute(f"SELECT {_TASK_COLUMNS} FROM taskext_tasks ORDER BY name").fetchall()
            return [_task_from_row(row) for row in rows]

        return await self._call(work)

    async def update_admin(self, name: str, **changes: Any) -> TaskState:
        unknown = set(changes) - ADMIN_FIELDS
        if unknown:
            raise ValueError(f"not owner-controlled fields: {', '.join(sorted(unknown))}")
        columns = sorted(changes)
        values = [
            _ts(changes[c]) if c == "next_run" else (int(changes[c]) if isinstance(changes[c], bool) else changes[c])
            for c in columns
        ]

        def work(conn: sqlite3.Connection) -> TaskState:
            self._select_task(conn, name)  # raises TaskNotFound before anything changes
            if columns:
                assignments = ", ".join(f"{c} = ?" for c in columns)
                conn.execute(f"UPDATE taskext_tasks SET {assignments} WHERE name = ?", (*values, name))
            conn.execute("UPDATE taskext_meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'changes'")
            return self._select_task(conn, name)

        return await self._call(lambda conn: self._write(conn, work))

    async def save_results(
        self,
        states: Sequence[TaskState],
        runs: Sequence[RunRecord],
        *,
        release: Sequence[tuple[str, datetime]] = (),
        worker: str | None = None,
    ) -> None:
        write = results_writer(states, runs, [(name, worker, _ts(scheduled)) for name, scheduled in release])
        await self._call(lambda conn: self._write(conn, write))

    async def save_and_claim(
        self,
        states: Sequence[TaskState],
        runs: Sequence[RunRecord],
        claims: Sequence[TickClaim],
        *,
        worker: str,
        now: datetime,
    ) -> list[bool]:
        # One statement per task writes its result and claims its next tick; a task whose
        # claim is refused still gets its result written.
        rows = {c.name: claim_row(c.name, c.scheduled, c.lease_until, worker, now) for c in claims}
        merged = [(s.name, state_row(s)) for s in states if s.name in rows]
        write = results_writer([s for s in states if s.name not in rows], runs, ())

        def work(conn: sqlite3.Connection) -> list[bool]:
            won: dict[str, bool] = {}
            for name, state in merged:
                tick, holder, until, _, _, _, moment = rows[name]
                won[name] = conn.execute(SAVE_AND_CLAIM, (*state, tick, holder, until, moment)).rowcount > 0
                if not won[name]:
                    conn.execute(SAVE_STATE, state)
            for name, row in rows.items():
                if name not in won:
                    won[name] = conn.execute(CLAIM_TICK, row).rowcount > 0
            write(conn)
            return [won[c.name] for c in claims]

        return await self._call(lambda conn: self._write(conn, work))

    async def delete_task(self, name: str) -> None:
        def work(conn: sqlite3.Connection) -> None:
            self._select_task(conn, name)
            conn.execute("DELETE FROM taskext_tasks WHERE name = ?", (name,))
            conn.execute("DELETE FROM taskext_runs WHERE task = ?", (name,))
            conn.execute("UPDATE taskext_meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'changes'")

        await self._call(lambda conn: self._write(conn, work))

    async def mark_scan(self, now: datetime) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO taskext_meta (key, value) VALUES ('last_scan', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (repr(seconds(now)),),
            )

        await self._call(lambda conn: self._write(conn, work))

    async def last_scan(self) -> datetime | None:
        def work(conn: sqlite3.Connection) -> datetime | None:
            row = conn.execute("SELECT value FROM taskext_meta WHERE key = 'last_scan'").fetchone()
            return _dt(float(row[0])) if row else None

        return await self._call(work)

    async def change_counter(self) -> int:
        def work(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT value FROM taskext_meta WHERE key = 'changes'").fetchone()
            return int(row[0]) if row else 0

        return await self._call(work)

    async def claim_tick(
        self, name: str, scheduled: datetime, *, worker: str, now: datetime, lease_until: datetime
    ) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(CLAIM_TICK, claim_row(name, scheduled, lease_until, worker, now))
            if cursor.rowcount:
                return True
            self._select_task(conn, name)  # TaskNotFound rather than a silent False
            return False

        return await self._call(lambda conn: self._write(conn, work))

    async def claim_ticks(
        self, claims: Sequence[TickClaim], *, worker: str, now: datetime
    ) -> list[tuple[bool, TaskState]]:
        rows = [claim_row(c.name, c.scheduled, c.lease_until, worker, now) for c in claims]

        def work(conn: sqlite3.Connection) -> list[tuple[bool, TaskState]]:
            results = []
            for row in rows:
                won = conn.execute(CLAIM_TICK, row).rowcount > 0
                results.append((won, self._select_task(conn, row[3])))
            return results

        return await self._call(lambda conn: self._write(conn, work))

    async def release_tick(self, name: str, worker: str, scheduled: datetime) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute(RELEASE_TICK, (name, worker, _ts(scheduled)))

        await self._call(lambda conn: self._write(conn, work))

    async def acquire_task(self, name: str, worker: str, *, now: datetime, until: datetime) -> str | None:
        def work(conn: sqlite3.Connection) -> str | None:
            self._select_task(conn, name)
            cursor = conn.execute(
                "UPDATE taskext_tasks SET acquired_by = ?, acquired_until = ? WHERE name = ?"
                " AND (acquired_by IS NULL OR acquired_by = ? OR acquired_until < ?)",
                (worker, seconds(until), name, worker, seconds(now)),
            )
            if cursor.rowcount:
                return None
            row = conn.execute("SELECT acquired_by FROM taskext_tasks WHERE name = ?", (name,)).fetchone()
            return str(row[0])

        return await self._call(lambda conn: self._write(conn, work))

    async def release_task(self, name: str, worker: str) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE taskext_tasks SET acquired_by = NULL, acquired_until = NULL WHERE name = ? AND acquired_by = ?",
                (name, worker),
            )

        await self._call(lambda conn: self._write(conn, work))

    # ------------------------------------------------------------------ runs

    async def runs(self, task: str | None = None, *, limit: int = 20) -> list[RunRecord]:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be a positive int (got {limit!r})")

        def work(conn: sqlite3.Connection) -> list[RunRecord]:
            if task is None:
                rows = conn.execute(
                    f"SELECT {_RUN_COLUMNS} FROM taskext_runs ORDER BY id DESC LIMIT ?", (limit,)
                ).fetchall()
            else:
                rows = conn.execute(
                    f"SELECT {_RUN_COLUMNS} FROM taskext_runs WHERE task = ? ORDER BY id DESC LIMIT ?",
                    (task, limit),
                ).fetchall()
            return [_run_from_row(row) for row in rows]

        return await self._call(work)

    async def run_stats(self, task: str) -> RunStats:
        def work(conn: sqlite3.Connection) -> RunStats:
            stats = RunStats(task=task)
            for outcome, count in conn.execute(
                "SELECT outcome, COUNT(*) FROM taskext_runs WHERE task = ? GROUP BY outcome", (task,)
            ):
                stats.by_outcome[outcome] = count
                stats.runs += count
            row = conn.execute(
                "SELECT AVG(finished - started), MAX(finished - started),"
                " MAX(CASE WHEN outcome = 'succeeded' THEN started END),"
                " MAX(CASE WHEN outcome = 'failed' THEN started END)"
                " FROM taskext_runs WHERE task = ? AND finished IS NOT NULL",
                (task,),
            ).fetchone()
            stats.mean_duration, stats.max_duration = row[0], row[1]
            stats.last_success, stats.last_failure = _dt(row[2]), _dt(row[3])
            return stats

        return await self._call(work)

    async def prune_runs(self, *, keep_last: int, older_than: datetime) -> int:
        if keep_last < 0:
            raise ValueError("keep_last cannot be negative")

        def work(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "DELETE FROM taskext_runs WHERE COALESCE(started, finished, scheduled, 0) < ? AND id NOT IN ("
                " SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY task ORDER BY id DESC) AS n"
                " FROM taskext_runs) WHERE n <= ?)",
                (seconds(older_than), keep_last),
            )
            return cursor.rowcount

        return await self._call(lambda conn: self._write(conn, work))

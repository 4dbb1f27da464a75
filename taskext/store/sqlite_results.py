"""What the SQLite store writes for run results and tick claims: statements and row builders.

Kept apart from :mod:`taskext.store.sqlite` because they run for every run of every task:
positional rows and narrow statements, converted once, before the database thread runs them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from .base import RunRecord, TaskState
from .sqlite_time import optional_seconds as _ts

__all__ = [
    "CLAIM_TICK",
    "INSERT_RUN",
    "RELEASE_TICK",
    "SAVE_AND_CLAIM",
    "SAVE_STATE",
    "claim_row",
    "results_writer",
    "state_row",
]

# A tick is claimed once: it must be newer than the last claimed one, and no other worker
# may hold an unexpired lease on the task.
CLAIM_TICK = (
    "UPDATE taskext_tasks SET last_scheduled = ?, acquired_by = ?, acquired_until = ?"
    " WHERE name = ? AND (last_scheduled IS NULL OR last_scheduled < ?)"
    " AND (acquired_by IS NULL OR acquired_by = ? OR acquired_until < ?)"
)
# Run results; last_scheduled only moves forward: a slow process must not undo another's claim.
SAVE_STATE = (
    "UPDATE taskext_tasks SET next_run = ?,"
    " last_scheduled = COALESCE(MAX(last_scheduled, ?2), last_scheduled, ?2), last_started = ?,"
    " last_finished = ?, last_outcome = ?, failures = ?, fail_delay = ?, last_error = ?, run_count = ?"
    " WHERE name = ?"
)
# SAVE_STATE and CLAIM_TICK in one statement: the result of a tick, and the claim of the next.
SAVE_AND_CLAIM = (
    "UPDATE taskext_tasks SET next_run = ?1, last_started = ?3, last_finished = ?4, last_outcome = ?5,"
    " failures = ?6, fail_delay = ?7, last_error = ?8, run_count = ?9,"
    " last_scheduled = ?11, acquired_by = ?12, acquired_until = ?13"
    " WHERE name = ?10 AND (last_scheduled IS NULL OR last_scheduled < ?11)"
    " AND (acquired_by IS NULL OR acquired_by = ?12 OR acquired_until < ?14)"
)
INSERT_RUN = (
    "INSERT INTO taskext_runs (task, scheduled, started, finished, outcome, error, output, worker)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
RELEASE_TICK = (
    "UPDATE taskext_tasks SET acquired_by = NULL, acquired_until = NULL"
    " WHERE name = ? AND acquired_by = ? AND last_scheduled = ?"
)


def claim_row(name: str, scheduled: datetime, lease_until: datetime, worker: str, now: datetime) -> tuple[Any, ...]:
    """The parameters of ``CLAIM_TICK``; ``SAVE_AND_CLAIM`` takes them after a state row, reordered."""
    tick = _ts(scheduled)
    return (tick, worker, _ts(lease_until), name, tick, worker, _ts(now))


def state_row(s: TaskState) -> tuple[Any, ...]:
    """The parameters of ``SAVE_STATE`` for ``s``."""
    return (
        _ts(s.next_run),
        _ts(s.last_scheduled),
        _ts(s.last_started),
        _ts(s.last_finished),
        s.last_outcome.value if s.last_outcome else None,
        s.failures,
        s.fail_delay,
        s.last_error,
        s.run_count,
        s.name,
    )


def results_writer(
    states: Sequence[TaskState], runs: Sequence[RunRecord], released: Sequence[tuple[str, str | None, float | None]]
) -> Callable[[sqlite3.Connection], None]:
    """What :meth:`SQLiteStore.save_results` writes, converted now (the objects are live)."""
    # Positional rows and narrow statements: this runs for every run of every task.
    task_rows = [state_row(s) for s in states]
    run_rows = [
        (r.task, _ts(r.scheduled), _ts(r.started), _ts(r.finished), r.outcome.value, r.error, r.output, r.worker)
        for r in runs
    ]
    names = list({row[0] for row in run_rows})

    def write(conn: sqlite3.Connection) -> None:
        if task_rows:
            conn.executemany(SAVE_STATE, task_rows)
        if released:
            conn.executemany(RELEASE_TICK, released)
        if run_rows:
            # A task deleted meanwhile (purged) gets no orphan runs: one look-up per task, not per run.
            known: set[str] = set()
            for start in range(0, len(names), 500):
                chunk = names[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                query = f"SELECT name FROM taskext_tasks WHERE name IN ({marks})"
                known.update(name for (name,) in conn.execute(query, chunk))
            rows = run_rows if len(known) == len(names) else [row for row in run_rows if row[0] in known]
            conn.executemany(INSERT_RUN, rows)

    return write

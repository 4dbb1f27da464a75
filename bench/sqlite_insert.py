#!/usr/bin/env python3
"""What SQLite alone costs to keep one run-log row (issue #3's CPU floor), no taskext code.

Inserts rows shaped like ``taskext_runs`` rows for 1,000 tasks with stdlib ``sqlite3``, one
``executemany`` per transaction (WAL, ``synchronous=NORMAL``, as the store runs), and prints
the CPU microseconds per row for each index layout and batch size.

Usage::

    .venv/bin/python bench/sqlite_insert.py            # about 10 s
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TASKS = 1000
COLUMNS = (
    "scheduled REAL, started REAL, finished REAL, outcome TEXT NOT NULL, error TEXT,"
    " output TEXT NOT NULL DEFAULT '', worker TEXT"
)
LAYOUTS: dict[str, tuple[str, Callable[[int, float], tuple[Any, ...]]]] = {
    # taskext's layout: the task's name, indexed with the row id for per-task history.
    "name + (task, id) index": (
        f"CREATE TABLE runs (id INTEGER PRIMARY KEY, task TEXT NOT NULL, {COLUMNS});"
        " CREATE INDEX runs_task ON runs (task, id);",
        lambda task, at: (f"bench-{task}", at, at, at + 1e-4, "succeeded", None, "", "host:1234:abcdef"),
    ),
    "integer task id + index": (
        f"CREATE TABLE runs (id INTEGER PRIMARY KEY, task INTEGER NOT NULL, {COLUMNS});"
        " CREATE INDEX runs_task ON runs (task, id);",
        lambda task, at: (task, at, at, at + 1e-4, "succeeded", None, "", "host:1234:abcdef"),
    ),
    "name, no index (no per-task history)": (
        f"CREATE TABLE runs (id INTEGER PRIMARY KEY, task TEXT NOT NULL, {COLUMNS});",
        lambda task, at: (f"bench-{task}", at, at, at + 1e-4, "succeeded", None, "", "host:1234:abcdef"),
    ),
}
INSERT = (
    "INSERT INTO runs (task, scheduled, started, finished, outcome, error, output, worker) VALUES (?,?,?,?,?,?,?,?)"
)


def measure(schema: str, make: Callable[[int, float], tuple[Any, ...]], batch: int, rows: int) -> float:
    path = Path(tempfile.mkdtemp()) / "runs.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.executescript(schema)
    now = time.time()
    spent = 0.0
    for first in range(0, rows, batch):
        batch_rows = [make(n % TASKS, now + n) for n in range(first, first + batch)]
        started = time.process_time()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(INSERT, batch_rows)
        conn.execute("COMMIT")
        spent += time.process_time() - started
    conn.close()
    return spent / rows * 1e6


def main() -> None:
    print(f"SQLite {sqlite3.sqlite_version}; {TASKS} tasks; CPU us per row inserted (building rows excluded)")
    for name, (schema, make) in LAYOUTS.items():
        figures = ", ".join(f"batch {batch}: {measure(schema, make, batch, 60_000):.2f}" for batch in (250, 1000))
        print(f"  {name:40s} {figures}")


if __name__ == "__main__":
    main()

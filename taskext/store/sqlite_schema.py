"""The SQLite schema of taskext: its version, forward migrations, and the check at start."""

from __future__ import annotations

import sqlite3
import time

from .base import NotATaskextDatabase, SchemaTooNew
from .sqlite_queue import QUEUE_SCHEMA

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "inspect_schema", "prepare_schema"]

SCHEMA_VERSION = 3
APPLICATION = "taskext"

# Forward migrations: MIGRATIONS[n] upgrades a version-n database to n + 1.
_SCHEMA_V1 = """
CREATE TABLE taskext_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE taskext_tasks (
    name TEXT PRIMARY KEY,
    default_schedule TEXT,
    override_schedule TEXT,
    default_changed INTEGER NOT NULL DEFAULT 0,
    disabled INTEGER NOT NULL DEFAULT 0,
    paused INTEGER NOT NULL DEFAULT 0,
    exclusive TEXT,
    misfire_grace REAL,
    random_fields TEXT,
    next_run REAL,
    last_scheduled REAL,
    last_started REAL,
    last_finished REAL,
    last_outcome TEXT,
    failures INTEGER NOT NULL DEFAULT 0,
    fail_delay REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    run_count INTEGER NOT NULL DEFAULT 0,
    seen_at REAL
);
CREATE TABLE taskext_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task TEXT NOT NULL,
    scheduled REAL,
    started REAL,
    finished REAL,
    outcome TEXT NOT NULL,
    error TEXT,
    output TEXT NOT NULL DEFAULT '',
    worker TEXT
);
CREATE INDEX taskext_runs_task ON taskext_runs (task, id);
"""
# Version 3: a lease on a scheduled task while one process runs it.
LEASE_COLUMNS = """
ALTER TABLE taskext_tasks ADD COLUMN acquired_by TEXT;
ALTER TABLE taskext_tasks ADD COLUMN acquired_until REAL
"""
MIGRATIONS: dict[int, str] = {1: QUEUE_SCHEMA, 2: LEASE_COLUMNS}


def inspect_schema(conn: sqlite3.Connection, path: str) -> int:
    """The schema version of the file (0: empty). Reads only."""
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise NotATaskextDatabase(f"{path} is not a taskext database ({exc}); left untouched") from None
    if not tables:
        return 0
    if "taskext_meta" not in tables:
        raise NotATaskextDatabase(
            f"{path} is not a taskext database (it has tables {sorted(tables)[:5]}); left untouched"
        )
    meta = dict(conn.execute("SELECT key, value FROM taskext_meta").fetchall())
    if meta.get("application") != APPLICATION or not str(meta.get("schema_version", "")).isdigit():
        raise NotATaskextDatabase(f"{path} is not a taskext database; left untouched")
    version = int(meta["schema_version"])
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"{path} has taskext schema version {version}, newer than this taskext"
            f" (supports up to {SCHEMA_VERSION}); upgrade taskext. The file was left untouched."
        )
    return version


def _enable_wal(conn: sqlite3.Connection, busy_timeout: float) -> None:
    """Switch to WAL. SQLite does not call the busy handler for this, so retry until busy_timeout."""
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.005)


def prepare_schema(conn: sqlite3.Connection, path: str, *, busy_timeout: float) -> None:
    """Create or migrate the schema; a foreign or newer file is refused untouched."""
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    # Inspect before writing anything: a foreign or newer file must stay untouched.
    if inspect_schema(conn, path) == SCHEMA_VERSION:
        conn.execute("PRAGMA synchronous = NORMAL")
        return
    if path != ":memory:":
        _enable_wal(conn, busy_timeout)
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = inspect_schema(conn, path)  # another process may have created it meanwhile
        if version == 0:
            for statement in _SCHEMA_V1.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.executemany(
                "INSERT INTO taskext_meta (key, value) VALUES (?, ?)",
                [("application", APPLICATION), ("schema_version", "1"), ("changes", "0")],
            )
            version = 1
        while version < SCHEMA_VERSION:
            for statement in MIGRATIONS[version].split(";"):
                if statement.strip():
                    conn.execute(statement)
            version += 1
            conn.execute("UPDATE taskext_meta SET value = ? WHERE key = 'schema_version'", (str(version),))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise

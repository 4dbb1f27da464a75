"""The PostgreSQL schema of taskext: its version, forward migrations, and the check at start."""

from __future__ import annotations

from typing import Any

import asyncpg

from .base import NotATaskextDatabase, SchemaTooNew
from .postgres_queue import QUEUE_SCHEMA

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "inspect_schema", "prepare_schema"]

# Independent of the SQLite store's version, but numbered alike: version n holds the same features.
SCHEMA_VERSION = 3
APPLICATION = "taskext"
# pg_advisory_xact_lock(class, key): taskext's class, key 1 guards schema creation and migrations.
LOCK_CLASS = 0x7461736B  # "task"
SCHEMA_LOCK = 1


# Forward migrations: MIGRATIONS[n] upgrades a version-n database to n + 1.
_SCHEMA_V1 = """
CREATE TABLE taskext_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE taskext_tasks (
    name TEXT PRIMARY KEY,
    default_schedule TEXT,
    override_schedule TEXT,
    default_changed BOOLEAN NOT NULL DEFAULT FALSE,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    paused BOOLEAN NOT NULL DEFAULT FALSE,
    exclusive TEXT,
    misfire_grace DOUBLE PRECISION,
    random_fields TEXT,
    next_run TIMESTAMPTZ,
    last_scheduled TIMESTAMPTZ,
    last_started TIMESTAMPTZ,
    last_finished TIMESTAMPTZ,
    last_outcome TEXT,
    failures INTEGER NOT NULL DEFAULT 0,
    fail_delay DOUBLE PRECISION NOT NULL DEFAULT 0,
    last_error TEXT,
    run_count BIGINT NOT NULL DEFAULT 0,
    seen_at TIMESTAMPTZ
);
CREATE TABLE taskext_runs (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task TEXT NOT NULL,
    scheduled TIMESTAMPTZ,
    started TIMESTAMPTZ,
    finished TIMESTAMPTZ,
    outcome TEXT NOT NULL,
    error TEXT,
    output TEXT NOT NULL DEFAULT '',
    worker TEXT
);
CREATE INDEX taskext_runs_task ON taskext_runs (task, id);
INSERT INTO taskext_meta (key, value) VALUES ('application', 'taskext'), ('schema_version', '1'), ('changes', '0');
"""
# Version 3: a lease on a scheduled task while one process runs it.
LEASE_COLUMNS = """
ALTER TABLE taskext_tasks ADD COLUMN acquired_by TEXT;
ALTER TABLE taskext_tasks ADD COLUMN acquired_until TIMESTAMPTZ;
"""
MIGRATIONS: dict[int, str] = {1: QUEUE_SCHEMA, 2: LEASE_COLUMNS}


async def inspect_schema(conn: Any, label: str) -> int:
    """The schema version in the current schema (0: no taskext tables). Reads only."""
    tables = [
        row[0]
        for row in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            " AND left(tablename, 8) = 'taskext_' ORDER BY tablename"
        )
    ]
    if not tables:
        return 0
    where = f"{label} (schema {await conn.fetchval('SELECT current_schema()')})"
    if "taskext_meta" not in tables:
        raise NotATaskextDatabase(
            f"{where} is not a taskext database: it has tables {tables[:5]} but no taskext_meta; left untouched"
        )
    try:
        meta = {str(row[0]): str(row[1]) for row in await conn.fetch("SELECT key, value FROM taskext_meta")}
    except asyncpg.PostgresError as exc:
        raise NotATaskextDatabase(
            f"{where} is not a taskext database (its taskext_meta is not taskext's: {exc}); left untouched"
        ) from None
    if meta.get("application") != APPLICATION or not meta.get("schema_version", "").isdigit():
        raise NotATaskextDatabase(f"{where} is not a taskext database (see taskext_meta); left untouched")
    version = int(meta["schema_version"])
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"{where} has taskext schema version {version}, newer than this taskext"
            f" (supports up to {SCHEMA_VERSION}); upgrade taskext. The database was left untouched."
        )
    return version


async def prepare_schema(conn: Any, label: str) -> None:
    """Create or migrate the schema; a foreign or newer database is refused untouched."""
    # Inspect before writing anything: a foreign or newer database must stay untouched.
    if await inspect_schema(conn, label) == SCHEMA_VERSION:
        return
    async with conn.transaction():
        # Processes starting at once take turns; the others then find the schema made.
        await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", LOCK_CLASS, SCHEMA_LOCK)
        version = await inspect_schema(conn, label)
        if version == 0:
            await conn.execute(_SCHEMA_V1)
            version = 1
        while version < SCHEMA_VERSION:
            await conn.execute(MIGRATIONS[version])
            version += 1
            await conn.execute("UPDATE taskext_meta SET value = $1 WHERE key = 'schema_version'", str(version))

"""Fixtures that run the store contract against every store implementation.

Each entry of ``BACKENDS`` is an async function ``(tmp_path) -> maker``: it prepares an
empty database for one test (or calls ``pytest.skip`` with a visible reason) and returns a
``maker``, a callable that builds a new, unopened store object on that database. Adding a
store is one line in ``BACKENDS`` (plus its setup function).

Fixtures:

``store``
    An opened store on a fresh database, once per backend.
``open_store``
    ``await open_store()`` opens another store object on the same database as ``store``
    (another process, as far as the database can tell).
``reopen``
    ``store = await reopen(store)`` closes a store and opens a new one on the same
    database (a restart).

Every store opened through these fixtures is closed at teardown.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from taskext.store import SQLiteStore, Store

StoreMaker = Callable[[], Store]
Backend = Callable[[Path], Awaitable[StoreMaker]]

POSTGRES_URL_VARIABLE = "TASKEXT_TEST_POSTGRES_URL"


async def sqlite_backend(tmp_path: Path) -> StoreMaker:
    url = f"sqlite:///{tmp_path}/t.db"  # tmp_path is absolute: sqlite:////tmp/...
    return lambda: SQLiteStore(url)


async def postgres_backend(tmp_path: Path) -> StoreMaker:
    try:
        from taskext.store.postgres import PostgresStore  # type: ignore[import-not-found]
    except ImportError as exc:
        if getattr(exc, "name", None) == "taskext.store.postgres":
            pytest.skip("PostgreSQL store not implemented yet")
        pytest.skip(f"PostgreSQL store cannot be imported: {exc}")
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url:
        pytest.skip(f"set {POSTGRES_URL_VARIABLE} to a throwaway PostgreSQL database to run this")
    await _drop_taskext_tables(url)
    return lambda: PostgresStore(url)


async def _drop_taskext_tables(url: str) -> None:
    """Give each test an empty database: drop every ``taskext*`` table in the current schema.

    The database named by TASKEXT_TEST_POSTGRES_URL must be a throwaway one.
    """
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        names = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'taskext%'"
        )
        for row in names:
            await conn.execute(f'DROP TABLE IF EXISTS "{row["tablename"]}" CASCADE')
    finally:
        await conn.close()


# One line per store implementation.
BACKENDS: dict[str, Backend] = {
    "sqlite": sqlite_backend,
    "postgres": postgres_backend,
}


@pytest.fixture(params=list(BACKENDS))
async def store_maker(request: pytest.FixtureRequest, tmp_path: Path) -> StoreMaker:
    """Builds new, unopened store objects on this test's (empty) database."""
    backend: Backend = BACKENDS[request.param]
    return await backend(tmp_path)


@pytest.fixture
async def open_store(store_maker: StoreMaker) -> AsyncIterator[Callable[[], Awaitable[Store]]]:
    """``await open_store()``: another opened store object on the test's database."""
    opened: list[Store] = []

    async def open_one() -> Store:
        new = store_maker()
        opened.append(new)
        await new.open()
        return new

    yield open_one
    for each in reversed(opened):
        await each.close()


@pytest.fixture
async def store(open_store: Callable[[], Awaitable[Store]]) -> Store:
    """An opened store on a fresh database (closed at teardown)."""
    return await open_store()


@pytest.fixture
def reopen(open_store: Callable[[], Awaitable[Store]]) -> Callable[[Store], Awaitable[Store]]:
    """``store = await reopen(store)``: close ``store`` and open a new one on the same database."""

    async def reopen_one(old: Store) -> Store:
        await old.close()
        return await open_store()

    return reopen_one

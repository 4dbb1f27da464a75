"""SQLite-specific behaviour of SQLiteStore: files, WAL, foreign files, locks, URLs."""

from __future__ import annotations

import contextlib
import hashlib
import random
import re
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from taskext.store import (
    NotATaskextDatabase,
    Outcome,
    RunRecord,
    SchemaTooNew,
    SQLiteStore,
    StoreError,
    store_for_url,
)
from taskext.store.sqlite import _SCHEMA_V1, MIGRATIONS, SCHEMA_VERSION

UTC = timezone.utc
T0 = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)

NewStore = Callable[..., SQLiteStore]


def url_of(path: Path) -> str:
    return f"sqlite:///{path}"  # path is absolute, so this is sqlite:////...


@contextlib.contextmanager
def plain_connection(path: Path, **options: object) -> Iterator[sqlite3.Connection]:
    """A stdlib sqlite3 connection that is always closed (sqlite3's own ``with`` does not close)."""
    conn = sqlite3.connect(path, **options)  # type: ignore[arg-type]
    try:
        yield conn
    finally:
        conn.close()


def fingerprint(path: Path) -> tuple[str, int, int, list[str]]:
    """Content hash, size, mtime of ``path`` and the files beside it."""
    stat = path.stat()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest, stat.st_size, stat.st_mtime_ns, fingerprint_dir(path.parent)


def fingerprint_dir(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


async def make_taskext_db(path: Path) -> None:
    async with SQLiteStore(url_of(path)) as store:
        await store.register_task("alpha", "@hourly", now=T0)


@pytest.fixture
async def new_store() -> AsyncIterator[NewStore]:
    """``new_store(url, **options)``: an unopened SQLiteStore, closed at teardown even if the test fails.

    (An open store left behind keeps aiosqlite's worker thread alive and hangs pytest at exit.)
    """
    made: list[SQLiteStore] = []

    def make(url: str, **options: Any) -> SQLiteStore:
        made.append(SQLiteStore(url, **options))
        return made[-1]

    yield make
    for store in made:
        await store.close()


# ---------------------------------------------------------------- files and WAL


async def test_open_creates_file_and_missing_parent_folders(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "c" / "taskext.db"

    async with SQLiteStore(url_of(path)) as store:
        assert path.is_file()
        await store.register_task("alpha", "@hourly", now=T0)

    with plain_connection(path) as conn:
        meta = dict(conn.execute("SELECT key, value FROM taskext_meta").fetchall())
        names = [row[0] for row in conn.execute("SELECT name FROM taskext_tasks")]
    assert meta["application"] == "taskext"
    assert meta["schema_version"] == str(SCHEMA_VERSION)
    assert names == ["alpha"]


async def test_database_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    async with SQLiteStore(url_of(path)) as store:
        with plain_connection(path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        await store.register_task("alpha", "@hourly", now=T0)

    async with SQLiteStore(url_of(path)):  # reopening an existing file keeps WAL
        with plain_connection(path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_reopening_keeps_the_data(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    await make_taskext_db(path)

    async with SQLiteStore(url_of(path)) as store:
        assert [t.name for t in await store.list_tasks()] == ["alpha"]


async def test_open_of_existing_file_is_not_blocked_by_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    await make_taskext_db(path)

    with plain_connection(path, isolation_level=None) as holder:
        holder.execute("BEGIN IMMEDIATE")
        async with SQLiteStore(url_of(path), busy_timeout=0.2) as store:
            assert [t.name for t in await store.list_tasks()] == ["alpha"]
        holder.execute("ROLLBACK")


@contextlib.contextmanager
def write_lock_released_after(path: Path, seconds: float) -> Iterator[None]:
    """Another connection takes the write lock on ``path`` and releases it ``seconds`` later."""
    locked, done = threading.Event(), threading.Event()

    def hold() -> None:
        with plain_connection(path, isolation_level=None) as holder:
            holder.execute("BEGIN IMMEDIATE")
            locked.set()
            done.wait(seconds)
            holder.execute("ROLLBACK")

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert locked.wait(5)
        yield
    finally:
        done.set()
        thread.join(5)


async def test_first_open_of_new_file_waits_for_another_connections_write_lock(
    new_store: NewStore, tmp_path: Path
) -> None:
    path = tmp_path / "t.db"
    store = new_store(url_of(path), busy_timeout=5)

    with write_lock_released_after(path, 0.3):
        began = time.monotonic()
        await store.open()

    assert time.monotonic() - began >= 0.2
    await store.register_task("alpha", "@hourly", now=T0)


# ---------------------------------------------------------------- migrations


def make_v1_db(path: Path, *, extra_sql: str = "") -> None:
    """A database as taskext schema version 1 wrote it, with one task, one run and 3 admin changes."""
    with plain_connection(path, isolation_level=None) as conn:
        conn.executescript(_SCHEMA_V1)
        conn.executemany(
            "INSERT INTO taskext_meta (key, value) VALUES (?, ?)",
            [("application", "taskext"), ("schema_version", "1"), ("changes", "3")],
        )
        conn.execute(
            "INSERT INTO taskext_tasks (name, default_schedule, override_schedule, run_count, seen_at)"
            " VALUES ('alpha', '@hourly', '@daily', 4, ?)",
            (T0.timestamp(),),
        )
        conn.execute(
            "INSERT INTO taskext_runs (task, started, finished, outcome, output) VALUES ('alpha', ?, ?, 'failed', 'x')",
            (T0.timestamp(), T0.timestamp() + 2),
        )
        if extra_sql:
            conn.executescript(extra_sql)


def created_names(sql: str) -> list[str]:
    """The tables and indexes a migration script creates, in order."""
    return re.findall(r"CREATE (?:UNIQUE )?(?:TABLE|INDEX) (?:IF NOT EXISTS )?(\w+)", sql)


def schema_version_of(path: Path) -> str:
    with plain_connection(path) as conn:
        return str(conn.execute("SELECT value FROM taskext_meta WHERE key = 'schema_version'").fetchone()[0])


@pytest.mark.skipif(SCHEMA_VERSION < 2, reason="no migration yet")
async def test_version_1_database_is_migrated_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    make_v1_db(path)

    async with SQLiteStore(url_of(path)) as store:
        state = await store.get_task("alpha")
        assert (state.default_schedule, state.override_schedule, state.run_count) == ("@hourly", "@daily", 4)
        [saved] = await store.runs("alpha")
        assert (saved.outcome, saved.output) == (Outcome.FAILED, "x")
        assert await store.change_counter() == 3

    assert schema_version_of(path) == str(SCHEMA_VERSION)
    with plain_connection(path) as conn:
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    for version in range(1, SCHEMA_VERSION):
        assert set(created_names(MIGRATIONS[version])) <= names


@pytest.mark.skipif(SCHEMA_VERSION < 2, reason="no migration yet")
async def test_failed_migration_leaves_the_old_version_intact(new_store: NewStore, tmp_path: Path) -> None:
    """A migration that fails halfway is rolled back: still version 1, data intact, usable by the old code."""
    path = tmp_path / "t.db"
    # A table named like the migration's last table or index: its earlier statements succeed, the last fails.
    clash = created_names(MIGRATIONS[1])[-1]
    make_v1_db(path, extra_sql=f"CREATE TABLE {clash} (x INTEGER);")

    with pytest.raises(StoreError, match="already"):
        await new_store(url_of(path)).open()

    assert schema_version_of(path) == "1"
    with plain_connection(path) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert conn.execute("SELECT run_count FROM taskext_tasks WHERE name = 'alpha'").fetchone()[0] == 4
        assert conn.execute("SELECT COUNT(*) FROM taskext_runs").fetchone()[0] == 1
    new_names = set(created_names(MIGRATIONS[1])) - {clash}
    assert new_names, "the migration should create something besides the clashing name"
    assert not new_names & tables, "the half-done migration was not rolled back"
    assert clash in tables


# ---------------------------------------------------------------- files taskext must not touch


async def test_newer_schema_is_refused_and_file_left_untouched(new_store: NewStore, tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    await make_taskext_db(path)
    with plain_connection(path, isolation_level=None) as conn:
        conn.execute("UPDATE taskext_meta SET value = '999' WHERE key = 'schema_version'")
    before = fingerprint(path)
    store = new_store(url_of(path))

    with pytest.raises(SchemaTooNew, match="999") as caught:
        await store.open()

    assert isinstance(caught.value, StoreError)
    assert f"up to {SCHEMA_VERSION}" in str(caught.value)
    assert "untouched" in str(caught.value)
    assert fingerprint(path) == before
    with pytest.raises(StoreError, match="not open"):
        await store.list_tasks()


async def test_foreign_sqlite_database_is_refused_and_left_untouched(new_store: NewStore, tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with plain_connection(path, isolation_level=None) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO users (name) VALUES ('ada')")
    before = fingerprint(path)
    store = new_store(url_of(path))

    with pytest.raises(NotATaskextDatabase, match="not a taskext database") as caught:
        await store.open()

    assert "users" in str(caught.value)
    assert fingerprint(path) == before
    with plain_connection(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


async def test_database_with_someone_elses_meta_table_is_refused(new_store: NewStore, tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with plain_connection(path, isolation_level=None) as conn:
        conn.execute("CREATE TABLE taskext_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        conn.execute("INSERT INTO taskext_meta VALUES ('application', 'something-else')")
    before = fingerprint(path)

    with pytest.raises(NotATaskextDatabase):
        await new_store(url_of(path)).open()

    assert fingerprint(path) == before


NOT_DATABASES = {
    "random-bytes": random.Random(1234).randbytes(8192),
    "text": b"taskext settings\n" * 200,
    "sqlite-header-then-garbage": b"SQLite format 3\x00" + random.Random(99).randbytes(8192 - 16),
}


@pytest.mark.parametrize("content", list(NOT_DATABASES.values()), ids=list(NOT_DATABASES))
async def test_file_that_is_not_a_database_is_refused_and_left_untouched(
    new_store: NewStore, tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "t.db"
    path.write_bytes(content)
    before = fingerprint(path)
    store = new_store(url_of(path))

    with pytest.raises(StoreError) as caught:
        await store.open()

    assert str(path) in str(caught.value)
    assert path.read_bytes() == content
    assert fingerprint(path) == before


# ---------------------------------------------------------------- locks


async def test_write_while_another_connection_holds_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    store = SQLiteStore(url_of(path), busy_timeout=0.2)
    async with store:
        state = await store.register_task("alpha", "@hourly", now=T0)
        before = await store.get_task("alpha")
        counter = await store.change_counter()
        state.run_count, state.last_outcome = 1, Outcome.SUCCEEDED
        record = RunRecord(task="alpha", outcome=Outcome.SUCCEEDED, started=T0, finished=T0)

        with plain_connection(path, isolation_level=None) as holder:
            holder.execute("BEGIN IMMEDIATE")
            holder.execute("UPDATE taskext_tasks SET last_error = 'holder' WHERE name = 'alpha'")

            began = time.monotonic()
            with pytest.raises(StoreError, match="locked"):
                await store.save_results([state], [record])
            waited = time.monotonic() - began
            with pytest.raises(StoreError, match="locked"):
                await store.update_admin("alpha", disabled=True)

            # Readers are not blocked (WAL), and nothing was half-written.
            assert await store.get_task("alpha") == before
            assert await store.runs() == []
            assert await store.change_counter() == counter
            holder.execute("ROLLBACK")

        assert waited >= 0.15, f"gave up after {waited:.3f} s, before busy_timeout"
        await store.save_results([state], [record])
        await store.update_admin("alpha", disabled=True)

        after = await store.get_task("alpha")
        assert (after.run_count, after.last_outcome, after.disabled) == (1, Outcome.SUCCEEDED, True)
        assert after.last_error is None
        assert len(await store.runs()) == 1
        assert await store.change_counter() > counter


async def test_write_waits_out_a_short_lock(tmp_path: Path) -> None:
    """A lock released within busy_timeout only delays the write."""
    path = tmp_path / "t.db"
    async with SQLiteStore(url_of(path), busy_timeout=5) as store:
        await store.register_task("alpha", "@hourly", now=T0)

        with write_lock_released_after(path, 0.3):
            began = time.monotonic()
            state = await store.update_admin("alpha", paused=True)
            waited = time.monotonic() - began

        assert state.paused is True
        assert waited >= 0.2, f"the write did not wait for the lock ({waited:.3f} s)"


# ---------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    ("url", "scheme"),
    [("mysql://user@host/db", "mysql"), ("mongodb://host/db", "mongodb"), ("redis://host:6379/0", "redis")],
)
def test_store_for_url_rejects_unknown_scheme(url: str, scheme: str) -> None:
    with pytest.raises(ValueError, match=f"'{scheme}'"):
        store_for_url(url)


@pytest.mark.parametrize("url", ["", None])
def test_store_for_url_rejects_empty_url(url: object) -> None:
    with pytest.raises(ValueError, match="non-empty"):
        store_for_url(url)  # type: ignore[arg-type]


def test_store_for_url_builds_a_sqlite_store_with_options(tmp_path: Path) -> None:
    store = store_for_url(url_of(tmp_path / "t.db"), busy_timeout=1.5)

    assert isinstance(store, SQLiteStore)
    assert store.path == f"{tmp_path}/t.db"
    assert store.busy_timeout == 1.5


async def test_relative_sqlite_url_is_relative_to_the_working_directory(
    new_store: NewStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = new_store("sqlite:///data/sub/t.db")
    assert store.path == "data/sub/t.db"

    async with store:
        await store.register_task("alpha", "@hourly", now=T0)

    assert (tmp_path / "data" / "sub" / "t.db").is_file()


async def test_four_slash_sqlite_url_is_an_absolute_path(new_store: NewStore, tmp_path: Path) -> None:
    absolute = tmp_path / "abs" / "t.db"
    url = "sqlite:///" + str(absolute)
    assert url.startswith("sqlite:////")
    store = new_store(url)
    assert store.path == str(absolute)

    async with store:
        await store.register_task("alpha", "@hourly", now=T0)

    assert absolute.is_file()


@pytest.mark.parametrize("url", ["sqlite://t.db", "sqlite:t.db", "sqlite:///", "postgresql:///t.db"])
def test_malformed_sqlite_url_is_rejected(url: str) -> None:
    with pytest.raises(ValueError, match="URL"):
        SQLiteStore(url)


def test_negative_busy_timeout_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="busy_timeout"):
        SQLiteStore(url_of(tmp_path / "t.db"), busy_timeout=-1)


async def test_in_memory_database_writes_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    async with SQLiteStore("sqlite:///:memory:") as store:
        await store.register_task("alpha", "@hourly", now=T0)
        assert [t.name for t in await store.list_tasks()] == ["alpha"]
    assert fingerprint_dir(tmp_path) == []


# ---------------------------------------------------------------- open and close


async def test_close_twice_is_safe(new_store: NewStore, tmp_path: Path) -> None:
    store = new_store(url_of(tmp_path / "t.db"))
    await store.close()  # never opened
    await store.open()
    await store.close()
    await store.close()


async def test_open_twice_keeps_one_connection(tmp_path: Path) -> None:
    async with SQLiteStore(url_of(tmp_path / "t.db")) as store:
        await store.register_task("alpha", "@hourly", now=T0)
        await store.open()
        assert [t.name for t in await store.list_tasks()] == ["alpha"]


async def test_store_can_be_opened_again_after_close(new_store: NewStore, tmp_path: Path) -> None:
    store = new_store(url_of(tmp_path / "t.db"))
    async with store:
        await store.register_task("alpha", "@hourly", now=T0)
    async with store:
        assert [t.name for t in await store.list_tasks()] == ["alpha"]


CALLS = {
    "register_task": lambda s: s.register_task("alpha", "@hourly", now=T0),
    "get_task": lambda s: s.get_task("alpha"),
    "list_tasks": lambda s: s.list_tasks(),
    "update_admin": lambda s: s.update_admin("alpha", paused=True),
    "save_results": lambda s: s.save_results([], []),
    "runs": lambda s: s.runs(),
    "run_stats": lambda s: s.run_stats("alpha"),
    "prune_runs": lambda s: s.prune_runs(keep_last=1, older_than=T0),
    "delete_task": lambda s: s.delete_task("alpha"),
    "mark_scan": lambda s: s.mark_scan(T0),
    "last_scan": lambda s: s.last_scan(),
    "change_counter": lambda s: s.change_counter(),
}


@pytest.mark.parametrize("call", list(CALLS.values()), ids=list(CALLS))
async def test_closed_store_raises_store_error(new_store: NewStore, tmp_path: Path, call: object) -> None:
    store = new_store(url_of(tmp_path / "t.db"))
    async with store:
        await store.register_task("alpha", "@hourly", now=T0)

    with pytest.raises(StoreError, match="not open"):
        await call(store)  # type: ignore[operator]


@pytest.mark.parametrize("call", list(CALLS.values()), ids=list(CALLS))
async def test_never_opened_store_raises_store_error(tmp_path: Path, call: object) -> None:
    with pytest.raises(StoreError, match="not open"):
        await call(SQLiteStore(url_of(tmp_path / "t.db")))  # type: ignore[operator]
    assert not (tmp_path / "t.db").exists()

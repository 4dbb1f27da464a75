"""PostgreSQL-specific behaviour of PostgresStore: schema checks, concurrency, errors, notifications.

Tests that need a server use the database named by TASKEXT_TEST_POSTGRES_URL (a throwaway
one: every ``taskext*`` table in it is dropped) and are skipped, with that reason, without it.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from taskext.errors import TaskNotFound
from taskext.store import (
    AdhocResult,
    AdhocStatus,
    NewAdhoc,
    NotATaskextDatabase,
    Outcome,
    RunRecord,
    SchemaTooNew,
    Store,
    StoreError,
    store_for_url,
)

asyncpg = pytest.importorskip("asyncpg", reason="asyncpg (the postgres extra) is not installed")

from taskext.store.postgres import _SCHEMA_V1, MIGRATIONS, SCHEMA_VERSION, PostgresStore  # noqa: E402

UTC = timezone.utc
T0 = datetime(2026, 3, 4, 5, 6, 7, 891234, tzinfo=UTC)
URL_VARIABLE = "TASKEXT_TEST_POSTGRES_URL"
APP_TABLE = "app_users"  # a table of some other application sharing the database

NewStore = Callable[..., PostgresStore]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def item(data: str = "{}", *, name: str = "mail", run: float = 0.0, key: str | None = None) -> NewAdhoc:
    return NewAdhoc(
        name=name,
        data=data,
        run_at=at(run),
        enqueued_at=at(0),
        max_attempts=3,
        dedupe_key=key if key is not None else f"{name}|{data}",
    )


async def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.01)
    return True


# ---------------------------------------------------------------- fixtures


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """The test database, emptied of taskext tables (and of this file's other tables)."""
    url = os.environ.get(URL_VARIABLE)
    if not url:
        pytest.skip(f"set {URL_VARIABLE} to a throwaway PostgreSQL database to run this")
    await drop_tables(url)
    yield url
    await drop_tables(url)


async def drop_tables(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        names = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            " AND (tablename LIKE 'taskext%' OR tablename = $1)",
            APP_TABLE,
        )
        for row in names:
            await conn.execute(f'DROP TABLE IF EXISTS "{row[0]}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture
async def raw(pg_url: str) -> AsyncIterator[Any]:
    """A plain asyncpg connection to the test database (another program, as far as taskext knows)."""
    conn = await asyncpg.connect(pg_url)
    yield conn
    await conn.close()


@pytest.fixture
async def new_store() -> AsyncIterator[NewStore]:
    """``new_store(url, **options)``: an unopened PostgresStore, closed at teardown even if the test fails."""
    made: list[PostgresStore] = []

    def make(url: str, **options: Any) -> PostgresStore:
        made.append(PostgresStore(url, **options))
        return made[-1]

    yield make
    for store in made:
        await store.close()


@pytest.fixture
def open_store(pg_url: str, new_store: NewStore) -> Callable[..., Awaitable[PostgresStore]]:
    async def open_one(**options: Any) -> PostgresStore:
        store = new_store(pg_url, **options)
        await store.open()
        return store

    return open_one


async def snapshot(conn: Any) -> dict[str, Any]:
    """Every table of the current schema with its columns and rows: to prove nothing was touched."""
    tables = [
        row[0]
        for row in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename"
        )
    ]
    result: dict[str, Any] = {}
    for table in tables:
        columns = await conn.fetch(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            table,
        )
        rows = await conn.fetch(f'SELECT * FROM "{table}"')
        result[table] = ([tuple(c) for c in columns], sorted(tuple(map(repr, r)) for r in rows))
    result["indexes"] = [
        tuple(row)
        for row in await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() ORDER BY indexname"
        )
    ]
    return result


async def make_taskext_database(open_store: Callable[..., Awaitable[PostgresStore]]) -> None:
    store = await open_store()
    await store.register_task("alpha", "@hourly", now=T0)
    await store.enqueue([item()], dedupe=False)
    await store.close()


# ---------------------------------------------------------------- schema


async def test_schema_is_recorded_and_uses_timestamptz(open_store: Any, raw: Any) -> None:
    await open_store()

    meta = dict(await raw.fetch("SELECT key, value FROM taskext_meta"))
    assert meta["application"] == "taskext"
    assert meta["schema_version"] == str(SCHEMA_VERSION)
    types = {
        (row[0], row[1]): row[2]
        for row in await raw.fetch(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name LIKE 'taskext%'"
        )
    }
    times = {
        ("taskext_tasks", c)
        for c in ("next_run", "last_scheduled", "last_started", "last_finished", "seen_at", "acquired_until")
    }
    times |= {("taskext_runs", c) for c in ("scheduled", "started", "finished")}
    times |= {("taskext_adhoc", c) for c in ("run_at", "enqueued_at", "acquired_until", "finished_at")}
    assert {key: types[key] for key in times} == dict.fromkeys(times, "timestamp with time zone")


async def test_reopening_a_current_database_writes_nothing(open_store: Any, raw: Any) -> None:
    await make_taskext_database(open_store)
    before = await snapshot(raw)

    store = await open_store()

    assert await snapshot(raw) == before
    assert [t.name for t in await store.list_tasks()] == ["alpha"]


async def test_newer_schema_is_refused_and_left_untouched(open_store: Any, new_store: NewStore, raw: Any) -> None:
    await make_taskext_database(open_store)
    await raw.execute("UPDATE taskext_meta SET value = '999' WHERE key = 'schema_version'")
    before = await snapshot(raw)
    store = new_store(os.environ[URL_VARIABLE])

    with pytest.raises(SchemaTooNew, match="999") as caught:
        await store.open()

    assert isinstance(caught.value, StoreError)
    assert f"up to {SCHEMA_VERSION}" in str(caught.value)
    assert "untouched" in str(caught.value)
    assert await snapshot(raw) == before
    with pytest.raises(StoreError, match="not open"):
        await store.list_tasks()


async def test_foreign_taskext_tables_are_refused_and_left_untouched(new_store: NewStore, raw: Any) -> None:
    """Tables named like taskext's, without taskext's meta row, belong to someone else."""
    await raw.execute("CREATE TABLE taskext_tasks (id SERIAL PRIMARY KEY, payload TEXT)")
    await raw.execute("INSERT INTO taskext_tasks (payload) VALUES ('theirs')")
    before = await snapshot(raw)

    with pytest.raises(NotATaskextDatabase, match="not a taskext database") as caught:
        await new_store(os.environ[URL_VARIABLE]).open()

    assert "taskext_tasks" in str(caught.value)
    assert "untouched" in str(caught.value)
    assert await snapshot(raw) == before


@pytest.mark.parametrize(
    "meta_sql",
    [
        "CREATE TABLE taskext_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        " INSERT INTO taskext_meta VALUES ('application', 'something-else'), ('schema_version', '1')",
        "CREATE TABLE taskext_meta (id SERIAL PRIMARY KEY, note TEXT); INSERT INTO taskext_meta (note) VALUES ('x')",
        "CREATE TABLE taskext_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        " INSERT INTO taskext_meta VALUES ('application', 'taskext'), ('schema_version', 'three')",
    ],
    ids=["other-application", "other-columns", "bad-version"],
)
async def test_someone_elses_meta_table_is_refused(new_store: NewStore, raw: Any, meta_sql: str) -> None:
    await raw.execute(meta_sql)
    before = await snapshot(raw)

    with pytest.raises(NotATaskextDatabase):
        await new_store(os.environ[URL_VARIABLE]).open()

    assert await snapshot(raw) == before


async def test_other_applications_tables_are_left_alone(open_store: Any, raw: Any) -> None:
    await raw.execute(f"CREATE TABLE {APP_TABLE} (id SERIAL PRIMARY KEY, name TEXT)")
    await raw.execute(f"INSERT INTO {APP_TABLE} (name) VALUES ('ada')")
    before = (await snapshot(raw))[APP_TABLE]

    store = await open_store()
    await store.register_task("alpha", "@hourly", now=T0)

    assert (await snapshot(raw))[APP_TABLE] == before


async def test_concurrent_first_opens_of_an_empty_database_all_succeed(
    pg_url: str, new_store: NewStore, raw: Any
) -> None:
    stores = [new_store(pg_url, min_size=1, max_size=2) for _ in range(8)]

    await asyncio.gather(*(store.open() for store in stores))

    meta = await raw.fetch("SELECT key, value FROM taskext_meta ORDER BY key")
    assert [tuple(row) for row in meta] == [
        ("application", "taskext"),
        ("changes", "0"),
        ("schema_version", str(SCHEMA_VERSION)),
    ]
    await stores[0].register_task("alpha", "@hourly", now=T0)
    assert [[t.name for t in await s.list_tasks()] for s in stores] == [["alpha"]] * len(stores)


async def make_v1_database(raw: Any) -> None:
    """A database as PostgreSQL schema version 1 left it: one task, one run, 3 admin changes."""
    await raw.execute(_SCHEMA_V1)
    await raw.execute("UPDATE taskext_meta SET value = '3' WHERE key = 'changes'")
    await raw.execute(
        "INSERT INTO taskext_tasks (name, default_schedule, override_schedule, run_count, seen_at)"
        " VALUES ('alpha', '@hourly', '@daily', 4, $1)",
        T0,
    )
    await raw.execute(
        "INSERT INTO taskext_runs (task, started, finished, outcome, output) VALUES ('alpha', $1, $2, 'failed', 'x')",
        T0,
        at(2),
    )


async def test_version_1_database_is_migrated_and_keeps_its_data(open_store: Any, raw: Any) -> None:
    await make_v1_database(raw)

    store = await open_store()

    assert await raw.fetchval("SELECT value FROM taskext_meta WHERE key = 'schema_version'") == str(SCHEMA_VERSION)
    state = await store.get_task("alpha")
    assert (state.default_schedule, state.override_schedule, state.run_count) == ("@hourly", "@daily", 4)
    assert (state.acquired_by, state.acquired_until) == (None, None)
    [saved] = await store.runs("alpha")
    assert (saved.outcome, saved.output) == (Outcome.FAILED, "x")
    assert await store.change_counter() == 3
    assert await store.enqueue([item()], dedupe=False)
    assert await store.acquire_task("alpha", "worker-1", now=T0, until=at(30)) is None


async def test_failed_migration_is_rolled_back(new_store: NewStore, raw: Any) -> None:
    """DDL is transactional: a migration failing halfway leaves version 1 exactly as it was."""
    await make_v1_database(raw)
    await raw.execute("CREATE TABLE taskext_adhoc (x INTEGER)")  # clashes with migration 1
    before = await snapshot(raw)

    with pytest.raises(StoreError, match="already exists"):
        await new_store(os.environ[URL_VARIABLE]).open()

    assert await snapshot(raw) == before  # still version 1, no lease columns, data intact
    assert set(MIGRATIONS) == set(range(1, SCHEMA_VERSION))


# ---------------------------------------------------------------- concurrency


async def test_concurrent_claims_from_several_stores_are_disjoint_and_take_everything(open_store: Any) -> None:
    """SKIP LOCKED: claimers never wait for each other's rows and never take the same row."""
    stores = [await open_store(max_size=4) for _ in range(4)]
    ids = await stores[0].enqueue([item(str(n), run=n % 50) for n in range(1000)], dedupe=False)
    claimed: dict[str, list[int]] = {}

    async def claimer(store: Store, worker: str) -> None:
        mine = claimed.setdefault(worker, [])
        while batch := await store.claim(worker, ["mail"], now=at(100), lease_until=at(200), limit=25):
            mine.extend(c.id for c in batch)
            assert all(c.attempt == 1 for c in batch)

    await asyncio.gather(*(claimer(store, f"w{i}-{j}") for i, store in enumerate(stores) for j in range(3)))

    every = [task_id for mine in claimed.values() for task_id in mine]
    assert len(every) == len(set(every)) == 1000, "a task was claimed twice"
    assert set(every) == set(ids)
    assert sum(1 for mine in claimed.values() if mine) > 1, "only one claimer got work"
    counts = await stores[1].adhoc_counts(now=at(100))
    assert (counts["pending"], counts["running"]) == (0, 1000)
    owners = {t.id: t.acquired_by for t in await stores[2].list_adhoc(limit=1000)}
    assert all(owners[task_id] == worker for worker, mine in claimed.items() for task_id in mine)


async def test_concurrent_dedupe_enqueues_keep_one_task(open_store: Any) -> None:
    stores = [await open_store(max_size=3) for _ in range(3)]

    enqueued = await asyncio.gather(*(stores[n % 3].enqueue([item(key="k", run=n)], dedupe=True) for n in range(12)))
    rescheduled = await asyncio.gather(*(stores[n % 3].reschedule_or_enqueue(item(key="r", run=n)) for n in range(12)))

    assert len({tuple(ids) for ids in enqueued}) == 1
    assert [created for _, created in rescheduled].count(True) == 1
    assert len({task_id for task_id, _ in rescheduled}) == 1
    assert len(await stores[0].list_adhoc()) == 2


async def test_finish_runs_concurrently_with_claims(open_store: Any) -> None:
    a, b = await open_store(), await open_store()
    await a.enqueue([item(str(n)) for n in range(200)], dedupe=False)

    async def work(store: Store, worker: str) -> int:
        done = 0
        while batch := await store.claim(worker, ["mail"], now=at(1), lease_until=at(60), limit=10):
            done += await store.finish(worker, [AdhocResult(c.id, c.lease) for c in batch], now=at(2))
        return done

    assert sum(await asyncio.gather(work(a, "a1"), work(a, "a2"), work(b, "b1"), work(b, "b2"))) == 200
    assert await a.list_adhoc() == []


# ---------------------------------------------------------------- errors


async def test_unreachable_server_raises_a_clear_store_error(new_store: NewStore) -> None:
    store = new_store("postgresql://taskext:s3cret@127.0.0.1:1/nowhere", connect_timeout=5)

    began = time.monotonic()
    with pytest.raises(StoreError, match="cannot connect to PostgreSQL") as caught:
        await store.open()

    assert time.monotonic() - began < 5
    assert "127.0.0.1:1" in str(caught.value)
    assert "s3cret" not in str(caught.value), "the password leaked into the message"
    with pytest.raises(StoreError, match="not open"):
        await store.list_tasks()


async def test_listen_on_an_unopened_store_raises_store_error() -> None:
    with pytest.raises(StoreError, match="not open"):
        await PostgresStore("postgresql://u@127.0.0.1:1/db").listen(lambda kind: None)


async def test_command_timeout_becomes_a_store_error_and_the_store_recovers(open_store: Any, raw: Any) -> None:
    store = await open_store(command_timeout=0.3)
    await store.register_task("alpha", "@hourly", now=T0)
    holder = raw.transaction()
    await holder.start()
    await raw.execute("LOCK TABLE taskext_tasks IN ACCESS EXCLUSIVE MODE")
    try:
        with pytest.raises(StoreError, match=r"did not answer within 0\.3 s"):
            await store.update_admin("alpha", paused=True)
    finally:
        await holder.rollback()

    assert (await store.update_admin("alpha", paused=True)).paused is True


async def test_driver_errors_are_store_errors(open_store: Any, raw: Any) -> None:
    store = await open_store()
    await raw.execute("DROP TABLE taskext_runs")

    with pytest.raises(StoreError, match="taskext_runs"):
        await store.runs()


@pytest.mark.parametrize(
    "call",
    [
        lambda s, naive: s.claim_tick("alpha", naive, worker="w", now=T0, lease_until=at(1)),
        lambda s, naive: s.acquire_task("alpha", "w", now=naive, until=at(1)),
        lambda s, naive: s.mark_scan(naive),
        lambda s, naive: s.enqueue([NewAdhoc("mail", "{}", naive, T0, 3, "k")], dedupe=False),
        lambda s, naive: s.claim("w", ["mail"], now=naive, lease_until=at(1), limit=1),
        lambda s, naive: s.finish("w", [AdhocResult(1, 1, error="x", retry_at=naive)], now=T0),
        lambda s, naive: s.fail_unhandled([], now=naive, reason="x"),
    ],
    ids=["claim_tick", "acquire_task", "mark_scan", "enqueue", "claim", "finish", "fail_unhandled"],
)
async def test_naive_datetimes_are_refused_everywhere(call: Any) -> None:
    store = PostgresStore("postgresql://u@127.0.0.1:1/db")
    with pytest.raises(ValueError, match="naive"):
        await call(store, datetime(2026, 1, 1))


# ---------------------------------------------------------------- notifications


async def test_every_change_kind_is_announced(open_store: Any) -> None:
    store, other = await open_store(), await open_store()
    heard: list[str] = []
    assert await store.listen(heard.append) is True
    await other.register_task("alpha", "@hourly", now=T0)
    (task_id,) = await other.enqueue([item(run=0)], dedupe=False)
    assert await wait_until(lambda: heard == ["adhoc"], 1.0), heard

    async def hears(kind: str, change: Awaitable[object]) -> None:
        heard.clear()
        await change
        assert await wait_until(lambda: kind in heard, 1.0), f"{kind!r} not heard: {heard}"

    await hears("admin", other.update_admin("alpha", disabled=True))
    await hears("adhoc", other.reschedule_or_enqueue(item(run=5)))  # moves task_id
    (claim,) = await other.claim("w", ["mail"], now=at(10), lease_until=at(60), limit=1)
    retry = AdhocResult(claim.id, claim.lease, error="x", retry_at=at(20))
    await hears("adhoc", other.finish("w", [retry], now=at(11)))
    (claim,) = await other.claim("w", ["mail"], now=at(20), lease_until=at(60), limit=1)
    await hears("adhoc", other.finish("w", [AdhocResult(claim.id, claim.lease, release=True)], now=at(21)))
    (claim,) = await other.claim("w", ["mail"], now=at(22), lease_until=at(60), limit=1)
    await other.finish("w", [AdhocResult(claim.id, claim.lease, error="y")], now=at(23))  # failed for good
    await hears("adhoc", other.retry_adhoc(task_id, now=at(30)))
    await hears("adhoc", other.cancel_adhoc(task_id))
    await hears("admin", other.delete_task("alpha"))


async def test_rolled_back_changes_announce_nothing(open_store: Any) -> None:
    store, other = await open_store(), await open_store()
    await other.register_task("alpha", "@hourly", now=T0)
    heard: list[str] = []
    await store.listen(heard.append)

    with pytest.raises(TaskNotFound):
        await other.update_admin("ghost", paused=True)
    with pytest.raises(TaskNotFound):
        await other.delete_task("ghost")
    with pytest.raises(TaskNotFound):
        await other.cancel_adhoc(12345)
    await other.register_task("beta", "@hourly", now=T0)  # not an admin change
    await other.save_results([], [RunRecord(task="alpha", outcome=Outcome.SUCCEEDED)])
    await asyncio.sleep(0.2)

    assert heard == []


async def listener_pids(raw: Any) -> list[int]:
    return [
        row[0]
        for row in await raw.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = 'taskext-listener'"
        )
    ]


async def test_close_closes_the_listener_connection(open_store: Any, raw: Any) -> None:
    store = await open_store()
    assert await listener_pids(raw) == []
    await store.listen(lambda kind: None)
    await store.listen(lambda kind: None)  # one connection, however many callbacks
    assert len(await listener_pids(raw)) == 1

    await store.close()

    deadline = time.monotonic() + 2
    while await listener_pids(raw) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert await listener_pids(raw) == []


async def test_listener_reconnects_after_losing_its_connection(open_store: Any, raw: Any) -> None:
    store, other = await open_store(), await open_store()
    await other.register_task("alpha", "@hourly", now=T0)
    heard: list[str] = []
    await store.listen(heard.append)
    [pid] = await listener_pids(raw)

    await raw.execute("SELECT pg_terminate_backend($1)", pid)

    # Reconnected, and told to look again: changes may have been missed meanwhile.
    assert await wait_until(lambda: {"admin", "adhoc"} <= set(heard), 3.0), heard
    assert (await listener_pids(raw)) not in ([], [pid])
    heard.clear()
    await other.update_admin("alpha", paused=True)
    assert await wait_until(lambda: "admin" in heard, 1.0), heard


async def test_a_failing_callback_does_not_stop_the_others(open_store: Any, caplog: pytest.LogCaptureFixture) -> None:
    store, other = await open_store(), await open_store()
    await other.register_task("alpha", "@hourly", now=T0)
    heard: list[str] = []

    def broken(kind: str) -> None:
        raise RuntimeError("callback bug")

    await store.listen(broken)
    await store.listen(heard.append)
    await other.update_admin("alpha", paused=True)

    assert await wait_until(lambda: heard == ["admin"], 1.0), heard
    assert "callback bug" in caplog.text


# ---------------------------------------------------------------- URLs and options


@pytest.mark.parametrize("url", ["postgresql://u@db.example:5433/tasks", "postgres://u:pw@db.example/tasks"])
def test_store_for_url_builds_a_postgres_store_with_options(url: str) -> None:
    store = store_for_url(url, max_size=3, command_timeout=5.0)

    assert isinstance(store, PostgresStore)
    assert store.url == url
    assert (store.min_size, store.max_size, store.command_timeout) == (1, 3, 5.0)
    assert "pw" not in store.label


def test_store_for_url_without_asyncpg_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "asyncpg", None)  # type: ignore[arg-type]  # None: "cannot import"
    for module in ("taskext.store.postgres", "taskext.store.postgres_queue"):
        monkeypatch.delitem(sys.modules, module)  # imported afresh, without asyncpg

    with pytest.raises(StoreError, match=r"taskext\[postgres\]"):
        store_for_url("postgresql://u@host/db")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"min_size": -1}, "min_size"),
        ({"min_size": 5, "max_size": 2}, "max_size"),
        ({"max_size": 0}, "max_size"),
        ({"command_timeout": 0}, "command_timeout"),
        ({"connect_timeout": -1}, "connect_timeout"),
    ],
)
def test_invalid_options_are_rejected(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PostgresStore("postgresql://u@host/db", **options)


@pytest.mark.parametrize("url", ["sqlite:///t.db", "postgresql:/x", "mysql://u@h/db", ""])
def test_non_postgres_url_is_rejected(url: str) -> None:
    with pytest.raises(ValueError, match="URL"):
        PostgresStore(url)


async def test_close_twice_and_reopen(open_store: Any) -> None:
    store = await open_store()
    await store.register_task("alpha", "@hourly", now=T0)
    await store.close()
    await store.close()
    with pytest.raises(StoreError, match="not open"):
        await store.get_task("alpha")
    await store.open()
    await store.open()
    assert (await store.get_task("alpha")).name == "alpha"


async def test_adhoc_status_values_are_checked_by_the_database(open_store: Any, raw: Any) -> None:
    store = await open_store()
    (task_id,) = await store.enqueue([item()], dedupe=False)
    with pytest.raises(asyncpg.CheckViolationError):
        await raw.execute("UPDATE taskext_adhoc SET status = 'done' WHERE id = $1", task_id)
    assert (await store.get_adhoc(task_id)).status is AdhocStatus.PENDING

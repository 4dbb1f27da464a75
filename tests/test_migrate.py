"""Moving a bot's data to another store: ``taskext migrate``."""

from __future__ import annotations

import asyncio
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from taskext.cli import main
from taskext.migrate import migrate
from taskext.store import AdhocResult, AdhocStatus, NewAdhoc, Outcome, RunRecord, SQLiteStore, Store, store_for_url
from taskext.store.queue import dedupe_key

UTC = timezone.utc
T0 = datetime(2026, 5, 1, 12, tzinfo=UTC)


async def fill(store: Store) -> None:
    await store.register_task("digest", "@daily", now=T0, exclusive="db", misfire_grace=60.0)
    await store.update_admin("digest", override_schedule="*/30 * * * *", disabled=True)
    state = await store.get_task("digest")
    state.failures, state.fail_delay, state.run_count, state.last_error = 2, 120.0, 7, "boom"
    state.last_scheduled, state.last_started, state.last_finished = T0, T0, T0 + timedelta(seconds=3)
    state.last_outcome = Outcome.FAILED
    runs = [
        RunRecord(task="digest", outcome=Outcome.SUCCEEDED, scheduled=T0 - timedelta(days=1),
                  started=T0 - timedelta(days=1), finished=T0 - timedelta(days=1, seconds=-1), output="line 1"),
        RunRecord(task="digest", outcome=Outcome.FAILED, scheduled=T0, started=T0, finished=T0 + timedelta(seconds=3),
                  error="boom"),
    ]  # fmt: skip
    await store.save_results([state], runs)
    await store.register_task("ping", "10m", now=T0)
    items = [
        NewAdhoc(name="remind", data='{"text":"hi"}', run_at=T0 + timedelta(days=3), enqueued_at=T0, max_attempts=5,
                 dedupe_key=dedupe_key("remind", '{"text":"hi"}', 7), user_id=7, guild_id=9),
        NewAdhoc(name="remind", data='"x"', run_at=T0, enqueued_at=T0, max_attempts=1,
                 dedupe_key=dedupe_key("remind", '"x"', None)),
    ]  # fmt: skip
    ids = await store.enqueue(items, dedupe=False)
    [claim] = await store.claim("w", ["remind"], now=T0, lease_until=T0 + timedelta(seconds=60), limit=1)
    assert claim.id == ids[1]
    await store.finish("w", [AdhocResult(claim.id, claim.lease, error="nope")], now=T0)  # failed for good


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_migrate_copies_tasks_runs_and_pending_adhoc_tasks(tmp_path: Path, kind: str) -> None:
    if kind == "postgres":
        url = os.environ.get("TASKEXT_TEST_POSTGRES_URL")
        if not url:
            pytest.skip("set TASKEXT_TEST_POSTGRES_URL to a throwaway PostgreSQL database to run this")
        import asyncpg

        conn = await asyncpg.connect(url)
        for row in await conn.fetch("SELECT tablename FROM pg_tables WHERE tablename LIKE 'taskext%'"):
            await conn.execute(f'DROP TABLE IF EXISTS "{row[0]}" CASCADE')
        await conn.close()
    else:
        url = f"sqlite:///{tmp_path}/target.db"
    source = SQLiteStore(f"sqlite:///{tmp_path}/source.db")
    await source.open()
    target = store_for_url(url)
    await target.open()
    try:
        await fill(source)
        report = await migrate(source, target)
        assert (report.tasks, report.runs, report.adhoc, len(report.failed_adhoc_left)) == (2, 2, 1, 1)
        digest = await target.get_task("digest")
        assert (digest.default_schedule, digest.override_schedule, digest.disabled) == ("@daily", "*/30 * * * *", True)
        assert (digest.failures, digest.fail_delay, digest.run_count, digest.last_error) == (2, 120.0, 7, "boom")
        assert (digest.exclusive, digest.misfire_grace, digest.last_outcome) == ("db", 60.0, Outcome.FAILED)
        assert digest.last_scheduled == T0
        runs = await target.runs("digest")
        assert [run.outcome for run in runs] == [Outcome.FAILED, Outcome.SUCCEEDED]
        assert runs[1].output == "line 1"
        [task] = await target.list_adhoc(status=AdhocStatus.PENDING)
        assert (task.name, task.data, task.user_id, task.guild_id, task.max_attempts) == (
            "remind", '{"text":"hi"}', 7, 9, 5,
        )  # fmt: skip
        assert task.run_at == T0 + timedelta(days=3)
        with pytest.raises(ValueError, match="already holds"):
            await migrate(source, target)
    finally:
        await source.close()
        await target.close()


async def test_migrate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = SQLiteStore(f"sqlite:///{tmp_path}/source.db")
    await source.open()
    await fill(source)
    await source.close()
    target = f"sqlite:///{tmp_path}/copy.db"
    code = await asyncio.to_thread(main, ["--database", f"sqlite:///{tmp_path}/source.db", "migrate", "--to", target])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "copied 2 task(s), 2 run(s), 1 pending ad hoc task(s)" in out.out
    assert "not copied: failed ad hoc tasks" in out.out
    code = await asyncio.to_thread(main, ["--database", f"sqlite:///{tmp_path}/source.db", "migrate", "--to", target])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "already holds" in err[0]

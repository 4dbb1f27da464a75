"""The ``taskext`` command line (issue #6), run in-process through ``main`` on real SQLite files."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import pytest

import taskext
from taskext.cli import main
from taskext.manager import TaskManager
from taskext.store import (
    AdhocResult,
    AdhocStatus,
    NewAdhoc,
    Outcome,
    RunRecord,
    SQLiteStore,
    TaskState,
)
from taskext.testing import FakeClock

UTC = timezone.utc
R = TypeVar("R")
# Local time of the tests: a fixed +05:30 offset (POSIX TZ, no tz database needed), so that
# printing UTC instead of local time cannot go unnoticed.
LOCAL_TZ = "IST-5:30"
LOCAL_OFFSET = timedelta(hours=5, minutes=30)


def local(dt: datetime) -> str:
    return (dt.astimezone(UTC) + LOCAL_OFFSET).strftime("%Y-%m-%d %H:%M:%S")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def with_store(url: str, work: Callable[[SQLiteStore], Awaitable[R]]) -> R:
    """Run ``work(store)`` on a freshly opened store (sync tests: ``main`` runs its own event loop)."""

    async def go() -> R:
        store = SQLiteStore(url)
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(go())


def parse_table(text: str) -> tuple[list[str], list[dict[str, str]]]:
    """Cells cut at the columns of the dash line: a misaligned table gives wrong cells."""
    lines = text.rstrip("\n").splitlines()
    assert re.fullmatch(r"-+(  -+)*", lines[1]), lines[1]
    starts = [m.start() for m in re.finditer(r"-+", lines[1])]
    bounds = list(zip(starts, [*starts[1:], None], strict=True))

    def cells(line: str) -> list[str]:
        for start in starts[1:]:
            assert line[start - 2 : start].strip() == "", f"cell runs into column at {start}: {line!r}"
        return [line[a:b].strip() for a, b in bounds]

    headers = cells(lines[0])
    return headers, [dict(zip(headers, cells(line), strict=True)) for line in lines[2:]]


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    return lines[0]


@dataclass
class Db:
    """A populated taskext SQLite file and what the tests need to know about it."""

    path: Path
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    times: dict[str, datetime] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    def cli(self, *args: str) -> int:
        return main(["--database", self.url, *args])

    def task(self, name: str) -> TaskState:
        return with_store(self.url, lambda store: store.get_task(name))

    def counter(self) -> int:
        return with_store(self.url, lambda store: store.change_counter())

    def snapshot(self) -> tuple[Any, ...]:
        async def work(store: SQLiteStore) -> tuple[Any, ...]:
            return (
                await store.list_tasks(),
                await store.runs(limit=1000),
                await store.list_adhoc(limit=1000),
                await store.change_counter(),
            )

        return with_store(self.url, work)


async def populate(db: Db) -> None:
    now = db.now
    t = db.times
    t["digest_last"] = now - timedelta(minutes=3, seconds=20)
    t["digest_next"] = now + timedelta(minutes=5, seconds=30)
    t["nightly_next"] = now + timedelta(hours=1, minutes=30)
    store = SQLiteStore(db.url)
    await store.open()
    try:
        await store.register_task("digest", "10m", now=now)
        await store.register_task("nightly", "0 3 * * *", now=now)
        await store.register_task("cleanup", "1h", now=now)
        await store.update_admin("nightly", override_schedule="2h")
        await store.update_admin("cleanup", disabled=True)
        error = "Traceback (most recent call last):\n  ...\nRuntimeError: digest boom\n"
        runs = [
            RunRecord(
                task="digest",
                outcome=outcome,
                scheduled=t["digest_last"] - timedelta(minutes=10 * back),
                started=t["digest_last"] - timedelta(minutes=10 * back),
                finished=t["digest_last"] - timedelta(minutes=10 * back) + timedelta(seconds=seconds),
                error=error if outcome is Outcome.FAILED else None,
                output=f"run {3 - back}",
                worker="host:1:abc",
            )
            for back, outcome, seconds in (
                (2, Outcome.SUCCEEDED, 0.25),
                (1, Outcome.SUCCEEDED, 0.25),
                (0, Outcome.FAILED, 1.0),
            )
        ]
        digest = TaskState(
            name="digest",
            next_run=t["digest_next"],
            last_scheduled=t["digest_last"],
            last_started=t["digest_last"],
            last_finished=t["digest_last"] + timedelta(seconds=1),
            last_outcome=Outcome.FAILED,
            failures=2,
            fail_delay=120.0,
            last_error=error,
            run_count=3,
        )
        nightly = TaskState(name="nightly", next_run=t["nightly_next"])
        await store.save_results([digest, nightly], runs)
        # Ad hoc: id 1 pending for user 42, id 2 failed for good (claimed and finished with an error).
        t["welcome_at"] = now + timedelta(minutes=2, seconds=30)
        t["export_at"] = now - timedelta(days=2)
        await store.enqueue(
            [
                NewAdhoc("send_welcome", '{"user": 42}', t["welcome_at"], now, 3, "welcome-42", user_id=42),
                NewAdhoc("export", "{}", t["export_at"], t["export_at"], 3, "export"),
            ],
            dedupe=False,
        )
        (claim,) = await store.claim(
            "w1", ["export"], now=t["export_at"], lease_until=t["export_at"] + timedelta(minutes=1), limit=1
        )
        await store.finish(
            "w1", [AdhocResult(claim.id, claim.lease, error="Traceback\nValueError: bad payload")], now=t["export_at"]
        )
    finally:
        await store.close()


@pytest.fixture
def local_time() -> Iterator[None]:
    saved = os.environ.get("TZ")
    os.environ["TZ"] = LOCAL_TZ
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


@pytest.fixture(autouse=True)
def no_database_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Also undoes a TASKEXT_DATABASE_URL that a test's .env load put into os.environ.
    monkeypatch.delenv("TASKEXT_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env or data/ from the repository


@pytest.fixture
def db(tmp_path: Path, local_time: None) -> Db:
    database = Db(tmp_path / "taskext.db")
    asyncio.run(populate(database))
    return database


# ---------------------------------------------------------------------- read commands


def test_list_prints_an_aligned_table_with_local_times(db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    assert db.cli("list") == 0
    out, err = capsys.readouterr()
    assert err == ""
    headers, rows = parse_table(out)
    assert headers == ["NAME", "SCHEDULE", "SOURCE", "STATUS", "LAST RUN", "OUTCOME", "NEXT RUN", "FAIL DELAY"]
    assert [row["NAME"] for row in rows] == ["cleanup", "digest", "nightly"]
    cleanup, digest, nightly = rows
    assert cleanup == {
        "NAME": "cleanup",
        "SCHEDULE": "1h",
        "SOURCE": "default",
        "STATUS": "disabled",
        "LAST RUN": "-",
        "OUTCOME": "-",
        "NEXT RUN": "-",
        "FAIL DELAY": "-",
    }
    assert digest == {
        "NAME": "digest",
        "SCHEDULE": "10m",
        "SOURCE": "default",
        "STATUS": "enabled",
        "LAST RUN": f"{local(db.times['digest_last'])} (3m ago)",
        "OUTCOME": "failed",
        "NEXT RUN": f"{local(db.times['digest_next'])} (in 5m)",
        "FAIL DELAY": "120s x2",
    }
    assert (nightly["SCHEDULE"], nightly["SOURCE"], nightly["STATUS"]) == ("2h", "override", "enabled")
    assert nightly["NEXT RUN"] == f"{local(db.times['nightly_next'])} (in 1h)"


def test_list_json(db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    assert db.cli("list", "--json") == 0
    tasks = json.loads(capsys.readouterr().out)
    by_name = {task["name"]: task for task in tasks}
    assert [task["name"] for task in tasks] == ["cleanup", "digest", "nightly"]
    digest = by_name["digest"]
    assert (digest["default_schedule"], digest["override_schedule"]) == ("10m", None)
    assert (digest["last_outcome"], digest["failures"], digest["fail_delay"], digest["run_count"]) == (
        "failed",
        2,
        120.0,
        3,
    )
    assert datetime.fromisoformat(digest["next_run"]) == db.times["digest_next"]
    assert digest["next_run"].endswith("+00:00")  # JSON times are UTC, whatever the local zone
    assert "RuntimeError: digest boom" in digest["last_error"]
    nightly = by_name["nightly"]
    assert (nightly["default_schedule"], nightly["override_schedule"]) == ("0 3 * * *", "2h")
    assert by_name["cleanup"]["disabled"] is True and by_name["digest"]["disabled"] is False
    assert all(task["orphaned"] is False for task in tasks)


def test_json_flag_before_or_after_the_command(db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    assert db.cli("--json", "list") == 0
    before = json.loads(capsys.readouterr().out)
    assert db.cli("list", "--json") == 0
    assert json.loads(capsys.readouterr().out) == before
    assert db.cli("--json", "show", "digest") == 0
    assert json.loads(capsys.readouterr().out)["name"] == "digest"


def test_list_of_an_empty_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path}/empty.db"
    with_store(url, lambda store: store.change_counter())
    assert main(["--database", url, "list"]) == 0
    assert capsys.readouterr().out == "No scheduled tasks.\n"
    assert main(["--database", url, "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_show(db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    assert db.cli("show", "digest") == 0
    out = capsys.readouterr().out
    head, _, error = out.partition("last error:\n")
    fields = dict(re.split(r"  +", line, maxsplit=1) for line in head.splitlines())
    assert fields == {
        "name": "digest",
        "schedule": "10m (default)",
        "default": "10m",
        "default changed": "no",
        "status": "enabled",
        "next run": f"{local(db.times['digest_next'])} (in 5m)",
        "last run": f"{local(db.times['digest_last'])} (3m ago)",
        "last outcome": "failed",
        "runs": "3",
        "fail delay": "120s x2",
        "kept runs": "failed 1, succeeded 2",
        "mean duration": "0.500s",
    }
    assert error.rstrip().endswith("RuntimeError: digest boom")

    assert db.cli("show", "nightly") == 0
    out = capsys.readouterr().out
    assert re.search(r"^schedule +2h \(override\)$", out, re.M)
    assert re.search(r"^default +0 3 \* \* \*$", out, re.M)
    assert "last error" not in out


def test_show_json(db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    assert db.cli("show", "digest", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["name"], shown["default_schedule"], shown["orphaned"]) == ("digest", "10m", False)
    assert shown["stats"]["runs"] == 3
    assert shown["stats"]["by_outcome"] == {"failed": 1, "succeeded": 2}
    assert shown["stats"]["mean_duration"] == pytest.approx(0.5)
    assert datetime.fromisoformat(shown["stats"]["last_failure"]) == db.times["digest_last"]


def test_history(db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    assert db.cli("history") == 0
    headers, rows = parse_table(capsys.readouterr().out)
    assert headers == ["TASK", "SCHEDULED", "STARTED", "DURATION", "OUTCOME", "ERROR"]
    assert [(r["TASK"], r["OUTCOME"], r["DURATION"], r["ERROR"]) for r in rows] == [
        ("digest", "failed", "1.000s", "RuntimeError: digest boom"),
        ("digest", "succeeded", "0.250s", ""),
        ("digest", "succeeded", "0.250s", ""),
    ]
    assert rows[0]["STARTED"] == f"{local(db.times['digest_last'])} (3m ago)"
    assert rows[2]["STARTED"].endswith("(23m ago)")

    assert db.cli("history", "nightly") == 0
    assert capsys.readouterr().out == "No runs.\n"


def test_history_json_newest_first_with_limit(db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    assert db.cli("history", "digest", "--json") == 0
    runs = json.loads(capsys.readouterr().out)
    assert [run["id"] for run in runs] == [3, 2, 1]
    assert [run["outcome"] for run in runs] == ["failed", "succeeded", "succeeded"]
    assert [run["output"] for run in runs] == ["run 3", "run 2", "run 1"]
    assert runs[0]["worker"] == "host:1:abc"
    assert datetime.fromisoformat(runs[0]["started"]) == db.times["digest_last"]
    assert db.cli("history", "digest", "--limit", "2", "--json") == 0
    assert [run["id"] for run in json.loads(capsys.readouterr().out)] == [3, 2]


def test_queue(db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    assert db.cli("queue") == 0
    headers, rows = parse_table(capsys.readouterr().out)
    assert headers == ["ID", "NAME", "STATUS", "RUN AT", "ATTEMPTS", "USER", "LAST ERROR"]
    assert rows == [
        {
            "ID": "2",
            "NAME": "export",
            "STATUS": "failed",
            "RUN AT": f"{local(db.times['export_at'])} (2d ago)",
            "ATTEMPTS": "1/3",
            "USER": "-",
            "LAST ERROR": "ValueError: bad payload",
        },
        {
            "ID": "1",
            "NAME": "send_welcome",
            "STATUS": "pending",
            "RUN AT": f"{local(db.times['welcome_at'])} (in 2m)",
            "ATTEMPTS": "0/3",
            "USER": "42",
            "LAST ERROR": "",
        },
    ]


def test_queue_json_and_failed_filter(db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    assert db.cli("queue", "--json") == 0
    tasks = json.loads(capsys.readouterr().out)
    assert [(t["id"], t["name"], t["status"], t["user_id"]) for t in tasks] == [
        (2, "export", "failed", None),
        (1, "send_welcome", "pending", 42),
    ]
    assert json.loads(tasks[1]["data"]) == {"user": 42}
    assert db.cli("queue", "--failed", "--json") == 0
    assert [t["id"] for t in json.loads(capsys.readouterr().out)] == [2]
    assert db.cli("queue", "--failed") == 0
    _, rows = parse_table(capsys.readouterr().out)
    assert [row["ID"] for row in rows] == ["2"]


# ---------------------------------------------------------------------- write commands


def test_schedule_overrides_and_bumps_the_change_counter(db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    before = db.counter()
    assert db.cli("schedule", "digest", "90m") == 0
    assert capsys.readouterr().out == "digest: schedule overridden to 1h30m (default 10m)\n"
    state = db.task("digest")
    assert (state.override_schedule, state.default_schedule, state.schedule_text) == ("1h30m", "10m", "1h30m")
    assert db.counter() == before + 1

    assert db.cli("schedule", "digest", "*/15 * * * *") == 0
    assert db.task("digest").override_schedule == "*/15 * * * *"
    assert db.counter() == before + 2
    assert db.cli("list", "--json") == 0
    capsys.readouterr()
    assert db.cli("list") == 0
    _, rows = parse_table(capsys.readouterr().out)
    assert (rows[1]["NAME"], rows[1]["SCHEDULE"], rows[1]["SOURCE"]) == ("digest", "*/15 * * * *", "override")


def test_reset_restores_the_default(db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    async def mark_changed(store: SQLiteStore) -> None:
        await store.update_admin("nightly", default_changed=True)

    with_store(db.url, mark_changed)
    before = db.counter()
    assert db.cli("reset", "nightly") == 0
    assert capsys.readouterr().out == "nightly: back to its default schedule 0 3 * * *\n"
    state = db.task("nightly")
    assert (state.override_schedule, state.default_changed, state.schedule_text) == (None, False, "0 3 * * *")
    assert db.counter() == before + 1


def test_enable_and_disable(db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    before = db.counter()
    assert db.cli("disable", "digest") == 0
    assert capsys.readouterr().out == "digest: disabled\n"
    assert db.task("digest").disabled is True
    assert db.counter() == before + 1
    assert db.cli("enable", "cleanup") == 0
    assert capsys.readouterr().out == "cleanup: enabled\n"
    assert db.task("cleanup").disabled is False
    assert db.counter() == before + 2
    assert db.cli("list", "--json") == 0
    disabled = {t["name"]: t["disabled"] for t in json.loads(capsys.readouterr().out)}
    assert disabled == {"cleanup": False, "digest": True, "nightly": False}


def test_retry_and_cancel_ad_hoc_tasks(db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    assert db.cli("retry", "2") == 0
    assert capsys.readouterr().out == "ad hoc task 2 (export) queued again\n"
    export = with_store(db.url, lambda store: store.get_adhoc(2))
    assert (export.status, export.attempts, export.finished_at) == (AdhocStatus.PENDING, 0, None)
    assert export.run_at >= db.now

    assert db.cli("cancel", "1") == 0
    assert capsys.readouterr().out == "ad hoc task 1 (send_welcome) cancelled\n"
    remaining = with_store(db.url, lambda store: store.list_adhoc())
    assert [task.id for task in remaining] == [2]


def test_purge_deletes_orphans_and_old_rows(
    tmp_path: Path, local_time: None, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/purge.db"
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=40), now - timedelta(hours=1)

    def runs(task: str, start: datetime, count: int) -> list[RunRecord]:
        return [
            RunRecord(task=task, outcome=Outcome.SUCCEEDED, scheduled=start + timedelta(minutes=i),
                      started=start + timedelta(minutes=i), finished=start + timedelta(minutes=i, seconds=1))
            for i in range(count)
        ]  # fmt: skip

    async def setup(store: SQLiteStore) -> None:
        await store.register_task("gone", "10m", now=now - timedelta(hours=2))  # not seen by the last scan
        await store.register_task("kept", "10m", now=recent)
        await store.mark_scan(recent)
        await store.save_results([], runs("gone", recent, 2) + runs("kept", old, 5) + runs("kept", recent, 2))
        ids = await store.enqueue(
            [NewAdhoc(name, "{}", old if name == "old" else now, now, 1, name) for name in ("old", "new", "waiting")],
            dedupe=False,
        )
        for task_id, name, when in ((ids[0], "old", old), (ids[1], "new", now)):
            (claim,) = await store.claim("w", [name], now=when, lease_until=when + timedelta(minutes=1), limit=1)
            assert claim.id == task_id
            await store.finish("w", [AdhocResult(claim.id, claim.lease, error="boom")], now=when)

    with_store(url, setup)
    assert main(["--database", url, "list", "--json"]) == 0
    assert {t["name"]: t["orphaned"] for t in json.loads(capsys.readouterr().out)} == {"gone": True, "kept": False}
    assert main(["--database", url, "list"]) == 0
    _, rows = parse_table(capsys.readouterr().out)
    assert [(row["NAME"], row["STATUS"]) for row in rows] == [("gone", "orphaned"), ("kept", "enabled")]

    before = with_store(url, lambda store: store.change_counter())
    assert main(["--database", url, "purge", "--keep-runs", "3", "--keep-days", "28", "--json"]) == 0
    # Each task keeps its newest 3 runs; of the 5 old "kept" runs, the newest survives.
    assert json.loads(capsys.readouterr().out) == {"orphaned_tasks": ["gone"], "run_rows": 4, "failed_adhoc": 1}

    async def after(store: SQLiteStore) -> tuple[Any, ...]:
        return (
            [t.name for t in await store.list_tasks()],
            await store.runs(limit=100),
            sorted(t.name for t in await store.list_adhoc()),
            await store.change_counter(),
        )

    tasks, kept_runs, adhoc, counter = with_store(url, after)
    assert tasks == ["kept"]
    assert [run.task for run in kept_runs] == ["kept"] * 3
    assert [run.started for run in kept_runs] == [recent + timedelta(minutes=1), recent, old + timedelta(minutes=4)]
    assert adhoc == ["new", "waiting"]
    assert counter > before  # a running bot hears that a task was deleted

    assert main(["--database", url, "purge"]) == 0
    assert capsys.readouterr().out == ("purged 0 orphaned task(s) [], 0 old run row(s), 0 old failed ad hoc task(s)\n")


# ---------------------------------------------------------------------- where the database comes from


def test_database_from_environment_then_dotenv(
    db: Db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TASKEXT_DATABASE_URL", db.url)
    assert main(["list", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3

    monkeypatch.delenv("TASKEXT_DATABASE_URL")
    (tmp_path / ".env").write_text(f"TASKEXT_DATABASE_URL={db.url}\n")
    assert main(["list", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3

    # --database wins over both.
    assert main(["--database", f"sqlite:///{tmp_path}/other.db", "list"]) == 1
    assert "other.db" in one_line(capsys.readouterr().err)


def test_default_database_is_data_taskext_db_and_is_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["list"]) == 1
    err = one_line(capsys.readouterr().err)
    assert "no taskext database at data/taskext.db" in err
    assert not (tmp_path / "data").exists()


# ---------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["show", "nope"], "no task named 'nope'"),
        (["history", "nope"], "no task named 'nope'"),
        (["schedule", "nope", "5m"], "no task named 'nope'"),
        (["reset", "nope"], "no task named 'nope'"),
        (["enable", "nope"], "no task named 'nope'"),
        (["disable", "nope"], "no task named 'nope'"),
        (["retry", "99"], "no ad hoc task with id 99"),
        (["cancel", "99"], "no ad hoc task with id 99"),
        (["retry", "1"], "ad hoc task 1 is pending, not failed"),
        (["schedule", "digest", "10x"], "invalid schedule '10x'"),
        (["schedule", "digest", "61 * * * *"], "invalid cron expression '61 * * * *'"),
        (["schedule", "digest", ""], "schedule"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else None,
)
def test_unknown_or_invalid_input_exits_2_and_changes_nothing(
    db: Db, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    digest, state = sha256(db.path), db.snapshot()
    assert db.cli(*argv) == 2
    out, err = capsys.readouterr()
    line = one_line(err)
    assert line.startswith("taskext: ") and message in line
    assert out == ""
    assert sha256(db.path) == digest
    assert db.snapshot() == state


def test_missing_database_is_not_created(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nowhere" / "taskext.db"
    for argv in (["list"], ["show", "digest"], ["schedule", "digest", "5m"], ["purge"]):
        assert main(["--database", f"sqlite:///{path}", *argv]) == 1
        line = one_line(capsys.readouterr().err)
        assert line == f"taskext: no taskext database at {path} (set --database or TASKEXT_DATABASE_URL)"
    assert not path.parent.exists()


def test_newer_schema_is_refused_and_left_untouched(db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    with sqlite3.connect(db.path) as conn:
        conn.execute("UPDATE taskext_meta SET value = '999' WHERE key = 'schema_version'")
    conn.close()
    digest = sha256(db.path)
    for argv in (["list"], ["schedule", "digest", "5m"], ["purge"]):
        assert db.cli(*argv) == 1
        line = one_line(capsys.readouterr().err)
        assert "schema version 999" in line and "newer" in line and "upgrade taskext" in line
    assert sha256(db.path) == digest


def test_non_taskext_files_are_refused_and_left_untouched(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "inventory.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT)")
        conn.execute("INSERT INTO items (label) VALUES ('lamp')")
    conn.close()
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all\n" * 100)
    for path in (other, text):
        digest = sha256(path)
        for argv in (["list"], ["disable", "digest"]):
            assert main(["--database", f"sqlite:///{path}", *argv]) == 1
            line = one_line(capsys.readouterr().err)
            assert f"{path} is not a taskext database" in line and "left untouched" in line
        assert sha256(path) == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inventory.db", "notes.txt"]


def test_unsupported_database_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--database", "mysql://localhost/tasks", "list"]) == 2
    assert "unsupported database URL" in one_line(capsys.readouterr().err)


def test_write_to_a_locked_database_fails_cleanly(
    db: Db, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The store waits busy_timeout (5 s by default) for another writer; shortened here to keep
    # the test fast. test_write_waits_for_a_briefly_held_lock covers the default.
    monkeypatch.setitem(SQLiteStore.__init__.__kwdefaults__, "busy_timeout", 0.2)  # type: ignore[index]
    state = db.snapshot()
    other = sqlite3.connect(db.path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        for argv in (["schedule", "digest", "5m"], ["disable", "digest"], ["cancel", "1"]):
            started = time.monotonic()
            assert db.cli(*argv) == 1
            assert time.monotonic() - started < 3
            line = one_line(capsys.readouterr().err)
            assert "is locked by another connection" in line and str(db.path) in line
        # Readers are not blocked by a writer (WAL).
        assert db.cli("list", "--json") == 0
        assert len(json.loads(capsys.readouterr().out)) == 3
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert db.snapshot() == state


def test_write_waits_for_a_briefly_held_lock(db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    other = sqlite3.connect(db.path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, lambda: other.execute("ROLLBACK"))
    release.start()
    try:
        assert db.cli("schedule", "digest", "5m") == 0
    finally:
        release.join()
        other.close()
    assert capsys.readouterr().err == ""
    assert db.task("digest").override_schedule == "5m"


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["bogus"],
        ["list", "extra"],
        ["show"],
        ["schedule", "digest"],
        ["retry", "abc"],
        ["cancel", "0"],
        ["history", "--limit", "0"],
        ["queue", "--limit", "-1"],
        ["run", "digest"],
        ["--database"],
    ],
    ids=lambda argv: " ".join(argv) or "(none)",
)
def test_usage_errors_exit_2(db: Db, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    digest = sha256(db.path)
    assert db.cli(*argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and "usage: taskext" in err and "error:" in err
    assert sha256(db.path) == digest


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: taskext") and "schedule" in out and "purge" in out


# ---------------------------------------------------------------------- as a process, and with a running bot


def test_console_script_and_python_m(db: Db, tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "TASKEXT_DATABASE_URL"}
    script = Path(sys.executable).with_name("taskext")
    assert script.exists(), f"console script missing: {script} (pip install -e .)"
    done = subprocess.run(
        [str(script), "--database", db.url, "--json", "list"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [task["name"] for task in json.loads(done.stdout)] == ["cleanup", "digest", "nightly"]

    missing = tmp_path / "missing.db"
    done = subprocess.run(
        [sys.executable, "-m", "taskext", "--database", f"sqlite:///{missing}", "list"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1 and done.stdout == ""
    assert "no taskext database at" in one_line(done.stderr)
    assert not missing.exists()


async def eventually(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def test_cli_change_reaches_a_running_manager(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/live.db"
    t0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    clock = FakeClock(t0)
    ran: list[datetime] = []
    manager = TaskManager(url, clock=clock, watch_interval=0.2, align_intervals=True)
    await manager.open()
    try:

        @taskext.loop(minutes=10, name="cli_watched_report", clock=clock)
        async def report() -> None:
            ran.append(clock.now())

        report.start()
        await eventually(lambda: report.next_iteration is not None, timeout=5)
        await clock.advance(minutes=1)
        assert ran == [t0] and report.next_iteration == t0 + timedelta(minutes=10)

        started = asyncio.get_running_loop().time()
        code = await asyncio.to_thread(main, ["--database", url, "schedule", "cli_watched_report", "3m"])
        assert code == 0
        await eventually(lambda: report.seconds == 180, timeout=2.0)
        assert asyncio.get_running_loop().time() - started < 2.0
        assert (report.minutes, report.seconds) == (0, 180)
        # Re-planned from the last run, not left on the old 10-minute sleep.
        assert report.next_iteration == t0 + timedelta(minutes=3)
        await clock.advance(minutes=2)
        assert ran == [t0, t0 + timedelta(minutes=3)]
    finally:
        await manager.close(timeout=0.1)

"""``taskext run NAME --app MODULE[:ATTR]`` through ``main``, on real SQLite files.

The fixture apps live in tests/cli_apps/; ``--app`` imports relative to the current
directory, so the tests chdir there (the runner puts the directory on ``sys.path``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import pytest

from taskext.cli import main
from taskext.store import Outcome, RunRecord, SQLiteStore, TaskState

UTC = timezone.utc
R = TypeVar("R")
APPS = Path(__file__).parent / "cli_apps"
APP_MODULES = ("cli_loops_app", "cli_cog_app")
LOOPS_APP_TASKS = "cli_runner_fail, cli_runner_nightly, cli_runner_ok"


def with_store(url: str, work: Callable[[SQLiteStore], Awaitable[R]]) -> R:
    async def go() -> R:
        store = SQLiteStore(url)
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(go())


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    return lines[0]


class Db:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"

    def run(self, name: str, app: str, timeout: float = 20.0) -> int:
        """``main`` in a daemon thread: a runner that hangs (a loop it failed to stop) fails the test."""
        result: list[Any] = []

        def target() -> None:
            try:
                result.append(main(["--database", self.url, "run", name, "--app", app]))
            except BaseException as exc:
                result.append(exc)

        thread = threading.Thread(target=target, name="taskext-run", daemon=True)
        thread.start()
        thread.join(timeout)
        assert not thread.is_alive(), f"taskext run {name} --app {app} did not finish in {timeout:g} s"
        if isinstance(result[0], BaseException):
            raise result[0]
        code: int = result[0]
        return code

    def runs(self, name: str | None = None) -> list[RunRecord]:
        return with_store(self.url, lambda store: store.runs(name, limit=100))

    def tasks(self) -> list[TaskState]:
        return with_store(self.url, lambda store: store.list_tasks())


def app(name: str) -> ModuleType:
    return sys.modules[name]


@pytest.fixture(autouse=True)
def in_apps_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("TASKEXT_DATABASE_URL", raising=False)
    monkeypatch.chdir(APPS)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the runner adds the cwd: undone after the test
    for name in APP_MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    yield
    for name in APP_MODULES:
        sys.modules.pop(name, None)


@pytest.fixture
def db(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Db:
    # A real process logs at INFO (the runner calls logging.basicConfig); under pytest the root
    # logger already has handlers, so do the same here for INFO lines to reach the run output.
    caplog.set_level(logging.INFO)
    return Db(tmp_path / "data" / "taskext.db")


def test_module_loop_succeeds_and_is_recorded_with_its_output(db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    assert db.run("cli_runner_ok", "cli_loops_app") == 0
    out, err = capsys.readouterr()
    assert re.match(r"cli_runner_ok: succeeded in \d+\.\d{3}s\n", out)
    assert "digested 7 items" in out
    assert err == ""
    assert app("cli_loops_app").CALLS == ["cli_runner_ok"]  # only the task asked for, once
    (run,) = db.runs()
    assert (run.task, run.outcome, run.error) == ("cli_runner_ok", Outcome.SUCCEEDED, None)
    assert "INFO taskext.task.cli_runner_ok: digested 7 items" in run.output
    assert "WARNING cli_loops_app: one item skipped" in run.output
    assert run.started is not None and run.finished is not None and run.worker
    (state,) = db.tasks()  # only the task that ran is registered
    assert (state.name, state.default_schedule, state.run_count) == ("cli_runner_ok", "15m", 1)
    assert (state.last_outcome, state.failures) == (Outcome.SUCCEEDED, 0)
    assert state.acquired_by is None  # the lease was released


def test_failing_task_exits_1_and_is_recorded_as_failed(db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    assert db.run("cli_runner_fail", "cli_loops_app") == 1
    out, err = capsys.readouterr()
    assert out.startswith("cli_runner_fail: failed in ")
    assert "RuntimeError: cli runner boom" in err
    (run,) = db.runs("cli_runner_fail")
    assert run.outcome is Outcome.FAILED
    assert run.error is not None and "RuntimeError: cli runner boom" in run.error
    (state,) = db.tasks()
    assert (state.last_outcome, state.failures, state.fail_delay) == (Outcome.FAILED, 1, 60.0)
    assert state.last_error == run.error and state.acquired_by is None


def test_runs_add_to_the_task_history(db: Db) -> None:
    assert db.run("cli_runner_ok", "cli_loops_app") == 0
    sys.modules.pop("cli_loops_app")
    assert db.run("cli_runner_ok", "cli_loops_app") == 0
    assert [run.outcome for run in db.runs()] == [Outcome.SUCCEEDED, Outcome.SUCCEEDED]
    assert db.tasks()[0].run_count == 2


def test_cog_extension_loop_runs_once(db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    # The cog starts its loop in __init__, as bots do; the runner must stop it and run the task once.
    assert db.run("CliRunnerCog.digest", "cli_cog_app") == 0
    assert capsys.readouterr().out.startswith("CliRunnerCog.digest: succeeded in ")
    assert app("cli_cog_app").CALLS == ["digest:CliRunnerCog"]
    (run,) = db.runs()
    assert run.task == "CliRunnerCog.digest" and run.outcome is Outcome.SUCCEEDED
    assert "cog digest ran" in run.output
    assert db.tasks()[0].default_schedule == "30m"


def test_app_attribute_naming_a_loop(db: Db) -> None:
    assert db.run("cli_runner_nightly", "cli_loops_app:nightly") == 0
    assert app("cli_loops_app").CALLS == ["cli_runner_nightly"]
    (state,) = db.tasks()
    assert (state.name, state.default_schedule, state.last_outcome) == (
        "cli_runner_nightly",
        "0 3 * * *",
        Outcome.SUCCEEDED,
    )


def test_app_attribute_naming_a_factory(db: Db) -> None:
    assert db.run("cli_runner_built", "cli_loops_app:build_loop") == 0
    assert app("cli_loops_app").CALLS == ["cli_runner_built"]
    assert [(run.task, run.outcome) for run in db.runs()] == [("cli_runner_built", Outcome.SUCCEEDED)]


def test_app_attribute_naming_a_bot_factory(db: Db) -> None:
    assert db.run("CliRunnerCog.digest", "cli_cog_app:create_bot") == 0
    assert app("cli_cog_app").CALLS == ["digest:CliRunnerCog"]
    assert [(run.task, run.outcome) for run in db.runs()] == [("CliRunnerCog.digest", Outcome.SUCCEEDED)]


def test_unknown_task_lists_the_tasks_found(db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    assert db.run("nope", "cli_loops_app") == 2
    line = one_line(capsys.readouterr().err)
    assert line == f"taskext: no task named 'nope' in cli_loops_app (tasks found: {LOOPS_APP_TASKS})"
    assert app("cli_loops_app").CALLS == []
    assert db.runs() == []

    assert db.run("cli_runner_ok", "cli_loops_app:nightly") == 2  # only that attribute is looked at
    assert "(tasks found: cli_runner_nightly)" in one_line(capsys.readouterr().err)
    assert db.run("cli_runner_ok", "cli_loops_app:LABEL") == 2  # not a loop, not callable
    assert "(tasks found: none)" in one_line(capsys.readouterr().err)
    assert db.runs() == []


@pytest.mark.parametrize(
    ("app_spec", "message"),
    [
        ("cli_no_such_module", "cannot import 'cli_no_such_module'"),
        ("cli_loops_app:missing", "module 'cli_loops_app' has no attribute 'missing'"),
        (":digest", "name a module"),
    ],
)
def test_bad_app_exits_2(db: Db, app_spec: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert db.run("cli_runner_ok", app_spec) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"taskext: --app {app_spec!r}: ") and message in line
    assert capsys.readouterr().out == ""


def test_app_is_imported_relative_to_the_current_directory(
    db: Db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert db.run("cli_runner_ok", "cli_loops_app") == 2
    assert "cannot import 'cli_loops_app'" in one_line(capsys.readouterr().err)
    monkeypatch.chdir(APPS)
    assert db.run("cli_runner_ok", "cli_loops_app") == 0


def test_lease_held_by_another_worker_exits_3(db: Db, capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(UTC)

    async def take(store: SQLiteStore) -> None:
        await store.register_task("cli_runner_ok", "15m", now=now)
        assert (
            await store.acquire_task("cli_runner_ok", "other-worker", now=now, until=now + timedelta(hours=1)) is None
        )

    with_store(db.url, take)
    assert db.run("cli_runner_ok", "cli_loops_app") == 3
    out, err = capsys.readouterr()
    assert one_line(err) == "taskext: 'cli_runner_ok' is running elsewhere (lease held by other-worker)"
    assert out == ""
    assert app("cli_loops_app").CALLS == []
    assert db.runs() == []
    (state,) = db.tasks()
    assert (state.acquired_by, state.run_count) == ("other-worker", 0)  # the other worker's lease stands


def test_expired_lease_of_another_worker_is_taken_over(db: Db) -> None:
    now = datetime.now(UTC)

    async def take(store: SQLiteStore) -> Any:
        await store.register_task("cli_runner_ok", "15m", now=now)
        return await store.acquire_task(
            "cli_runner_ok", "dead-worker", now=now - timedelta(hours=2), until=now - timedelta(hours=1)
        )

    assert with_store(db.url, take) is None
    assert db.run("cli_runner_ok", "cli_loops_app") == 0
    assert [run.outcome for run in db.runs()] == [Outcome.SUCCEEDED]
    assert db.tasks()[0].acquired_by is None

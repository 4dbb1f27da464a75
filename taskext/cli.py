"""``python -m taskext``: inspect and steer tasks from a shell (Moodle's admin CLI for bots).

Reads and writes the store directly, so it works with or without the bot running; a running
bot picks up changes within its watch interval (1 s). Only ``run`` imports py-cord.

Exit codes: 0 done; 1 the task failed (``run``) or the database cannot be used; 2 usage
error, unknown task or id, invalid expression; 3 the task is running elsewhere (``run``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import fields, is_dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from .errors import TaskextError, TaskNotFound
from .parsing import parse_schedule
from .store import AdhocStatus, AdhocTask, RunRecord, Store, StoreError, TaskState, default_database_url, store_for_url
from .store.sqlite import sqlite_path

__all__ = ["main"]

UTC = timezone.utc
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BUSY = 3


class UsageError(TaskextError, ValueError):
    """Bad arguments: exit code 2."""


# ---------------------------------------------------------------------- formatting


def relative(dt: datetime, now: datetime) -> str:
    seconds = (dt - now).total_seconds()
    amount = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if amount >= size or unit == "s":
            text = f"{int(amount // size)}{unit}"
            break
    return f"in {text}" if seconds >= 0 else f"{text} ago"


def local(dt: datetime | None, now: datetime) -> str:
    """Local wall time with a relative hint: ``2026-11-22 14:30 (in 5m)``."""
    if dt is None:
        return "-"
    return f"{dt.astimezone().strftime('%Y-%m-%d %H:%M:%S')} ({relative(dt, now)})"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in [headers, *rows]]  # fmt: skip
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def to_json(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        # One shallow pass per record (asdict would deep-copy everything first).
        return {f.name: to_json(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if hasattr(value, "value") and isinstance(value.value, str):  # enums
        return value.value
    return value


def emit_json(value: Any) -> None:
    print(json.dumps(to_json(value), indent=2))


def fail_delay(state: TaskState) -> str:
    return f"{state.fail_delay:g}s x{state.failures}" if state.failures else "-"


def task_status(state: TaskState, orphaned: bool) -> str:
    if orphaned:
        return "orphaned"
    return "disabled" if state.disabled else "paused" if state.paused else "enabled"


# ---------------------------------------------------------------------- commands


async def open_store(url: str, *, create: bool = False) -> Store:
    if url.startswith("sqlite:") and not create:
        path = sqlite_path(url)
        if path != ":memory:" and not os.path.exists(path):  # noqa: ASYNC240 (one stat, before any I/O)
            raise StoreError(f"no taskext database at {path} (set --database or TASKEXT_DATABASE_URL)")
        if path != ":memory:" and os.path.getsize(path) == 0:  # noqa: ASYNC240
            raise StoreError(f"{path} is an empty file, not a taskext database; left untouched")
    store = store_for_url(url)
    await store.open()
    return store


async def orphans(store: Store, states: Sequence[TaskState] | None = None) -> set[str]:
    """Tasks not seen since the last scan; ``states`` saves reading the table again."""
    scanned = await store.last_scan()
    if scanned is None:
        return set()
    if states is None:
        states = await store.list_tasks()
    return {s.name for s in states if s.seen_at is None or s.seen_at < scanned}


async def cmd_list(store: Store, args: argparse.Namespace) -> int:
    states = await store.list_tasks()
    orphaned = await orphans(store, states)
    if args.json:
        emit_json([{**to_json(s), "orphaned": s.name in orphaned} for s in states])
        return 0
    now = datetime.now(UTC)
    rows = [
        [
            s.name,
            s.schedule_text or "-",
            "override" if s.overridden else "default",
            task_status(s, s.name in orphaned),
            local(s.last_started, now),
            s.last_outcome.value if s.last_outcome else "-",
            local(s.next_run, now),
            fail_delay(s),
        ]
        for s in states
    ]
    headers = ["NAME", "SCHEDULE", "SOURCE", "STATUS", "LAST RUN", "OUTCOME", "NEXT RUN", "FAIL DELAY"]
    print(table(headers, rows) if rows else "No scheduled tasks.")
    return 0


async def cmd_show(store: Store, args: argparse.Namespace) -> int:
    state = await store.get_task(args.name)
    stats = await store.run_stats(args.name)
    orphaned = args.name in await orphans(store)
    if args.json:
        emit_json({**to_json(state), "orphaned": orphaned, "stats": to_json(stats)})
        return 0
    now = datetime.now(UTC)
    fields = [
        ("name", state.name),
        ("schedule", f"{state.schedule_text} ({'override' if state.overridden else 'default'})"),
        ("default", state.default_schedule or "-"),
        ("default changed", "yes" if state.default_changed else "no"),
        ("status", task_status(state, orphaned)),
        ("next run", local(state.next_run, now)),
        ("last run", local(state.last_started, now)),
        ("last outcome", state.last_outcome.value if state.last_outcome else "-"),
        ("runs", str(state.run_count)),
        ("fail delay", fail_delay(state)),
        ("kept runs", ", ".join(f"{k} {v}" for k, v in sorted(stats.by_outcome.items())) or "-"),
        ("mean duration", f"{stats.mean_duration:.3f}s" if stats.mean_duration is not None else "-"),
    ]
    width = max(len(key) for key, _ in fields)
    print("\n".join(f"{key.ljust(width)}  {value}" for key, value in fields))
    if state.last_error:
        print(f"last error:\n{state.last_error.rstrip()}")
    return 0


async def cmd_history(store: Store, args: argparse.Namespace) -> int:
    if args.name is not None:
        await store.get_task(args.name)
    runs = await store.runs(args.name, limit=args.limit)
    if args.json:
        emit_json(runs)
        return 0
    now = datetime.now(UTC)

    def duration(run: RunRecord) -> str:
        return f"{run.duration.total_seconds():.3f}s" if run.duration is not None else "-"

    rows = [
        [run.task, local(run.scheduled, now), local(run.started, now), duration(run), run.outcome.value,
         (run.error or "").strip().splitlines()[-1][:60] if run.error else ""]
        for run in runs
    ]  # fmt: skip
    print(table(["TASK", "SCHEDULED", "STARTED", "DURATION", "OUTCOME", "ERROR"], rows) if rows else "No runs.")
    return 0


async def cmd_queue(store: Store, args: argparse.Namespace) -> int:
    status = AdhocStatus.FAILED if args.failed else None
    tasks = await store.list_adhoc(status=status, limit=args.limit)
    if args.json:
        emit_json(tasks)
        return 0
    now = datetime.now(UTC)

    def row(task: AdhocTask) -> list[str]:
        error = (task.last_error or "").strip().splitlines()[-1][:50] if task.last_error else ""
        return [str(task.id), task.name, task.status.value, local(task.run_at, now),
                f"{task.attempts}/{task.max_attempts}", str(task.user_id or "-"), error]  # fmt: skip

    rows = [row(task) for task in tasks]
    headers = ["ID", "NAME", "STATUS", "RUN AT", "ATTEMPTS", "USER", "LAST ERROR"]
    print(table(headers, rows) if rows else "No ad hoc tasks.")
    return 0


async def cmd_schedule(store: Store, args: argparse.Namespace) -> int:
    await store.get_task(args.name)
    schedule = parse_schedule(args.expression, seed=args.name)
    state = await store.update_admin(args.name, override_schedule=schedule.to_text())
    print(f"{state.name}: schedule overridden to {state.override_schedule} (default {state.default_schedule})")
    return 0


async def cmd_reset(store: Store, args: argparse.Namespace) -> int:
    state = await store.update_admin(args.name, override_schedule=None, default_changed=False)
    print(f"{state.name}: back to its default schedule {state.default_schedule}")
    return 0


async def cmd_enable(store: Store, args: argparse.Namespace) -> int:
    state = await store.update_admin(args.name, disabled=args.command == "disable")
    print(f"{state.name}: {'disabled' if state.disabled else 'enabled'}")
    return 0


async def cmd_retry(store: Store, args: argparse.Namespace) -> int:
    task = await store.retry_adhoc(args.id, now=datetime.now(UTC))
    print(f"ad hoc task {task.id} ({task.name}) queued again")
    return 0


async def cmd_cancel(store: Store, args: argparse.Namespace) -> int:
    task = await store.cancel_adhoc(args.id)
    print(f"ad hoc task {task.id} ({task.name}) cancelled")
    return 0


async def cmd_purge(store: Store, args: argparse.Namespace) -> int:
    names = sorted(await orphans(store))
    for name in names:
        await store.delete_task(name)
    now = datetime.now(UTC)
    runs = await store.prune_runs(keep_last=args.keep_runs, older_than=now - timedelta(days=args.keep_days))
    failed = await store.purge_adhoc(failed_before=now - timedelta(days=args.keep_days))
    result = {"orphaned_tasks": names, "run_rows": runs, "failed_adhoc": failed}
    if args.json:
        emit_json(result)
    else:
        print(
            f"purged {len(names)} orphaned task(s) {names}, {runs} old run row(s), {failed} old failed ad hoc task(s)"
        )
    return 0


async def cmd_migrate(store: Store, args: argparse.Namespace) -> int:
    from .migrate import migrate

    target = store_for_url(args.to)
    await target.open()
    try:
        report = await migrate(store, target)
    finally:
        await target.close()
    if args.json:
        emit_json(report)
    else:
        print(
            f"copied {report.tasks} task(s), {report.runs} run(s), {report.adhoc} pending ad hoc task(s) to {args.to}"
        )
        if report.failed_adhoc_left:
            print(f"not copied: failed ad hoc tasks {report.failed_adhoc_left} (retry them first to move them)")
    return 0


async def cmd_run(args: argparse.Namespace, url: str) -> int:
    from .runner import run_task  # imports py-cord: only here

    return await run_task(args.name, args.app, url)


async def cmd_worker(args: argparse.Namespace, url: str) -> int:
    from .runner import run_worker

    options = {
        "adhoc_concurrency": args.concurrency,
        "adhoc_batch_size": args.concurrency,
        "adhoc_lease": args.lease,
    }
    return await run_worker(args.app, url, options=options)


READERS = {"list": cmd_list, "show": cmd_show, "history": cmd_history, "queue": cmd_queue}
WRITERS = {
    "schedule": cmd_schedule,
    "reset": cmd_reset,
    "enable": cmd_enable,
    "disable": cmd_enable,
    "retry": cmd_retry,
    "cancel": cmd_cancel,
    "purge": cmd_purge,
    "migrate": cmd_migrate,
}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="taskext", description="Inspect and steer taskext tasks.")
    top.add_argument(
        "--database",
        metavar="URL",
        help="store URL (default: TASKEXT_DATABASE_URL, .env, or sqlite:///data/taskext.db)",
    )
    # Accepted before the command too (``taskext --json list``), as after it (``taskext list --json``).
    top.add_argument("--json", action="store_true", help="machine-readable output (read commands and purge)")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, *, json_flag: bool = False) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        if json_flag:
            # SUPPRESS: without the flag here, the value given before the command stands.
            cmd.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")
        return cmd

    command("list", "every scheduled task", json_flag=True)
    command("show", "one scheduled task", json_flag=True).add_argument("name")
    history = command("history", "runs, newest first", json_flag=True)
    history.add_argument("name", nargs="?")
    history.add_argument("--limit", type=positive, default=20)
    queue = command("queue", "ad hoc tasks", json_flag=True)
    queue.add_argument("--failed", action="store_true", help="only failed ones")
    queue.add_argument("--limit", type=positive, default=100)
    schedule = command("schedule", "override a task's schedule")
    schedule.add_argument("name")
    schedule.add_argument("expression", help="10m, 1h30m, '09:00 Europe/Paris', '*/5 * * * *'")
    for name, text in (
        ("reset", "back to the default schedule"),
        ("enable", "enable a task"),
        ("disable", "disable a task"),
    ):
        command(name, text).add_argument("name")
    command("retry", "queue a failed ad hoc task again").add_argument("id", type=positive)
    command("cancel", "remove a pending or failed ad hoc task").add_argument("id", type=positive)
    purge = command("purge", "delete orphaned tasks, old run rows and old failed ad hoc tasks", json_flag=True)
    purge.add_argument("--keep-runs", type=int, default=20)
    purge.add_argument("--keep-days", type=float, default=28.0)
    run = command("run", "run a task once in this process, recorded like a scheduled run")
    run.add_argument("name")
    run.add_argument(
        "--app",
        required=True,
        metavar="MODULE[:ATTR]",
        help="module defining the task (a cog extension, a bot, or loops)",
    )
    migrate = command(
        "migrate", "copy this database into another, empty store (e.g. SQLite to PostgreSQL)", json_flag=True
    )
    migrate.add_argument("--to", required=True, metavar="URL", help="target store URL")
    worker = command("worker", "run tasks in this process without a gateway connection (a worker-only node)")
    worker.add_argument("--app", required=True, metavar="MODULE", help="extension or module defining the tasks")
    worker.add_argument("--concurrency", type=positive, default=100, help="ad hoc tasks at once (default 100)")
    worker.add_argument("--lease", type=float, default=60.0, help="ad hoc lease seconds (default 60)")
    return top


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def database_url(explicit: str | None) -> str:
    if explicit:
        return explicit
    if "TASKEXT_DATABASE_URL" not in os.environ:
        try:
            from dotenv import load_dotenv

            load_dotenv(Path.cwd() / ".env")
        except ImportError:  # python-dotenv is a dependency; tolerate its absence
            pass
    return default_database_url()


async def run_command(args: argparse.Namespace) -> int:
    url = database_url(args.database)
    if args.command == "run":
        return await cmd_run(args, url)
    if args.command == "worker":
        return await cmd_worker(args, url)
    store = await open_store(url)
    try:
        handler = READERS.get(args.command) or WRITERS[args.command]
        return await handler(store, args)
    finally:
        await store.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m taskext`` and the ``taskext`` script; returns the exit code."""
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # argparse printed the usage error
        return int(exc.code or 0) if exc.code != 0 else 0
    try:
        return asyncio.run(run_command(args))
    except (TaskNotFound, UsageError, ValueError, TypeError) as exc:
        print(f"taskext: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # the reader went away (taskext list | head): not an error
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (StoreError, TaskextError, OSError) as exc:
        print(f"taskext: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130

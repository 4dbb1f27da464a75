#!/usr/bin/env python3
"""CLI benchmark (issue #6): ``taskext list`` as a whole process on a big store.

Builds a SQLite store with N tasks and M run-log rows (the schema created by
``SQLiteStore``, rows written with ``executemany`` in one transaction), then times whole
processes (``subprocess``, wall clock, stdout piped and read) after one warm-up each:

* ``python -c pass``         -- interpreter start, the floor for any CLI;
* ``python -c 'import taskext.cli'`` -- start plus the CLI's imports;
* ``taskext list``           -- the console script, human table;
* ``taskext --json list``    -- the console script, JSON;
* ``python -m taskext list`` -- the module entry point.

Target: ``taskext list`` under 300 ms as a whole process (median of the repeats).

Usage::

    .venv/bin/python bench/cli_list.py                    # 1,000 tasks, 100,000 runs, 5 repeats
    .venv/bin/python bench/cli_list.py --repeat 11 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

UTC = timezone.utc
TARGET_MS = 300.0
SCHEDULES = ["10m", "1h", "30s", "1h30m", "*/5 * * * *", "0 3 * * *", "09:00 UTC", "15 */2 * * 1-5"]


def build(path: Path, tasks: int, runs: int, seed: int = 6) -> dict[str, Any]:
    """Create the store at ``path`` with ``tasks`` tasks and ``runs`` run rows; returns build stats."""
    from taskext.store import SQLiteStore

    started = time.perf_counter()
    url = f"sqlite:///{path}"

    async def create() -> None:
        store = SQLiteStore(url)
        await store.open()  # schema and WAL, exactly as taskext makes them
        await store.close()

    asyncio.run(create())
    rng = random.Random(seed)
    now = datetime.now(UTC).timestamp()
    task_rows = []
    for i in range(tasks):
        default = SCHEDULES[i % len(SCHEDULES)]
        failing = i % 17 == 0
        task_rows.append(
            (
                f"Cog{i // 10:03d}.task_{i:04d}",
                default,
                "2h" if i % 11 == 0 else None,  # an owner override
                1 if i % 23 == 0 else 0,  # disabled
                now + rng.uniform(1, 7200),  # next_run
                now - rng.uniform(1, 3600),  # last_started
                "failed" if failing else "succeeded",
                2 if failing else 0,
                120.0 if failing else 0.0,
                "Traceback (most recent call last):\nRuntimeError: upstream timeout" if failing else None,
                runs // max(tasks, 1),
                now - 60,  # seen_at: seen by the last scan
            )
        )
    names = [row[0] for row in task_rows]
    per_task = max(runs // max(tasks, 1), 1)

    def run_rows() -> Any:
        written = 0
        for index, name in enumerate(names):
            for k in range(per_task):
                if written >= runs:
                    return
                start = now - (per_task - k) * 600.0 - index
                failed = k % 13 == 0
                yield (
                    name,
                    start,
                    start + 0.01,
                    start + 0.01 + rng.uniform(0.001, 0.5),
                    "failed" if failed else "succeeded",
                    "Traceback (most recent call last):\nRuntimeError: upstream timeout" if failed else None,
                    f"INFO taskext.task.{name}: processed {k} items",
                    "bench-host:1:abcdef",
                )
                written += 1

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO taskext_tasks (name, default_schedule, override_schedule, disabled, next_run, last_started,"
            " last_outcome, failures, fail_delay, last_error, run_count, seen_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            task_rows,
        )
        conn.executemany(
            "INSERT INTO taskext_runs (task, scheduled, started, finished, outcome, error, output, worker)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            run_rows(),
        )
        conn.execute(
            "INSERT INTO taskext_meta (key, value) VALUES ('last_scan', ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (repr(now - 120),),
        )
        conn.execute("COMMIT")
        counts = (
            conn.execute("SELECT COUNT(*) FROM taskext_tasks").fetchone()[0],
            conn.execute("SELECT COUNT(*) FROM taskext_runs").fetchone()[0],
        )
    finally:
        conn.close()
    return {
        "tasks": counts[0],
        "runs": counts[1],
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "build_s": round(time.perf_counter() - started, 2),
    }


def time_process(argv: list[str], repeat: int, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """Wall-clock milliseconds of ``argv`` as a whole process: one warm-up, then ``repeat`` runs."""

    def once() -> tuple[float, subprocess.CompletedProcess[bytes]]:
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, env=env, cwd=cwd, check=False)
        return (time.perf_counter() - started) * 1e3, done

    _, done = once()
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode()[-500:]}")
    samples = []
    for _ in range(repeat):
        elapsed, done = once()
        assert done.returncode == 0
        samples.append(elapsed)
    return {
        "best_ms": round(min(samples), 1),
        "median_ms": round(statistics.median(samples), 1),
        "max_ms": round(max(samples), 1),
        "stdout_kb": round(len(done.stdout) / 1e3, 1),
        "samples_ms": [round(s, 1) for s in samples],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database", type=Path, help="build the store here (default: a temporary directory)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="taskext-cli-bench-"))
    path = args.database or workdir / "taskext.db"
    if path.exists():
        raise SystemExit(f"{path} exists; give a new path")
    stats = build(path, args.tasks, args.runs)
    url = f"sqlite:///{path.resolve()}"
    env = {key: value for key, value in os.environ.items() if key != "TASKEXT_DATABASE_URL"}
    python = sys.executable
    script = Path(python).with_name("taskext")
    taskext_cmd = [str(script)] if script.exists() else [python, "-m", "taskext"]
    commands = [
        ("python -c pass", [python, "-c", "pass"], False),
        ("python -c 'import taskext.cli'", [python, "-c", "import taskext.cli"], False),
        ("taskext list", [*taskext_cmd, "--database", url, "list"], True),
        ("taskext --json list", [*taskext_cmd, "--database", url, "--json", "list"], True),
        ("python -m taskext list", [python, "-m", "taskext", "--database", url, "list"], False),
    ]
    results = []
    for label, argv, targeted in commands:
        timing = time_process(argv, args.repeat, env, workdir)
        row: dict[str, Any] = {"command": label, **timing}
        if targeted:
            row["target_ms"] = TARGET_MS
            row["pass"] = timing["median_ms"] < TARGET_MS
        results.append(row)

    summary = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "store": stats,
        "repeat": args.repeat,
        "results": results,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(
        f"store: {stats['tasks']:,} tasks, {stats['runs']:,} run rows, {stats['file_mb']} MB"
        f" (built in {stats['build_s']} s); {args.repeat} timed runs after 1 warm-up; Python {summary['python']}"
    )
    header = ["command", "best ms", "median ms", "max ms", "stdout kB", "target", "result"]
    rows = [
        [
            r["command"],
            f"{r['best_ms']:.1f}",
            f"{r['median_ms']:.1f}",
            f"{r['max_ms']:.1f}",
            f"{r['stdout_kb']:.1f}",
            f"< {TARGET_MS:g} ms" if "target_ms" in r else "",
            ("pass" if r["pass"] else "FAIL") if "target_ms" in r else "",
        ]
        for r in results
    ]
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    for line in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())


if __name__ == "__main__":
    main()

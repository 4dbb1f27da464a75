#!/usr/bin/env python3
"""Persistence overhead benchmark (issue #3): managed (SQLite) loops vs in-memory loops.

Every mode runs N loops at PERIOD for DURATION seconds, each in a fresh subprocess of
this script (``--only MODE``) so CPU time and memory do not mix:

* ``memory``    -- plain ``taskext.loop`` loops, no task manager (the baseline);
* ``floor``     -- a yardstick, not a mode of taskext: the same in-memory loops, each run
  appending its run-log row to a list that a thread writes to the run-log table of a
  taskext SQLite file (WAL, ``synchronous=NORMAL``) with one ``executemany`` every 0.25 s.
  No task state, no claims, no conversions: the least that recording every run in SQLite
  costs, whatever the design;
* ``process``   -- the loops run by a ``TaskManager`` on a new SQLite file with
  ``scope="process"``: every run recorded, results written behind in batches;
* ``cluster``   -- the same with ``scope="cluster"`` (the default): each tick claimed in the
  store, near ticks claimed together with the previous run's result.

The loops are started evenly over one period (``--no-spread``: all at once), so runs fall
due spread over each second, as a bot's tasks do. Modes run interleaved for ``--rounds``
rounds (memory, floor, process, cluster, memory, ...) and the medians are compared, because
a shared machine drifts by more than the 10 % being measured.

Measured over the steady-state window (after the first two periods):

* CPU microseconds per run (``time.process_time``: every thread, aiosqlite's included),
  split into the event-loop thread and the others (the database thread);
* start lateness: ``time the body starts - scheduled time`` (``loop.last_iteration``);
* runs executed vs due, and run-log rows written.

Usage::

    .venv/bin/python bench/manager.py                   # 1,000 loops x 1 s x 60 s, 3 rounds (~13 min)
    .venv/bin/python bench/manager.py --duration 20 --rounds 1 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

UTC = timezone.utc
MODES = ("memory", "floor", "process", "cluster")


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class RunLogFloor:
    """The yardstick: run-log rows written in batches by one thread, nothing else."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.rows: list[tuple[Any, ...]] = []
        self.lock = threading.Lock()
        self.written = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._write_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _write_forever(self) -> None:
        conn = sqlite3.connect(self.database, isolation_level=None)
        insert = (
            "INSERT INTO taskext_runs (task, scheduled, started, finished, outcome, error, output, worker)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        )
        while not self._stop.wait(0.25):
            with self.lock:
                rows, self.rows = self.rows, []
            if rows:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(insert, rows)
                conn.execute("COMMIT")
                self.written += len(rows)
        conn.close()


async def run_mode(mode: str, loops: int, period: float, duration: float, spread: bool) -> dict[str, Any]:
    import taskext

    lateness: list[float] = []
    runs = 0
    measuring = False
    manager = None
    floor = None
    database = Path(tempfile.mkdtemp()) / "bench.db"
    if mode in ("process", "cluster"):
        manager = taskext.TaskManager(f"sqlite:///{database}")
        await manager.open()
    elif mode == "floor":
        from taskext.store import SQLiteStore

        schema = SQLiteStore(f"sqlite:///{database}")  # the same file layout as a manager's
        await schema.open()
        await schema.close()
        floor = RunLogFloor(database)
        floor.start()

    def make(index: int) -> taskext.Loop[Any]:
        name = f"bench-{index}"

        async def body() -> None:
            nonlocal runs
            scheduled = handle.last_iteration
            assert scheduled is not None
            if floor is not None:
                started = datetime.now(UTC)
                # What any run log must keep of a run, written by the yardstick's thread.
                row = (name, scheduled.timestamp(), started.timestamp(), time.time(), "succeeded", None, "", "bench")
                with floor.lock:
                    floor.rows.append(row)
            if measuring:
                now = datetime.now(UTC)
                lateness.append((now - scheduled).total_seconds())
                runs += 1

        options = {"scope": mode} if manager is not None else {}
        handle = taskext.loop(seconds=period, name=name, **options)(body)
        return handle

    handles = [make(i) for i in range(loops)]
    if spread:
        running = asyncio.get_running_loop()
        for index, handle in enumerate(handles):
            running.call_later(index * period / loops, handle.start)
        await asyncio.sleep(period)
    else:
        for handle in handles:
            handle.start()
    await asyncio.sleep(2 * period)  # registration and first runs out of the window
    measuring = True
    cpu_start, main_start, wall_start = time.process_time(), time.thread_time(), time.perf_counter()
    await asyncio.sleep(duration)
    cpu, main = time.process_time() - cpu_start, time.thread_time() - main_start
    wall = time.perf_counter() - wall_start
    measuring = False
    for handle in handles:
        handle.cancel()
    await asyncio.gather(*(h.get_task() for h in handles if h.get_task()), return_exceptions=True)
    logged = None
    if manager is not None:
        await manager.close()
    if floor is not None:
        floor.stop()
    if mode != "memory":
        with sqlite3.connect(database) as conn:
            logged = conn.execute("SELECT COUNT(*) FROM taskext_runs").fetchone()[0]
    due = int(loops * wall / period)

    def per_run(seconds: float) -> float | None:
        return round(seconds / runs * 1e6, 2) if runs else None

    return {
        "mode": mode,
        "loops": loops,
        "period_s": period,
        "window_s": round(wall, 3),
        "runs": runs,
        "runs_due": due,
        "cpu_s": round(cpu, 4),
        "cpu_us_per_run": per_run(cpu),
        "main_us_per_run": per_run(main),
        "other_threads_us_per_run": per_run(cpu - main),
        "lateness_p50_ms": round(percentile(lateness, 0.50) * 1e3, 3),
        "lateness_p99_ms": round(percentile(lateness, 0.99) * 1e3, 3),
        "lateness_max_ms": round(max(lateness) * 1e3, 3) if lateness else None,
        "lateness_mean_ms": round(statistics.fmean(lateness) * 1e3, 3) if lateness else None,
        "run_log_rows": logged,
    }


def run_subprocess(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--only", mode, "--loops", str(args.loops), "--period", str(args.period),
         "--duration", str(args.duration), "--spread" if args.spread else "--no-spread"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def summarize(rounds: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per mode: the median over rounds of each figure, with the per-round CPU figures."""
    rows = []
    for mode in MODES:
        results = [r for round_ in rounds for r in round_ if r["mode"] == mode]
        if not results:
            continue
        row: dict[str, Any] = {"mode": mode, "rounds": len(results)}
        for key in ("runs", "runs_due", "cpu_us_per_run", "main_us_per_run", "other_threads_us_per_run",
                    "lateness_p50_ms", "lateness_p99_ms", "lateness_max_ms", "run_log_rows"):  # fmt: skip
            values = [r[key] for r in results if r[key] is not None]
            row[key] = round(statistics.median(values), 2) if values else None
        row["cpu_us_per_run_each"] = [r["cpu_us_per_run"] for r in results]
        rows.append(row)
    memory = next(row for row in rows if row["mode"] == "memory")
    per_round = [{r["mode"]: r["cpu_us_per_run"] for r in round_} for round_ in rounds]
    for row in rows:
        if row is not memory:
            row["cpu_overhead_pct"] = round((row["cpu_us_per_run"] / memory["cpu_us_per_run"] - 1) * 100, 1)
            # Per round against that round's baseline: the spread of the overhead itself.
            row["cpu_overhead_pct_each"] = [round((cpu[row["mode"]] / cpu["memory"] - 1) * 100, 1) for cpu in per_round]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loops", type=int, default=1000)
    parser.add_argument("--period", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated subset of " + ", ".join(MODES))
    parser.add_argument("--only", choices=MODES, help="run one mode in this process (used internally)")
    parser.add_argument(
        "--spread",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="start the loops evenly over one period (default) or all at once (--no-spread)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.only:
        result = asyncio.run(run_mode(args.only, args.loops, args.period, args.duration, args.spread))
        print(json.dumps(result))
        return
    modes = [m for m in MODES if m in args.modes.split(",")]
    if "memory" not in modes:
        parser.error("--modes must include memory, the baseline")
    rounds = []
    for number in range(args.rounds):
        round_ = []
        for mode in modes:
            round_.append(run_subprocess(mode, args))
            print(f"round {number + 1} {mode}: {round_[-1]['cpu_us_per_run']} us/run", file=sys.stderr)
        rounds.append(round_)
    rows = summarize(rounds)
    targets = {
        row["mode"]: {
            "cpu_overhead_le_10pct": row["cpu_overhead_pct"] <= 10,
            "lateness_p99_le_2ms": row["lateness_p99_ms"] <= 2.0,
        }
        for row in rows
        if row["mode"] in ("process", "cluster")
    }
    if args.json:
        print(json.dumps({"summary": rows, "rounds": rounds, "targets": targets}, indent=2))
        return
    columns = ["mode", "runs", "runs_due", "cpu_us_per_run", "cpu_overhead_pct", "cpu_overhead_pct_each",
               "main_us_per_run", "other_threads_us_per_run", "lateness_p50_ms", "lateness_p99_ms",
               "lateness_max_ms", "run_log_rows"]  # fmt: skip
    print(f"medians of {args.rounds} round(s)")
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(str(row.get(c, "-")) for c in columns))
    print("targets: CPU overhead of persistence <= 10%, p99 start lateness <= 2 ms")
    for mode, checks in targets.items():
        print(f"  {mode}: " + ", ".join(f"{name} {'PASS' if ok else 'FAIL'}" for name, ok in checks.items()))


if __name__ == "__main__":
    main()

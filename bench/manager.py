#!/usr/bin/env python3
"""Persistence overhead benchmark (issue #3): managed (SQLite) loops vs in-memory loops.

Both modes run N loops at PERIOD for DURATION seconds, each in a fresh subprocess of
this script (``--only MODE``) so CPU time and memory do not mix:

* ``memory``    -- plain ``taskext.loop`` loops, no task manager;
* ``process``   -- the same loops run by a ``TaskManager`` on a new SQLite file (WAL) with
  ``scope="process"``: every run recorded in the run log, results written behind in batches;
* ``cluster``   -- the same with ``scope="cluster"`` (the default): each tick also claimed
  atomically in the store, and its result written at once by the process that ran it.

Measured over the steady-state window (after the first two periods):

* CPU seconds per run (``time.process_time``, all threads, including aiosqlite's),
  and the overhead of persistence relative to in-memory;
* start lateness: ``time the body starts - scheduled time`` (``loop.last_iteration``),
  p50/p99/max;
* runs executed vs due, and (persisted) run-log rows written.

Usage::

    .venv/bin/python bench/manager.py                  # 1,000 loops x 1 s x 60 s
    .venv/bin/python bench/manager.py --loops 200 --duration 10 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

UTC = timezone.utc


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def run_mode(mode: str, loops: int, period: float, duration: float, spread: bool) -> dict[str, Any]:
    import taskext

    lateness: list[float] = []
    runs = 0
    measuring = False
    manager = None
    database = None
    if mode != "memory":
        database = Path(tempfile.mkdtemp()) / "bench.db"
        manager = taskext.TaskManager(f"sqlite:///{database}")
        await manager.open()

    def make(index: int) -> taskext.Loop[Any]:
        async def body() -> None:
            nonlocal runs
            if measuring:
                now = datetime.now(UTC)
                scheduled = handle.last_iteration
                assert scheduled is not None
                lateness.append((now - scheduled).total_seconds())
                runs += 1

        options = {"scope": mode} if mode != "memory" else {}
        handle = taskext.loop(seconds=period, name=f"bench-{index}", **options)(body)
        return handle

    handles = [make(i) for i in range(loops)]
    if spread:
        # Start the loops evenly over one period: ~loops runs per period, as a bot's tasks are.
        running = asyncio.get_running_loop()
        for index, handle in enumerate(handles):
            running.call_later(index * period / loops, handle.start)
        await asyncio.sleep(period)
    else:
        for handle in handles:
            handle.start()
    await asyncio.sleep(2 * period)  # registration and first runs out of the window
    measuring = True
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    await asyncio.sleep(duration)
    cpu = time.process_time() - cpu_start
    wall = time.perf_counter() - wall_start
    measuring = False
    for handle in handles:
        handle.cancel()
    await asyncio.gather(*(h.get_task() for h in handles if h.get_task()), return_exceptions=True)
    logged = None
    if manager is not None:
        await manager.close()
        import sqlite3

        with sqlite3.connect(database) as conn:
            logged = conn.execute("SELECT COUNT(*) FROM taskext_runs").fetchone()[0]
    due = int(loops * wall / period)
    return {
        "mode": mode,
        "loops": loops,
        "period_s": period,
        "window_s": round(wall, 3),
        "runs": runs,
        "runs_due": due,
        "cpu_s": round(cpu, 4),
        "cpu_us_per_run": round(cpu / runs * 1e6, 2) if runs else None,
        "lateness_p50_ms": round(percentile(lateness, 0.50) * 1e3, 3),
        "lateness_p99_ms": round(percentile(lateness, 0.99) * 1e3, 3),
        "lateness_max_ms": round(max(lateness) * 1e3, 3) if lateness else None,
        "lateness_mean_ms": round(statistics.fmean(lateness) * 1e3, 3) if lateness else None,
        "run_log_rows": logged,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loops", type=int, default=1000)
    parser.add_argument("--period", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--only", choices=["memory", "process", "cluster"])
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
    results = []
    for mode in ("memory", "process", "cluster"):
        out = subprocess.run(
            [sys.executable, __file__, "--only", mode, "--loops", str(args.loops), "--period", str(args.period),
             "--duration", str(args.duration), "--spread" if args.spread else "--no-spread"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    memory = results[0]
    for row in results[1:]:
        row["cpu_overhead_pct"] = round((row["cpu_us_per_run"] / memory["cpu_us_per_run"] - 1) * 100, 1)
    summary = {
        "results": results,
        "targets": {
            row["mode"]: {
                "cpu_overhead_le_10pct": row["cpu_overhead_pct"] <= 10,
                "lateness_p99_le_2ms": row["lateness_p99_ms"] <= 2.0,
            }
            for row in results[1:]
        },
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    columns = ["mode", "runs", "runs_due", "cpu_us_per_run", "cpu_overhead_pct", "lateness_p50_ms",
               "lateness_p99_ms", "lateness_max_ms", "run_log_rows"]  # fmt: skip
    print(" | ".join(columns))
    for row in results:
        print(" | ".join(str(row.get(c, "-")) for c in columns))
    print("targets: CPU overhead of persistence <= 10%, p99 start lateness <= 2 ms")


if __name__ == "__main__":
    main()

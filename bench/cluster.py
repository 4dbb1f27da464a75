#!/usr/bin/env python3
"""Cluster drain benchmark (issue #7): N ``taskext worker`` processes draining no-op ad hoc tasks.

The tasks are queued in batches with a run time a few seconds ahead; the worker
processes start (and finish importing) meanwhile; the clock starts when the tasks fall
due and stops when the queue is empty (no pending, no running task left), polled every
20 ms. Rates are tasks per second of wall time, for PostgreSQL and for one SQLite file.

Usage::

    .venv/bin/python bench/cluster.py                                  # 50,000 tasks, 4 processes
    .venv/bin/python bench/cluster.py --postgres postgresql://postgres@127.0.0.1:5432/test --json

The PostgreSQL database must be a throwaway one: the script drops every ``taskext*`` table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
UTC = timezone.utc


async def reset_postgres(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        for row in await conn.fetch("SELECT tablename FROM pg_tables WHERE tablename LIKE 'taskext%'"):
            await conn.execute(f'DROP TABLE IF EXISTS "{row[0]}" CASCADE')
    finally:
        await conn.close()


async def drain(url: str, tasks: int, processes: int, concurrency: int, lead: float) -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    import cluster_app  # noqa: F401  (registers the handler for enqueue's name check)

    from taskext.manager import TaskManager

    manager = TaskManager(url, run_worker=False)
    await manager.open()
    due = datetime.now(UTC) + timedelta(seconds=lead)
    started = time.perf_counter()
    for offset in range(0, tasks, 5000):
        await manager.enqueue_many("bench.cluster.noop", range(offset, min(tasks, offset + 5000)), run_at=due)
    enqueue_rate = tasks / (time.perf_counter() - started)
    env = {key: value for key, value in os.environ.items() if key != "DISCORD_TOKEN"}
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "taskext", "--database", url, "worker", "--app", "cluster_app",
             "--concurrency", str(concurrency)],
            cwd=HERE, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for _ in range(processes)
    ]
    try:
        wait = (due - datetime.now(UTC)).total_seconds()
        if wait < 1:
            raise RuntimeError("--lead too short: the tasks were due before the workers started")
        await asyncio.sleep(wait)
        began = time.perf_counter()
        while True:
            counts = await manager.store.adhoc_counts(now=datetime.now(UTC))
            if counts["pending"] == 0 and counts["running"] == 0:
                break
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - began
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=30)
        await manager.close()
    return {
        "store": url.split(":", 1)[0],
        "tasks": tasks,
        "processes": processes,
        "enqueue_per_s": round(enqueue_rate),
        "drain_s": round(elapsed, 3),
        "drain_per_s": round(tasks / elapsed),
        "failed": counts["failed"],
    }


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    if args.postgres:
        await reset_postgres(args.postgres)
        results.append(await drain(args.postgres, args.tasks, args.processes, args.concurrency, args.lead))
    sqlite_url = f"sqlite:///{tempfile.mkdtemp()}/cluster.db"
    results.append(await drain(sqlite_url, args.tasks, args.processes, args.concurrency, args.lead))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=50_000)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=200, help="ad hoc tasks at once per worker (= claim batch)")
    parser.add_argument("--lead", type=float, default=6.0, help="seconds until the tasks fall due")
    parser.add_argument("--postgres", default=os.environ.get("TASKEXT_TEST_POSTGRES_URL"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    columns = ["store", "tasks", "processes", "enqueue_per_s", "drain_s", "drain_per_s", "failed"]
    print(" | ".join(columns))
    for row in results:
        print(" | ".join(str(row[c]) for c in columns))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Ad hoc queue benchmark (issue #4): taskext on SQLite vs huey's SqliteHuey vs APScheduler 3.x.

Each peer runs in a fresh subprocess of this script (``--only PEER``), on a new SQLite file
in WAL mode, and reports:

* ``enqueue_batch_per_s``: tasks queued per second in batches (taskext ``enqueue_many``;
  huey and APScheduler have no batch API, so their figure is one call per task inside
  their usual storage path);
* ``enqueue_single_per_s``: one durable enqueue per call (``--single`` tasks);
* ``drain_per_s``: no-op tasks run per second, from a queue already holding ``--tasks``
  due tasks until the last one finished, by the peer's own worker.

taskext's worker is the one a bot runs (in-process, asyncio); huey's consumer uses 4 worker
threads; APScheduler 3.x runs date-triggered jobs from its SQLAlchemy job store with the
asyncio executor. APScheduler is slow enough that it drains ``--apscheduler-tasks`` tasks
(default 2,000) instead of 20,000; the rate is per second either way.

Usage::

    .venv/bin/pip install huey "apscheduler<4" sqlalchemy
    .venv/bin/python bench/adhoc.py                 # 20,000 tasks
    .venv/bin/python bench/adhoc.py --tasks 5000 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

UTC = timezone.utc
COUNT = 0
LOCK = threading.Lock()


def bump() -> None:
    global COUNT
    with LOCK:
        COUNT += 1


async def async_bump() -> None:
    bump()


# ---------------------------------------------------------------------- taskext


async def bench_taskext(tasks: int, single: int, batch_size: int) -> dict[str, Any]:
    import taskext
    from taskext.worker import AdhocWorker

    @taskext.adhoc(name="bench.noop", max_attempts=3)
    async def noop(data: Any, ctx: taskext.AdhocContext) -> None:
        bump()

    path = Path(tempfile.mkdtemp()) / "taskext.db"
    manager = taskext.TaskManager(f"sqlite:///{path}", run_worker=False)
    await manager.open()
    started = time.perf_counter()
    for i in range(single):
        await manager.enqueue("bench.noop", i)
    single_rate = single / (time.perf_counter() - started)
    await manager.store.purge_adhoc(failed_before=datetime.now(UTC))
    # Remove the single-enqueue tasks so the drain measures exactly `tasks`.
    for task in await manager.queue("pending", limit=single or 1):
        await manager.cancel(task.id)
    started = time.perf_counter()
    for offset in range(0, tasks, 5000):
        await manager.enqueue_many("bench.noop", range(offset, min(tasks, offset + 5000)))
    batch_rate = tasks / (time.perf_counter() - started)
    worker = AdhocWorker(manager, concurrency=batch_size, batch_size=batch_size)
    manager.worker = worker
    started = time.perf_counter()
    worker.start()
    while tasks > COUNT:
        await asyncio.sleep(0.002)
    await worker.flush()
    drain = time.perf_counter() - started
    left = (await manager.queue_health())["pending"]
    await worker.stop()
    await manager.close()
    return {
        "peer": "taskext (SQLite)",
        "tasks": tasks,
        "enqueue_batch_per_s": round(batch_rate),
        "enqueue_single_per_s": round(single_rate),
        "drain_per_s": round(tasks / drain),
        "left_in_queue": left,
    }


# ---------------------------------------------------------------------- huey


def huey_noop(n: int) -> None:
    bump()


def bench_huey(tasks: int, single: int) -> dict[str, Any]:
    from huey import SqliteHuey
    from huey.consumer import Consumer

    path = Path(tempfile.mkdtemp()) / "huey.db"
    huey = SqliteHuey(filename=str(path), journal_mode="wal")
    task = huey.task()(huey_noop)
    started = time.perf_counter()
    for i in range(single):
        task(i)
    single_rate = single / (time.perf_counter() - started)
    huey.flush()
    started = time.perf_counter()
    for i in range(tasks):
        task(i)
    batch_rate = tasks / (time.perf_counter() - started)
    consumer = Consumer(huey, workers=4, worker_type="thread", periodic=False, initial_delay=0.001,
                        backoff=1.05, max_delay=0.01)  # fmt: skip
    started = time.perf_counter()
    consumer.start()
    while tasks > COUNT:
        time.sleep(0.002)
    drain = time.perf_counter() - started
    consumer.stop(graceful=True)
    return {
        "peer": "huey SqliteHuey (4 threads)",
        "tasks": tasks,
        "enqueue_batch_per_s": round(batch_rate),
        "enqueue_single_per_s": round(single_rate),
        "drain_per_s": round(tasks / drain),
        "left_in_queue": huey.pending_count(),
    }


# ---------------------------------------------------------------------- APScheduler 3


async def bench_apscheduler(tasks: int, single: int) -> dict[str, Any]:
    import logging

    from apscheduler.executors.asyncio import AsyncIOExecutor
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    path = Path(tempfile.mkdtemp()) / "aps.db"
    store = SQLAlchemyJobStore(url=f"sqlite:///{path}")
    scheduler = AsyncIOScheduler(
        jobstores={"default": store}, executors={"default": AsyncIOExecutor()},
        job_defaults={"misfire_grace_time": None, "coalesce": False, "max_instances": 1000},
    )  # fmt: skip
    scheduler.start(paused=True)
    now = datetime.now(UTC)
    started = time.perf_counter()
    for i in range(single):
        scheduler.add_job(async_bump, "date", run_date=now, id=f"s{i}")
    single_rate = single / (time.perf_counter() - started)
    scheduler.remove_all_jobs()
    started = time.perf_counter()
    for i in range(tasks):
        scheduler.add_job(async_bump, "date", run_date=now, id=f"j{i}")
    batch_rate = tasks / (time.perf_counter() - started)
    started = time.perf_counter()
    scheduler.resume()
    while tasks > COUNT:
        await asyncio.sleep(0.002)
    drain = time.perf_counter() - started
    scheduler.shutdown(wait=False)
    return {
        "peer": "APScheduler 3.x SQLAlchemyJobStore",
        "tasks": tasks,
        "enqueue_batch_per_s": round(batch_rate),
        "enqueue_single_per_s": round(single_rate),
        "drain_per_s": round(tasks / drain),
        "left_in_queue": 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=20000)
    parser.add_argument("--apscheduler-tasks", type=int, default=2000)
    parser.add_argument("--single", type=int, default=500, help="tasks enqueued one call each")
    parser.add_argument("--batch-size", type=int, default=200, help="taskext claim batch and concurrency")
    parser.add_argument("--only", choices=["taskext", "huey", "apscheduler"])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.only == "taskext":
        print(json.dumps(asyncio.run(bench_taskext(args.tasks, args.single, args.batch_size))))
        return
    if args.only == "huey":
        print(json.dumps(bench_huey(args.tasks, args.single)))
        return
    if args.only == "apscheduler":
        print(json.dumps(asyncio.run(bench_apscheduler(args.apscheduler_tasks, args.single))))
        return
    results = []
    for peer in ("taskext", "huey", "apscheduler"):
        out = subprocess.run(
            [sys.executable, __file__, "--only", peer, "--tasks", str(args.tasks), "--single", str(args.single),
             "--apscheduler-tasks", str(args.apscheduler_tasks), "--batch-size", str(args.batch_size)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    columns = ["peer", "tasks", "enqueue_batch_per_s", "enqueue_single_per_s", "drain_per_s", "left_in_queue"]
    print(" | ".join(columns))
    for row in results:
        print(" | ".join(str(row[c]) for c in columns))
    ours = results[0]
    print(f"taskext drain {ours['drain_per_s']}/s (target >= 10,000/s), "
          f"batched enqueue {ours['enqueue_batch_per_s']}/s (target >= 20,000/s)")  # fmt: skip


if __name__ == "__main__":
    main()

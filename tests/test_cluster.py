"""Several worker processes sharing one store: exactly-once ticks, at-least-once ad hoc tasks.

Real processes (``python -m taskext worker``) on a real SQLite file and, when
TASKEXT_TEST_POSTGRES_URL is set, a real PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from taskext.store import store_for_url

APPS = Path(__file__).resolve().parent / "apps"
POSTGRES = os.environ.get("TASKEXT_TEST_POSTGRES_URL")


def postgres_url() -> str:
    if not POSTGRES:
        pytest.skip("set TASKEXT_TEST_POSTGRES_URL to a throwaway PostgreSQL database to run this")
    try:
        store_for_url(POSTGRES)
    except ValueError as exc:
        pytest.skip(f"PostgreSQL store unavailable: {exc}")
    return POSTGRES


async def reset_postgres(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        names = await conn.fetch("SELECT tablename FROM pg_tables WHERE tablename LIKE 'taskext%'")
        for row in names:
            await conn.execute(f'DROP TABLE IF EXISTS "{row[0]}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/cluster.db"
    url = postgres_url()
    await reset_postgres(url)
    return url


class Workers:
    def __init__(self, url: str, out: Path) -> None:
        self.url = url
        self.out = out
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, count: int, *extra: str, slow: float = 0.02) -> None:
        env = {**os.environ, "CLUSTER_OUT": str(self.out), "CLUSTER_SLOW": str(slow)}
        env.pop("DISCORD_TOKEN", None)
        for _ in range(count):
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "taskext", "--database", self.url, "worker", "--app", "cluster_app", *extra],
                    cwd=APPS,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def lines(self) -> list[str]:
        return [line for path in sorted(self.out.glob("*.log")) for line in path.read_text().splitlines()]


@pytest.fixture
def workers(database: str, tmp_path: Path) -> Iterator[Workers]:
    pool = Workers(database, tmp_path / "out")
    yield pool
    pool.stop()


async def wait_for(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.1)


async def test_four_processes_run_every_tick_of_a_cluster_loop_exactly_once(workers: Workers) -> None:
    workers.start(4)

    def ticks() -> list[float]:
        return [float(line.split()[1]) for line in workers.lines() if line.startswith("tick ")]

    await wait_for(lambda: len(ticks()) >= 205, timeout=60)
    workers.stop()
    seen = Counter(ticks())
    duplicates = {tick: n for tick, n in seen.items() if n > 1}
    assert not duplicates, f"ticks run more than once: {sorted(duplicates)[:5]}"
    ordered = sorted(seen)
    # Every tick of the 100 ms grid between the first and the last ran (none skipped).
    steps = [round((b - a) * 10) for a, b in itertools.pairwise(ordered)]
    assert len(ordered) >= 200
    assert set(steps) == {1}, f"gaps in the grid: {Counter(steps)}"
    pids = {path.stem for path in workers.out.glob("*.log") if "tick" in path.read_text()}
    assert len(pids) >= 2  # the work really was shared


async def test_ticks_claimed_ahead_run_once_and_move_to_another_process_when_the_holder_stops(
    workers: Workers,
) -> None:
    """A 1 s loop: each tick is claimed with the previous result by the process that ran it."""
    workers.start(3)

    def ticks() -> list[tuple[str, float]]:
        return [
            (path.stem, float(line.split()[1]))
            for path in sorted(workers.out.glob("*.log"))
            for line in path.read_text().splitlines()
            if line.startswith("ahead ")
        ]

    await wait_for(lambda: len(ticks()) >= 5, timeout=60)
    holder = max(ticks(), key=lambda tick: tick[1])[0]
    [process] = [p for p in workers.processes if str(p.pid) == holder]
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=15)
    stopped_at = len(ticks())
    await wait_for(lambda: len(ticks()) >= stopped_at + 5, timeout=30)
    workers.stop()
    seen = Counter(when for _, when in ticks())
    assert max(seen.values()) == 1, f"ticks run more than once: {[t for t in ticks() if seen[t[1]] > 1][:6]}"
    ordered = sorted(seen)
    steps = Counter(round(b - a) for a, b in itertools.pairwise(ordered))
    # Every tick ran, but the one the stopping process had claimed ahead and gave up.
    assert set(steps) <= {1, 2} and steps[2] <= 1, f"gaps in the grid: {steps}"
    assert {pid for pid, _ in ticks()} - {holder}, "no other process took the loop over"


async def enqueue(url: str, name: str, count: int) -> None:
    import taskext
    from taskext.manager import TaskManager

    @taskext.adhoc(name=name, max_attempts=10)
    async def placeholder(data: object, ctx: object) -> None:  # the workers hold the real handler
        raise AssertionError("runs in the workers")

    manager = TaskManager(url, run_worker=False)
    try:
        for offset in range(0, count, 5000):
            await manager.enqueue_many(name, range(offset, min(count, offset + 5000)))
    finally:
        await manager.close()


async def test_twenty_thousand_ad_hoc_tasks_complete_exactly_once(workers: Workers) -> None:
    await enqueue(workers.url, "cluster.noop", 20_000)
    workers.start(4)

    def done() -> list[str]:
        return [line.split()[1] for line in workers.lines() if line.startswith("adhoc ")]

    await wait_for(lambda: len(done()) >= 20_000, timeout=90)
    await asyncio.sleep(0.5)
    workers.stop()
    counts = Counter(done())
    assert len(counts) == 20_000, "some tasks never ran"
    assert max(counts.values()) == 1, f"ran twice: {[k for k, v in counts.items() if v > 1][:5]}"
    store = store_for_url(workers.url)
    await store.open()
    try:
        health = await store.adhoc_counts(now=datetime.now(timezone.utc))
    finally:
        await store.close()
    assert (health["pending"], health["running"], health["failed"]) == (0, 0, 0)


async def test_a_killed_worker_s_tasks_are_rerun_by_the_others(workers: Workers) -> None:
    await enqueue(workers.url, "cluster.slow", 400)
    workers.start(3, "--lease", "1", "--concurrency", "5", slow=0.05)

    def events(kind: str) -> list[str]:
        return [line.split()[1] for line in workers.lines() if line.startswith(kind + " ")]

    await wait_for(lambda: len(events("done")) >= 60, timeout=30)
    victim = workers.processes[0]
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed_log = workers.out / f"{victim.pid}.log"
    lines = killed_log.read_text().splitlines() if killed_log.exists() else []
    started = {line.split()[1] for line in lines if line.startswith("start ")}
    finished = {line.split()[1] for line in lines if line.startswith("done ")}
    in_flight = started - finished
    assert in_flight, "the victim was not running anything when killed"
    await wait_for(lambda: len(set(events("done"))) >= 400, timeout=60)
    workers.stop()
    completed = Counter(events("done"))
    assert set(completed) == {str(n) for n in range(400)}, "tasks lost"
    # At least once: what the victim had in flight was run again; nothing else twice.
    assert in_flight <= set(completed)
    assert {task for task, n in completed.items() if n > 1} <= in_flight


async def test_changes_reach_another_process_within_a_second(database: str) -> None:
    """An override and an enqueue made by one manager reach another manager's loop and worker."""
    import taskext
    from taskext.manager import TaskManager

    ran: list[str] = []

    @taskext.adhoc(name="cluster.propagation")
    async def handler(data: str, ctx: taskext.AdhocContext) -> None:
        ran.append(data)

    @taskext.loop(minutes=10, name="cluster.propagated")
    async def body() -> None:
        pass

    runner = TaskManager(database, adhoc_poll_interval=30)  # only a push or the change counter wakes it
    other = TaskManager(database, run_worker=False)
    try:
        await runner.open()
        body.start()
        await wait_for(lambda: body.next_iteration is not None and body.last_iteration is not None, timeout=5)
        await other.open()
        started = time.monotonic()
        await other.set_schedule("cluster.propagated", "3m")
        await wait_for(lambda: body.seconds == 180, timeout=1.0)
        assert time.monotonic() - started < 1.0
        assert body.next_iteration is not None
        assert body.last_iteration is not None
        assert abs((body.next_iteration - body.last_iteration).total_seconds() - 180) < 1e-6
        if runner.pushed_changes:  # PostgreSQL NOTIFY wakes the worker; SQLite polls every 30 s here
            started = time.monotonic()
            await other.enqueue("cluster.propagation", "hello")
            await wait_for(lambda: ran == ["hello"], timeout=1.0)
    finally:
        body.cancel()
        await other.close()
        await runner.close()

#!/usr/bin/env python3
"""Cluster drain benchmark (issue #7): N worker processes draining no-op jobs, taskext and its peers.

For each library the same method: the jobs are queued first, in batches of 5,000, with a run
time ``--lead`` seconds after queueing began; the N worker processes start (and finish
importing) meanwhile; the clock starts when the jobs fall due and stops when none is left
queued or running, polled every 20 ms. Rates are jobs per second of wall time.

- taskext: ``taskext worker --app cluster_app --concurrency C`` (C ad hoc tasks at once per
  process, C per claim), on PostgreSQL and on one SQLite file;
- pgqueuer: ``bench/peer_pgqueuer.py`` (``pgqueuer.run`` on uvloop, as ``pgq run`` does), in the
  ``bench_pgqueuer`` schema, ``--pgqueuer-batch`` jobs per dequeue;
- procrastinate: ``procrastinate --app peer_procrastinate.app worker``, in the
  ``bench_procrastinate`` schema, ``--procrastinate-concurrency`` jobs at once per process. It
  takes one job per query, so it drains a smaller queue (``--procrastinate-jobs``); compare rates.

All PostgreSQL runs use the same server and the same cheap probe for "queue empty" (one
``EXISTS`` query on a separate connection), and a CHECKPOINT before queueing. Each library runs
twice on PostgreSQL (``--analyze both``): once as queued into its freshly created tables, which
the planner has no statistics for unless autovacuum analyzes them, and once after an
``ANALYZE`` of its queue tables; the plans, and the rates, differ. The jobs are due only once
the workers have had time to start; the ``up s`` column says how long all N took to connect to
the store (from spawn), which should be well under the lead.

Usage::

    .venv/bin/python bench/cluster.py --postgres postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/cluster.py --postgres URL --peers taskext,pgqueuer --json

The PostgreSQL database must be a throwaway one: the script drops every ``taskext*`` table and
the ``bench_pgqueuer`` and ``bench_procrastinate`` schemas before the runs that use them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import os
import platform
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil

HERE = Path(__file__).resolve().parent
UTC = timezone.utc
BATCH = 5000  # jobs per enqueue call, for every library
TARGET = 10_000  # issue #7: tasks/s drained by 4 taskext processes on PostgreSQL
RUNS = ("taskext-postgres", "pgqueuer", "procrastinate", "taskext-sqlite")
ALIASES = {"all": RUNS, "taskext": ("taskext-postgres", "taskext-sqlite")}

if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


def worker_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "DISCORD_TOKEN"}
    env.update(extra)
    return env


def postgres_probe(url: str) -> Callable[[psutil.Process], bool]:
    """Whether a worker process has a connection open to the PostgreSQL server of ``url``."""
    parts = urlsplit(url)
    if not parts.hostname or parts.hostname.startswith("/"):
        return lambda process: any(c.raddr for c in process.net_connections(kind="unix"))
    port = parts.port or 5432
    return lambda process: any(c.raddr and c.raddr.port == port for c in process.net_connections(kind="inet"))


class Peer:
    """One library on one store: set up, queue the jobs, say whether any is left, report."""

    peer: str
    store: str
    jobs: int
    config: str

    async def open(self) -> None:
        """Clean the library's tables (or schema), create them, connect."""

    async def enqueue(self, due: datetime) -> None:
        raise NotImplementedError

    async def analyze(self) -> None:
        """Give the planner statistics for the queued jobs."""

    def command(self) -> tuple[list[str], dict[str, str]]:
        """One worker process: argv (run in bench/) and environment."""
        raise NotImplementedError

    def connected(self, process: psutil.Process) -> bool:
        """Whether the worker process has opened the store yet."""
        raise NotImplementedError

    async def unfinished(self) -> bool:
        """Whether any job is still queued or running."""
        raise NotImplementedError

    async def outcome(self) -> tuple[int, int]:
        """(done, failed) once drained."""
        raise NotImplementedError

    async def close(self) -> None:
        pass


class PostgresPeer(Peer):
    """A peer on PostgreSQL: an observer connection for the reset, the probe and the outcome."""

    store = "postgresql"
    unfinished_sql = ""
    tables = ""  # the queue tables, for ANALYZE

    def __init__(self, url: str, jobs: int) -> None:
        self.url = url
        self.jobs = jobs
        self.probe = postgres_probe(url)
        self.observer: Any = None

    async def open(self) -> None:
        import asyncpg

        self.observer = await asyncpg.connect(self.url)
        await self.reset()
        await self.observer.execute("CHECKPOINT")  # the previous run's dirty pages are not this run's cost

    async def reset(self) -> None:
        raise NotImplementedError

    async def analyze(self) -> None:
        # Autovacuum (hence auto-analyze) may be off (it is on the benchmark server): then the planner
        # plans for the freshly created, empty queue table, whatever was queued into it.
        await self.observer.execute(f"ANALYZE {self.tables}")

    def connected(self, process: psutil.Process) -> bool:
        return self.probe(process)

    async def unfinished(self) -> bool:
        return bool(await self.observer.fetchval(self.unfinished_sql))

    async def close(self) -> None:
        if self.observer is not None:
            await self.observer.close()


class Taskext(Peer):
    """What both taskext runs share: the manager, the enqueue, the worker command, the outcome."""

    peer = "taskext"
    url: str
    concurrency: int
    manager: Any = None

    async def open_manager(self) -> None:
        import cluster_app  # noqa: F401  (registers the handler for enqueue's name check)

        from taskext.manager import TaskManager

        self.manager = TaskManager(self.url, run_worker=False)
        await self.manager.open()

    async def enqueue(self, due: datetime) -> None:
        for offset in range(0, self.jobs, BATCH):
            data = range(offset, min(self.jobs, offset + BATCH))
            await self.manager.enqueue_many("bench.cluster.noop", data, run_at=due)

    def command(self) -> tuple[list[str], dict[str, str]]:
        return (
            [sys.executable, "-m", "taskext", "--database", self.url, "worker", "--app", "cluster_app",
             "--concurrency", str(self.concurrency)],
            worker_env(),
        )

    async def outcome(self) -> tuple[int, int]:
        counts = await self.manager.store.adhoc_counts(now=datetime.now(UTC))
        left = counts["pending"] + counts["running"] + counts["failed"]
        return self.jobs - left, counts["failed"]  # succeeded tasks are deleted

    async def close_manager(self) -> None:
        if self.manager is not None:
            await self.manager.close()


class TaskextPostgres(Taskext, PostgresPeer):
    unfinished_sql = "SELECT EXISTS (SELECT 1 FROM taskext_adhoc WHERE status IN ('pending', 'running'))"
    tables = "taskext_adhoc"

    def __init__(self, url: str, jobs: int, concurrency: int) -> None:
        PostgresPeer.__init__(self, url, jobs)
        self.concurrency = concurrency
        self.config = f"--concurrency {concurrency}"

    async def reset(self) -> None:
        for row in await self.observer.fetch("SELECT tablename FROM pg_tables WHERE tablename LIKE 'taskext%'"):
            await self.observer.execute(f'DROP TABLE IF EXISTS "{row[0]}" CASCADE')
        await self.open_manager()

    async def close(self) -> None:
        await self.close_manager()
        await PostgresPeer.close(self)


class TaskextSQLite(Taskext):
    store = "sqlite"

    def __init__(self, jobs: int, concurrency: int) -> None:
        self.jobs = jobs
        self.concurrency = concurrency
        self.config = f"--concurrency {concurrency}"
        self.path = Path(tempfile.mkdtemp(prefix="cluster-bench-")) / "cluster.db"
        self.url = f"sqlite:///{self.path}"

    async def open(self) -> None:
        await self.open_manager()

    def connected(self, process: psutil.Process) -> bool:
        return any(Path(f.path) == self.path for f in process.open_files())

    async def unfinished(self) -> bool:
        counts = await self.manager.store.adhoc_counts(now=datetime.now(UTC))
        return bool(counts["pending"] or counts["running"])

    async def close(self) -> None:
        await self.close_manager()


class Pgqueuer(PostgresPeer):
    peer = "pgqueuer"

    def __init__(self, url: str, jobs: int, batch_size: int) -> None:
        super().__init__(url, jobs)
        import peer_pgqueuer

        self.module = peer_pgqueuer
        self.batch_size = batch_size
        self.config = f"batch_size={batch_size}"
        schema = peer_pgqueuer.SCHEMA
        self.unfinished_sql = f"SELECT EXISTS (SELECT 1 FROM {schema}.pgqueuer WHERE status IN ('queued', 'picked'))"
        self.tables = f"{schema}.pgqueuer, {schema}.pgqueuer_log"
        self.queries: Any = None

    async def reset(self) -> None:
        await self.observer.execute(f"DROP SCHEMA IF EXISTS {self.module.SCHEMA} CASCADE")
        self.queries = self.module.queries(self.observer)
        await self.queries.install()  # what ``pgq install`` runs; creates the schema too

    async def enqueue(self, due: datetime) -> None:
        for offset in range(0, self.jobs, BATCH):
            count = min(self.jobs, offset + BATCH) - offset
            # execute_after is relative to the server's NOW(): aim every batch at the same moment.
            delay = due - datetime.now(UTC)
            await self.queries.enqueue(
                [self.module.ENTRYPOINT] * count,
                [str(offset + i).encode() for i in range(count)],
                [0] * count,
                execute_after=[delay] * count,
            )

    def command(self) -> tuple[list[str], dict[str, str]]:
        return (
            [sys.executable, "peer_pgqueuer.py", "--batch-size", str(self.batch_size)],
            worker_env(**{self.module.DSN_ENV: self.url}),
        )

    async def outcome(self) -> tuple[int, int]:
        rows = await self.observer.fetch(
            f"SELECT status::text, count(*) FROM {self.module.SCHEMA}.pgqueuer_log GROUP BY 1"
        )
        counts = {status: number for status, number in rows}
        return counts.get("successful", 0), counts.get("exception", 0) + counts.get("failed", 0)


class Procrastinate(PostgresPeer):
    peer = "procrastinate"

    def __init__(self, url: str, jobs: int, concurrency: int, poll: float) -> None:
        super().__init__(url, jobs)
        import peer_procrastinate

        self.module = peer_procrastinate
        self.concurrency = concurrency
        self.poll = poll
        self.config = f"--concurrency {concurrency} --fetch-job-polling-interval {poll:g}"
        self.unfinished_sql = (
            f"SELECT EXISTS (SELECT 1 FROM {peer_procrastinate.SCHEMA}.procrastinate_jobs"
            " WHERE status IN ('todo', 'doing'))"
        )
        self.tables = ", ".join(f"{peer_procrastinate.SCHEMA}.{table}" for table in ("procrastinate_jobs",
                                                                                      "procrastinate_events"))
        self.stack = contextlib.ExitStack()
        self.opened = False

    async def reset(self) -> None:
        schema = self.module.SCHEMA
        await self.observer.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
        app = self.stack.enter_context(self.module.app.replace_connector(self.module.connector(self.url)))
        await app.open_async()
        self.opened = True
        await app.schema_manager.apply_schema_async()  # what ``procrastinate schema --apply`` runs

    async def enqueue(self, due: datetime) -> None:
        deferrer = self.module.noop.configure(schedule_at=due)
        for offset in range(0, self.jobs, BATCH):
            await deferrer.batch_defer_async(*({"i": i} for i in range(offset, min(self.jobs, offset + BATCH))))

    def command(self) -> tuple[list[str], dict[str, str]]:
        return (
            [sys.executable, "-m", "procrastinate", "--log-level", "warning", "--app", "peer_procrastinate.app",
             "worker", "--concurrency", str(self.concurrency), "--fetch-job-polling-interval", str(self.poll)],
            worker_env(**{self.module.DSN_ENV: self.url}),
        )

    async def outcome(self) -> tuple[int, int]:
        rows = await self.observer.fetch(
            f"SELECT status::text, count(*) FROM {self.module.SCHEMA}.procrastinate_jobs GROUP BY 1"
        )
        counts = {status: number for status, number in rows}
        return counts.get("succeeded", 0), counts.get("failed", 0) + counts.get("aborted", 0)

    async def close(self) -> None:
        if self.opened:
            await self.module.app.close_async()
        self.stack.close()
        await super().close()


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def spawn(
    argv: list[str], env: dict[str, str], processes: int, log_stem: Path
) -> tuple[list[subprocess.Popen[bytes]], list[Any]]:
    """Start the worker processes in bench/, each writing its output to its own log file."""
    workers, log_files = [], []
    for number in range(processes):
        log = open(f"{log_stem}-{number}.log", "wb")  # noqa: SIM115  (closed by measure)
        log_files.append(log)
        workers.append(subprocess.Popen(argv, cwd=HERE, env=env, stdout=log, stderr=subprocess.STDOUT))
    return workers, log_files


async def measure(
    peer: Peer, processes: int, lead: float, timeout: float, logs: Path, analyze: bool
) -> dict[str, Any]:
    """Queue, start the workers, time the drain from the due moment until nothing is left."""
    row: dict[str, Any] = {"peer": peer.peer, "store": peer.store, "stats": None, "jobs": peer.jobs,
                           "processes": processes, "config": peer.config}
    if isinstance(peer, PostgresPeer):
        row["stats"] = "analyzed" if analyze else "none"
    workers: list[subprocess.Popen[bytes]] = []
    log_files: list[Any] = []
    try:
        await peer.open()
        due = datetime.now(UTC) + timedelta(seconds=lead)
        due_at = time.perf_counter() + lead
        started = time.perf_counter()
        await peer.enqueue(due)
        row["enqueue_per_s"] = round(peer.jobs / (time.perf_counter() - started))
        if analyze:
            await peer.analyze()
        argv, env = peer.command()
        spawned = time.perf_counter()
        workers, log_files = spawn(argv, env, processes, logs / f"{peer.peer}-{peer.store}")
        if due_at - time.perf_counter() < 1:
            raise RuntimeError("--lead too short: the jobs were due before the workers started")
        handles = [psutil.Process(worker.pid) for worker in workers]
        up: set[int] = set()
        while time.perf_counter() < due_at - 0.06 and len(up) < processes:
            for index, handle in enumerate(handles):
                if index not in up:
                    with contextlib.suppress(psutil.Error):
                        if peer.connected(handle):
                            up.add(index)
            await asyncio.sleep(0.05)
        row["up_s"] = round(time.perf_counter() - spawned, 2) if len(up) == processes else None
        await asyncio.sleep(max(0.0, due_at - time.perf_counter()))
        began = time.perf_counter()
        while await peer.unfinished():
            if time.perf_counter() - began > timeout:
                raise RuntimeError(f"not drained after {timeout:g} s")
            dead = [index for index, worker in enumerate(workers) if worker.poll() is not None]
            if dead:
                code, log = workers[dead[0]].returncode, Path(log_files[dead[0]].name)
                raise RuntimeError(f"a worker exited with code {code}:\n{tail(log)}")
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - began
        row["drain_s"] = round(elapsed, 3)
        row["drain_per_s"] = round(peer.jobs / elapsed)
        row["done"], row["failed"] = await peer.outcome()
    except Exception as exc:
        row["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        for log in log_files:
            log.close()
        with contextlib.suppress(Exception):
            await peer.close()
    return row


def selected(peers: str) -> list[str]:
    names: list[str] = []
    for name in (part.strip() for part in peers.split(",") if part.strip()):
        for run in ALIASES.get(name, (name,)):
            if run not in RUNS:
                raise SystemExit(f"--peers: unknown {name!r}; choose from all, taskext, {', '.join(RUNS)}")
            if run not in names:
                names.append(run)
    return [run for run in RUNS if run in names]


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def commit() -> str:
    """The checked-out commit, read-only (``git rev-parse``, ``git status``)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=HERE, capture_output=True, text=True)
    except OSError:
        return "?"
    return head.stdout.strip() + (" (working tree modified)" if dirty.stdout.strip() else "")


async def environment(url: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_before": [round(x, 2) for x in os.getloadavg()],
        "versions": {name: version(name) for name in ("taskext", "pgqueuer", "procrastinate", "asyncpg", "psycopg",
                                                         "uvloop")},
        "sqlite": sqlite3.sqlite_version,
    }
    meta["commit"] = commit()
    if url:
        import asyncpg

        conn = await asyncpg.connect(url)
        try:
            meta["postgresql"] = await conn.fetchval("SHOW server_version")
            meta["postgresql_settings"] = dict(await conn.fetch(
                "SELECT name, current_setting(name) FROM pg_settings WHERE name IN"
                " ('synchronous_commit', 'fsync', 'shared_buffers', 'autovacuum') ORDER BY name"
            ))
        finally:
            await conn.close()
    return meta


def make_peers(run: str, args: argparse.Namespace) -> list[Peer]:
    if run == "taskext-postgres":
        return [TaskextPostgres(args.postgres, args.tasks, args.concurrency)]
    if run == "taskext-sqlite":
        return [TaskextSQLite(args.tasks, args.concurrency)]
    if run == "pgqueuer":
        return [Pgqueuer(args.postgres, args.tasks, size) for size in args.pgqueuer_batch]
    return [Procrastinate(args.postgres, args.procrastinate_jobs, args.procrastinate_concurrency,
                          args.procrastinate_poll)]


async def main_async(args: argparse.Namespace) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    runs = selected(args.peers)
    meta = await environment(args.postgres)
    logs = Path(tempfile.mkdtemp(prefix="cluster-bench-logs-"))
    meta["worker_logs"] = str(logs)
    modes = {"no": [False], "yes": [True], "both": [False, True]}[args.analyze]
    results = []
    for run in runs:
        if run != "taskext-sqlite" and not args.postgres:
            results.append({"peer": run.split("-")[0], "store": "postgresql", "error": "skipped: no --postgres URL"})
    plan = [(run, analyze) for analyze in modes for run in runs if run != "taskext-sqlite" and args.postgres]
    plan += [(run, False) for run in runs if run == "taskext-sqlite"]
    for run, analyze in plan:
        for peer in make_peers(run, args):
            stats = "" if run == "taskext-sqlite" else (", analyzed" if analyze else ", no statistics")
            print(f"{run} ({peer.config}{stats}): {peer.jobs:,} jobs, {args.processes} processes ...",
                  file=sys.stderr, flush=True)
            results.append(await measure(peer, args.processes, args.lead, args.timeout, logs, analyze))
    meta["load_after"] = [round(x, 2) for x in os.getloadavg()]
    return meta, results


COLUMNS = [
    ("peer", "peer"), ("store", "store"), ("stats", "stats"), ("jobs", "jobs"), ("processes", "procs"),
    ("config", "worker options"),
    ("enqueue_per_s", "enqueue/s"), ("up_s", "up s"), ("drain_s", "drain s"), ("drain_per_s", "drain/s"),
    ("done", "done"), ("failed", "failed"),
]


TEXT_COLUMNS = ("peer", "store", "stats", "config")


def cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) and key not in ("processes",):
        return f"{value:,}"
    if key == "config":
        return f"`{value}`"
    return str(value)


def render(meta: dict[str, Any], results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    versions = ", ".join(f"{name} {number}" for name, number in meta["versions"].items())
    lines = [
        f"{meta['date']}, commit {meta.get('commit', '?')}, Python {meta['python']}, {meta['cpus']} CPUs,"
        f" load {meta['load_before']} before, {meta['load_after']} after",
        f"{versions}; PostgreSQL {meta.get('postgresql', '-')} {meta.get('postgresql_settings', '')};"
        f" SQLite {meta['sqlite']}",
        "",
        "| " + " | ".join(title for _, title in COLUMNS) + " |",
        "| " + " | ".join("---" if key in TEXT_COLUMNS else "---:" for key, _ in COLUMNS) + " |",
    ]
    for row in results:
        if "error" in row:
            lines.append(f"| {row['peer']} | {row['store']} | " + row["error"].replace("\n", " ")[:300] + " |")
            continue
        lines.append("| " + " | ".join(cell(key, row.get(key)) for key, _ in COLUMNS) + " |")
    notes = [
        f"Every run: {args.processes} worker processes on this machine, jobs queued {BATCH:,} per call, due"
        f" {args.lead:g} s after queueing began; drain = from the due moment until no job is queued or running.",
    ]
    if any(row.get("stats") for row in results):
        notes.append(
            "stats (PostgreSQL): 'none' = the queue tables were created empty and never analyzed (autovacuum is "
            f"{meta.get('postgresql_settings', {}).get('autovacuum', '?')} on this server), so the planner plans"
            " for an empty table; 'analyzed' = ANALYZE on the queue tables after queueing, before the workers start."
        )
    if any(row.get("peer") == "procrastinate" and "error" not in row for row in results):
        notes.append(
            f"procrastinate drains {args.procrastinate_jobs:,} jobs, not {args.tasks:,} (one job per fetch query"
            " and two commits per job make the full count too slow): compare its drain/s, not its drain s."
        )
    ours = [row for row in results if row.get("peer") == "taskext" and row.get("store") == "postgresql"
            and "drain_per_s" in row]
    if ours:
        worst = min(row["drain_per_s"] for row in ours)
        verdict = "met" if worst >= TARGET and args.processes == 4 else "NOT met"
        rates = ", ".join(f"{row['drain_per_s']:,}/s ({row['stats']})" for row in ours)
        notes.append(f"Target (issue #7): taskext >= {TARGET:,} tasks/s with 4 processes on PostgreSQL: {verdict}"
                     f" ({rates}; {args.processes} processes).")
        for mine in ours:
            for row in results:
                if row.get("peer") != "taskext" and row.get("drain_per_s") and row.get("stats") == mine["stats"]:
                    ratio = mine["drain_per_s"] / row["drain_per_s"]
                    notes.append(f"  stats {mine['stats']}: taskext / {row['peer']} ({row['config']}): x{ratio:.2f}")
    if any(row.get("up_s") is None and "error" not in row for row in results):
        notes.append("up s '-': not every worker was connected by the due moment; its drain includes start-up.")
    errors = [row for row in results if "error" in row and not row["error"].startswith("skipped")]
    if errors:
        notes.append(f"worker logs: {meta['worker_logs']}")
    return "\n".join([*lines, "", *notes])


def batch_sizes(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=50_000, help="jobs for taskext and pgqueuer")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=200,
                        help="taskext: ad hoc tasks at once per worker (= claim batch)")
    parser.add_argument("--pgqueuer-batch", type=batch_sizes, default=[10, 200],
                        help="pgqueuer: jobs per dequeue, one run each (default 10,200: pgq run's default, and"
                             " taskext's claim batch)")
    parser.add_argument("--procrastinate-jobs", type=int, default=2_000, help="procrastinate drains this many instead")
    parser.add_argument("--procrastinate-concurrency", type=int, default=10,
                        help="procrastinate: jobs at once per worker")
    parser.add_argument("--procrastinate-poll", type=float, default=0.1,
                        help="procrastinate: --fetch-job-polling-interval, so idle workers see the due jobs soon")
    parser.add_argument("--peers", default="all",
                        help=f"comma-separated: all (default), taskext (both stores), {', '.join(RUNS)}")
    parser.add_argument("--lead", type=float, default=6.0, help="seconds from queueing until the jobs fall due")
    parser.add_argument("--analyze", choices=("no", "yes", "both"), default="both",
                        help="PostgreSQL: ANALYZE the queue tables after queueing, before the workers start (default:"
                             " both, every PostgreSQL run once without and once with planner statistics)")
    parser.add_argument("--timeout", type=float, default=120.0, help="give up on a run not drained after this long")
    parser.add_argument("--postgres", default=os.environ.get("TASKEXT_TEST_POSTGRES_URL"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    meta, results = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps({"meta": meta, "results": results}, indent=2))
    else:
        print(render(meta, results, args))


if __name__ == "__main__":
    main()

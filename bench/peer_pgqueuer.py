"""The pgqueuer peer for bench/cluster.py: one no-op entrypoint, in its own PostgreSQL schema.

A worker process is this module::

    BENCH_PEER_DSN=postgresql://... python bench/peer_pgqueuer.py --batch-size 10

It does what ``pgq run peer_pgqueuer:create_queue_manager --batch-size 10`` does: a factory
returning an async context manager that yields the manager (pgqueuer's documented worker entry
point), run by ``pgqueuer.run`` on uvloop (``pgq run`` uses uvloop when it is installed, and
pgqueuer depends on it). The CLI itself is not used because ``pgq run`` in pgqueuer 1.6.0 with
typer 0.29 fails at start-up (``AttributeError: 'str' object has no attribute 'name'`` in
``setup_fancy_logger``). The queue lives in the ``bench_pgqueuer`` schema, so it never touches
another library's tables.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pgqueuer
import uvloop
from pgqueuer import Queries, QueueManager
from pgqueuer.adapters.persistence import qb
from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Job

SCHEMA = "bench_pgqueuer"
ENTRYPOINT = "bench_noop"
DSN_ENV = "BENCH_PEER_DSN"


def settings() -> qb.DBSettings:
    return qb.DBSettings(db_schema=SCHEMA)


def queries(connection: asyncpg.Connection) -> Queries:
    """pgqueuer's ``Queries`` over one asyncpg connection, bound to the bench schema."""
    names = settings()
    return Queries(
        AsyncpgDriver(connection),
        qbe=qb.QueryBuilderEnvironment(names),
        qbq=qb.QueryQueueBuilder(names),
        qbs=qb.QuerySchedulerBuilder(names),
    )


@asynccontextmanager
async def create_queue_manager() -> AsyncIterator[QueueManager]:
    connection = await asyncpg.connect(os.environ[DSN_ENV])
    try:
        manager = QueueManager(queries(connection), channel=settings().channel)

        @manager.entrypoint(ENTRYPOINT)
        async def noop(job: Job) -> None:
            return None

        yield manager
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="a pgqueuer worker for bench/cluster.py")
    parser.add_argument("--batch-size", type=int, default=10, help="jobs per dequeue (pgq run's default: 10)")
    args = parser.parse_args()
    uvloop.run(pgqueuer.run(create_queue_manager, batch_size=args.batch_size))


if __name__ == "__main__":
    main()

"""The procrastinate peer for bench/cluster.py: one no-op task, in its own PostgreSQL schema.

A worker process is procrastinate's own CLI, run from this directory::

    BENCH_PEER_DSN=postgresql://... python -m procrastinate --app peer_procrastinate.app worker --concurrency 10

The connector sets ``search_path`` to ``bench_procrastinate``, so the schema that
``app.schema_manager.apply_schema_async()`` (``procrastinate schema --apply``) creates, and
every query, stay out of the other libraries' tables.
"""

from __future__ import annotations

import os

import procrastinate

SCHEMA = "bench_procrastinate"
TASK = "bench_noop"
DSN_ENV = "BENCH_PEER_DSN"


def connector(dsn: str) -> procrastinate.PsycopgConnector:
    return procrastinate.PsycopgConnector(conninfo=dsn, kwargs={"options": f"-c search_path={SCHEMA}"})


app = procrastinate.App(connector=connector(os.environ.get(DSN_ENV, "")))


@app.task(name=TASK)
async def noop(i: int) -> None:
    return None

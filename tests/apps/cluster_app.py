"""A worker app for the multi-process tests: a 100 ms and a 1 s cluster loop (the latter's
ticks are claimed ahead, with the previous result) and two ad hoc handlers.

Each process appends what it ran to its own file under CLUSTER_OUT (one line per event,
flushed at once so a SIGKILL loses nothing that happened).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import taskext as tasks

OUT = Path(os.environ["CLUSTER_OUT"])
OUT.mkdir(parents=True, exist_ok=True)
LOG = open(OUT / f"{os.getpid()}.log", "a", buffering=1)  # noqa: SIM115 (lives as long as the process)


def record(line: str) -> None:
    LOG.write(line + "\n")


@tasks.loop(seconds=0.1, name="cluster.tick")
async def tick() -> None:
    assert tick.last_iteration is not None
    record(f"tick {tick.last_iteration.timestamp():.3f}")


@tasks.loop(seconds=1, name="cluster.ahead")
async def ahead() -> None:
    assert ahead.last_iteration is not None
    record(f"ahead {ahead.last_iteration.timestamp():.3f}")


@tasks.adhoc(name="cluster.noop", max_attempts=10)
async def noop(data: Any, ctx: tasks.AdhocContext) -> None:
    record(f"adhoc {data}")


@tasks.adhoc(name="cluster.slow", max_attempts=10)
async def slow(data: Any, ctx: tasks.AdhocContext) -> None:
    record(f"start {data}")
    await asyncio.sleep(float(os.environ.get("CLUSTER_SLOW", "0.02")))
    record(f"done {data}")

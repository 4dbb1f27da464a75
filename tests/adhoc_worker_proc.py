"""A bot process for tests/test_worker.py, to be killed with SIGKILL mid-task.

Usage: ``python tests/adhoc_worker_proc.py DATABASE_URL MARKER_DIR``

Runs a TaskManager whose worker holds short leases (1 s, renewed by heartbeats) and
whose handler writes ``MARKER_DIR/<task id>-<attempt>`` and then hangs.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import taskext
from taskext.manager import TaskManager

NAME = "test_worker.sigkill"


async def main(url: str, markers: Path) -> None:
    @taskext.adhoc(name=NAME, max_attempts=3)
    async def hang(data: Any, ctx: taskext.AdhocContext) -> None:
        (markers / f"{ctx.id}-{ctx.attempt}").write_text(str(os.getpid()))
        await asyncio.sleep(3600)

    manager = TaskManager(url, adhoc_lease=1.0, adhoc_poll_interval=0.05)
    await manager.open()
    (markers / "ready").write_text(str(os.getpid()))
    await asyncio.Event().wait()  # until killed


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))

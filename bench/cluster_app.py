"""The worker app for bench/cluster.py: one no-op ad hoc handler."""

from __future__ import annotations

from typing import Any

import taskext as tasks


@tasks.adhoc(name="bench.cluster.noop", max_attempts=3)
async def noop(data: Any, ctx: tasks.AdhocContext) -> None:
    return None

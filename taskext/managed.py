"""A loop as the task manager runs it: its policies and what it knows of its last runs."""

from __future__ import annotations

import asyncio
import traceback
from datetime import datetime, timedelta
from typing import Any

from .loops import Loop
from .retry import RetryPolicy
from .schedules import Schedule
from .store import RunRecord, TaskState

__all__ = ["_Managed"]


class _Managed:
    """A loop run by this manager, with its policies."""

    __slots__ = (
        "ahead",
        "cluster",
        "default",
        "default_fields",
        "grace",
        "group",
        "in_run",
        "loop",
        "manual_resume",
        "policy",
        "ran_last",
        "run_again",
        "state",
        "unsaved",
    )

    def __init__(self, loop: Loop[Any], default: Schedule, state: TaskState, policy: RetryPolicy) -> None:
        self.loop = loop
        self.default = default
        self.default_fields = loop._schedule_fields()
        self.state = state
        self.policy = policy
        self.grace: float | None = loop.options.get("misfire_grace")
        self.group: str | None = loop.options.get("exclusive")
        self.in_run = False
        self.run_again = False
        self.manual_resume: datetime | None = None
        self.cluster = _validate_scope(loop.options.get("scope", "cluster"), loop.name) == "cluster"
        # Whether this process ran the latest tick (cluster scope: only then it writes the row).
        self.ran_last = True
        # Cluster scope: the run whose result is still to be written, and the next tick
        # claimed ahead of time with that write (its instant, and whether it was won).
        self.unsaved: RunRecord | None = None
        self.ahead: tuple[datetime, asyncio.Future[bool]] | None = None


def _validate_scope(value: Any, name: str) -> str:
    if value not in ("cluster", "process"):
        raise ValueError(f"scope of task {name!r} must be 'cluster' or 'process', not {value!r}")
    return str(value)


def _short_traceback(exc: BaseException, limit: int = 2000) -> str:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-4))
    return text if len(text) <= limit else "..." + text[-limit:]


def _validate_grace(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"misfire_grace must be a non-negative number of seconds or a timedelta (got {value!r})")
    return float(value)

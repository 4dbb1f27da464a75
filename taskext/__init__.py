"""taskext: durable, observable background tasks for Pycord bots.

``import taskext as tasks`` is a drop-in for ``from discord.ext import tasks``.

Names are imported on first use, so ``python -m taskext`` and the store do not pay for
importing py-cord.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .clock import Clock, SystemClock
    from .errors import ScheduleError, TaskBusy, TaskextError, TaskNotFound
    from .handlers import Adhoc, AdhocContext, adhoc
    from .loops import Loop, loop
    from .manager import TaskInfo, TaskManager
    from .parsing import parse_schedule
    from .retry import ExponentialBackoff, FailDelay, RetryPolicy
    from .schedules import Cron, Interval, Schedule, TimesOfDay

__all__ = [
    "Adhoc",
    "AdhocContext",
    "Clock",
    "Cron",
    "ExponentialBackoff",
    "FailDelay",
    "Interval",
    "Loop",
    "RetryPolicy",
    "Schedule",
    "ScheduleError",
    "SystemClock",
    "TaskBusy",
    "TaskInfo",
    "TaskManager",
    "TaskNotFound",
    "TaskextError",
    "TimesOfDay",
    "adhoc",
    "loop",
    "parse_schedule",
]

__version__ = "0.1.0"

_HOMES = {
    "Adhoc": "handlers",
    "AdhocContext": "handlers",
    "adhoc": "handlers",
    "Clock": "clock",
    "SystemClock": "clock",
    "ScheduleError": "errors",
    "TaskBusy": "errors",
    "TaskextError": "errors",
    "TaskNotFound": "errors",
    "Loop": "loops",
    "loop": "loops",
    "TaskInfo": "manager",
    "TaskManager": "manager",
    "ExponentialBackoff": "retry",
    "FailDelay": "retry",
    "RetryPolicy": "retry",
    "Cron": "schedules",
    "Interval": "schedules",
    "Schedule": "schedules",
    "TimesOfDay": "schedules",
    "parse_schedule": "parsing",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'taskext' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])

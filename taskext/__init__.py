"""taskext: durable, observable background tasks for Pycord bots.

``import taskext as tasks`` is a drop-in for ``from discord.ext import tasks``.
"""

from __future__ import annotations

from .adhoc import Adhoc, AdhocContext, adhoc
from .clock import Clock, SystemClock
from .errors import ScheduleError, TaskextError, TaskNotFound
from .loop import Loop, loop
from .manager import TaskInfo, TaskManager
from .retry import ExponentialBackoff, FailDelay, RetryPolicy
from .schedules import Cron, Interval, Schedule, TimesOfDay, parse_schedule

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

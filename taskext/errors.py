"""The exception hierarchy: one base, each subclass also inherits the nearest builtin."""

from __future__ import annotations

__all__ = [
    "ScheduleError",
    "TaskBusy",
    "TaskNotFound",
    "TaskextError",
]


class TaskextError(Exception):
    """Base class of every error raised by taskext."""


class ScheduleError(TaskextError, ValueError):
    """A schedule expression or schedule argument is invalid.

    The message names the part that is wrong.
    """


class TaskNotFound(TaskextError, LookupError):
    """No task is known under the given name or id."""


class TaskBusy(TaskextError, RuntimeError):
    """The task is held by another process of the cluster (it runs it, or has claimed its
    next run), so it cannot be run here now."""

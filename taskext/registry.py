"""Where a starting loop finds the task manager that should run it.

Kept apart from the manager so that plain loops never import storage code.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .loops import Loop

__all__ = ["MANAGER_OPTIONS", "ManagerHooks", "activate", "deactivate", "find_manager"]

# Keyword arguments of ``taskext.loop`` that only a task manager reads.
MANAGER_OPTIONS = frozenset({"misfire_grace", "retry", "exclusive", "scope"})


class ManagerHooks(Protocol):
    """What a loop calls on the manager that runs it."""

    def wants(self, loop: Loop[Any]) -> bool: ...

    async def _loop_starting(self, loop: Any) -> None: ...

    async def _run_managed(
        self, loop: Any, scheduled: datetime, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None: ...

    async def _plan_managed(self, loop: Any, scheduled: datetime) -> None: ...

    def _loop_schedule_changed(self, loop: Loop[Any]) -> None: ...

    def _loop_stopped(self, loop: Any) -> None: ...


_active: dict[asyncio.AbstractEventLoop | None, ManagerHooks] = {}


def activate(manager: ManagerHooks, event_loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Make ``manager`` run the persistent loops started in ``event_loop`` (``None``: any)."""
    _active[event_loop] = manager


def deactivate(manager: ManagerHooks) -> None:
    """Forget ``manager`` wherever it was active."""
    for key in [key for key, value in _active.items() if value is manager]:
        del _active[key]


def find_manager(loop: Loop[Any]) -> ManagerHooks | None:
    """The manager that should run ``loop``, or ``None`` for a plain in-memory loop."""
    if not loop.persist or not _active:
        return None
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    manager = _active.get(running) or _active.get(None)
    if manager is None or not manager.wants(loop):
        return None
    return manager

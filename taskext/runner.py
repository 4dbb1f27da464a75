"""``taskext run NAME --app MODULE[:ATTR]``: run one scheduled task in this process.

The app is imported without connecting to Discord: an extension module (with ``setup``)
is loaded into a bot that never logs in, a ``discord.Bot`` or a ``Loop`` attribute is used
as it is, and a zero-argument callable is called to build one. The run takes the task's
lease, is recorded in the run log like a scheduled run, and gives the exit code.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import discord

from .errors import TaskNotFound
from .loops import Loop
from .manager import TaskManager, cog_loops
from .store import Outcome

__all__ = ["find_loops", "run_task"]

LEASE = timedelta(hours=1)


def _loops_of(obj: Any) -> list[Loop[Any]]:
    if isinstance(obj, Loop):
        return [obj]
    if isinstance(obj, discord.Client):
        return [loop for cog in list(getattr(obj, "cogs", {}).values()) for loop in cog_loops(cog)]
    if isinstance(obj, ModuleType):
        return [value for value in vars(obj).values() if isinstance(value, Loop)]
    return cog_loops(obj)


async def find_loops(app: str) -> tuple[list[Loop[Any]], discord.Client | None]:
    """Import ``MODULE[:ATTR]`` and return the loops it defines (and the offline bot, if any)."""
    module_name, _, attribute = app.partition(":")
    if not module_name:
        raise ValueError(f"--app {app!r}: name a module, as in cogs.leaderboard or mybot:bot")
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"--app {app!r}: cannot import {module_name!r}: {exc}") from None
    bot: discord.Client | None = None
    if attribute:
        try:
            target: Any = getattr(module, attribute)
        except AttributeError:
            raise ValueError(f"--app {app!r}: module {module_name!r} has no attribute {attribute!r}") from None
        if callable(target) and not isinstance(target, (Loop, discord.Client)):
            target = target()
        if isinstance(target, discord.Client):
            bot = target
        return _loops_of(target), bot
    loops = _loops_of(module)
    if hasattr(module, "setup"):
        bot = discord.Bot()
        bot.load_extension(module_name)
        loops.extend(_loops_of(bot))
    return loops, bot


async def run_task(name: str, app: str, url: str) -> int:
    """Run ``name`` once; 0 succeeded, 1 failed, 2 unknown task, 3 running elsewhere."""
    # What the task logs at INFO is shown and kept with the run (Moodle's mtrace).
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    manager = TaskManager(url, run_worker=False)
    await manager.open()
    # Loops the app starts (a cog's __init__) stay in memory: this process must not plan them.
    from . import registry

    registry.deactivate(manager)
    bot: discord.Client | None = None
    try:
        loops, bot = await find_loops(app)
        for loop in loops:
            if loop.is_running():
                loop.cancel()
        await asyncio.gather(*(t for loop in loops if (t := loop.get_task()) is not None), return_exceptions=True)
        matches = [loop for loop in loops if loop.name == name]
        if not matches:
            known = ", ".join(sorted({loop.name for loop in loops})) or "none"
            raise TaskNotFound(f"no task named {name!r} in {app} (tasks found: {known})")
        loop = matches[0]
        await manager.register(loop)
        now = manager.clock.now()
        holder = await manager.store.acquire_task(name, manager.worker_id, now=now, until=now + LEASE)
        if holder is not None:
            print(f"taskext: {name!r} is running elsewhere (lease held by {holder})", file=sys.stderr)
            return 3
        try:
            record = await manager.run_now(name)
        finally:
            await manager.store.release_task(name, manager.worker_id)
        assert record is not None
        print(f"{name}: {record.outcome.value} in {record.duration.total_seconds() if record.duration else 0:.3f}s")
        if record.output:
            print(record.output)
        if record.error:
            print(record.error.rstrip(), file=sys.stderr)
        return 0 if record.outcome is Outcome.SUCCEEDED else 1
    finally:
        await manager.close()
        if bot is not None:
            await bot.close()


async def run_worker(app: str, url: str, *, options: dict[str, Any] | None = None) -> int:
    """``taskext worker --app MODULE``: run tasks without a gateway connection.

    The app's extensions are loaded into a bot that never connects to the gateway; with
    ``DISCORD_TOKEN`` set it logs in over REST, so handlers can still call Discord's API
    (``fetch_*``, sending messages). Cluster-scope loops and ad hoc tasks are shared with
    the bot processes through the store. Stops on SIGINT or SIGTERM.
    """
    import contextlib
    import os
    import signal

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    module_name, _, attribute = app.partition(":")
    if attribute or not module_name:
        raise ValueError(f"--app {app!r}: the worker takes a module (an extension with setup(bot), or loops)")
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    bot = discord.Bot()
    manager = TaskManager(url, **(options or {})).setup(bot)
    await manager.open()
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"--app {app!r}: cannot import {module_name!r}: {exc}") from None
    if hasattr(module, "setup"):
        bot.load_extension(module_name)
    for loop in _loops_of(module):
        if not loop.is_running():
            loop.start()
    token = os.environ.get("DISCORD_TOKEN", "").strip()
    if token:
        await bot.login(token)  # REST only: no gateway
    bot._handle_ready()  # before_loop hooks waiting for readiness may proceed
    await manager.scan(bot)
    manager.handlers_ready = True
    if manager.worker is not None:
        manager.worker.wake()
    stop = asyncio.Event()
    running = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            running.add_signal_handler(sig, stop.set)
    print(f"taskext worker {manager.worker_id} running {app} on {manager.store.url}", flush=True)
    await stop.wait()
    await bot.close()  # stops loops and the worker, flushes, closes the store
    return 0

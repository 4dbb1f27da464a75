"""``python bot.py`` against a local stand-in for Discord, for tests/test_bot.py.

Usage: ``python tests/bot_against.py API_BASE_URL path/to/bot.py``

Points py-cord's API base URL at ``API_BASE_URL`` (the test's aiohttp server), then runs bot.py as
``__main__`` with its directory first on ``sys.path``, as ``python bot.py`` does. The sample bot
defines no ad hoc handler, so this module declares one, ``probe.hold``, which the bot's own worker
runs: it logs ``probe.hold <id> started``, waits until the file named by its data's ``release``
exists, then logs ``probe.hold <id> finished``. The test decides when work running at shutdown
may finish.
"""

from __future__ import annotations

import asyncio
import logging
import os
import runpy
import sys
from pathlib import Path
from typing import Any

import discord.http

import taskext

PROBE = "probe.hold"
log = logging.getLogger("probe")


@taskext.adhoc(name=PROBE, max_attempts=1)
async def hold(data: Any, context: taskext.AdhocContext) -> None:
    log.info("%s %d started", PROBE, context.id)
    release = Path(data["release"])
    while not await asyncio.to_thread(release.exists):
        await asyncio.sleep(0.05)
    log.info("%s %d finished", PROBE, context.id)


if __name__ == "__main__":
    discord.http.Route.API_BASE_URL = sys.argv[1]
    sys.argv = sys.argv[2:]
    sys.path[0] = os.path.dirname(os.path.abspath(sys.argv[0]))
    runpy.run_path(sys.argv[0], run_name="__main__")

"""Fixture app for tests/test_runner.py: module-level ``taskext.loop`` loops (no cog, no bot)."""

from __future__ import annotations

import logging
from typing import Any

import taskext

CALLS: list[str] = []
LABEL = "not a loop"


@taskext.loop(minutes=15, name="cli_runner_ok")
async def digest() -> None:
    CALLS.append("cli_runner_ok")
    digest.logger.info("digested %d items", 7)
    logging.getLogger("cli_loops_app").warning("one item skipped")


@taskext.loop(hours=1, name="cli_runner_fail")
async def broken() -> None:
    CALLS.append("cli_runner_fail")
    raise RuntimeError("cli runner boom")


@taskext.loop(cron="0 3 * * *", name="cli_runner_nightly")
async def nightly() -> None:
    CALLS.append("cli_runner_nightly")


def build_loop() -> taskext.Loop[Any]:
    """A zero-argument factory: ``--app cli_loops_app:build_loop``."""

    async def built() -> None:
        CALLS.append("cli_runner_built")

    return taskext.loop(minutes=5, name="cli_runner_built")(built)

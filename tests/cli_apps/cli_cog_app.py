"""Fixture app for tests/test_runner.py: a cog extension (``setup(bot)``) and a bot factory."""

from __future__ import annotations

import discord
from discord.ext import commands

import taskext

CALLS: list[str] = []


class CliRunnerCog(commands.Cog):
    def __init__(self, bot: discord.Bot) -> None:
        self.bot = bot
        self.digest.start()  # as bots do; ``taskext run`` must not let this loop run on its own

    def cog_unload(self) -> None:
        self.digest.cancel()

    @taskext.loop(minutes=30)
    async def digest(self) -> None:
        CALLS.append(f"digest:{type(self).__name__}")
        self.digest.logger.info("cog digest ran")


def setup(bot: discord.Bot) -> None:
    bot.add_cog(CliRunnerCog(bot))


def create_bot() -> discord.Bot:
    """A zero-argument factory returning a bot with the cog: ``--app cli_cog_app:create_bot``."""
    bot = discord.Bot()
    bot.add_cog(CliRunnerCog(bot))
    return bot

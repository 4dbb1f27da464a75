"""The seed guide's LeaderboardCog, done properly.

Members earn activity points from their messages (one point per member per cooldown, bots
ignored), kept in SQLite through aiosqlite. The ``update_leaderboard`` loop recomputes each
guild's top 10 every 10 minutes and caches an embed per guild, so ``/leaderboard view`` is
cheap. Loaded into a bot with a task manager the loop is a managed task (its interval is an
owner override that survives restarts); without one it is a plain in-memory loop.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite
import discord
from discord.ext import commands

import taskext as tasks
from taskext.manager import TaskManager

log = logging.getLogger(__name__)

COOLDOWN = timedelta(seconds=60)
TOP = 10
ADMIN_ONLY = discord.Permissions(administrator=True)
SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    guild_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    points INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (guild_id, user_id)
)
"""


class Points:
    """Activity points per guild member in a SQLite file (a connection per call: no idle thread)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._ready = False

    async def _connect(self) -> aiosqlite.Connection:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(self.path)
        if not self._ready:
            await conn.execute(SCHEMA)
            await conn.commit()
            self._ready = True
        return conn

    async def award(self, guild_id: int, user_id: int, name: str, amount: int = 1) -> None:
        conn = await self._connect()
        try:
            await conn.execute(
                "INSERT INTO points (guild_id, user_id, name, points) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (guild_id, user_id)"
                " DO UPDATE SET points = points + excluded.points, name = excluded.name",
                (guild_id, user_id, name, amount),
            )
            await conn.commit()
        finally:
            await conn.close()

    async def top(self) -> dict[int, list[tuple[str, int]]]:
        """Each guild's top members, best first (ties by name)."""
        conn = await self._connect()
        try:
            rows = await conn.execute_fetchall(
                "SELECT guild_id, name, points FROM ("
                " SELECT guild_id, name, points,"
                " ROW_NUMBER() OVER (PARTITION BY guild_id ORDER BY points DESC, name) AS rank FROM points"
                ") WHERE rank <= ? ORDER BY guild_id, rank",
                (TOP,),
            )
        finally:
            await conn.close()
        result: dict[int, list[tuple[str, int]]] = {}
        for guild_id, name, points in rows:
            result.setdefault(guild_id, []).append((name, points))
        return result


def leaderboard_embed(ranking: list[tuple[str, int]], computed: datetime) -> discord.Embed:
    medals = ["🥇", "🥈", "🥉"]
    lines = [
        f"{medals[i] if i < 3 else f'`{i + 1}.`'} **{discord.utils.escape_markdown(name)}**: "
        f"{points} point{'' if points == 1 else 's'}"
        for i, (name, points) in enumerate(ranking)
    ]
    embed = discord.Embed(
        title="Leaderboard",
        description="\n".join(lines) or "No activity yet.",
        colour=discord.Colour.gold(),
    )
    embed.add_field(name="Computed", value=discord.utils.format_dt(computed, "R"))
    return embed


class LeaderboardCog(commands.Cog, name="Leaderboard"):
    """Activity points, a cached leaderboard, and owner controls over its update loop."""

    # Leaderboards are per server: the commands are offered in servers only.
    leaderboard = discord.SlashCommandGroup(
        "leaderboard", "Leaderboard commands.", contexts={discord.InteractionContextType.guild}
    )
    leaderboard_config = discord.SlashCommandGroup(
        "leaderboard_config", "Leaderboard configuration commands (owner only).", default_member_permissions=ADMIN_ONLY
    )

    def __init__(self, bot: discord.Bot, *, database: str | None = None) -> None:
        self.bot = bot
        self.points = Points(database or os.environ.get("LEADERBOARD_DATABASE") or "data/leaderboard.db")
        self.embeds: dict[int, tuple[discord.Embed, datetime]] = {}
        self.last_update: datetime | None = None
        self.updates_this_session = 0
        self._last_award: dict[tuple[int, int], datetime] = {}
        self.update_leaderboard.start()

    def cog_unload(self) -> None:
        self.update_leaderboard.cancel()

    # ------------------------------------------------------------------ points

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.guild is None:
            return
        key = (message.guild.id, message.author.id)
        now = self.update_leaderboard.clock.now()
        last = self._last_award.get(key)
        if last is not None and now - last < COOLDOWN:
            return
        self._last_award[key] = now
        await self.points.award(message.guild.id, message.author.id, message.author.display_name)

    # ------------------------------------------------------------------ the loop

    @tasks.loop(minutes=10)
    async def update_leaderboard(self) -> None:
        self.update_leaderboard.logger.info("Updating leaderboard...")
        now = self.update_leaderboard.clock.now()
        for guild_id, ranking in (await self.points.top()).items():
            self.embeds[guild_id] = (leaderboard_embed(ranking, now), now)
        self.last_update = now
        self.updates_this_session += 1

    @update_leaderboard.before_loop
    async def before_update_leaderboard(self) -> None:
        log.info("About to start updating leaderboard.")
        await self.bot.wait_until_ready()

    @update_leaderboard.after_loop
    async def after_update_leaderboard(self) -> None:
        log.info("Stopped updating leaderboard.")

    @update_leaderboard.error
    async def update_leaderboard_error(self, error: BaseException) -> None:
        log.error("An error occurred while updating the leaderboard: %s", error, exc_info=error)

    # ------------------------------------------------------------------ /leaderboard

    @leaderboard.command(description="This server's leaderboard.")
    async def view(self, ctx: discord.ApplicationContext) -> None:
        cached = self.embeds.get(ctx.guild_id) if ctx.guild_id else None
        if cached is None and ctx.guild_id and self.last_update is not None:
            # Computed, but nobody here has earned a point yet.
            await ctx.respond(embed=leaderboard_embed([], self.last_update))
            return
        if cached is None:
            upcoming = self.update_leaderboard.next_iteration
            later = f" The next update is {discord.utils.format_dt(upcoming, 'R')}." if upcoming else ""
            await ctx.respond(f"The leaderboard has not been computed yet.{later}", ephemeral=True)
            return
        await ctx.respond(embed=cached[0])

    @leaderboard.command(description="When the leaderboard was and will be updated.")
    async def info(self, ctx: discord.ApplicationContext) -> None:
        loop = self.update_leaderboard
        schedule = loop.schedule
        between = schedule.to_text() if schedule is not None else "back to back"
        last = discord.utils.format_dt(self.last_update, "R") if self.last_update else "not yet"
        upcoming = loop.next_iteration
        following = discord.utils.format_dt(upcoming, "R") if upcoming else "not scheduled"
        await ctx.respond(
            "***Leaderboard Info***\n"
            f"Last update: {last}\n"
            f"Next update: {following}\n"
            f"Time between updates: {between}\n"
            f"Times updated this session: {self.updates_this_session}\n"
            f"Running? {loop.is_running()}\n"
            f"Failed? {loop.failed()}",
            ephemeral=True,
        )

    # ------------------------------------------------------------------ /leaderboard_config (owner only)

    @leaderboard_config.command(description="Set the minutes between leaderboard updates.")
    @commands.is_owner()
    @discord.option("minutes", int, description="Minutes between updates", min_value=1, max_value=1440)
    async def set_time_between_updates(self, ctx: discord.ApplicationContext, minutes: int) -> None:
        if not 1 <= minutes <= 1440:
            raise ValueError(f"minutes must be between 1 and 1440, not {minutes}")
        manager = TaskManager.of(self.bot)
        loop = self.update_leaderboard
        managed = manager is not None and loop.manager is manager
        if manager is not None and managed:
            await manager.set_schedule(loop.name, f"{minutes}m")  # an override: survives restarts
        else:
            loop.change_interval(minutes=minutes)
        await ctx.respond(f"Set time between updates to {minutes} minutes.", ephemeral=True)

    @leaderboard_config.command(description="Stop updating the leaderboard.")
    @commands.is_owner()
    async def stop(self, ctx: discord.ApplicationContext) -> None:
        self.update_leaderboard.stop()
        await ctx.respond("Stopped the leaderboard update.", ephemeral=True)

    @leaderboard_config.command(description="Restart the leaderboard update loop.")
    @commands.is_owner()
    async def restart(self, ctx: discord.ApplicationContext) -> None:
        self.update_leaderboard.restart()
        await ctx.respond("Restarted the leaderboard update.", ephemeral=True)

    async def cog_command_error(self, ctx: discord.ApplicationContext, error: Exception) -> None:
        original: Any = getattr(error, "original", error)
        if isinstance(error, commands.NotOwner):
            text = "Only the bot's owners can change the leaderboard settings."
        elif isinstance(original, (ValueError, LookupError)):
            text = str(original)
        else:
            log.error("/%s failed", ctx.command, exc_info=original)
            text = "Something went wrong."
        await ctx.respond(text, ephemeral=True)


def setup(bot: discord.Bot) -> None:
    bot.add_cog(LeaderboardCog(bot))

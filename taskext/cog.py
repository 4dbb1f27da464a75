"""``/tasks``: an owner-only command group to see and steer every background task.

Load it into any bot that has a task manager::

    bot.load_extension("taskext.cog")

Every reply is ephemeral. Non-owners are refused inside the bot, and the group is hidden from
non-administrators through default member permissions.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime
from typing import Any

import discord
from discord.ext import commands

from .errors import TaskextError, TaskNotFound
from .manager import TaskInfo, TaskManager
from .store import AdhocStatus, AdhocTask, Claim, RunRecord, TaskState

__all__ = ["TasksCog", "setup"]

log = logging.getLogger("taskext.cog")

PAGE_SIZE = 8
COLOUR = discord.Colour.blurple()
ERROR_COLOUR = discord.Colour.red()
ADMIN_ONLY = discord.Permissions(administrator=True)


def when(dt: datetime | None, style: str = "R") -> str:
    """A Discord timestamp (each client renders it in its own zone), or a dash."""
    return discord.utils.format_dt(dt, style) if dt is not None else "—"  # type: ignore[arg-type]


def seconds_text(seconds: float) -> str:
    seconds = int(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            count, seconds = divmod(seconds, size)
            parts.append(f"{count}{unit}")
    if seconds or not parts:
        parts.append(f"{seconds}s")
    return "".join(parts)


def embed(title: str, description: str = "", *, error: bool = False) -> discord.Embed:
    result = discord.Embed(title=title, description=description, colour=ERROR_COLOUR if error else COLOUR)
    result.set_footer(text="taskext")
    return result


def status_of(info: TaskInfo) -> str:
    state = info.state
    if info.orphaned:
        return "orphaned"
    if state.disabled:
        return "disabled"
    if state.paused:
        return "paused"
    if state.failures:
        return f"failing ({state.failures} in a row)"
    return "running" if info.running else "stopped"


def schedule_line(state: TaskState) -> str:
    if state.override_schedule is not None:
        note = " (default changed in code)" if state.default_changed else ""
        return f"`{state.override_schedule}` overridden, default `{state.default_schedule}`{note}"
    return f"`{state.default_schedule}` default"


def manager_of(bot: Any) -> TaskManager:
    manager = TaskManager.of(bot)
    if manager is None:
        raise TaskextError("this bot has no task manager: call TaskManager(...).setup(bot) first")
    return manager


async def task_names(ctx: discord.AutocompleteContext) -> list[str]:
    """Autocomplete: task names containing what was typed (owners only)."""
    manager = TaskManager.of(ctx.bot)
    user = ctx.interaction.user
    if manager is None or user is None or not await ctx.bot.is_owner(user):
        return []
    typed = str(ctx.value or "").lower()
    names = [info.name for info in await manager.tasks()]
    return [name for name in names if typed in name.lower()][:25]


class TasksCog(commands.Cog):
    """Owner commands over the bot's task manager."""

    tasks = discord.SlashCommandGroup(
        "tasks", "See and steer the bot's background tasks (owner only)", default_member_permissions=ADMIN_ONLY
    )

    def __init__(self, bot: discord.Bot) -> None:
        self.bot = bot

    async def cog_check(self, ctx: discord.ApplicationContext) -> bool:  # type: ignore[override]
        return await self.bot.is_owner(ctx.author)

    async def cog_command_error(self, ctx: discord.ApplicationContext, error: Exception) -> None:
        original = getattr(error, "original", error)
        if isinstance(error, discord.CheckFailure):
            text = "Only the bot's owners can use `/tasks`."
        elif isinstance(original, (TaskextError, ValueError, TypeError, LookupError)):
            text = str(original).strip("'\"") if isinstance(original, KeyError) else str(original)
        else:
            log.error("/tasks %s failed", ctx.command, exc_info=original)
            text = f"Something went wrong: {type(original).__name__}."
        await ctx.respond(embed=embed("Not done", text, error=True), ephemeral=True)

    async def reply(self, ctx: discord.ApplicationContext, title: str, description: str = "") -> None:
        await ctx.respond(embed=embed(title, description), ephemeral=True)

    # ------------------------------------------------------------------ scheduled tasks

    @tasks.command(name="list", description="Every task: schedule, last and next run, status")
    @discord.option("page", int, description="Page number", min_value=1, default=1)
    async def list_tasks(self, ctx: discord.ApplicationContext, page: int = 1) -> None:
        manager = manager_of(self.bot)
        infos = await manager.tasks()
        pages = max(1, -(-len(infos) // PAGE_SIZE))
        if page > pages:
            raise ValueError(f"page {page} does not exist: there are {pages} page(s)")
        result = embed("Tasks", await self.health(manager, infos))
        for info in infos[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]:
            state = info.state
            last = f"{when(state.last_started)} ({state.last_outcome.value})" if state.last_outcome else "never"
            lines = [
                schedule_line(state),
                f"last {last} · next {when(info.next_run)}",
                f"status **{status_of(info)}**"
                + (f" · fail delay {seconds_text(state.fail_delay)}" if state.fail_delay else ""),
            ]
            result.add_field(name=info.name, value="\n".join(lines), inline=False)
        if not infos:
            result.add_field(name="No tasks", value="No scheduled task has been registered yet.", inline=False)
        result.set_footer(text=f"taskext · page {page}/{pages}")
        await ctx.respond(embed=result, ephemeral=True)

    async def health(self, manager: TaskManager, infos: list[TaskInfo]) -> str:
        """Moodle-style health line: failing tasks, due ad hoc tasks and the oldest one's age."""
        failing = [info.name for info in infos if info.state.failures]
        counts = await manager.queue_health()
        parts = []
        if failing:
            parts.append(f"⚠️ {len(failing)} failing: {', '.join(failing[:3])}{'…' if len(failing) > 3 else ''}")
        due = counts["due"]
        if due:
            oldest = counts["oldest_due"]
            parts.append(f"⏳ {due} ad hoc due, oldest {when(oldest if isinstance(oldest, datetime) else None)}")
        if counts["failed"]:
            parts.append(f"❌ {counts['failed']} ad hoc failed")
        return " · ".join(parts) if parts else "✅ All tasks healthy, no ad hoc task waiting."

    @tasks.command(name="info", description="Everything about one task")
    @discord.option("name", str, description="Task name", autocomplete=task_names)
    async def info(self, ctx: discord.ApplicationContext, name: str) -> None:
        manager = manager_of(self.bot)
        info = await manager.task(name)
        state = info.state
        stats = await manager.stats(name)
        result = embed(name, schedule_line(state))
        result.add_field(name="Status", value=status_of(info))
        result.add_field(name="Next run", value=when(info.next_run))
        result.add_field(name="Runs", value=str(state.run_count))
        result.add_field(
            name="Last run",
            value=f"{when(state.last_started)} ({state.last_outcome.value})" if state.last_outcome else "never",
        )
        result.add_field(name="Fail delay", value=seconds_text(state.fail_delay) if state.fail_delay else "none")
        mean = f"{stats.mean_duration:.3f} s" if stats.mean_duration is not None else "—"
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(stats.by_outcome.items())) or "none kept"
        result.add_field(name="Kept runs", value=f"{outcomes}; mean {mean}")
        if state.last_error:
            result.add_field(name="Last error", value=f"```{state.last_error[-900:]}```", inline=False)
        await ctx.respond(embed=result, ephemeral=True)

    @tasks.command(name="schedule", description="Override a task's schedule (10m, 09:00 Europe/Paris, */5 * * * *)")
    @discord.option("name", str, description="Task name", autocomplete=task_names)
    @discord.option("expression", str, description="Interval, times of day, or cron")
    async def schedule(self, ctx: discord.ApplicationContext, name: str, expression: str) -> None:
        state = await manager_of(self.bot).set_schedule(name, expression)
        await self.reply(ctx, "Schedule overridden", f"**{name}** now runs on `{state.override_schedule}`.")

    @tasks.command(name="reset", description="Drop a task's override: the default from code applies")
    @discord.option("name", str, description="Task name", autocomplete=task_names)
    async def reset(self, ctx: discord.ApplicationContext, name: str) -> None:
        state = await manager_of(self.bot).reset_schedule(name)
        await self.reply(ctx, "Schedule reset", f"**{name}** runs on its default `{state.default_schedule}` again.")

    @tasks.command(name="run", description="Run a task now (its schedule is unchanged)")
    @discord.option("name", str, description="Task name", autocomplete=task_names)
    async def run(self, ctx: discord.ApplicationContext, name: str) -> None:
        record = await manager_of(self.bot).run_now(name)
        detail = "It is running now." if record is None else f"It ran: {record.outcome.value}."
        await self.reply(ctx, "Run requested", f"**{name}**: {detail}")

    @tasks.command(name="stop", description="Stop a task's loop after its current run")
    @discord.option("name", str, description="Task name", autocomplete=task_names)
    async def stop(self, ctx: discord.ApplicationContext, name: str) -> None:
        was = manager_of(self.bot).stop_loop(name)
        await self.reply(
            ctx, "Stopped" if was else "Not running", f"**{name}** {'stops' if was else 'was not running'}."
        )

    @tasks.command(name="start", description="Start a stopped task's loop")
    @discord.option("name", str, description="Task name", autocomplete=task_names)
    async def start(self, ctx: discord.ApplicationContext, name: str) -> None:
        started = manager_of(self.bot).start_loop(name)
        await self.reply(ctx, "Started" if started else "Already running", f"**{name}**.")

    @tasks.command(name="restart", description="Restart a task's loop")
    @discord.option("name", str, description="Task name", autocomplete=task_names)
    async def restart(self, ctx: discord.ApplicationContext, name: str) -> None:
        manager_of(self.bot).restart_loop(name)
        await self.reply(ctx, "Restarted", f"**{name}** restarts.")

    @tasks.command(name="enable", description="Schedule a disabled task again")
    @discord.option("name", str, description="Task name", autocomplete=task_names)
    async def enable(self, ctx: discord.ApplicationContext, name: str) -> None:
        await manager_of(self.bot).enable(name)
        await self.reply(ctx, "Enabled", f"**{name}** is scheduled again.")

    @tasks.command(name="disable", description="Stop scheduling a task until enabled (survives restarts)")
    @discord.option("name", str, description="Task name", autocomplete=task_names)
    async def disable(self, ctx: discord.ApplicationContext, name: str) -> None:
        await manager_of(self.bot).disable(name)
        await self.reply(ctx, "Disabled", f"**{name}** will not run until enabled.")

    @tasks.command(name="history", description="A task's latest runs")
    @discord.option("name", str, description="Task name", autocomplete=task_names)
    @discord.option("limit", int, description="How many runs", min_value=1, max_value=20, default=10)
    async def history(self, ctx: discord.ApplicationContext, name: str, limit: int = 10) -> None:
        runs = await manager_of(self.bot).history(name, limit=limit)
        lines = [self.run_line(run) for run in runs] or ["No runs kept."]
        await self.reply(ctx, f"History of {name}", "\n".join(lines)[:4000])

    @staticmethod
    def run_line(run: RunRecord) -> str:
        duration = f" in {run.duration.total_seconds():.2f}s" if run.duration is not None else ""
        error = f" — `{(run.error or '').strip().splitlines()[-1][:120]}`" if run.error else ""
        return f"{when(run.started or run.scheduled)} **{run.outcome.value}**{duration}{error}"

    # ------------------------------------------------------------------ ad hoc tasks

    @tasks.command(name="queue", description="Pending and failed ad hoc tasks")
    async def queue(self, ctx: discord.ApplicationContext) -> None:
        manager = manager_of(self.bot)
        counts = await manager.queue_health()
        result = embed(
            "Ad hoc queue",
            f"{counts['pending']} pending ({counts['due']} due) · {counts['running']} running · "
            f"{counts['failed']} failed",
        )
        for status in (AdhocStatus.PENDING, AdhocStatus.FAILED):
            tasks = await manager.queue(status, limit=10)
            value = "\n".join(self.adhoc_line(task) for task in tasks) or "none"
            result.add_field(name=status.value.capitalize(), value=value[:1024], inline=False)
        await ctx.respond(embed=result, ephemeral=True)

    @staticmethod
    def adhoc_line(task: AdhocTask) -> str:
        error = f" — `{(task.last_error or '').strip().splitlines()[-1][:80]}`" if task.last_error else ""
        return f"`#{task.id}` **{task.name}** {when(task.run_at)} · attempt {task.attempts}/{task.max_attempts}{error}"

    @tasks.command(name="retry", description="Queue a failed ad hoc task again")
    @discord.option("id", int, description="Ad hoc task id", min_value=1)
    async def retry(self, ctx: discord.ApplicationContext, id: int) -> None:
        task = await manager_of(self.bot).retry(id)
        await self.reply(ctx, "Queued again", f"`#{task.id}` **{task.name}** runs {when(task.run_at)}.")

    @tasks.command(name="cancel", description="Remove a pending or failed ad hoc task")
    @discord.option("id", int, description="Ad hoc task id", min_value=1)
    async def cancel(self, ctx: discord.ApplicationContext, id: int) -> None:
        task = await manager_of(self.bot).cancel(id)
        await self.reply(ctx, "Cancelled", f"`#{task.id}` **{task.name}** was removed.")

    # ------------------------------------------------------------------ alerts

    @commands.Cog.listener()
    async def on_taskext_task_max_fail_delay(self, run: RunRecord, state: TaskState) -> None:
        await self.alert(
            f"Task **{state.name}** keeps failing: {state.failures} failures in a row, now retried every "
            f"{seconds_text(state.fail_delay)}.\n```{(state.last_error or '')[-800:]}```"
        )

    @commands.Cog.listener()
    async def on_taskext_adhoc_failed(self, claim: Claim, error: str) -> None:
        await self.alert(
            f"Ad hoc task `#{claim.id}` **{claim.name}** failed {claim.attempt} time{'' if claim.attempt == 1 else 's'}"
            " and is kept as failed "
            f"(`/tasks retry {claim.id}`).\n```{error[-800:]}```"
        )

    async def alert(self, text: str) -> None:
        """Post in ``TASKEXT_ALERT_CHANNEL_ID`` if set, else DM every owner."""
        message = embed("taskext alert", text[:4000], error=True)
        channel_id = os.environ.get("TASKEXT_ALERT_CHANNEL_ID", "").strip()
        try:
            if channel_id:
                channel = self.bot.get_channel(int(channel_id)) or await self.bot.fetch_channel(int(channel_id))
                await channel.send(embed=message)  # type: ignore[union-attr]
                return
            for owner_id in await owner_ids(self.bot):
                user = self.bot.get_user(owner_id) or await self.bot.fetch_user(owner_id)
                await user.send(embed=message)
        except (discord.HTTPException, ValueError) as exc:
            log.warning("taskext: could not deliver an alert: %s", exc)


async def owner_ids(bot: discord.Bot) -> list[int]:
    """``bot.owner_ids``/``owner_id``, else the application's owner or team members."""
    if bot.owner_ids:
        return sorted(bot.owner_ids)
    if bot.owner_id:
        return [bot.owner_id]
    info = await bot.application_info()
    if info.team:
        return [member.id for member in info.team.members]
    return [info.owner.id] if info.owner is not None else []


def setup(bot: discord.Bot) -> None:
    """Extension entry point: ``bot.load_extension("taskext.cog")``."""
    if TaskManager.of(bot) is None:
        raise TaskNotFound("taskext.cog needs a task manager: call TaskManager(...).setup(bot) before loading it")
    bot.add_cog(TasksCog(bot))

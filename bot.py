"""The taskext sample bot: ``python bot.py``.

Configuration comes from the environment and ``.env`` (every variable is described in
``.env.example``). The bot sets up logging the Pycord way, a task manager, every cog in
``cogs/`` and the ``taskext.cog`` admin extension, and shuts down cleanly on SIGINT and
SIGTERM: running tasks finish (or are released), state is flushed, the store is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import discord
from dotenv import load_dotenv

from taskext import TaskManager
from taskext.store import DEFAULT_DATABASE_URL

log = logging.getLogger("bot")

TOKEN_HELP = (
    "DISCORD_TOKEN is {problem}: create a bot at https://discord.com/developers/applications"
    " (your app -> Bot -> Reset Token), then put DISCORD_TOKEN=... in .env (see .env.example)."
)


class ConfigError(ValueError):
    """A configuration variable is missing or malformed."""


@dataclass(frozen=True)
class Config:
    token: str
    owner_ids: frozenset[int]
    database_url: str
    debug_guild_ids: tuple[int, ...]
    log_level: int
    alert_channel_id: int | None


def _ids(name: str, text: str) -> list[int]:
    values = [part.strip() for part in text.split(",") if part.strip()]
    # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
    if not all(value.isascii() and value.isdigit() for value in values):
        raise ConfigError(f"{name} must be comma-separated Discord ids (numbers), got {text!r}")
    return [int(value) for value in values]


def load_config(environ: Mapping[str, str]) -> Config:
    """Read and check the configuration; raises ConfigError naming the bad variable."""
    token = environ.get("DISCORD_TOKEN", "").strip()
    if not token:
        raise ConfigError(TOKEN_HELP.format(problem="not set"))
    level_name = environ.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
    level = logging.getLevelName(level_name)
    if not isinstance(level, int):
        raise ConfigError(f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {level_name!r}")
    alert = _ids("TASKEXT_ALERT_CHANNEL_ID", environ.get("TASKEXT_ALERT_CHANNEL_ID", ""))
    if len(alert) > 1:
        raise ConfigError(f"TASKEXT_ALERT_CHANNEL_ID must be one channel id, got {len(alert)}")
    return Config(
        token=token,
        owner_ids=frozenset(_ids("OWNER_IDS", environ.get("OWNER_IDS", ""))),
        database_url=environ.get("TASKEXT_DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL,
        debug_guild_ids=tuple(_ids("DEBUG_GUILD_IDS", environ.get("DEBUG_GUILD_IDS", ""))),
        log_level=level,
        alert_channel_id=alert[0] if alert else None,
    )


def configure_logging(level: int) -> None:
    """Logging the Pycord way: one handler, Pycord's documented format, on the root logger."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s:%(levelname)s:%(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)


def build_bot(config: Config) -> discord.Bot:
    """The bot with its task manager, every extension in ``cogs/`` and ``taskext.cog``.

    Call it inside the running event loop.
    """
    bot = discord.Bot(
        intents=discord.Intents.default() | discord.Intents(message_content=False, members=False),
        debug_guilds=list(config.debug_guild_ids) or None,
        owner_ids=set(config.owner_ids) or None,
    )
    TaskManager(config.database_url).setup(bot)
    for path in sorted(Path(__file__).with_name("cogs").glob("*.py")):
        if not path.name.startswith("_"):
            bot.load_extension(f"cogs.{path.stem}")
    bot.load_extension("taskext.cog")
    return bot


async def run(config: Config) -> int:
    bot = build_bot(config)
    loop = asyncio.get_running_loop()
    closing: list[asyncio.Task[None]] = []

    def shut_down(name: str) -> None:
        if not closing:
            log.info("Received %s: finishing running tasks and closing.", name)
            closing.append(loop.create_task(bot.close()))

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on this platform
            loop.add_signal_handler(sig, shut_down, sig.name)
    try:
        await bot.start(config.token)
    except discord.LoginFailure:
        print(TOKEN_HELP.format(problem="rejected by Discord"), file=sys.stderr)
        return 2
    except aiohttp.ClientConnectionError as exc:
        print(f"Cannot reach Discord: {exc}", file=sys.stderr)
        return 1
    except RuntimeError:
        # py-cord closes its HTTP session before it marks the bot closed: the gateway, cut off
        # meanwhile, tries to reconnect through that session ("Session is closed"). Expected here.
        if not closing:
            raise
    finally:
        if closing:
            await asyncio.gather(*closing)
        elif not bot.is_closed():
            await bot.close()
    return 0


def main() -> int:
    load_dotenv()
    try:
        config = load_config(os.environ)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging(config.log_level)
    if config.alert_channel_id is not None:
        os.environ["TASKEXT_ALERT_CHANNEL_ID"] = str(config.alert_channel_id)
    return asyncio.run(run(config))


if __name__ == "__main__":
    sys.exit(main())

"""The taskext sample bot: ``python bot.py``.

Configuration comes from the environment and ``.env`` (see ``.env.example``).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import discord
from dotenv import load_dotenv

TOKEN_HELP = (
    "DISCORD_TOKEN is {problem}: create a bot at https://discord.com/developers/applications"
    " (your app -> Bot -> Reset Token), then put DISCORD_TOKEN=... in .env (see .env.example)."
)


def configure_logging(level_name: str) -> None:
    """Log the Pycord way: one handler on the root logger, discord's format."""
    level = getattr(logging, level_name.upper(), None)
    if not isinstance(level, int):
        raise SystemExit(f"LOG_LEVEL {level_name!r} is not one of DEBUG, INFO, WARNING, ERROR")
    discord.utils.setup_logging(level=level, root=True)


def build_bot() -> discord.Bot:
    """Create the bot and load every extension in ``cogs/``."""
    bot = discord.Bot(intents=discord.Intents.default())
    for path in sorted(Path(__file__).with_name("cogs").glob("*.py")):
        if not path.name.startswith("_"):
            bot.load_extension(f"cogs.{path.stem}")
    return bot


def main() -> int:
    load_dotenv()
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    token = os.environ.get("DISCORD_TOKEN", "").strip()
    if not token:
        print(TOKEN_HELP.format(problem="not set"), file=sys.stderr)
        return 2
    bot = build_bot()
    try:
        bot.run(token)
    except discord.LoginFailure:
        print(TOKEN_HELP.format(problem="rejected by Discord"), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

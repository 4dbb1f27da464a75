"""Shared types, Discord protocol constants and small helpers of the harness."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, TypeAlias

import discord

JSON: TypeAlias = dict[str, Any]

UTC = timezone.utc

ADMINISTRATOR = 1 << 3
"""The ADMINISTRATOR permission bit."""

DEFAULT_EVERYONE_PERMISSIONS: int = discord.Permissions(
    create_instant_invite=True,
    add_reactions=True,
    stream=True,
    view_channel=True,
    send_messages=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
    mention_everyone=False,
    external_emojis=True,
    connect=True,
    speak=True,
    use_voice_activation=True,
    change_nickname=True,
    use_slash_commands=True,
    request_to_speak=True,
    create_public_threads=True,
    create_private_threads=True,
    external_stickers=True,
    send_messages_in_threads=True,
    start_embedded_activities=True,
).value
"""What a new server grants ``@everyone`` (roughly Discord's default)."""

DEFAULT_BOT_PERMISSIONS: int = DEFAULT_EVERYONE_PERMISSIONS | discord.Permissions(manage_messages=True).value
"""What the bot's own managed role grants by default."""

_ALL_PERMISSIONS: int = discord.Permissions.all().value
_EPHEMERAL = 1 << 6
_LOADING = 1 << 7

# Gateway opcodes.
_DISPATCH, _HEARTBEAT, _IDENTIFY, _PRESENCE, _VOICE_STATE = 0, 1, 2, 3, 4
_RESUME, _RECONNECT, _REQUEST_MEMBERS, _HELLO, _HEARTBEAT_ACK = 6, 7, 8, 10, 11
_REQUEST_SOUNDBOARD_SOUNDS = 31

# Application command option types.
_SUB_COMMAND, _SUB_COMMAND_GROUP, _STRING, _INTEGER, _BOOLEAN = 1, 2, 3, 4, 5
_USER, _CHANNEL, _ROLE, _MENTIONABLE, _NUMBER, _ATTACHMENT = 6, 7, 8, 9, 10, 11

# Interaction callback types.
_CHANNEL_MESSAGE, _DEFERRED_CHANNEL_MESSAGE, _DEFERRED_UPDATE, _UPDATE_MESSAGE = 4, 5, 6, 7
_AUTOCOMPLETE_RESULT, _MODAL = 8, 9


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


class _Snowflakes:
    """Discord-style ids: current time in the high bits, strictly increasing."""

    def __init__(self) -> None:
        self._last = 0

    def __call__(self) -> int:
        value = discord.utils.time_snowflake(datetime.now(UTC))
        self._last = max(value, self._last + 1)
        return self._last

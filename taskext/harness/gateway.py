"""The gateway side of the fake Discord: IDENTIFY/RESUME answers and the events pushed to the bot."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence

from .common import (
    _HEARTBEAT,
    _HEARTBEAT_ACK,
    _HELLO,
    _IDENTIFY,
    _RECONNECT,
    _REQUEST_MEMBERS,
    _REQUEST_SOUNDBOARD_SOUNDS,
    _RESUME,
    JSON,
    _now_iso,
)
from .errors import HarnessError
from .fakes import FakeGuild, FakeMember, FakeUser
from .lifecycle import _LifecycleMixin
from .results import RecordedRequest, SentMessage
from .transport import _FakeGatewaySocket
from .world import _WorldMixin

_USER_MENTION = re.compile(r"<@!?(\d+)>")


class _GatewayMixin(_WorldMixin, _LifecycleMixin):
    """Answer the bot's gateway frames and push events to it."""

    def _open_gateway(self, url: str) -> _FakeGatewaySocket:
        socket = _FakeGatewaySocket(self, compress=self.compress and "compress=zlib-stream" in url)
        self._sockets.append(socket)
        self._socket = socket
        socket.queue_json({"op": _HELLO, "d": {"heartbeat_interval": int(self.heartbeat_interval * 1000)}})
        return socket

    async def _on_gateway_frame(self, socket: _FakeGatewaySocket, frame: JSON) -> None:
        self.gateway_received.append(frame)
        op = frame.get("op")
        raw = frame.get("d")
        data: JSON = raw if isinstance(raw, dict) else {}
        if op == _HEARTBEAT:
            socket.queue_json({"op": _HEARTBEAT_ACK})
        elif op == _IDENTIFY:
            if data.get("token") != self.token:
                await socket.close(code=4004)
                return
            socket.sequence = 0
            socket.queue_dispatch("READY", self._ready_payload())
            for guild in self.guilds:
                socket.queue_dispatch("GUILD_CREATE", self.guild_payload(guild))
        elif op == _RESUME:
            socket.sequence = int(data.get("seq") or 0)
            resumed = socket.queue_dispatch("RESUMED", {"_trace": ["taskext-harness"]}, track=True)
            waiter = self._resume_waiter
            if resumed is not None and waiter is not None:

                def release(_: asyncio.Future[None], waiter: asyncio.Future[None] = waiter) -> None:
                    if not waiter.done():
                        waiter.set_result(None)

                resumed.add_done_callback(release)
        elif op == _REQUEST_MEMBERS:
            socket.queue_dispatch("GUILD_MEMBERS_CHUNK", self._members_chunk(data))
        elif op == _REQUEST_SOUNDBOARD_SOUNDS:
            for guild_id in data.get("guild_ids", []):
                socket.queue_dispatch("SOUNDBOARD_SOUNDS", {"guild_id": str(guild_id), "soundboard_sounds": []})

    def _ready_payload(self) -> JSON:
        user = self.bot_user.to_payload()
        user.update(verified=True, mfa_enabled=False, email=None)
        return {
            "v": 10,
            "user": user,
            "guilds": [{"id": str(guild.id), "unavailable": True} for guild in self.guilds],
            "session_id": self._session_id,
            "resume_gateway_url": "wss://gateway.discord.gg",
            "session_type": "normal",
            "shard": [0, 1],
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
            "auth": {},
            "_trace": ["taskext-harness"],
        }

    def _members_chunk(self, data: JSON) -> JSON:
        guild_id = int(data["guild_id"])
        members = list(self._guild_members.get(guild_id, {}).values())
        guild = self._guilds_by_id[guild_id]
        wanted = {int(i) for i in data.get("user_ids") or []}
        query = str(data.get("query") or "").lower()
        if wanted:
            members = [m for m in members if m.id in wanted]
        elif query:
            members = [m for m in members if m.name.lower().startswith(query)]
        limit = int(data.get("limit") or 0)
        if limit:
            members = members[:limit]
        chunk: JSON = {
            "guild_id": str(guild_id),
            "members": [self.member_payload(guild, m) for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        return chunk

    async def _push(self, event: str, data: JSON) -> None:
        """Send one dispatch frame and wait until py-cord has parsed it."""
        socket = self._socket
        if socket is None or socket.closed or self._bot_task is None:
            raise HarnessError("the bot is not connected")
        future = socket.queue_dispatch(event, data, track=True)
        assert future is not None
        done, _ = await asyncio.wait(
            {future, self._bot_task}, timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if future not in done:
            self._raise_if_crashed()
            raise HarnessError(f"the bot did not read the {event} frame within {self.timeout}s")

    async def push_event(self, event: str, data: JSON, *, timeout: float | None = None) -> list[RecordedRequest]:
        """Send a dispatch frame (``"GUILD_MEMBER_ADD"``, ...) and wait for the bot's handlers.

        Returns
        -------
        list[RecordedRequest]
            The HTTP requests the bot made while handling it.
        """
        baseline = self._event_tasks()
        start = len(self.requests)
        await self._push(event, data)
        await self.settle(timeout=timeout, baseline=baseline)
        return self.requests[start:]

    async def reconnect(self) -> None:
        """Ask the bot to reconnect (opcode 7) and wait until it resumed the session."""
        socket = self._socket
        if socket is None:
            raise HarnessError("the bot is not connected")
        assert self._bot_task is not None
        waiter = self._resume_waiter = asyncio.get_running_loop().create_future()
        try:
            socket.queue_json({"op": _RECONNECT, "d": None})
            done, _ = await asyncio.wait(
                {waiter, self._bot_task}, timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            self._resume_waiter = None
            waiter.cancel()
        self._raise_if_crashed()
        if waiter not in done:
            raise HarnessError("the bot did not resume after a reconnect request")

    async def add_guild(self, guild: FakeGuild) -> list[RecordedRequest]:
        """Make the bot join ``guild`` (GUILD_CREATE, so ``on_guild_join``)."""
        if guild.id in self._guilds_by_id:
            raise HarnessError(f"guild {guild.id} is already configured")
        self.guilds.append(guild)
        self._add_guild_config(guild)
        return await self.push_event("GUILD_CREATE", self.guild_payload(guild))

    async def _announce_member(self, guild: FakeGuild, member: FakeMember) -> None:
        """Make Discord (and, through GUILD_ROLE_CREATE, the bot) know ``member`` and its roles."""
        self._remember_user(member.user)
        self._guild_members[guild.id][member.id] = member
        announced = self._announced_roles[guild.id]
        for role_id in self._member_role_ids(guild, member):
            if role_id not in announced:
                announced.add(role_id)
                role = self._roles[guild.id][role_id]
                await self._push("GUILD_ROLE_CREATE", {"guild_id": str(guild.id), "role": role.to_payload()})

    # -- messages -----------------------------------------------------------------------

    async def send_message(
        self,
        channel_id: int,
        author: FakeUser | FakeMember,
        content: str,
        *,
        embeds: Sequence[JSON] = (),
        timeout: float | None = None,
    ) -> SentMessage:
        """A user sends a message (MESSAGE_CREATE); wait until the bot's handlers are done.

        Parameters
        ----------
        channel_id:
            A configured guild channel, or :meth:`dm_channel` for a DM.
        author:
            Who sends it (a :class:`FakeUser` is a member with no roles in a guild).
        content:
            The text. ``<@id>`` mentions of known users are resolved.
        embeds:
            Embed objects.
        """
        if channel_id not in self._channels:
            raise HarnessError(f"channel {channel_id} is not a configured guild channel or DM channel")
        guild, _ = self._channels[channel_id]
        user = author.user if isinstance(author, FakeMember) else author
        member = author if isinstance(author, FakeMember) else FakeMember(author)
        self._remember_user(user)
        message_id = self._snowflake()
        mentioned = [self._users[int(i)] for i in _USER_MENTION.findall(content) if int(i) in self._users]
        payload: JSON = {
            "id": str(message_id),
            "channel_id": str(channel_id),
            "author": user.to_payload(),
            "content": content,
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": "@everyone" in content,
            "mentions": [u.to_payload() for u in mentioned],
            "mention_roles": [],
            "attachments": [],
            "embeds": list(embeds),
            "pinned": False,
            "type": 0,
            "flags": 0,
            "components": [],
            "nonce": str(message_id),
        }
        intents = self.bot.intents
        if guild is not None:
            await self._announce_member(guild, member)
            payload["guild_id"] = str(guild.id)
            payload["member"] = self.member_payload(guild, member, with_user=False)
            for entry, mentioned_user in zip(payload["mentions"], mentioned, strict=True):
                known = self._guild_members[guild.id].get(mentioned_user.id)
                if known is not None:
                    entry["member"] = self.member_payload(guild, known, with_user=False)
            delivered = bool(intents.guild_messages)
        else:
            delivered = bool(intents.dm_messages)
        mentions_bot = any(u.id == self.bot_user.id for u in mentioned)
        if not (intents.message_content or guild is None or mentions_bot or user.id == self.bot_user.id):
            payload.update(content="", embeds=[], attachments=[], components=[])
        errors_start = len(self.errors)
        if not delivered:
            return SentMessage(message_id, payload, False, [], [])
        requests = await self.push_event("MESSAGE_CREATE", payload, timeout=timeout)
        return SentMessage(message_id, payload, True, requests, self.errors[errors_start:])

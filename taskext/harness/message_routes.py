"""Messages the bot sends: interaction callbacks, webhook followups and channel messages."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Sequence
from typing import Any

from .common import (
    _CHANNEL_MESSAGE,
    _DEFERRED_CHANNEL_MESSAGE,
    _EPHEMERAL,
    _LOADING,
    _UPDATE_MESSAGE,
    JSON,
    _now_iso,
)
from .results import RecordedFile, RecordedRequest, Reply, _InteractionState
from .router import _RouterMixin


class _MessageRoutesMixin(_RouterMixin):
    """Answers to the interaction callback, webhook and channel message routes."""

    def _message_payload(
        self,
        body: JSON,
        *,
        channel_id: int | None,
        files: Sequence[RecordedFile] = (),
        interaction: _InteractionState | None = None,
        message_type: int = 0,
        flags: int | None = None,
    ) -> JSON:
        message_id = self._snowflake()
        attachments = []
        for entry in body.get("attachments") or []:
            index = entry.get("id")
            upload = next((f for f in files if f.field == f"files[{index}]"), None)
            attachment_id = self._snowflake()
            filename = entry.get("filename") or (upload.filename if upload else "file")
            attachments.append(
                {
                    "id": str(attachment_id),
                    "filename": filename,
                    "description": entry.get("description"),
                    "size": len(upload.data) if upload else 0,
                    "url": f"https://cdn.discordapp.com/attachments/{channel_id}/{attachment_id}/{filename}",
                    "proxy_url": f"https://media.discordapp.net/attachments/{channel_id}/{attachment_id}/{filename}",
                    "content_type": upload.content_type if upload else None,
                }
            )
        embeds = [{"type": "rich", **embed} for embed in body.get("embeds") or []]
        message: JSON = {
            "id": str(message_id),
            "channel_id": str(channel_id) if channel_id is not None else None,
            "author": self.bot_user.to_payload(),
            "content": body.get("content") or "",
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts", False)),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": attachments,
            "embeds": embeds,
            "pinned": False,
            "type": message_type,
            "flags": int(body.get("flags") or 0) if flags is None else flags,
            "components": list(body.get("components") or []),
        }
        if body.get("poll") is not None:
            message["poll"] = body["poll"]
        if interaction is not None:
            message["webhook_id"] = str(self.application_id)
            message["application_id"] = str(self.application_id)
            message["interaction_metadata"] = {
                "id": str(interaction.id),
                "type": interaction.type,
                "user": interaction.user.to_payload(),
                "authorizing_integration_owners": {},
            }
        return message

    @staticmethod
    def _apply_edit(message: JSON, body: JSON | None) -> None:
        for key in ("content", "components", "flags", "attachments", "poll"):
            if body and key in body and body[key] is not None:
                message[key] = body[key]
        if body and body.get("embeds") is not None:
            message["embeds"] = [{"type": "rich", **embed} for embed in body["embeds"]]
        message["flags"] = int(message.get("flags") or 0) & ~_LOADING
        message["edited_timestamp"] = _now_iso()

    def _interaction_callback(self, request: RecordedRequest) -> Any:
        state = self._interactions.get(int(request.path_params["interaction_id"]))
        if state is None or state.token != request.path_params["interaction_token"]:
            return self._error(404, 10062, "Unknown interaction")
        loop = asyncio.get_running_loop()
        if self.response_deadline is not None and loop.time() - state.created > self.response_deadline:
            return self._error(404, 10062, "Unknown interaction")
        if state.callback is not None:
            return self._error(400, 40060, "Interaction has already been acknowledged.")
        body = request.json or {}
        kind = int(body.get("type", 0))
        data = body.get("data") or {}
        state.callback = body
        state.answered.set()
        response: JSON = {
            "interaction": {
                "id": str(state.id),
                "type": state.type,
                "response_message_loading": kind == _DEFERRED_CHANNEL_MESSAGE,
                "response_message_ephemeral": bool(int(data.get("flags") or 0) & _EPHEMERAL),
            }
        }
        if kind in (_CHANNEL_MESSAGE, _DEFERRED_CHANNEL_MESSAGE):
            flags = int(data.get("flags") or 0)
            if kind == _DEFERRED_CHANNEL_MESSAGE:
                flags = (flags & _EPHEMERAL) | _LOADING
                message = self._message_payload({}, channel_id=state.channel_id, interaction=state, flags=flags)
            else:
                message = self._message_payload(
                    data, channel_id=state.channel_id, files=request.files, interaction=state, message_type=20
                )
            state.original = message
            response["interaction"]["response_message_id"] = message["id"]
            response["resource"] = {"type": kind, "message": message}
        elif kind == _UPDATE_MESSAGE:
            target = self._find_message(state.message_id) if state.message_id is not None else None
            if target is not None:
                self._apply_edit(target, data)
                state.original = target
                response["resource"] = {"type": kind, "message": copy.deepcopy(target)}
            else:
                response["resource"] = {"type": kind}
        return response

    def _find_message(self, message_id: int) -> JSON | None:
        """A message the bot sent, wherever it lives (channel, interaction response, followup)."""
        wanted = str(message_id)
        for messages in self.channel_messages.values():
            for message in messages:
                if message["id"] == wanted:
                    return message
        for state in self._interactions.values():
            if state.original is not None and state.original["id"] == wanted:
                return state.original
            if message_id in state.followups:
                return state.followups[message_id]
        return None

    def _interaction_for(self, request: RecordedRequest) -> tuple[_InteractionState | None, Reply | None]:
        state = self._interactions_by_token.get(request.path_params["interaction_token"])
        if request.path_params.get("application_id") != str(self.application_id) or state is None:
            return None, self._error(404, 10015, "Unknown Webhook")
        if state.callback is None:
            return None, self._error(404, 10015, "Unknown Webhook")
        return state, None

    def _followup(self, request: RecordedRequest) -> Any:
        state, error = self._interaction_for(request)
        if state is None:
            return error
        message = self._message_payload(
            request.json or {}, channel_id=state.channel_id, files=request.files, interaction=state
        )
        state.followups[int(message["id"])] = message
        return copy.deepcopy(message) if request.query.get("wait", "").lower() in ("1", "true") else None

    def _find_response(self, request: RecordedRequest) -> tuple[_InteractionState | None, JSON | None, Reply | None]:
        """The interaction message a webhook path names: ``@original`` or a ``{message_id}``."""
        state, error = self._interaction_for(request)
        if state is None:
            return None, None, error
        message_id = request.path_params.get("message_id")
        if message_id is None:  # .../messages/@original
            message = state.original
        else:
            message = state.followups.get(int(message_id)) if message_id.isdigit() else None
            if message is None and state.original is not None and state.original["id"] == message_id:
                message = state.original
        if message is None:
            return state, None, self._error(404, 10008, "Unknown Message")
        return state, message, None

    def _get_response(self, request: RecordedRequest) -> Any:
        _, message, error = self._find_response(request)
        return error if message is None else copy.deepcopy(message)

    def _edit_response(self, request: RecordedRequest) -> Any:
        _, message, error = self._find_response(request)
        if message is None:
            return error
        self._apply_edit(message, request.json)
        return copy.deepcopy(message)

    def _delete_response(self, request: RecordedRequest) -> Any:
        state, message, error = self._find_response(request)
        if state is None or message is None:
            return error
        if message is state.original:
            state.original = None
        else:
            del state.followups[int(message["id"])]
        return None

    def _create_message(self, request: RecordedRequest) -> Any:
        channel_id = int(request.path_params["channel_id"])
        if channel_id not in self._channels:
            return self._error(404, 10003, "Unknown Channel")
        body = request.json or {}
        if not any(body.get(key) for key in ("content", "embeds", "attachments", "components", "sticker_ids", "poll")):
            return self._error(400, 50006, "Cannot send an empty message")
        message = self._message_payload(body, channel_id=channel_id, files=request.files)
        guild, _ = self._channels[channel_id]
        if guild is not None:
            message["guild_id"] = str(guild.id)
        self.channel_messages.setdefault(channel_id, []).append(message)
        return copy.deepcopy(message)

    def _edit_message(self, request: RecordedRequest) -> Any:
        channel_id = int(request.path_params["channel_id"])
        for message in self.channel_messages.get(channel_id, []):
            if message["id"] == request.path_params["message_id"]:
                self._apply_edit(message, request.json)
                return copy.deepcopy(message)
        return self._error(404, 10008, "Unknown Message")

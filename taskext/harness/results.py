"""What a test looks at: recorded requests and errors, route replies, interaction and message results."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias, cast
from urllib.parse import unquote

from .common import _DEFERRED_CHANNEL_MESSAGE, _EPHEMERAL, JSON
from .fakes import FakeUser

RouteHandler: TypeAlias = Callable[["RecordedRequest"], Any]


@dataclass(frozen=True)
class CapturedError:
    """An exception one of the bot's command or event handlers raised.

    Attributes
    ----------
    event:
        ``"application_command_error"``, ``"autocomplete"`` or the failing event method
        (``"on_message"``, ...).
    error:
        The exception, unwrapped from :class:`discord.ApplicationCommandInvokeError`.
    raw:
        The exception as py-cord reported it.
    command:
        The qualified command name, for command errors.
    """

    event: str
    error: BaseException
    raw: BaseException
    command: str | None = None


@dataclass(frozen=True)
class RecordedFile:
    """A file uploaded in a multipart request."""

    field: str
    filename: str | None
    data: bytes
    content_type: str | None


@dataclass
class RecordedRequest:
    """One HTTP request the bot made.

    Attributes
    ----------
    method:
        ``GET``, ``POST``, ...
    path:
        The API path without the ``/api/v10`` prefix, e.g. ``/channels/1/messages``.
    route:
        The matched route template, e.g. ``/channels/{channel_id}/messages`` (``None`` when no
        route matched and the request was answered 404).
    path_params:
        The values of the template's placeholders.
    query:
        Query parameters.
    json:
        The decoded JSON body, or the ``payload_json`` part of a multipart body.
    files:
        Files of a multipart body.
    status:
        The status the fake answered.
    response:
        The JSON the fake answered.
    """

    method: str
    path: str
    url: str
    headers: dict[str, str]
    query: dict[str, str]
    json: Any = None
    files: list[RecordedFile] = field(default_factory=list)
    route: str | None = None
    path_params: dict[str, str] = field(default_factory=dict)
    status: int = 0
    response: Any = None

    @property
    def reason(self) -> str | None:
        """The audit log reason, if the request carried one."""
        value = self.headers.get("X-Audit-Log-Reason")
        return unquote(value) if value is not None else None


@dataclass(frozen=True)
class Reply:
    """An HTTP answer from a route handler (return plain JSON for a 200, ``None`` for a 204)."""

    status: int = 200
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class _InteractionState:
    id: int
    token: str
    type: int
    channel_id: int | None
    user: FakeUser
    created: float
    message_id: int | None = None
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    callback: JSON | None = None
    original: JSON | None = None
    followups: dict[int, JSON] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)


class InteractionResult:
    """What the bot answered to one interaction (a live view: later edits show up).

    Attributes
    ----------
    interaction_id:
        The interaction's id.
    token:
        The interaction's token.
    interaction:
        The INTERACTION_CREATE payload that was sent to the bot.
    errors:
        Exceptions the bot's handlers raised while handling it.
    """

    def __init__(self, state: _InteractionState, interaction: JSON, errors: list[CapturedError]) -> None:
        self._state = state
        self.interaction_id = state.id
        self.token = state.token
        self.interaction = interaction
        self.errors = errors

    def __repr__(self) -> str:
        return (
            f"<InteractionResult type={self.type} ephemeral={self.ephemeral} content={self.content!r}"
            f" embeds={len(self.embeds)} followups={len(self.followups)} errors={len(self.errors)}>"
        )

    @property
    def responded(self) -> bool:
        """Whether the bot sent the interaction callback."""
        return self._state.callback is not None

    @property
    def payload(self) -> JSON | None:
        """The raw callback body ``{"type": ..., "data": {...}}`` (``None`` if unanswered)."""
        return self._state.callback

    @property
    def type(self) -> int | None:
        """The callback type: 4 message, 5 deferred, 6 deferred update, 7 update, 8 choices, 9 modal."""
        return None if self._state.callback is None else int(self._state.callback["type"])

    @property
    def data(self) -> JSON:
        """The callback's ``data`` (empty when unanswered)."""
        if self._state.callback is None:
            return {}
        return cast(JSON, self._state.callback.get("data") or {})

    @property
    def deferred(self) -> bool:
        """Whether the bot deferred (callback type 5)."""
        return self.type == _DEFERRED_CHANNEL_MESSAGE

    @property
    def flags(self) -> int:
        """Message flags of the original response."""
        message = self.message
        return int(message.get("flags") or 0) if message is not None else int(self.data.get("flags") or 0)

    @property
    def ephemeral(self) -> bool:
        """Whether the original response is ephemeral (flag 64)."""
        return bool(self.flags & _EPHEMERAL)

    @property
    def message(self) -> JSON | None:
        """The original response message as Discord holds it now (after edits), if any."""
        return self._state.original

    @property
    def content(self) -> str | None:
        """Content of the original response (after edits)."""
        message = self._state.original
        return None if message is None else cast("str | None", message.get("content"))

    @property
    def embeds(self) -> list[JSON]:
        """Embeds of the original response (after edits)."""
        message = self._state.original
        return [] if message is None else list(message.get("embeds") or [])

    @property
    def components(self) -> list[JSON]:
        """Components of the original response (after edits)."""
        message = self._state.original
        return [] if message is None else list(message.get("components") or [])

    @property
    def followups(self) -> list[JSON]:
        """Followup messages (``ctx.respond`` after the first response, ``ctx.followup.send``)."""
        return list(self._state.followups.values())

    @property
    def messages(self) -> list[JSON]:
        """The original response (if it is a message) followed by the followups."""
        original = [self._state.original] if self._state.original is not None else []
        return original + self.followups

    @property
    def choices(self) -> list[JSON]:
        """Autocomplete choices (callback type 8)."""
        return list(self.data.get("choices") or [])

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every HTTP request made with this interaction's id or token."""
        return list(self._state.requests)


@dataclass
class SentMessage:
    """A message a user sent, as the bot received it.

    Attributes
    ----------
    id:
        The message's id.
    payload:
        The MESSAGE_CREATE data the bot received (content blanked without the
        ``message_content`` intent).
    delivered:
        ``False`` when the bot's intents kept Discord from sending it.
    requests:
        HTTP requests the bot made while handling it.
    errors:
        Exceptions the bot's handlers raised while handling it.
    """

    id: int
    payload: JSON
    delivered: bool
    requests: list[RecordedRequest]
    errors: list[CapturedError]

    @property
    def replies(self) -> list[JSON]:
        """Messages the bot posted (``POST /channels/{id}/messages``) while handling it."""
        return [
            r.response
            for r in self.requests
            if r.route == "/channels/{channel_id}/messages" and r.method == "POST" and r.status == 200
        ]

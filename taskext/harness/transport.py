"""In-memory stand-ins for the aiohttp session and gateway websocket py-cord uses."""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, TypeAlias

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

from .common import _DISPATCH, JSON
from .results import RecordedFile

if TYPE_CHECKING:
    from .core import BotHarness
    from .gateway import _GatewayMixin


# ---------------------------------------------------------------------------------------
# HTTP transport: an aiohttp.ClientSession stand-in.
# ---------------------------------------------------------------------------------------


class _FakeResponse:
    """Enough of :class:`aiohttp.ClientResponse` for py-cord."""

    def __init__(self, method: str, url: str, status: int, body: Any, headers: Mapping[str, str]) -> None:
        self.method = method
        self.url = url
        self.status = status
        try:
            self.reason = HTTPStatus(status).phrase
        except ValueError:
            self.reason = ""
        raw_headers: CIMultiDict[str] = CIMultiDict(headers)
        if body is None:
            self._body = b""
        elif isinstance(body, bytes):
            self._body = body
            raw_headers.setdefault("Content-Type", "application/octet-stream")
        else:
            self._body = json.dumps(body).encode()
            raw_headers.setdefault("Content-Type", "application/json")
        self.headers = CIMultiDictProxy(raw_headers)

    async def text(self, encoding: str = "utf-8") -> str:
        return self._body.decode(encoding)

    async def read(self) -> bytes:
        return self._body

    async def json(self) -> Any:
        return json.loads(self._body) if self._body else None

    def release(self) -> None:
        pass

    def close(self) -> None:
        pass


class _RequestContext:
    def __init__(self, session: _FakeSession, method: str, url: str, kwargs: dict[str, Any]) -> None:
        self._session = session
        self._method = method
        self._url = url
        self._kwargs = kwargs

    async def __aenter__(self) -> _FakeResponse:
        return await self._session.handle(self._method, self._url, self._kwargs)

    async def __aexit__(self, *exc: object) -> None:
        return None

    def __await__(self) -> Any:
        return self._session.handle(self._method, self._url, self._kwargs).__await__()


class _FakeSession:
    """What py-cord finds in ``HTTPClient.__session`` (and passes to the webhook adapter)."""

    def __init__(self, harness: BotHarness) -> None:
        self._harness = harness
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def reopen(self) -> None:
        self._closed = False

    async def close(self) -> None:
        self._closed = True

    def request(self, method: str, url: str, **kwargs: Any) -> _RequestContext:
        return _RequestContext(self, method.upper(), str(url), kwargs)

    def get(self, url: str, **kwargs: Any) -> _RequestContext:
        return self.request("GET", url, **kwargs)

    async def handle(self, method: str, url: str, kwargs: dict[str, Any]) -> _FakeResponse:
        if self._closed:
            raise RuntimeError("Session is closed")
        await asyncio.sleep(0)  # a network round trip is never synchronous
        return await self._harness._handle_http(method, url, kwargs)

    async def ws_connect(self, url: str, **kwargs: Any) -> _FakeGatewaySocket:
        if self._closed:
            raise RuntimeError("Session is closed")
        return self._harness._open_gateway(url)


def _read_form(form: aiohttp.FormData) -> tuple[Any, list[RecordedFile]]:
    payload: Any = None
    files: list[RecordedFile] = []
    for type_options, headers, value in getattr(form, "_fields", []):
        name = type_options.get("name")
        if name == "payload_json":
            payload = json.loads(value)
            continue
        if hasattr(value, "read"):
            position = value.tell() if hasattr(value, "tell") else None
            data = value.read()
            if position is not None:
                value.seek(position)
        else:
            data = value
        if isinstance(data, str):
            data = data.encode()
        files.append(RecordedFile(name, type_options.get("filename"), bytes(data), headers.get("Content-Type")))
    return payload, files


# ---------------------------------------------------------------------------------------
# Gateway transport: an aiohttp.ClientWebSocketResponse stand-in.
# ---------------------------------------------------------------------------------------


_Frame: TypeAlias = tuple[aiohttp.WSMessage, "asyncio.Future[None] | None"]


class _FakeGatewaySocket:
    """The socket ``DiscordWebSocket`` polls; frames are queued by the harness."""

    def __init__(self, harness: _GatewayMixin, *, compress: bool) -> None:
        self._harness = harness
        self._queue: asyncio.Queue[_Frame] = asyncio.Queue()
        self._compress = zlib.compressobj() if compress else None
        self._in_flight: asyncio.Future[None] | None = None
        self.closed = False
        self.close_code: int | None = None
        self.sequence = 0

    def exception(self) -> BaseException | None:
        return None

    def queue_json(self, payload: JSON, *, track: bool = False) -> asyncio.Future[None] | None:
        """Queue a frame; with ``track``, return a future set once py-cord has processed it."""
        raw = json.dumps(payload)
        if self._compress is not None:
            data = self._compress.compress(raw.encode()) + self._compress.flush(zlib.Z_SYNC_FLUSH)
            message = aiohttp.WSMessage(aiohttp.WSMsgType.BINARY, data, None)
        else:
            message = aiohttp.WSMessage(aiohttp.WSMsgType.TEXT, raw, None)
        future: asyncio.Future[None] | None = asyncio.get_running_loop().create_future() if track else None
        self._queue.put_nowait((message, future))
        return future

    def queue_dispatch(self, event: str, data: JSON, *, track: bool = False) -> asyncio.Future[None] | None:
        self.sequence += 1
        return self.queue_json({"op": _DISPATCH, "t": event, "s": self.sequence, "d": data}, track=track)

    def _finish_in_flight(self) -> None:
        # py-cord handles a frame completely (parsers are synchronous) before it polls again.
        if self._in_flight is not None and not self._in_flight.done():
            self._in_flight.set_result(None)
        self._in_flight = None

    async def receive(self, timeout: float | None = None) -> aiohttp.WSMessage:
        self._finish_in_flight()
        if self.closed and self._queue.empty():
            return aiohttp.WSMessage(aiohttp.WSMsgType.CLOSED, None, None)
        message, future = await asyncio.wait_for(self._queue.get(), timeout)
        self._in_flight = future
        return message

    async def send_str(self, data: str, compress: int | None = None) -> None:
        if self.closed:
            return
        await self._harness._on_gateway_frame(self, json.loads(data))

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        if self.closed:
            return False
        self.closed = True
        self.close_code = code
        self._finish_in_flight()
        self._queue.put_nowait((aiohttp.WSMessage(aiohttp.WSMsgType.CLOSE, code, message.decode() or None), None))
        return True

    def drop_pending(self) -> None:
        """Resolve the futures of frames py-cord will never read."""
        self._finish_in_flight()
        while not self._queue.empty():
            _, future = self._queue.get_nowait()
            if future is not None and not future.done():
                future.set_result(None)

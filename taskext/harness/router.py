"""The fake REST API's router: every request the bot makes is recorded and matched to a route."""

from __future__ import annotations

import inspect
import json
import re
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import aiohttp

from .common import JSON
from .results import CapturedError, RecordedFile, RecordedRequest, Reply, RouteHandler, _InteractionState
from .state import _HarnessState
from .transport import _FakeResponse, _read_form

_API_PREFIX = re.compile(r"^/api(?:/v\d+)?")


class _RouterMixin(_HarnessState):
    """Record the bot's HTTP requests and answer them from the route table."""

    def add_route(self, method: str, template: str, handler: RouteHandler) -> None:
        """Answer ``method template`` (e.g. ``"GET", "/guilds/{guild_id}/bans"``) with ``handler``.

        ``handler(request)`` gets the :class:`RecordedRequest` (``request.path_params``,
        ``request.json``, ...) and returns JSON (200), ``None`` (204) or a :class:`Reply`; it
        may be a coroutine function. An exception it raises is raised from the bot's HTTP
        call (and recorded in :attr:`errors`). The template with the most literal segments
        wins; among equals, the one added last, so ``add_route`` overrides built-in routes.
        """
        segments = template.strip("/").split("/")
        self._routes.insert(0, (method.upper(), template, segments, handler))

    def find_requests(self, method: str | None = None, route: str | None = None) -> list[RecordedRequest]:
        """Recorded requests with this method and route template (or path)."""
        return [
            r
            for r in self.requests
            if (method is None or r.method == method.upper()) and (route is None or route in (r.route, r.path))
        ]

    def _match(self, method: str, path: str) -> tuple[str, RouteHandler, dict[str, str]] | None:
        parts = path.strip("/").split("/")
        best: tuple[int, str, RouteHandler, dict[str, str]] | None = None
        for route_method, template, segments, handler in self._routes:
            if route_method != method or len(segments) != len(parts):
                continue
            params: dict[str, str] = {}
            literal = 0
            for segment, part in zip(segments, parts, strict=True):
                if segment.startswith("{") and segment.endswith("}"):
                    params[segment[1:-1]] = unquote(part)
                elif segment == part:
                    literal += 1
                else:
                    break
            else:
                if best is None or literal > best[0]:
                    best = (literal, template, handler, params)
        return None if best is None else best[1:]

    async def _handle_http(self, method: str, url: str, kwargs: dict[str, Any]) -> _FakeResponse:
        split = urlsplit(url)
        path = _API_PREFIX.sub("", split.path) or "/"
        query = dict(parse_qsl(split.query))
        for key, value in (kwargs.get("params") or {}).items():
            query[str(key)] = str(value).lower() if isinstance(value, bool) else str(value)
        body: Any = None
        files: list[RecordedFile] = []
        data = kwargs.get("data")
        if isinstance(data, aiohttp.FormData):
            body, files = _read_form(data)
        elif isinstance(data, str | bytes) and data:
            try:
                body = json.loads(data)
            except ValueError:
                body = data
        elif kwargs.get("json") is not None:
            body = kwargs["json"]
        headers = {str(k): str(v) for k, v in (kwargs.get("headers") or {}).items()}
        request = RecordedRequest(method, path, url, headers, query, body, files)
        self.requests.append(request)
        matched = self._match(method, path)
        reply: Reply
        if matched is None:
            reply = Reply(404, {"message": "404: Not Found", "code": 0})
        else:
            request.route, handler, request.path_params = matched
            try:
                outcome = handler(request)
                if inspect.isawaitable(outcome):
                    outcome = await outcome
            except Exception as error:
                # Raised from the bot's HTTP call: a 5xx would make py-cord retry for seconds.
                self.errors.append(CapturedError(f"route {method} {request.route}", error, error))
                self._request_event.set()
                raise
            reply = outcome if isinstance(outcome, Reply) else Reply(200 if outcome is not None else 204, outcome)
        request.status = reply.status
        request.response = reply.body
        for state in self._states_for(path):
            state.requests.append(request)
        self._request_event.set()
        return _FakeResponse(method, url, reply.status, reply.body, reply.headers)

    def _states_for(self, path: str) -> list[_InteractionState]:
        parts = path.strip("/").split("/")
        if len(parts) >= 3 and parts[0] == "interactions":
            state = self._interactions.get(int(parts[1])) if parts[1].isdigit() else None
            return [state] if state is not None else []
        if len(parts) >= 3 and parts[0] == "webhooks":
            state = self._interactions_by_token.get(unquote(parts[2]))
            return [state] if state is not None else []
        return []

    @staticmethod
    def _error(status: int, code: int, message: str, errors: JSON | None = None) -> Reply:
        body: JSON = {"message": message, "code": code}
        if errors:
            body["errors"] = errors
        return Reply(status, body)

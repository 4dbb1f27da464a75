"""Starting and closing the bot, the hooks into it, and waiting for its handlers."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import Callable
from typing import Any, cast

import discord
from discord.errors import HTTPException, LoginFailure
from discord.gateway import KeepAliveHandler
from discord.http import Route

from .errors import HarnessError
from .results import CapturedError, RecordedRequest
from .state import _HarnessState

_SESSION_ATTR = "_HTTPClient__session"  # py-cord's name-mangled HTTPClient.__session
_IGNORED_TASK_NAMES = frozenset({"pycord: on_application_command_auto_complete"})
_AUTOCOMPLETE_CALLBACK = "on_application_command_auto_complete.<locals>.callback"


def _is_autocomplete_callback(task: asyncio.Task[Any]) -> bool:
    return str(getattr(task.get_coro(), "__qualname__", "")).endswith(_AUTOCOMPLETE_CALLBACK)


def _is_untracked_handler(task: asyncio.Task[Any]) -> bool:
    """Handler tasks py-cord starts outside ``Client._tasks``: autocomplete, view and modal callbacks."""
    return (
        _is_autocomplete_callback(task)
        or task.get_name().startswith("discord-ui-view-dispatch-")
        or str(getattr(task.get_coro(), "__qualname__", "")) == "ModalStore.dispatch"
    )


class _LifecycleMixin(_HarnessState):
    """Start and close the bot, hook into it, and wait for its handlers."""

    async def start(self) -> None:
        """Start the bot and wait until ``on_ready`` fired and its startup handlers (command sync) finished.

        Raises
        ------
        HarnessError
            The bot was created outside the running loop, crashed, did not get ready in
            time, or failed to sync its commands.
        """
        if self._started:
            raise HarnessError("a BotHarness can only be started once")
        self._started = True
        loop = asyncio.get_running_loop()
        if self.bot.loop is not loop:
            raise HarnessError("create the bot inside the running event loop (in the test, not at import time)")
        if self.bot.is_closed():
            raise HarnessError("the bot is closed")
        if isinstance(self.bot, discord.AutoShardedClient):
            raise HarnessError("sharded clients (AutoShardedBot) are not supported")
        self._install()
        self._bot_task = loop.create_task(self.bot.start(self.token), name="taskext-harness: bot.start")
        try:
            await self._wait_ready()
            await self.settle()
        except BaseException:
            await self.close(raise_errors=False)
            raise
        failed = [e for e in self.errors if e.event in ("on_connect", "on_ready")]
        if failed:
            await self.close(raise_errors=False)
            raise HarnessError(f"the bot failed while starting up ({failed[0].event}): {failed[0].error!r}") from (
                failed[0].error
            )

    async def _wait_ready(self) -> None:
        assert self._bot_task is not None
        ready = asyncio.ensure_future(self.bot.wait_until_ready())
        try:
            done, _ = await asyncio.wait(
                {ready, self._bot_task}, timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            if not ready.done():
                ready.cancel()
                await asyncio.gather(ready, return_exceptions=True)
        if self._bot_task in done:
            error = self._bot_task.exception()
            raise HarnessError(f"the bot stopped while starting up: {error!r}") from error
        if ready not in done:
            raise HarnessError(f"the bot did not get ready within {self.timeout}s")

    async def close(self, *, raise_errors: bool = True) -> None:
        """Close the bot (``await bot.close()``), wait for it to stop and undo the harness's hooks.

        Parameters
        ----------
        raise_errors:
            Raise :class:`HarnessError` if the bot's gateway loop had crashed.
        """
        if self._closed:
            return
        self._closed = True
        crash: BaseException | None = None
        keep_alive_threads = self._keep_alive_threads()
        try:
            if not self.bot.is_closed():
                await self.bot.close()
            task = self._bot_task
            if task is not None:
                done, _ = await asyncio.wait({task}, timeout=self.timeout)
                if not done:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
                elif not task.cancelled():
                    crash = task.exception()
            leftovers = [t for t in self._client_tasks() if not t.done()]
            for task in leftovers:
                task.cancel()
            await asyncio.gather(*leftovers, return_exceptions=True)
            for socket in self._sockets:
                socket.drop_pending()
            await self._join_keep_alive_threads(keep_alive_threads + self._keep_alive_threads())
        finally:
            self._uninstall()
        if crash is not None and raise_errors:
            raise HarnessError(f"the bot's gateway loop crashed: {crash!r}") from crash

    def _keep_alive_threads(self) -> list[threading.Thread]:
        """py-cord's heartbeat threads (``KeepAliveHandler``) of the sockets the harness handed out."""
        return [
            thread
            for thread in threading.enumerate()
            if isinstance(thread, KeepAliveHandler) and getattr(thread.ws, "socket", None) in self._sockets
        ]

    async def _join_keep_alive_threads(self, threads: list[threading.Thread]) -> None:
        # A KeepAliveHandler exits as soon as ``DiscordWebSocket.close`` stops it.
        remaining = self.timeout
        for thread in threads:
            while thread.is_alive() and remaining > 0:
                await asyncio.sleep(0.005)
                remaining -= 0.005

    # -- hooks into the bot -------------------------------------------------------------

    def _install(self) -> None:
        http = self.bot.http
        session = self._session

        async def static_login(token: str) -> Any:
            # HTTPClient.static_login, minus creating a real aiohttp.ClientSession.
            setattr(http, _SESSION_ATTR, session)
            session.reopen()
            old_token = http.token
            http.token = token
            try:
                return await http.request(Route("GET", "/users/@me"))
            except HTTPException as exc:
                http.token = old_token
                if exc.status == 401:
                    raise LoginFailure("Improper token has been passed.") from exc
                raise

        def recreate() -> None:
            setattr(http, _SESSION_ATTR, session)
            session.reopen()

        original_on_error = self.bot.on_error

        async def on_error(event_method: str, *args: Any, **kwargs: Any) -> None:
            error = sys.exc_info()[1]
            if error is not None:
                self.errors.append(CapturedError(event_method, error, error))
            await original_on_error(event_method, *args, **kwargs)

        self._patch(http, "static_login", static_login)
        self._patch(http, "recreate", recreate)
        self._patch(self.bot, "on_error", on_error)

        state = self.bot._connection
        if self.guild_ready_timeout is not None:
            self._saved_guild_ready_timeout = state.guild_ready_timeout
            state.guild_ready_timeout = self.guild_ready_timeout

        # Observe command errors the way ``bot.wait_for`` does (a listener that never
        # resolves), so py-cord's default error printing is left alone.
        self._observer = asyncio.get_running_loop().create_future()
        self.bot._listeners.setdefault("application_command_error", []).append(
            (self._observer, self._observe_command_error)
        )

    def _patch(self, target: object, name: str, value: object) -> None:
        key = f"{id(target)}.{name}"
        had = name in vars(target)
        self._patched[key] = (vars(target).get(name), had)
        setattr(target, name, value)

    def _uninstall(self) -> None:
        for target in (self.bot.http, self.bot):
            for name in ("static_login", "recreate", "on_error"):
                key = f"{id(target)}.{name}"
                if key not in self._patched:
                    continue
                previous, had = self._patched.pop(key)
                if had:
                    setattr(target, name, previous)
                elif name in vars(target):
                    delattr(target, name)
        if self._saved_guild_ready_timeout is not None:
            self.bot._connection.guild_ready_timeout = self._saved_guild_ready_timeout
            self._saved_guild_ready_timeout = None
        if self._observer is not None:
            listeners = self.bot._listeners.get("application_command_error", [])
            listeners[:] = [entry for entry in listeners if entry[0] is not self._observer]
            if not listeners:
                self.bot._listeners.pop("application_command_error", None)
            self._observer.cancel()
            self._observer = None

    def _observe_command_error(self, *args: Any) -> bool:
        try:
            ctx, error = args[0], args[1]
            original = getattr(error, "original", None) or error
            command = getattr(getattr(ctx, "command", None), "qualified_name", None)
            self.errors.append(CapturedError("application_command_error", original, error, command))
        except Exception:  # pragma: no cover - never break the bot's dispatch
            pass
        return False

    def _client_tasks(self) -> set[asyncio.Task[Any]]:
        return set(cast("set[asyncio.Task[Any]]", self.bot._tasks))

    def _event_tasks(self) -> set[asyncio.Task[Any]]:
        tasks = self._client_tasks()
        tasks.update(task for task in asyncio.all_tasks() if _is_untracked_handler(task))
        return {task for task in tasks if task.get_name() not in _IGNORED_TASK_NAMES}

    async def settle(self, *, timeout: float | None = None, baseline: set[asyncio.Task[Any]] | None = None) -> None:
        """Wait until the event handlers the bot is running have finished.

        Parameters
        ----------
        timeout:
            Seconds to wait (default: the harness's ``timeout``).
        baseline:
            Tasks to ignore (those running before something was pushed).

        Raises
        ------
        HarnessError
            Handlers were still running after ``timeout``, or the gateway loop crashed.
        """
        loop = asyncio.get_running_loop()
        limit = self.timeout if timeout is None else timeout
        deadline = loop.time() + limit
        ignore = baseline or set()
        while True:
            for _ in range(3):
                await asyncio.sleep(0)
            self._raise_if_crashed()
            pending = {task for task in self._event_tasks() - ignore if not task.done()}
            if not pending:
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                names = sorted(task.get_name() for task in pending)
                raise HarnessError(f"the bot was still busy after {limit}s: {names}")
            await asyncio.wait(pending, timeout=remaining)

    def _raise_if_crashed(self) -> None:
        task = self._bot_task
        if task is not None and task.done() and not self._closed:
            error = None if task.cancelled() else task.exception()
            raise HarnessError(f"the bot's gateway loop stopped: {error!r}") from error

    async def wait_for_request(
        self, predicate: Callable[[RecordedRequest], bool], *, timeout: float | None = None
    ) -> RecordedRequest:
        """Wait for a request matching ``predicate`` (already made ones count).

        Raises
        ------
        HarnessError
            No such request within ``timeout``.
        """
        loop = asyncio.get_running_loop()
        limit = self.timeout if timeout is None else timeout
        deadline = loop.time() + limit
        checked = 0
        while True:
            for request in self.requests[checked:]:
                if predicate(request):
                    return request
            checked = len(self.requests)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise HarnessError(f"no matching request within {limit}s")
            self._request_event.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._request_event.wait(), remaining)

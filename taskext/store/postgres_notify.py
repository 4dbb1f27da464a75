"""LISTEN/NOTIFY for the PostgreSQL store: other processes' changes, pushed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

from .base import StoreError
from .postgres_queue import CHANNEL

__all__ = ["CONNECT_ERRORS", "DRIVER_ERRORS", "PostgresListener"]

log = logging.getLogger("taskext.store.postgres")

# Errors of the driver, the network and timeouts: all become StoreError.
DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    OSError,
    asyncio.TimeoutError,
)
# Connecting may also fail on a malformed URL or option.
CONNECT_ERRORS: tuple[type[BaseException], ...] = (*DRIVER_ERRORS, ValueError)


class PostgresListener:
    """The listener connection of :class:`~taskext.store.postgres.PostgresStore` (mixed in)."""

    url: str
    label: str
    connect_timeout: float
    _pool: Any
    _listener: Any
    _callbacks: list[Callable[[str], None]]
    _listen_lock: asyncio.Lock
    _relisten_task: asyncio.Task[None] | None

    async def _close_connection(self, conn: Any) -> None:
        conn.remove_termination_listener(self._listener_lost)
        try:
            await asyncio.wait_for(conn.close(), timeout=self.connect_timeout)
        except DRIVER_ERRORS:
            conn.terminate()

    # ------------------------------------------------------------------ change notifications

    async def listen(self, callback: Callable[[str], None]) -> bool:
        """Call ``callback("admin")``/``callback("adhoc")`` on every committed change, from a
        dedicated connection that ``close()`` closes. If that connection is lost, it is
        reopened in the background and every callback is called with both kinds (changes
        may have been missed meanwhile)."""
        if self._pool is None:
            raise StoreError(f"store {self.label} is not open")
        async with self._listen_lock:
            if self._listener is None and self._relisten_task is None:
                self._listener = await self._connect_listener()
            self._callbacks.append(callback)
        return True

    async def _connect_listener(self) -> Any:
        try:
            conn = await asyncpg.connect(
                self.url, timeout=self.connect_timeout, server_settings={"application_name": "taskext-listener"}
            )
        except CONNECT_ERRORS as exc:
            raise StoreError(f"cannot connect to PostgreSQL at {self.label} to listen for changes: {exc}") from exc
        try:
            await conn.add_listener(CHANNEL, self._notified)
        except DRIVER_ERRORS as exc:
            conn.terminate()
            raise StoreError(f"cannot LISTEN on PostgreSQL at {self.label}: {exc}") from exc
        if self._pool is None:  # closed while connecting
            await conn.close()
            raise StoreError(f"store {self.label} is not open")
        conn.add_termination_listener(self._listener_lost)
        return conn

    def _notified(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        self._dispatch(payload)

    def _dispatch(self, kind: str) -> None:
        for callback in list(self._callbacks):
            try:
                callback(kind)
            except Exception:
                log.exception("change callback %r failed", callback)

    def _listener_lost(self, conn: Any) -> None:
        if conn is not self._listener or self._pool is None:
            return
        self._listener = None
        log.warning("lost the PostgreSQL listener connection to %s; reconnecting", self.label)
        self._relisten_task = asyncio.get_running_loop().create_task(self._relisten())

    async def _relisten(self) -> None:
        delay = 0.1
        try:
            while self._pool is not None:
                try:
                    conn = await self._connect_listener()
                except StoreError as exc:
                    log.warning("%s; retrying in %.1f s", exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 30.0)
                    continue
                self._listener = conn
                # Whatever changed while nobody listened: let every listener look again.
                self._dispatch("admin")
                self._dispatch("adhoc")
                return
        finally:
            if self._relisten_task is asyncio.current_task():
                self._relisten_task = None

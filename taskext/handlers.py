"""``@taskext.adhoc``: handlers for one-off tasks that survive restarts (Moodle's adhoc tasks)."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from .retry import FailDelay, RetryPolicy

__all__ = ["Adhoc", "AdhocContext", "adhoc", "handlers"]

HF = TypeVar("HF", bound=Callable[..., Awaitable[Any]])

# Handlers by name: module functions when decorated, cog methods once bound to their cog.
_handlers: dict[str, Adhoc[Any]] = {}


def handlers() -> dict[str, Adhoc[Any]]:
    """Every ad hoc handler that can run in this process, by name."""
    return {name: handler for name, handler in _handlers.items() if handler.runnable}


@dataclass(frozen=True, slots=True)
class AdhocContext:
    """What a handler knows about the task it runs."""

    id: int
    name: str
    attempt: int
    max_attempts: int
    user_id: int | None
    guild_id: int | None
    enqueued_at: datetime
    run_at: datetime
    bot: Any
    manager: Any


def _positive_int(label: str, value: Any, *, allow_none: bool) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{label} must be a positive int{' or None' if allow_none else ''} (got {value!r})")
    return value


def _is_method(func: Callable[..., Any]) -> bool:
    parameters = list(inspect.signature(func).parameters)
    return "." in func.__qualname__.replace("<locals>.", "") and bool(parameters) and parameters[0] == "self"


class Adhoc(Generic[HF]):
    """An ad hoc task handler. Create it with :func:`adhoc`.

    The handler is called as ``await func(data, ctx)`` (``self`` first on a cog), with the
    task's JSON data and an :class:`AdhocContext`.
    """

    def __init__(
        self,
        func: HF,
        *,
        name: str | None = None,
        max_attempts: int = 5,
        retry: RetryPolicy | None = None,
        timeout: float | None = None,
        concurrency: int | None = None,
    ) -> None:
        self.func: HF = func
        if not inspect.iscoroutinefunction(self.func):
            raise TypeError(f"Expected coroutine function, not {type(func).__name__!r}.")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise ValueError("name must be a non-empty string")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise TypeError(f"retry must be a RetryPolicy, not {type(retry).__name__}")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
            raise ValueError(f"timeout must be a positive number of seconds or None (got {timeout!r})")
        self.name: str = name or func.__qualname__.replace("<locals>.", "")
        self.max_attempts: int = _positive_int("max_attempts", max_attempts, allow_none=False) or 1
        self.retry: RetryPolicy = retry or FailDelay()
        self.timeout: float | None = float(timeout) if timeout is not None else None
        self.concurrency: int | None = _positive_int("concurrency", concurrency, allow_none=True)
        self._instance: Any = None
        self._explicit_name = name is not None
        self.is_method = _is_method(func)
        if not self.is_method:
            _handlers[self.name] = self

    @property
    def runnable(self) -> bool:
        """Whether the handler can be called (a method must be bound to its cog)."""
        return not self.is_method or self._instance is not None

    def __get__(self, obj: Any, objtype: Any = None) -> Adhoc[HF]:
        if obj is None:
            return self
        name = self.name
        if not self._explicit_name:
            cog_name = getattr(obj, "__cog_name__", None) or type(obj).__name__
            name = f"{cog_name}.{self.func.__name__}"
        bound: Adhoc[HF] = Adhoc(
            self.func,
            name=name,
            max_attempts=self.max_attempts,
            retry=self.retry,
            timeout=self.timeout,
            concurrency=self.concurrency,
        )
        bound._instance = obj
        _handlers[name] = bound
        with contextlib.suppress(AttributeError):  # slotted objects: bound on every access instead
            setattr(obj, self.func.__name__, bound)
        return bound

    async def __call__(self, data: Any, ctx: AdhocContext) -> Any:
        """Run the handler directly (what the worker does for each task)."""
        if self._instance is not None:
            return await self.func(self._instance, data, ctx)
        return await self.func(data, ctx)

    def __repr__(self) -> str:
        return f"<Adhoc {self.name!r} max_attempts={self.max_attempts}>"


def adhoc(
    *,
    name: str | None = None,
    max_attempts: int = 5,
    retry: RetryPolicy | None = None,
    timeout: float | None = None,
    concurrency: int | None = None,
) -> Callable[[HF], Adhoc[HF]]:
    """Declare an ad hoc task handler, on a module function or a cog method.

    Parameters
    ----------
    name:
        The name tasks are queued under (default: the function's qualified name, or
        ``CogName.method`` on a cog).
    max_attempts:
        Runs before a failing task is kept as failed (default 5).
    retry:
        Delay between attempts (default Moodle's :class:`~taskext.FailDelay`).
    timeout:
        Seconds a run may take before it is cancelled and counted as failed.
    concurrency:
        At most this many runs of this handler at once in a process.

    Raises
    ------
    TypeError
        The function is not a coroutine function, or ``retry`` is not a RetryPolicy.
    ValueError
        An out-of-range value.
    """

    def decorator(func: HF) -> Adhoc[HF]:
        return Adhoc(func, name=name, max_attempts=max_attempts, retry=retry, timeout=timeout, concurrency=concurrency)

    return decorator

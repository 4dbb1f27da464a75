"""``@taskext.adhoc``: declaring handlers, the registry, cog binding and what a handler receives."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import discord
import pytest
from discord.ext import commands

import taskext
from taskext.handlers import _handlers, handlers
from taskext.manager import TaskManager, bind_handlers
from taskext.testing import FakeClock

UTC = timezone.utc
T0 = datetime(2026, 5, 6, 7, 0, tzinfo=UTC)


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait in real time for work done in the database thread."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.002)


@pytest.fixture(autouse=True)
def restore_registry() -> Iterator[None]:
    """Handlers registered by a test do not outlive it."""
    saved = dict(_handlers)
    yield
    _handlers.clear()
    _handlers.update(saved)


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    """A handler name unique to this test."""
    return f"test_adhoc.{request.node.name}"


class Managers:
    def __init__(self, tmp_path: Path) -> None:
        self.url = f"sqlite:///{tmp_path}/adhoc.db"
        self.clock = FakeClock(T0)
        self.opened: list[TaskManager] = []

    async def open(self, **options: Any) -> TaskManager:
        options.setdefault("adhoc_poll_interval", 0.02)
        options.setdefault("adhoc_lease", 600.0)
        manager = TaskManager(self.url, clock=self.clock, **options)
        self.opened.append(manager)
        await manager.open()
        return manager


@pytest.fixture
async def managers(tmp_path: Path) -> AsyncIterator[Managers]:
    made = Managers(tmp_path)
    yield made
    for manager in reversed(made.opened):
        await manager.close(timeout=0.2)


# Module-level handlers, as users declare them.


@taskext.adhoc()
async def adhoc_module_default_name(data: Any, ctx: taskext.AdhocContext) -> None:
    pass


@taskext.adhoc(name="test_adhoc.module.explicit", max_attempts=2, retry=taskext.FailDelay(first=5), timeout=3)
async def module_explicit(data: Any, ctx: taskext.AdhocContext) -> str:
    return f"{data}:{ctx.id}"


# ---------------------------------------------------------------- declaring


def test_module_function_is_registered_under_its_name() -> None:
    registered = handlers()
    assert registered["adhoc_module_default_name"] is adhoc_module_default_name
    assert registered["test_adhoc.module.explicit"] is module_explicit
    assert isinstance(module_explicit, taskext.Adhoc)
    assert module_explicit.name == "test_adhoc.module.explicit"
    assert module_explicit.max_attempts == 2
    assert module_explicit.retry.delay(1) == 5
    assert module_explicit.timeout == 3.0
    assert module_explicit.concurrency is None
    assert module_explicit.runnable and not module_explicit.is_method


def test_defaults() -> None:
    handler = adhoc_module_default_name
    assert handler.max_attempts == 5
    assert isinstance(handler.retry, taskext.FailDelay)
    assert handler.retry.delay(1) == 60  # Moodle's fail delay
    assert handler.timeout is None
    assert handler.concurrency is None


async def test_a_handler_can_be_called_directly() -> None:
    ctx = taskext.AdhocContext(
        id=41, name="x", attempt=1, max_attempts=2, user_id=None, guild_id=None,
        enqueued_at=T0, run_at=T0, bot=None, manager=None,
    )  # fmt: skip
    assert await module_explicit("hello", ctx) == "hello:41"


def test_a_function_in_a_test_gets_its_qualified_name() -> None:
    @taskext.adhoc()
    async def inner(data: Any, ctx: taskext.AdhocContext) -> None:
        pass

    assert inner.name == "test_a_function_in_a_test_gets_its_qualified_name.inner"
    assert handlers()[inner.name] is inner


def test_a_later_declaration_under_the_same_name_replaces_the_first(name: str) -> None:
    @taskext.adhoc(name=name)
    async def first(data: Any, ctx: taskext.AdhocContext) -> None:
        pass

    @taskext.adhoc(name=name)
    async def second(data: Any, ctx: taskext.AdhocContext) -> None:
        pass

    assert handlers()[name] is second


def test_a_non_coroutine_function_is_refused(name: str) -> None:
    def plain(data: Any, ctx: Any) -> None:
        pass

    with pytest.raises(TypeError, match="coroutine"):
        taskext.adhoc(name=name)(plain)  # type: ignore[type-var]
    with pytest.raises(TypeError, match="coroutine"):
        taskext.adhoc(name=name)(lambda data, ctx: None)  # type: ignore[arg-type, return-value]
    assert name not in handlers()


@pytest.mark.parametrize(
    ("options", "error", "words"),
    [
        ({"max_attempts": 0}, ValueError, "max_attempts"),
        ({"max_attempts": -3}, ValueError, "max_attempts"),
        ({"max_attempts": 1.5}, ValueError, "max_attempts"),
        ({"max_attempts": True}, ValueError, "max_attempts"),
        ({"max_attempts": None}, ValueError, "max_attempts"),
        ({"max_attempts": "3"}, ValueError, "max_attempts"),
        ({"timeout": 0}, ValueError, "timeout"),
        ({"timeout": -1.0}, ValueError, "timeout"),
        ({"timeout": True}, ValueError, "timeout"),
        ({"timeout": "5"}, ValueError, "timeout"),
        ({"concurrency": 0}, ValueError, "concurrency"),
        ({"concurrency": 2.0}, ValueError, "concurrency"),
        ({"concurrency": False}, ValueError, "concurrency"),
        ({"retry": 60}, TypeError, "RetryPolicy"),
        ({"retry": taskext.FailDelay}, TypeError, "RetryPolicy"),
        ({"retry": "exponential"}, TypeError, "RetryPolicy"),
        ({"name": ""}, ValueError, "name"),
        ({"name": "   "}, ValueError, "name"),
        ({"name": 5}, ValueError, "name"),
    ],
)
def test_bad_options_are_refused_and_nothing_is_registered(
    name: str, options: dict[str, Any], error: type[Exception], words: str
) -> None:
    before = dict(handlers())

    async def handler(data: Any, ctx: taskext.AdhocContext) -> None:
        pass

    options.setdefault("name", name)
    with pytest.raises(error, match=words):
        taskext.adhoc(**options)(handler)
    assert handlers() == before


def test_good_options_are_accepted(name: str) -> None:
    @taskext.adhoc(
        name=name, max_attempts=1, timeout=0.5, concurrency=1, retry=taskext.ExponentialBackoff(base=2, maximum=9)
    )
    async def handler(data: Any, ctx: taskext.AdhocContext) -> None:
        pass

    assert (handler.max_attempts, handler.timeout, handler.concurrency) == (1, 0.5, 1)
    assert handler.retry.maximum == 9


# ---------------------------------------------------------------- cogs


def test_cog_methods_are_registered_only_once_bound() -> None:
    class AdhocBindingCog(commands.Cog):
        def __init__(self) -> None:
            self.greeting = "hi"

        @taskext.adhoc()
        async def welcome(self, data: Any, ctx: taskext.AdhocContext) -> str:
            return f"{self.greeting} {data}"

        @taskext.adhoc(name="test_adhoc.cog.explicit", concurrency=2)
        async def explicit(self, data: Any, ctx: taskext.AdhocContext) -> None:
            pass

    unbound = AdhocBindingCog.__dict__["welcome"]
    assert isinstance(unbound, taskext.Adhoc) and unbound.is_method and not unbound.runnable
    assert "AdhocBindingCog.welcome" not in handlers()
    assert "test_adhoc.cog.explicit" not in handlers()
    cog = AdhocBindingCog()
    names = bind_handlers(cog)
    assert sorted(names) == ["AdhocBindingCog.welcome", "test_adhoc.cog.explicit"]
    registered = handlers()
    assert registered["AdhocBindingCog.welcome"] is cog.welcome
    assert registered["AdhocBindingCog.welcome"].runnable
    assert registered["test_adhoc.cog.explicit"].concurrency == 2
    # Binding again (a second scan) is harmless and keeps the same names.
    assert sorted(bind_handlers(cog)) == sorted(names)


async def test_a_cog_method_runs_with_its_cog_as_self() -> None:
    class AdhocSelfCog(commands.Cog):
        def __init__(self, greeting: str) -> None:
            self.greeting = greeting

        @taskext.adhoc()
        async def welcome(self, data: Any, ctx: taskext.AdhocContext) -> str:
            return f"{self.greeting} {data}"

    cog = AdhocSelfCog("hello")
    bind_handlers(cog)
    ctx = taskext.AdhocContext(
        id=1, name="AdhocSelfCog.welcome", attempt=1, max_attempts=5, user_id=None, guild_id=None,
        enqueued_at=T0, run_at=T0, bot=None, manager=None,
    )  # fmt: skip
    assert await handlers()["AdhocSelfCog.welcome"]("world", ctx) == "hello world"


def test_a_named_cog_uses_its_cog_name() -> None:
    class Internal(commands.Cog, name="AdhocPublicName"):
        @taskext.adhoc()
        async def work(self, data: Any, ctx: taskext.AdhocContext) -> None:
            pass

    assert bind_handlers(Internal()) == ["AdhocPublicName.work"]
    assert "AdhocPublicName.work" in handlers()


async def test_cog_handler_runs_through_a_bot_and_gets_the_bot(managers: Managers) -> None:
    got: list[tuple[Any, Any, taskext.AdhocContext]] = []

    class AdhocBotCog(commands.Cog):
        @taskext.adhoc(name="test_adhoc.bot.notify")
        async def notify(self, data: Any, ctx: taskext.AdhocContext) -> None:
            got.append((self, data, ctx))

    bot = discord.Bot()
    manager = TaskManager(managers.url, clock=managers.clock, adhoc_poll_interval=0.02, adhoc_lease=600.0)
    managers.opened.append(manager)
    manager.setup(bot)
    assert not manager.handlers_ready
    cog = AdhocBotCog()
    bot.add_cog(cog)  # binds the cog's handlers
    assert "test_adhoc.bot.notify" in handlers()
    bot.dispatch("ready")
    await eventually(lambda: manager.handlers_ready)
    task_id = await manager.enqueue("test_adhoc.bot.notify", {"channel": 5}, guild_id=77)
    await eventually(lambda: len(got) == 1)
    this, data, ctx = got[0]
    assert this is cog
    assert data == {"channel": 5}
    assert ctx.id == task_id
    assert ctx.bot is bot
    assert ctx.manager is manager
    assert ctx.guild_id == 77
    await bot.close()


# ---------------------------------------------------------------- what a handler receives


async def test_handler_receives_the_data_and_its_context(managers: Managers, name: str) -> None:
    got: list[tuple[Any, taskext.AdhocContext, datetime]] = []
    clock = managers.clock

    @taskext.adhoc(name=name, max_attempts=4)
    async def handler(data: Any, ctx: taskext.AdhocContext) -> None:
        got.append((data, ctx, clock.now()))

    manager = await managers.open()
    data = {"text": "héllo", "n": [1, 2.5, None, True], "nested": {"z": 1, "a": "b"}}
    task_id = await manager.enqueue(name, data, delay=90, user_id=1234567890123456789, guild_id=42)
    await eventually(lambda: T0 + timedelta(seconds=90) in clock.pending())
    await clock.advance(90)
    await eventually(lambda: len(got) == 1)
    received, ctx, ran_at = got[0]
    assert received == data
    assert ctx.id == task_id
    assert ctx.name == name
    assert ctx.attempt == 1
    assert ctx.max_attempts == 4
    assert ctx.user_id == 1234567890123456789
    assert ctx.guild_id == 42
    assert ctx.enqueued_at == T0
    assert ctx.run_at == T0 + timedelta(seconds=90)
    assert ran_at == T0 + timedelta(seconds=90)
    assert ctx.bot is None
    assert ctx.manager is manager
    with pytest.raises(AttributeError):
        ctx.attempt = 2  # type: ignore[misc]


@pytest.mark.parametrize("data", [None, 0, -1.5, "text", [], {}, [1, "a", None], {"a": {"b": [True, False]}}])
async def test_json_data_round_trips(managers: Managers, name: str, data: Any) -> None:
    got: list[Any] = []

    @taskext.adhoc(name=name)
    async def handler(value: Any, ctx: taskext.AdhocContext) -> None:
        got.append(value)

    manager = await managers.open()
    await manager.enqueue(name, data)
    await eventually(lambda: len(got) == 1)
    assert got == [data]
    assert json.dumps(got[0]) == json.dumps(data)
    await eventually(lambda: manager.worker is not None and not manager.worker._results)
    assert await manager.queue() == []


async def test_handler_without_data_receives_none(managers: Managers, name: str) -> None:
    got: list[Any] = []

    @taskext.adhoc(name=name)
    async def handler(value: Any, ctx: taskext.AdhocContext) -> None:
        got.append(value)

    manager = await managers.open()
    await manager.enqueue(name)
    await eventually(lambda: len(got) == 1)
    assert got == [None]

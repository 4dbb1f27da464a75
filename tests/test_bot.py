"""The sample bot's entry point (bot.py): configuration, startup, and how it fails.

``main()`` runs in a subprocess, as ``python bot.py`` does. python-dotenv looks for ``.env`` next to
bot.py (not in the working directory), so every variable of .env.example is passed explicitly: a
developer's real ``.env`` can then not leak into these runs (``load_dotenv`` never overrides a set variable).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import shutil
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import discord
import pytest
from aiohttp import WSMsgType, web
from dotenv import dotenv_values

from bot import TOKEN_HELP, Config, ConfigError, build_bot, load_config
from cogs.leaderboard import SCHEMA as LEADERBOARD_SCHEMA
from taskext.manager import TaskManager
from taskext.store import AdhocStatus, NewAdhoc, Outcome, SQLiteStore
from taskext.store.queue import dedupe_key
from taskext.testing import BotHarness, FakeGuild, FakeMember, FakeUser

ROOT = Path(__file__).resolve().parents[1]
BOT = ROOT / "bot.py"
VARIABLES = list(dotenv_values(ROOT / ".env.example"))

OWNER = FakeUser(4242, "owner")
APP_OWNER = FakeUser(4343, "app-owner")  # Discord's idea of the owner; OWNER_IDS overrides it
GUILD = FakeGuild(1000, "Test Guild", owner_id=APP_OWNER.id, members=[FakeMember(OWNER, administrator=True)])

# A line written by the logging handler bot.py installs: "2026-01-01 12:00:00,000:INFO:name: message".
LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}:[A-Z]+:")


# ---------------------------------------------------------------------------- load_config

FULL = {
    "DISCORD_TOKEN": "  MTIz.abc.def  ",
    "OWNER_IDS": "1, 22 ,333,",
    "TASKEXT_DATABASE_URL": "postgresql://user:secret@db.example:5432/bot",
    "DEBUG_GUILD_IDS": "10,20",
    "LOG_LEVEL": "debug",
    "TASKEXT_ALERT_CHANNEL_ID": " 555 ",
    "LEADERBOARD_DATABASE": "elsewhere/points.db",  # read by the LeaderboardCog, not by load_config
}


def test_every_documented_variable_is_covered() -> None:
    assert sorted(VARIABLES) == sorted(FULL)


def test_load_config_reads_every_variable() -> None:
    assert load_config(FULL) == Config(
        token="MTIz.abc.def",
        owner_ids=frozenset({1, 22, 333}),
        database_url="postgresql://user:secret@db.example:5432/bot",
        debug_guild_ids=(10, 20),
        log_level=logging.DEBUG,
        alert_channel_id=555,
    )


def test_load_config_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only the mapping it is given counts, not the process environment.
    monkeypatch.setenv("TASKEXT_DATABASE_URL", "sqlite:///not/this.db")
    expected = Config(
        token="t",
        owner_ids=frozenset(),
        database_url="sqlite:///data/taskext.db",
        debug_guild_ids=(),
        log_level=logging.INFO,
        alert_channel_id=None,
    )
    assert load_config({"DISCORD_TOKEN": "t"}) == expected
    blank = dict.fromkeys(FULL, "  ") | {"DISCORD_TOKEN": "t"}
    assert load_config(blank) == expected
    example = {key: value or "" for key, value in dotenv_values(ROOT / ".env.example").items()}
    assert load_config(example | {"DISCORD_TOKEN": "t"}) == expected  # .env.example with a token works as is


@pytest.mark.parametrize(("text", "level"), [("DEBUG", 10), ("info", 20), ("Warning", 30), ("ERROR", 40)])
def test_log_levels(text: str, level: int) -> None:
    assert load_config({"DISCORD_TOKEN": "t", "LOG_LEVEL": text}).log_level == level


@pytest.mark.parametrize("token", [None, "", "   "])
def test_a_missing_token_explains_how_to_get_one(token: str | None) -> None:
    environ = {} if token is None else {"DISCORD_TOKEN": token}
    with pytest.raises(ConfigError) as raised:
        load_config(environ)
    assert str(raised.value) == TOKEN_HELP.format(problem="not set")
    assert "https://discord.com/developers/applications" in str(raised.value) and ".env" in str(raised.value)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OWNER_IDS", "12,abc"),
        ("OWNER_IDS", "-12"),
        ("OWNER_IDS", "1.5"),
        ("OWNER_IDS", "12 34"),
        ("OWNER_IDS", "²"),  # a digit to str.isdigit(), not to int()
        ("DEBUG_GUILD_IDS", "my-guild"),
        ("DEBUG_GUILD_IDS", "1;2"),
        ("TASKEXT_ALERT_CHANNEL_ID", "#alerts"),
        ("TASKEXT_ALERT_CHANNEL_ID", "1,2"),  # one channel
        ("LOG_LEVEL", "LOUD"),
        ("LOG_LEVEL", "5"),
    ],
)
def test_malformed_values_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config({"DISCORD_TOKEN": "t", variable: value})
    message = str(raised.value)
    assert message.startswith(f"{variable} must be ")
    assert "\n" not in message


# ---------------------------------------------------------------------------- main(), in a subprocess


@dataclass
class Exit:
    code: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stderr.splitlines()


def environment(tmp_path: Path, **values: str) -> dict[str, str]:
    """Every documented variable set (empty unless given), so that no real .env is used."""
    env = dict.fromkeys(VARIABLES, "")
    env.update(TASKEXT_DATABASE_URL=f"sqlite:///{tmp_path / 'data' / 'taskext.db'}")
    env.update(LEADERBOARD_DATABASE=str(tmp_path / "data" / "points.db"))
    env.update(values, PYTHONPATH=str(ROOT))
    return env


async def run_bot(*args: str, env: Mapping[str, str], cwd: Path) -> Exit:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=cwd,
        env=dict(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return Exit(process.returncode, stdout.decode(), stderr.decode())


async def test_main_without_a_token_exits_2_with_one_line(tmp_path: Path) -> None:
    result = await run_bot(str(BOT), env=environment(tmp_path), cwd=tmp_path)
    assert result.code == 2
    assert result.stdout == ""
    assert result.lines == [TOKEN_HELP.format(problem="not set")]
    assert not (tmp_path / "data").exists()  # nothing was started


async def test_main_with_a_malformed_variable_exits_2_naming_it(tmp_path: Path) -> None:
    result = await run_bot(str(BOT), env=environment(tmp_path, DISCORD_TOKEN="t", OWNER_IDS="me"), cwd=tmp_path)
    assert (result.code, result.stdout) == (2, "")
    assert result.lines == ["OWNER_IDS must be comma-separated Discord ids (numbers), got 'me'"]


async def test_main_reads_the_env_file_next_to_bot_py(tmp_path: Path) -> None:
    shutil.copy(BOT, tmp_path / "bot.py")
    (tmp_path / ".env").write_text("DISCORD_TOKEN=from-the-file\nDEBUG_GUILD_IDS=1,two\n")
    result = await run_bot(str(tmp_path / "bot.py"), env={"PYTHONPATH": str(ROOT)}, cwd=tmp_path)
    assert (result.code, result.stdout) == (2, "")
    assert result.lines == ["DEBUG_GUILD_IDS must be comma-separated Discord ids (numbers), got '1,two'"]


# main() against a local HTTP server standing in for Discord's API (py-cord's API base URL pointed at it):
# the bot that main() builds is its own, so the in-process BotHarness cannot be attached to it.
AGAINST = (
    "import os, runpy, sys, discord.http;"
    " discord.http.Route.API_BASE_URL = sys.argv[1];"
    " sys.argv = sys.argv[2:];"
    " sys.path.insert(0, os.path.dirname(sys.argv[0]));"  # as `python bot.py` does
    " runpy.run_path(sys.argv[0], run_name='__main__')"
)


@pytest.fixture
async def discord_api() -> AsyncIterator[tuple[str, list[tuple[str, str, str | None]]]]:
    """An API that rejects every token (401 on GET /users/@me, as Discord does)."""
    seen: list[tuple[str, str, str | None]] = []

    async def me(request: web.Request) -> web.Response:
        seen.append((request.method, request.path, request.headers.get("Authorization")))
        return web.json_response({"message": "401: Unauthorized", "code": 0}, status=401)

    app = web.Application()
    app.router.add_get("/api/v10/users/@me", me)
    runner = web.AppRunner(app)
    await runner.setup()
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    await web.SockSite(runner, listening).start()
    try:
        yield f"http://127.0.0.1:{port}/api/v{{API_VERSION}}", seen
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("level", ["", "ERROR"])
async def test_a_token_rejected_by_discord_exits_2_with_one_line(
    tmp_path: Path, discord_api: tuple[str, list[Any]], level: str
) -> None:
    url, seen = discord_api
    env = environment(tmp_path, DISCORD_TOKEN="bad.token", LOG_LEVEL=level)
    result = await run_bot("-c", AGAINST, url, str(BOT), env=env, cwd=tmp_path)
    assert seen == [("GET", "/api/v10/users/@me", "Bot bad.token")]
    assert (result.code, result.stdout) == (2, "")
    assert "Traceback" not in result.stderr
    message = TOKEN_HELP.format(problem="rejected by Discord")
    assert [line for line in result.lines if not LOG_RECORD.match(line)] == [message]
    if level == "ERROR":
        assert result.lines == [message]


async def test_an_unreachable_discord_exits_1_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = environment(tmp_path, DISCORD_TOKEN="t", LOG_LEVEL="ERROR")
    result = await run_bot(
        "-c", AGAINST, f"http://127.0.0.1:{port}/api/v{{API_VERSION}}", str(BOT), env=env, cwd=tmp_path
    )
    assert (result.code, result.stdout) == (1, "")
    (line,) = result.lines
    assert line.startswith(f"Cannot reach Discord: Cannot connect to host 127.0.0.1:{port}")


# ---------------------------------------------------------------------------- build_bot


async def test_build_bot_loads_every_cog_and_a_task_manager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADERBOARD_DATABASE", str(tmp_path / "points.db"))
    url = f"sqlite:///{tmp_path / 'taskext.db'}"
    config = load_config(
        {"DISCORD_TOKEN": "t", "OWNER_IDS": str(OWNER.id), "TASKEXT_DATABASE_URL": url, "DEBUG_GUILD_IDS": "1000"}
    )
    bot = build_bot(config)
    assert isinstance(bot, discord.Bot)
    assert sorted(bot.cogs) == ["Leaderboard", "TasksCog"]
    assert {"cogs.leaderboard", "taskext.cog"} <= set(bot.extensions)
    manager = TaskManager.of(bot)
    assert manager is not None and manager.store.url == url
    assert bot.owner_ids == {OWNER.id} and bot.debug_guilds == [GUILD.id]
    assert not bot.intents.message_content and not bot.intents.members and bot.intents.guild_messages

    async with BotHarness(bot, owner_id=APP_OWNER.id, guilds=[GUILD]) as harness:
        # DEBUG_GUILD_IDS: the commands are registered in that guild, at once.
        (sync,) = harness.find_requests("PUT", "/applications/{application_id}/guilds/{guild_id}/commands")
        assert sync.path_params["guild_id"] == str(GUILD.id)
        assert {command["name"] for command in sync.json} == {"tasks", "leaderboard", "leaderboard_config"}

        listed = await harness.invoke("tasks list", user=FakeMember(OWNER, administrator=True))
        (embed,) = listed.embeds
        assert [field["name"] for field in embed["fields"]] == ["Leaderboard.update_leaderboard"]
        # OWNER_IDS replaces the application's owner as the bot's owner.
        refused = await harness.invoke("tasks list", user=FakeMember(APP_OWNER))
        assert refused.embeds[0]["description"] == "Only the bot's owners can use `/tasks`."
        assert harness.find_requests("GET", "/oauth2/applications/@me") == []
    assert bot.is_closed()
    assert (tmp_path / "taskext.db").is_file() and (tmp_path / "points.db").is_file()


# ---------------------------------------------------------------------------- a running bot, stopped by a signal
#
# `python bot.py` (through tests/bot_against.py) against a local stand-in for Discord that answers the REST
# calls py-cord makes and serves a minimal gateway, so the bot logs in, connects, syncs its commands and gets
# ready. Then a signal arrives while work is running: a leaderboard update (held up by a lock the test keeps on
# the points database) and an ad hoc task (tests/bot_against.py's probe.hold, waiting for a file).

AGAINST_SCRIPT = ROOT / "tests" / "bot_against.py"
TOKEN = "fake.bot.token"
BOT_USER = {"id": "1001", "username": "taskext-test", "discriminator": "0", "avatar": None, "bot": True}
LEADERBOARD = "Leaderboard.update_leaderboard"
PROBE = "probe.hold"  # the ad hoc handler tests/bot_against.py declares
INFO_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}:INFO:")


def _json(data: Any, status: int = 200) -> web.Response:
    # py-cord decodes a body only when its content type is exactly "application/json" (no charset).
    return web.Response(body=json.dumps(data).encode(), status=status, content_type="application/json")


@dataclass
class FakeDiscord:
    """What the stand-in for Discord saw."""

    api_url: str
    requests: list[tuple[str, str]]
    unexpected: list[tuple[str, str]]
    identified: list[dict[str, Any]]


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    app = web.Application()
    seen = FakeDiscord("", [], [], [])
    gateway_url = ""

    async def gateway(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": 41250}})  # HELLO
        async for message in ws:
            if message.type is not WSMsgType.TEXT:
                continue
            frame = json.loads(message.data)
            if frame["op"] == 1:  # HEARTBEAT
                await ws.send_json({"op": 11})
            elif frame["op"] == 2:  # IDENTIFY
                seen.identified.append(frame["d"])
                ready = {
                    "v": 10,
                    "user": BOT_USER,
                    "guilds": [],
                    "session_id": "session-1",
                    "resume_gateway_url": gateway_url,
                    "shard": [0, 1],
                    "application": {"id": BOT_USER["id"], "flags": 0},
                    "private_channels": [],
                    "relationships": [],
                    "_trace": ["taskext-test"],
                }
                await ws.send_json({"op": 0, "t": "READY", "s": 1, "d": ready})
        return ws

    async def api(request: web.Request) -> web.Response:
        method, path = request.method, request.path.removeprefix(f"/api/v{discord.http.API_VERSION}")
        seen.requests.append((method, path))
        commands = f"/applications/{BOT_USER['id']}/commands"
        if (method, path) == ("GET", "/users/@me"):
            if request.headers.get("Authorization") != f"Bot {TOKEN}":
                return _json({"message": "401: Unauthorized", "code": 0}, 401)
            return _json(BOT_USER)
        if (method, path) in (("GET", "/gateway"), ("GET", "/gateway/bot")):
            return _json({"url": gateway_url, "shards": 1})
        if (method, path) == ("GET", "/soundboard-default-sounds"):
            return _json([])
        if (method, path) == ("GET", commands):
            return _json([])
        if (method, path) == ("PUT", commands):
            sent = await request.json()
            return _json(
                [
                    {"type": 1, **command, "id": str(2000 + i), "application_id": BOT_USER["id"], "version": "1"}
                    for i, command in enumerate(sent)
                ]
            )
        seen.unexpected.append((method, path))
        return _json({"message": "404: Not Found", "code": 0}, 404)

    app.router.add_get("/gateway-ws", gateway)
    app.router.add_route("*", "/api/{tail:.*}", api)
    runner = web.AppRunner(app)
    await runner.setup()
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    await web.SockSite(runner, listening).start()
    gateway_url = f"ws://127.0.0.1:{port}/gateway-ws"
    seen.api_url = f"http://127.0.0.1:{port}/api/v{{API_VERSION}}"
    try:
        yield seen
    finally:
        await runner.cleanup()


class RunningBot:
    """`python bot.py` in a subprocess whose output is read as it comes."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.stderr: list[str] = []
        self.stdout: list[str] = []
        assert process.stdout is not None and process.stderr is not None
        self._readers = [
            asyncio.ensure_future(self._read(process.stdout, self.stdout)),
            asyncio.ensure_future(self._read(process.stderr, self.stderr)),
        ]

    @staticmethod
    async def _read(stream: asyncio.StreamReader, lines: list[str]) -> None:
        while line := await stream.readline():
            lines.append(line.decode().rstrip("\n"))

    def index(self, text: str) -> int:
        """The index of the first stderr line containing ``text`` (ValueError if none)."""
        return next(i for i, line in enumerate(self.stderr) if text in line)

    async def wait_for(self, text: str, *, timeout: float = 10.0) -> int:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = [i for i, line in enumerate(self.stderr) if text in line]
            if found:
                return found[0]
            if self.process.returncode is not None or asyncio.get_running_loop().time() > deadline:
                output = "\n".join(self.stderr)
                raise AssertionError(f"{text!r} not logged (exit code {self.process.returncode}):\n{output}")
            await asyncio.sleep(0.02)

    async def wait(self, *, timeout: float) -> int:
        try:
            code = await asyncio.wait_for(self.process.wait(), timeout=timeout)
        except asyncio.TimeoutError:
            output = "\n".join(self.stderr)
            raise AssertionError(f"the bot did not exit within {timeout} s:\n{output}") from None
        await asyncio.gather(*self._readers)
        return code

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        await asyncio.gather(*self._readers, return_exceptions=True)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_stops_the_running_bot_cleanly(
    tmp_path: Path, fake_discord: FakeDiscord, sig: signal.Signals
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    database = data / "taskext.db"
    url = f"sqlite:///{database}"
    release = tmp_path / "release"

    # State written before the bot starts: an ad hoc task due now (its handler is probe.hold) and one due later.
    now = datetime.now(timezone.utc)

    def new(run_at: datetime) -> NewAdhoc:
        text = json.dumps({"release": str(release)})
        return NewAdhoc(PROBE, text, run_at, now, 1, dedupe_key(PROBE, text, None))

    async with SQLiteStore(url) as store:
        held, later = await store.enqueue([new(now), new(now + timedelta(hours=1))], dedupe=False)

    # The leaderboard's points database, locked: the loop's first update blocks in it until the test lets go.
    points = sqlite3.connect(data / "points.db", isolation_level=None)
    points.execute(LEADERBOARD_SCHEMA)
    points.execute("INSERT INTO points VALUES (1000, 4242, 'owner', 3)")
    points.execute("BEGIN EXCLUSIVE")

    env = environment(tmp_path, DISCORD_TOKEN=TOKEN, LOG_LEVEL="INFO")
    assert env["TASKEXT_DATABASE_URL"] == url and env["LEADERBOARD_DATABASE"] == str(data / "points.db")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(AGAINST_SCRIPT),
        fake_discord.api_url,
        str(BOT),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    bot = RunningBot(process)
    try:
        # Ready (on_ready opened the store), with both pieces of work running.
        await bot.wait_for("taskext: store sqlite:")
        await bot.wait_for(f"{LEADERBOARD}: Updating leaderboard...")
        await bot.wait_for(f"{PROBE} {held} started")

        signalled = datetime.now(timezone.utc)
        started = time.monotonic()
        process.send_signal(sig)
        await bot.wait_for(f"Received {sig.name}: finishing running tasks and closing.")
        await asyncio.sleep(1.0)
        assert process.returncode is None, "the bot exited without waiting for its running work"
        release.touch()  # probe.hold can return ...
        await bot.wait_for(f"{PROBE} {held} finished")
        points.execute("ROLLBACK")  # ... then the update can read the points, and finish last
        code = await bot.wait(timeout=10.0)
        elapsed = time.monotonic() - started
    finally:
        points.close()
        await bot.kill()

    stderr = "\n".join(bot.stderr)
    assert code == 0, stderr
    assert bot.stdout == []
    assert "Traceback" not in stderr
    assert [line for line in bot.stderr if not LOG_RECORD.match(line)] == []  # no print()ed exception either
    # INFO records only, but for py-cord's warning that voice is off (PyNaCl and davey are not installed).
    louder = [line for line in bot.stderr if not INFO_RECORD.match(line) and "voice will NOT be supported" not in line]
    assert louder == [], stderr
    assert 1.0 <= elapsed < 10.0

    # It logged in, identified with the token, synced its commands: a real start.
    assert [frame["token"] for frame in fake_discord.identified] == [TOKEN]
    assert ("GET", "/users/@me") in fake_discord.requests
    assert ("PUT", f"/applications/{BOT_USER['id']}/commands") in fake_discord.requests
    assert fake_discord.unexpected == []

    # The running work finished after the signal, before the exit.
    received = bot.index(f"Received {sig.name}")
    assert received < bot.index(f"{PROBE} {held} finished") < bot.index("Stopped updating leaderboard.")

    # The store was closed: no WAL left behind, and the file is free to write at once.
    assert database.is_file()
    assert not database.with_name("taskext.db-wal").exists()
    check = sqlite3.connect(database, timeout=0, isolation_level=None)
    try:
        check.execute("BEGIN EXCLUSIVE")
        assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        check.execute("ROLLBACK")
    finally:
        check.close()

    async with SQLiteStore(url) as store:
        # The leaderboard task was registered, and its update running at the signal was logged, finished.
        state = await store.get_task(LEADERBOARD)
        assert (state.run_count, state.last_outcome, state.failures) == (1, Outcome.SUCCEEDED, 0)
        (run,) = await store.runs(LEADERBOARD)
        assert run.outcome is Outcome.SUCCEEDED and run.error is None
        assert run.started is not None and run.finished is not None
        assert run.started < signalled < run.finished
        assert "Updating leaderboard..." in run.output
        # The ad hoc task running at the signal finished (succeeded tasks are deleted); the later one waits.
        (waiting,) = await store.list_adhoc()
        assert (waiting.id, waiting.status, waiting.attempts) == (later, AdhocStatus.PENDING, 0)
        assert waiting.acquired_by is None

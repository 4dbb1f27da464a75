"""The seed guide's two examples run unchanged with ``import taskext as tasks``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import discord
import pytest

from taskext.testing import FakeClock, use_clock

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_examples() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    return [block for block in blocks if "import taskext as tasks" in block][:2]


def test_readme_shows_both_seed_examples() -> None:
    first, second = readme_examples()
    assert "very_useful_task" in first and "@tasks.loop(seconds=5)" in first
    assert "class MyCog(commands.Cog)" in second and "self.printer.start()" in second


async def test_very_useful_task_runs_every_five_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    source = readme_examples()[0].replace('bot.run("TOKEN")', "")
    namespace: dict[str, Any] = {}
    clock = FakeClock()
    with use_clock(clock):
        exec(compile(source, "README.md", "exec"), namespace)
        assert isinstance(namespace["bot"], discord.Bot)
        namespace["very_useful_task"].start()  # what on_ready does
    await clock.advance(seconds=15)
    assert capsys.readouterr().out.count("doing very useful stuff.") == 4  # at 0, 5, 10, 15
    namespace["very_useful_task"].cancel()
    await clock.settle()
    await namespace["bot"].close()


async def test_cog_printer_increments_index_every_five_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(readme_examples()[1], "README.md", "exec"), namespace)
    clock = FakeClock()
    with use_clock(clock):
        cog = namespace["MyCog"]()
    await clock.advance(seconds=12)
    assert cog.index == 3
    assert capsys.readouterr().out.split() == ["0", "1", "2"]
    cog.cog_unload()
    await clock.settle()
    assert not cog.printer.is_running()

"""Capture what a task logs during a run (Moodle's mtrace), bounded in size."""

from __future__ import annotations

import contextvars
import logging

__all__ = ["RunOutput", "begin", "end", "install"]

_current: contextvars.ContextVar[RunOutput | None] = contextvars.ContextVar("taskext_run_output", default=None)
_FORMAT = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
TRUNCATED = "\n[... output truncated]"


class RunOutput:
    """Log lines of one run, at most ``limit`` characters."""

    __slots__ = ("limit", "parts", "size", "truncated")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.size = 0
        self.truncated = False

    def add(self, line: str) -> None:
        if self.truncated:
            return
        room = self.limit - self.size
        if len(line) + 1 > room:
            self.parts.append(line[: max(room, 0)])
            self.truncated = True
            return
        self.parts.append(line)
        self.size += len(line) + 1

    def text(self) -> str:
        return "\n".join(self.parts) + (TRUNCATED if self.truncated else "")


class _CaptureHandler(logging.Handler):
    """Copies records emitted inside a run's context into that run's output."""

    def emit(self, record: logging.LogRecord) -> None:
        output = _current.get()
        if output is not None:
            try:
                output.add(_FORMAT.format(record))
            except Exception:  # a bad record must not break the task
                self.handleError(record)


_handler = _CaptureHandler()


def install() -> None:
    """Attach the capture handler to the root logger (idempotent)."""
    root = logging.getLogger()
    if _handler not in root.handlers:
        root.addHandler(_handler)


def begin(limit: int) -> tuple[RunOutput, contextvars.Token[RunOutput | None]]:
    """Start collecting log lines emitted in this context (and tasks it creates)."""
    output = RunOutput(limit)
    return output, _current.set(output)


def end(token: contextvars.Token[RunOutput | None]) -> None:
    """Stop the collection started by :func:`begin`."""
    _current.reset(token)

"""The exceptions the harness raises."""

from __future__ import annotations


class HarnessError(Exception):
    """Something the harness could not do (startup failure, timeout, misuse)."""


class CommandNotAvailable(HarnessError):
    """The command is not registered, or a Discord client would not offer it to this user here."""


class InvalidCommandInput(HarnessError, ValueError):
    """Options a Discord client would refuse to send (missing, unknown, wrong type, out of range)."""


class InteractionNotAnswered(HarnessError):
    """The bot did not answer the interaction ("The application did not respond")."""

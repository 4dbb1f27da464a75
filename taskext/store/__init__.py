"""Stores: where task state and run logs persist. SQLite by default, PostgreSQL on request."""

from __future__ import annotations

import os
from typing import Any

from .base import (
    NotATaskextDatabase,
    Outcome,
    RunRecord,
    RunStats,
    SchemaTooNew,
    Store,
    StoreError,
    TaskState,
    TickClaim,
)
from .queue import AdhocResult, AdhocStatus, AdhocTask, Claim, NewAdhoc
from .sqlite import SQLiteStore

__all__ = [
    "DEFAULT_DATABASE_URL",
    "AdhocResult",
    "AdhocStatus",
    "AdhocTask",
    "Claim",
    "NewAdhoc",
    "NotATaskextDatabase",
    "Outcome",
    "RunRecord",
    "RunStats",
    "SQLiteStore",
    "SchemaTooNew",
    "Store",
    "StoreError",
    "TaskState",
    "TickClaim",
    "default_database_url",
    "store_for_url",
]

DEFAULT_DATABASE_URL = "sqlite:///data/taskext.db"


def store_for_url(url: str, **options: Any) -> Store:
    """Build the store a database URL names: ``sqlite:///path.db`` or ``postgresql://user@host/db``.

    The PostgreSQL store is imported only for a PostgreSQL URL, so asyncpg (the
    ``postgres`` extra) is needed only then.
    """
    if not isinstance(url, str) or not url:
        raise ValueError(f"database URL must be a non-empty string, not {url!r}")
    if url.startswith("sqlite:"):
        return SQLiteStore(url, **options)
    if url.startswith(("postgresql://", "postgres://")):
        try:
            from .postgres import PostgresStore
        except ImportError as exc:
            if getattr(exc, "name", None) == "asyncpg":
                raise StoreError("a PostgreSQL database URL needs asyncpg: pip install 'taskext[postgres]'") from exc
            raise
        return PostgresStore(url, **options)
    scheme = url.split(":", 1)[0] if ":" in url else url
    raise ValueError(
        f"unsupported database URL {_redacted(url)!r}: scheme {scheme!r}"
        " (use sqlite:///path/to/file.db or postgresql://user@host/database)"
    )


def _redacted(url: str) -> str:
    """``url`` without a password (``scheme://user:secret@host`` -> ``scheme://user:***@host``)."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in credentials:
        return url
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"


def default_database_url() -> str:
    """``TASKEXT_DATABASE_URL`` from the environment, else a SQLite file under ``./data/``."""
    return os.environ.get("TASKEXT_DATABASE_URL") or DEFAULT_DATABASE_URL

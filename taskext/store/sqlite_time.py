"""Time columns in SQLite: aware datetimes stored as UTC epoch seconds (REAL)."""

from __future__ import annotations

from datetime import datetime, timezone

__all__ = ["from_seconds", "optional_datetime", "optional_seconds", "seconds"]

UTC = timezone.utc


def seconds(value: datetime) -> float:
    """Epoch seconds of an aware datetime; a naive one is refused (it has no instant)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"taskext stores aware datetimes only, got naive {value.isoformat()}")
    return value.timestamp()


def from_seconds(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def optional_seconds(value: datetime | None) -> float | None:
    return seconds(value) if value is not None else None


def optional_datetime(value: float | None) -> datetime | None:
    return from_seconds(value) if value is not None else None

"""``parse_schedule``: schedule text to a pure schedule object.

Accepted forms: durations (``10m``, ``1h30m``), times of day with an optional zone
(``09:00,21:00 Europe/Paris``) and five-field cron with an optional zone.
"""

from __future__ import annotations

import re
from datetime import time, tzinfo

from .errors import ScheduleError
from .schedules import CRON_ALIASES, UTC, Cron, Interval, Schedule, TimesOfDay, parse_zone

__all__ = ["parse_schedule"]


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([a-zA-Z]+)")
_UNITS = {
    "d": 86400.0, "day": 86400.0, "days": 86400.0,
    "h": 3600.0, "hr": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
}  # fmt: skip
_TIME_ITEM = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?")


def _parse_duration(text: str, original: str) -> Interval:
    compact = text.replace(" ", "")
    position = 0
    total = 0.0
    for match in _DURATION_PART.finditer(text):
        if text[position : match.start()].strip():
            break
        unit = match.group(2).lower()
        if unit not in _UNITS:
            raise ScheduleError(
                f"invalid schedule {original!r}: unknown unit {match.group(2)!r} (use d, h, m or s, as in 1h30m)"
            )
        total += float(match.group(1)) * _UNITS[unit]
        position = match.end()
    if position == 0 or text[position:].strip():
        bad = text[position:].strip() or compact
        raise ScheduleError(f"invalid schedule {original!r}: cannot read {bad!r} as a duration such as 10m or 1h30m")
    if total <= 0:
        raise ScheduleError(f"invalid schedule {original!r}: an interval must be longer than zero")
    return Interval(total)


def _parse_time_item(item: str, original: str) -> time:
    match = _TIME_ITEM.fullmatch(item)
    if not match:
        raise ScheduleError(f"invalid schedule {original!r}: {item!r} is not a time of day (HH:MM or HH:MM:SS)")
    hour, minute = int(match.group(1)), int(match.group(2))
    second = int(match.group(3) or 0)
    micro = int((match.group(4) or "0").ljust(6, "0"))
    if hour > 23:
        raise ScheduleError(f"invalid schedule {original!r}: hour {hour} in {item!r} is out of range 0-23")
    if minute > 59:
        raise ScheduleError(f"invalid schedule {original!r}: minute {minute} in {item!r} is out of range 0-59")
    if second > 59:
        raise ScheduleError(f"invalid schedule {original!r}: second {second} in {item!r} is out of range 0-59")
    return time(hour, minute, second, micro)


def _parse_times(text: str, original: str) -> TimesOfDay:
    items = [part.strip() for part in text.split(",")]
    if any(not part for part in items):
        raise ScheduleError(f"invalid schedule {original!r}: empty item in the list of times")
    parsed: list[tuple[time, tzinfo | None]] = []
    for item in items:
        words = item.split()
        if len(words) > 2:
            raise ScheduleError(f"invalid schedule {original!r}: cannot read {item!r} as 'HH:MM [zone]'")
        zone = parse_zone(words[1]) if len(words) == 2 else None
        parsed.append((_parse_time_item(words[0], original), zone))
    # A zone written only after the last time applies to the whole list.
    zones = [zone for _, zone in parsed]
    shared = zones[-1] if zones[-1] is not None and all(z is None for z in zones[:-1]) else None
    times = [t.replace(tzinfo=zone or shared or UTC) for t, zone in parsed]
    return TimesOfDay(times)


def _looks_like_zone(word: str) -> bool:
    if ("/" in word and not any(ch.isdigit() for ch in word.split("/")[0])) or word.upper() in (
        "UTC",
        "GMT",
        "Z",
    ):
        return True
    # Offsets (+09:00) and IANA names without a slash (Japan) as written by to_text().
    try:
        parse_zone(word)
    except ScheduleError:
        return False
    return True


def parse_schedule(text: str, *, seed: str | None = None) -> Schedule:
    """Parse schedule text into an :class:`Interval`, :class:`TimesOfDay` or :class:`Cron`.

    Accepted forms: durations (``10m``, ``1h30m``, ``90s``, ``every 2h``), times of day
    with an optional zone (``09:00``, ``09:00,21:00 Europe/Paris``), and five-field cron
    with an optional zone (``*/5 * * * *``, ``30 17 * 1,7 0``, ``0 9 * * MON-FRI Europe/Berlin``,
    ``@daily``).

    Parameters
    ----------
    text:
        The schedule text.
    seed:
        Fixes cron ``R`` fields (taskext passes the task name).

    Raises
    ------
    ScheduleError
        (a ``ValueError``) naming the part that could not be read.
    """
    if not isinstance(text, str):
        raise TypeError(f"schedule text must be a str, not {type(text).__name__}")
    original = text
    body = " ".join(text.split())
    if not body:
        raise ScheduleError("empty schedule: give a duration (10m), times (09:00) or cron (*/5 * * * *)")
    lowered = body.lower()
    if lowered.startswith("every "):
        return _parse_duration(body[6:], original)
    words = body.split()
    if words[0].startswith("@"):
        zone = parse_zone(" ".join(words[1:])) if len(words) > 1 else None
        if words[0].lower() not in CRON_ALIASES:
            raise ScheduleError(f"invalid schedule {original!r}: unknown alias {words[0]!r}")
        return Cron(words[0], tz=zone, seed=seed)
    if _TIME_ITEM.match(words[0]):
        return _parse_times(body, original)
    if len(words) >= 5:
        zone_words = words[5:]
        if len(words) > 6 or (zone_words and not _looks_like_zone(zone_words[0])):
            raise ScheduleError(
                f"invalid schedule {original!r}: a cron expression has 5 fields"
                " (minute hour day-of-month month day-of-week), optionally followed by a time zone"
            )
        return Cron(" ".join(words[:5]), tz=parse_zone(zone_words[0]) if zone_words else None, seed=seed)
    if re.match(r"\d", body) and not any(ch in body for ch in "*,/-"):
        return _parse_duration(body, original)
    raise ScheduleError(
        f"invalid schedule {original!r}: not a duration (10m, 1h30m), times of day"
        " (09:00,21:00 Europe/Paris) or a 5-field cron expression (*/5 * * * *)"
    )

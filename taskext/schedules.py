"""Pure schedule objects (the text parser is :mod:`taskext.parsing`).

A schedule answers one question, ``next_after(dt)``: the first fire time strictly
after ``dt``. It never reads the clock; the caller passes the instant in. Input and
output are aware datetimes; arithmetic is done in UTC and a task's zone is only used
to match wall-clock fields.
"""

from __future__ import annotations

import abc
import bisect
import datetime as dt_mod
import hashlib
import random
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from .errors import ScheduleError

__all__ = [
    "Cron",
    "Interval",
    "Schedule",
    "TimesOfDay",
    "parse_zone",
    "zone_name",
]

UTC = timezone.utc
_ZERO = timedelta(0)


def _require_aware(dt: datetime) -> None:
    if not isinstance(dt, datetime):
        raise TypeError(f"next_after() expects a datetime, not {type(dt).__name__}")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"next_after() needs an aware datetime, got naive {dt.isoformat()}")


def parse_zone(value: str | tzinfo | None) -> tzinfo:
    """Return a tzinfo for an IANA name, ``UTC``, ``+HH:MM``, a tzinfo, or ``None`` (UTC).

    Raises
    ------
    ScheduleError
        The name is not a known time zone.
    """
    if value is None:
        return UTC
    if isinstance(value, tzinfo):
        return value
    if not isinstance(value, str):
        raise TypeError(f"tz must be a str or tzinfo, not {type(value).__name__}")
    text = value.strip()
    if text.upper() in ("UTC", "Z", "GMT"):
        return UTC
    match = re.fullmatch(r"(?:UTC)?([+-])(\d{1,2})(?::?(\d{2}))?", text)
    if match:
        sign = 1 if match.group(1) == "+" else -1
        hours, minutes = int(match.group(2)), int(match.group(3) or 0)
        if hours > 23 or minutes > 59:
            raise ScheduleError(f"invalid UTC offset {value!r}")
        return timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)") from None


def zone_name(tz: tzinfo) -> str:
    """The text form of a zone that :func:`parse_zone` reads back."""
    if isinstance(tz, ZoneInfo):
        # parse_zone reads "GMT" as UTC; name it so, for a stable round trip.
        return "UTC" if tz.key.upper() in ("UTC", "Z", "GMT") else tz.key
    if tz is UTC:
        return "UTC"
    offset = tz.utcoffset(None)
    if offset is None:
        return str(tz)
    if offset == _ZERO:
        return "UTC"
    sign = "+" if offset >= _ZERO else "-"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _wall_to_utc(day: dt_mod.date, wall: time, tz: tzinfo) -> datetime:
    """Resolve a wall-clock time on ``day`` in ``tz`` to an instant (Debian cron rules).

    An ambiguous time (fall back) resolves to its first occurrence, so it fires once.
    A time that does not exist (spring forward) resolves to the end of the gap.
    """
    naive = datetime.combine(day, wall)
    if isinstance(tz, timezone):
        return naive.replace(tzinfo=tz).astimezone(UTC)
    first = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == naive:
        return first
    # In a gap: the two folds straddle the transition; bisect to the transition instant.
    other = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    lo, hi = min(first, other), max(first, other)
    after = hi.astimezone(tz).utcoffset()
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).utcoffset() == after:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0) if hi.microsecond else hi


class Schedule(abc.ABC):
    """A pure schedule: ``next_after`` maps an instant to the next fire time."""

    __slots__ = ()

    @abc.abstractmethod
    def next_after(self, dt: datetime) -> datetime:
        """Return the first fire time strictly after ``dt``.

        Parameters
        ----------
        dt:
            An aware datetime.

        Returns
        -------
        datetime
            An aware datetime in UTC, strictly greater than ``dt``.
        """

    @abc.abstractmethod
    def to_text(self) -> str:
        """Text that :func:`parse_schedule` turns back into an equal schedule."""

    def latest_at_or_before(self, start: datetime, now: datetime) -> datetime:
        """The last fire time ``t`` with ``start <= t <= now``, walking from ``start``.

        ``start`` must itself be a fire time. Used to coalesce missed runs into one.
        """
        current = start
        while True:
            following = self.next_after(current)
            if following > now:
                return current
            current = following

    def __str__(self) -> str:
        return self.to_text()


def _format_duration(delta: timedelta) -> str:
    total_us = delta // timedelta(microseconds=1)
    parts = []
    for unit, size in (("d", 86_400_000_000), ("h", 3_600_000_000), ("m", 60_000_000)):
        if total_us >= size:
            count, total_us = divmod(total_us, size)
            parts.append(f"{count}{unit}")
    if total_us or not parts:
        whole, micro = divmod(total_us, 1_000_000)
        parts.append(f"{whole}.{micro:06d}".rstrip("0") + "s" if micro else f"{whole}s")
    return "".join(parts)


class Interval(Schedule):
    """Fire every ``period``, on the grid ``anchor + k * period`` when anchored.

    Parameters
    ----------
    seconds, minutes, hours, days:
        Added together to give the period; it must be positive.
    anchor:
        An aware datetime that lies on the grid. Without one, ``next_after(dt)`` is
        simply ``dt + period``.
    """

    __slots__ = ("anchor", "period")

    def __init__(
        self,
        seconds: float = 0,
        *,
        minutes: float = 0,
        hours: float = 0,
        days: float = 0,
        anchor: datetime | None = None,
    ) -> None:
        for label, value in (("seconds", seconds), ("minutes", minutes), ("hours", hours), ("days", days)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{label} must be a number, not {type(value).__name__}")
            if value < 0:
                raise ScheduleError(f"{label} cannot be negative (got {value})")
        period = timedelta(seconds=seconds, minutes=minutes, hours=hours, days=days)
        if period <= _ZERO:
            raise ScheduleError("an interval must be longer than zero")
        if anchor is not None:
            _require_aware(anchor)
            anchor = anchor.astimezone(UTC)
        self.period: timedelta = period
        self.anchor: datetime | None = anchor

    @classmethod
    def of(cls, period: timedelta, *, anchor: datetime | None = None) -> Interval:
        """Build an interval from a timedelta."""
        return cls(period.total_seconds(), anchor=anchor)

    def anchored(self, anchor: datetime) -> Interval:
        """The same period on the grid through ``anchor``."""
        return Interval.of(self.period, anchor=anchor)

    def next_after(self, dt: datetime) -> datetime:
        _require_aware(dt)
        if self.anchor is None:
            # Add in UTC: aware arithmetic in dt's own zone would follow the wall clock.
            return dt.astimezone(UTC) + self.period
        steps = (dt - self.anchor) // self.period + 1
        return self.anchor + steps * self.period

    def latest_at_or_before(self, start: datetime, now: datetime) -> datetime:
        if now < start:
            return start
        start, now = start.astimezone(UTC), now.astimezone(UTC)
        return start + ((now - start) // self.period) * self.period

    def to_text(self) -> str:
        return _format_duration(self.period)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Interval) and (self.period, self.anchor) == (other.period, other.anchor)

    def __hash__(self) -> int:
        return hash((Interval, self.period, self.anchor))

    def __repr__(self) -> str:
        anchor = f", anchor={self.anchor.isoformat()}" if self.anchor else ""
        return f"Interval({self.period.total_seconds()!r}{anchor})"


def _format_time(t: time) -> str:
    text = f"{t.hour:02d}:{t.minute:02d}"
    if t.second or t.microsecond:
        text += f":{t.second:02d}"
    if t.microsecond:
        text += f".{t.microsecond:06d}"
    return text


class TimesOfDay(Schedule):
    """Fire at fixed wall-clock times every day.

    Parameters
    ----------
    times:
        One :class:`datetime.time` or a non-empty sequence of them. A time with its
        own ``tzinfo`` keeps it; a naive time is read in ``tz``. Zones may be mixed.
    tz:
        IANA name, ``UTC``, ``+HH:MM`` or a tzinfo for naive times; default UTC.

    Notes
    -----
    On a fall-back day a time that occurs twice fires once (its first occurrence); on
    a spring-forward day a time inside the gap fires when the gap ends (Debian cron).
    """

    __slots__ = ("_by_zone", "times")

    def __init__(self, times: time | Sequence[time], *, tz: str | tzinfo | None = None) -> None:
        default_zone = parse_zone(tz)
        items: Iterable[object]
        if isinstance(times, time):
            items = [times]
        elif isinstance(times, Sequence) and not isinstance(times, str):
            items = times
        else:
            raise TypeError(
                f"Expected datetime.time or a sequence of datetime.time for ``time``, received {type(times)!r} instead."
            )
        normalised: list[time] = []
        for index, item in enumerate(items):
            if not isinstance(item, time):
                raise TypeError(
                    f"Expected a sequence of {time!r} for ``time``, received"
                    f" {type(item).__name__!r} at index {index} instead."
                )
            normalised.append(item if item.tzinfo is not None else item.replace(tzinfo=default_zone))
        if not normalised:
            raise ValueError("time parameter must not be an empty sequence.")
        unique = {(t.replace(tzinfo=None), zone_name(t.tzinfo or UTC)): t for t in normalised}
        self.times: list[time] = sorted(
            unique.values(), key=lambda t: (t.replace(tzinfo=None), zone_name(t.tzinfo or UTC))
        )
        by_zone: dict[int, tuple[tzinfo, list[time]]] = {}
        for t in self.times:
            zone = t.tzinfo or UTC
            by_zone.setdefault(id(zone), (zone, []))[1].append(t.replace(tzinfo=None))
        self._by_zone: list[tuple[tzinfo, list[time]]] = list(by_zone.values())

    def next_after(self, dt: datetime) -> datetime:
        _require_aware(dt)
        best: datetime | None = None
        for zone, walls in self._by_zone:
            local = dt.astimezone(zone)
            day, wall_now = local.date(), local.time().replace(tzinfo=None)
            start = bisect.bisect_right(walls, wall_now) if isinstance(zone, timezone) else 0
            found: datetime | None = None
            for offset in range(3):
                for wall in walls[start if offset == 0 else 0 :]:
                    candidate = _wall_to_utc(day + timedelta(days=offset), wall, zone)
                    if candidate > dt:
                        found = candidate
                        break
                if found is not None:
                    break
            if found is not None and (best is None or found < best):
                best = found
        assert best is not None  # every time occurs within three days
        return best

    def to_text(self) -> str:
        zones = {zone_name(t.tzinfo or UTC) for t in self.times}
        if len(zones) == 1:
            return ",".join(_format_time(t) for t in self.times) + " " + zones.pop()
        return ",".join(f"{_format_time(t)} {zone_name(t.tzinfo or UTC)}" for t in self.times)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TimesOfDay) and self.to_text() == other.to_text()

    def __hash__(self) -> int:
        return hash((TimesOfDay, self.to_text()))

    def __repr__(self) -> str:
        return f"TimesOfDay({self.to_text()!r})"


_CRON_FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
CRON_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_CRONSIM_FIELD_INDEX = {"second": -1, "minute": 0, "hour": 1, "day-of-month": 2, "month": 3, "day-of-week": 4}


def _random_field_value(seed: str | None, index: int) -> int:
    low, high = _CRON_RANGES[index]
    if seed is None:
        return random.SystemRandom().randint(low, high)
    digest = hashlib.sha256(f"taskext-cron-R:{seed}:{index}".encode()).digest()
    return low + int.from_bytes(digest[:8], "big") % (high - low + 1)


class Cron(Schedule):
    """A five-field cron schedule (minute hour day-of-month month day-of-week).

    Parameters
    ----------
    expression:
        Unix/Moodle syntax: ``*``, lists, ranges, steps (counted from the range start),
        month and weekday names, ``@daily``-style aliases, and ``R`` for a random value
        fixed per ``seed``. When both day fields are restricted either may match
        (Vixie cron).
    tz:
        Zone whose wall clock the fields match; default UTC.
    seed:
        Fixes the value of ``R`` fields; taskext passes the task name so the value is
        stable across restarts. Without a seed, ``R`` is drawn once at construction.
    """

    __slots__ = ("expression", "resolved", "tz")

    def __init__(self, expression: str, *, tz: str | tzinfo | None = None, seed: str | None = None) -> None:
        if not isinstance(expression, str):
            raise TypeError(f"cron expression must be a str, not {type(expression).__name__}")
        self.tz: tzinfo = parse_zone(tz)
        text = " ".join(expression.split())
        self.expression: str = text
        spec = CRON_ALIASES.get(text.lower(), text)
        fields = spec.split()
        if len(fields) != 5:
            raise ScheduleError(
                f"cron expression {expression!r} has {len(fields)} field(s); it needs 5:"
                " minute hour day-of-month month day-of-week"
            )
        for index, field in enumerate(fields):
            if field.upper() == "R":
                fields[index] = str(_random_field_value(seed, index))
            elif "R" in field.upper().replace("FRI", "").replace("APR", "").replace("MAR", ""):
                raise ScheduleError(
                    f"cron expression {expression!r}: {_CRON_FIELDS[index]} field {field!r}:"
                    " R must stand alone in its field"
                )
        self.resolved: str = " ".join(fields)
        try:
            CronSim(self.resolved, datetime(2000, 1, 1, tzinfo=UTC))
        except CronSimError as exc:
            name = str(exc).removeprefix("Bad ").strip()
            index = _CRONSIM_FIELD_INDEX.get(name, -1)
            where = f"{name} field {fields[index]!r}" if index >= 0 else str(exc)
            low, high = _CRON_RANGES[index] if index >= 0 else (0, 0)
            hint = f" (values {low}-{high})" if index >= 0 else ""
            raise ScheduleError(f"invalid cron expression {expression!r}: bad {where}{hint}") from None

    def next_after(self, dt: datetime) -> datetime:
        _require_aware(dt)
        iterator = CronSim(self.resolved, dt.astimezone(self.tz))
        # Compare in UTC: datetimes sharing a tzinfo compare by wall time, ignoring fold.
        after = dt.astimezone(UTC)
        try:
            result: datetime = next(iterator)
            # A fall-back hour can map a wall time to an instant before dt; skip past it.
            while result.astimezone(UTC) <= after:
                result = next(iterator)
        except StopIteration:
            raise ScheduleError(f"cron expression {self.expression!r} never fires after {dt.isoformat()}") from None
        return result.astimezone(UTC)

    def to_text(self) -> str:
        zone = zone_name(self.tz)
        return self.expression if zone == "UTC" else f"{self.expression} {zone}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cron) and (self.resolved, zone_name(self.tz)) == (
            other.resolved,
            zone_name(other.tz),
        )

    def __hash__(self) -> int:
        return hash((Cron, self.resolved, zone_name(self.tz)))

    def __repr__(self) -> str:
        return f"Cron({self.to_text()!r})"

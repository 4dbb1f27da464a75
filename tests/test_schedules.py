"""Tests for taskext.schedules: Interval, TimesOfDay, Cron, parse_schedule, parse_zone, zone_name.

Expected fire times are written out by hand (golden values) or checked against an
independent oracle written in this file; none is computed by the code under test.
"""

from __future__ import annotations

import calendar
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taskext.errors import ScheduleError, TaskextError
from taskext.parsing import parse_schedule
from taskext.schedules import (
    Cron,
    Interval,
    Schedule,
    TimesOfDay,
    parse_zone,
    zone_name,
)

UTC = timezone.utc
NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
PARIS = ZoneInfo("Europe/Paris")
TOKYO = ZoneInfo("Asia/Tokyo")
PLUS9 = timezone(timedelta(hours=9))

PROPERTY_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def u(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    """An aware UTC datetime."""
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


def fires(schedule: Schedule, start: datetime, count: int) -> list[datetime]:
    """The next ``count`` fire times after ``start``, iterating next_after."""
    out = []
    current = start
    for _ in range(count):
        current = schedule.next_after(current)
        out.append(current)
    return out


def is_utc(dt: datetime) -> bool:
    return dt.tzinfo is not None and dt.utcoffset() == timedelta(0) and dt.tzinfo == UTC


# --------------------------------------------------------------------------------------
# Cron features, table-driven (UTC).  2026-01-01 is a Thursday; 2026-01-05 a Monday.
# --------------------------------------------------------------------------------------

CRON_TABLE = [
    # every field a star
    ("* * * * *", u(2026, 1, 5, 10, 2, 30), [u(2026, 1, 5, 10, 3), u(2026, 1, 5, 10, 4)]),
    # lists
    (
        "0,20,40 * * * *",
        u(2026, 1, 5, 10, 2, 30),
        [u(2026, 1, 5, 10, 20), u(2026, 1, 5, 10, 40), u(2026, 1, 5, 11, 0)],
    ),
    # ranges
    (
        "10-12 * * * *",
        u(2026, 1, 5, 10, 2),
        [u(2026, 1, 5, 10, 10), u(2026, 1, 5, 10, 11), u(2026, 1, 5, 10, 12), u(2026, 1, 5, 11, 10)],
    ),
    # steps counted from the range start: 5,20,35,50
    (
        "5-59/15 * * * *",
        u(2026, 1, 5, 10, 0),
        [
            u(2026, 1, 5, 10, 5),
            u(2026, 1, 5, 10, 20),
            u(2026, 1, 5, 10, 35),
            u(2026, 1, 5, 10, 50),
            u(2026, 1, 5, 11, 5),
        ],
    ),
    # 10-40/7 gives 10,17,24,31,38
    (
        "10-40/7 * * * *",
        u(2026, 1, 5, 10, 0),
        [
            u(2026, 1, 5, 10, 10),
            u(2026, 1, 5, 10, 17),
            u(2026, 1, 5, 10, 24),
            u(2026, 1, 5, 10, 31),
            u(2026, 1, 5, 10, 38),
            u(2026, 1, 5, 11, 10),
        ],
    ),
    # */5
    (
        "*/5 * * * *",
        u(2026, 1, 5, 10, 2, 30),
        [u(2026, 1, 5, 10, 5), u(2026, 1, 5, 10, 10), u(2026, 1, 5, 10, 15)],
    ),
    # hour step: 0,6,12,18
    (
        "0 */6 * * *",
        u(2026, 1, 5, 10, 2),
        [u(2026, 1, 5, 12), u(2026, 1, 5, 18), u(2026, 1, 6, 0), u(2026, 1, 6, 6)],
    ),
    # month names, list and range
    ("0 0 1 JAN,JUL *", u(2026, 1, 5), [u(2026, 7, 1), u(2027, 1, 1), u(2027, 7, 1)]),
    ("0 0 1 MAR-MAY *", u(2026, 1, 5), [u(2026, 3, 1), u(2026, 4, 1), u(2026, 5, 1), u(2027, 3, 1)]),
    # weekday names: Friday 2026-01-09 10:00 -> Mon 12, Tue 13, ...
    (
        "0 9 * * MON-FRI",
        u(2026, 1, 9, 10),
        [
            u(2026, 1, 12, 9),
            u(2026, 1, 13, 9),
            u(2026, 1, 14, 9),
            u(2026, 1, 15, 9),
            u(2026, 1, 16, 9),
            u(2026, 1, 19, 9),
        ],
    ),
    ("0 9 * * SAT,SUN", u(2026, 1, 5), [u(2026, 1, 10, 9), u(2026, 1, 11, 9), u(2026, 1, 17, 9)]),
    # names are case-insensitive
    ("0 9 * * mon", u(2026, 1, 5, 10), [u(2026, 1, 12, 9), u(2026, 1, 19, 9)]),
    ("0 0 1 feb *", u(2026, 1, 5), [u(2026, 2, 1), u(2027, 2, 1)]),
    # numeric weekday list with Sunday as 0 (and 7)
    (
        "30 17 * 1,7 0",
        u(2026, 1, 20),
        [u(2026, 1, 25, 17, 30), u(2026, 7, 5, 17, 30), u(2026, 7, 12, 17, 30)],
    ),
    ("0 0 * * 7", u(2026, 1, 5), [u(2026, 1, 11), u(2026, 1, 18)]),
    # day-of-month OR day-of-week when both are restricted (Vixie cron)
    (
        "0 0 13 * 5",
        u(2026, 1, 1),
        [
            u(2026, 1, 2),  # Fri
            u(2026, 1, 9),  # Fri
            u(2026, 1, 13),  # Tue the 13th
            u(2026, 1, 16),  # Fri
            u(2026, 1, 23),  # Fri
            u(2026, 1, 30),  # Fri
            u(2026, 2, 6),  # Fri
            u(2026, 2, 13),  # Friday the 13th: fires once
            u(2026, 2, 20),  # Fri
        ],
    ),
    # only day-of-month restricted
    ("0 0 13 * *", u(2026, 1, 1), [u(2026, 1, 13), u(2026, 2, 13), u(2026, 3, 13)]),
    # only day-of-week restricted
    ("0 0 * * 5", u(2026, 1, 1), [u(2026, 1, 2), u(2026, 1, 9), u(2026, 1, 16)]),
    # day 31 skips short months, Feb 29 waits for a leap year
    ("0 0 31 * *", u(2026, 1, 5), [u(2026, 1, 31), u(2026, 3, 31), u(2026, 5, 31), u(2026, 7, 31)]),
    ("0 12 29 2 *", u(2026, 1, 5), [u(2028, 2, 29, 12), u(2032, 2, 29, 12)]),
    # aliases
    ("@hourly", u(2026, 1, 5, 10, 2), [u(2026, 1, 5, 11), u(2026, 1, 5, 12)]),
    ("@daily", u(2026, 1, 5, 10, 2), [u(2026, 1, 6), u(2026, 1, 7)]),
    ("@midnight", u(2026, 1, 5, 10, 2), [u(2026, 1, 6), u(2026, 1, 7)]),
    ("@weekly", u(2026, 1, 5, 10, 2), [u(2026, 1, 11), u(2026, 1, 18)]),
    ("@monthly", u(2026, 1, 5, 10, 2), [u(2026, 2, 1), u(2026, 3, 1)]),
    ("@yearly", u(2026, 1, 5, 10, 2), [u(2027, 1, 1), u(2028, 1, 1)]),
    ("@annually", u(2026, 1, 5, 10, 2), [u(2027, 1, 1), u(2028, 1, 1)]),
    ("@DAILY", u(2026, 1, 5, 10, 2), [u(2026, 1, 6), u(2026, 1, 7)]),
]


@pytest.mark.parametrize(("expression", "start", "expected"), CRON_TABLE, ids=[row[0] for row in CRON_TABLE])
def test_cron_features(expression: str, start: datetime, expected: list[datetime]) -> None:
    schedule = Cron(expression)
    got = fires(schedule, start, len(expected))
    assert got == expected
    assert all(is_utc(t) for t in got)


@pytest.mark.parametrize(("expression", "start", "expected"), CRON_TABLE, ids=[row[0] for row in CRON_TABLE])
def test_cron_features_through_parse_schedule(
    expression: str, start: datetime, expected: list[datetime]
) -> None:
    schedule = parse_schedule(expression)
    assert isinstance(schedule, Cron)
    assert fires(schedule, start, len(expected)) == expected


def test_cron_alias_equals_its_expansion() -> None:
    assert Cron("@daily") == Cron("0 0 * * *")
    assert Cron("@hourly") == Cron("0 * * * *")
    assert Cron("@daily") != Cron("0 1 * * *")


def test_cron_whitespace_is_normalised() -> None:
    assert Cron("  */5   *  * * * ").next_after(u(2026, 1, 5, 10, 1)) == u(2026, 1, 5, 10, 5)


def test_cron_seconds_and_microseconds_of_input_are_respected() -> None:
    cron = Cron("0 9 * * *")
    assert cron.next_after(u(2026, 1, 5, 8, 59, 59, 999_999)) == u(2026, 1, 5, 9)
    assert cron.next_after(u(2026, 1, 5, 9)) == u(2026, 1, 6, 9)
    assert cron.next_after(u(2026, 1, 5, 9, 0, 0, 1)) == u(2026, 1, 6, 9)
    assert cron.next_after(u(2026, 1, 5, 9, 0, 30)) == u(2026, 1, 6, 9)


def test_cron_in_zone() -> None:
    # Berlin is UTC+1 in January: 09:00 local is 08:00 UTC.  Friday 2026-01-09 10:00 UTC.
    cron = Cron("0 9 * * MON-FRI", tz="Europe/Berlin")
    assert fires(cron, u(2026, 1, 9, 10), 2) == [u(2026, 1, 12, 8), u(2026, 1, 13, 8)]
    # In July (CEST, UTC+2) 09:00 local is 07:00 UTC.
    assert cron.next_after(u(2026, 7, 6, 6)) == u(2026, 7, 6, 7)


# --------------------------------------------------------------------------------------
# Moodle's R
# --------------------------------------------------------------------------------------

SEEDS = [f"task-{i}" for i in range(200)]
FIELD_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 6)]


def test_cron_r_same_seed_same_resolution() -> None:
    first = Cron("R R * * *", seed="nightly-backup")
    second = Cron("R R * * *", seed="nightly-backup")
    assert first.resolved == second.resolved
    assert first == second
    assert hash(first) == hash(second)
    start = u(2026, 1, 5)
    assert fires(first, start, 3) == fires(second, start, 3)
    assert "R" not in first.resolved


def test_cron_r_resolution_is_stable_across_processes() -> None:
    """A restart (new interpreter, different hash seed) resolves R the same way."""
    code = "from taskext.schedules import Cron;print(Cron('R R R R R', seed='nightly-backup').resolved)"
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    assert out.stdout.strip() == Cron("R R R R R", seed="nightly-backup").resolved


def test_cron_r_fires_at_the_resolved_values() -> None:
    cron = Cron("R R * * *", seed="report")
    minute, hour = (int(v) for v in cron.resolved.split()[:2])
    got = fires(cron, u(2026, 1, 5), 3)
    for instant in got:
        assert instant.minute == minute
        assert instant.hour == hour
        assert instant.second == 0
    # one fire a day
    assert got[1] - got[0] == timedelta(days=1)
    assert got[2] - got[1] == timedelta(days=1)


@pytest.mark.parametrize("index", range(5))
def test_cron_r_value_within_field_range_and_varies_with_seed(index: int) -> None:
    low, high = FIELD_RANGES[index]
    values = []
    for seed in SEEDS:
        fields = ["0", "0", "*", "*", "*"]
        fields[index] = "R"
        cron = Cron(" ".join(fields), seed=seed)
        resolved = cron.resolved.split()
        value = int(resolved[index])
        assert low <= value <= high
        # the other fields are untouched
        assert [f for i, f in enumerate(resolved) if i != index] == [
            f for i, f in enumerate(fields) if i != index
        ]
        values.append(value)
    # different seeds generally differ: 200 seeds must spread over several values
    assert len(set(values)) >= min(5, high - low + 1)


def test_cron_r_different_seeds_generally_differ() -> None:
    resolutions = {Cron("R R * * *", seed=seed).resolved for seed in SEEDS[:50]}
    assert len(resolutions) > 40


def test_cron_r_fields_are_independent() -> None:
    # Minute and hour R in the same expression are not forced to be the same number.
    pairs = [Cron("R R * * *", seed=seed).resolved.split()[:2] for seed in SEEDS[:50]]
    assert any(m != h for m, h in pairs)


def test_cron_r_lowercase_and_without_seed() -> None:
    assert 0 <= int(Cron("r 3 * * *", seed="x").resolved.split()[0]) <= 59
    unseeded = Cron("R 3 * * *")
    minute = int(unseeded.resolved.split()[0])
    assert 0 <= minute <= 59
    # drawn once at construction: the object keeps its value
    assert unseeded.next_after(u(2026, 1, 5)) == u(2026, 1, 5, 3, minute)
    assert unseeded.next_after(u(2026, 1, 6)) == u(2026, 1, 6, 3, minute)


def test_parse_schedule_passes_seed_to_r() -> None:
    parsed = parse_schedule("R R * * * Europe/Berlin", seed="digest")
    assert parsed == Cron("R R * * *", tz="Europe/Berlin", seed="digest")
    # month/weekday names containing the letter R are not mistaken for R
    assert Cron("0 0 1 MAR,APR FRI").resolved == "0 0 1 MAR,APR FRI"


@pytest.mark.parametrize(
    ("expression", "field"),
    [
        ("R/5 * * * *", "minute"),
        ("1,R * * * *", "minute"),
        ("0 R-5 * * *", "hour"),
        ("0 0 */R * *", "day-of-month"),
        ("0 0 * R,1 *", "month"),
        ("0 0 * * 1-R", "day-of-week"),
        ("0 0 * * RR", "day-of-week"),
    ],
)
def test_cron_r_must_stand_alone(expression: str, field: str) -> None:
    with pytest.raises(ScheduleError) as info:
        Cron(expression, seed="x")
    message = str(info.value)
    assert field in message
    assert "R" in message


# --------------------------------------------------------------------------------------
# parse_schedule: accepted forms
# --------------------------------------------------------------------------------------

PARSE_TABLE = [
    ("10m", Interval, u(2026, 1, 5, 10, 2, 30), [u(2026, 1, 5, 10, 12, 30), u(2026, 1, 5, 10, 22, 30)]),
    ("1h30m", Interval, u(2026, 1, 5, 10, 2, 30), [u(2026, 1, 5, 11, 32, 30), u(2026, 1, 5, 13, 2, 30)]),
    ("1h 30m", Interval, u(2026, 1, 5, 10, 2, 30), [u(2026, 1, 5, 11, 32, 30)]),
    ("90s", Interval, u(2026, 1, 5, 10, 2, 30), [u(2026, 1, 5, 10, 4), u(2026, 1, 5, 10, 5, 30)]),
    ("1.5s", Interval, u(2026, 1, 5, 10), [u(2026, 1, 5, 10, 0, 1, 500_000)]),
    ("2 days", Interval, u(2026, 1, 5, 10), [u(2026, 1, 7, 10)]),
    ("every 2h", Interval, u(2026, 1, 5, 10, 2, 30), [u(2026, 1, 5, 12, 2, 30), u(2026, 1, 5, 14, 2, 30)]),
    ("Every 15 minutes", Interval, u(2026, 1, 5, 10), [u(2026, 1, 5, 10, 15)]),
    ("09:00", TimesOfDay, u(2026, 1, 5, 10, 2, 30), [u(2026, 1, 6, 9), u(2026, 1, 7, 9)]),
    ("9:00", TimesOfDay, u(2026, 1, 5, 8), [u(2026, 1, 5, 9)]),
    ("09:00:30", TimesOfDay, u(2026, 1, 5, 9), [u(2026, 1, 5, 9, 0, 30), u(2026, 1, 6, 9, 0, 30)]),
    # Paris is UTC+1 in January
    (
        "09:00,21:00 Europe/Paris",
        TimesOfDay,
        u(2026, 1, 5, 10, 2, 30),
        [u(2026, 1, 5, 20), u(2026, 1, 6, 8), u(2026, 1, 6, 20)],
    ),
    ("09:00 Asia/Tokyo,09:00 UTC", TimesOfDay, u(2026, 1, 5, 1), [u(2026, 1, 5, 9), u(2026, 1, 6, 0)]),
    ("09:00 +09:00", TimesOfDay, u(2026, 1, 5, 1), [u(2026, 1, 6, 0)]),
    ("*/5 * * * *", Cron, u(2026, 1, 5, 10, 2, 30), [u(2026, 1, 5, 10, 5), u(2026, 1, 5, 10, 10)]),
    ("30 17 * 1,7 0", Cron, u(2026, 1, 20), [u(2026, 1, 25, 17, 30), u(2026, 7, 5, 17, 30)]),
    # Berlin is UTC+1 in January; Friday 2026-01-09
    ("0 9 * * MON-FRI Europe/Berlin", Cron, u(2026, 1, 9, 10), [u(2026, 1, 12, 8), u(2026, 1, 13, 8)]),
    ("0 9 * * * UTC", Cron, u(2026, 1, 9, 10), [u(2026, 1, 10, 9)]),
    ("0 9 * * * +09:00", Cron, u(2026, 1, 9, 10), [u(2026, 1, 10, 0)]),
    ("0 9 * * * Japan", Cron, u(2026, 1, 9, 10), [u(2026, 1, 10, 0)]),
    ("@daily", Cron, u(2026, 1, 5, 10, 2, 30), [u(2026, 1, 6), u(2026, 1, 7)]),
    ("@daily Europe/Berlin", Cron, u(2026, 1, 5, 10, 2, 30), [u(2026, 1, 5, 23), u(2026, 1, 6, 23)]),
]


@pytest.mark.parametrize(
    ("text", "kind", "start", "expected"), PARSE_TABLE, ids=[row[0] for row in PARSE_TABLE]
)
def test_parse_schedule_accepts(text: str, kind: type, start: datetime, expected: list[datetime]) -> None:
    schedule = parse_schedule(text)
    assert type(schedule) is kind
    assert fires(schedule, start, len(expected)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10m", Interval(minutes=10)),
        ("1h30m", Interval(hours=1, minutes=30)),
        ("90s", Interval(90)),
        ("every 2h", Interval(hours=2)),
        ("1d", Interval(days=1)),
        ("09:00", TimesOfDay(time(9, 0))),
        ("09:00,21:00 Europe/Paris", TimesOfDay([time(21, 0), time(9, 0)], tz="Europe/Paris")),
        ("*/5 * * * *", Cron("*/5 * * * *")),
        ("0 9 * * MON-FRI Europe/Berlin", Cron("0 9 * * MON-FRI", tz=ZoneInfo("Europe/Berlin"))),
        ("@daily", Cron("0 0 * * *")),
    ],
)
def test_parse_schedule_equals_constructed(text: str, expected: Schedule) -> None:
    assert parse_schedule(text) == expected


def test_parse_schedule_equality_distinguishes() -> None:
    assert parse_schedule("10m") != parse_schedule("11m")
    assert parse_schedule("09:00") != parse_schedule("09:00 Europe/Paris")
    assert parse_schedule("0 9 * * *") != parse_schedule("0 9 * * * Europe/Paris")
    assert parse_schedule("10m") != parse_schedule("*/10 * * * *")


ROUND_TRIP = [
    Interval(minutes=10),
    Interval(hours=1, minutes=30),
    Interval(90),
    Interval(days=2, hours=3, minutes=4, seconds=5),
    Interval(1.5),
    Interval(0.25),
    Interval(1.234567),
    Interval(0.000001),
    Interval(days=1, seconds=0.5),
    TimesOfDay(time(9)),
    TimesOfDay([time(9), time(21)], tz="Europe/Paris"),
    TimesOfDay([time(9, 0, 30), time(21, 15, 0, 250_000)], tz="America/New_York"),
    TimesOfDay([time(9, tzinfo=TOKYO), time(9, tzinfo=UTC), time(8, tzinfo=PARIS)]),
    TimesOfDay(time(9), tz=PLUS9),
    TimesOfDay(time(9), tz=timezone(-timedelta(hours=5, minutes=30))),
    Cron("*/5 * * * *"),
    Cron("30 17 * 1,7 0"),
    Cron("0 9 * * MON-FRI", tz="Europe/Berlin"),
    Cron("@daily"),
    Cron("@daily", tz="Europe/Berlin"),
    Cron("0 9 * * *", tz=PLUS9),
    Cron("0 9 * * *", tz="Japan"),
    Cron("0 9 * * *", tz="-03:30"),
    Cron("0 9 * * *", tz=ZoneInfo("GMT")),
    TimesOfDay(time(9), tz=ZoneInfo("GMT")),
]


@pytest.mark.parametrize("schedule", ROUND_TRIP, ids=repr)
def test_to_text_round_trips(schedule: Schedule) -> None:
    text = schedule.to_text()
    assert str(schedule) == text
    again = parse_schedule(text)
    assert again == schedule
    assert hash(again) == hash(schedule)
    start = u(2026, 1, 5, 10, 2, 30)
    assert fires(again, start, 3) == fires(schedule, start, 3)


def test_to_text_round_trips_r_with_the_same_seed() -> None:
    cron = Cron("R R * * *", seed="job")
    assert parse_schedule(cron.to_text(), seed="job") == cron


def test_to_text_golden() -> None:
    assert Interval(90).to_text() == "1m30s"
    assert Interval(hours=1, minutes=30).to_text() == "1h30m"
    assert Interval(days=1, seconds=0.5).to_text() == "1d0.5s"
    assert Interval(1.234567).to_text() == "1.234567s"
    assert TimesOfDay([time(21), time(9)], tz="Europe/Paris").to_text() == "09:00,21:00 Europe/Paris"
    assert Cron("0 9 * * 1-5", tz="Europe/Berlin").to_text() == "0 9 * * 1-5 Europe/Berlin"
    assert Cron("0 9 * * 1-5").to_text() == "0 9 * * 1-5"


# --------------------------------------------------------------------------------------
# parse_schedule: errors name the bad part
# --------------------------------------------------------------------------------------

BAD = [
    ("61 * * * *", ["minute", "61"]),
    ("* 24 * * *", ["hour", "24"]),
    ("* * 32 * *", ["day-of-month", "32"]),
    ("* * 0 * *", ["day-of-month", "0"]),
    ("* * * 13 *", ["month", "13"]),
    ("* * * FOO *", ["month", "FOO"]),
    ("* * * * 8", ["day-of-week", "8"]),
    ("* * * * FUNDAY", ["day-of-week", "FUNDAY"]),
    ("*/0 * * * *", ["minute", "*/0"]),
    ("30-10 * * * *", ["minute", "30-10"]),
    ("R/5 * * * *", ["minute", "R"]),
    ("25:00", ["hour", "25"]),
    ("24:00", ["hour", "24"]),
    ("09:60", ["minute", "60"]),
    ("09:00:61", ["second", "61"]),
    ("09:00,", ["empty"]),
    ("09:00 Europe/Pariss", ["Europe/Pariss"]),
    ("09:00,21:00 Europe/Pariss", ["Europe/Pariss"]),
    ("0 9 * * * Europe/Pariss", ["Europe/Pariss"]),
    ("@daily Europe/Pariss", ["Europe/Pariss"]),
    ("09:00 +25:00", ["+25:00"]),
    ("10x", ["'x'"]),
    ("1h30", ["'30'"]),
    ("10", ["'10'"]),
    ("0s", ["zero"]),
    ("every 0m", ["zero"]),
    ("@reboot", ["@reboot"]),
    ("", ["empty"]),
    ("   ", ["empty"]),
    ("* * * *", ["5"]),
    ("0 */5 * * * *", ["5 fields"]),
    ("* * * * * * *", ["5 fields"]),
    ("hello", ["hello"]),
]


@pytest.mark.parametrize(("text", "fragments"), BAD, ids=[repr(row[0]) for row in BAD])
def test_parse_schedule_rejects(text: str, fragments: list[str]) -> None:
    with pytest.raises(ScheduleError) as info:
        parse_schedule(text)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, TaskextError)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_schedule_error_hierarchy() -> None:
    assert issubclass(ScheduleError, ValueError)
    assert issubclass(ScheduleError, TaskextError)
    with pytest.raises(ValueError, match="minute"):
        parse_schedule("61 * * * *")


@pytest.mark.parametrize(
    ("expression", "fragments"),
    [
        ("* * * *", ["4 field", "5"]),
        ("* * * * * *", ["6 field", "5"]),
        ("", ["0 field"]),
        ("61 * * * *", ["minute", "61"]),
        ("* * * 13 *", ["month", "13"]),
    ],
)
def test_cron_constructor_rejects(expression: str, fragments: list[str]) -> None:
    with pytest.raises(ScheduleError) as info:
        Cron(expression)
    for fragment in fragments:
        assert fragment in str(info.value)


@pytest.mark.parametrize("value", [None, 10, 1.5, b"10m", ["10m"]])
def test_parse_schedule_non_str_is_type_error(value: object) -> None:
    with pytest.raises(TypeError):
        parse_schedule(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [None, 5, b"* * * * *"])
def test_cron_non_str_is_type_error(value: object) -> None:
    with pytest.raises(TypeError):
        Cron(value)  # type: ignore[arg-type]


def test_cron_unknown_zone() -> None:
    with pytest.raises(ScheduleError, match="Europe/Pariss"):
        Cron("0 9 * * *", tz="Europe/Pariss")


# --------------------------------------------------------------------------------------
# parse_zone / zone_name
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "offset_in_january"),
    [
        (None, timedelta(0)),
        ("UTC", timedelta(0)),
        ("utc", timedelta(0)),
        ("Z", timedelta(0)),
        ("GMT", timedelta(0)),
        ("+09:00", timedelta(hours=9)),
        ("-05:30", -timedelta(hours=5, minutes=30)),
        ("+0930", timedelta(hours=9, minutes=30)),
        ("UTC+2", timedelta(hours=2)),
        ("-3", -timedelta(hours=3)),
        ("Europe/Berlin", timedelta(hours=1)),
        ("America/New_York", -timedelta(hours=5)),
        (" Asia/Tokyo ", timedelta(hours=9)),
    ],
)
def test_parse_zone(text: str | None, offset_in_january: timedelta) -> None:
    zone = parse_zone(text)
    assert isinstance(zone, tzinfo)
    assert datetime(2026, 1, 15, 12, tzinfo=zone).utcoffset() == offset_in_january


def test_parse_zone_passes_tzinfo_through() -> None:
    assert parse_zone(PLUS9) is PLUS9
    assert parse_zone(NY) is NY


@pytest.mark.parametrize("text", ["Europe/Pariss", "Mars/Olympus", "+24:00", "+05:60"])
def test_parse_zone_rejects(text: str) -> None:
    with pytest.raises(ScheduleError) as info:
        parse_zone(text)
    assert text in str(info.value)


def test_parse_zone_type_error() -> None:
    with pytest.raises(TypeError):
        parse_zone(9)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("zone", "name"),
    [
        (UTC, "UTC"),
        (timezone(timedelta(0)), "UTC"),
        (ZoneInfo("Europe/Berlin"), "Europe/Berlin"),
        (ZoneInfo("GMT"), "UTC"),
        (ZoneInfo("UTC"), "UTC"),
        (ZoneInfo("Etc/GMT+5"), "Etc/GMT+5"),
        (PLUS9, "+09:00"),
        (timezone(-timedelta(hours=5, minutes=30)), "-05:30"),
        (timezone(timedelta(hours=12, minutes=45)), "+12:45"),
    ],
)
def test_zone_name(zone: tzinfo, name: str) -> None:
    assert zone_name(zone) == name
    back = parse_zone(name)
    probe = datetime(2026, 7, 1, 12)
    assert back.utcoffset(probe) == zone.utcoffset(probe)


# --------------------------------------------------------------------------------------
# next_after contract
# --------------------------------------------------------------------------------------

CONTRACT_SCHEDULES = [
    Interval(minutes=10),
    Interval(minutes=10, anchor=u(2026, 1, 1)),
    TimesOfDay([time(9), time(21)], tz="Europe/Paris"),
    TimesOfDay([time(1, 30, tzinfo=NY), time(2, 30, tzinfo=BERLIN), time(23, tzinfo=UTC)]),
    Cron("*/7 * * * *"),
    Cron("30 2 * * *", tz="America/New_York"),
    Cron("0 0 13 * 5", tz="Europe/Berlin"),
]


@pytest.mark.parametrize("schedule", CONTRACT_SCHEDULES, ids=repr)
def test_next_after_rejects_naive(schedule: Schedule) -> None:
    with pytest.raises(ValueError, match="naive"):
        schedule.next_after(datetime(2026, 1, 1, 12))


@pytest.mark.parametrize("schedule", CONTRACT_SCHEDULES, ids=repr)
@pytest.mark.parametrize("value", [None, "2026-01-01T00:00:00+00:00", 1_700_000_000, date(2026, 1, 1)])
def test_next_after_rejects_non_datetime(schedule: Schedule, value: object) -> None:
    with pytest.raises(TypeError):
        schedule.next_after(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("schedule", CONTRACT_SCHEDULES, ids=repr)
@pytest.mark.parametrize("zone", [UTC, NY, BERLIN, TOKYO, PLUS9, ZoneInfo("Australia/Lord_Howe")])
def test_next_after_result_contract(schedule: Schedule, zone: tzinfo) -> None:
    # Walk through both 2026 DST transitions of New York and Berlin.
    for start in (u(2026, 3, 7, 20), u(2026, 3, 28, 20), u(2026, 10, 24, 20), u(2026, 10, 31, 20)):
        current = start.astimezone(zone)
        for _ in range(40):
            result = schedule.next_after(current)
            assert is_utc(result)
            assert result > current
            # the same instant given in UTC gives the same answer
            assert schedule.next_after(current.astimezone(UTC)) == result
            current = result.astimezone(zone)


# --------------------------------------------------------------------------------------
# Interval
# --------------------------------------------------------------------------------------


def test_interval_unanchored_is_dt_plus_period() -> None:
    interval = Interval(minutes=10)
    assert interval.next_after(u(2026, 1, 5, 10, 2, 30, 123)) == u(2026, 1, 5, 10, 12, 30, 123)
    tokyo_noon = datetime(2026, 1, 5, 12, tzinfo=TOKYO)
    result = interval.next_after(tokyo_noon)
    assert result == u(2026, 1, 5, 3, 10)
    assert is_utc(result)


def test_interval_unanchored_adds_elapsed_time_across_dst() -> None:
    """Regression: the period is elapsed time, not wall-clock time in the input's zone."""
    interval = Interval(minutes=10)
    # Berlin fall back: 02:50 CEST (00:50 UTC) + 10 min = 02:00 CET (01:00 UTC), not 03:00 CET.
    result = interval.next_after(datetime(2026, 10, 25, 2, 50, tzinfo=BERLIN))
    assert result == u(2026, 10, 25, 1)
    assert is_utc(result)
    # New York spring forward: 01:55 EST (06:55 UTC) + 10 min = 03:05 EDT (07:05 UTC).
    assert interval.next_after(datetime(2026, 3, 8, 1, 55, tzinfo=NY)) == u(2026, 3, 8, 7, 5)
    day = Interval(days=1)
    # one day of elapsed time on a 25-hour local day
    assert day.next_after(datetime(2026, 11, 1, 0, 0, tzinfo=NY)) == u(2026, 11, 2, 4)


def test_interval_latest_at_or_before_across_dst() -> None:
    interval = Interval(minutes=7)
    start = datetime(2026, 10, 25, 1, 0, tzinfo=BERLIN)  # 23:00 UTC on the 24th
    now = datetime(2026, 10, 25, 3, 10, tzinfo=BERLIN)  # 02:10 UTC: 190 minutes of elapsed time
    # 27 whole periods = 189 minutes -> 02:09 UTC (wall-clock arithmetic would give 02:06 UTC)
    assert interval.latest_at_or_before(start, now) == u(2026, 10, 25, 2, 9)


def test_interval_components_add_up() -> None:
    assert Interval(5, minutes=4, hours=3, days=2).period == timedelta(days=2, hours=3, minutes=4, seconds=5)
    assert Interval(0.1).period == timedelta(microseconds=100_000)
    assert Interval.of(timedelta(hours=1, microseconds=7)).period == timedelta(hours=1, microseconds=7)


def test_interval_anchored_grid() -> None:
    anchor = u(2026, 1, 1, 12, 0, 0, 123_456)
    interval = Interval(hours=1, anchor=anchor)
    # on the grid: strictly after
    assert interval.next_after(anchor) == u(2026, 1, 1, 13, 0, 0, 123_456)
    # between grid points
    assert interval.next_after(u(2026, 1, 1, 13, 30)) == u(2026, 1, 1, 14, 0, 0, 123_456)
    # one microsecond before a grid point
    assert interval.next_after(u(2026, 1, 1, 14, 0, 0, 123_455)) == u(2026, 1, 1, 14, 0, 0, 123_456)
    # before the anchor the grid extends backwards
    assert interval.next_after(u(2026, 1, 1, 9, 30)) == u(2026, 1, 1, 10, 0, 0, 123_456)
    # a different input zone, same instant
    assert interval.next_after(datetime(2026, 1, 1, 22, 30, tzinfo=TOKYO)) == u(2026, 1, 1, 14, 0, 0, 123_456)


def test_interval_anchor_in_other_zone_is_stored_in_utc() -> None:
    interval = Interval(minutes=30, anchor=datetime(2026, 1, 1, 9, 15, tzinfo=TOKYO))
    assert interval.anchor == u(2026, 1, 1, 0, 15)
    assert is_utc(interval.next_after(u(2026, 1, 1, 0, 20)))
    assert interval.next_after(u(2026, 1, 1, 0, 20)) == u(2026, 1, 1, 0, 45)


@pytest.mark.parametrize(
    ("seconds", "after_10000"),
    [
        (7.3, timedelta(seconds=73_000)),
        (1 / 3, timedelta(seconds=3333, microseconds=330_000)),  # 333_333 us * 10_000
        (0.1, timedelta(seconds=1000)),
        (86_400.000_001, timedelta(days=10_000, microseconds=10_000)),
    ],
)
def test_interval_grid_is_exact_after_10000_steps(seconds: float, after_10000: timedelta) -> None:
    anchor = u(2026, 1, 1, 0, 0, 0, 123_456)
    interval = Interval(seconds, anchor=anchor)
    current = anchor
    for _ in range(10_000):
        current = interval.next_after(current)
    assert current == anchor + after_10000
    # jumping far ahead lands on the same grid point
    assert interval.next_after(anchor + after_10000 - timedelta(microseconds=1)) == anchor + after_10000


def test_interval_anchored_helper() -> None:
    base = Interval(minutes=15)
    anchored = base.anchored(u(2026, 1, 1, 0, 5))
    assert base.anchor is None
    assert anchored.period == timedelta(minutes=15)
    assert anchored.next_after(u(2026, 1, 1, 10, 0)) == u(2026, 1, 1, 10, 5)
    assert anchored != base


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"seconds": 0}, ScheduleError),
        ({}, ScheduleError),
        ({"seconds": -1}, ScheduleError),
        ({"seconds": 120, "minutes": -1}, ScheduleError),
        ({"hours": -0.5}, ScheduleError),
        ({"seconds": True}, TypeError),
        ({"minutes": False, "seconds": 10}, TypeError),
        ({"seconds": "10"}, TypeError),
        ({"days": None}, TypeError),
    ],
)
def test_interval_invalid(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        Interval(**kwargs)  # type: ignore[arg-type]


def test_interval_invalid_anchor_and_of() -> None:
    with pytest.raises(ValueError, match="naive"):
        Interval(60, anchor=datetime(2026, 1, 1))
    with pytest.raises(TypeError):
        Interval(60, anchor="2026-01-01")  # type: ignore[arg-type]
    with pytest.raises(ScheduleError):
        Interval.of(timedelta(0))
    with pytest.raises(ScheduleError):
        Interval.of(timedelta(seconds=-5))


def test_interval_latest_at_or_before() -> None:
    interval = Interval(minutes=10, anchor=u(2026, 1, 1))
    start = u(2026, 1, 1, 10)
    assert interval.latest_at_or_before(start, u(2026, 1, 1, 10, 35)) == u(2026, 1, 1, 10, 30)
    assert interval.latest_at_or_before(start, u(2026, 1, 1, 10, 30)) == u(2026, 1, 1, 10, 30)
    assert interval.latest_at_or_before(start, u(2026, 1, 1, 10, 29, 59, 999_999)) == u(2026, 1, 1, 10, 20)
    assert interval.latest_at_or_before(start, start) == start
    assert interval.latest_at_or_before(start, u(2026, 1, 1, 9)) == start
    # a long outage collapses into one run: a year of 10-minute slots
    assert interval.latest_at_or_before(start, u(2027, 1, 1, 10, 5)) == u(2027, 1, 1, 10)


def test_generic_latest_at_or_before() -> None:
    cron = Cron("*/15 * * * *")
    assert cron.latest_at_or_before(u(2026, 1, 1, 10), u(2026, 1, 1, 11, 7)) == u(2026, 1, 1, 11)
    assert cron.latest_at_or_before(u(2026, 1, 1, 10), u(2026, 1, 1, 11, 15)) == u(2026, 1, 1, 11, 15)
    assert cron.latest_at_or_before(u(2026, 1, 1, 10), u(2026, 1, 1, 10, 14)) == u(2026, 1, 1, 10)
    times = TimesOfDay([time(9), time(21)])
    assert times.latest_at_or_before(u(2026, 1, 1, 9), u(2026, 1, 3, 20)) == u(2026, 1, 3, 9)
    assert times.latest_at_or_before(u(2026, 1, 1, 9), u(2026, 1, 3, 21)) == u(2026, 1, 3, 21)


# --------------------------------------------------------------------------------------
# TimesOfDay
# --------------------------------------------------------------------------------------


def test_times_past_today_fire_tomorrow() -> None:
    assert TimesOfDay([time(9)]).next_after(u(2026, 1, 5, 10)) == u(2026, 1, 6, 9)
    assert TimesOfDay([time(9), time(11)]).next_after(u(2026, 1, 5, 10)) == u(2026, 1, 5, 11)
    # exactly at the time: strictly after, so tomorrow
    assert TimesOfDay([time(9)]).next_after(u(2026, 1, 5, 9)) == u(2026, 1, 6, 9)
    assert TimesOfDay([time(9)]).next_after(u(2026, 1, 5, 8, 59, 59, 999_999)) == u(2026, 1, 5, 9)


def test_times_order_and_duplicates() -> None:
    schedule = TimesOfDay([time(21), time(9), time(9), time(15, 30)])
    assert fires(schedule, u(2026, 1, 5), 5) == [
        u(2026, 1, 5, 9),
        u(2026, 1, 5, 15, 30),
        u(2026, 1, 5, 21),
        u(2026, 1, 6, 9),
        u(2026, 1, 6, 15, 30),
    ]


def test_times_duplicates_with_equal_zones_collapse() -> None:
    # Two distinct but equal tzinfo objects describe the same time.
    twice = TimesOfDay(
        [time(9, tzinfo=timezone(timedelta(hours=9))), time(9, tzinfo=timezone(timedelta(hours=9)))]
    )
    assert twice == TimesOfDay(time(9), tz=PLUS9)
    assert twice.to_text() == "09:00 +09:00"
    assert fires(twice, u(2026, 1, 5), 2) == [u(2026, 1, 6), u(2026, 1, 7)]


def test_times_seconds_and_microseconds() -> None:
    schedule = TimesOfDay(time(9, 0, 30, 500_000))
    assert schedule.next_after(u(2026, 1, 5, 9, 0, 30)) == u(2026, 1, 5, 9, 0, 30, 500_000)
    assert schedule.next_after(u(2026, 1, 5, 9, 0, 30, 500_000)) == u(2026, 1, 6, 9, 0, 30, 500_000)


def test_discord_7659_7676_jst_three_hourly_across_midnight() -> None:
    """discord.py #7659/#7676: 3-hourly JST times skipped or repeated around local midnight."""
    schedule = TimesOfDay([time(h, tzinfo=TOKYO) for h in range(0, 24, 3)])
    start = datetime(2026, 1, 1, 19, 59, 59, tzinfo=TOKYO)
    got = fires(schedule, start, 10)
    expected_local = [
        datetime(2026, 1, 1, 21, tzinfo=TOKYO),
        datetime(2026, 1, 2, 0, tzinfo=TOKYO),
        datetime(2026, 1, 2, 3, tzinfo=TOKYO),
        datetime(2026, 1, 2, 6, tzinfo=TOKYO),
        datetime(2026, 1, 2, 9, tzinfo=TOKYO),  # 00:00 UTC: the UTC date changes here
        datetime(2026, 1, 2, 12, tzinfo=TOKYO),
        datetime(2026, 1, 2, 15, tzinfo=TOKYO),
        datetime(2026, 1, 2, 18, tzinfo=TOKYO),
        datetime(2026, 1, 2, 21, tzinfo=TOKYO),
        datetime(2026, 1, 3, 0, tzinfo=TOKYO),
    ]
    assert got == expected_local
    assert got[0] == u(2026, 1, 1, 12)
    assert got[4] == u(2026, 1, 2, 0)
    # each step is exactly three hours: no skip, no repeat
    assert all(b - a == timedelta(hours=3) for a, b in pairwise(got))


@pytest.mark.parametrize("zone", [TOKYO, PLUS9], ids=["Asia/Tokyo", "+09:00"])
def test_discord_7659_jst_every_start_minute_of_a_day(zone: tzinfo) -> None:
    """From any minute of the (UTC) day, the next fire is the next 3-hour mark in JST."""
    schedule = TimesOfDay([time(h) for h in range(0, 24, 3)], tz=zone)
    for minute in range(0, 24 * 60, 7):
        now = u(2026, 1, 1) + timedelta(minutes=minute)
        local = now.astimezone(zone)
        # next multiple of 3 hours in local wall time, by hand
        next_hour = (local.hour // 3 + 1) * 3
        expected = datetime.combine(local.date(), time(0), tzinfo=zone) + timedelta(hours=next_hour)
        assert schedule.next_after(now) == expected


def test_times_mixing_zoneinfo_and_utc_gives_earliest() -> None:
    # py-cord raises TypeError for this list; taskext accepts it.
    schedule = TimesOfDay([time(9, tzinfo=TOKYO), time(1, tzinfo=UTC), time(8, tzinfo=PARIS)])
    # 09:00 Tokyo = 00:00 UTC, 01:00 UTC, 08:00 Paris = 07:00 UTC (January)
    assert fires(schedule, u(2026, 1, 1, 0, 30), 5) == [
        u(2026, 1, 1, 1),
        u(2026, 1, 1, 7),
        u(2026, 1, 2, 0),
        u(2026, 1, 2, 1),
        u(2026, 1, 2, 7),
    ]
    # In July Paris is UTC+2: 08:00 Paris = 06:00 UTC
    assert fires(schedule, u(2026, 7, 1, 0, 30), 3) == [u(2026, 7, 1, 1), u(2026, 7, 1, 6), u(2026, 7, 2, 0)]


def test_times_naive_times_use_tz_and_aware_keep_theirs() -> None:
    schedule = TimesOfDay([time(9), time(9, tzinfo=UTC)], tz="Asia/Tokyo")
    assert fires(schedule, u(2026, 1, 1, 1), 3) == [u(2026, 1, 1, 9), u(2026, 1, 2, 0), u(2026, 1, 2, 9)]


def test_times_fixed_offset_honoured() -> None:
    for schedule in (
        TimesOfDay(time(9), tz=PLUS9),
        TimesOfDay(time(9, tzinfo=PLUS9)),
        Cron("0 9 * * *", tz=PLUS9),
        parse_schedule("09:00 +09:00"),
        parse_schedule("0 9 * * * +09:00"),
    ):
        assert fires(schedule, u(2026, 1, 1, 1), 3) == [u(2026, 1, 2), u(2026, 1, 3), u(2026, 1, 4)], schedule
        # a fixed offset has no DST: still midnight UTC in July
        assert schedule.next_after(u(2026, 7, 1, 1)) == u(2026, 7, 2), schedule


@pytest.mark.parametrize(
    ("times", "error"),
    [
        ([], ValueError),
        ((), ValueError),
        ("09:00", TypeError),
        (9, TypeError),
        ([time(9), "10:00"], TypeError),
        ([datetime(2026, 1, 1, 9)], TypeError),
    ],
)
def test_times_invalid(times: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        TimesOfDay(times)  # type: ignore[arg-type]


def test_times_unknown_zone() -> None:
    with pytest.raises(ScheduleError, match="Europe/Pariss"):
        TimesOfDay(time(9), tz="Europe/Pariss")


# --------------------------------------------------------------------------------------
# DST golden cases, for both TimesOfDay and Cron
# --------------------------------------------------------------------------------------

Builder = Callable[[int, int, tzinfo], Schedule]


def _times(hour: int, minute: int, zone: tzinfo) -> Schedule:
    return TimesOfDay(time(hour, minute), tz=zone)


def _cron(hour: int, minute: int, zone: tzinfo) -> Schedule:
    return Cron(f"{minute} {hour} * * *", tz=zone)


def _parsed_times(hour: int, minute: int, zone: tzinfo) -> Schedule:
    return parse_schedule(f"{hour:02d}:{minute:02d} {zone_name(zone)}")


def _parsed_cron(hour: int, minute: int, zone: tzinfo) -> Schedule:
    return parse_schedule(f"{minute} {hour} * * * {zone_name(zone)}")


BUILDERS = pytest.mark.parametrize(
    "build",
    [_times, _cron, _parsed_times, _parsed_cron],
    ids=["TimesOfDay", "Cron", "parsed-times", "parsed-cron"],
)

# (zone, hour, minute, start, expected UTC fire times)
DST_CASES = [
    # New York spring forward 2026-03-08 02:00 EST -> 03:00 EDT (07:00 UTC).
    # 02:30 does not exist: fires at 03:00 EDT = 07:00 UTC.
    (NY, 2, 30, u(2026, 3, 7, 5), [u(2026, 3, 7, 7, 30), u(2026, 3, 8, 7), u(2026, 3, 9, 6, 30)]),
    (NY, 1, 30, u(2026, 3, 7, 5), [u(2026, 3, 7, 6, 30), u(2026, 3, 8, 6, 30), u(2026, 3, 9, 5, 30)]),
    (NY, 3, 0, u(2026, 3, 7, 5), [u(2026, 3, 7, 8), u(2026, 3, 8, 7), u(2026, 3, 9, 7)]),
    (NY, 3, 30, u(2026, 3, 7, 5), [u(2026, 3, 7, 8, 30), u(2026, 3, 8, 7, 30), u(2026, 3, 9, 7, 30)]),
    # New York fall back 2026-11-01 02:00 EDT -> 01:00 EST (06:00 UTC).
    # 02:30 happens once (EST).
    (NY, 2, 30, u(2026, 10, 31, 4), [u(2026, 10, 31, 6, 30), u(2026, 11, 1, 7, 30), u(2026, 11, 2, 7, 30)]),
    # 01:30 happens twice; fires once, at the first occurrence (EDT).
    (NY, 1, 30, u(2026, 10, 31, 4), [u(2026, 10, 31, 5, 30), u(2026, 11, 1, 5, 30), u(2026, 11, 2, 6, 30)]),
    # starting inside the repeated hour, after the first 01:30: next is the day after
    (NY, 1, 30, u(2026, 11, 1, 6), [u(2026, 11, 2, 6, 30)]),
    (NY, 1, 30, u(2026, 11, 1, 6, 45), [u(2026, 11, 2, 6, 30)]),
    (NY, 1, 30, u(2026, 11, 1, 5, 30), [u(2026, 11, 2, 6, 30)]),
    # Berlin spring forward 2026-03-29 02:00 CET -> 03:00 CEST (01:00 UTC).
    (BERLIN, 2, 30, u(2026, 3, 27, 23), [u(2026, 3, 28, 1, 30), u(2026, 3, 29, 1), u(2026, 3, 30, 0, 30)]),
    (BERLIN, 2, 0, u(2026, 3, 27, 23), [u(2026, 3, 28, 1), u(2026, 3, 29, 1), u(2026, 3, 30, 0)]),
    (
        BERLIN,
        1,
        30,
        u(2026, 3, 27, 23),
        [u(2026, 3, 28, 0, 30), u(2026, 3, 29, 0, 30), u(2026, 3, 29, 23, 30)],
    ),
    # Berlin fall back 2026-10-25 03:00 CEST -> 02:00 CET (01:00 UTC); 02:30 happens twice.
    (
        BERLIN,
        2,
        30,
        u(2026, 10, 23, 22),
        [u(2026, 10, 24, 0, 30), u(2026, 10, 25, 0, 30), u(2026, 10, 26, 1, 30)],
    ),
    (BERLIN, 2, 30, u(2026, 10, 25, 1), [u(2026, 10, 26, 1, 30)]),
    (BERLIN, 3, 0, u(2026, 10, 23, 22), [u(2026, 10, 24, 1), u(2026, 10, 25, 2), u(2026, 10, 26, 2)]),
    # A fixed offset has no transitions.
    (PLUS9, 2, 30, u(2026, 3, 7), [u(2026, 3, 7, 17, 30), u(2026, 3, 8, 17, 30), u(2026, 3, 9, 17, 30)]),
]


@BUILDERS
@pytest.mark.parametrize(
    ("zone", "hour", "minute", "start", "expected"),
    DST_CASES,
    ids=[f"{zone_name(c[0])}-{c[1]:02d}:{c[2]:02d}-from-{c[3]:%m%dT%H%M}" for c in DST_CASES],
)
def test_daily_dst_golden(
    build: Builder, zone: tzinfo, hour: int, minute: int, start: datetime, expected: list[datetime]
) -> None:
    schedule = build(hour, minute, zone)
    got = fires(schedule, start, len(expected))
    assert got == expected
    # the same instants asked for from a local-time start
    assert fires(schedule, start.astimezone(zone), len(expected)) == expected


@BUILDERS
@pytest.mark.parametrize(
    ("zone", "day"),
    [
        (NY, date(2026, 3, 8)),
        (NY, date(2026, 11, 1)),
        (BERLIN, date(2026, 3, 29)),
        (BERLIN, date(2026, 10, 25)),
    ],
)
@pytest.mark.parametrize(
    ("hour", "minute"), [(0, 30), (1, 0), (1, 30), (2, 0), (2, 30), (2, 59), (3, 0), (3, 30)]
)
def test_daily_fires_exactly_once_on_transition_days(
    build: Builder, zone: tzinfo, day: date, hour: int, minute: int
) -> None:
    schedule = build(hour, minute, zone)
    start = datetime.combine(day - timedelta(days=1), time(12), tzinfo=zone)
    got = fires(schedule, start, 3)
    local_days = [t.astimezone(zone).date() for t in got]
    assert local_days == [day, day + timedelta(days=1), day + timedelta(days=2)]
    local_wall = got[0].astimezone(zone).replace(tzinfo=None)
    wanted = datetime.combine(day, time(hour, minute))
    # on the transition day the fire is at the wall time, or at the end of the gap
    transition_local = {
        (NY, date(2026, 3, 8)): datetime(2026, 3, 8, 3),
        (BERLIN, date(2026, 3, 29)): datetime(2026, 3, 29, 3),
    }
    gap_end = transition_local.get((zone, day))
    if gap_end is not None and datetime.combine(day, time(2)) <= wanted < gap_end:
        assert local_wall == gap_end
    else:
        assert local_wall == wanted
        # an ambiguous time resolves to its first occurrence (fold=0)
        assert got[0] == wanted.replace(tzinfo=zone, fold=0).astimezone(UTC)


def test_times_gap_collapses_several_times_into_one_fire() -> None:
    schedule = TimesOfDay([time(2, 15), time(2, 45)], tz=NY)
    assert fires(schedule, u(2026, 3, 8, 5), 3) == [
        u(2026, 3, 8, 7),
        u(2026, 3, 9, 6, 15),
        u(2026, 3, 9, 6, 45),
    ]
    cron = Cron("15,45 2 * * *", tz=NY)
    assert fires(cron, u(2026, 3, 8, 5), 3) == [u(2026, 3, 8, 7), u(2026, 3, 9, 6, 15), u(2026, 3, 9, 6, 45)]


@pytest.mark.parametrize("build", [_times, _cron], ids=["TimesOfDay", "Cron"])
def test_input_in_repeated_hour_in_schedule_zone(build: Builder) -> None:
    """Regression: 01:00 EST (fold=1) given in the schedule's own zone is after 01:30 EDT."""
    schedule = build(1, 30, NY)
    second_one_am = datetime(2026, 11, 1, 1, 0, tzinfo=NY, fold=1)
    # (== across zones is always False for a fold=1 time, so compare after conversion)
    assert second_one_am.astimezone(UTC) == u(2026, 11, 1, 6)
    assert schedule.next_after(second_one_am) == u(2026, 11, 2, 6, 30)
    assert schedule.next_after(datetime(2026, 11, 1, 1, 0, tzinfo=NY)) == u(2026, 11, 1, 5, 30)


def test_hourly_cron_new_york_fall_back() -> None:
    """cronsim semantics: an hourly job runs in both copies of the repeated 01:00 hour."""
    cron = Cron("0 * * * *", tz=NY)
    got = fires(cron, u(2026, 11, 1, 3, 30), 6)
    assert got == [
        u(2026, 11, 1, 4),  # 00:00 EDT
        u(2026, 11, 1, 5),  # 01:00 EDT
        u(2026, 11, 1, 6),  # 01:00 EST
        u(2026, 11, 1, 7),  # 02:00 EST
        u(2026, 11, 1, 8),  # 03:00 EST
        u(2026, 11, 1, 9),  # 04:00 EST
    ]
    assert all(b > a for a, b in pairwise(got))
    assert len(set(got)) == len(got)


def test_hourly_cron_new_york_spring_forward() -> None:
    cron = Cron("0 * * * *", tz=NY)
    assert fires(cron, u(2026, 3, 8, 5, 30), 3) == [
        u(2026, 3, 8, 6),  # 01:00 EST
        u(2026, 3, 8, 7),  # 03:00 EDT (02:00 does not exist)
        u(2026, 3, 8, 8),  # 04:00 EDT
    ]


def test_quarter_hourly_cron_new_york_fall_back() -> None:
    cron = Cron("*/15 * * * *", tz=NY)
    got = fires(cron, u(2026, 11, 1, 5), 9)
    assert got == [u(2026, 11, 1, 5) + timedelta(minutes=15 * k) for k in range(1, 10)]


def test_hourly_cron_berlin_fall_back() -> None:
    cron = Cron("0 * * * *", tz=BERLIN)
    assert fires(cron, u(2026, 10, 24, 22, 30), 4) == [
        u(2026, 10, 24, 23),  # 01:00 CEST
        u(2026, 10, 25, 0),  # 02:00 CEST
        u(2026, 10, 25, 1),  # 02:00 CET
        u(2026, 10, 25, 2),  # 03:00 CET
    ]


# --------------------------------------------------------------------------------------
# hypothesis: a small cron grammar with an independent oracle
# --------------------------------------------------------------------------------------

MONTH_NAMES = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
DAY_NAMES = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]

FIXED_ZONES: list[tzinfo] = [
    UTC,
    PLUS9,
    timezone(-timedelta(hours=5)),
    timezone(timedelta(hours=5, minutes=45)),
    timezone(-timedelta(hours=9, minutes=30)),
]
REAL_ZONES: list[tzinfo] = [
    NY,
    BERLIN,
    TOKYO,
    ZoneInfo("Australia/Lord_Howe"),  # 30-minute DST
    ZoneInfo("America/Santiago"),  # transitions at midnight
    ZoneInfo("Europe/Dublin"),  # negative DST
    ZoneInfo("Asia/Kolkata"),
    ZoneInfo("Pacific/Chatham"),
    ZoneInfo("America/St_Johns"),
]


@st.composite
def cron_field(
    draw: st.DrawFn, low: int, high: int, names: list[str] | None = None, *, top: int | None = None
) -> tuple[str, set[int]]:
    """One cron field as (text, set of allowed values).

    Explicit values are drawn from ``low..high``; ``*`` covers the whole field ``low..top``.
    """
    top = high if top is None else top

    def show(value: int) -> str:
        if names is not None and draw(st.booleans()):
            return names[value - low]
        return str(value)

    kind = draw(st.sampled_from(["star", "single", "list", "range", "star-step", "range-step"]))
    if kind == "star":
        return "*", set(range(low, top + 1))
    if kind == "single":
        value = draw(st.integers(low, high))
        return show(value), {value}
    if kind == "list":
        values = sorted(draw(st.sets(st.integers(low, high), min_size=2, max_size=4)))
        return ",".join(show(v) for v in values), set(values)
    if kind == "range":
        a = draw(st.integers(low, high))
        b = draw(st.integers(a, high))
        return f"{show(a)}-{show(b)}", set(range(a, b + 1))
    step = draw(st.integers(1, max(1, (high - low) // 2 + 1)))
    if kind == "star-step":
        return f"*/{step}", set(range(low, top + 1, step))
    # a < b: cronsim reads a one-value stepped range "a-a/s" as "a/s" (a to the field's end)
    a = draw(st.integers(low, high - 1))
    b = draw(st.integers(a + 1, high))
    return f"{a}-{b}/{step}", set(range(a, b + 1, step))


@st.composite
def cron_spec(draw: st.DrawFn) -> tuple[str, list[tuple[str, set[int]]]]:
    fields = [
        draw(cron_field(0, 59)),
        draw(cron_field(0, 23)),
        # explicit days stop at 28 (every month has them) so the expression always fires
        draw(cron_field(1, 28, top=31)),
        draw(cron_field(1, 12, MONTH_NAMES)),
        draw(cron_field(0, 6, DAY_NAMES)),
    ]
    return " ".join(text for text, _ in fields), fields


def _day_matches(fields: list[tuple[str, set[int]]], day: date) -> bool:
    (_, _), (_, _), (dom_text, doms), (_, months), (dow_text, dows) = fields
    if day.month not in months:
        return False
    dom_ok = day.day in doms
    dow_ok = (day.isoweekday() % 7) in dows  # cron: Sunday = 0
    if dom_text.startswith("*") or dow_text.startswith("*"):
        return dom_ok and dow_ok
    return dom_ok or dow_ok


def _wall_matches(fields: list[tuple[str, set[int]]], wall: datetime) -> bool:
    return (
        wall.minute in fields[0][1]
        and wall.hour in fields[1][1]
        and wall.second == 0
        and wall.microsecond == 0
        and _day_matches(fields, wall.date())
    )


def cron_oracle(fields: list[tuple[str, set[int]]], after: datetime, zone: tzinfo) -> datetime | None:
    """First matching wall time strictly after ``after`` in a fixed-offset zone, by brute force."""
    local = after.astimezone(zone)
    hours = sorted(fields[1][1])
    minutes = sorted(fields[0][1])
    for offset in range(366 * 30):
        day = local.date() + timedelta(days=offset)
        if not _day_matches(fields, day):
            continue
        for hour in hours:
            for minute in minutes:
                candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
                if candidate > after:
                    return candidate
    return None


def _is_transition(instant: datetime, zone: tzinfo) -> bool:
    before = (instant - timedelta(seconds=1)).astimezone(zone).utcoffset()
    return before != instant.astimezone(zone).utcoffset()


aware_datetimes = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2060, 1, 1), timezones=st.just(UTC)
)


def test_oracle_sanity() -> None:
    """The test oracle agrees with hand-computed values (so a broken oracle cannot pass)."""
    fields = [("0", {0}), ("0", {0}), ("13", {13}), ("*", set(range(1, 13))), ("5", {5})]
    assert cron_oracle(fields, u(2026, 1, 1), UTC) == u(2026, 1, 2)
    assert cron_oracle(fields, u(2026, 1, 10), UTC) == u(2026, 1, 13)
    fields[4] = ("*", set(range(7)))
    assert cron_oracle(fields, u(2026, 1, 14), UTC) == u(2026, 2, 13)
    assert calendar.weekday(2026, 2, 13) == calendar.FRIDAY


@PROPERTY_SETTINGS
@given(
    spec=cron_spec(),
    start=aware_datetimes,
    zone=st.sampled_from(FIXED_ZONES),
    view=st.sampled_from(REAL_ZONES),
)
def test_property_cron_matches_oracle_in_fixed_offsets(
    spec: tuple[str, list[tuple[str, set[int]]]], start: datetime, zone: tzinfo, view: tzinfo
) -> None:
    text, fields = spec
    cron = Cron(text, tz=zone)
    current = start.astimezone(view)  # the input's own zone does not matter
    for _ in range(3):
        result = cron.next_after(current)
        assert is_utc(result)
        assert result > current
        assert result == cron_oracle(fields, current, zone), text
        assert _wall_matches(fields, result.astimezone(zone).replace(tzinfo=None))
        current = result


@PROPERTY_SETTINGS
@given(spec=cron_spec(), start=aware_datetimes, zone=st.sampled_from(REAL_ZONES))
def test_property_cron_real_zones_increasing_and_matching(
    spec: tuple[str, list[tuple[str, set[int]]]], start: datetime, zone: tzinfo
) -> None:
    text, fields = spec
    cron = Cron(text, tz=zone)
    current = start
    seen = []
    for _ in range(4):
        result = cron.next_after(current)
        assert is_utc(result)
        assert result > current
        # the same instant expressed in another zone gives the same answer
        assert cron.next_after(current.astimezone(zone)) == result
        wall = result.astimezone(zone).replace(tzinfo=None)
        # either the wall clock matches the fields, or it is the end of a DST gap
        assert _wall_matches(fields, wall) or _is_transition(result, zone), (text, result, wall)
        seen.append(result)
        current = result
    assert len(set(seen)) == len(seen)


@PROPERTY_SETTINGS
@given(
    walls=st.lists(st.times(), min_size=1, max_size=4),
    start=aware_datetimes,
    zone=st.sampled_from(FIXED_ZONES),
    view=st.sampled_from(REAL_ZONES),
)
def test_property_times_of_day_fixed_offsets(
    walls: list[time], start: datetime, zone: tzinfo, view: tzinfo
) -> None:
    schedule = TimesOfDay(walls, tz=zone)
    current = start.astimezone(view)
    for _ in range(4):
        result = schedule.next_after(current)
        assert is_utc(result)
        assert result > current
        # oracle: the earliest of every time today, tomorrow and the day after
        local_day = current.astimezone(zone).date()
        candidates = [
            datetime.combine(local_day + timedelta(days=k), wall, tzinfo=zone)
            for k in range(3)
            for wall in walls
        ]
        assert result == min(c for c in candidates if c > current)
        assert result.astimezone(zone).time().replace(tzinfo=None) in walls
        current = result


@PROPERTY_SETTINGS
@given(
    walls=st.lists(st.times(), min_size=1, max_size=4),
    start=aware_datetimes,
    zone=st.sampled_from(REAL_ZONES),
)
def test_property_times_of_day_real_zones(walls: list[time], start: datetime, zone: tzinfo) -> None:
    schedule = TimesOfDay(walls, tz=zone)
    current = start
    for _ in range(4):
        result = schedule.next_after(current)
        assert is_utc(result)
        assert result > current
        assert schedule.next_after(current.astimezone(zone)) == result
        local = result.astimezone(zone)
        assert local.time().replace(tzinfo=None) in walls or _is_transition(result, zone)
        # a gap resolution only happens when one of the times does not exist that day
        if local.time().replace(tzinfo=None) not in walls:
            assert any(
                datetime.combine(local.date(), w, tzinfo=zone)
                .astimezone(UTC)
                .astimezone(zone)
                .replace(tzinfo=None)
                != datetime.combine(local.date(), w)
                for w in walls
            )
        current = result


@PROPERTY_SETTINGS
@given(
    hours=st.sets(st.integers(0, 23), min_size=1, max_size=2),
    minutes=st.sets(st.integers(0, 59), min_size=1, max_size=2),
    start=aware_datetimes,
    zone=st.sampled_from(REAL_ZONES + FIXED_ZONES),
)
def test_property_daily_cron_agrees_with_times_of_day(
    hours: set[int], minutes: set[int], start: datetime, zone: tzinfo
) -> None:
    """Two independent implementations (cronsim vs. taskext's own wall-clock resolver) agree."""
    cron = Cron(f"{','.join(map(str, sorted(minutes)))} {','.join(map(str, sorted(hours)))} * * *", tz=zone)
    times = TimesOfDay([time(h, m) for h in hours for m in minutes], tz=zone)
    current = start
    for _ in range(4):
        expected = times.next_after(current)
        assert cron.next_after(current) == expected
        current = expected


@PROPERTY_SETTINGS
@given(
    micros=st.integers(1, 10**12),
    anchor=st.none() | aware_datetimes,
    start=aware_datetimes,
    view=st.sampled_from(REAL_ZONES + FIXED_ZONES),
)
def test_property_interval(micros: int, anchor: datetime | None, start: datetime, view: tzinfo) -> None:
    period = timedelta(microseconds=micros)
    interval = Interval.of(period, anchor=anchor)
    assert interval.period == period
    result = interval.next_after(start.astimezone(view))
    assert is_utc(result)
    assert result > start
    assert result - start <= period
    if anchor is None:
        assert result == start + period
    else:
        # on the grid, and the previous grid point is not after start
        assert (result - anchor) % period == timedelta(0)
        assert result - period <= start
    # round trip through text
    again = parse_schedule(interval.to_text())
    assert isinstance(again, Interval)
    assert again.period == period


@PROPERTY_SETTINGS
@given(spec=cron_spec(), zone=st.sampled_from(REAL_ZONES + FIXED_ZONES))
def test_property_cron_round_trip(spec: tuple[str, list[tuple[str, set[int]]]], zone: tzinfo) -> None:
    cron = Cron(spec[0], tz=zone)
    assert parse_schedule(cron.to_text()) == cron


@PROPERTY_SETTINGS
@given(
    walls=st.lists(st.times(), min_size=1, max_size=4),
    zones=st.lists(st.sampled_from(REAL_ZONES + FIXED_ZONES), min_size=1, max_size=4),
)
def test_property_times_round_trip(walls: list[time], zones: list[tzinfo]) -> None:
    schedule = TimesOfDay([w.replace(tzinfo=zones[i % len(zones)]) for i, w in enumerate(walls)])
    again = parse_schedule(schedule.to_text())
    assert again == schedule
    start = u(2026, 3, 1)
    assert fires(again, start, 3) == fires(schedule, start, 3)

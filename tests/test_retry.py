"""Tests for taskext.retry: FailDelay and ExponentialBackoff.

Expected delays are written out by hand.
"""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskext.retry import ExponentialBackoff, FailDelay, RetryPolicy

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)


# --------------------------------------------------------------------------------------
# FailDelay
# --------------------------------------------------------------------------------------


def test_fail_delay_moodle_defaults() -> None:
    policy = FailDelay()
    expected = [
        60,
        120,
        240,
        480,
        960,
        1920,
        3840,
        7680,
        15360,
        30720,
        61440,
        86400,  # 122880 capped at one day
        86400,
        86400,
    ]
    assert [policy.delay(n) for n in range(1, len(expected) + 1)] == expected
    assert policy.maximum == 86400
    assert isinstance(policy, RetryPolicy)


def test_fail_delay_returns_floats() -> None:
    delay = FailDelay().delay(1)
    assert isinstance(delay, float)
    assert delay == 60.0


@pytest.mark.parametrize("failures", [100, 1024, 1025, 10_000, 10**9])
def test_fail_delay_huge_failure_counts_stay_at_maximum(failures: int) -> None:
    assert FailDelay().delay(failures) == 86400


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"first": 10, "maximum": 100, "factor": 3}, [10, 30, 90, 100, 100]),
        ({"first": 5, "maximum": 50, "factor": 1}, [5, 5, 5, 5, 5]),
        ({"first": 4, "maximum": 100, "factor": 1.5}, [4, 6, 9, 13.5, 20.25, 30.375, 45.5625, 68.34375, 100]),
        ({"first": 1}, [1, 2, 4, 8, 16]),
        ({"maximum": 200}, [60, 120, 200, 200]),
        ({"factor": 10}, [60, 600, 6000, 60000, 86400]),
        ({"first": 0.5, "maximum": 0.5}, [0.5, 0.5, 0.5]),
        ({"first": 30, "maximum": 30, "factor": 2}, [30, 30]),
    ],
)
def test_fail_delay_custom(kwargs: dict[str, float], expected: list[float]) -> None:
    policy = FailDelay(**kwargs)
    assert [policy.delay(n) for n in range(1, len(expected) + 1)] == expected
    assert policy.maximum == kwargs.get("maximum", 86400)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"first": 0}, ValueError),
        ({"first": -60}, ValueError),
        ({"maximum": 0}, ValueError),
        ({"maximum": -1}, ValueError),
        ({"factor": 0}, ValueError),
        ({"factor": -2}, ValueError),
        ({"factor": 0.5}, ValueError),  # a shrinking delay is not a backoff
        ({"first": 120, "maximum": 60}, ValueError),
        ({"first": math.nan}, ValueError),
        ({"maximum": math.nan}, ValueError),
        ({"factor": math.nan}, ValueError),
        ({"first": "60"}, TypeError),
        ({"maximum": None}, TypeError),
        ({"factor": True}, TypeError),
        ({"first": False}, TypeError),
        ({"first": [60]}, TypeError),
    ],
)
def test_fail_delay_invalid_arguments(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        FailDelay(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("failures", "error"), [(0, ValueError), (-1, ValueError), (-100, ValueError)])
def test_fail_delay_failures_below_one(failures: int, error: type[Exception]) -> None:
    with pytest.raises(error, match="at least 1"):
        FailDelay().delay(failures)


@pytest.mark.parametrize("failures", [1.0, "1", None, True, False])
def test_fail_delay_failures_must_be_int(failures: object) -> None:
    with pytest.raises(TypeError):
        FailDelay().delay(failures)  # type: ignore[arg-type]


def test_fail_delay_repr_names_parameters() -> None:
    text = repr(FailDelay(first=10, maximum=100, factor=3))
    assert "first=10" in text
    assert "maximum=100" in text
    assert "factor=3" in text


@PROPERTY_SETTINGS
@given(
    first=st.floats(0.001, 1e5),
    extra=st.floats(0, 1e6),
    factor=st.floats(1, 10),
    failures=st.integers(1, 5000),
)
def test_property_fail_delay(first: float, extra: float, factor: float, failures: int) -> None:
    maximum = first + extra
    policy = FailDelay(first=first, maximum=maximum, factor=factor)
    assert policy.delay(1) == first
    value = policy.delay(failures)
    following = policy.delay(failures + 1)
    assert first <= value <= maximum
    assert value <= following <= maximum  # never shrinks
    # it grows by exactly `factor` until it reaches the cap
    if following < maximum:
        assert following == pytest.approx(value * factor)


# --------------------------------------------------------------------------------------
# ExponentialBackoff
# --------------------------------------------------------------------------------------


def test_backoff_ceiling_doubles_and_caps() -> None:
    policy = ExponentialBackoff(rng=random.Random(1234))
    expected = [2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600, 600]
    assert [policy.ceiling(n) for n in range(1, len(expected) + 1)] == expected
    assert policy.maximum == 600
    assert policy.ceiling(10**6) == 600
    assert isinstance(policy, RetryPolicy)


def test_backoff_custom_envelope() -> None:
    policy = ExponentialBackoff(base=0.5, factor=3, maximum=100, rng=random.Random(0))
    assert [policy.ceiling(n) for n in range(1, 7)] == [1.5, 4.5, 13.5, 40.5, 100, 100]
    assert policy.maximum == 100


def test_backoff_seeded_delays_stay_within_ceiling() -> None:
    policy = ExponentialBackoff(rng=random.Random(1234))
    ceilings = {1: 2, 2: 4, 3: 8, 5: 32, 9: 512, 10: 600, 50: 600}
    for failures, ceiling in ceilings.items():
        draws = [policy.delay(failures) for _ in range(500)]
        assert all(0 <= d <= ceiling for d in draws)
        # full jitter: the draws spread over the whole envelope
        assert min(draws) < 0.1 * ceiling
        assert max(draws) > 0.9 * ceiling
        assert len(set(draws)) > 400


def test_backoff_same_seed_same_sequence() -> None:
    first = ExponentialBackoff(rng=random.Random(99))
    second = ExponentialBackoff(rng=random.Random(99))
    other = ExponentialBackoff(rng=random.Random(100))
    a = [first.delay(n) for n in range(1, 20)]
    b = [second.delay(n) for n in range(1, 20)]
    c = [other.delay(n) for n in range(1, 20)]
    assert a == b
    assert a != c


def test_backoff_uses_the_given_rng() -> None:
    rng = random.Random(5)
    expected_rng = random.Random(5)
    policy = ExponentialBackoff(base=1, factor=2, maximum=600, rng=rng)
    # uniform(0, ceiling) drawn from the same stream
    assert policy.delay(3) == expected_rng.uniform(0.0, 8.0)
    assert policy.delay(4) == expected_rng.uniform(0.0, 16.0)


def test_backoff_default_rng() -> None:
    policy = ExponentialBackoff()
    draws = [policy.delay(4) for _ in range(200)]
    assert all(0 <= d <= 16 for d in draws)
    assert len(set(draws)) > 1


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"base": 0}, ValueError),
        ({"base": -1}, ValueError),
        ({"factor": 0}, ValueError),
        ({"maximum": 0}, ValueError),
        ({"maximum": -5}, ValueError),
        ({"base": math.nan}, ValueError),
        ({"maximum": math.nan}, ValueError),
        ({"base": "1"}, TypeError),
        ({"factor": None}, TypeError),
        ({"maximum": True}, TypeError),
    ],
)
def test_backoff_invalid_arguments(kwargs: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        ExponentialBackoff(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("failures", [0, -1])
def test_backoff_failures_below_one(failures: int) -> None:
    policy = ExponentialBackoff(rng=random.Random(0))
    with pytest.raises(ValueError, match="at least 1"):
        policy.delay(failures)
    with pytest.raises(ValueError, match="at least 1"):
        policy.ceiling(failures)


@pytest.mark.parametrize("failures", [1.5, "2", None, True])
def test_backoff_failures_must_be_int(failures: object) -> None:
    with pytest.raises(TypeError):
        ExponentialBackoff(rng=random.Random(0)).delay(failures)  # type: ignore[arg-type]


@PROPERTY_SETTINGS
@given(
    seed=st.integers(0, 2**32),
    base=st.floats(0.001, 100),
    factor=st.floats(1, 10),
    maximum=st.floats(0.001, 1e6),
    failures=st.integers(1, 5000),
)
def test_property_backoff_within_envelope(
    seed: int, base: float, factor: float, maximum: float, failures: int
) -> None:
    policy = ExponentialBackoff(base=base, factor=factor, maximum=maximum, rng=random.Random(seed))
    ceiling = policy.ceiling(failures)
    assert 0 < ceiling <= maximum
    assert ceiling <= policy.ceiling(failures + 1)  # never shrinks
    expected_ceiling = min(maximum, base * factor**failures) if failures < 300 else None
    if expected_ceiling is not None:
        assert ceiling == pytest.approx(expected_ceiling)
    for _ in range(5):
        assert 0 <= policy.delay(failures) <= ceiling

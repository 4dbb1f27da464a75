"""Pure retry policies: how long to wait after the n-th consecutive failure."""

from __future__ import annotations

import abc
import random

__all__ = ["ExponentialBackoff", "FailDelay", "RetryPolicy"]


class RetryPolicy(abc.ABC):
    """Maps the number of consecutive failures (1, 2, ...) to a delay in seconds."""

    @property
    @abc.abstractmethod
    def maximum(self) -> float:
        """The largest delay this policy returns."""

    @abc.abstractmethod
    def delay(self, failures: int) -> float:
        """Delay in seconds after ``failures`` consecutive failures (``failures >= 1``)."""

    def _check(self, failures: int) -> None:
        if isinstance(failures, bool) or not isinstance(failures, int):
            raise TypeError(f"failures must be an int, not {type(failures).__name__}")
        if failures < 1:
            raise ValueError(f"failures must be at least 1 (got {failures})")


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    if not value > 0:  # also rejects NaN
        raise ValueError(f"{name} must be positive (got {value})")
    return float(value)


class FailDelay(RetryPolicy):
    """Moodle's fail delay: ``first``, doubling each failure, capped at ``maximum``.

    Parameters
    ----------
    first:
        Delay after the first failure, in seconds (Moodle: 60).
    maximum:
        Cap in seconds (Moodle: 86400, one day).
    factor:
        Growth per failure (Moodle: 2).
    """

    def __init__(self, *, first: float = 60.0, maximum: float = 86400.0, factor: float = 2.0) -> None:
        self.first = _positive("first", first)
        self._maximum = _positive("maximum", maximum)
        self.factor = _positive("factor", factor)
        if self.factor < 1:
            raise ValueError(f"factor must be at least 1 (got {factor})")
        if self._maximum < self.first:
            raise ValueError(f"maximum ({maximum}) must not be below first ({first})")

    @property
    def maximum(self) -> float:
        return self._maximum

    def delay(self, failures: int) -> float:
        self._check(failures)
        try:  # a huge failure count overflows the float: that is the cap
            value = self.first * self.factor ** (failures - 1)
        except OverflowError:
            value = self._maximum
        return min(value, self._maximum)

    def __repr__(self) -> str:
        return f"FailDelay(first={self.first:g}, maximum={self._maximum:g}, factor={self.factor:g})"


# Policies without an rng= draw from one generator instead of seeding one each.
_SHARED_RNG = random.Random()


class ExponentialBackoff(RetryPolicy):
    """Exponential backoff with full jitter: uniform in ``[0, min(base * factor**n, maximum)]``.

    Parameters
    ----------
    base, factor, maximum:
        The envelope of the delay.
    rng:
        A :class:`random.Random` to draw from (tests pass a seeded one).
    """

    def __init__(
        self,
        *,
        base: float = 1.0,
        factor: float = 2.0,
        maximum: float = 600.0,
        rng: random.Random | None = None,
    ) -> None:
        self.base = _positive("base", base)
        self.factor = _positive("factor", factor)
        self._maximum = _positive("maximum", maximum)
        self._rng = rng or _SHARED_RNG

    @property
    def maximum(self) -> float:
        return self._maximum

    def ceiling(self, failures: int) -> float:
        """The upper bound of the jittered delay after ``failures`` failures."""
        self._check(failures)
        try:
            value = self.base * self.factor**failures
        except OverflowError:
            value = self._maximum
        return min(value, self._maximum)

    def delay(self, failures: int) -> float:
        return self._rng.uniform(0.0, self.ceiling(failures))

    def __repr__(self) -> str:
        return f"ExponentialBackoff(base={self.base:g}, factor={self.factor:g}, maximum={self._maximum:g})"

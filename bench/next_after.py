#!/usr/bin/env python3
"""Cost of one cron ``next_after`` call (issue #2): taskext.Cron vs cronsim used directly.

For each expression, three callables are timed with :mod:`timeit` over the same list of
instants (spread over a year, including both DST change days of America/New_York):

* ``taskext``   -- ``Cron(expr, tz=zone).next_after(dt)`` with ``dt`` an aware UTC datetime,
  which is how the loop calls it;
* ``cronsim``   -- ``next(CronSim(expr, local_dt))`` with ``local_dt`` already in the zone
  (the bare library call, the baseline of the target);
* ``cronsim+tz`` -- ``next(CronSim(expr, dt.astimezone(zone))).astimezone(UTC)``: the
  same plus the two zone conversions any UTC-in/UTC-out wrapper has to do, to show
  where the overhead of taskext comes from.

Before timing, every taskext result is checked to be the same instant as cronsim's.
Target: taskext within 1.5x of ``cronsim``.

Usage::

    .venv/bin/python bench/next_after.py
    .venv/bin/python bench/next_after.py --repeat 9 --json -
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import timeit
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from importlib import metadata
from typing import Any
from zoneinfo import ZoneInfo

from cronsim import CronSim

from taskext import Cron

UTC = timezone.utc

CASES: list[tuple[str, str]] = [
    ("*/5 * * * *", "UTC"),
    ("30 2 * * *", "America/New_York"),
    ("0 9 * * MON-FRI", "UTC"),
]


def instants(count: int, seed: int) -> list[datetime]:
    """``count`` aware UTC instants in 2025: both New York DST change days, then random ones."""
    fixed = [
        datetime(2025, 3, 9, 6, 45, 12, tzinfo=UTC),  # 01:45 EST, just before spring forward
        datetime(2025, 11, 2, 5, 40, 0, tzinfo=UTC),  # 01:40 EDT, inside the repeated hour
        datetime(2025, 1, 17, 14, 7, 31, 123456, tzinfo=UTC),  # Friday afternoon
        datetime(2025, 6, 14, 10, 0, 0, tzinfo=UTC),  # Saturday
    ]
    rng = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    extra = [start + timedelta(seconds=rng.randrange(365 * 86400), microseconds=rng.randrange(10**6))]
    while len(fixed) + len(extra) < count:
        extra.append(start + timedelta(seconds=rng.randrange(365 * 86400), microseconds=rng.randrange(10**6)))
    return (fixed + extra)[:count]


def zone(name: str) -> Any:
    return UTC if name == "UTC" else ZoneInfo(name)


def time_per_call(
    fns: dict[str, Callable[[datetime], Any]], dts: list[datetime], repeat: int, number: int
) -> dict[str, float]:
    """Best-of-``repeat`` seconds per call of each function over ``dts``.

    The repeats are interleaved (A B C, A B C, ...) so that a change of machine load
    hits every peer alike instead of whichever happened to run at that moment.
    """

    def runner(fn: Callable[[datetime], Any]) -> Callable[[], None]:
        def run() -> None:
            for dt in dts:
                fn(dt)

        return run

    timers = {name: timeit.Timer(runner(fn)) for name, fn in fns.items()}
    if number <= 0:
        number = max(timer.autorange()[0] for timer in timers.values())  # >= 0.2 s per repeat
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeat):
        for name, timer in timers.items():
            best[name] = min(best[name], timer.timeit(number))
    return {name: value / (number * len(dts)) for name, value in best.items()}


def measure(expr: str, zone_name: str, dts: list[datetime], repeat: int, number: int) -> dict[str, Any]:
    tz = zone(zone_name)
    cron = Cron(expr, tz=zone_name)
    local = {dt: dt.astimezone(tz) for dt in dts}

    def f_taskext(dt: datetime) -> datetime:
        return cron.next_after(dt)

    def f_cronsim(dt: datetime) -> datetime:
        return next(CronSim(expr, local[dt]))  # local[...] is a dict lookup, timed in both

    def f_cronsim_tz(dt: datetime) -> datetime:
        return next(CronSim(expr, dt.astimezone(tz))).astimezone(UTC)

    def f_taskext_lookup(dt: datetime) -> datetime:
        return cron.next_after(local[dt])  # same dict lookup as f_cronsim, for a fair ratio

    mismatches = [dt.isoformat() for dt in dts if f_taskext(dt) != f_cronsim(dt) or f_taskext(dt) <= dt]
    best = time_per_call(
        {"taskext": f_taskext_lookup, "cronsim": f_cronsim, "cronsim_tz": f_cronsim_tz}, dts, repeat, number
    )
    t_taskext, t_cronsim, t_cronsim_tz = best["taskext"], best["cronsim"], best["cronsim_tz"]
    return {
        "expression": expr,
        "tz": zone_name,
        "instants": len(dts),
        "taskext_us": t_taskext * 1e6,
        "cronsim_us": t_cronsim * 1e6,
        "cronsim_tz_us": t_cronsim_tz * 1e6,
        "ratio": t_taskext / t_cronsim,
        "ratio_vs_cronsim_tz": t_taskext / t_cronsim_tz,
        "mismatches": mismatches,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--instants", type=int, default=16, help="instants per timing pass [16]")
    ap.add_argument("--seed", type=int, default=2, help="seed for the random instants [2]")
    ap.add_argument("--repeat", type=int, default=7, help="timeit repeats; the best is kept [7]")
    ap.add_argument("--number", type=int, default=0, help="passes per repeat; 0 = timeit autorange [0]")
    ap.add_argument("--target", type=float, default=1.5, help="pass if taskext/cronsim <= this [1.5]")
    ap.add_argument("--json", metavar="PATH", help="also write raw results as JSON to PATH ('-': stdout only)")
    args = ap.parse_args(argv)

    dts = instants(args.instants, args.seed)
    rows = [measure(expr, tz, dts, args.repeat, args.number) for expr, tz in CASES]
    env = {
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "python": platform.python_version(),
        "taskext": metadata.version("taskext"),
        "cronsim": metadata.version("cronsim"),
        "cpus": os.cpu_count(),
        "loadavg": os.getloadavg(),
        "argv": sys.argv[1:],
    }
    worst = max(r["ratio"] for r in rows)
    verdict = {"target": f"next_after within {args.target}x of cronsim", "pass": worst <= args.target}
    payload = {"env": env, "results": rows, "targets": [verdict]}
    if args.json == "-":
        print(json.dumps(payload, indent=2))
        return

    print(
        f"# bench/next_after.py  {env['date_utc']} UTC  Python {env['python']}  taskext {env['taskext']}"
        f"  cronsim {env['cronsim']}  load={'/'.join(f'{x:.2f}' for x in env['loadavg'])}"
    )
    print(f"us per call, best of {args.repeat}, averaged over {len(dts)} instants")
    header = f"{'expression':<18} {'zone':<17} {'taskext':>8} {'cronsim':>8} {'cronsim+tz':>10} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['expression']:<18} {r['tz']:<17} {r['taskext_us']:8.2f} {r['cronsim_us']:8.2f}"
            f" {r['cronsim_tz_us']:10.2f} {r['ratio']:6.2f}"
        )
        if r["mismatches"]:
            print(f"  !! taskext and cronsim disagree at {r['mismatches']}")
    print(f"[{'PASS' if verdict['pass'] else 'FAIL'}] {verdict['target']}: worst ratio {worst:.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(payload, fh, indent=2)
        print(f"raw results written to {args.json}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Loop primitives benchmark (issue #2): taskext.loop vs py-cord's tasks.loop vs a bare loop.

Three peers run the same body in the same invocation:

* ``bare``    -- ``while True: await body(); await asyncio.sleep(period)``
* ``pycord``  -- ``discord.ext.tasks.loop(seconds=period)(body).start()`` (py-cord 2.8.1)
* ``taskext`` -- ``taskext.loop(seconds=period)(body).start()``

Parts (each library of each part runs in a fresh subprocess of this script, started
with ``--only LIB --part PART``, so that RSS and CPU time of one library never
pollute another's):

``grid``  (a) ``--loops`` concurrent loops at ``--period`` for ``--duration`` seconds:
          gap deviation ``|t[k+1] - t[k] - period|`` p50/p99, grid drift of the last
          run against ``start + k * period`` (start = the loop's best grid alignment,
          see child_grid), runs executed vs runs due, CPU per iteration, and whether
          ``cancel()`` raised: an exception out of ``cancel()``, a task ending with
          anything but CancelledError, or an error reported to the event loop's
          exception handler (py-cord's ``InvalidStateError`` from a sleep timer that
          fires on a cancelled future while an awaiting ``after_loop`` hook runs; every
          loop gets such a hook, ``--after-loop-sleep``).
``drift`` (b) ONE loop at ``--drift-period`` for ``--drift-iterations`` iterations: the
          drift of run number ``iterations`` (0-based, i.e. after that many periods)
          against ``first_run + iterations * period``, with the slots dropped (coalesced)
          and the phase against the grid to tell drift from coalescing. The peers' child
          processes run side by side (mostly idle; ``--drift-serial`` to serialise).
``cost``  (c) CPU seconds per iteration (``time.process_time`` over a steady-state
          window / iterations in it) and memory per loop (RSS delta after creating and
          starting N loops, divided by N) for each size in ``--cost-sizes``.

``heap``  (opt-in) Python heap bytes per loop with tracemalloc and the top allocation
          sites, to explain the RSS figures of ``cost``.

``--libs deadline`` adds a yardstick, not a peer: a loop sleeping to absolute deadlines
with ``loop.call_at`` that never skips a slot, i.e. what the event loop and the machine
alone impose.

Run times are read with ``time.perf_counter`` (CLOCK_MONOTONIC) inside the body.

Usage::

    .venv/bin/python bench/loops.py                 # everything, defaults = issue targets
    .venv/bin/python bench/loops.py --parts grid --loops 200 --duration 3
    .venv/bin/python bench/loops.py --json out.json # also write the raw results
    .venv/bin/python bench/loops.py --json -        # JSON on stdout instead of tables

This is a benchmark script, not a test: it prints numbers and target verdicts and
always exits 0 unless a child process crashes.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import itertools
import json
import os
import platform
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

LIBS = ("bare", "pycord", "taskext")
# Not a peer, a yardstick (opt in with --libs): a loop that sleeps to absolute deadlines
# start + k * period with loop.call_at and never skips a slot. Its lateness is what the
# event loop and the machine alone impose on any asyncio scheduler.
EXTRA_LIBS = ("deadline",)
PARTS = ("grid", "drift", "cost", "heap")
DEFAULT_PARTS = ("grid", "drift", "cost")

# ---------------------------------------------------------------------------- helpers


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of an unsorted list."""
    if not values:
        return float("nan")
    data = sorted(values)
    if len(data) == 1:
        return data[0]
    pos = (len(data) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys against xs."""
    n = len(xs)
    if n < 2:
        return float("nan")
    mx = sum(xs) / n
    my = sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    return sxy / sxx if sxx else float("nan")


Starter = Callable[..., tuple[Callable[[], Any], "asyncio.Task[Any]"]]


def make_starter(lib: str, after_loop_sleep: float = 0.0) -> Starter:
    """Return ``start(body, period, count, *args) -> (cancel, task)`` for one library.

    Only the library under test is imported, so a child's RSS holds nothing else.
    With ``after_loop_sleep > 0`` every loop gets an ``after_loop`` hook that awaits
    that long (for the bare loop: a ``finally`` that does the same), as a bot's
    clean-up code would; it only runs once the loop is cancelled.
    """

    async def after() -> None:
        await asyncio.sleep(after_loop_sleep)

    if lib == "deadline":

        def start_deadline(body: Callable[..., Awaitable[Any]], period: float, count: int | None, *args: Any):
            aio = asyncio.get_running_loop()

            async def runner() -> None:
                start = aio.time()
                n = 0
                try:
                    while True:
                        await body(*args)
                        n += 1
                        if count is not None and n >= count:
                            return
                        wake = aio.create_future()
                        handle = aio.call_at(start + n * period, wake.set_result, None)
                        try:
                            await wake
                        finally:
                            handle.cancel()
                finally:
                    if after_loop_sleep > 0:
                        await after()

            task = aio.create_task(runner())
            return task.cancel, task

        return start_deadline

    if lib == "bare":

        def start_bare(body: Callable[..., Awaitable[Any]], period: float, count: int | None, *args: Any):
            async def runner() -> None:
                n = 0
                try:
                    while True:
                        await body(*args)
                        n += 1
                        if count is not None and n >= count:
                            return
                        await asyncio.sleep(period)
                finally:
                    if after_loop_sleep > 0:
                        await after()

            task = asyncio.get_running_loop().create_task(runner())
            return task.cancel, task

        return start_bare

    if lib == "pycord":
        from discord.ext import tasks

        def start_pycord(body: Callable[..., Awaitable[Any]], period: float, count: int | None, *args: Any):
            lp = tasks.loop(seconds=period, count=count)(body)
            if after_loop_sleep > 0:
                lp.after_loop(after)
            task = lp.start(*args)
            return lp.cancel, task

        return start_pycord

    if lib == "taskext":
        # taskext's namespace is lazy: resolve taskext.loop now, so that its import
        # (py-cord included) is not charged to the first measured loop.
        from taskext import loop as taskext_loop

        def start_taskext(body: Callable[..., Awaitable[Any]], period: float, count: int | None, *args: Any):
            lp = taskext_loop(seconds=period, count=count)(body)
            if after_loop_sleep > 0:
                lp.after_loop(after)
            task = lp.start(*args)
            return lp.cancel, task

        return start_taskext

    raise SystemExit(f"unknown library {lib!r}")


def install_error_catcher(errors: list[str]) -> None:
    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        message = context.get("message", "")
        errors.append(f"{type(exc).__name__}: {message}" if exc is not None else str(message))

    asyncio.get_running_loop().set_exception_handler(handler)


async def cancel_all(cancels: list[Callable[[], Any]], tasks: list[asyncio.Task[Any]], settle: float) -> dict[str, Any]:
    """Cancel every loop and report anything that was raised on the way."""
    raised_by_cancel: Counter[str] = Counter()
    for cancel in cancels:
        try:
            cancel()
        except BaseException as exc:  # reported, not judged
            raised_by_cancel[type(exc).__name__] += 1
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=30)
    outcomes: Counter[str] = Counter(type(r).__name__ if isinstance(r, BaseException) else "returned" for r in results)
    # Give stray timer callbacks (the InvalidStateError scenario) time to fire.
    await asyncio.sleep(settle)
    pending = sum(1 for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done())
    return {
        "raised_by_cancel": dict(raised_by_cancel),
        "task_outcomes": dict(outcomes),
        "pending_after": pending,
    }


# ---------------------------------------------------------------------------- children


async def child_grid(lib: str, n: int, period: float, duration: float, after_loop_sleep: float) -> dict[str, Any]:
    start_loop = make_starter(lib, after_loop_sleep)
    errors: list[str] = []
    install_error_catcher(errors)
    k_due = max(1, round(duration / period))
    times: list[list[float]] = [[] for _ in range(n)]

    async def body(i: int) -> None:
        times[i].append(time.perf_counter())

    await warm_up(make_starter(lib), period)  # without the after_loop hook
    gc.collect()
    t_call = time.perf_counter()
    started = [start_loop(body, period, None, i) for i in range(n)]
    t_started = time.perf_counter()
    cpu0 = time.process_time()
    cancels = [c for c, _ in started]
    tasks = [t for _, t in started]

    # Wait for every first run, then until every loop's window has closed (see below).
    await asyncio.sleep(period / 2)
    while any(not ts for ts in times):
        await asyncio.sleep(0.005)
    last_first = max(ts[0] for ts in times)
    await asyncio.sleep(max(0.0, last_first + k_due * period - time.perf_counter()))
    t_end = time.perf_counter()
    cpu1 = time.process_time()
    errors_before_cancel = list(errors)
    cancel_report = await cancel_all(cancels, tasks, settle=max(0.3, 3 * period, 2 * after_loop_sleep))

    # Each loop's grid is anchored at its "grid floor" r = min_j(t_j - j * period): the
    # best alignment the loop ever reached. For a loop that accumulates lateness this is
    # its first run; for a loop on a fixed grid it is the grid (+ the smallest wake-up
    # latency), so that a first run delayed by the start-up burst does not make the
    # later, on-grid runs look early. The window holds k_due grid points and closes half
    # a period after the last one: r + (k_due - 0.5) * period.
    devs: list[float] = []
    late: list[float] = []
    drifts: list[float] = []
    drifts_first: list[float] = []
    first_delay: list[float] = []
    due = executed = lost = loops_losing = extra = 0
    runs_to_end = slots_skipped = 0
    for ts in times:
        runs = [t for t in ts if t <= t_end]
        runs_to_end += len(runs)
        floor = min(t - j * period for j, t in enumerate(runs))
        # Grid slots that passed with no run, by the time of the last run (a run is
        # never early, so slot = floor(offset / period)): unlike the window count below
        # it does not count a run that is late, by less than a period, as lost.
        slots_skipped += int((runs[-1] - floor) / period + 1e-6) - (len(runs) - 1)
        first_delay.append(ts[0] - t_started)
        cutoff = floor + (k_due - 0.5) * period
        window = [t for t in runs if t <= cutoff]
        due += k_due
        executed += len(window)
        if len(window) < k_due:
            lost += k_due - len(window)
            loops_losing += 1
        elif len(window) > k_due:
            extra += len(window) - k_due
        devs.extend(abs(y - x - period) for x, y in itertools.pairwise(window))
        late.extend(t - (floor + j * period) for j, t in enumerate(window))
        k = len(window) - 1
        drifts.append(window[-1] - (floor + k * period))
        drifts_first.append(window[-1] - (window[0] + k * period))
    return {
        "part": "grid",
        "lib": lib,
        "loops": n,
        "period_s": period,
        "duration_s": duration,
        "after_loop_sleep_s": after_loop_sleep,
        "window_s": t_end - t_started,
        "create_start_s": t_started - t_call,
        "first_run_delay_ms_p50": percentile(first_delay, 50) * 1e3,
        "first_run_delay_ms_max": max(first_delay) * 1e3,
        "gap_dev_ms_p50": percentile(devs, 50) * 1e3,
        "gap_dev_ms_p99": percentile(devs, 99) * 1e3,
        "gap_dev_ms_max": max(devs) * 1e3 if devs else float("nan"),
        "lateness_ms_p50": percentile(late, 50) * 1e3,
        "lateness_ms_p99": percentile(late, 99) * 1e3,
        "drift_ms_p50": percentile(drifts, 50) * 1e3,
        "drift_ms_mean": sum(drifts) / len(drifts) * 1e3,
        "drift_ms_max": max(drifts) * 1e3,
        "drift_periods_mean": sum(drifts) / len(drifts) / period,
        "drift_vs_first_run_ms_mean": sum(drifts_first) / len(drifts_first) * 1e3,
        "runs_due": due,
        "runs_executed": executed,
        "runs_lost": lost,
        "slots_skipped": slots_skipped,
        "runs_extra": extra,
        "loops_losing_runs": loops_losing,
        "cpu_s": cpu1 - cpu0,
        "cpu_us_per_iter": (cpu1 - cpu0) / runs_to_end * 1e6 if runs_to_end else float("nan"),
        "iterations_in_cpu_window": runs_to_end,
        "loop_errors_during_run": Counter(errors_before_cancel),
        "loop_errors_on_cancel": Counter(errors[len(errors_before_cancel) :]),
        **cancel_report,
    }


async def child_drift(lib: str, iterations: int, period: float) -> dict[str, Any]:
    start_loop = make_starter(lib)
    errors: list[str] = []
    install_error_catcher(errors)
    times: list[float] = []

    async def body() -> None:
        times.append(time.perf_counter())

    await warm_up(start_loop, period)
    gc.collect()
    cpu0 = time.process_time()
    cancel, task = start_loop(body, period, iterations + 1)
    timed_out = False
    try:
        await asyncio.wait_for(asyncio.shield(task), timeout=iterations * period * 5 + 30)
    except asyncio.TimeoutError:
        timed_out = True
        cancel()
        await asyncio.gather(task, return_exceptions=True)
    cpu1 = time.process_time()
    # Drift as the issue defines it: run number k (0-based, k = iterations) against
    # first_run + k * period. A loop can lose time two ways: by shifting every later run
    # (lateness carried forward: drift) or by dropping a slot it woke up too late for
    # (coalescing: the phase stays on the grid). ``phase_ms`` tells them apart: the
    # offset of that run from the nearest grid point, in [-period/2, period/2).
    a = times[0]
    late = [t - (a + j * period) for j, t in enumerate(times)]
    devs = [abs(y - x - period) for x, y in itertools.pairwise(times)]
    k = min(iterations, len(times) - 1)
    elapsed = times[k] - a
    phase = (elapsed + period / 2) % period - period / 2
    return {
        "part": "drift",
        "lib": lib,
        "iterations": iterations,
        "period_s": period,
        "runs": len(times),
        "timed_out": timed_out,
        "elapsed_s": elapsed,
        "drift_ms": late[k] * 1e3,
        "drift_periods": late[k] / period,
        "phase_ms": phase * 1e3,
        "slots_dropped": round((elapsed - phase) / period) - k,
        "drift_slope_us_per_iter": slope(list(range(len(late))), late) * 1e6,
        # Robust to one late wake-up: median lateness of the last 100 runs minus that of
        # the first 100 (wake-up latency itself cancels out, accumulated drift does not).
        "accumulated_ms": (percentile(late[-100:], 50) - percentile(late[:100], 50)) * 1e3,
        "lateness_ms_p50": percentile(late, 50) * 1e3,
        "lateness_ms_p99": percentile(late, 99) * 1e3,
        "lateness_ms_max": max(late) * 1e3,
        "runs_over_one_period_late": sum(1 for x in late if x > period),
        "gap_dev_ms_p50": percentile(devs, 50) * 1e3,
        "gap_dev_ms_p99": percentile(devs, 99) * 1e3,
        "gaps_over_1_5_periods": sum(1 for x, y in itertools.pairwise(times) if y - x > 1.5 * period),
        "cpu_us_per_iter": (cpu1 - cpu0) / len(times) * 1e6,
        "loop_errors": Counter(errors),
    }


async def child_cost(lib: str, n: int, period: float, warmup: float, window: float) -> dict[str, Any]:
    import psutil

    start_loop = make_starter(lib)
    errors: list[str] = []
    install_error_catcher(errors)
    proc = psutil.Process()
    counter = [0]

    async def body() -> None:
        counter[0] += 1

    await warm_up(start_loop, period)
    gc.collect()
    rss0 = proc.memory_info().rss
    t0 = time.perf_counter()
    started = [start_loop(body, period, None) for _ in range(n)]
    t_created = time.perf_counter()
    await asyncio.sleep(warmup)  # every loop has run and is parked in its sleep
    gc.collect()
    rss1 = proc.memory_info().rss
    c0 = counter[0]
    cpu0 = time.process_time()
    w0 = time.perf_counter()
    await asyncio.sleep(window)
    cpu1 = time.process_time()
    w1 = time.perf_counter()
    iters = counter[0] - c0
    rss2 = proc.memory_info().rss
    cancel_report = await cancel_all([c for c, _ in started], [t for _, t in started], settle=0.1)
    return {
        "part": "cost",
        "lib": lib,
        "loops": n,
        "period_s": period,
        "window_s": w1 - w0,
        "create_start_us_per_loop": (t_created - t0) / n * 1e6,
        "rss_before_mib": rss0 / 2**20,
        "rss_after_start_mib": rss1 / 2**20,
        "rss_after_window_mib": rss2 / 2**20,
        "rss_kib_per_loop": (rss1 - rss0) / n / 1024,
        "iterations": iters,
        "iterations_expected": round(n * (w1 - w0) / period),
        "cpu_s": cpu1 - cpu0,
        "cpu_us_per_iter": (cpu1 - cpu0) / iters * 1e6 if iters else float("nan"),
        "cpu_util": (cpu1 - cpu0) / (w1 - w0),
        "loop_errors": Counter(errors),
        **cancel_report,
    }


async def warm_up(start_loop: Starter, period: float) -> None:
    """Run one loop once, so lazy imports and first-use caches are not charged to N loops."""

    async def body() -> None:
        pass

    cancel, task = start_loop(body, period, None)
    await asyncio.sleep(min(period / 2, 0.05))
    cancel()
    await asyncio.gather(task, return_exceptions=True)


def short_path(path: str) -> str:
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1]
    stdlib = os.path.dirname(asyncio.__path__[0])
    return "stdlib/" + os.path.relpath(path, stdlib) if path.startswith(stdlib) else os.path.relpath(path)


async def child_heap(lib: str, n: int, period: float, warmup: float) -> dict[str, Any]:
    """Python heap bytes per loop (tracemalloc), with the top allocation sites."""
    import tracemalloc

    start_loop = make_starter(lib)

    async def body() -> None:
        pass

    await warm_up(start_loop, period)
    gc.collect()
    tracemalloc.start(1)
    snap0 = tracemalloc.take_snapshot()
    b0 = tracemalloc.get_traced_memory()[0]
    started = [start_loop(body, period, None) for _ in range(n)]
    b1 = tracemalloc.get_traced_memory()[0]
    await asyncio.sleep(warmup)
    gc.collect()
    b2 = tracemalloc.get_traced_memory()[0]
    snap2 = tracemalloc.take_snapshot()
    tracemalloc.stop()
    top = [
        {
            "site": f"{short_path(st.traceback[0].filename)}:{st.traceback[0].lineno}",
            "bytes_per_loop": st.size_diff / n,
            "objects_per_loop": st.count_diff / n,
        }
        for st in snap2.compare_to(snap0, "lineno")[:8]
    ]
    await cancel_all([c for c, _ in started], [t for _, t in started], settle=0.05)
    return {
        "part": "heap",
        "lib": lib,
        "loops": n,
        "heap_bytes_per_loop_started": (b1 - b0) / n,
        "heap_bytes_per_loop_running": (b2 - b0) / n,
        "top_sites": top,
    }


def run_child(args: argparse.Namespace) -> None:
    lib, part = args.only, args.part
    if part == "grid":
        coro = child_grid(lib, args.loops, args.period, args.duration, args.after_loop_sleep)
    elif part == "drift":
        coro = child_drift(lib, args.drift_iterations, args.drift_period)
    elif part == "cost":
        coro = child_cost(lib, args.size, args.cost_period, args.cost_warmup, args.cost_window)
    elif part == "heap":
        coro = child_heap(lib, args.heap_size, args.cost_period, args.cost_warmup)
    else:
        raise SystemExit(f"unknown part {part!r}")
    result = asyncio.run(coro)
    print(json.dumps(result))


# ---------------------------------------------------------------------------- parent


def versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version(), "implementation": platform.python_implementation()}
    for dist in ("taskext", "py-cord", "cronsim", "psutil", "aiohttp"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def git(*argv: str) -> str:
    try:
        return subprocess.run(
            ["git", *argv],
            capture_output=True,
            text=True,
            check=False,
            cwd=os.path.dirname(os.path.abspath(__file__)),
        ).stdout.strip()
    except OSError:
        return ""


def taskext_fingerprint() -> str:
    """Hash of taskext's sources, so that a result can be tied to the code it measured."""
    try:
        import taskext
    except ImportError as exc:
        return f"unavailable ({exc})"
    pkg = os.path.dirname(taskext.__file__ or "")
    digest = hashlib.sha256()
    for name in sorted(os.listdir(pkg)):
        if name.endswith(".py"):
            with open(os.path.join(pkg, name), "rb") as fh:
                digest.update(name.encode() + fh.read())
    return digest.hexdigest()[:12]


def taskext_path() -> str:
    try:
        import taskext
    except ImportError:
        return "not importable"
    return os.path.dirname(taskext.__file__ or "")


def environment() -> dict[str, Any]:
    env: dict[str, Any] = {
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
        **versions(),
        "taskext_source_sha256": taskext_fingerprint(),
        "taskext_path": taskext_path(),
        "git_head": git("rev-parse", "--short", "HEAD"),
        "taskext_worktree_dirty": bool(git("status", "--porcelain", "--", "taskext")),
    }
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    env["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return env


Running = tuple[str, "subprocess.Popen[str]", float]


def spawn(args: argparse.Namespace, lib: str, part: str, size: int | None = None) -> Running:
    """Start this script as a child measuring one library in one part."""
    cmd = [
        sys.executable, os.path.abspath(__file__), "--only", lib, "--part", part,
        "--loops", str(args.loops), "--period", repr(args.period), "--duration", repr(args.duration),
        "--after-loop-sleep", repr(args.after_loop_sleep),
        "--drift-iterations", str(args.drift_iterations), "--drift-period", repr(args.drift_period),
        "--cost-period", repr(args.cost_period), "--cost-warmup", repr(args.cost_warmup),
        "--cost-window", repr(args.cost_window), "--heap-size", str(args.heap_size),
    ]  # fmt: skip
    if size is not None:
        cmd += ["--size", str(size)]
    label = f"{part}/{lib}" + (f"/{size}" if size is not None else "")
    print(f"  running {label} ...", file=sys.stderr, flush=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return label, proc, time.perf_counter()


def collect(args: argparse.Namespace, running: Running) -> dict[str, Any]:
    label, proc, t0 = running
    try:
        stdout, stderr = proc.communicate(timeout=args.child_timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise SystemExit(f"child {label} timed out after {args.child_timeout} s") from None
    if proc.returncode != 0:
        sys.stderr.write(stderr)
        raise SystemExit(f"child {label} failed with exit code {proc.returncode}")
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    result["wall_s"] = time.perf_counter() - t0
    if stderr.strip():
        result["stderr_tail"] = stderr.strip().splitlines()[-5:]
    return result


def run_one(args: argparse.Namespace, lib: str, part: str, size: int | None = None) -> dict[str, Any]:
    return collect(args, spawn(args, lib, part, size))


def fmt(value: Any, spec: str = ".2f") -> str:
    if isinstance(value, float):
        return format(value, spec)
    return str(value)


def table(title: str, rows: list[dict[str, Any]], cols: list[tuple[str, str, str]]) -> str:
    header = ["lib"] + [label for label, _, _ in cols]
    body = [[r["lib"]] + [fmt(r.get(key), spec) for _, key, spec in cols] for r in rows]
    widths = [max(len(h), *(len(row[i]) for row in body)) for i, h in enumerate(header)]
    lines = [title, "  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in body]
    return "\n".join(lines)


def cancel_summary(r: dict[str, Any]) -> str:
    bad = {k: v for k, v in r.get("task_outcomes", {}).items() if k != "CancelledError"}
    parts = []
    if r.get("raised_by_cancel"):
        parts.append(f"cancel() raised {r['raised_by_cancel']}")
    if bad:
        parts.append(f"tasks ended with {bad}")
    if r.get("loop_errors_on_cancel"):
        parts.append(f"event loop exception handler got {dict(r['loop_errors_on_cancel'])}")
    if r.get("pending_after"):
        parts.append(f"{r['pending_after']} tasks still pending")
    return "YES: " + "; ".join(parts) if parts else "no"


def evaluate(results: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    def get(part: str, lib: str, size: int | None = None) -> dict[str, Any] | None:
        for r in results.get(part, []):
            if r["lib"] == lib and (size is None or r.get("loops") == size):
                return r
        return None

    verdicts: list[dict[str, Any]] = []

    def add(name: str, ok: bool, detail: str) -> None:
        verdicts.append({"target": name, "pass": ok, "detail": detail})

    d = get("drift", "taskext")
    if d:
        add(
            f"cumulative drift < 1 ms after {d['iterations']} iterations",
            abs(d["drift_ms"]) < 1.0,
            f"taskext {d['drift_ms']:.3f} ms at {d['period_s'] * 1e3:g} ms period"
            f" ({d['slots_dropped']} slots dropped; median lateness grew by {d['accumulated_ms']:.3f} ms"
            f" from the first 100 runs to the last 100)",
        )
    g_t, g_p = get("grid", "taskext"), get("grid", "pycord")
    if g_t:
        add(
            f"no run lost at {g_t['loops']} loops",
            g_t["runs_lost"] == 0,
            f"taskext ran {g_t['runs_executed']} of {g_t['runs_due']} due ({g_t['runs_lost']} lost;"
            f" {g_t['slots_skipped']} grid slots skipped)",
        )
    if g_t and g_p:
        add(
            "p99 gap deviation <= py-cord's",
            g_t["gap_dev_ms_p99"] <= g_p["gap_dev_ms_p99"],
            f"taskext {g_t['gap_dev_ms_p99']:.2f} ms vs py-cord {g_p['gap_dev_ms_p99']:.2f} ms",
        )
        ratio = g_t["cpu_us_per_iter"] / g_p["cpu_us_per_iter"]
        add(
            f"CPU/iteration <= 0.5 x py-cord's ((a), {g_t['loops']} loops)",
            ratio <= 0.5,
            f"taskext {g_t['cpu_us_per_iter']:.1f} us vs py-cord {g_p['cpu_us_per_iter']:.1f} us (x{ratio:.2f})",
        )
    for r in results.get("cost", []):
        p = get("cost", "pycord", r["loops"])
        if r["lib"] != "taskext" or not p:
            continue
        n = r["loops"]
        ratio = r["cpu_us_per_iter"] / p["cpu_us_per_iter"]
        add(
            f"CPU/iteration <= 0.5 x py-cord's ((c), {n} loops)",
            ratio <= 0.5,
            f"taskext {r['cpu_us_per_iter']:.1f} us vs py-cord {p['cpu_us_per_iter']:.1f} us (x{ratio:.2f})",
        )
        add(
            f"memory/loop <= py-cord's ((c), {n} loops)",
            r["rss_kib_per_loop"] <= p["rss_kib_per_loop"],
            f"taskext {r['rss_kib_per_loop']:.2f} KiB vs py-cord {p['rss_kib_per_loop']:.2f} KiB",
        )
    return verdicts


def loads(values: Any) -> str:
    return "/".join(f"{x:.2f}" for x in values)


def report(env: dict[str, Any], results: dict[str, list[dict[str, Any]]], verdicts: list[dict[str, Any]]) -> str:
    dirty = ", dirty tree" if env.get("taskext_worktree_dirty") else ""
    out = [
        f"# bench/loops.py  {env['date_utc']} UTC  Python {env['python']}  py-cord {env['py-cord']}"
        f"  taskext {env['taskext']} (src {env['taskext_source_sha256']}{dirty}, HEAD {env['git_head']})"
        f"  cpus={env['cpus']}  load(start)={loads(env['loadavg_start'])}",
        f"# taskext imported from {env['taskext_path']}",
    ]
    if results.get("grid"):
        r0 = results["grid"][0]
        hook = f", after_loop awaits {r0['after_loop_sleep_s'] * 1e3:g} ms" if r0["after_loop_sleep_s"] else ""
        out.append("")
        out.append(
            table(
                f"(a) {r0['loops']} concurrent loops, period {r0['period_s'] * 1e3:g} ms, {r0['duration_s']:g} s{hook}",
                results["grid"],
                [
                    ("gapdev p50 ms", "gap_dev_ms_p50", ".2f"),
                    ("gapdev p99 ms", "gap_dev_ms_p99", ".2f"),
                    ("late p99 ms", "lateness_ms_p99", ".2f"),
                    ("1st run ms", "first_run_delay_ms_p50", ".1f"),
                    ("drift mean ms", "drift_ms_mean", ".1f"),
                    ("drift max ms", "drift_ms_max", ".1f"),
                    ("periods lost", "drift_periods_mean", ".2f"),
                    ("runs executed", "runs_executed", "d"),
                    ("runs due", "runs_due", "d"),
                    ("lost", "runs_lost", "d"),
                    ("slots skipped", "slots_skipped", "d"),
                    ("CPU us/iter", "cpu_us_per_iter", ".1f"),
                ],
            )
        )
        for r in results["grid"]:
            out.append(f"  cancel raised [{r['lib']}]: {cancel_summary(r)}")
    if results.get("drift"):
        r0 = results["drift"][0]
        side = " (peers side by side)" if env.get("drift_side_by_side") else ""
        out.append("")
        out.append(
            table(
                f"(b) one loop, {r0['iterations']} iterations at {r0['period_s'] * 1e3:g} ms{side}",
                results["drift"],
                [
                    ("drift ms", "drift_ms", ".3f"),
                    ("drift periods", "drift_periods", ".2f"),
                    ("phase ms", "phase_ms", ".3f"),
                    ("slots dropped", "slots_dropped", "d"),
                    ("accum ms", "accumulated_ms", ".3f"),
                    ("slope us/iter", "drift_slope_us_per_iter", ".2f"),
                    ("late p50 ms", "lateness_ms_p50", ".3f"),
                    ("late p99 ms", "lateness_ms_p99", ".3f"),
                    ("late max ms", "lateness_ms_max", ".2f"),
                    ("gapdev p99 ms", "gap_dev_ms_p99", ".3f"),
                    ("elapsed s", "elapsed_s", ".2f"),
                    ("CPU us/iter", "cpu_us_per_iter", ".1f"),
                ],
            )
        )
    if results.get("cost"):
        r0 = results["cost"][0]
        out.append("")
        out.append(
            table(
                f"(c) CPU and memory, period {r0['period_s']:g} s, {r0['window_s']:.1f} s window",
                [{**r, "lib": f"{r['lib']} x{r['loops']}"} for r in results["cost"]],
                [
                    ("CPU us/iter", "cpu_us_per_iter", ".1f"),
                    ("iterations", "iterations", "d"),
                    ("CPU util", "cpu_util", ".3f"),
                    ("RSS KiB/loop", "rss_kib_per_loop", ".2f"),
                    ("RSS before MiB", "rss_before_mib", ".1f"),
                    ("RSS after MiB", "rss_after_start_mib", ".1f"),
                    ("start us/loop", "create_start_us_per_loop", ".1f"),
                ],
            )
        )
    if results.get("heap"):
        r0 = results["heap"][0]
        out.append("")
        out.append(
            table(
                f"(heap) Python heap per loop (tracemalloc), {r0['loops']} loops",
                results["heap"],
                [
                    ("B/loop after start()", "heap_bytes_per_loop_started", ".0f"),
                    ("B/loop steady", "heap_bytes_per_loop_running", ".0f"),
                ],
            )
        )
        for r in results["heap"]:
            sites = ", ".join(f"{s['site']} {s['bytes_per_loop']:.0f} B" for s in r["top_sites"][:5])
            out.append(f"  top sites [{r['lib']}]: {sites}")
    if verdicts:
        out.append("")
        out.append("Targets:")
        for v in verdicts:
            out.append(f"  [{'PASS' if v['pass'] else 'FAIL'}] {v['target']}: {v['detail']}")
    out.append(f"load(end)={loads(env['loadavg_end'])}  total {env['total_s']:.1f} s")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = ap.add_argument
    add(
        "--parts",
        default=",".join(DEFAULT_PARTS),
        help="comma list of grid,drift,cost,heap [grid,drift,cost]",
    )
    add("--libs", default=",".join(LIBS), help="comma list of bare,pycord,taskext,deadline [bare,pycord,taskext]")
    add("--loops", type=int, default=1000, help="(a) concurrent loops [1000]")
    add("--period", type=float, default=0.1, help="(a) period in seconds [0.1]")
    add("--duration", type=float, default=10.0, help="(a) measured duration in seconds [10]")
    add(
        "--after-loop-sleep",
        type=float,
        default=0.15,
        help="(a) give every loop an after_loop hook that awaits this long (cleanup code); 0 = no hook [0.15]",
    )
    add("--drift-iterations", type=int, default=10_000, help="(b) iterations of one loop [10000]")
    add("--drift-period", type=float, default=0.005, help="(b) period in seconds [0.005]")
    add("--drift-serial", action="store_true", help="(b) run the peers one after another, not side by side")
    add("--cost-sizes", default="1000,10000", help="(c) comma list of loop counts [1000,10000]")
    add("--cost-period", type=float, default=1.0, help="(c) period in seconds [1.0]")
    add("--cost-warmup", type=float, default=1.5, help="(c) seconds from start to the RSS/CPU window [1.5]")
    add("--cost-window", type=float, default=3.0, help="(c) CPU measurement window in seconds [3]")
    add("--heap-size", type=int, default=1000, help="(heap) loops traced with tracemalloc [1000]")
    add("--child-timeout", type=float, default=300.0, help="seconds before a child is killed [300]")
    add("--json", metavar="PATH", help="also write raw results as JSON to PATH ('-': stdout, no tables)")
    add("--only", choices=LIBS + EXTRA_LIBS, help=argparse.SUPPRESS)
    add("--part", choices=PARTS, help=argparse.SUPPRESS)
    add("--size", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.only:
        run_child(args)
        return

    libs = [x for x in args.libs.split(",") if x]
    parts = [x for x in args.parts.split(",") if x]
    for x in libs:
        if x not in LIBS + EXTRA_LIBS:
            ap.error(f"unknown lib {x!r}")
    for x in parts:
        if x not in PARTS:
            ap.error(f"unknown part {x!r}")
    env = environment()
    env["argv"] = sys.argv[1:]
    env["drift_side_by_side"] = "drift" in parts and not args.drift_serial
    t0 = time.perf_counter()
    results: dict[str, list[dict[str, Any]]] = {}
    for part in PARTS:
        if part not in parts:
            continue
        if part == "heap":
            results[part] = [run_one(args, lib, part) for lib in libs]
        elif part == "cost":
            sizes = [int(s) for s in args.cost_sizes.split(",") if s]
            results[part] = [run_one(args, lib, part, size) for size in sizes for lib in libs]
        elif part == "drift" and not args.drift_serial:
            # One mostly idle loop per process: run the peers side by side to save time.
            running = [spawn(args, lib, part) for lib in libs]
            results[part] = [collect(args, r) for r in running]
        else:
            results[part] = [run_one(args, lib, part) for lib in libs]
    env["loadavg_end"] = os.getloadavg()
    env["total_s"] = time.perf_counter() - t0
    verdicts = evaluate(results)
    payload = {"env": env, "results": results, "targets": verdicts}
    if args.json == "-":
        print(json.dumps(payload, indent=2))
        return
    print(report(env, results, verdicts))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(payload, fh, indent=2)
        print(f"raw results written to {args.json}")


if __name__ == "__main__":
    main()

"""The store contract: every Store implementation must pass this suite.

The ``store``/``open_store``/``reopen`` fixtures (tests/store/conftest.py) run each test
once per backend.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from taskext.errors import TaskNotFound
from taskext.store import NewAdhoc, Outcome, RunRecord, Store, TaskState, TickClaim
from taskext.store.base import ADMIN_FIELDS

UTC = timezone.utc
T0 = datetime(2026, 3, 4, 5, 6, 7, 891234, tzinfo=UTC)
MS = timedelta(milliseconds=1)

OpenStore = Callable[[], Awaitable[Store]]
Reopen = Callable[[Store], Awaitable[Store]]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def assert_same_instant(actual: datetime | None, expected: datetime) -> None:
    """Aware, UTC, and within a millisecond of ``expected``."""
    assert actual is not None
    assert actual.tzinfo is not None, f"{actual!r} is naive"
    assert actual.utcoffset() == timedelta(0), f"{actual!r} is not in UTC"
    assert abs(actual - expected) < MS, f"{actual!r} != {expected!r}"


def run(task: str, outcome: Outcome = Outcome.SUCCEEDED, *, start: float, seconds: float = 1.0) -> RunRecord:
    """A run of ``task`` scheduled and started ``start`` seconds after T0, lasting ``seconds``."""
    return RunRecord(
        task=task,
        outcome=outcome,
        scheduled=at(start),
        started=at(start),
        finished=at(start + seconds),
        error="boom" if outcome is Outcome.FAILED else None,
        output=f"{task} output at {start}",
        worker="worker-1",
    )


async def add_runs(store: Store, *runs: RunRecord) -> None:
    """Append runs one transaction each, so the insertion order is the order given."""
    for each in runs:
        await store.save_results([], [each])


# ---------------------------------------------------------------- register_task


async def test_register_inserts_task_with_defaults(store: Store, reopen: Reopen) -> None:
    state = await store.register_task(
        "alpha", "*/5 * * * *", now=T0, exclusive="reports", misfire_grace=30.0, random_fields="H"
    )

    assert state.name == "alpha"
    assert state.default_schedule == "*/5 * * * *"
    assert state.override_schedule is None
    assert state.schedule_text == "*/5 * * * *"
    assert (state.default_changed, state.disabled, state.paused) == (False, False, False)
    assert (state.exclusive, state.misfire_grace, state.random_fields) == ("reports", 30.0, "H")
    assert state.next_run is None
    assert (state.last_scheduled, state.last_started, state.last_finished) == (None, None, None)
    assert state.last_outcome is None
    assert (state.failures, state.fail_delay, state.last_error, state.run_count) == (0, 0.0, None, 0)
    assert_same_instant(state.seen_at, T0)

    assert await store.get_task("alpha") == state
    store = await reopen(store)
    assert await store.get_task("alpha") == state


async def test_register_without_options_stores_none(store: Store) -> None:
    state = await store.register_task("bare", None, now=T0)

    assert state.default_schedule is None
    assert (state.exclusive, state.misfire_grace, state.random_fields) == (None, None, None)
    assert await store.get_task("bare") == state


async def test_reregister_with_same_default_changes_nothing_but_seen_at(store: Store, reopen: Reopen) -> None:
    await store.register_task("alpha", "@hourly", now=T0, exclusive="x", misfire_grace=5.0, random_fields="M")
    await store.update_admin("alpha", disabled=True, paused=True)
    state = await store.get_task("alpha")
    state.last_outcome, state.failures, state.run_count, state.last_error = Outcome.FAILED, 2, 7, "oops"
    state.last_started, state.last_finished = at(10), at(11)
    await store.save_results([state], [])
    before = await store.get_task("alpha")
    store = await reopen(store)

    after = await store.register_task(
        "alpha", "@hourly", now=at(60), exclusive="x", misfire_grace=5.0, random_fields="M"
    )

    assert_same_instant(after.seen_at, at(60))
    assert replace(after, seen_at=None) == replace(before, seen_at=None)
    assert await store.get_task("alpha") == after


async def test_reregister_with_changed_default_and_no_override_updates_default(store: Store) -> None:
    await store.register_task("alpha", "@hourly", now=T0)

    state = await store.register_task("alpha", "@daily", now=at(1))

    assert state.default_schedule == "@daily"
    assert state.override_schedule is None
    assert state.default_changed is False
    assert state.schedule_text == "@daily"
    assert await store.get_task("alpha") == state


async def test_reregister_with_changed_default_keeps_override_and_flags_it(store: Store, reopen: Reopen) -> None:
    """Moodle's upgrade rule: the owner's override wins, the owner is told the default moved."""
    await store.register_task("alpha", "@hourly", now=T0)
    await store.update_admin("alpha", override_schedule="*/10 * * * *")

    state = await store.register_task("alpha", "@daily", now=at(1))

    assert state.default_schedule == "@daily"
    assert state.override_schedule == "*/10 * * * *"
    assert state.default_changed is True
    assert state.schedule_text == "*/10 * * * *"
    store = await reopen(store)
    assert await store.get_task("alpha") == state


async def test_reregister_with_same_default_under_override_does_not_flag(store: Store) -> None:
    await store.register_task("alpha", "@hourly", now=T0)
    await store.update_admin("alpha", override_schedule="*/10 * * * *")

    state = await store.register_task("alpha", "@hourly", now=at(1))

    assert state.override_schedule == "*/10 * * * *"
    assert state.default_changed is False


async def test_default_changed_flag_stays_until_the_owner_clears_it(store: Store) -> None:
    await store.register_task("alpha", "@hourly", now=T0)
    await store.update_admin("alpha", override_schedule="*/10 * * * *")
    await store.register_task("alpha", "@daily", now=at(1))

    again = await store.register_task("alpha", "@daily", now=at(2))
    assert again.default_changed is True, "a restart with the same new default must not hide the flag"

    cleared = await store.update_admin("alpha", default_changed=False)
    assert cleared.default_changed is False
    after_restart = await store.register_task("alpha", "@daily", now=at(3))
    assert after_restart.default_changed is False
    assert after_restart.override_schedule == "*/10 * * * *"


# ---------------------------------------------------------------- update_admin

ADMIN_VALUES = [
    # (field, value to set, value to clear back to)
    ("override_schedule", "0 * * * *", None),
    ("disabled", True, False),
    ("paused", True, False),
    ("default_changed", True, False),
]


def test_admin_values_cover_every_admin_field() -> None:
    assert {field for field, _, _ in ADMIN_VALUES} == ADMIN_FIELDS


def assert_field(state: TaskState, field: str, expected: object) -> None:
    actual = getattr(state, field)
    if isinstance(expected, datetime):
        assert isinstance(actual, datetime)
        assert_same_instant(actual, expected)
    else:
        assert actual == expected


@pytest.mark.parametrize(("field", "value", "cleared"), ADMIN_VALUES, ids=[f for f, _, _ in ADMIN_VALUES])
async def test_update_admin_field_persists_across_reopen(
    store: Store, reopen: Reopen, field: str, value: object, cleared: object
) -> None:
    await store.register_task("alpha", "@hourly", now=T0)
    untouched = await store.register_task("beta", "@hourly", now=T0)

    returned = await store.update_admin("alpha", **{field: value})
    assert_field(returned, field, value)
    assert replace(returned, **{field: None}) == replace(await store.get_task("alpha"), **{field: None})

    store = await reopen(store)
    assert_field(await store.get_task("alpha"), field, value)
    assert await store.get_task("beta") == untouched

    await store.update_admin("alpha", **{field: cleared})
    store = await reopen(store)
    assert_field(await store.get_task("alpha"), field, cleared)


async def test_update_admin_sets_several_fields_at_once(store: Store) -> None:
    await store.register_task("alpha", "@hourly", now=T0)

    state = await store.update_admin("alpha", override_schedule="@daily", paused=True)

    assert state.override_schedule == "@daily"
    assert state.paused is True
    assert state.disabled is False
    assert await store.get_task("alpha") == state


@pytest.mark.parametrize("field", ["failures", "run_count", "last_error", "default_schedule", "bogus"])
async def test_update_admin_rejects_non_admin_field_and_changes_nothing(store: Store, field: str) -> None:
    await store.register_task("alpha", "@hourly", now=T0)
    before = await store.get_task("alpha")
    counter = await store.change_counter()

    with pytest.raises(ValueError, match=field):
        await store.update_admin("alpha", disabled=True, **{field: 3})

    assert await store.get_task("alpha") == before
    assert await store.change_counter() == counter


async def test_unknown_task_raises_task_not_found_and_changes_nothing(store: Store) -> None:
    await store.register_task("alpha", "@hourly", now=T0)
    await add_runs(store, run("alpha", start=1))
    before = await store.list_tasks()
    counter = await store.change_counter()

    with pytest.raises(TaskNotFound, match="ghost"):
        await store.update_admin("ghost", disabled=True)
    with pytest.raises(TaskNotFound, match="ghost"):
        await store.get_task("ghost")
    with pytest.raises(TaskNotFound, match="ghost"):
        await store.delete_task("ghost")
    with pytest.raises(LookupError):
        await store.get_task("ghost")

    assert await store.list_tasks() == before
    assert len(await store.runs()) == 1
    assert await store.change_counter() == counter


# ---------------------------------------------------------------- change_counter


async def test_change_counter_grows_on_each_admin_change(store: Store) -> None:
    await store.register_task("alpha", "@hourly", now=T0)
    await store.register_task("beta", "@hourly", now=T0)
    seen = [await store.change_counter()]

    await store.update_admin("alpha", disabled=True)
    seen.append(await store.change_counter())
    await store.update_admin("alpha", disabled=False)
    seen.append(await store.change_counter())
    await store.update_admin("alpha", override_schedule="@daily")
    seen.append(await store.change_counter())
    await store.delete_task("beta")
    seen.append(await store.change_counter())

    assert all(b > a for a, b in itertools.pairwise(seen)), seen


async def test_change_counter_sees_changes_from_another_store_object(store: Store, open_store: OpenStore) -> None:
    other = await open_store()
    await store.register_task("alpha", "@hourly", now=T0)
    mine, theirs = await store.change_counter(), await other.change_counter()
    assert mine == theirs

    await other.update_admin("alpha", paused=True)
    assert await store.change_counter() > mine
    assert (await store.get_task("alpha")).paused is True

    theirs = await other.change_counter()
    await store.update_admin("alpha", paused=False)
    assert await other.change_counter() > theirs
    assert (await other.get_task("alpha")).paused is False


async def test_change_counter_never_goes_back_after_reopen(store: Store, reopen: Reopen) -> None:
    await store.register_task("alpha", "@hourly", now=T0)
    await store.update_admin("alpha", disabled=True)
    counter = await store.change_counter()

    store = await reopen(store)
    assert await store.change_counter() >= counter
    await store.update_admin("alpha", disabled=False)
    assert await store.change_counter() > counter


# ---------------------------------------------------------------- save_results


def with_results(state: TaskState, *, start: float) -> TaskState:
    """``state`` after a failed run started ``start`` seconds after T0."""
    result = state.copy()
    result.next_run = at(start + 600)
    result.last_scheduled = at(start)
    result.last_started = at(start + 0.25)
    result.last_finished = at(start + 1.5)
    result.last_outcome = Outcome.FAILED
    result.failures = state.failures + 1
    result.fail_delay = 42.5
    result.last_error = "ValueError: boom"
    result.run_count = state.run_count + 1
    return result


def assert_results_saved(stored: TaskState, expected: TaskState) -> None:
    assert_same_instant(stored.next_run, expected.next_run)  # type: ignore[arg-type]
    assert_same_instant(stored.last_scheduled, expected.last_scheduled)  # type: ignore[arg-type]
    assert_same_instant(stored.last_started, expected.last_started)  # type: ignore[arg-type]
    assert_same_instant(stored.last_finished, expected.last_finished)  # type: ignore[arg-type]
    assert stored.last_outcome is expected.last_outcome
    assert (stored.failures, stored.fail_delay, stored.last_error, stored.run_count) == (
        expected.failures,
        expected.fail_delay,
        expected.last_error,
        expected.run_count,
    )


async def test_save_results_writes_runtime_fields_and_appends_runs(store: Store, reopen: Reopen) -> None:
    await store.register_task("alpha", "@hourly", now=T0)
    await store.register_task("beta", "@daily", now=T0)
    alpha = with_results(await store.get_task("alpha"), start=100)
    beta = with_results(await store.get_task("beta"), start=200)
    beta.last_outcome, beta.failures, beta.last_error, beta.fail_delay = Outcome.SUCCEEDED, 0, None, 0.0

    await store.save_results([alpha, beta], [run("alpha", Outcome.FAILED, start=100), run("beta", start=200)])

    store = await reopen(store)
    assert_results_saved(await store.get_task("alpha"), alpha)
    assert_results_saved(await store.get_task("beta"), beta)
    saved = await store.runs()
    assert [(r.task, r.outcome) for r in saved] == [("beta", Outcome.SUCCEEDED), ("alpha", Outcome.FAILED)]


async def test_save_results_does_not_overwrite_admin_fields(store: Store) -> None:
    """No lost update: a runner's stale copy cannot undo an owner's change made meanwhile."""
    await store.register_task("alpha", "@hourly", now=T0, exclusive="grp")
    stale = await store.get_task("alpha")  # the runner's copy, taken before the owner acts
    await store.update_admin("alpha", override_schedule="0 0 * * *", disabled=True, paused=True, default_changed=True)

    result = with_results(stale, start=100)
    result.override_schedule = "*/1 * * * *"
    result.disabled = result.paused = result.default_changed = False
    result.default_schedule, result.exclusive = "@yearly", "other"
    await store.save_results([result], [run("alpha", Outcome.FAILED, start=100)])

    stored = await store.get_task("alpha")
    assert stored.override_schedule == "0 0 * * *"
    assert (stored.disabled, stored.paused, stored.default_changed) == (True, True, True)
    assert (stored.default_schedule, stored.exclusive) == ("@hourly", "grp")
    assert_results_saved(stored, result)


async def test_save_results_is_all_or_nothing(store: Store) -> None:
    await store.register_task("alpha", "@hourly", now=T0)
    before = await store.get_task("alpha")
    unstorable = run("alpha", start=101)
    unstorable.output = object()  # type: ignore[assignment]  # no backend can store this

    with pytest.raises(Exception):  # noqa: B017 - the error type is the backend's; atomicity is the point
        await store.save_results([with_results(before, start=100)], [run("alpha", start=100), unstorable])

    assert await store.get_task("alpha") == before
    assert await store.runs() == []
    await store.save_results([with_results(before, start=100)], [run("alpha", start=100)])
    assert len(await store.runs()) == 1, "the store must stay usable after a failed save"


async def test_save_results_with_nothing_changes_nothing(store: Store) -> None:
    await store.register_task("alpha", "@hourly", now=T0)
    before = await store.get_task("alpha")

    await store.save_results([], [])

    assert await store.get_task("alpha") == before
    assert await store.runs() == []


# ---------------------------------------------------------------- datetimes


async def test_datetimes_round_trip_as_aware_utc(store: Store, reopen: Reopen) -> None:
    """Any aware input comes back as the same instant in UTC, to well under a millisecond."""
    plus_0530 = timezone(timedelta(hours=5, minutes=30))
    when = datetime(2026, 7, 8, 9, 10, 11, 123456, tzinfo=plus_0530)
    await store.register_task("alpha", "@hourly", now=when)
    await store.mark_scan(when + timedelta(seconds=2))
    state = await store.get_task("alpha")
    state.next_run = when + timedelta(hours=1)
    state.last_scheduled = when + timedelta(microseconds=1)
    state.last_started = when + timedelta(microseconds=999)
    state.last_finished = when + timedelta(seconds=3, microseconds=7)
    await store.save_results(
        [state],
        [
            RunRecord(
                task="alpha",
                outcome=Outcome.SUCCEEDED,
                scheduled=when,
                started=when + timedelta(microseconds=500),
                finished=when + timedelta(seconds=1, microseconds=250),
            )
        ],
    )

    store = await reopen(store)
    stored = await store.get_task("alpha")
    assert_same_instant(stored.seen_at, when)
    assert_same_instant(stored.next_run, when + timedelta(hours=1))
    assert_same_instant(stored.last_scheduled, when + timedelta(microseconds=1))
    assert_same_instant(stored.last_started, when + timedelta(microseconds=999))
    assert_same_instant(stored.last_finished, when + timedelta(seconds=3, microseconds=7))
    assert_same_instant(await store.last_scan(), when + timedelta(seconds=2))
    [saved] = await store.runs("alpha")
    assert_same_instant(saved.scheduled, when)
    assert_same_instant(saved.started, when + timedelta(microseconds=500))
    assert_same_instant(saved.finished, when + timedelta(seconds=1, microseconds=250))
    assert saved.duration is not None
    assert abs(saved.duration - timedelta(seconds=1, microseconds=-250)) < MS


async def test_far_past_and_future_datetimes_round_trip(store: Store) -> None:
    await store.register_task("alpha", "@hourly", now=datetime(1971, 1, 1, tzinfo=UTC))
    far = datetime(2199, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)

    state = await store.get_task("alpha")
    state.next_run = far
    await store.save_results([state], [])

    assert_same_instant((await store.get_task("alpha")).next_run, far)
    assert_same_instant((await store.get_task("alpha")).seen_at, datetime(1971, 1, 1, tzinfo=UTC))


# ---------------------------------------------------------------- runs


async def test_runs_are_newest_first_with_limit_and_task_filter(store: Store) -> None:
    await store.register_task("a", "@hourly", now=T0)
    await store.register_task("b", "@hourly", now=T0)
    await add_runs(
        store,
        run("a", start=1),
        run("b", Outcome.FAILED, start=2),
        run("a", Outcome.SKIPPED, start=3),
        run("b", start=4),
        run("a", Outcome.CANCELLED, start=5),
    )

    everything = await store.runs()
    for saved, start in zip(everything, [5, 4, 3, 2, 1], strict=True):
        assert_same_instant(saved.started, at(start))
    assert [r.task for r in everything] == ["a", "b", "a", "b", "a"]
    assert [r.outcome for r in everything] == [
        Outcome.CANCELLED,
        Outcome.SUCCEEDED,
        Outcome.SKIPPED,
        Outcome.FAILED,
        Outcome.SUCCEEDED,
    ]
    assert len({r.id for r in everything}) == 5 and all(isinstance(r.id, int) for r in everything)

    assert [r.started for r in await store.runs(limit=2)] == [r.started for r in everything[:2]]
    only_a = await store.runs("a")
    assert [r.outcome for r in only_a] == [Outcome.CANCELLED, Outcome.SKIPPED, Outcome.SUCCEEDED]
    assert [r.outcome for r in await store.runs("b", limit=1)] == [Outcome.SUCCEEDED]
    assert await store.runs("nobody") == []


async def test_runs_keep_every_field(store: Store) -> None:
    await store.register_task("a", "@hourly", now=T0)
    original = run("a", Outcome.FAILED, start=10, seconds=2.5)
    original.output = "line 1\nline 2 \N{SNOWMAN}\n"

    await add_runs(store, original)

    [saved] = await store.runs("a")
    assert (saved.task, saved.outcome, saved.error, saved.output, saved.worker) == (
        "a",
        Outcome.FAILED,
        "boom",
        "line 1\nline 2 \N{SNOWMAN}\n",
        "worker-1",
    )
    assert isinstance(saved.outcome, Outcome)
    assert_same_instant(saved.scheduled, at(10))
    assert_same_instant(saved.started, at(10))
    assert_same_instant(saved.finished, at(12.5))


async def test_runs_without_timestamps_are_kept(store: Store) -> None:
    await store.register_task("a", "@hourly", now=T0)

    await add_runs(store, RunRecord(task="a", outcome=Outcome.MISSED, scheduled=at(1)))

    [saved] = await store.runs("a")
    assert saved.outcome is Outcome.MISSED
    assert (saved.started, saved.finished, saved.duration, saved.error, saved.output) == (
        None,
        None,
        None,
        None,
        "",
    )


async def test_runs_default_limit_is_20(store: Store) -> None:
    await store.register_task("a", "@hourly", now=T0)
    await store.save_results([], [run("a", start=i) for i in range(25)])

    assert len(await store.runs()) == 20
    assert len(await store.runs("a")) == 20
    assert len(await store.runs(limit=100)) == 25


@pytest.mark.parametrize("limit", [0, -1, 2.5, "3", None, True])
async def test_runs_rejects_invalid_limit(store: Store, limit: object) -> None:
    with pytest.raises(ValueError, match="limit"):
        await store.runs(limit=limit)  # type: ignore[arg-type]


# ---------------------------------------------------------------- run_stats


async def test_run_stats_counts_outcomes_and_durations(store: Store) -> None:
    await store.register_task("a", "@hourly", now=T0)
    await store.register_task("b", "@hourly", now=T0)
    await add_runs(
        store,
        run("a", start=0, seconds=1.0),
        run("a", Outcome.FAILED, start=10, seconds=2.0),
        run("b", start=15, seconds=100.0),  # another task: not counted
        run("a", start=20, seconds=3.0),
        RunRecord(task="a", outcome=Outcome.SKIPPED, scheduled=at(30)),
        run("b", Outcome.FAILED, start=40, seconds=50.0),
    )

    stats = await store.run_stats("a")

    assert stats.task == "a"
    assert stats.runs == 4
    assert stats.by_outcome == {"succeeded": 2, "failed": 1, "skipped": 1}
    assert stats.mean_duration == pytest.approx(2.0, abs=1e-3)
    assert stats.max_duration == pytest.approx(3.0, abs=1e-3)
    assert_same_instant(stats.last_success, at(20))  # when the newest successful run started
    assert_same_instant(stats.last_failure, at(10))


async def test_run_stats_of_task_without_runs_is_empty(store: Store) -> None:
    await store.register_task("a", "@hourly", now=T0)

    stats = await store.run_stats("a")

    assert (stats.task, stats.runs, stats.by_outcome) == ("a", 0, {})
    assert (stats.mean_duration, stats.max_duration) == (None, None)
    assert (stats.last_success, stats.last_failure) == (None, None)


# ---------------------------------------------------------------- prune_runs

DAY = 86400.0


async def test_prune_keeps_newest_per_task_whatever_their_age(store: Store) -> None:
    for name in ("a", "b", "c"):
        await store.register_task(name, "@hourly", now=T0)
    await add_runs(
        store,
        *(run("a", start=-10 * DAY + i) for i in range(4)),  # a: 4 old runs
        run("b", start=-9 * DAY),  # b: 2 old runs
        run("b", start=-9 * DAY + 1),
        run("a", start=-1),  # a: 1 recent run
        *(run("c", start=i) for i in range(3)),  # c: 3 recent runs
    )
    cutoff = at(-DAY)

    deleted = await store.prune_runs(keep_last=2, older_than=cutoff)

    assert deleted == 3
    kept_a = await store.runs("a", limit=100)
    assert len(kept_a) == 2
    assert_same_instant(kept_a[0].started, at(-1))
    assert_same_instant(kept_a[1].started, at(-10 * DAY + 3))
    assert len(await store.runs("b", limit=100)) == 2, "the newest keep_last stay even when old"
    assert len(await store.runs("c", limit=100)) == 3, "recent runs beyond keep_last stay"


async def test_prune_with_keep_last_zero_deletes_every_old_run(store: Store) -> None:
    await store.register_task("a", "@hourly", now=T0)
    await add_runs(store, run("a", start=-5 * DAY), run("a", start=-4 * DAY), run("a", start=0))

    deleted = await store.prune_runs(keep_last=0, older_than=at(-DAY))

    assert deleted == 2
    [left] = await store.runs("a")
    assert_same_instant(left.started, at(0))
    assert await store.prune_runs(keep_last=0, older_than=at(-DAY)) == 0


async def test_prune_with_nothing_old_deletes_nothing(store: Store) -> None:
    await store.register_task("a", "@hourly", now=T0)
    await add_runs(store, *(run("a", start=i) for i in range(5)))

    assert await store.prune_runs(keep_last=1, older_than=at(-1)) == 0
    assert len(await store.runs("a")) == 5


async def test_prune_rejects_negative_keep_last(store: Store) -> None:
    with pytest.raises(ValueError, match="keep_last"):
        await store.prune_runs(keep_last=-1, older_than=T0)


# ---------------------------------------------------------------- delete_task


async def test_delete_task_removes_task_and_its_runs(store: Store, reopen: Reopen) -> None:
    await store.register_task("a", "@hourly", now=T0)
    await store.register_task("b", "@hourly", now=T0)
    await add_runs(store, run("a", start=1), run("b", start=2), run("a", start=3))

    await store.delete_task("a")

    store = await reopen(store)
    with pytest.raises(TaskNotFound):
        await store.get_task("a")
    assert [t.name for t in await store.list_tasks()] == ["b"]
    assert await store.runs("a") == []
    assert [r.task for r in await store.runs()] == ["b"]
    assert (await store.run_stats("a")).runs == 0

    fresh = await store.register_task("a", "@daily", now=at(10))
    assert (fresh.run_count, fresh.default_schedule, fresh.override_schedule) == (0, "@daily", None)
    assert await store.runs("a") == []


# ---------------------------------------------------------------- scans, listing


async def test_mark_scan_and_last_scan_round_trip(store: Store, reopen: Reopen, open_store: OpenStore) -> None:
    assert await store.last_scan() is None

    await store.mark_scan(T0)
    assert_same_instant(await store.last_scan(), T0)
    await store.mark_scan(at(60))
    assert_same_instant(await store.last_scan(), at(60))

    other = await open_store()
    assert_same_instant(await other.last_scan(), at(60))
    store = await reopen(store)
    assert_same_instant(await store.last_scan(), at(60))


async def test_list_tasks_is_ordered_by_name(store: Store) -> None:
    assert await store.list_tasks() == []
    for name in ("charlie", "alpha", "delta", "bravo"):
        await store.register_task(name, "@hourly", now=T0)

    tasks = await store.list_tasks()

    assert [t.name for t in tasks] == ["alpha", "bravo", "charlie", "delta"]
    assert tasks[0] == await store.get_task("alpha")


# ---------------------------------------------------------------- claim_tick / release_tick


async def claim_tick(store: Store, tick: float, worker: str = "worker-1", lease: float = 60.0) -> bool:
    return await store.claim_tick("alpha", at(tick), worker=worker, now=at(tick), lease_until=at(tick + lease))


async def test_claim_tick_is_won_exactly_once_across_store_objects(store: Store, open_store: OpenStore) -> None:
    """Many processes racing for one tick: exactly one runs it."""
    stores = [store, await open_store(), await open_store()]
    await store.register_task("alpha", "@hourly", now=T0)

    for tick in (60, 120):
        workers = [f"worker-{i}-{n}" for n in range(8) for i in range(len(stores))]
        results = await asyncio.gather(
            *(claim_tick(stores[i % len(stores)], tick, worker) for i, worker in enumerate(workers))
        )

        assert results.count(True) == 1, results
        [winner] = [worker for worker, won in zip(workers, results, strict=True) if won]
        stored = await stores[1].get_task("alpha")
        assert stored.acquired_by == winner
        assert_same_instant(stored.last_scheduled, at(tick))
        assert_same_instant(stored.acquired_until, at(tick + 60))
        # Claimed: nobody, not even the winner, claims the same tick again.
        assert await claim_tick(stores[2], tick, "late") is False
        assert await claim_tick(stores[0], tick, winner) is False


async def test_claim_tick_refuses_an_older_tick_and_unknown_tasks(store: Store) -> None:
    await store.register_task("alpha", "@hourly", now=T0)
    assert await claim_tick(store, 120, "worker-1") is True

    assert await claim_tick(store, 60, "worker-2") is False, "an older tick after a newer one"
    stored = await store.get_task("alpha")
    assert stored.acquired_by == "worker-1"
    assert_same_instant(stored.last_scheduled, at(120))
    await store.release_tick("alpha", "worker-1", at(120))  # its run finished
    assert await claim_tick(store, 120.001, "worker-2") is True, "any later tick can be claimed"
    with pytest.raises(TaskNotFound, match="ghost"):
        await store.claim_tick("ghost", at(1), worker="worker-1", now=at(1), lease_until=at(2))


async def test_claim_tick_respects_last_scheduled_saved_with_results(store: Store) -> None:
    state = await store.register_task("alpha", "@hourly", now=T0)
    state.last_scheduled = at(100)
    await store.save_results([state], [])

    assert await claim_tick(store, 100) is False
    assert await claim_tick(store, 99) is False
    assert await claim_tick(store, 101) is True


async def test_claim_tick_waits_for_another_workers_unexpired_lease(store: Store) -> None:
    """A run still going elsewhere (or ``taskext run``) holds the task: no second run at once."""
    await store.register_task("alpha", "@hourly", now=T0)
    assert await store.acquire_task("alpha", "cli", now=at(0), until=at(100)) is None

    assert await claim_tick(store, 60, "bot") is False
    assert (await store.get_task("alpha")).last_scheduled is None  # nothing claimed
    assert await claim_tick(store, 101, "bot") is True  # the lease expired at 100
    assert await claim_tick(store, 150, "bot") is True  # the holder itself may claim the next tick


async def test_release_tick_only_drops_the_matching_workers_lease_of_that_tick(store: Store) -> None:
    await store.register_task("alpha", "@hourly", now=T0)
    assert await claim_tick(store, 60, "worker-1") is True

    await store.release_tick("alpha", "worker-2", at(60))  # another worker
    await store.release_tick("alpha", "worker-1", at(30))  # another tick
    assert (await store.get_task("alpha")).acquired_by == "worker-1"

    await store.release_tick("alpha", "worker-1", at(60))
    released = await store.get_task("alpha")
    assert (released.acquired_by, released.acquired_until) == (None, None)
    assert_same_instant(released.last_scheduled, at(60))
    assert await claim_tick(store, 60, "worker-2") is False, "releasing does not make the tick claimable again"

    # A late release of an old tick does not drop a newer claim, by this worker or another.
    assert await claim_tick(store, 120, "worker-2") is True
    await store.release_tick("alpha", "worker-1", at(60))
    await store.release_tick("alpha", "worker-2", at(60))
    await store.release_tick("alpha", "worker-1", at(120))
    held = await store.get_task("alpha")
    assert held.acquired_by == "worker-2"
    assert_same_instant(held.acquired_until, at(180))


async def test_save_and_claim_writes_the_result_and_claims_the_next_tick(store: Store, open_store: OpenStore) -> None:
    """A cluster loop's run result and the claim of its next tick, in one call."""
    state = await store.register_task("alpha", "@hourly", now=T0)
    await store.register_task("beta", "@hourly", now=T0)
    assert await claim_tick(store, 60, "worker-1") is True
    assert await store.acquire_task("beta", "cli", now=at(0), until=at(1000)) is None  # held elsewhere
    ran = with_results(state, start=60)
    claims = [TickClaim("alpha", at(120), at(180)), TickClaim("beta", at(120), at(180))]

    won = await store.save_and_claim([ran], [run("alpha", start=60)], claims, worker="worker-1", now=at(61))

    assert won == [True, False]
    other = await open_store()
    stored = await other.get_task("alpha")
    assert stored.acquired_by == "worker-1"
    assert_same_instant(stored.last_scheduled, at(120))  # the claim, newer than the result's tick
    assert_same_instant(stored.acquired_until, at(180))
    assert (stored.failures, stored.fail_delay, stored.run_count) == (ran.failures, ran.fail_delay, ran.run_count)
    assert [r.task for r in await other.runs()] == ["alpha"]
    assert (await other.get_task("beta")).acquired_by == "cli"
    # Claimed ahead: the tick is taken, for another worker and for a second claim alike.
    assert await claim_tick(other, 120, "worker-2") is False
    assert await store.save_and_claim([], [], [claims[0]], worker="worker-1", now=at(62)) == [False]


# ---------------------------------------------------------------- acquire_task / release_task


async def test_acquire_task_takes_re_enters_and_reports_the_holder(store: Store, open_store: OpenStore) -> None:
    other = await open_store()
    await store.register_task("alpha", "@hourly", now=T0)

    assert await store.acquire_task("alpha", "worker-1", now=at(0), until=at(30)) is None
    held = await other.get_task("alpha")
    assert held.acquired_by == "worker-1"
    assert_same_instant(held.acquired_until, at(30))

    # Re-entered by its holder: taken again, and extended.
    assert await store.acquire_task("alpha", "worker-1", now=at(10), until=at(40)) is None
    assert_same_instant((await other.get_task("alpha")).acquired_until, at(40))

    # Another worker learns who holds it, and changes nothing, until the lease expires.
    assert await other.acquire_task("alpha", "worker-2", now=at(20), until=at(50)) == "worker-1"
    assert await other.acquire_task("alpha", "worker-2", now=at(40), until=at(50)) == "worker-1"
    held = await store.get_task("alpha")
    assert held.acquired_by == "worker-1"
    assert_same_instant(held.acquired_until, at(40))
    await other.release_task("alpha", "worker-2")  # not the holder: nothing happens
    assert (await store.get_task("alpha")).acquired_by == "worker-1"

    assert await other.acquire_task("alpha", "worker-2", now=at(41), until=at(70)) is None, "expired lease"
    assert await store.acquire_task("alpha", "worker-1", now=at(42), until=at(70)) == "worker-2"

    await other.release_task("alpha", "worker-2")
    free = await store.get_task("alpha")
    assert (free.acquired_by, free.acquired_until) == (None, None)
    assert await store.acquire_task("alpha", "worker-1", now=at(43), until=at(70)) is None
    with pytest.raises(TaskNotFound, match="ghost"):
        await store.acquire_task("ghost", "worker-1", now=at(0), until=at(30))


async def test_acquire_task_has_one_winner_across_store_objects(store: Store, open_store: OpenStore) -> None:
    stores = [store, await open_store(), await open_store()]
    await store.register_task("alpha", "@hourly", now=T0)
    workers = [f"worker-{n}" for n in range(12)]

    results = await asyncio.gather(
        *(
            stores[n % len(stores)].acquire_task("alpha", worker, now=at(0), until=at(30))
            for n, worker in enumerate(workers)
        )
    )

    assert results.count(None) == 1, results
    winner = workers[results.index(None)]
    assert {r for r in results if r is not None} == {winner}
    assert (await store.get_task("alpha")).acquired_by == winner


# ---------------------------------------------------------------- save_results and claims


async def test_save_results_does_not_move_last_scheduled_backwards(store: Store) -> None:
    await store.register_task("alpha", "@hourly", now=T0)
    stale = with_results(await store.get_task("alpha"), start=60)  # last_scheduled = at(60)
    assert await claim_tick(store, 120, "worker-2") is True  # another process claims a newer tick

    await store.save_results([stale], [])
    stored = await store.get_task("alpha")
    assert_same_instant(stored.last_scheduled, at(120))
    assert stored.run_count == stale.run_count, "the other results are written"

    stale.last_scheduled = None
    await store.save_results([stale], [])
    assert_same_instant((await store.get_task("alpha")).last_scheduled, at(120))

    stale.last_scheduled = at(180)
    await store.save_results([stale], [])
    assert_same_instant((await store.get_task("alpha")).last_scheduled, at(180))


async def test_save_results_reads_its_arguments_before_it_waits(store: Store) -> None:
    """The manager passes live objects and lists; changes made while the save waits are not written."""
    await store.register_task("alpha", "@hourly", now=T0)
    state = with_results(await store.get_task("alpha"), start=100)
    expected = state.copy()
    record = run("alpha", start=100)
    states, runs = [state], [record]

    saving = asyncio.ensure_future(store.save_results(states, runs))
    await asyncio.sleep(0)  # the save starts, and waits for the database
    state.run_count, state.last_error, state.next_run = 999, "changed", at(9999)
    record.output, record.outcome = "changed", Outcome.CANCELLED
    states.clear()
    runs.append(run("alpha", start=200))
    await saving

    assert_results_saved(await store.get_task("alpha"), expected)
    [saved] = await store.runs("alpha")
    assert (saved.output, saved.outcome) == ("alpha output at 100", Outcome.SUCCEEDED)


async def test_save_results_for_a_deleted_task_adds_no_runs(store: Store) -> None:
    await store.register_task("alpha", "@hourly", now=T0)
    await store.register_task("beta", "@hourly", now=T0)
    stale = with_results(await store.get_task("alpha"), start=100)
    await store.delete_task("alpha")

    await store.save_results([stale], [run("alpha", start=100), run("beta", start=101)])

    with pytest.raises(TaskNotFound):
        await store.get_task("alpha")
    assert [r.task for r in await store.runs()] == ["beta"]


async def test_naive_datetimes_are_refused(store: Store) -> None:
    naive = datetime(2026, 3, 4, 5, 6, 7)
    with pytest.raises(ValueError, match="naive"):
        await store.register_task("alpha", "@hourly", now=naive)
    await store.register_task("alpha", "@hourly", now=T0)
    before = await store.get_task("alpha")

    state = with_results(before, start=1)
    state.next_run = naive
    with pytest.raises(ValueError, match="naive"):
        await store.save_results([state], [])
    with pytest.raises(ValueError, match="naive"):
        await store.save_results([], [RunRecord(task="alpha", outcome=Outcome.SUCCEEDED, started=naive)])

    assert await store.get_task("alpha") == before
    assert await store.runs() == []


# ---------------------------------------------------------------- listen


async def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def test_listen_returns_a_bool(store: Store) -> None:
    assert isinstance(await store.listen(lambda kind: None), bool)


async def test_listen_hears_changes_made_through_another_store_object(store: Store, open_store: OpenStore) -> None:
    heard: list[str] = []
    if not await store.listen(heard.append):
        pytest.skip(f"{type(store).__name__} does not push changes (the manager polls change_counter instead)")
    other = await open_store()
    await other.register_task("alpha", "@hourly", now=T0)

    await other.update_admin("alpha", paused=True)
    assert await wait_until(lambda: "admin" in heard, 1.0), f"no 'admin' within 1 s: {heard}"

    heard.clear()
    await other.enqueue(
        [NewAdhoc(name="mail", data="{}", run_at=T0, enqueued_at=T0, max_attempts=3, dedupe_key="k")], dedupe=False
    )
    assert await wait_until(lambda: "adhoc" in heard, 1.0), f"no 'adhoc' within 1 s: {heard}"
    assert set(heard) <= {"admin", "adhoc"}


@pytest.mark.parametrize(
    "call",
    [
        lambda s, naive: s.claim_tick("alpha", naive, worker="w", now=naive, lease_until=naive),
        lambda s, naive: s.acquire_task("alpha", "w", now=naive, until=naive),
        lambda s, naive: s.mark_scan(naive),
        lambda s, naive: s.claim("w", ["x"], now=naive, lease_until=naive, limit=1),
        lambda s, naive: s.purge_adhoc(failed_before=naive),
    ],
    ids=["claim_tick", "acquire_task", "mark_scan", "claim", "purge_adhoc"],
)
async def test_naive_datetimes_are_refused_everywhere(store: Store, call: Any) -> None:
    """A naive datetime names no instant: refused, never read as the host's local time."""
    await store.register_task("alpha", "@hourly", now=T0)
    before = await store.get_task("alpha")
    with pytest.raises(ValueError, match="naive"):
        await call(store, datetime(2026, 1, 1, 12, 0))
    assert await store.get_task("alpha") == before

"""The ad hoc queue part of the store contract: every Store implementation must pass it.

The ``store``/``open_store``/``reopen`` fixtures (tests/store/conftest.py) run each test
once per backend. Times are explicit arguments, so no clock is involved.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone

import pytest

from taskext.errors import TaskNotFound
from taskext.store import AdhocResult, AdhocStatus, AdhocTask, Claim, NewAdhoc, Store

UTC = timezone.utc
T0 = datetime(2026, 3, 4, 5, 6, 7, 891234, tzinfo=UTC)
MS = timedelta(milliseconds=1)
LEASE = 60.0

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


def item(
    name: str = "mail",
    data: str = "{}",
    *,
    run: float = 0.0,
    user: int | None = None,
    guild: int | None = None,
    key: str | None = None,
    max_attempts: int = 3,
    enqueued: float = 0.0,
) -> NewAdhoc:
    """A task of handler ``name`` due ``run`` seconds after T0."""
    return NewAdhoc(
        name=name,
        data=data,
        run_at=at(run),
        enqueued_at=at(enqueued),
        max_attempts=max_attempts,
        dedupe_key=key if key is not None else f"{name}|{data}|{user}",
        user_id=user,
        guild_id=guild,
    )


async def claim(
    store: Store,
    now: float,
    names: tuple[str, ...] = ("mail",),
    *,
    worker: str = "worker-a",
    limit: int = 100,
    lease: float = LEASE,
) -> list[Claim]:
    return await store.claim(worker, list(names), now=at(now), lease_until=at(now + lease), limit=limit)


async def status_of(store: Store, task_id: int) -> AdhocStatus:
    return (await store.get_adhoc(task_id)).status


async def all_tasks(store: Store) -> list[AdhocTask]:
    return await store.list_adhoc(limit=1000)


# ---------------------------------------------------------------- enqueue


async def test_enqueue_returns_ids_in_order_and_stores_every_field(store: Store) -> None:
    ids = await store.enqueue(
        [
            item(data='{"n":1}', run=30, user=7, guild=9, max_attempts=4, enqueued=-5),
            item(data='{"n":2}', run=10),
            item("other", data="[1,2]", run=20),
        ],
        dedupe=False,
    )
    assert len(ids) == 3 and len(set(ids)) == 3
    assert ids == sorted(ids)
    first = await store.get_adhoc(ids[0])
    assert first.id == ids[0]
    assert first.name == "mail"
    assert first.data == '{"n":1}'
    assert first.status is AdhocStatus.PENDING
    assert_same_instant(first.run_at, at(30))
    assert_same_instant(first.enqueued_at, at(-5))
    assert first.attempts == 0
    assert first.max_attempts == 4
    assert (first.user_id, first.guild_id) == (7, 9)
    assert first.last_error is None
    assert first.acquired_by is None and first.acquired_until is None
    assert first.finished_at is None
    third = await store.get_adhoc(ids[2])
    assert (third.name, third.data, third.user_id, third.guild_id) == ("other", "[1,2]", None, None)
    # Ids are the tasks' identities: each maps back to its own data.
    assert [(await store.get_adhoc(i)).data for i in ids] == ['{"n":1}', '{"n":2}', "[1,2]"]


async def test_enqueue_nothing_returns_no_ids(store: Store) -> None:
    assert await store.enqueue([], dedupe=False) == []
    assert await store.enqueue([], dedupe=True) == []
    assert await all_tasks(store) == []


async def test_enqueue_large_batch_ids_map_to_their_items(store: Store) -> None:
    await store.enqueue([item(data="0")], dedupe=False)  # ids do not start at 1 for this batch
    ids = await store.enqueue([item(data=str(n), run=n) for n in range(1, 251)], dedupe=False)
    assert len(set(ids)) == 250
    for n, task_id in zip(range(1, 251), ids, strict=True):
        assert (await store.get_adhoc(task_id)).data == str(n)


async def test_dedupe_returns_the_pending_task_with_the_same_key(store: Store) -> None:
    (first,) = await store.enqueue([item(key="k1", run=5)], dedupe=False)
    again = await store.enqueue([item(key="k1", run=50)], dedupe=True)
    assert again == [first]
    assert_same_instant((await store.get_adhoc(first)).run_at, at(5))  # dedupe does not move it
    other = await store.enqueue([item(key="k2")], dedupe=True)
    assert other != [first]
    # Without dedupe the same key is queued again.
    (duplicate,) = await store.enqueue([item(key="k1")], dedupe=False)
    assert duplicate not in (first, other[0])
    assert len(await all_tasks(store)) == 3


async def test_dedupe_within_one_batch(store: Store) -> None:
    ids = await store.enqueue([item(key="a"), item(key="b"), item(key="a")], dedupe=True)
    assert ids[0] == ids[2] and ids[0] != ids[1]
    assert len(await all_tasks(store)) == 2


async def test_dedupe_only_matches_pending_tasks(store: Store) -> None:
    (running,) = await store.enqueue([item(key="k")], dedupe=False)
    await claim(store, 0)
    (second,) = await store.enqueue([item(key="k")], dedupe=True)
    assert second != running
    (claimed,) = await claim(store, 1)
    assert claimed.id == second
    await store.finish("worker-a", [AdhocResult(second, claimed.lease, error="boom")], now=at(1))
    assert await status_of(store, second) is AdhocStatus.FAILED
    (third,) = await store.enqueue([item(key="k")], dedupe=True)
    assert third not in (running, second)


# ---------------------------------------------------------------- reschedule_or_enqueue


async def test_reschedule_or_enqueue_moves_the_pending_task_or_queues_one(store: Store) -> None:
    task_id, created = await store.reschedule_or_enqueue(item(key="k", run=60))
    assert created is True
    assert_same_instant((await store.get_adhoc(task_id)).run_at, at(60))
    moved, created = await store.reschedule_or_enqueue(item(key="k", run=120))
    assert (moved, created) == (task_id, False)
    assert_same_instant((await store.get_adhoc(task_id)).run_at, at(120))
    earlier, created = await store.reschedule_or_enqueue(item(key="k", run=30))
    assert (earlier, created) == (task_id, False)
    assert_same_instant((await store.get_adhoc(task_id)).run_at, at(30))
    other, created = await store.reschedule_or_enqueue(item(key="other", run=30))
    assert created is True and other != task_id
    assert len(await all_tasks(store)) == 2


async def test_reschedule_or_enqueue_does_not_touch_a_running_task(store: Store) -> None:
    (task_id,) = await store.enqueue([item(key="k")], dedupe=False)
    (claimed,) = await claim(store, 0)
    new_id, created = await store.reschedule_or_enqueue(item(key="k", run=300))
    assert created is True and new_id != task_id
    running = await store.get_adhoc(task_id)
    assert running.status is AdhocStatus.RUNNING
    assert_same_instant(running.run_at, at(0))
    assert running.lease == claimed.lease


# ---------------------------------------------------------------- claim


async def test_claim_takes_due_tasks_and_records_the_claim(store: Store) -> None:
    (task_id,) = await store.enqueue([item(data='{"x":1}', run=10, user=3, guild=4, enqueued=2)], dedupe=False)
    assert await claim(store, 9.999) == []
    (claimed,) = await claim(store, 10)  # due exactly at run_at
    assert claimed.id == task_id
    assert claimed.name == "mail"
    assert claimed.data == '{"x":1}'
    assert (claimed.user_id, claimed.guild_id) == (3, 4)
    assert_same_instant(claimed.enqueued_at, at(2))
    assert_same_instant(claimed.run_at, at(10))
    assert claimed.attempt == 1
    assert claimed.max_attempts == 3
    assert claimed.lease >= 1
    stored = await store.get_adhoc(task_id)
    assert stored.status is AdhocStatus.RUNNING
    assert stored.attempts == 1
    assert stored.acquired_by == "worker-a"
    assert_same_instant(stored.acquired_until, at(10 + LEASE))
    assert stored.lease == claimed.lease
    # Held: nobody claims it again while the lease runs.
    assert await claim(store, 11, worker="worker-b") == []
    assert await claim(store, 10 + LEASE - 1, worker="worker-b") == []


async def test_claim_order_is_run_at_then_id(store: Store) -> None:
    ids = await store.enqueue(
        [item(data="late", run=30), item(data="early", run=10), item(data="tie-1", run=20), item(data="tie-2", run=20)],
        dedupe=False,
    )
    late, early, tie1, tie2 = ids
    (first,) = await claim(store, 100, limit=1)
    assert first.id == early
    (second,) = await claim(store, 100, limit=1)
    assert second.id == tie1
    rest = await claim(store, 100, limit=10)
    assert [c.id for c in rest] == [tie2, late]


async def test_claim_returns_a_batch_in_run_order(store: Store) -> None:
    ids = await store.enqueue([item(data=str(n), run=30 - n) for n in range(5)], dedupe=False)
    claims = await claim(store, 100)
    assert [c.id for c in claims] == list(reversed(ids))
    assert [c.data for c in claims] == ["4", "3", "2", "1", "0"]


async def test_claim_limit(store: Store) -> None:
    await store.enqueue([item(data=str(n)) for n in range(5)], dedupe=False)
    assert len(await claim(store, 1, limit=2)) == 2
    assert len(await claim(store, 1, limit=2)) == 2
    assert len(await claim(store, 1, limit=2)) == 1
    assert await claim(store, 1, limit=2) == []
    assert await claim(store, 1, limit=0) == []


async def test_claim_only_takes_the_named_handlers(store: Store) -> None:
    mail, report, other = await store.enqueue([item("mail"), item("report"), item("other")], dedupe=False)
    assert await claim(store, 1, names=()) == []
    assert [c.id for c in await claim(store, 1, names=("report", "nothing"))] == [report]
    assert {c.id for c in await claim(store, 1, names=("mail", "other"))} == {mail, other}


async def test_claim_skips_failed_tasks(store: Store) -> None:
    (task_id,) = await store.enqueue([item()], dedupe=False)
    (claimed,) = await claim(store, 0)
    await store.finish("worker-a", [AdhocResult(task_id, claimed.lease, error="boom")], now=at(1))
    assert await claim(store, 1000, worker="worker-b") == []


async def test_expired_lease_is_reclaimed_with_a_new_lease_and_attempt(store: Store) -> None:
    (task_id,) = await store.enqueue([item()], dedupe=False)
    (a,) = await claim(store, 0, lease=30)
    assert await claim(store, 29, worker="worker-b") == []
    (b,) = await claim(store, 31, worker="worker-b")
    assert b.id == task_id
    assert b.lease > a.lease
    assert b.attempt == 2  # the dead worker's run counts
    stored = await store.get_adhoc(task_id)
    assert stored.acquired_by == "worker-b"
    assert stored.attempts == 2
    assert_same_instant(stored.acquired_until, at(31 + LEASE))


async def test_claims_from_two_store_objects_never_overlap(store: Store, open_store: OpenStore) -> None:
    other = await open_store()
    await store.enqueue([item(data=str(n)) for n in range(20)], dedupe=False)
    first = await claim(store, 1, limit=7)
    second = await claim(other, 1, limit=100, worker="worker-b")
    assert len(first) == 7 and len(second) == 13
    assert not {c.id for c in first} & {c.id for c in second}


# ---------------------------------------------------------------- finish


async def test_finish_success_deletes_the_task(store: Store) -> None:
    keep, done = await store.enqueue([item(data="keep", run=100), item(data="done")], dedupe=False)
    (claimed,) = await claim(store, 1)
    assert await store.finish("worker-a", [AdhocResult(done, claimed.lease)], now=at(2)) == 1
    with pytest.raises(TaskNotFound):
        await store.get_adhoc(done)
    assert [t.id for t in await all_tasks(store)] == [keep]


async def test_finish_failure_with_retry_at_makes_it_pending_at_that_time(store: Store) -> None:
    (task_id,) = await store.enqueue([item()], dedupe=False)
    (claimed,) = await claim(store, 0)
    result = AdhocResult(task_id, claimed.lease, error="Traceback: boom", retry_at=at(70))
    assert await store.finish("worker-a", [result], now=at(10)) == 1
    stored = await store.get_adhoc(task_id)
    assert stored.status is AdhocStatus.PENDING
    assert_same_instant(stored.run_at, at(70))
    assert stored.attempts == 1
    assert stored.last_error == "Traceback: boom"
    assert stored.acquired_by is None and stored.acquired_until is None
    assert await claim(store, 69) == []
    (again,) = await claim(store, 70)
    assert again.attempt == 2 and again.lease > claimed.lease


async def test_finish_failure_without_retry_at_keeps_it_failed(store: Store) -> None:
    (task_id,) = await store.enqueue([item(run=5)], dedupe=False)
    (claimed,) = await claim(store, 5)
    assert await store.finish("worker-a", [AdhocResult(task_id, claimed.lease, error="last words")], now=at(9)) == 1
    stored = await store.get_adhoc(task_id)
    assert stored.status is AdhocStatus.FAILED
    assert stored.last_error == "last words"
    assert stored.attempts == 1
    assert_same_instant(stored.finished_at, at(9))
    assert stored.acquired_by is None and stored.acquired_until is None
    assert await claim(store, 10_000) == []


async def test_release_makes_it_pending_with_the_attempt_given_back(store: Store) -> None:
    (task_id,) = await store.enqueue([item(run=5)], dedupe=False)
    (claimed,) = await claim(store, 5)
    assert await store.finish("worker-a", [AdhocResult(task_id, claimed.lease, release=True)], now=at(6)) == 1
    stored = await store.get_adhoc(task_id)
    assert stored.status is AdhocStatus.PENDING
    assert stored.attempts == 0
    assert_same_instant(stored.run_at, at(5))
    assert stored.acquired_by is None and stored.acquired_until is None
    assert stored.last_error is None
    (again,) = await claim(store, 6, worker="worker-b")
    assert again.attempt == 1 and again.lease > claimed.lease


async def test_finish_applies_a_mixed_batch_in_one_call(store: Store) -> None:
    ok, retry, fail, release = await store.enqueue([item(data=str(n)) for n in range(4)], dedupe=False)
    leases = {c.id: c.lease for c in await claim(store, 0)}
    results = [
        AdhocResult(ok, leases[ok]),
        AdhocResult(retry, leases[retry], error="e1", retry_at=at(60)),
        AdhocResult(fail, leases[fail], error="e2"),
        AdhocResult(release, leases[release], release=True),
    ]
    assert await store.finish("worker-a", results, now=at(1)) == 4
    assert {t.id: (t.status, t.attempts) for t in await all_tasks(store)} == {
        retry: (AdhocStatus.PENDING, 1),
        fail: (AdhocStatus.FAILED, 1),
        release: (AdhocStatus.PENDING, 0),
    }
    assert await store.finish("worker-a", [], now=at(2)) == 0


async def test_a_stale_lease_cannot_finish_fail_or_release(store: Store) -> None:
    (task_id,) = await store.enqueue([item()], dedupe=False)
    (a,) = await claim(store, 0, lease=10)
    (b,) = await claim(store, 11, worker="worker-b")
    stale = [
        AdhocResult(task_id, a.lease),
        AdhocResult(task_id, a.lease, error="late failure", retry_at=at(20)),
        AdhocResult(task_id, a.lease, error="late failure"),
        AdhocResult(task_id, a.lease, release=True),
    ]
    for outcome in stale:
        assert await store.finish("worker-a", [outcome], now=at(12)) == 0
    # The right lease from the wrong worker is not enough either.
    assert await store.finish("worker-a", [AdhocResult(task_id, b.lease)], now=at(12)) == 0
    stored = await store.get_adhoc(task_id)
    assert stored.status is AdhocStatus.RUNNING
    assert stored.acquired_by == "worker-b"
    assert stored.lease == b.lease
    assert stored.attempts == 2
    assert stored.last_error is None
    assert await store.finish("worker-b", [AdhocResult(task_id, b.lease)], now=at(13)) == 1
    with pytest.raises(TaskNotFound):
        await store.get_adhoc(task_id)


async def test_a_result_for_a_deleted_task_is_ignored(store: Store) -> None:
    (task_id,) = await store.enqueue([item()], dedupe=False)
    (claimed,) = await claim(store, 0)
    assert await store.finish("worker-a", [AdhocResult(task_id, claimed.lease)], now=at(1)) == 1
    assert await store.finish("worker-a", [AdhocResult(task_id, claimed.lease)], now=at(1)) == 0
    assert await store.finish("worker-a", [AdhocResult(task_id, claimed.lease, error="x")], now=at(1)) == 0
    assert await all_tasks(store) == []


# ---------------------------------------------------------------- heartbeat


async def test_heartbeat_extends_only_matching_leases(store: Store) -> None:
    mine, theirs = await store.enqueue([item(data="1"), item(data="2")], dedupe=False)
    (a,) = await claim(store, 0, limit=1, lease=30)
    assert a.id == mine
    (b,) = await claim(store, 0, limit=1, lease=30, worker="worker-b")
    assert b.id == theirs
    count = await store.heartbeat("worker-a", [(mine, a.lease), (theirs, b.lease)], until=at(100))
    assert count == 1
    assert_same_instant((await store.get_adhoc(mine)).acquired_until, at(100))
    assert_same_instant((await store.get_adhoc(theirs)).acquired_until, at(30))
    assert await store.heartbeat("worker-a", [(mine, a.lease + 1)], until=at(200)) == 0
    assert_same_instant((await store.get_adhoc(mine)).acquired_until, at(100))
    assert await store.heartbeat("worker-a", [], until=at(200)) == 0
    # Extended: not reclaimable after the original expiry, only after the new one.
    assert [c.id for c in await claim(store, 50, worker="worker-c")] == [theirs]
    assert await claim(store, 99, worker="worker-c") == []
    (taken,) = await claim(store, 101, worker="worker-c")
    assert taken.id == mine


async def test_heartbeat_of_a_lost_lease_does_not_revive_it(store: Store) -> None:
    (task_id,) = await store.enqueue([item()], dedupe=False)
    (a,) = await claim(store, 0, lease=10)
    (b,) = await claim(store, 11, lease=10, worker="worker-b")
    assert await store.heartbeat("worker-a", [(task_id, a.lease)], until=at(500)) == 0
    stored = await store.get_adhoc(task_id)
    assert stored.acquired_by == "worker-b"
    assert_same_instant(stored.acquired_until, at(21))
    # A finished (released) task cannot be heartbeaten back into running.
    await store.finish("worker-b", [AdhocResult(task_id, b.lease, release=True)], now=at(12))
    assert await store.heartbeat("worker-b", [(task_id, b.lease)], until=at(500)) == 0
    assert await status_of(store, task_id) is AdhocStatus.PENDING


# ---------------------------------------------------------------- next_due


async def test_next_due_is_the_earliest_pending_run_or_lease_expiry(store: Store) -> None:
    assert await store.next_due(["mail"]) is None
    await store.enqueue([item(run=50), item(run=40), item("other", run=5)], dedupe=False)
    assert_same_instant(await store.next_due(["mail"]), at(40))
    assert_same_instant(await store.next_due(["mail", "other"]), at(5))
    assert await store.next_due(["nothing"]) is None
    assert await store.next_due([]) is None
    claims = await claim(store, 45, lease=2)  # takes the one at 40; the lease ends at 47
    assert [c.data for c in claims] == ["{}"]
    assert_same_instant(await store.next_due(["mail"]), at(47))


async def test_next_due_ignores_failed_tasks(store: Store) -> None:
    (task_id,) = await store.enqueue([item()], dedupe=False)
    (claimed,) = await claim(store, 0)
    await store.finish("worker-a", [AdhocResult(task_id, claimed.lease, error="x")], now=at(1))
    assert await store.next_due(["mail"]) is None


# ---------------------------------------------------------------- list / counts


async def test_list_adhoc_by_run_time_status_and_name(store: Store) -> None:
    ids = await store.enqueue(
        [item(data="a", run=30), item(data="b", run=10), item("other", data="c", run=20), item(data="d", run=10)],
        dedupe=False,
    )
    a, b, c, d = ids
    assert [t.id for t in await all_tasks(store)] == [b, d, c, a]
    (claimed,) = await claim(store, 10, limit=1)
    assert claimed.id == b
    await store.finish("worker-a", [AdhocResult(b, claimed.lease, error="x")], now=at(11))
    (running,) = await claim(store, 10, limit=1)
    assert running.id == d
    assert [t.id for t in await store.list_adhoc(status=AdhocStatus.PENDING)] == [c, a]
    assert [t.id for t in await store.list_adhoc(status=AdhocStatus.RUNNING)] == [d]
    assert [t.id for t in await store.list_adhoc(status=AdhocStatus.FAILED)] == [b]
    assert [t.id for t in await store.list_adhoc(name="other")] == [c]
    assert [t.id for t in await store.list_adhoc(name="mail", status=AdhocStatus.PENDING)] == [a]
    assert [t.id for t in await store.list_adhoc(limit=2)] == [b, d]
    assert await store.list_adhoc(name="nothing") == []
    failed = (await store.list_adhoc(status=AdhocStatus.FAILED))[0]
    assert failed.last_error == "x" and failed.attempts == 1


@pytest.mark.parametrize("limit", [0, -1, True, 1.5])
async def test_list_adhoc_rejects_a_bad_limit(store: Store, limit: object) -> None:
    with pytest.raises(ValueError, match="limit"):
        await store.list_adhoc(limit=limit)  # type: ignore[arg-type]


async def test_adhoc_counts(store: Store) -> None:
    empty = await store.adhoc_counts(now=at(0))
    assert empty == {"pending": 0, "due": 0, "running": 0, "failed": 0, "oldest_due": None}
    ids = await store.enqueue(
        [item(data="1", run=-20), item(data="2", run=-10), item(data="3", run=5), item(data="4", run=100)],
        dedupe=False,
    )
    counts = await store.adhoc_counts(now=at(0))
    assert {k: v for k, v in counts.items() if k != "oldest_due"} == {"pending": 4, "due": 2, "running": 0, "failed": 0}
    assert_same_instant(counts["oldest_due"], at(-20))  # type: ignore[arg-type]
    (first,) = await claim(store, 0, limit=1)
    assert first.id == ids[0]
    (second,) = await claim(store, 0, limit=1)
    await store.finish("worker-a", [AdhocResult(second.id, second.lease, error="x")], now=at(0))
    counts = await store.adhoc_counts(now=at(10))
    assert {k: v for k, v in counts.items() if k != "oldest_due"} == {"pending": 2, "due": 1, "running": 1, "failed": 1}
    assert_same_instant(counts["oldest_due"], at(5))  # type: ignore[arg-type]


# ---------------------------------------------------------------- cancel / retry


async def test_cancel_removes_pending_and_failed_tasks(store: Store) -> None:
    pending, failed = await store.enqueue([item(data="p", run=50), item(data="f")], dedupe=False)
    (claimed,) = await claim(store, 0)
    await store.finish("worker-a", [AdhocResult(failed, claimed.lease, error="x")], now=at(1))
    removed = await store.cancel_adhoc(pending)
    assert (removed.id, removed.data, removed.status) == (pending, "p", AdhocStatus.PENDING)
    removed = await store.cancel_adhoc(failed)
    assert (removed.id, removed.status) == (failed, AdhocStatus.FAILED)
    assert await all_tasks(store) == []
    with pytest.raises(TaskNotFound):
        await store.cancel_adhoc(pending)


async def test_cancel_refuses_a_running_task_and_unknown_ids(store: Store) -> None:
    (task_id,) = await store.enqueue([item()], dedupe=False)
    (claimed,) = await claim(store, 0)
    with pytest.raises(ValueError, match="running"):
        await store.cancel_adhoc(task_id)
    stored = await store.get_adhoc(task_id)
    assert stored.status is AdhocStatus.RUNNING and stored.lease == claimed.lease
    with pytest.raises(TaskNotFound):
        await store.cancel_adhoc(task_id + 1000)
    with pytest.raises(TaskNotFound):
        await store.get_adhoc(task_id + 1000)


async def test_retry_queues_a_failed_task_again_with_fresh_attempts(store: Store) -> None:
    (task_id,) = await store.enqueue([item(max_attempts=2)], dedupe=False)
    (claimed,) = await claim(store, 0)
    await store.finish("worker-a", [AdhocResult(task_id, claimed.lease, error="x", retry_at=at(10))], now=at(1))
    (claimed,) = await claim(store, 10)
    await store.finish("worker-a", [AdhocResult(task_id, claimed.lease, error="y")], now=at(11))
    assert (await store.get_adhoc(task_id)).attempts == 2
    again = await store.retry_adhoc(task_id, now=at(500))
    assert again.id == task_id
    assert again.status is AdhocStatus.PENDING
    assert again.attempts == 0
    assert_same_instant(again.run_at, at(500))
    assert again.finished_at is None
    assert again == await store.get_adhoc(task_id)
    assert await claim(store, 499) == []
    (claimed,) = await claim(store, 500)
    assert claimed.attempt == 1 and claimed.max_attempts == 2


async def test_retry_refuses_tasks_that_are_not_failed(store: Store) -> None:
    pending, running = await store.enqueue([item(data="p", run=100), item(data="r")], dedupe=False)
    await claim(store, 0)
    for task_id in (pending, running):
        before = await store.get_adhoc(task_id)
        with pytest.raises(ValueError, match="not failed"):
            await store.retry_adhoc(task_id, now=at(1))
        assert await store.get_adhoc(task_id) == before
    with pytest.raises(TaskNotFound):
        await store.retry_adhoc(running + 1000, now=at(1))


# ---------------------------------------------------------------- fail_unhandled / purge


async def test_fail_unhandled_fails_due_tasks_of_unknown_handlers(store: Store) -> None:
    gone, gone_later, known, other_gone = await store.enqueue(
        [item("gone", run=5), item("gone", data="later", run=500), item("mail", run=5), item("gone.too", run=1)],
        dedupe=False,
    )
    count = await store.fail_unhandled(["mail"], now=at(10), reason="no handler '{name}' here")
    assert count == 2
    failed = await store.get_adhoc(gone)
    assert failed.status is AdhocStatus.FAILED
    assert failed.last_error == "no handler 'gone' here"
    assert failed.attempts == 0
    assert_same_instant(failed.finished_at, at(10))
    assert (await store.get_adhoc(other_gone)).last_error == "no handler 'gone.too' here"
    assert await status_of(store, gone_later) is AdhocStatus.PENDING  # not due yet
    assert await status_of(store, known) is AdhocStatus.PENDING
    # Idempotent: nothing more to fail, the reason is kept.
    assert await store.fail_unhandled(["mail"], now=at(11), reason="other {name}") == 0
    assert (await store.get_adhoc(gone)).last_error == "no handler 'gone' here"


async def test_fail_unhandled_with_no_known_handlers_fails_every_due_task(store: Store) -> None:
    await store.enqueue([item("a"), item("b"), item("c", run=100)], dedupe=False)
    assert await store.fail_unhandled([], now=at(1), reason="{name} missing") == 2
    errors = {t.name: t.last_error for t in await store.list_adhoc(status=AdhocStatus.FAILED)}
    assert errors == {"a": "a missing", "b": "b missing"}


async def test_fail_unhandled_keeps_a_live_running_task(store: Store) -> None:
    (task_id,) = await store.enqueue([item("gone")], dedupe=False)
    (claimed,) = await claim(store, 0, names=("gone",), lease=30)
    assert await store.fail_unhandled([], now=at(10), reason="{name}") == 0
    stored = await store.get_adhoc(task_id)
    assert stored.status is AdhocStatus.RUNNING and stored.lease == claimed.lease


async def test_fail_unhandled_fails_an_abandoned_running_task(store: Store) -> None:
    """A task whose worker died (lease expired) and whose handler is gone is not stuck as running."""
    (task_id,) = await store.enqueue([item("gone")], dedupe=False)
    (claimed,) = await claim(store, 0, names=("gone",), lease=30)
    assert await store.fail_unhandled(["mail"], now=at(31), reason="no '{name}'") == 1
    stored = await store.get_adhoc(task_id)
    assert stored.status is AdhocStatus.FAILED
    assert stored.last_error == "no 'gone'"
    assert stored.acquired_by is None and stored.acquired_until is None
    assert stored.attempts == 1
    # The dead worker's late result cannot resurrect or delete it.
    assert await store.finish("worker-a", [AdhocResult(task_id, claimed.lease)], now=at(32)) == 0
    assert await status_of(store, task_id) is AdhocStatus.FAILED
    # Failed, it can now be cancelled (a running one could not).
    await store.cancel_adhoc(task_id)


async def test_purge_adhoc_deletes_failed_tasks_finished_before_the_cutoff(store: Store) -> None:
    old, recent, pending = await store.enqueue(
        [item("gone", data="old"), item("gone", data="recent", run=50), item("mail", run=100)], dedupe=False
    )
    await store.fail_unhandled(["mail"], now=at(10), reason="{name}")
    await store.fail_unhandled(["mail"], now=at(60), reason="{name}")
    assert await store.purge_adhoc(failed_before=at(30)) == 1
    assert [t.id for t in await all_tasks(store)] == [recent, pending]
    assert await store.purge_adhoc(failed_before=at(60)) == 0  # strictly before
    assert await store.purge_adhoc(failed_before=at(1000)) == 1
    assert [t.id for t in await all_tasks(store)] == [pending]
    with pytest.raises(TaskNotFound):
        await store.get_adhoc(old)


# ---------------------------------------------------------------- persistence


async def test_queue_survives_a_reopen(store: Store, reopen: Reopen) -> None:
    ids = await store.enqueue([item(data=str(n), run=n) for n in range(3)], dedupe=False)
    (claimed,) = await claim(store, 0, limit=1)
    store = await reopen(store)
    assert [(t.id, t.status) for t in await all_tasks(store)] == [
        (ids[0], AdhocStatus.RUNNING),
        (ids[1], AdhocStatus.PENDING),
        (ids[2], AdhocStatus.PENDING),
    ]
    # The claim made before the restart still fences: its holder can finish it.
    assert await store.finish("worker-a", [AdhocResult(ids[0], claimed.lease)], now=at(1)) == 1
    (new_id,) = await store.enqueue([item(data="new")], dedupe=False)
    assert new_id not in ids


async def test_ids_are_not_reused_after_deletion(store: Store, reopen: Reopen) -> None:
    (first,) = await store.enqueue([item()], dedupe=False)
    (claimed,) = await claim(store, 0)
    await store.finish("worker-a", [AdhocResult(first, claimed.lease)], now=at(1))
    store = await reopen(store)
    (second,) = await store.enqueue([item()], dedupe=False)
    assert second > first
    # A late result for the deleted task cannot touch the new one.
    assert await store.finish("worker-a", [AdhocResult(first, claimed.lease)], now=at(2)) == 0
    assert await status_of(store, second) is AdhocStatus.PENDING

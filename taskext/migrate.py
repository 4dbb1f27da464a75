"""Copy a taskext database to another store (``taskext --database SQLITE migrate --to POSTGRES``).

Scheduled tasks keep their defaults, overrides, flags, last runs, fail delays and run logs;
pending ad hoc tasks keep their data, run time, user, guild and attempt budget (they get new
ids). Failed ad hoc tasks are not copied: they are listed so they can be retried first or
left behind. Stop the bot while migrating; the target must be empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from .store import AdhocStatus, NewAdhoc, Store
from .store.queue import dedupe_key

__all__ = ["MigrationReport", "migrate"]

EVERYTHING = 1_000_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass
class MigrationReport:
    tasks: int = 0
    runs: int = 0
    adhoc: int = 0
    failed_adhoc_left: list[int] = field(default_factory=list)


async def migrate(source: Store, target: Store) -> MigrationReport:
    """Copy everything ``source`` holds into the empty ``target`` (both open)."""
    if await target.list_tasks() or await target.list_adhoc(limit=1):
        raise ValueError(f"the target {target.url} already holds taskext data; migrate into an empty database")
    report = MigrationReport()
    for state in await source.list_tasks():
        await target.register_task(
            state.name,
            state.default_schedule,
            now=state.seen_at or state.last_started or state.last_scheduled or EPOCH,
            exclusive=state.exclusive,
            misfire_grace=state.misfire_grace,
            random_fields=state.random_fields,
        )
        await target.update_admin(
            state.name,
            override_schedule=state.override_schedule,
            default_changed=state.default_changed,
            disabled=state.disabled,
            paused=state.paused,
        )
        runs = list(reversed(await source.runs(state.name, limit=EVERYTHING)))  # oldest first keeps the order
        await target.save_results([state], runs)
        report.tasks += 1
        report.runs += len(runs)
    scanned = await source.last_scan()
    if scanned is not None:
        await target.mark_scan(scanned)
    pending = await source.list_adhoc(status=AdhocStatus.PENDING, limit=EVERYTHING)
    running = await source.list_adhoc(status=AdhocStatus.RUNNING, limit=EVERYTHING)
    items = [
        NewAdhoc(
            name=task.name,
            data=task.data,
            run_at=task.run_at,
            enqueued_at=task.enqueued_at,
            max_attempts=max(task.max_attempts - task.attempts, 1),
            dedupe_key=dedupe_key(task.name, task.data, task.user_id),
            user_id=task.user_id,
            guild_id=task.guild_id,
        )
        for task in [*pending, *running]
    ]
    for offset in range(0, len(items), 5000):
        await target.enqueue(items[offset : offset + 5000], dedupe=False)
    report.adhoc = len(items)
    report.failed_adhoc_left = [
        task.id for task in await source.list_adhoc(status=AdhocStatus.FAILED, limit=EVERYTHING)
    ]
    return report

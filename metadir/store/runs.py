"""Run records and what ``metadir status`` shows: every sync run as it ended, with a capped
number of its problems, each replicator's latest run, and the size of each directory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, func, insert, select

from metadir.core.records import Problem
from metadir.store.models import directories, entries, replicators, sync_problems, sync_runs

# problems stored per run (all are counted); and how many runs per replicator keep theirs
PROBLEMS_KEPT = 1000
RUNS_WITH_PROBLEMS = 10


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One sync run as recorded: counts are what was applied (nothing for failed/stopped)."""

    replicator: str
    outcome: str
    started: datetime
    finished: datetime
    added: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    skipped: int = 0
    message: str = ""
    forced: bool = False
    numbers_kept: int = 0
    # as recorded: at most PROBLEMS_KEPT of the run's `skipped` rows
    problems: Sequence[Problem] = field(default_factory=list)
    # "full" or "incremental" (a failed run: what it set out to do)
    mode: str = "full"
    # the replicator's note on its checkpoint
    note: str = ""
    # the sequence number its changes were written under; None if it changed nothing
    change_seq: int | None = None

    @property
    def seconds(self) -> float:
        return (self.finished - self.started).total_seconds()


def insert_run(conn: Connection, replicator_id: int, run: RunRecord, seq: int | None) -> None:
    """Record ``run``, whose changes were written under ``seq`` (None: it changed nothing)."""
    run_id = conn.execute(
        insert(sync_runs)
        .values(
            replicator_id=replicator_id,
            started_at=run.started,
            finished_at=run.finished,
            outcome=run.outcome,
            added=run.added,
            updated=run.updated,
            deleted=run.deleted,
            unchanged=run.unchanged,
            skipped=run.skipped,
            message=run.message,
            forced=run.forced,
            numbers_kept=run.numbers_kept,
            mode=run.mode,
            note=run.note,
            change_seq=seq,
        )
        .returning(sync_runs.c.id)
    ).scalar_one()
    if run.problems:
        conn.execute(
            insert(sync_problems),
            [
                {"run_id": run_id, "line": p.line, "message": p.message}
                for p in run.problems[:PROBLEMS_KEPT]
            ],
        )
    # only recent runs keep their problems, so that frequent syncs do not grow the store
    oldest_kept = (
        select(sync_runs.c.id)
        .where(sync_runs.c.replicator_id == replicator_id)
        .order_by(sync_runs.c.id.desc())
        .offset(RUNS_WITH_PROBLEMS - 1)
        .limit(1)
        .scalar_subquery()
    )
    conn.execute(
        sync_problems.delete().where(
            sync_problems.c.run_id.in_(
                select(sync_runs.c.id).where(
                    sync_runs.c.replicator_id == replicator_id, sync_runs.c.id < oldest_kept
                )
            )
        )
    )


def last_runs(conn: Connection) -> dict[str, RunRecord]:
    """Each replicator's latest run, with the problems recorded for it."""
    latest = select(func.max(sync_runs.c.id)).group_by(sync_runs.c.replicator_id)
    query = (
        select(sync_runs, replicators.c.name.label("replicator"))
        .join(replicators)
        .where(sync_runs.c.id.in_(latest))
    )
    rows = conn.execute(query).all()
    problems: dict[int, list[Problem]] = {row.id: [] for row in rows}
    for p in conn.execute(
        select(sync_problems)
        .where(sync_problems.c.run_id.in_(list(problems)))
        .order_by(sync_problems.c.id)
    ):
        problems[p.run_id].append(Problem(p.message, p.line))
    return {
        row.replicator: RunRecord(
            replicator=row.replicator,
            outcome=row.outcome,
            started=row.started_at,
            finished=row.finished_at,
            added=row.added,
            updated=row.updated,
            deleted=row.deleted,
            unchanged=row.unchanged,
            skipped=row.skipped,
            message=row.message,
            forced=row.forced,
            numbers_kept=row.numbers_kept,
            problems=problems[row.id],
            mode=row.mode,
            note=row.note,
            change_seq=row.change_seq,
        )
        for row in rows
    }


def directory_sizes(conn: Connection) -> dict[str, int]:
    """The number of live entries of every directory in the store."""
    query = (
        select(directories.c.name, func.count(entries.c.id))
        .select_from(directories)
        .outerjoin(replicators, replicators.c.directory_id == directories.c.id)
        .outerjoin(
            entries,
            (entries.c.replicator_id == replicators.c.id) & entries.c.deleted_at.is_(None),
        )
        .group_by(directories.c.name)
    )
    return {name: count for name, count in conn.execute(query)}

"""Run records and what ``metadir status`` and ``metadir history`` show: every sync run as it
ended, with a capped number of its problems, each replicator's latest run, the history of
runs newest first and its pruning, and the size of each directory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Row, Select, delete, func, insert, select

from metadir.core.records import Problem
from metadir.store.models import directories, entries, replicators, sync_problems, sync_runs

# problems stored per run (all are counted); old runs go with their problems when the
# history is pruned (`history: keep_days`)
PROBLEMS_KEPT = 1000


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
    # the run's number in the store (None until recorded)
    id: int | None = None
    # the node that ran it ("" before nodes were recorded)
    node: str = ""
    # schedule | start | manual: what started it
    trigger: str = "manual"
    # the schedule slot it stands for (a scheduled run; a start run in a due slot)
    slot: datetime | None = None
    # read back only: the directory its replicator belongs to now
    directory: str = ""

    @property
    def seconds(self) -> float:
        return (self.finished - self.started).total_seconds()


def insert_run(conn: Connection, replicator_id: int, run: RunRecord, seq: int | None) -> int:
    """Record ``run``, whose changes were written under ``seq`` (None: it changed nothing);
    the run's id."""
    run_id: int = conn.execute(
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
            node=run.node,
            trigger=run.trigger,
            slot=run.slot,
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
    return run_id


def last_runs(conn: Connection, with_problems: bool = True) -> dict[str, RunRecord]:
    """Each replicator's latest run, with the problems recorded for it unless not
    ``with_problems`` (a poller every few seconds: up to PROBLEMS_KEPT rows per run)."""
    latest = select(func.max(sync_runs.c.id)).group_by(sync_runs.c.replicator_id)
    rows = conn.execute(_runs().where(sync_runs.c.id.in_(latest))).all()
    problems: dict[int, list[Problem]] = {row.id: [] for row in rows}
    if not with_problems:
        return {row.replicator: _record(row, []) for row in rows}
    for p in conn.execute(
        select(sync_problems)
        .where(sync_problems.c.run_id.in_(list(problems)))
        .order_by(sync_problems.c.id)
    ):
        problems[p.run_id].append(Problem(p.message, p.line))
    return {row.replicator: _record(row, problems[row.id]) for row in rows}


def history(
    conn: Connection, replicator: str | None, limit: int, before_id: int | None
) -> list[RunRecord]:
    """Runs, the last recorded first, of one replicator or all, at most ``limit``, older than run
    ``before_id`` if given (the next page); without their problems."""
    query = _runs().order_by(sync_runs.c.id.desc()).limit(limit)
    if replicator is not None:
        query = query.where(replicators.c.name == replicator)
    if before_id is not None:
        query = query.where(sync_runs.c.id < before_id)
    return [_record(row, []) for row in conn.execute(query)]


def runs_after(conn: Connection, run_id: int, limit: int) -> list[RunRecord]:
    """The runs recorded after run ``run_id``, oldest first, at most ``limit``; without their
    problems. (Ids are handed out at insert: on PostgreSQL a run may commit after one with a
    higher id, and a reader that just moved past it does not see it. Good enough for counting
    runs; the change sequence, not this, is what tells readers about changes.)"""
    query = _runs().where(sync_runs.c.id > run_id).order_by(sync_runs.c.id).limit(limit)
    return [_record(row, []) for row in conn.execute(query)]


def last_run_id(conn: Connection) -> int:
    """The id of the last run recorded; 0 if there is none."""
    return conn.execute(select(func.max(sync_runs.c.id))).scalar_one_or_none() or 0


def last_successes(conn: Connection) -> dict[str, datetime]:
    """When each replicator's latest successful run (outcome ``ok``) finished, of those that
    had one."""
    query = (
        select(replicators.c.name, func.max(sync_runs.c.finished_at))
        .join(replicators, sync_runs.c.replicator_id == replicators.c.id)
        .where(sync_runs.c.outcome == "ok")
        .group_by(replicators.c.name)
    )
    return {name: finished for name, finished in conn.execute(query)}


def run(conn: Connection, run_id: int) -> RunRecord | None:
    """Run ``run_id`` without its problems, if the store has it."""
    row = conn.execute(_runs().where(sync_runs.c.id == run_id)).first()
    return None if row is None else _record(row, [])


def problems(conn: Connection, run_id: int, offset: int, limit: int) -> list[Problem]:
    """The problems recorded for run ``run_id``, in the order they were found."""
    query = (
        select(sync_problems.c.message, sync_problems.c.line)
        .where(sync_problems.c.run_id == run_id)
        .order_by(sync_problems.c.id)
        .offset(offset)
        .limit(limit)
    )
    return [Problem(message, line) for message, line in conn.execute(query)]


def problem_count(conn: Connection, run_id: int) -> int:
    """How many problems are recorded for run ``run_id`` (at most PROBLEMS_KEPT)."""
    query = select(func.count()).where(sync_problems.c.run_id == run_id)
    return conn.execute(query).scalar_one()


def prune(conn: Connection, before: datetime) -> int:
    """Delete the runs that ended before ``before`` with their problems, but each
    replicator's latest run, so that ``metadir status`` still says when it last ran, and its
    latest successful one, so that how long it has been failing stays known (the metrics'
    last success). The number of runs deleted."""
    latest = select(func.max(sync_runs.c.id)).group_by(sync_runs.c.replicator_id)
    latest_ok = (
        select(func.max(sync_runs.c.id))
        .where(sync_runs.c.outcome == "ok")
        .group_by(sync_runs.c.replicator_id)
    )
    old = select(sync_runs.c.id).where(
        sync_runs.c.finished_at < before,
        sync_runs.c.id.not_in(latest),
        sync_runs.c.id.not_in(latest_ok),
    )
    # the problems first, explicitly: the cascade is the database's, and a big history is
    # quicker to delete without it firing row by row
    conn.execute(delete(sync_problems).where(sync_problems.c.run_id.in_(old)))
    return conn.execute(delete(sync_runs).where(sync_runs.c.id.in_(old))).rowcount


def _runs() -> Select[tuple[object, ...]]:
    """Runs with their replicator's and its directory's names."""
    return (
        select(
            sync_runs,
            replicators.c.name.label("replicator"),
            directories.c.name.label("directory"),
        )
        .join(replicators, sync_runs.c.replicator_id == replicators.c.id)
        .join(directories, replicators.c.directory_id == directories.c.id)
    )


def _record(row: Row[tuple[object, ...]], problems: list[Problem]) -> RunRecord:
    return RunRecord(
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
        problems=problems,
        mode=row.mode,
        note=row.note,
        change_seq=row.change_seq,
        id=row.id,
        node=row.node,
        trigger=row.trigger,
        slot=row.slot,
        directory=row.directory,
    )


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
